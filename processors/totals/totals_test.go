package totals

import (
	"context"
	"math/big"
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
	tt     *tester.Tester
	a      *Aggregator
	totals *tester.QueueTracker
	dlq    *tester.QueueTracker
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := NewCodecs(ctx, testkit.Registry(t), DefaultGroup, DefaultTopics)
	require.NoError(t, err)
	tt := tester.New(t)
	a := New("", DefaultTopics, c, nil)
	p, err := goka.NewProcessor(nil, a.Graph(), goka.WithTester(tt), goka.WithNilHandling(goka.NilProcess))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.NoError(t, p.WaitForReadyContext(ctx))
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return &fixture{tt: tt, a: a,
		totals: tt.NewQueueTracker(string(DefaultTopics.Totals)),
		dlq:    tt.NewQueueTracker(string(DefaultTopics.DeadLetter))}
}

func (f *fixture) state(t *testing.T, key string) *avro.CustomerTotalState {
	t.Helper()
	v := f.tt.TableValue(goka.GroupTable(DefaultGroup), key)
	if v == nil {
		return nil
	}
	d := v.(codecs.Decoded[avro.CustomerTotalState])
	require.NoError(t, d.Err)
	return d.Value
}

func (f *fixture) lastTotal(t *testing.T) *avro.CustomerTotal {
	t.Helper()
	var last *avro.CustomerTotal
	for {
		_, v, ok := f.totals.Next()
		if !ok {
			break
		}
		d := v.(codecs.Decoded[avro.CustomerTotal])
		require.NoError(t, d.Err)
		last = d.Value
	}
	require.NotNil(t, last, "no record on customer-totals")
	return last
}

func detailsRec(customer int64, offset int64, qty int32, price string) *avro.OrderDetails {
	d := rec(offset, 0, joined)
	d.CustomerID = customer
	d.Quantity = qty
	d.UnitPrice, _ = new(big.Rat).SetString(price)
	d.LineTotal = new(big.Rat).Mul(d.UnitPrice, big.NewRat(int64(qty), 1))
	return d
}

func TestTotalsAreExactDecimals(t *testing.T) {
	f := newFixture(t)
	// 0.10 three times: a float64 sum would be 0.30000000000000004.
	for off := int64(0); off < 3; off++ {
		f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, off, 1, "0.10"))
	}
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 3, 3, "33.33"))
	f.tt.Consume(string(DefaultTopics.Details), "8", detailsRec(8, 4, 1, "1999.99"))

	total := f.lastTotal(t)
	assert.Equal(t, int64(8), total.CustomerID)
	st := f.state(t, "7")
	assert.Equal(t, int64(4), st.OrderCount)
	assert.Equal(t, "100.29", st.TotalAmount.FloatString(2))
	assert.Equal(t, "Ada Lovelace", st.CustomerName)
	assert.Equal(t, "1999.99", f.state(t, "8").TotalAmount.FloatString(2))
}

func TestRedeliveredOrderIsNotCountedTwice(t *testing.T) {
	f := newFixture(t)
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 10, 2, "5.00"))
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 11, 1, "5.00"))
	f.lastTotal(t)
	// A crash made both records come again (same source offsets: the
	// replayed orders-details wrote them again, or totals re-read them).
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 10, 2, "5.00"))
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 11, 1, "5.00"))

	total := f.lastTotal(t) // the total is published again, unchanged
	assert.Equal(t, int64(2), total.OrderCount)
	assert.Equal(t, "15.00", total.TotalAmount.FloatString(2))
	assert.Equal(t, int64(2), f.state(t, "7").OrderCount)
}

func TestRetriedOrderCountsOnce(t *testing.T) {
	f := newFixture(t)
	marker := detailsRec(7, 10, 1, "2.50")
	marker.Status, marker.CustomerFirstName, marker.CustomerLastName = retry, nil, nil
	f.tt.Consume(string(DefaultTopics.Details), "7", marker)
	assert.Equal(t, int64(0), f.state(t, "7").OrderCount)
	_, _, published := f.totals.Next()
	assert.False(t, published, "no total is published for a customer without counted orders")

	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 11, 1, "1.00"))
	late := detailsRec(7, 10, 1, "2.50")
	late.Attempt = 2
	f.tt.Consume(string(DefaultTopics.Details), "7", late)
	f.tt.Consume(string(DefaultTopics.Details), "7", late)

	total := f.lastTotal(t)
	assert.Equal(t, int64(2), total.OrderCount)
	assert.Equal(t, "3.50", total.TotalAmount.FloatString(2))
	assert.Empty(t, f.state(t, "7").Open)
}

