package details

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/deadletter"
)

type fixture struct {
	tt      *tester.Tester
	j       *Joiner
	details *tester.QueueTracker
	retries *tester.QueueTracker
	dlq     *tester.QueueTracker
}

func newFixture(t *testing.T, maxRetries int) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := NewCodecs(ctx, testkit.Registry(t), DefaultTopics)
	require.NoError(t, err)
	tt := tester.New(t)
	views, err := NewViews(nil, DefaultTopics, c, goka.WithViewTester(tt))
	require.NoError(t, err)
	errs := make(chan error, 4)
	for _, v := range views {
		go func() { errs <- v.Run(ctx) }()
		<-v.WaitRunning()
	}
	j := New(Options{Topics: DefaultTopics, MaxRetries: maxRetries, RetryDelay: time.Hour}, c, views)
	j.wait = func(context.Context, time.Time) bool { return true } // no real waiting in unit tests

	for _, g := range []*goka.GroupGraph{j.Graph(), j.RetryGraph()} {
		p, err := goka.NewProcessor(nil, g, goka.WithTester(tt), goka.WithNilHandling(goka.NilProcess))
		require.NoError(t, err)
		go func() { errs <- p.Run(ctx) }()
		require.NoError(t, p.WaitForReadyContext(ctx))
	}
	t.Cleanup(func() {
		cancel()
		for range 4 {
			require.NoError(t, <-errs)
		}
	})
	return &fixture{
		tt: tt, j: j,
		details: tt.NewQueueTracker(string(DefaultTopics.Details)),
		retries: tt.NewQueueTracker(string(DefaultTopics.Retry)),
		dlq:     tt.NewQueueTracker(string(DefaultTopics.DeadLetter)),
	}
}

var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func customer(id int64) *avro.Customer {
	return &avro.Customer{ID: id, FirstName: "Grace", LastName: "Hopper", Email: "grace@example.com",
		CreditCard: ptr("****************"), CreatedAt: now, UpdatedAt: now}
}

func product(id int64) *avro.Product {
	return &avro.Product{ID: id, Name: "Compiler", Category: "Books", Price: big.NewRat(1999, 100), CreatedAt: now, UpdatedAt: now}
}

func order(id string, customerID, productID int64, qty int32) *avro.Order {
	return &avro.Order{OrderID: id, CustomerID: customerID, ProductID: productID, Quantity: qty,
		UnitPrice: big.NewRat(1999, 100), CreatedAt: now}
}

const orderID = "6f1c2f0e-8b7a-4a57-9d1e-2c5b3f4a1b00"

// consumeTable writes a row to a lookup table's topic and waits until the
// views applied it (the tester does not wait for table updates).
func (f *fixture) consumeTable(t *testing.T, table goka.Table, key string, value any) {
	t.Helper()
	f.tt.Consume(string(table), key, value)
	require.Eventually(t, func() bool {
		f.tt.Catchup()
		return (f.tt.TableValue(table, key) == nil) == (value == nil)
	}, 5*time.Second, time.Millisecond, "table %s did not apply key %s", table, key)
}

// next returns the next record of a queue, decoded.
func next(t *testing.T, q *tester.QueueTracker) (goka.Headers, string, *avro.OrderDetails) {
	t.Helper()
	h, key, v, ok := q.NextWithHeaders()
	require.True(t, ok, "expected a record")
	d := v.(codecs.Decoded[avro.OrderDetails])
	require.NoError(t, d.Err)
	return h, key, d.Value
}

func assertEmpty(t *testing.T, qs ...*tester.QueueTracker) {
	t.Helper()
	for _, q := range qs {
		_, _, ok := q.NextRaw()
		assert.False(t, ok, "unexpected record")
	}
}

