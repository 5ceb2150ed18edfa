package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/producer"
)

// TestRegistryResetStopsTheProcessors (issue 9, path 3): the same Kafka
// data read with a schema registry that was reset, its schemas registered
// again in another order, so that the ids the stored records carry name
// other schemas, or none. A stored customer row or total that cannot be
// read is not the incoming order's fault: orders-details (a customer row of
// unknown schema id) and orders-totals-by-customer (a stored total whose id
// names another schema) stop, are not ready and restart with backoff, their
// error naming the likely cause; nothing is dead-lettered and nothing
// written. With the original registry back they go on, and every total is
// exact.
//
// The reset registry gives Order and OrderDetails, the schemas of the
// records they read as input, the ids they had (as after a reset where
// those writers registered first): the test is about stored rows and state;
// an input record whose id is unknown is bad input (dead-lettered, and
// orders can be replayed with orders-details replay-dlq).
func TestRegistryResetStopsTheProcessors(t *testing.T) {
	testkit.Slow(t, "processors on a reset schema registry")
	p := newPipeline(t, testkit.Kfake(t))
	cat := p.syntheticCatalog(100, 30, nil)
	orders := p.orderSource(cat, 7, nil)
	orders.write(1000)

	// The original registry: the pipeline runs to the end of the orders.
	det, _ := p.recordedComponent("orders-details", p.detailsComponent())
	tot, _ := p.recordedComponent("orders-totals-by-customer", p.totalsComponent())
	w := p.watchTotals()
	want, _ := p.expectedTotals()
	w.await(want, 3*time.Minute)
	p.awaitNoLag(2*time.Minute, string(p.detailsID), string(p.totalsID))
	require.NoError(t, det.stop())
	require.NoError(t, tot.stop())

	// The reset registry, and more orders (for customers with a stored
	// total: see the limit in the README's "Exact totals").
	reset := resetRegistry(t, p)
	var withTotals []int64
	for k := range want {
		withTotals = append(withTotals, codecsKeyID(t, k))
	}
	more := p.orderSource(producer.Catalog{Customers: withTotals, Products: cat.Products}, 8, nil)
	more.write(300)
	detailsEnd, retryEnd := p.endOffset(p.details.Details), p.endOffset(p.details.Retry)

	// orders-details on the reset registry: the customer rows' schema id
	// is unknown to it.
	det, detLog := p.recordedComponentOn(p.envWith(reset), "orders-details", p.detailsComponent())
	awaitStopsForTheRegistry(t, det, detLog, "the row of customer", "in table "+string(p.details.Customers))
	require.NoError(t, det.stop())
	assert.Equal(t, detailsEnd, p.endOffset(p.details.Details), "orders-details wrote nothing")
	assert.Equal(t, retryEnd, p.endOffset(p.details.Retry), "orders-details retried nothing")
	p.assertEmpty(p.details.DeadLetter)

	// orders-details on the original registry, orders-totals-by-customer
	// on the reset one: the stored totals' schema id names another schema.
	det, _ = p.recordedComponent("orders-details", p.detailsComponent())
	table, totalsEnd := goka.Stream(goka.GroupTable(p.totalsID)), p.endOffset(p.totals.Totals)
	tableEnd := p.endOffset(table)
	tot, totLog := p.recordedComponentOn(p.envWith(reset), "orders-totals-by-customer", p.totalsComponent())
	awaitStopsForTheRegistry(t, tot, totLog, "the stored total of customer", "in "+string(table))
	require.NoError(t, tot.stop())
	assert.Equal(t, totalsEnd, p.endOffset(p.totals.Totals), "orders-totals-by-customer published nothing")
	assert.Equal(t, tableEnd, p.endOffset(table), "orders-totals-by-customer stored nothing")
	p.assertEmpty(p.totals.DeadLetter)

	// The original registry back: every order counted once.
	tot, _ = p.recordedComponent("orders-totals-by-customer", p.totalsComponent())
	want, n := p.expectedTotals()
	require.EqualValues(t, 1300, n)
	w.await(want, 3*time.Minute)
	require.NoError(t, det.stop())
	require.NoError(t, tot.stop())
	p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter)
}

// awaitStopsForTheRegistry waits until the component has failed twice
// (restarted with backoff) with an error containing what and naming the
// registry as the likely cause, and is not ready saying so.
func awaitStopsForTheRegistry(t *testing.T, r *running, log *logRecorder, what ...string) {
	t.Helper()
	cause := "Was the registry reset"
	testkit.Await(t, 3*time.Minute, "stopped and restarted twice for the registry", func() (bool, string) {
		return log.count(append([]string{"failed; restarting", cause}, what...)...) >= 2, log.tail(3)
	})
	testkit.Await(t, time.Minute, "not ready, restarting, naming the cause", func() (bool, string) {
		parts := r.env.Health().Parts()
		return len(parts) == 1 && !parts[0].Ready && strings.Contains(parts[0].Reason, "restarting in") &&
			strings.Contains(parts[0].Reason, cause), fmt.Sprintf("%+v", parts)
	})
	t.Logf("not ready: %.300s", r.env.Health().Parts()[0].Reason)
}

// resetRegistry serves a registry as the test's would be after a reset:
// its schemas registered again in another order. Order and OrderDetails
// (what the processors read as input) keep their ids; the id of Customer
// is unknown; the ids of Product and CustomerTotalState name other schemas
// (CustomerTotal, Customer); CustomerTotalState gets a new id when
// orders-totals-by-customer registers it.
func resetRegistry(t *testing.T, p *pipeline) string {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs(p.regURL))
	require.NoError(t, err)
	id := func(subject, schema string) int {
		s, err := cl.LookupSchema(context.Background(), subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
		require.NoError(t, err, subject)
		return s.ID
	}
	subject := func(topic string) string { return codecs.ValueSubject(topic) }
	order := id(subject(string(p.details.Orders)), avro.OrderSchema)
	details := id(subject(string(p.details.Details)), avro.OrderDetailsSchema)
	customer := id(subject(string(p.details.Customers)), avro.CustomerSchema)
	product := id(subject(string(p.details.Products)), avro.ProductSchema)
	state := id(subject(string(goka.GroupTable(p.totalsID))), avro.CustomerTotalStateSchema)
	total := id(subject(string(p.totals.Totals)), avro.CustomerTotalSchema)
	t.Logf("original registry: Order %d, OrderDetails %d, Customer %d, Product %d, CustomerTotalState %d, CustomerTotal %d",
		order, details, customer, product, state, total)

	b := srfake.New()
	t.Cleanup(b.Close)
	avroSchema := func(s string) sr.Schema { return sr.Schema{Schema: s, Type: sr.TypeAvro} }
	b.SeedSchema(subject(string(p.details.Orders)), 1, order, avroSchema(avro.OrderSchema))
	b.SeedSchema(subject(string(p.details.Details)), 1, details, avroSchema(avro.OrderDetailsSchema))
	b.SeedSchema(subject(string(p.totals.Totals)), 1, product, avroSchema(avro.CustomerTotalSchema))
	b.SeedSchema(subject(string(p.details.Customers)), 1, state, avroSchema(avro.CustomerSchema))
	b.SeedSchema(subject(string(p.details.Products)), 1, total, avroSchema(avro.ProductSchema))
	return b.URL()
}

// codecsKeyID parses a key of ours back to its id.
func codecsKeyID(t *testing.T, key string) int64 {
	id, err := codecs.ParseKey(key)
	require.NoError(t, err)
	return id
}
