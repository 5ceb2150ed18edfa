package integration

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/murmur2"
	"github.com/orderstream/pipeline/processors/totals"
	"github.com/orderstream/pipeline/producer"
	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

// The deterministic fault tests: the processors on kfake, whose fault
// hooks fail chosen produce requests partition by partition (while the
// same requests' other partitions succeed) or move partition leaders.

// faultLayout gives every output topic a partition count of its own, so
// that the records of one input partition go to several partitions of each
// output, and a failed output partition has messages after it, in the same
// input partition, whose outputs succeed: what lets a commit run past a
// message whose emits failed (without kit/ordered, Goka commits each
// message once its own emits are done). With the default layout (every
// topic keyed and partitioned alike) each input partition writes one
// partition of each output.
var faultLayout = layout{orders: 6, details: 4, retry: 3, totals: 3, catalog: 3}

// faultKfake starts an in-process kfake cluster of n brokers, and returns it
// with its addresses.
func faultKfake(t *testing.T, n int) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(n), kfake.DefaultNumPartitions(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// syntheticCatalog writes customers 1..customers and products 1..products
// to their topics, as the CDC source would (key = id, Avro, murmur2), but
// for the customers in late, which the test writes later (writeCustomers):
// their orders wait on the retry topic until then. It returns the catalog
// orders are made of (late customers included). No MySQL needed.
func (p *pipeline) syntheticCatalog(customers, products int, late []int64) producer.Catalog {
	t := p.t
	ctx := context.Background()
	var cat producer.Catalog
	var ids []int64
	for id := int64(1); id <= int64(customers); id++ {
		cat.Customers = append(cat.Customers, id)
		if !slices.Contains(late, id) {
			ids = append(ids, id)
		}
	}
	p.writeCustomers(ids...)
	prodCodec, err := codecs.NewAvro[avro.Product](ctx, p.reg, codecs.ValueSubject(string(p.details.Products)), avro.ProductSchema)
	require.NoError(t, err)
	var recs []*kgo.Record
	now := time.Now().UTC().Truncate(time.Millisecond)
	for id := int64(1); id <= int64(products); id++ {
		price := big.NewRat(100+(id*7919)%99900, 100) // 1.00 .. 999.99, exact
		v, err := prodCodec.Encode(&avro.Product{ID: id, Name: fmt.Sprintf("product %d", id), Category: "test",
			Price: price, CreatedAt: now, UpdatedAt: now})
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Topic: string(p.details.Products), Key: []byte(codecs.Key(id)), Value: v})
		cat.Products = append(cat.Products, producer.Product{ID: id, Price: price})
	}
	require.NoError(t, p.client.ProduceSync(ctx, recs...).FirstErr())
	return cat
}

// writeCustomers writes the customers' rows to the customers topic.
func (p *pipeline) writeCustomers(ids ...int64) {
	t := p.t
	ctx := context.Background()
	codec, err := codecs.NewAvro[avro.Customer](ctx, p.reg, codecs.ValueSubject(string(p.details.Customers)), avro.CustomerSchema)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(time.Millisecond)
	var recs []*kgo.Record
	for _, id := range ids {
		masked := "****"
		v, err := codec.Encode(&avro.Customer{ID: id, FirstName: "First", LastName: fmt.Sprintf("Customer%d", id),
			Email: fmt.Sprintf("c%d@example.com", id), CreditCard: &masked, CreatedAt: now, UpdatedAt: now})
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Topic: string(p.details.Customers), Key: []byte(codecs.Key(id)), Value: v})
	}
	require.NoError(t, p.client.ProduceSync(ctx, recs...).FirstErr())
}

// orderSource makes random orders of a catalog and writes them to the
// orders topic keyed by customer id (franz-go places keys as the Java
// client and the producer do), counting those of customers not in late.
type orderSource struct {
	p       *pipeline
	gen     *producer.Generator
	codec   *codecs.Avro[avro.Order]
	late    []int64
	onTime  int64 // orders of customers not in late
	written int64
}

func (p *pipeline) orderSource(cat producer.Catalog, seed uint64, late []int64) *orderSource {
	codec, err := codecs.NewAvro[avro.Order](context.Background(), p.reg, codecs.ValueSubject(string(p.details.Orders)), avro.OrderSchema)
	require.NoError(p.t, err)
	return &orderSource{p: p, gen: producer.NewGenerator(cat, 5, seed), codec: codec, late: late}
}

