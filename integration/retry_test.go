package integration

import (
	"context"
	"math/big"
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
