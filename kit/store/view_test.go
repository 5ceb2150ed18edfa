package store_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/murmur2"
	"github.com/orderstream/pipeline/kit/store"
)

// workload is customers written, overwritten and tombstoned at random.
func workload(t *testing.T, g *gen, r *rand.Rand, ids, n int, want map[string][]byte) []*kgo.Record {
	var recs []*kgo.Record
	for range n {
		id := int64(r.IntN(ids))
		k, v := g.customer(t, id)
		if r.IntN(4) == 0 {
			v = nil // tombstone: the row was deleted
		}
		recs = append(recs, &kgo.Record{Key: k, Value: v})
		if v == nil {
			delete(want, string(k))
		} else {
			want[string(k)] = v
		}
	}
	return recs
}

// TestViewMatchesDefaultStorages: goka views of one topic, with our Memory,
// Goka's memory storage and Goka's LevelDB storage, answer every Get and Has
// alike, and as the topic says (the last value of a key; nothing after a
// tombstone), after recovery and after catching up with new records; their
// iterators agree with LevelDB's.
func TestViewMatchesDefaultStorages(t *testing.T) {
	brokers := startKfake(t)
	const topic, partitions, ids = "customers", 3, 3000
	createTopic(t, brokers, topic, partitions)
	g, r := newGen(t), rand.New(rand.NewPCG(7, 7))
	want := map[string][]byte{}
	produce(t, brokers, topic, partitions, workload(t, g, r, ids, 8000, want))

	views := map[string]*goka.View{
		"store.Memory":       newView(t, brokers, topic, store.MemoryBuilder()),
		"goka memory":        newView(t, brokers, topic, storage.MemoryBuilder()),
		"goka LevelDB":       newView(t, brokers, topic, storage.DefaultBuilder(t.TempDir())),
		"store.Builder(dir)": newView(t, brokers, topic, store.Builder(t.TempDir())),
	}
	for _, v := range views {
		runView(t, v)
	}
	compare := func() {
		for id := range ids + 10 {
			key := codecs.Key(int64(id))
			w, ok := want[key]
			for name, v := range views {
				got, err := v.Get(key)
				require.NoError(t, err)
				if !ok {
					require.Nil(t, got, "%s: key %s", name, key)
				} else {
					require.Equal(t, w, got, "%s: key %s", name, key)
				}
				has, err := v.Has(key)
				require.NoError(t, err)
				require.Equal(t, ok, has, "%s: key %s", name, key)
			}
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for name, v := range views {
			require.Equal(t, keys, iterate(t, v, "", ""), name)
		}
		for _, rg := range [][2]string{{"1", ""}, {"100", "2"}, {"", "5"}, {"29", "3"}} {
			ref := iterate(t, views["goka LevelDB"], rg[0], rg[1])
			require.NotEmpty(t, ref)
			require.Equal(t, ref, iterate(t, views["store.Memory"], rg[0], rg[1]), "range %q", rg)
			require.Equal(t, ref, iterate(t, views["store.Builder(dir)"], rg[0], rg[1]), "range %q", rg)
		}
	}
	compare()

	// Catching up: new records while the views run, then on each partition
	// a last key that says the views are through it.
	recs := workload(t, g, r, ids, 3000, want)
	ends := map[int32]string{}
	for i := 0; len(ends) < partitions; i++ {
		k := fmt.Sprintf("end-%d", i)
		if p := murmur2.Partition([]byte(k), partitions); ends[p] == "" {
			ends[p] = k
			recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(k)})
			want[k] = []byte(k)
		}
	}
	produce(t, brokers, topic, partitions, recs)
	for name, v := range views {
		for _, k := range ends {
			require.Eventually(t, func() bool {
				got, err := v.Get(k)
				require.NoError(t, err)
				return got != nil
			}, 30*time.Second, 10*time.Millisecond, name)
		}
	}
	compare()
}

// iterate lists the keys of v in [start, limit) (limit "": with prefix start).
func iterate(t *testing.T, v *goka.View, start, limit string) []string {
	t.Helper()
	var it goka.Iterator
	var err error
	if start == "" && limit == "" {
		it, err = v.Iterator()
	} else {
		it, err = v.IteratorWithRange(start, limit)
	}
	require.NoError(t, err)
	defer it.Release()
	keys := []string{}
	prev := ""
	for it.Next() {
		k := it.Key()
		require.True(t, len(keys) == 0 || prev < k, "order: %q after %q", k, prev)
		val, err := it.Value()
		require.NoError(t, err)
		require.NotNil(t, val, fmt.Sprintf("key %s", k))
		keys = append(keys, k)
		prev = k
	}
	require.NoError(t, it.Err())
	return keys
}

// counting counts the rows a view writes into its storages.
type counting struct {
	storage.Storage
	n *atomic.Int64
}

func (c counting) Set(key string, value []byte) error { c.n.Add(1); return c.Storage.Set(key, value) }
func (c counting) Delete(key string) error            { c.n.Add(1); return c.Storage.Delete(key) }

func countWrites(b storage.Builder, n *atomic.Int64) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := b(topic, partition)
		if err != nil {
			return nil, err
		}
		return counting{st, n}, nil
	}
}

// TestStateDirResumes: with a state directory (--state.dir), a view that
// starts again loads only the records written since it stopped, from the
// offsets it stored, not the topic from its start; and answers as the topic
// says. In memory, every start loads everything.
func TestStateDirResumes(t *testing.T) {
	brokers := startKfake(t)
	const topic, partitions, ids = "customers", 3, 2000
	createTopic(t, brokers, topic, partitions)
	g, r := newGen(t), rand.New(rand.NewPCG(8, 8))
	want := map[string][]byte{}
	first := workload(t, g, r, ids, 5000, want)
	produce(t, brokers, topic, partitions, first)
	dir := t.TempDir()

	start := func(builder storage.Builder) (int64, func()) {
		var n atomic.Int64
		v := newView(t, brokers, topic, countWrites(builder, &n))
		stop := runView(t, v)
		for id := range ids {
			key := codecs.Key(int64(id))
			got, err := v.Get(key)
			require.NoError(t, err)
			if w, ok := want[key]; ok {
				require.Equal(t, w, got, "key %s", key)
			} else {
				require.Nil(t, got, "key %s", key)
			}
		}
		return n.Load(), stop
	}
	n, stop := start(store.Builder(dir))
	require.Equal(t, int64(len(first)), n, "first start: the whole topic")
	stop()

	second := workload(t, g, r, ids, 700, want)
	produce(t, brokers, topic, partitions, second)
	n, stop = start(store.Builder(dir))
	require.Equal(t, int64(len(second)), n, "restart: only what was written since")
	stop()

	n, stop = start(store.Builder(dir))
	require.Zero(t, n, "restart with nothing new")
	stop()

	n, stop = start(store.Builder(""))
	require.Equal(t, int64(len(first)+len(second)), n, "in memory: the whole topic")
	stop()
}
