package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lovoo/goka/storage"
	"github.com/stretchr/testify/require"
	"github.com/syndtr/goleveldb/leveldb"
	lvstorage "github.com/syndtr/goleveldb/leveldb/storage"
)

func TestMemoryBasics(t *testing.T) {
	m := NewMemory()
	require.NoError(t, m.Open())

	v, err := m.Get("a")
	require.NoError(t, err)
	require.Nil(t, v)
	has, err := m.Has("a")
	require.NoError(t, err)
	require.False(t, has)

	require.NoError(t, m.Set("a", []byte("1")))
	require.NoError(t, m.Set("", []byte("empty key")))
	require.NoError(t, m.Set("e", []byte{}))
	require.NoError(t, m.Set("n", nil))
	v, _ = m.Get("a")
	require.Equal(t, []byte("1"), v)
	v, _ = m.Get("")
	require.Equal(t, []byte("empty key"), v)
	for _, k := range []string{"e", "n"} {
		v, _ = m.Get(k)
		require.NotNil(t, v, "an empty value is a value (as in LevelDB)")
		require.Empty(t, v)
		has, _ = m.Has(k)
		require.True(t, has)
	}

	// The value handed out is a copy and stays as it was after an overwrite.
	in := []byte("2")
	require.NoError(t, m.Set("a", in))
	in[0] = 'x'
	old, _ := m.Get("a")
	require.Equal(t, []byte("2"), old)
	require.NoError(t, m.Set("a", []byte("3")))
	require.Equal(t, []byte("2"), old)
	require.Equal(t, 1, cap(old), "appending to a value must not write into the arena")

	require.NoError(t, m.Delete("a"))
	require.NoError(t, m.Delete("a"), "deleting a missing key is no error")
	has, _ = m.Has("a")
	require.False(t, has)
	v, _ = m.Get("a")
	require.Nil(t, v)
	require.Equal(t, 3, m.Stats().Rows)

	// Offsets.
	o, err := m.GetOffset(-2)
	require.NoError(t, err)
	require.Equal(t, int64(-2), o)
	require.NoError(t, m.SetOffset(0))
	o, _ = m.GetOffset(-2)
	require.Equal(t, int64(0), o)
	require.NoError(t, m.SetOffset(41))
	require.NoError(t, m.MarkRecovered())
	o, _ = m.GetOffset(-2)
	require.Equal(t, int64(41), o)

	it, err := m.Iterator()
	require.NoError(t, err)
	require.NoError(t, m.Close())
	_, err = m.Get("e")
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, m.Set("e", nil), ErrClosed)
	_, err = m.Iterator()
	require.ErrorIs(t, err, ErrClosed)
	// An iterator made before Close still reads its snapshot.
	var keys []string
	for it.Next() {
		keys = append(keys, string(it.Key()))
	}
	require.Equal(t, []string{"", "e", "n"}, keys)
	it.Release()
}

func TestMemoryBigValues(t *testing.T) {
	m := NewMemory()
	big := bytes.Repeat([]byte("x"), 2*minGC+5)
	require.NoError(t, m.Set("small1", []byte("s1")))
	require.NoError(t, m.Set("big", big))
	require.NoError(t, m.Set("small2", []byte("s2")))
	v, _ := m.Get("big")
	require.Equal(t, big, v)
	v, _ = m.Get("small1")
	require.Equal(t, []byte("s1"), v)
	v, _ = m.Get("small2")
	require.Equal(t, []byte("s2"), v)
	require.NoError(t, m.Delete("big")) // 2 MiB dead: compacts
	require.Zero(t, m.Stats().DeadBytes)
	v, _ = m.Get("small2")
	require.Equal(t, []byte("s2"), v)
}

// op is one step of a random workload.
type op struct {
	kind  int // 0 set, 1 delete, 2 set offset
	key   string
	value []byte
}

func randomKey(r *rand.Rand, space int) string {
	n := r.IntN(space)
	switch r.IntN(10) {
	case 0:
		return fmt.Sprintf("p%d", n%7) // short keys that prefix others
	case 1:
		return string([]byte{0xff, byte(n % 3), 0xff}[:1+n%3])
	case 2:
		return ""
	}
	return fmt.Sprintf("p%d", n)
}

