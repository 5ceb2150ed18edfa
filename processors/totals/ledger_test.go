package totals

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/avro"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func rec(offset int64, attempt int32, status avro.OrderDetailsStatus) *avro.OrderDetails {
	first, last, email := "Ada", "Lovelace", "ada@example.com"
	d := &avro.OrderDetails{
		OrderID: fmt.Sprintf("00000000-0000-0000-0000-%012d", offset), CustomerID: 7, ProductID: 1, Quantity: 2,
		UnitPrice: big.NewRat(1999, 100), LineTotal: big.NewRat(3998, 100), CreatedAt: t0.Add(time.Duration(offset) * time.Second),
		Status: status, SourcePartition: 2, SourceOffset: offset, Attempt: attempt,
	}
	if status == avro.OrderDetailsStatusJoined {
		d.CustomerFirstName, d.CustomerLastName, d.CustomerEmail = &first, &last, &email
	}
	return d
}

const (
	joined  = avro.OrderDetailsStatusJoined
	retry   = avro.OrderDetailsStatusRetrying
	dropped = avro.OrderDetailsStatusDeadLettered
)

func TestApplyCountsAndSkipsRedelivery(t *testing.T) {
	s := NewState(7)
	assert.Equal(t, Counted, Apply(s, rec(10, 0, joined)))
	assert.Equal(t, Counted, Apply(s, rec(11, 0, joined)))
	// The totals processor crashed and order-details is read again from 10.
	assert.Equal(t, Duplicate, Apply(s, rec(10, 0, joined)))
	assert.Equal(t, Duplicate, Apply(s, rec(11, 0, joined)))
	assert.Equal(t, Counted, Apply(s, rec(12, 0, joined)))
	assert.Equal(t, int64(3), s.OrderCount)
	assert.Equal(t, "119.94", s.TotalAmount.FloatString(2))
	assert.Equal(t, "Ada Lovelace", s.CustomerName)
	assert.Equal(t, "00000000-0000-0000-0000-000000000012", *s.LastOrderID)
	assert.Empty(t, s.Open)
}

func TestApplyRetriedOrderCountsOnceAfterLaterOrders(t *testing.T) {
	s := NewState(7)
	assert.Equal(t, Deferred, Apply(s, rec(10, 0, retry)))  // customer not in the table yet
	assert.Equal(t, Counted, Apply(s, rec(11, 0, joined)))  // a later order joins at once
	assert.Equal(t, Counted, Apply(s, rec(10, 2, joined)))  // the retry joins, out of order
	assert.Equal(t, Settled, Apply(s, rec(10, 2, joined)))  // ... and is redelivered
	assert.Equal(t, Duplicate, Apply(s, rec(10, 0, retry))) // the marker is redelivered
	assert.Equal(t, int64(2), s.OrderCount)
	assert.Empty(t, s.Open, "nothing stays open once settled")
}

func TestApplyDeadLetteredOrderIsNotCountedUntilReplayed(t *testing.T) {
	s := NewState(7)
	assert.Equal(t, Deferred, Apply(s, rec(10, 0, retry)))
	assert.Equal(t, Dropped, Apply(s, rec(10, 5, dropped)))
	assert.Equal(t, Duplicate, Apply(s, rec(10, 5, dropped)))
	assert.Equal(t, int64(0), s.OrderCount)
	assert.Equal(t, []avro.OpenOrder{{Partition: 2, Offset: 10, State: avro.OpenOrderStateDropped}}, s.Open,
		"a dead-lettered order is remembered as not counted")
	// The dead-letter replay sends it through the retry path again, with
	// its identity: it joins now, and counts once.
	assert.Equal(t, Counted, Apply(s, rec(10, 1, joined)))
	assert.Equal(t, Settled, Apply(s, rec(10, 1, joined)))
	assert.Equal(t, int64(1), s.OrderCount)
	assert.Empty(t, s.Open)
}