// write writes n orders (acks=all) and returns when all are acknowledged.
func (s *orderSource) write(n int) {
	t := s.p.t
	var recs []*kgo.Record
	for range n {
		o := s.gen.Next(time.Now())
		v, err := s.codec.Encode(o)
		require.NoError(t, err)
		recs = append(recs, &kgo.Record{Topic: string(s.p.details.Orders), Key: []byte(codecs.Key(o.CustomerID)), Value: v})
		if !slices.Contains(s.late, o.CustomerID) {
			s.onTime++
		}
	}
	for len(recs) > 0 {
		batch := recs[:min(len(recs), 500)]
		recs = recs[len(batch):]
		require.NoError(t, s.p.client.ProduceSync(context.Background(), batch...).FirstErr())
	}
	s.written += int64(n)
}

// logRecorder is a slog.Handler keeping every record at or above its level
// as one line (message and attributes), for tests that wait for what a
// component logged (a restart, say).
type logRecorder struct {
	level slog.Level
	attrs string
	store *logStore
}

type logStore struct {
	mu    sync.Mutex
	lines []string
}

func newLogRecorder(level slog.Level) *logRecorder {
	return &logRecorder{level: level, store: &logStore{}}
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s", rec.Level, rec.Message, r.attrs)
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.store.mu.Lock()
	r.store.lines = append(r.store.lines, b.String())
	r.store.mu.Unlock()
	return nil
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	for _, a := range attrs {
		c.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return &c
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// count is how many lines contain every one of parts.
func (r *logRecorder) count(parts ...string) int { return len(r.matching(parts...)) }

// matching returns the lines containing every one of parts.
func (r *logRecorder) matching(parts ...string) []string {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	var out []string
	for _, l := range r.store.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}

// tail is the last n lines.
func (r *logRecorder) tail(n int) string {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	return strings.Join(r.store.lines[max(0, len(r.store.lines)-n):], "\n")
}

// recordedComponent runs c as component name, as its binary would
// (restarted by the frame after a failure), with its log (warnings and
// errors) recorded.
func (p *pipeline) recordedComponent(name string, c services.Component) (*running, *logRecorder) {
	return p.recordedComponentOn(p.env(), name, c)
}

// recordedComponentOn is recordedComponent in env.
func (p *pipeline) recordedComponentOn(env *frame.Env, name string, c services.Component) (*running, *logRecorder) {
	rec := newLogRecorder(slog.LevelWarn)
	env.Log = slog.New(rec)
	r := p.componentOn(env, name, c)
	p.t.Cleanup(func() {
		if p.t.Failed() {
			p.t.Logf("%s logged (last lines):\n%s", name, rec.tail(30))
		}
	})
	return r, rec
}

// openOrders counts, over the latest state of every customer in the totals'
// table, the orders still open (a retry in flight, or dead-lettered): an
// order whose retry was lost stays PENDING there forever.
func (p *pipeline) openOrders() (open int, states int) {
	c, err := totals.NewCodecs(context.Background(), p.reg, p.totalsID, p.totals)
	require.NoError(p.t, err)
	latest := map[string]*avro.CustomerTotalState{}
	p.readAll(string(goka.GroupTable(p.totalsID)), func(r *kgo.Record) {
		if r.Value == nil {
			delete(latest, string(r.Key))
			return
		}
		s, err := c.State.DecodeValue(r.Value)
		require.NoError(p.t, err)
		latest[string(r.Key)] = s
	})
	for _, s := range latest {
		open += len(s.Open)
	}
	return open, len(latest)
}

// awaitNoneOpen waits until no order is open in the totals' state (a lost
// retry would stay PENDING there forever), and returns how many customers
// have a state. customer-totals can be exact a moment before the table
// write of the same callback is: they are records of two topics.
func (p *pipeline) awaitNoneOpen() (customers int) {
	p.t.Helper()
	testkit.Await(p.t, time.Minute, "no order open in the totals' state (a lost retry stays PENDING)", func() (bool, string) {
		var open int
		open, customers = p.openOrders()
		return open == 0, fmt.Sprintf("%d orders open", open)
	})
	return customers
}

// lateCustomers picks, for each partition of a topic of partitions, the
// first perPartition customers of 1..customers whose key lands there.
func lateCustomers(customers int, partitions int32, perPartition int) []int64 {
	var late []int64
	got := map[int32]int{}
	for id := int64(1); id <= int64(customers); id++ {
		part := murmur2.Partition([]byte(codecs.Key(id)), partitions)
		if got[part] < perPartition {
			got[part]++
			late = append(late, id)
		}
	}
	return late
}

// TestOutputPartitionFailsBeyondTheDeliveryTimeout: one partition of one
// output of a processor refuses every write (NOT_ENOUGH_REPLICAS, as while
// a partition has too few in-sync replicas) for longer than the delivery
// timeout (2 s here), while its other partitions, in the same produce
// requests, take theirs. The processor must stop, be restarted by the frame
// (Supervise), read again from its last in-order commit, and leave every
// total exact: nothing lost (an order committed past while its emit failed)
// and nothing counted twice (the records written before the stop are
// written again after it). For orders-details: order-details and the retry
// topic (orders of customers that arrive late wait there; an order whose
// retry record is lost would stay PENDING in the totals forever). For
// orders-totals-by-customer: its group table and customer-totals.
func TestOutputPartitionFailsBeyondTheDeliveryTimeout(t *testing.T) {
	testkit.Slow(t, "processors failing and restarting on kfake")
	table := func(p *pipeline) string { return string(goka.GroupTable(p.totalsID)) }
	details := func(p *pipeline) string { return string(p.details.Details) }
	for i, tc := range []struct {
		victim, output string
		topic          func(p *pipeline) string
		// backWhenGivenUp: the partition takes writes again the moment
		// the producer has given up on the refused ones (its next batch
		// carries another producer epoch): what the processor still emits
		// before it stops is written.
		backWhenGivenUp bool
	}{
		{"orders-details", "order-details", details, false},
		{"orders-details", "retry", func(p *pipeline) string { return string(p.details.Retry) }, false},
		{"orders-totals-by-customer", "table", table, false},
		{"orders-totals-by-customer", "customer-totals", func(p *pipeline) string { return string(p.totals.Totals) }, false},
		{"orders-details", "order-details-back-when-given-up", details, true},
	} {
		t.Run(tc.victim+"/"+tc.output, func(t *testing.T) {
			kc, brokers := faultKfake(t, 1)
			p := newPipelineWith(t, brokers, faultLayout)
			p.kafka.DeliveryTimeout = 2 * time.Second
			const partition = 1
			late := lateCustomers(200, faultLayout.retry, 4)
			cat := p.syntheticCatalog(200, 50, late)
			orders := p.orderSource(cat, uint64(i+1), late)

			det := p.detailsComponent()
			det.MaxRetries, det.RetryDelay = 1_000_000, time.Second // late orders wait until their customer comes
			detRun, detLog := p.recordedComponent("orders-details", det)
			totRun, totLog := p.recordedComponent("orders-totals-by-customer", p.totalsComponent())
			log := map[string]*logRecorder{"orders-details": detLog, "orders-totals-by-customer": totLog}[tc.victim]
			w := p.watchTotals()

			orders.write(1500)
			w.awaitCounted(orders.onTime, 3*time.Minute)

			topic := tc.topic(p)
			var when func(kmsg.Request) bool
			if tc.backWhenGivenUp {
				when = firstProducerEpochOnly(p.topicID(topic), topic, partition)
			}
			fault := kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Partitions: []int32{partition},
				Err: kerr.NotEnoughReplicas, Count: -1, When: when})
			orders.write(1500)
			failed := fmt.Sprintf("producing to %s (partition %d)", topic, partition)
			testkit.Await(t, 3*time.Minute, tc.victim+" stops on the failed partition and is restarted", func() (bool, string) {
				return log.count("failed; restarting", failed) > 0, fmt.Sprintf("fault hits %d; log:\n%s", fault.Hits(), log.tail(5))
			})
			fault.Remove()
			restarts := log.count("failed; restarting")

			p.writeCustomers(late...) // the late orders can be joined now
			want, n := p.expectedTotals()
			require.Equal(t, orders.written, n)
			w.await(want, 4*time.Minute)
			customers := p.awaitNoneOpen()
			require.NoError(t, detRun.stop())
			require.NoError(t, totRun.stop())
			p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter)
			if tc.victim == "orders-details" {
				records, again := p.detailsWrittenAgain()
				t.Logf("order-details: %d records, %d of them written again after the restart (counted once)", records, again)
			}
			t.Logf("%d produce requests refused for %s; %s restarted %d times; totals of %d orders exact (%d of them of the %d late customers), %d states, none open",
				fault.Hits(), failed, tc.victim, restarts, n, orders.written-orders.onTime, len(late), customers)
		})
	}
}