func randomOps(r *rand.Rand, n, space int) []op {
	ops := make([]op, n)
	for i := range ops {
		switch k := r.IntN(10); {
		case k < 6:
			v := make([]byte, r.IntN(300))
			for j := range v {
				v[j] = byte(r.Uint32())
			}
			if r.IntN(1000) == 0 {
				v = make([]byte, maxChunk+r.IntN(1000)) // bigger than a chunk
			}
			ops[i] = op{kind: 0, key: randomKey(r, space), value: v}
		case k < 9:
			ops[i] = op{kind: 1, key: randomKey(r, space)}
		default:
			ops[i] = op{kind: 2}
		}
	}
	return ops
}

// newLevelDB is Goka's LevelDB storage on an in-memory file system: the
// reference for iterator semantics.
func newLevelDB(t testing.TB) storage.Storage {
	db, err := leveldb.Open(lvstorage.NewMemStorage(), nil)
	require.NoError(t, err)
	st, err := storage.New(db)
	require.NoError(t, err)
	require.NoError(t, st.Open())
	t.Cleanup(func() { st.Close() })
	return st
}

func apply(t testing.TB, st storage.Storage, o op, i int) {
	switch o.kind {
	case 0:
		require.NoError(t, st.Set(o.key, o.value))
	case 1:
		require.NoError(t, st.Delete(o.key))
	case 2:
		require.NoError(t, st.SetOffset(int64(i)+1))
	}
}

type kv struct{ k, v string }

func drain(t testing.TB, it storage.Iterator) []kv {
	var out []kv
	for it.Next() {
		v, err := it.Value()
		require.NoError(t, err)
		out = append(out, kv{string(it.Key()), string(v)})
	}
	require.NoError(t, it.Err())
	require.Nil(t, it.Key())
	it.Release()
	return out
}

// TestMemoryAgainstReference runs random workloads on a Memory, on a plain
// map and on Goka's LevelDB storage, and checks after each step that Get and
// Has agree with the map, and every so often that iterators, ranges and
// seeks return what LevelDB returns.
func TestMemoryAgainstReference(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			space := []int{5, 50, 3000}[seed%3]
			m, ldb := NewMemory(), newLevelDB(t)
			ref := map[string][]byte{}
			ops := randomOps(r, 4000, space)
			for i, o := range ops {
				apply(t, m, o, i)
				apply(t, ldb, o, i)
				switch o.kind {
				case 0:
					ref[o.key] = slices.Clone(o.value)
				case 1:
					delete(ref, o.key)
				}
				k := randomKey(r, space)
				v, err := m.Get(k)
				require.NoError(t, err)
				want, ok := ref[k]
				require.Equal(t, ok, v != nil, "key %q", k)
				require.True(t, bytes.Equal(want, v), "key %q", k)
				has, _ := m.Has(k)
				require.Equal(t, ok, has)
				if i%500 == 499 || i == len(ops)-1 {
					checkIterators(t, r, m, ldb, ref, space)
				}
			}
			for k, want := range ref {
				v, _ := m.Get(k)
				require.Equal(t, want, v)
			}
			st := m.Stats()
			require.Equal(t, len(ref), st.Rows)
			var live int64
			for k, v := range ref {
				live += int64(recordSize(len(k), len(v)))
			}
			require.Equal(t, live, st.LiveBytes)
			o, _ := m.GetOffset(-1)
			lo, _ := ldb.GetOffset(-1)
			require.Equal(t, lo, o)
		})
	}
}