func TestJoinsOrderWithCustomerAndProduct(t *testing.T) {
	f := newFixture(t, 3)
	f.tt.SetTableValue(DefaultTopics.Customers, "1", f.row(customer(1)))
	f.tt.SetTableValue(DefaultTopics.Products, "7", f.row(product(7)))

	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 7, 3))

	_, key, d := next(t, f.details)
	assert.Equal(t, "1", key)
	assert.Equal(t, avro.OrderDetailsStatusJoined, d.Status)
	assert.Equal(t, orderID, d.OrderID)
	assert.Equal(t, "Grace", *d.CustomerFirstName)
	assert.Equal(t, "grace@example.com", *d.CustomerEmail)
	assert.Equal(t, "Compiler", *d.ProductName)
	assert.Equal(t, "Books", *d.ProductCategory)
	assert.Equal(t, "59.97", d.LineTotal.FloatString(2), "3 x 19.99, exact")
	assert.Equal(t, int32(0), d.Attempt)
	assert.Equal(t, int64(0), d.SourceOffset)
	assertEmpty(t, f.details, f.retries, f.dlq)
}

func TestCustomerArrivingDuringRetryIsJoined(t *testing.T) {
	f := newFixture(t, 3)
	f.tt.SetTableValue(DefaultTopics.Products, "7", f.row(product(7)))
	// The CDC source delivers the customer while the order waits for its retry.
	f.j.wait = func(context.Context, time.Time) bool {
		f.tt.SetTableValue(DefaultTopics.Customers, "1", f.row(customer(1)))
		return true
	}

	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 7, 1))

	_, _, marker := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusRetrying, marker.Status)
	assert.Equal(t, int32(0), marker.Attempt)
	assert.Contains(t, *marker.Reason, "customer 1 not found in table customers")
	assert.Nil(t, marker.CustomerFirstName)

	h, _, retry := next(t, f.retries)
	assert.Equal(t, int32(1), retry.Attempt)
	assert.NotEmpty(t, h[RetryDueHeader])

	_, _, joined := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusJoined, joined.Status)
	assert.Equal(t, int32(1), joined.Attempt)
	assert.Equal(t, marker.SourceOffset, joined.SourceOffset, "the retry keeps the order's identity")
	assert.Equal(t, "Grace", *joined.CustomerFirstName)
	assertEmpty(t, f.details, f.retries, f.dlq)
}

func TestMissingProductIsDeadLetteredAfterRetries(t *testing.T) {
	f := newFixture(t, 2)
	f.tt.SetTableValue(DefaultTopics.Customers, "1", f.row(customer(1)))

	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 99, 1))

	_, _, marker := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusRetrying, marker.Status)
	_, _, dead := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusDeadLettered, dead.Status)
	assert.Equal(t, int32(2), dead.Attempt)
	assert.Contains(t, *dead.Reason, "product 99 not found in table products")
	assertEmpty(t, f.details)

	for attempt := int32(1); attempt <= 2; attempt++ {
		_, _, r := next(t, f.retries)
		assert.Equal(t, attempt, r.Attempt)
	}
	assertEmpty(t, f.retries)

	h, key, raw, ok := f.dlq.NextRawWithHeaders()
	require.True(t, ok)
	assert.Equal(t, "1", key)
	assert.Equal(t, deadletter.StageJoin, string(h[deadletter.HeaderStage]))
	assert.Equal(t, "orders", string(h[deadletter.HeaderTopic]))
	assert.Equal(t, "0", string(h[deadletter.HeaderOffset]))
	assert.Contains(t, string(h[deadletter.HeaderExceptionMessage]), "not joined after 3 attempts: product 99 not found")
	got, err := f.j.codecs.Order.DecodeValue(raw)
	require.NoError(t, err, "the dead-lettered value is the order in the orders schema")
	assert.Equal(t, orderID, got.OrderID)
}

func TestTombstonedCustomerIsNotJoined(t *testing.T) {
	f := newFixture(t, 0)
	f.tt.SetTableValue(DefaultTopics.Products, "7", f.row(product(7)))
	f.consumeTable(t, DefaultTopics.Customers, "1", f.row(customer(1)))
	f.consumeTable(t, DefaultTopics.Customers, "1", nil) // deleted in MySQL

	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 7, 1))

	_, _, d := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusDeadLettered, d.Status, "no retries configured")
	assert.Contains(t, *d.Reason, "customer 1 not found")
	_, _, ok := f.dlq.NextRaw()
	assert.True(t, ok)
}