// TestLeaderMovesMidStream: while orders stream through both processors on
// a 3-broker kfake cluster, partition leaders move: every partition's
// leader at once (an election), the leader of one order-details partition,
// a broker leaving the cluster (its partitions move to the others) and
// another joining (partitions move to it). Each move is survived: processing goes on and every total is
// exact, nothing dead-lettered, no order left open.
func TestLeaderMovesMidStream(t *testing.T) {
	testkit.Slow(t, "leaders moving under the processors on kfake")
	kc, brokers := faultKfake(t, 3)
	p := newPipelineWith(t, brokers, faultLayout)
	late := lateCustomers(200, faultLayout.retry, 2)
	cat := p.syntheticCatalog(200, 50, late)
	orders := p.orderSource(cat, 42, late)
	det := p.detailsComponent()
	det.MaxRetries, det.RetryDelay = 1_000_000, time.Second
	detRun, detLog := p.recordedComponent("orders-details", det)
	totRun, totLog := p.recordedComponent("orders-totals-by-customer", p.totalsComponent())
	w := p.watchTotals()
	orders.write(1000)
	w.awaitCounted(orders.onTime, 3*time.Minute)

	od := string(p.details.Details)
	for _, move := range []struct {
		what string
		do   func()
	}{
		{"every partition's leader moves (an election)", kc.ShufflePartitionLeaders},
		{"the leader of order-details/1 moves", func() {
			from := kc.LeaderFor(od, 1)
			require.NoError(t, kc.MoveTopicPartition(od, 1, (from+1)%3))
		}},
		{"a broker leaves, then another joins", func() {
			// kfake's RemoveNode closes the broker's listener but not its
			// connections, so a node added back under the same id would
			// not be reached by clients still connected to the old one:
			// the new broker gets a new id and port, as a replacement.
			require.NoError(t, kc.RemoveNode(kc.LeaderFor(od, 0)))
			orders.write(300) // while it is gone
			w.awaitCounted(orders.onTime, 3*time.Minute)
			_, _, err := kc.AddNode(-1, 0)
			require.NoError(t, err)
		}},
		{"every partition's leader moves again", kc.ShufflePartitionLeaders},
	} {
		move.do()
		orders.write(500)
		w.awaitCounted(orders.onTime, 3*time.Minute)
		t.Logf("%s: %d orders counted", move.what, w.counted())
	}
	p.writeCustomers(late...)
	want, n := p.expectedTotals()
	require.Equal(t, orders.written, n)
	w.await(want, 4*time.Minute)
	p.awaitNoneOpen()
	require.NoError(t, detRun.stop())
	require.NoError(t, totRun.stop())
	p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter)
	t.Logf("totals of %d orders exact; restarts: orders-details %d, orders-totals-by-customer %d", n,
		detLog.count("failed; restarting"), totLog.count("failed; restarting"))
}

