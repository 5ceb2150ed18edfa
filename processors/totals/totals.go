// Package totals is the orders-totals-by-customer processor: a running total
// per customer, kept in the group's table and published for the MongoDB sink.
//
//	order-details ──► orders-totals-by-customer ──► customer-totals            CustomerTotal per customer (compacted)
//	                    │ Persist: orders-totals-by-customer-table            CustomerTotalState (total + dedup bookkeeping)
//	                    └──► orders-totals-by-customer-dlq                     undecodable or invalid records
//
// Goka delivers at least once: after a crash, order-details records are
// delivered again, and orders-details itself may write an order's record
// twice. The state therefore carries, in the same value as the total, what
// it takes to recognise a record already counted (see Apply): one write
// updates both, so no crash can separate them.
//
// customer-totals is a separate topic rather than the group table so that
// the sink sees the clean CustomerTotal, not the bookkeeping. After a
// redelivered record the current total is written again (to the table and to
// customer-totals): a write lost in the crash is repaired, and a repeated
// snapshot is harmless to an upserting sink.
package totals

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/callback"
	"github.com/orderstream/pipeline/kit/deadletter"
)

// DefaultGroup is the Goka group (Kafka consumer group); its table topic is
// <group>-table, orders-totals-by-customer-table by default.
const DefaultGroup goka.Group = "orders-totals-by-customer"

// Topics names the topics of the processor.
type Topics struct {
	Details    goka.Stream
	Totals     goka.Stream
	DeadLetter goka.Stream
}

// DefaultTopics are the topic names used unless configured otherwise.
var DefaultTopics = Topics{
	Details:    "order-details",
	Totals:     "customer-totals",
	DeadLetter: "orders-totals-by-customer-dlq",
}

// Codecs are the value codecs of the processor's topics.
type Codecs struct {
	Details *codecs.Avro[avro.OrderDetails]
	State   *codecs.Avro[avro.CustomerTotalState]
	Total   *codecs.Avro[avro.CustomerTotal]
}

// NewCodecs registers the schemas of the processor's topics.
func NewCodecs(ctx context.Context, reg *codecs.Registry, group goka.Group, t Topics) (*Codecs, error) {
	var c Codecs
	var err error
	if c.Details, err = codecs.NewAvro[avro.OrderDetails](ctx, reg, codecs.ValueSubject(string(t.Details)), avro.OrderDetailsSchema); err != nil {
		return nil, err
	}
	if c.State, err = codecs.NewAvro[avro.CustomerTotalState](ctx, reg, codecs.ValueSubject(string(goka.GroupTable(group))), avro.CustomerTotalStateSchema); err != nil {
		return nil, err
	}
	if c.Total, err = codecs.NewAvro[avro.CustomerTotal](ctx, reg, codecs.ValueSubject(string(t.Totals)), avro.CustomerTotalSchema); err != nil {
		return nil, err
	}
	return &c, nil
}

// stateMemo is how many customers' states stay decoded between two of
// their orders (each a few hundred bytes).
const stateMemo = 50_000

// Aggregator holds the processor's callback.
type Aggregator struct {
	group  goka.Group
	topics Topics
	codecs *Codecs
	log    *slog.Logger
	now    func() time.Time
}

// New returns an Aggregator for group (DefaultGroup when empty).
func New(group goka.Group, t Topics, c *Codecs, log *slog.Logger) *Aggregator {
	if log == nil {
		log = slog.Default()
	}
	if group == "" {
		group = DefaultGroup
	}
	return &Aggregator{group: group, topics: t, codecs: c, log: log.With("group", string(group)), now: time.Now}
}

// Graph is the topology of the orders-totals-by-customer group.
func (a *Aggregator) Graph() *goka.GroupGraph {
	return goka.DefineGroup(a.group,
		goka.Input(a.topics.Details, codecs.NewLenient(a.codecs.Details), a.onDetails),
		// The state a callback wrote is handed back to the next callback
		// for its key without decoding it again (codecs.Owned).
		goka.Persist(codecs.NewOwned(a.codecs.State, stateMemo)),
		goka.Output(a.topics.Totals, codecs.NewLenient(a.codecs.Total)),
		goka.Output(a.topics.DeadLetter, new(codec.Bytes)),
	)
}

