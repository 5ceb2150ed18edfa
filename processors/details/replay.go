package details

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/deadletter"
	"github.com/orderstream/pipeline/kit/topics"
)

// EpochHeader carries the epoch of the orders topic a dead-lettered order
// came from (see Options.Epoch); absent means 0.
const EpochHeader = "orderstream.source.epoch"

// ReplayOptions choose the dead-lettered orders Replay sends again.
type ReplayOptions struct {
	Topics Topics
	// From and Until bound the dead-letter records by their timestamp
	// (when they were dead-lettered); zero: no bound.
	From, Until time.Time
	// Stages are the dead-letter stages to replay: by default JOIN (the
	// customer or product stayed missing) and VALUE_CONVERTER (the order
	// could not be read, e.g. while the schema registry was misconfigured).
	// VALIDATE orders break a rule and would fail it again.
	Stages []string
	// DryRun reads and reports, and sends nothing.
	DryRun bool
}

// ReplayReport says what Replay did.
type ReplayReport struct {
	Read     int            // dead-letter records read
	Replayed int            // sent to the retry topic (or, with DryRun, would be)
	Skipped  map[string]int // by reason
}

// Replay sends dead-lettered orders back through the retry path with their
// original identity (epoch, orders partition and offset): the retry group
// joins each again (and retries it, up to the retry limit), and the totals
// count an order that joins now once, and never an order counted already,
// however often it is replayed. cl produces (acks=all, idempotent) and
// reads the dead-letter topic from its start to its end at the call.
func Replay(ctx context.Context, cl *kgo.Client, c *Codecs, o ReplayOptions) (ReplayReport, error) {
	if len(o.Stages) == 0 {
		o.Stages = []string{deadletter.StageJoin, deadletter.StageDecode}
	}
	rep := ReplayReport{Skipped: map[string]int{}}
	skip := func(why string) { rep.Skipped[why]++ }
	var out []*kgo.Record
	now := time.Now()
	err := topics.ReadToEnd(ctx, cl, string(o.Topics.DeadLetter), func(r *kgo.Record) error {
		rep.Read++
		if (!o.From.IsZero() && r.Timestamp.Before(o.From)) || (!o.Until.IsZero() && !r.Timestamp.Before(o.Until)) {
			skip("outside --replay.from/--replay.until")
			return nil
		}
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		stage := h[deadletter.HeaderStage]
		if !slices.Contains(o.Stages, stage) {
			skip("stage " + stage + " not replayed")
			return nil
		}
		d, why := retryRecord(c, o.Topics, h, r.Value)
		if why != "" {
			skip(why)
			return nil
		}
		if _, err := validate(codecs.Key(d.CustomerID), &avro.Order{OrderID: d.OrderID, CustomerID: d.CustomerID, Quantity: d.Quantity,
			UnitPrice: d.UnitPrice}); err != nil {
			skip("breaks a rule of the join")
			return nil
		}
		v, err := c.Details.Encode(d)
		if err != nil {
			return fmt.Errorf("encoding the retry record of order %s: %w", d.OrderID, err)
		}
		out = append(out, &kgo.Record{Topic: string(o.Topics.Retry), Key: []byte(codecs.Key(d.CustomerID)), Value: v,
			Headers: []kgo.RecordHeader{{Key: RetryDueHeader, Value: []byte(strconv.FormatInt(now.UnixMilli(), 10))}}})
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("reading the dead-letter topic %s: %w", o.Topics.DeadLetter, err)
	}
	rep.Replayed = len(out)
	if o.DryRun || len(out) == 0 {
		return rep, nil
	}
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return rep, fmt.Errorf("writing to the retry topic %s (replaying again is safe): %w", o.Topics.Retry, err)
	}
	return rep, nil
}

// retryRecord rebuilds the retry record of a dead-lettered order, or says
// why it cannot.
func retryRecord(c *Codecs, t Topics, h map[string]string, value []byte) (*avro.OrderDetails, string) {
	epoch, _ := strconv.ParseInt(h[EpochHeader], 10, 32)
	switch h[deadletter.HeaderTopic] {
	case string(t.Orders): // the order as read from orders (or re-encoded by the join)
		o, err := c.Order.DecodeValue(value)
		if err != nil {
			return nil, "the order still cannot be read"
		}
		p, perr := strconv.ParseInt(h[deadletter.HeaderPartition], 10, 32)
		off, oerr := strconv.ParseInt(h[deadletter.HeaderOffset], 10, 64)
		if perr != nil || oerr != nil {
			return nil, "no source partition/offset in the headers"
		}
		return &avro.OrderDetails{OrderID: o.OrderID, CustomerID: o.CustomerID, ProductID: o.ProductID, Quantity: o.Quantity,
			UnitPrice: o.UnitPrice, LineTotal: lineTotal(o), CreatedAt: o.CreatedAt, Status: avro.OrderDetailsStatusRetrying,
			SourceEpoch: int32(epoch), SourcePartition: int32(p), SourceOffset: off, Attempt: 1}, ""
	case string(t.Retry): // a retry record that could not be read: it carries the identity
		d, err := c.Details.DecodeValue(value)
		if err != nil {
			return nil, "the retry record still cannot be read"
		}
		d.Status, d.Attempt, d.Reason = avro.OrderDetailsStatusRetrying, 1, nil
		return d, ""
	default:
		return nil, "not from " + string(t.Orders) + " or " + string(t.Retry)
	}
}