func TestUnreadableCustomerRowIsDeadLetteredWithTheReason(t *testing.T) {
	f := newFixture(t, 0)
	f.tt.SetTableValue(DefaultTopics.Products, "7", f.row(product(7)))
	f.consumeTable(t, DefaultTopics.Customers, "1", codecs.Raw(`{"id":1}`))

	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 7, 1))

	_, _, d := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusDeadLettered, d.Status)
	assert.Contains(t, *d.Reason, "customer 1: the row in table customers cannot be read")
	assert.Contains(t, *d.Reason, "not Confluent wire format")
}

func TestBadOrdersGoToTheDeadLetterTopic(t *testing.T) {
	f := newFixture(t, 3)
	f.tt.SetTableValue(DefaultTopics.Customers, "1", f.row(customer(1)))
	f.tt.SetTableValue(DefaultTopics.Products, "7", f.row(product(7)))
	valid, err := f.j.codecs.Order.Encode(order(orderID, 1, 7, 1))
	require.NoError(t, err)

	cases := []struct {
		name, key string
		value     any
		stage     string
		message   string
	}{
		{"not wire format", "1", codecs.Raw(`{"order_id":"x"}`), deadletter.StageDecode, "not Confluent wire format"},
		{"unknown schema id", "1", codecs.Raw(append([]byte{0, 0, 0, 0x7f, 0}, valid[5:]...)), deadletter.StageDecode, "schema id unknown"},
		{"truncated body", "1", codecs.Raw(valid[:len(valid)-4]), deadletter.StageDecode, "Avro body does not decode"},
		{"null value", "1", nil, deadletter.StageDecode, "value is null"},
		{"keyed by another customer", "2", order(orderID, 1, 7, 1), deadletter.StageValidate, "keyed \"2\" but belongs to customer 1"},
		{"zero quantity", "1", order(orderID, 1, 7, 0), deadletter.StageValidate, "quantity 0 is not positive"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.tt.Consume(string(DefaultTopics.Orders), tc.key, tc.value)
			h, key, raw, ok := f.dlq.NextRawWithHeaders()
			require.True(t, ok)
			assert.Equal(t, tc.key, key)
			assert.Equal(t, tc.stage, string(h[deadletter.HeaderStage]))
			assert.Contains(t, string(h[deadletter.HeaderExceptionMessage]), tc.message)
			assert.Equal(t, "orders", string(h[deadletter.HeaderTopic]))
			assert.Equal(t, strings.TrimSpace(string(rune('0'+i))), string(h[deadletter.HeaderOffset]))
			for _, name := range deadletter.HeaderNames {
				assert.NotEmpty(t, h[name], "header %s (Kafka Connect writes ten)", name)
			}
			assert.Equal(t, string(h[deadletter.HeaderPartition]), string(h[deadletter.HeaderTaskID]))
			assert.Equal(t, "github.com/orderstream/pipeline/processors/details.Joiner", string(h[deadletter.HeaderClass]))
			if r, isRaw := tc.value.(codecs.Raw); isRaw {
				assert.Equal(t, []byte(r), raw, "the original bytes, unchanged")
			}
			// Its first-attempt record: the totals know it as not counted,
			// so that a dead-letter replay of it can count it.
			_, mkey, marker := next(t, f.details)
			assert.Equal(t, tc.key, mkey)
			assert.Equal(t, avro.OrderDetailsStatusDeadLettered, marker.Status)
			assert.Equal(t, int64(i), marker.SourceOffset)
			assert.Equal(t, int32(0), marker.Attempt)
			assert.Contains(t, *marker.Reason, tc.message)
			assertEmpty(t, f.details, f.retries)
		})
	}
	// The processor is still running: a good order after the bad ones joins.
	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 7, 1))
	_, _, d := next(t, f.details)
	assert.Equal(t, avro.OrderDetailsStatusJoined, d.Status)
}

func TestOrderDetailsNeverCarryTheCardNumber(t *testing.T) {
	f := newFixture(t, 0)
	c := customer(1)
	c.CreditCard = ptr("4111111111111111") // even if an unmasked row slipped through
	f.tt.SetTableValue(DefaultTopics.Customers, "1", f.row(c))
	f.tt.SetTableValue(DefaultTopics.Products, "7", f.row(product(7)))
	f.tt.Consume(string(DefaultTopics.Orders), "1", order(orderID, 1, 7, 1))
	_, raw, ok := f.details.NextRaw()
	require.True(t, ok)
	assert.NotContains(t, string(raw), "4111111111111111")
}

