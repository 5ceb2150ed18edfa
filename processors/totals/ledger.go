package totals

import (
	"math/big"
	"slices"
	"time"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
)

// Outcome is what Apply did with a record.
type Outcome int

const (
	Counted   Outcome = iota + 1 // added to the total
	Duplicate                    // a first-attempt record seen before: nothing changed
	Deferred                     // RETRYING: remembered as not counted yet, a retry in flight
	Dropped                      // DEAD_LETTERED: remembered as not counted (a replay may still count it)
	Settled                      // a record of an order already counted: nothing changed
)

func (o Outcome) String() string {
	return [...]string{"", "counted", "duplicate", "deferred", "dropped", "settled"}[o]
}

// Apply folds one order-details record into a customer's state and says what
// it did. It counts every order exactly once however often order-details
// records are redelivered, as long as each orders-details run writes a
// customer's first-attempt records in order (one producer, one partition:
// Kafka keeps that order; see package details).
//
// The identity of an order is its position in the orders topic (epoch,
// source partition and offset), which replays of orders-details and the
// dead-letter replay reproduce. The rule: an order counts once it has a
// JOINED record, whichever attempt or retry chain wrote it (after a replay
// of orders-details one order can have two); RETRYING and DEAD_LETTERED
// records never count and never undo a count, and an order dead-lettered
// first still counts if a JOINED record comes later (a second retry chain,
// or the dead-letter replay).
//
// The first attempt at joining an order (attempt 0) writes JOINED, RETRYING
// or DEAD_LETTERED, in orders-topic order; a retry writes JOINED or
// DEAD_LETTERED later, out of that order. So the state keeps:
//   - per (epoch, source partition), the watermark: the highest first-attempt
//     offset seen. An order at or below it that is not open is counted.
//   - the open orders: those not counted yet (PENDING while a retry is in
//     flight, DROPPED once dead-lettered), and those a retry result counted
//     before their first-attempt record arrived (COUNTED, possible only after
//     a crash). A counted order leaves the set once its first attempt is
//     below the watermark, so the set stays as small as the retries in
//     flight plus the dead-lettered orders not replayed.
func Apply(s *avro.CustomerTotalState, d *avro.OrderDetails) Outcome {
	e, p, o := d.SourceEpoch, d.SourcePartition, d.SourceOffset
	first := d.Attempt == 0
	seen := o <= watermark(s, e, p) // its first attempt was seen before
	if first && !seen {
		raise(s, e, p, o)
	}
	i := slices.IndexFunc(s.Open, func(x avro.OpenOrder) bool { return x.Epoch == e && x.Partition == p && x.Offset == o })
	if i < 0 {
		switch {
		case seen && first:
			return Duplicate
		case seen:
			return Settled // below the watermark and not open: counted
		case d.Status == avro.OrderDetailsStatusJoined:
			count(s, d)
			if !first { // a retry result before its first attempt: remember
				s.Open = append(s.Open, avro.OpenOrder{Epoch: e, Partition: p, Offset: o, State: avro.OpenOrderStateCounted})
			}
			return Counted
		case d.Status == avro.OrderDetailsStatusRetrying:
			s.Open = append(s.Open, avro.OpenOrder{Epoch: e, Partition: p, Offset: o, State: avro.OpenOrderStatePending})
			return Deferred
		default:
			s.Open = append(s.Open, avro.OpenOrder{Epoch: e, Partition: p, Offset: o, State: avro.OpenOrderStateDropped})
			return Dropped
		}
	}
	open := &s.Open[i]
	settled := o <= watermark(s, e, p) // the first attempt is seen now
	switch {
	case open.State == avro.OpenOrderStateCounted:
		if settled {
			s.Open = slices.Delete(s.Open, i, i+1)
		}
		return Settled
	case d.Status == avro.OrderDetailsStatusJoined:
		count(s, d)
		if settled {
			s.Open = slices.Delete(s.Open, i, i+1)
		} else {
			open.State = avro.OpenOrderStateCounted
		}
		return Counted
	case d.Status == avro.OrderDetailsStatusDeadLettered:
		if open.State == avro.OpenOrderStateDropped {
			return Duplicate
		}
		open.State = avro.OpenOrderStateDropped
		return Dropped
	default: // RETRYING: a marker again, or a second chain's
		return Duplicate
	}
}

func watermark(s *avro.CustomerTotalState, e, p int32) int64 {
	for _, w := range s.Watermarks {
		if w.Epoch == e && w.Partition == p {
			return w.Offset
		}
	}
	return -1
}

func raise(s *avro.CustomerTotalState, e, p int32, o int64) {
	for i := range s.Watermarks {
		if s.Watermarks[i].Epoch == e && s.Watermarks[i].Partition == p {
			s.Watermarks[i].Offset = max(s.Watermarks[i].Offset, o)
			return
		}
	}
	s.Watermarks = append(s.Watermarks, avro.SourceWatermark{Epoch: e, Partition: p, Offset: o})
}

func count(s *avro.CustomerTotalState, d *avro.OrderDetails) {
	s.OrderCount++
	s.TotalAmount = add(s.TotalAmount, d.LineTotal)
	if first, last := d.CustomerFirstName, d.CustomerLastName; first != nil && last != nil && !isName(s.CustomerName, *first, *last) {
		s.CustomerName = *first + " " + *last
	}
	if d.CustomerEmail != nil {
		s.CustomerEmail = d.CustomerEmail
	}
	if s.LastOrderAt == nil || !d.CreatedAt.Before(*s.LastOrderAt) {
		at, id := d.CreatedAt, d.OrderID
		s.LastOrderAt, s.LastOrderID = &at, &id
	}
}

// NewState is the state of a customer with no orders yet.
func NewState(customerID int64) *avro.CustomerTotalState {
	return &avro.CustomerTotalState{CustomerID: customerID, TotalAmount: new(big.Rat),
		Watermarks: []avro.SourceWatermark{}, Open: []avro.OpenOrder{}}
}

// Total is the published view of a state.
func Total(s *avro.CustomerTotalState, now time.Time) *avro.CustomerTotal {
	return &avro.CustomerTotal{
		CustomerID: s.CustomerID, CustomerName: s.CustomerName, CustomerEmail: s.CustomerEmail,
		OrderCount: s.OrderCount, TotalAmount: s.TotalAmount,
		LastOrderID: s.LastOrderID, LastOrderAt: s.LastOrderAt, UpdatedAt: now.UTC().Truncate(time.Millisecond),
	}
}

// add is total + line, exactly: in cents when both are whole cents (every
// amount of decimal(18,2) and decimal(12,2) columns).
func add(total, line *big.Rat) *big.Rat {
	if total == nil {
		total = new(big.Rat)
	}
	if a, ok := codecs.Unscaled(total, 2); ok {
		if b, ok := codecs.Unscaled(line, 2); ok {
			if sum := a + b; (b >= 0) == (sum >= a) { // no overflow
				return codecs.Scaled(sum, 2)
			}
		}
	}
	return new(big.Rat).Add(total, line)
}

// isName reports whether name is first + " " + last.
func isName(name, first, last string) bool {
	return len(name) == len(first)+1+len(last) && name[:len(first)] == first && name[len(first)] == ' ' && name[len(first)+1:] == last
}
