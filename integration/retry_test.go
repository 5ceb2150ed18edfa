package integration

import (
	"context"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lovoo/goka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/deadletter"
)

// TestLateCustomerIsJoinedAndMissingProductDeadLettered: orders for a
// customer the CDC source has not delivered yet wait on the retry topic and
// are joined once it arrives; an order for a product that never arrives
// ends on the dead-letter topic with the reason, and is not counted.
func TestLateCustomerIsJoinedAndMissingProductDeadLettered(t *testing.T) {
	db := openShop(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		p := newPipeline(t, brokers)
		p.loadCatalog(db)
		ctx, cancel := context.WithCancel(context.Background())
		done := p.runProcessors(ctx) // retries every second, 5 times

		env := p.env()
		codec, err := codecs.NewAvro[avro.Order](ctx, p.reg, codecs.ValueSubject(string(p.details.Orders)), avro.OrderSchema)
		require.NoError(t, err)
		emOpts, err := p.kafka.EmitterOptions(env.Sarama, env.Log)
		require.NoError(t, err)
		em, err := goka.NewEmitter(p.brokers, p.details.Orders, codec, emOpts...)
		require.NoError(t, err)
		order := func(customer, product int64, qty int32, price string) *avro.Order {
			r, _ := new(big.Rat).SetString(price)
			o := &avro.Order{OrderID: uuid.NewString(), CustomerID: customer, ProductID: product, Quantity: qty, UnitPrice: r, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
			err := em.EmitSync(codecs.Key(customer), o)
			require.NoError(t, err)
			return o
		}
		order(5000, 1, 2, "10.00") // customer 5000 is not in the table yet
		order(5000, 2, 1, "0.10")
		lost := order(1, 9999, 1, "5.00") // product 9999 never exists
		order(1, 1, 3, "1.00")
		require.NoError(t, em.Finish())

		// Once orders wait on the retry topic, the customer arrives.
		require.Eventually(t, func() bool { return p.endOffset(p.details.Retry) >= 2 }, time.Minute, 50*time.Millisecond)
		custCodec, err := codecs.NewAvro[avro.Customer](ctx, p.reg, codecs.ValueSubject(string(p.details.Customers)), avro.CustomerSchema)
		require.NoError(t, err)
		v, err := custCodec.Encode(&avro.Customer{ID: 5000, FirstName: "Late", LastName: "Arrival", Email: "late@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()})
		require.NoError(t, err)
		require.NoError(t, p.client.ProduceSync(ctx, &kgo.Record{Topic: string(p.details.Customers), Key: []byte("5000"), Value: v}).FirstErr())

		w := p.watchTotals()
		w.await(map[string]total{"5000": {2, "20.10"}, "1": {1, "3.00"}}, time.Minute)

		// The order for the missing product is dead-lettered after 1 + 5 attempts.
		require.Eventually(t, func() bool { return p.endOffset(p.details.DeadLetter) >= 1 }, time.Minute, 50*time.Millisecond)
		var dead []*kgo.Record
		p.readAll(string(p.details.DeadLetter), func(r *kgo.Record) { dead = append(dead, r) })
		require.Len(t, dead, 1)
		h := map[string]string{}
		for _, hd := range dead[0].Headers {
			h[hd.Key] = string(hd.Value)
		}
		assert.Equal(t, deadletter.StageJoin, h[deadletter.HeaderStage])
		assert.Contains(t, h[deadletter.HeaderExceptionMessage], "not joined after 6 attempts: product 9999 not found")
		assert.Equal(t, string(p.details.Orders), h[deadletter.HeaderTopic])
		got, err := codec.DecodeValue(dead[0].Value)
		require.NoError(t, err)
		assert.Equal(t, lost.OrderID, got.OrderID)

		cancel()
		require.NoError(t, <-done)
		w.poll(time.Second)
		assert.Equal(t, total{1, "3.00"}, w.latest["1"], "the dead-lettered order is not counted")
	})
}

// endOffset is the sum of a topic's partition end offsets.
func (p *pipeline) endOffset(topic goka.Stream) int64 {
	ends, err := kadm.NewClient(p.client).ListEndOffsets(context.Background(), string(topic))
	require.NoError(p.t, err)
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// TestDeadLetterReplayCountsOnce: orders dead-lettered because their
// product never arrived are replayed (`orders-details replay-dlq`) once it
// has: each is counted once, with its identity; a second replay counts
// nothing again.
func TestDeadLetterReplayCountsOnce(t *testing.T) {
	testkit.Slow(t, "retries, dead letters and two replays")
	db := openShop(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		p := newPipeline(t, brokers)
		p.loadCatalog(db)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := p.runProcessors(ctx) // retries every second, 5 times

		env := p.env()
		codec, err := codecs.NewAvro[avro.Order](ctx, p.reg, codecs.ValueSubject(string(p.details.Orders)), avro.OrderSchema)
		require.NoError(t, err)
		emOpts, err := p.kafka.EmitterOptions(env.Sarama, env.Log)
		require.NoError(t, err)
		em, err := goka.NewEmitter(p.brokers, p.details.Orders, codec, emOpts...)
		require.NoError(t, err)
		order := func(customer, product int64, qty int32, price string) {
			r, _ := new(big.Rat).SetString(price)
			o := &avro.Order{OrderID: uuid.NewString(), CustomerID: customer, ProductID: product, Quantity: qty, UnitPrice: r, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
			require.NoError(t, em.EmitSync(codecs.Key(customer), o))
		}
		order(1, 1, 3, "1.00")
		order(1, 9999, 1, "5.00") // product 9999 does not exist yet
		order(2, 9999, 2, "5.00")
		require.NoError(t, em.Finish())

		w := p.watchTotals()
		w.await(map[string]total{"1": {1, "3.00"}}, time.Minute)
		require.Eventually(t, func() bool { return p.endOffset(p.details.DeadLetter) >= 2 }, 2*time.Minute, 50*time.Millisecond)

		// The product arrives; the dead letters are replayed.
		prodCodec, err := codecs.NewAvro[avro.Product](ctx, p.reg, codecs.ValueSubject(string(p.details.Products)), avro.ProductSchema)
		require.NoError(t, err)
		v, err := prodCodec.Encode(&avro.Product{ID: 9999, Name: "Late", Category: "Misc", Price: big.NewRat(5, 1), CreatedAt: time.Now(), UpdatedAt: time.Now()})
		require.NoError(t, err)
		require.NoError(t, p.client.ProduceSync(ctx, &kgo.Record{Topic: string(p.details.Products), Key: []byte("9999"), Value: v}).FirstErr())

		replay := func() string {
			out, err := exec.Command(filepath.Join(bin, "orders-details"), "replay-dlq",
				"--bootstrap.servers", strings.Join(p.brokers, ","), "--schema.registry.url", p.regURL, "--log.level", "warn",
				"--topic.orders", string(p.details.Orders), "--topic.customers", string(p.details.Customers),
				"--topic.products", string(p.details.Products), "--topic.order.details", string(p.details.Details),
				"--topic.retry", string(p.details.Retry), "--topic.dlq", string(p.details.DeadLetter)).CombinedOutput()
			require.NoError(t, err, string(out))
			return string(out)
		}
		out := replay()
		assert.Contains(t, out, "replayed 2 to "+string(p.details.Retry))
		want := map[string]total{"1": {2, "8.00"}, "2": {1, "10.00"}}
		w.await(want, 2*time.Minute)

		// Again: the same two orders go through the join once more, and
		// are not counted again.
		retried := p.endOffset(p.details.Retry)
		assert.Contains(t, replay(), "replayed 2 to "+string(p.details.Retry))
		require.Equal(t, retried+2, p.endOffset(p.details.Retry))
		p.awaitNoLag(2*time.Minute, string(p.detailsID)+"-retry", string(p.totalsID))
		w.poll(time.Second)
		assert.Equal(t, want, w.latest, "a second replay counts nothing")

		cancel()
		require.NoError(t, <-done)
	})
}

// awaitNoLag waits until each group has committed everything on its
// topics (and has committed at all).
func (p *pipeline) awaitNoLag(timeout time.Duration, groups ...string) {
	adm := kadm.NewClient(p.client)
	deadline := time.Now().Add(timeout)
	for {
		lags, err := adm.Lag(context.Background(), groups...)
		ok := err == nil
		for _, g := range groups {
			l, found := lags[g]
			ok = ok && found && l.Error() == nil && len(l.Lag) > 0 && l.Lag.Total() == 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("groups %v still lag after %v: %v", groups, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}