// lenient decodes raw as the Graph's codec for T hands it over.
func lenient[T any](c *codecs.Avro[T], raw []byte) any {
	v, _ := codecs.NewLenient(c).Decode(raw)
	return v
}

// TestRowOfAnUnknownSchemaStopsTheProcessor: a lookup row whose schema id
// the registry does not know (it was reset, or another registry is
// configured) stops the join instead of retrying and dead-lettering every
// order that needs the row; a corrupt row (known id, bytes that do not
// decode) is a reason to retry, as TestUnreadableCustomerRowIsDeadLetteredWithTheReason shows.
func TestRowOfAnUnknownSchemaStopsTheProcessor(t *testing.T) {
	f := newFixture(t, 3)
	raw, err := f.j.codecs.Order.Encode(order(orderID, 1, 7, 1))
	require.NoError(t, err)
	prod, err := f.j.codecs.Product.Encode(product(7))
	require.NoError(t, err)
	unknown := []byte{0, 0, 0, 0x7f, 0x7f, 2, 0}
	ctx := &testkit.GokaContext{Ctx: context.Background(), TopicName: DefaultTopics.Orders, KeyValue: "1", GroupName: DefaultGroup}
	j := New(f.j.opts, f.j.codecs, tables{
		DefaultTopics.Customers: {"1": lenient(f.j.codecs.Customer, unknown)},
		DefaultTopics.Products:  {"7": lenient(f.j.codecs.Product, prod)},
	})
	j.onOrder(ctx, lenient(f.j.codecs.Order, raw))
	require.Len(t, ctx.Failed, 1)
	assert.Contains(t, ctx.Failed[0].Error(), "the row of customer 1 in table customers cannot be read")
	assert.Contains(t, ctx.Failed[0].Error(), "Was the registry reset")
	assert.Empty(t, ctx.Emitted, "no retry, no marker, no dead letter")
	assert.Equal(t, 1, ctx.DeferredFailed, "the order's commit is held back")
}

// TestRegistryDownDuringARebalanceDeadLettersNothing: Goka's Fail returns
// while a partition is being revoked; an order whose schema cannot be
// fetched must then be neither dead-lettered nor committed.
func TestRegistryDownDuringARebalanceDeadLettersNothing(t *testing.T) {
	f := newFixture(t, 3)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	raw, err := f.j.codecs.Order.Encode(order(orderID, 1, 7, 1))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		call func(goka.Context, any)
		msg  any
	}{
		{"order", f.j.onOrder, codecs.Decoded[avro.Order]{Raw: raw, Err: &codecs.RegistryError{SchemaID: 9, Err: context.DeadlineExceeded}}},
		{"retry", f.j.onRetry, codecs.Decoded[avro.OrderDetails]{Raw: raw, Err: &codecs.RegistryError{SchemaID: 9, Err: context.DeadlineExceeded}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := &testkit.GokaContext{Ctx: cancelled, TopicName: DefaultTopics.Orders, KeyValue: "1", GroupName: DefaultGroup}
			tc.call(ctx, tc.msg)
			require.Len(t, ctx.Failed, 1)
			assert.Empty(t, ctx.Emitted, "not dead-lettered: the registry being down is not the order's fault")
			assert.Equal(t, 1, ctx.DeferredFailed, "the order's commit is held back")
		})
	}
}

// tables are Tables in a map.
type tables map[goka.Table]map[string]any

func (t tables) Get(table goka.Table, key string) (any, error) { return t[table][key], nil }

// row encodes a customer or product as the CDC source writes it.
func (f *fixture) row(v any) codecs.Raw {
	var b []byte
	var err error
	switch v := v.(type) {
	case *avro.Customer:
		b, err = f.j.codecs.Customer.Encode(v)
	case *avro.Product:
		b, err = f.j.codecs.Product.Encode(v)
	}
	if err != nil {
		panic(err)
	}
	return codecs.Raw(b)
}