// detailsWrittenAgain reads order-details and counts its records, and how
// many of them repeat one before (the same order, attempt and status):
// written again by a restarted orders-details.
func (p *pipeline) detailsWrittenAgain() (records, again int) {
	c, err := totals.NewCodecs(context.Background(), p.reg, p.totalsID, p.totals)
	require.NoError(p.t, err)
	type id struct {
		epoch, partition, attempt int32
		offset                    int64
		status                    avro.OrderDetailsStatus
	}
	seen := map[id]bool{}
	p.readAll(string(p.details.Details), func(r *kgo.Record) {
		d, err := c.Details.DecodeValue(r.Value)
		require.NoError(p.t, err)
		k := id{d.SourceEpoch, d.SourcePartition, d.Attempt, d.SourceOffset, d.Status}
		records++
		if seen[k] {
			again++
		}
		seen[k] = true
	})
	return records, again
}

// topicID is the topic's ID.
func (p *pipeline) topicID(topic string) [16]byte {
	d, err := kadm.NewClient(p.client).ListTopics(context.Background(), topic)
	require.NoError(p.t, err)
	require.NoError(p.t, d[topic].Err)
	return d[topic].ID
}

// firstProducerEpochOnly is a fault's When: it refuses the batches for the
// topic's partition of the first producer (id and epoch) it sees, and
// takes every other producer's, or that producer's once it has given up
// and moved to a new epoch. It runs on kfake's goroutine.
func firstProducerEpochOnly(id [16]byte, topic string, partition int32) func(kmsg.Request) bool {
	type producer struct {
		id    int64
		epoch int16
	}
	var first *producer
	return func(req kmsg.Request) bool {
		pr, ok := req.(*kmsg.ProduceRequest)
		if !ok {
			return false
		}
		for _, t := range pr.Topics {
			if t.Topic != topic && t.TopicID != id {
				continue
			}
			for _, part := range t.Partitions {
				if part.Partition != partition {
					continue
				}
				var b kmsg.RecordBatch
				if err := b.ReadFrom(part.Records); err != nil {
					return true
				}
				if first == nil {
					first = &producer{b.ProducerID, b.ProducerEpoch}
				}
				return b.ProducerID == first.id && b.ProducerEpoch == first.epoch
			}
		}
		return false
	}
}
