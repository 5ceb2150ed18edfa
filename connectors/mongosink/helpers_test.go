package mongosink

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
)

// testLogger logs at level into a buffer shown if the test fails.
func testLogger(t testing.TB, name string, level slog.Level) (*slog.Logger, *testkit.Output) {
	buf := &testkit.Output{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", name, buf.Tail(60))
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level})), buf
}

// startMongo runs a FerretDB for the test in its own directory.
func startMongo(t testing.TB) *mongoserver.Server {
	t.Helper()
	log, _ := testLogger(t, "ferretdb", slog.LevelError)
	s, err := mongoserver.Start(context.Background(), mongoserver.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0", Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fastURI makes the driver give up on an unreachable server quickly, so
// that failed writes show within the test.
func fastURI(uri string) string {
	return uri + "?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
}

func mongoClient(t testing.TB, uri string) *mongo.Client {
	t.Helper()
	cl, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	return cl
}

// fixture is a sink's surroundings on one cluster: topics and a group of
// its own (real brokers are shared), a schema registry, a producer.
type fixture struct {
	t        testing.TB
	brokers  []string
	regURL   string
	reg      *codecs.Registry
	codec    *codecs.Avro[avro.CustomerTotal]
	topic    string
	dlq      string
	group    string
	client   *kgo.Client
	admin    *kadm.Client
	mongoURI string
	coll     *mongo.Collection
}

func newFixture(t testing.TB, brokers []string, partitions int32, mongoURI string) *fixture {
	t.Helper()
	run := testkit.Unique("sink")
	url, reg := testkit.RegistryURL(t)
	f := &fixture{t: t, brokers: brokers, regURL: url, reg: reg, topic: run + "-customer-totals", dlq: run + "-mongo-sink-dlq", group: run + "-mongo-sink", mongoURI: mongoURI}
	ctx := context.Background()
	var err error
	f.codec, err = codecs.NewAvro[avro.CustomerTotal](ctx, reg, codecs.ValueSubject(f.topic), avro.CustomerTotalSchema)
	require.NoError(t, err)
	f.client, err = kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(f.client.Close)
	f.admin = kadm.NewClient(f.client)
	res, err := f.admin.CreateTopics(ctx, partitions, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, f.topic)
	require.NoError(t, err)
	require.NoError(t, res.Error())
	res, err = f.admin.CreateTopics(ctx, 1, 1, nil, f.dlq)
	require.NoError(t, err)
	require.NoError(t, res.Error())
	require.NoError(t, topics.AwaitServed(ctx, f.client, time.Minute, f.topic, f.dlq))
	f.coll = mongoClient(t, mongoURI).Database("orderstream").Collection(strings.ReplaceAll(run, "-", "_"))
	return f
}

// options are the sink options of the fixture, small batches so that a test
// goes through many flushes, FerretDB's settings (the tests run on it).
func (f *fixture) options(log *slog.Logger) Options {
	return Options{
		Compat: CompatFerretDB,
		Topic:  f.topic, DeadLetterTopic: f.dlq, Group: f.group,
		Kafka:      []kgo.Opt{kgo.SeedBrokers(f.brokers...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond)},
		Codec:      f.codec,
		Collection: f.coll,
		BatchSize:  20, MaxBufferedKeys: 100, FlushInterval: 100 * time.Millisecond,
		WriteTimeout: 2 * time.Second, RetryBackoff: run.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond},
		Logger: log,
	}
}

// runSink runs a sink in the background; stop cancels it and returns what
// Run returned.
func runSink(t testing.TB, opts Options) (s *Sink, stop func() error) {
	t.Helper()
	s, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, stop
}

// total is what a customer's document must say.
type total struct {
	name   string
	email  *string
	count  int64
	amount string
	lastID *string
	lastAt *time.Time
	at     time.Time
}

// history generates CustomerTotal records for keys customers, the way the
// totals processor writes them: each update adds an order whose amount is
// one of a few decimals (0.10 + 0.20 must be exactly 0.30), some customers
// are deleted (tombstone), some of those come back. want is the latest
// state per key; deleted keys are absent.
type history struct {
	rng    *rand.Rand
	totals map[int64]*total
	sums   map[int64]*big.Rat
	want   map[string]total
	start  time.Time
	n      int
}

func newHistory(seed uint64) *history {
	return &history{rng: rand.New(rand.NewPCG(seed, seed)), totals: map[int64]*total{}, sums: map[int64]*big.Rat{},
		want: map[string]total{}, start: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

var amounts = []string{"0.10", "0.20", "0.30", "19.99", "0.01", "1234.56", "99999.99"}

// next returns the next record for a random customer of 1..keys: an
// update, or, one time in 20, a tombstone of an existing customer.
func (h *history) next(f *fixture, keys int) *kgo.Record {
	id := int64(h.rng.IntN(keys) + 1)
	if h.totals[id] != nil && h.rng.IntN(20) == 0 {
		return h.remove(f, id)
	}
	return h.update(f, id)
}

// remove returns the tombstone of customer id.
func (h *history) remove(f *fixture, id int64) *kgo.Record {
	h.n++
	key := codecs.Key(id)
	delete(h.totals, id)
	delete(h.sums, id)
	delete(h.want, key)
	return &kgo.Record{Topic: f.topic, Key: []byte(key)}
}

// update returns the next total of customer id, one order more.
func (h *history) update(f *fixture, id int64) *kgo.Record {
	h.n++
	key := codecs.Key(id)
	at := h.start.Add(time.Duration(h.n) * 1007 * time.Millisecond) // millisecond-exact, like timestamp-millis
	t := h.totals[id]
	if t == nil {
		t = &total{name: fmt.Sprintf("Customer %d ✓", id)}
		if id%3 != 0 {
			e := fmt.Sprintf("c%d@example.com", id)
			t.email = &e
		}
		h.totals[id] = t
		h.sums[id] = new(big.Rat)
	}
	add, _ := new(big.Rat).SetString(amounts[h.rng.IntN(len(amounts))])
	h.sums[id].Add(h.sums[id], add)
	t.count++
	t.amount = h.sums[id].FloatString(2)
	oid := fmt.Sprintf("00000000-0000-4000-8000-%012d", h.n)
	t.lastID = &oid
	lastAt := at.Add(-time.Second)
	t.lastAt = &lastAt
	t.at = at
	h.want[key] = *t
	v, err := f.codec.Encode(&avro.CustomerTotal{
		CustomerID: id, CustomerName: t.name, CustomerEmail: t.email, OrderCount: t.count,
		TotalAmount: new(big.Rat).Set(h.sums[id]), LastOrderID: t.lastID, LastOrderAt: t.lastAt, UpdatedAt: at,
	})
	require.NoError(f.t, err)
	return &kgo.Record{Topic: f.topic, Key: []byte(key), Value: v}
}

// produce writes n records of h over keys customers.
func (f *fixture) produce(h *history, n, keys int) {
	f.t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = h.next(f, keys)
	}
	for chunk := range slices.Chunk(recs, 1000) {
		require.NoError(f.t, f.client.ProduceSync(context.Background(), chunk...).FirstErr())
	}
}

// offsets returns the group's committed offsets and the topic's end
// offsets, per partition.
func (f *fixture) offsets() (committed, end map[int32]int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := f.admin.ListEndOffsets(ctx, f.topic)
	if err != nil {
		return nil, nil, err
	}
	end = map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	com, err := f.admin.FetchOffsets(ctx, f.group)
	if err != nil {
		return nil, nil, err
	}
	committed = map[int32]int64{}
	com.Each(func(o kadm.OffsetResponse) {
		if o.Topic == f.topic && o.Err == nil {
			committed[o.Partition] = o.At
		}
	})
	return committed, end, nil
}

// awaitCommitted waits until the group has committed every record of the
// topic: the sink has written (or dead-lettered) all of them.
func (f *fixture) awaitCommitted(timeout time.Duration) {
	f.t.Helper()
	testkit.Await(f.t, timeout, "the sink to commit the end offsets", func() (bool, string) {
		committed, end, err := f.offsets()
		if err != nil {
			return false, err.Error()
		}
		for p, e := range end {
			if committed[p] != e {
				return false, fmt.Sprintf("committed %v, end %v", committed, end)
			}
		}
		return true, ""
	})
}

// committedTotal is the sum of the group's committed offsets.
func (f *fixture) committedTotal() int64 {
	committed, _, err := f.offsets()
	if err != nil {
		return -1
	}
	var n int64
	for _, o := range committed {
		n += o
	}
	return n
}

// checkCollection compares the collection with want, field by field and
// type by type.
func (f *fixture) checkCollection(want map[string]total) {
	t := f.t
	t.Helper()
	ctx := context.Background()
	cur, err := f.coll.Find(ctx, bson.M{})
	require.NoError(t, err)
	var docs []bson.Raw
	require.NoError(t, cur.All(ctx, &docs))
	got := map[string]bson.Raw{}
	for _, d := range docs {
		got[d.Lookup("_id").StringValue()] = d
	}
	var missing, extra []string
	for k := range want {
		if got[k] == nil {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	require.Empty(t, missing, "documents missing")
	require.Empty(t, extra, "documents that should not exist (deleted customers?)")
	bad := 0
	for k, w := range want {
		d := got[k]
		id, _ := codecs.ParseKey(k)
		keys := []string{}
		elems, err := d.Elements()
		require.NoError(t, err)
		for _, e := range elems {
			keys = append(keys, e.Key())
		}
		ok := assert.Equal(t, []string{"_id", "customer_id", "customer_name", "customer_email", "order_count", "total_amount", "last_order_id", "last_order_at", "updated_at"}, keys) &&
			assert.Equal(t, id, d.Lookup("customer_id").Int64(), k) &&
			assert.Equal(t, w.name, d.Lookup("customer_name").StringValue(), k) &&
			assert.Equal(t, w.count, d.Lookup("order_count").Int64(), k) &&
			assert.Equal(t, w.amount, d.Lookup("total_amount").StringValue(), "exact total of %s", k) &&
			assert.Equal(t, bson.TypeDateTime, d.Lookup("updated_at").Type, k) &&
			assert.Equal(t, w.at, d.Lookup("updated_at").Time().UTC(), k) &&
			assert.Equal(t, *w.lastAt, d.Lookup("last_order_at").Time().UTC(), k) &&
			assert.Equal(t, *w.lastID, d.Lookup("last_order_id").StringValue(), k)
		if w.email == nil {
			ok = ok && assert.Equal(t, bson.TypeNull, d.Lookup("customer_email").Type, k)
		} else {
			ok = ok && assert.Equal(t, *w.email, d.Lookup("customer_email").StringValue(), k)
		}
		if !ok {
			if bad++; bad > 5 {
				t.FailNow()
			}
		}
	}
	require.Zero(t, bad)
}

// readTopic reads every record of topic up to its end offsets.
func (f *fixture) readTopic(topic string) []*kgo.Record {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := f.admin.ListEndOffsets(ctx, topic)
	require.NoError(t, err)
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	if want == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < want {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "reading %s: %d of %d records", topic, len(out), want)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}