// After a replay of orders-details one order has two retry chains; one
// ends dead-lettered, the other joins: JOINED decides, in either order.
func TestApplyJoinedDecidesBetweenTwoRetryChains(t *testing.T) {
	for _, joinedFirst := range []bool{true, false} {
		s := NewState(7)
		assert.Equal(t, Deferred, Apply(s, rec(10, 0, retry)))
		assert.Equal(t, Duplicate, Apply(s, rec(10, 0, retry)), "the replay's marker")
		results := []*avro.OrderDetails{rec(10, 3, dropped), rec(10, 2, joined)}
		if joinedFirst {
			results[0], results[1] = results[1], results[0]
		}
		for _, d := range results {
			Apply(s, d)
		}
		assert.Equal(t, int64(1), s.OrderCount, "joined first: %v", joinedFirst)
		assert.Empty(t, s.Open)
	}
}

// An order orders-details could not read is dead-lettered at its first
// attempt with a DEAD_LETTERED marker; replayed once readable, it counts.
func TestApplyMarkerOfABadOrderLetsItsReplayCount(t *testing.T) {
	s := NewState(7)
	assert.Equal(t, Dropped, Apply(s, rec(10, 0, dropped)))
	assert.Equal(t, Counted, Apply(s, rec(11, 0, joined)))
	assert.Equal(t, Counted, Apply(s, rec(10, 1, joined)), "replayed below the watermark, yet counted: it was open")
	assert.Equal(t, Duplicate, Apply(s, rec(10, 0, dropped)))
	assert.Equal(t, int64(2), s.OrderCount)
	assert.Empty(t, s.Open)
}

// A recreated orders topic (accepted by orders-details as a new epoch)
// starts its offsets at 0 again: they are new orders, not duplicates.
func TestApplyANewEpochIsNotADuplicate(t *testing.T) {
	s := NewState(7)
	assert.Equal(t, Counted, Apply(s, rec(500, 0, joined)))
	next := rec(3, 0, joined)
	next.SourceEpoch = 1
	assert.Equal(t, Counted, Apply(s, next))
	assert.Equal(t, Duplicate, Apply(s, next))
	assert.Equal(t, int64(2), s.OrderCount)
}

// orders-details crashed after writing an order to the retry topic but
// before its RETRYING marker reached order-details; the replay found the
// customer and wrote JOINED. The old retry copy joins too.
func TestApplyReplayJoinsWhileOldRetryJoins(t *testing.T) {
	s := NewState(7)
	assert.Equal(t, Counted, Apply(s, rec(10, 1, joined))) // the retry result comes first
	assert.Equal(t, Settled, Apply(s, rec(10, 0, joined))) // the replayed first attempt
	assert.Equal(t, Duplicate, Apply(s, rec(10, 0, joined)))
	assert.Equal(t, int64(1), s.OrderCount)
	assert.Empty(t, s.Open)
}

// --- simulation -------------------------------------------------------------

// TestApplyExactUnderRedeliveries simulates orders-details runs that crash
// and replay (rewriting first-attempt records, sometimes with a different
// outcome because the customer arrived meanwhile, and leaving extra retry
// chains behind that may end otherwise), orders it could not read
// (dead-lettered at the first attempt), retry results interleaved at
// random, dead-letter replays, and a totals processor that re-reads
// order-details from earlier offsets after crashes. Whatever the
// interleaving, every order with a JOINED record is counted exactly once,
// the others not at all, and exactly those stay open.
func TestApplyExactUnderRedeliveries(t *testing.T) {
	for seed := uint64(0); seed < 3000; seed++ {
		rng := rand.New(rand.NewPCG(seed, 17))
		stream, want, all := simulate(rng, 1+rng.IntN(25))
		s := NewState(7)
		for _, d := range redeliver(rng, stream) {
			Apply(s, d)
		}
		require.Equal(t, int64(len(want)), s.OrderCount, "seed %d: counted %d orders, want %d", seed, s.OrderCount, len(want))
		sum := new(big.Rat)
		for range want {
			sum.Add(sum, big.NewRat(3998, 100))
		}
		require.Zero(t, sum.Cmp(s.TotalAmount), "seed %d", seed)
		open := map[int64]bool{}
		for _, o := range s.Open {
			require.NotEqual(t, avro.OpenOrderStateCounted, o.State, "seed %d: a counted order left open: %v", seed, s.Open)
			open[o.Offset] = true
		}
		for o := range all {
			require.Equal(t, !want[o], open[o], "seed %d: order %d: open %v, counted %v", seed, o, open[o], want[o])
		}
	}
}