func checkIterators(t *testing.T, r *rand.Rand, m *Memory, ldb storage.Storage, ref map[string][]byte, space int) {
	t.Helper()
	keys := make([]string, 0, len(ref))
	for k := range ref {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var all []kv
	for _, k := range keys {
		all = append(all, kv{k, string(ref[k])})
	}
	it, err := m.Iterator()
	require.NoError(t, err)
	require.Equal(t, all, drain(t, it))

	bound := func() []byte {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		return []byte(randomKey(r, space))
	}
	for range 20 {
		start, limit := bound(), bound()
		mi, err := m.IteratorWithRange(start, limit)
		require.NoError(t, err)
		li, err := ldb.IteratorWithRange(start, limit)
		require.NoError(t, err)
		require.Equal(t, drain(t, li), drain(t, mi), "range [%q, %q)", start, limit)
	}

	// Seek: positions on the first key >= the sought one, then Next moves on.
	for range 20 {
		mi, _ := m.Iterator()
		li, _ := ldb.Iterator()
		for range 3 {
			key := []byte(randomKey(r, space))
			mok, lok := mi.Seek(key), li.Seek(key)
			require.Equal(t, lok, mok, "seek %q", key)
			require.Equal(t, li.Key(), mi.Key())
			mv, _ := mi.Value()
			lv, _ := li.Value()
			require.True(t, bytes.Equal(lv, mv))
			for range r.IntN(3) {
				require.Equal(t, li.Next(), mi.Next())
				require.Equal(t, li.Key(), mi.Key())
			}
		}
		mi.Release()
		li.Release()
		require.False(t, mi.Next())
		require.False(t, mi.Seek([]byte("")))
		require.Nil(t, mi.Key())
	}
}

// TestMemoryIteratorSnapshot: Goka's VisitValues iterates a table while the
// visit callbacks set and delete its keys; the iteration must see exactly
// the rows as they were when the iterator was made.
func TestMemoryIteratorSnapshot(t *testing.T) {
	m := NewMemory()
	var want []kv
	for i := range 5000 {
		k := fmt.Sprintf("k%05d", i)
		v := strings.Repeat("v", i%200) + k
		require.NoError(t, m.Set(k, []byte(v)))
		want = append(want, kv{k, v})
	}
	it, err := m.Iterator()
	require.NoError(t, err)
	var got []kv
	for i := 0; it.Next(); i++ {
		v, _ := it.Value()
		got = append(got, kv{string(it.Key()), string(v)})
		require.NoError(t, m.Delete(string(it.Key())))
		require.NoError(t, m.Set(fmt.Sprintf("k%05d", i+1), bytes.Repeat([]byte("new"), 100)))
		require.NoError(t, m.Set(fmt.Sprintf("a%05d", i), []byte("added")))
	}
	require.Equal(t, want, got)
	require.Positive(t, m.Stats().Rows)
	require.Less(t, m.Stats().DeadBytes, m.Stats().LiveBytes, "compacted along the way")
}

// TestMemoryConcurrent: one writer per partition (Goka's recovery or
// processor goroutine), offsets set from another goroutine (the producer's
// callbacks), readers and iterators anywhere. Run with -race.
func TestMemoryConcurrent(t *testing.T) {
	m := NewMemory()
	const keys, rounds = 500, 40
	value := func(k, round int) []byte {
		return fmt.Appendf(nil, "%d/%d/%s", k, round, strings.Repeat("x", (k*7+round)%300))
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for round := range rounds {
			for k := range keys {
				key := fmt.Sprint(k)
				if (k+round)%5 == 0 {
					require.NoError(t, m.Delete(key))
				} else {
					require.NoError(t, m.Set(key, value(k, round)))
				}
			}
		}
	})
	wg.Go(func() {
		for i := int64(0); ; i++ {
			select {
			case <-done:
				return
			default:
			}
			m.SetOffset(i)
			m.GetOffset(0)
		}
	})
	for range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(1, 2))
			for {
				select {
				case <-done:
					return
				default:
				}
				k := r.IntN(keys)
				v, err := m.Get(fmt.Sprint(k))
				require.NoError(t, err)
				if v != nil {
					var gk, round int
					_, err := fmt.Sscanf(string(v), "%d/%d/", &gk, &round)
					require.NoError(t, err)
					require.Equal(t, k, gk)
					require.Equal(t, value(k, round), v)
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			it, err := m.Iterator()
			require.NoError(t, err)
			var prev []byte
			for it.Next() {
				k := slices.Clone(it.Key())
				require.True(t, prev == nil || bytes.Compare(prev, k) < 0)
				v, _ := it.Value()
				require.True(t, bytes.HasPrefix(v, append(k, '/')))
				prev = k
			}
			it.Release()
		}
	})
	wg.Wait()
}
