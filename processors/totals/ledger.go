package totals

import (
	"math/big"
	"slices"
	"time"

	"github.com/orderstream/pipeline/avro"
)

// Outcome is what Apply did with a record.
type Outcome int

const (
	Counted   Outcome = iota + 1 // added to the total
	Duplicate                    // seen before: nothing changed
	Deferred                     // RETRYING: remembered as pending
	Dropped                      // DEAD_LETTERED: settled without counting
	Settled                      // the second record of a retried order, already counted or dropped
)

func (o Outcome) String() string {
	return [...]string{"", "counted", "duplicate", "deferred", "dropped", "settled"}[o]
}

// Apply folds one order-details record into a customer's state and says what
// it did. It counts every order exactly once however often order-details
// records are redelivered, as long as each orders-details run writes a
// customer's first-attempt records in order (one producer, one partition:
// Kafka keeps that order).
//
// The identity of an order is its position in the orders topic (source
// partition and offset), which replays of orders-details reproduce. The
// first attempt at joining an order (attempt 0) writes JOINED, RETRYING or
// DEAD_LETTERED, in orders-topic order; a retried order writes JOINED or
// DEAD_LETTERED later, out of that order. So the state keeps:
//   - per source partition, the watermark: the highest first-attempt offset
//     seen. A first-attempt record at or below it is a replay.
//   - the open orders: retries in flight (PENDING), and retry results that
//     arrived before their first-attempt record (COUNTED, DROPPED, possible
//     only after a crash). An order leaves the set once both of its records
//     were seen, so the set stays as small as the retries in flight.
func Apply(s *avro.CustomerTotalState, d *avro.OrderDetails) Outcome {
	p, o := d.SourcePartition, d.SourceOffset
	i := slices.IndexFunc(s.Open, func(e avro.OpenOrder) bool { return e.Partition == p && e.Offset == o })
	firstAttempt := d.Attempt == 0

	if i >= 0 {
		open := &s.Open[i]
		switch open.State {
		case avro.OpenOrderStatePending: // a retry is in flight; this may be its result
			switch d.Status {
			case avro.OrderDetailsStatusJoined:
				s.Open = slices.Delete(s.Open, i, i+1)
				count(s, d)
				return Counted
			case avro.OrderDetailsStatusDeadLettered:
				s.Open = slices.Delete(s.Open, i, i+1)
				return Dropped
			default:
				return Duplicate // the RETRYING marker again
			}
		case avro.OpenOrderStateCounted, avro.OpenOrderStateDropped: // the retry result came first
			if !firstAttempt {
				return Duplicate
			}
			counted := open.State == avro.OpenOrderStateCounted
			raise(s, p, o)
			switch {
			case d.Status == avro.OrderDetailsStatusRetrying && !counted:
				// Dropped before, retried again by this first attempt: wait for it.
				open.State = avro.OpenOrderStatePending
				return Deferred
			case d.Status == avro.OrderDetailsStatusJoined && !counted:
				s.Open = slices.Delete(s.Open, i, i+1)
				count(s, d)
				return Counted
			default:
				s.Open = slices.Delete(s.Open, i, i+1)
				return Settled
			}
		}
	}

	if o <= watermark(s, p) {
		if firstAttempt {
			return Duplicate
		}
		return Settled // the retry of an order already settled
	}
	if !firstAttempt {
		// A retry result before its first-attempt record: keep it open.
		if d.Status == avro.OrderDetailsStatusJoined {
			count(s, d)
			s.Open = append(s.Open, avro.OpenOrder{Partition: p, Offset: o, State: avro.OpenOrderStateCounted})
			return Counted
		}
		s.Open = append(s.Open, avro.OpenOrder{Partition: p, Offset: o, State: avro.OpenOrderStateDropped})
		return Dropped
	}
	raise(s, p, o)
	switch d.Status {
	case avro.OrderDetailsStatusJoined:
		count(s, d)
		return Counted
	case avro.OrderDetailsStatusRetrying:
		s.Open = append(s.Open, avro.OpenOrder{Partition: p, Offset: o, State: avro.OpenOrderStatePending})
		return Deferred
	default:
		return Dropped
	}
}

func watermark(s *avro.CustomerTotalState, p int32) int64 {
	for _, w := range s.Watermarks {
		if w.Partition == p {
			return w.Offset
		}
	}
	return -1
}

func raise(s *avro.CustomerTotalState, p int32, o int64) {
	for i := range s.Watermarks {
		if s.Watermarks[i].Partition == p {
			s.Watermarks[i].Offset = max(s.Watermarks[i].Offset, o)
			return
		}
	}
	s.Watermarks = append(s.Watermarks, avro.SourceWatermark{Partition: p, Offset: o})
}

func count(s *avro.CustomerTotalState, d *avro.OrderDetails) {
	s.OrderCount++
	if s.TotalAmount == nil {
		s.TotalAmount = new(big.Rat)
	}
	s.TotalAmount = new(big.Rat).Add(s.TotalAmount, d.LineTotal)
	if d.CustomerFirstName != nil && d.CustomerLastName != nil {
		s.CustomerName = *d.CustomerFirstName + " " + *d.CustomerLastName
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