// lenientDetails decodes an order-details value as the Graph's input codec
// hands it to onDetails.
func (a *Aggregator) lenientDetails(raw []byte) any {
	v, _ := codecs.NewLenient(a.codecs.Details).Decode(raw)
	return v
}

func (a *Aggregator) onDetails(ctx goka.Context, msg any) {
	if msg == nil {
		a.deadLetter(ctx, nil, deadletter.StageDecode, codecs.ErrNilValue)
		return
	}
	in := msg.(codecs.Decoded[avro.OrderDetails])
	if in.Err != nil {
		if !codecs.IsBadRecord(in.Err) {
			callback.Stop(ctx, in.Err) // the registry is down: not the record's fault
			return
		}
		a.deadLetter(ctx, in.Raw, deadletter.StageDecode, in.Err)
		return
	}
	d := in.Value
	if err := validate(ctx.Key(), d); err != nil {
		a.deadLetter(ctx, in.Raw, deadletter.StageValidate, err)
		return
	}

	state := NewState(d.CustomerID)
	if v := ctx.Value(); v != nil {
		stored := v.(codecs.Decoded[avro.CustomerTotalState])
		if stored.Err != nil {
			// Never count without the state, and never dead-letter the
			// order for it: the state is ours, so an unreadable one is a
			// configuration fault (or the registry is down).
			callback.Stop(ctx, unreadableState(a.group, d.CustomerID, stored.Err))
			return
		}
		state = stored.Value
	}

	outcome := Apply(state, d)
	records.WithLabelValues(outcome.String()).Inc()
	now := a.now()
	state.UpdatedAt = now.UTC().Truncate(time.Millisecond)
	ctx.SetValue(state)
	if state.OrderCount > 0 {
		ctx.Emit(a.topics.Totals, ctx.Key(), Total(state, now))
	}
	if outcome == Counted {
		latency.Observe(now.Sub(d.CreatedAt).Seconds())
	}
}

// unreadableState explains a stored state that does not decode.
func unreadableState(group goka.Group, customer int64, err error) error {
	if !codecs.IsBadRecord(err) {
		return fmt.Errorf("reading the stored total of customer %d: %w", customer, err)
	}
	return fmt.Errorf("the stored total of customer %d in %s cannot be read (%w): the schema registry does not know or "+
		"cannot resolve the schema it was written with. Was the registry reset (schema ids handed out again), or does "+
		"--schema.registry.url name another registry than the one the state was written with? Point it at that registry "+
		"(or restore it); the processor stops rather than count this customer's orders without its state",
		customer, goka.GroupTable(group), err)
}

func validate(key string, d *avro.OrderDetails) error {
	if want := codecs.Key(d.CustomerID); key != want {
		return fmt.Errorf("order-details record of order %s is keyed %q but belongs to customer %d", d.OrderID, key, d.CustomerID)
	}
	if d.Status == avro.OrderDetailsStatusJoined && d.LineTotal == nil {
		return fmt.Errorf("joined order %s has no line total", d.OrderID)
	}
	if d.SourceOffset < 0 || d.SourcePartition < 0 || d.Attempt < 0 {
		return fmt.Errorf("order %s: source position %d/%d attempt %d is not valid", d.OrderID, d.SourcePartition, d.SourceOffset, d.Attempt)
	}
	return nil
}

func (a *Aggregator) deadLetter(ctx goka.Context, raw []byte, stage string, err error) {
	a.log.Warn("dead-lettering record", "topic", string(ctx.Topic()), "partition", ctx.Partition(), "offset", ctx.Offset(),
		"key", ctx.Key(), "stage", stage, "err", err, "dlq", string(a.topics.DeadLetter))
	ctx.Emit(a.topics.DeadLetter, ctx.Key(), raw, goka.WithCtxEmitHeaders(deadletter.Record{
		Service: string(a.group), Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(),
		Stage: stage, Err: err,
	}.Headers()))
	deadLettered.WithLabelValues(stage).Inc()
}