func TestBadRecordsAreDeadLettered(t *testing.T) {
	f := newFixture(t)
	f.tt.Consume(string(DefaultTopics.Details), "7", codecs.Raw("garbage"))
	f.tt.Consume(string(DefaultTopics.Details), "7", nil)
	f.tt.Consume(string(DefaultTopics.Details), "9", detailsRec(7, 1, 1, "1.00"))
	for _, want := range []struct{ stage, message string }{
		{deadletter.StageDecode, "not Confluent wire format"},
		{deadletter.StageDecode, "value is null"},
		{deadletter.StageValidate, `keyed "9" but belongs to customer 7`},
	} {
		h, _, _, ok := f.dlq.NextRawWithHeaders()
		require.True(t, ok)
		assert.Equal(t, want.stage, string(h[deadletter.HeaderStage]))
		assert.Contains(t, string(h[deadletter.HeaderExceptionMessage]), want.message)
		assert.Equal(t, "orders-totals-by-customer", string(h[deadletter.HeaderConnector]))
		for _, name := range deadletter.HeaderNames {
			assert.NotEmpty(t, h[name], "header %s (Kafka Connect writes ten)", name)
		}
		assert.Equal(t, "github.com/orderstream/pipeline/processors/totals.Aggregator", string(h[deadletter.HeaderClass]))
	}
	// Still running.
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 2, 1, "1.00"))
	assert.Equal(t, int64(1), f.lastTotal(t).OrderCount)
}

// TestUnreadableStateStopsTheProcessor: a stored state that does not
// decode (the registry was reset, or another registry is configured) is
// a configuration fault: the processor stops (Goka's Fail), the record is
// not committed, nothing is counted and nothing dead-lettered.
func TestUnreadableStateStopsTheProcessor(t *testing.T) {
	f := newFixture(t)
	in := detailsRec(7, 1, 1, "1.00")
	raw, err := f.a.codecs.Details.Encode(in)
	require.NoError(t, err)
	for name, stored := range map[string][]byte{
		"unknown schema id": append([]byte{0, 0, 0, 0x7f, 0x7f}, 2, 0),              // an id the registry never gave out
		"garbage body":      append(append([]byte{}, raw[:5]...), 0xff, 0xff, 0xff), // a known id, bytes that do not decode
	} {
		t.Run(name, func(t *testing.T) {
			state, _ := codecs.NewLenient(f.a.codecs.State).Decode(stored) // as the group table's codec hands it over
			require.Error(t, state.(codecs.Decoded[avro.CustomerTotalState]).Err)
			ctx := &testkit.GokaContext{Ctx: context.Background(), TopicName: DefaultTopics.Details, KeyValue: "7", GroupName: DefaultGroup,
				Stored: state}
			f.a.onDetails(ctx, f.a.lenientDetails(raw))
			require.Len(t, ctx.Failed, 1)
			assert.Contains(t, ctx.Failed[0].Error(), "stored total of customer 7")
			assert.Contains(t, ctx.Failed[0].Error(), "Was the registry reset")
			assert.Empty(t, ctx.Emitted, "nothing dead-lettered or published")
			assert.Empty(t, ctx.Set, "the state is not overwritten")
			assert.Equal(t, 1, ctx.DeferredFailed, "the record's commit is held back")
		})
	}
}

// TestRegistryDownDuringARebalanceLosesNothing: Goka's Fail returns while
// a partition is being revoked; the record must then not be dead-lettered
// (nor committed).
func TestRegistryDownDuringARebalanceLosesNothing(t *testing.T) {
	f := newFixture(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	raw, err := f.a.codecs.Details.Encode(detailsRec(7, 1, 1, "1.00"))
	require.NoError(t, err)
	down := codecs.Decoded[avro.OrderDetails]{Raw: raw, Err: &codecs.RegistryError{SchemaID: 9, Err: context.DeadlineExceeded}}
	ctx := &testkit.GokaContext{Ctx: cancelled, TopicName: DefaultTopics.Details, KeyValue: "7", GroupName: DefaultGroup}
	f.a.onDetails(ctx, down)
	require.Len(t, ctx.Failed, 1)
	assert.Empty(t, ctx.Emitted, "not dead-lettered: the registry being down is not the record's fault")
	assert.Equal(t, 1, ctx.DeferredFailed, "the record's commit is held back")
}

func TestPublishedTotalOmitsBookkeeping(t *testing.T) {
	f := newFixture(t)
	before := time.Now().Add(-time.Second)
	f.tt.Consume(string(DefaultTopics.Details), "7", detailsRec(7, 1, 4, "2.25"))
	total := f.lastTotal(t)
	assert.Equal(t, "9.00", total.TotalAmount.FloatString(2))
	assert.Equal(t, "ada@example.com", *total.CustomerEmail)
	assert.True(t, total.UpdatedAt.After(before))
	assert.Equal(t, "00000000-0000-0000-0000-000000000001", *total.LastOrderID)
}