// simulate returns the order-details topic as orders-details would write it
// for n orders of one customer, the offsets that must be counted (those with
// a JOINED record), and all offsets.
func simulate(rng *rand.Rand, n int) ([]*avro.OrderDetails, map[int64]bool, map[int64]bool) {
	const maxRetries = 3
	type order struct {
		offset int64
		// joinsAt: the attempt from which the join succeeds; > maxRetries never.
		joinsAt int32
		bad     bool // unreadable: dead-lettered at once, until replayed
	}
	orders := make([]order, n)
	all := map[int64]bool{}
	for i := range orders {
		o := order{offset: int64(3 * i)}
		switch r := rng.IntN(20); {
		case r < 12:
			o.joinsAt = 0
		case r < 17:
			o.joinsAt = 1 + rng.Int32N(maxRetries)
		case r < 19:
			o.joinsAt = maxRetries + 1 // dead-lettered
		default:
			o.bad = true
		}
		orders[i] = o
		all[o.offset] = true
	}

	var topic []*avro.OrderDetails
	var pending []*avro.OrderDetails // retry results not yet written
	flushSome := func(all bool) {
		for len(pending) > 0 && (all || rng.IntN(3) == 0) {
			i := rng.IntN(len(pending))
			topic = append(topic, pending[i])
			pending = append(pending[:i], pending[i+1:]...)
		}
	}
	want := map[int64]bool{}
	retryChain := func(o order) {
		switch {
		case o.joinsAt <= maxRetries && rng.IntN(6) > 0:
			pending = append(pending, rec(o.offset, o.joinsAt, joined))
			want[o.offset] = true
		default:
			// Never joins, or this chain ended otherwise (the customer was
			// deleted for a while): dead-lettered.
			pending = append(pending, rec(o.offset, maxRetries, dropped))
		}
	}

	start := 0
	for run := 0; start < n; run++ {
		markerLost := false
		end := n
		if run < 3 && rng.IntN(2) == 0 {
			end = start + rng.IntN(n-start) + 1 // this run crashes after order end-1
		}
		for i := start; i < end; i++ {
			o := orders[i]
			switch {
			case o.bad:
				topic = append(topic, rec(o.offset, 0, dropped))
			case o.joinsAt == 0 || (run > 0 && o.joinsAt <= maxRetries && rng.IntN(2) == 0):
				// Joined at once (on a replay the customer may have arrived).
				topic = append(topic, rec(o.offset, 0, joined))
				want[o.offset] = true
			default:
				retryChain(o)
				if i == end-1 && end < n && rng.IntN(2) == 0 {
					markerLost = true // crashed: the retry copy was written, the marker was not
					continue
				}
				topic = append(topic, rec(o.offset, 0, retry))
			}
			flushSome(false)
		}
		if end == n {
			break
		}
		// The replay starts at the last committed offset: somewhere before
		// the crash, and before an order whose record was not written.
		next := end
		if markerLost || rng.IntN(2) == 0 {
			next = start + rng.IntN(end-start)
		}
		start = next
	}
	flushSome(true)
	// The dead-letter replay: some dead-lettered orders go through the
	// retry path again (maybe twice), and join now.
	for _, o := range orders {
		if !want[o.offset] && rng.IntN(3) == 0 {
			for range 1 + rng.IntN(2) {
				topic = append(topic, rec(o.offset, 1, joined))
			}
			want[o.offset] = true
		}
	}
	return topic, want, all
}

// redeliver reads the topic like a totals processor that crashes and
// resumes from an earlier offset a few times.
func redeliver(rng *rand.Rand, topic []*avro.OrderDetails) []*avro.OrderDetails {
	var out []*avro.OrderDetails
	pos := 0
	for crashes := 0; pos < len(topic); {
		end := len(topic)
		if crashes < 3 && rng.IntN(2) == 0 {
			end = pos + rng.IntN(len(topic)-pos) + 1
			crashes++
		}
		out = append(out, topic[pos:end]...)
		if end == len(topic) {
			break
		}
		pos = rng.IntN(end + 1) // resume at or before where it stopped
	}
	return out
}
