// Package details is the orders-details processor: it joins each order with
// its customer and product, read from the customers and products tables,
// and writes OrderDetails to order-details. The tables are lookup tables:
// every instance holds every partition, the analogue of a Kafka Streams
// GlobalKTable. They are Goka views of the process (NewViews), one copy of
// each table shared by the join, its retries, and whatever else in the
// process reads them (Goka's own Lookup edges would give each group a copy
// of its own), recovered before the processors start.
//
//	orders ──► orders-details ──► order-details         JOINED, or RETRYING / DEAD_LETTERED markers
//	             │  looks up customers, products (Tables)
//	             ├──► orders-details-retry ──► orders-details-retry (group): waits, joins again
//	             └──► orders-details-dlq     undecodable or invalid orders, orders never joined
//
// An order whose customer or product is not in the tables yet (CDC lag) is
// never dropped: it goes to the retry topic and is joined again after
// RetryDelay, up to MaxRetries times, then dead-lettered with the reason.
// Every order leaves exactly one record on order-details from its first
// attempt (JOINED, RETRYING or DEAD_LETTERED) in per-customer order, and a
// retried order a second one (JOINED or DEAD_LETTERED) later: that is what
// lets orders-totals-by-customer count each order once (see package totals).
package details

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/callback"
	"github.com/orderstream/pipeline/kit/deadletter"
)

// DefaultGroup is the Goka group (Kafka consumer group) of the join. Its
// retries run in the group DefaultGroup + "-retry".
const DefaultGroup goka.Group = "orders-details"

// Topics names the topics of the processor.
type Topics struct {
	Orders     goka.Stream
	Customers  goka.Table
	Products   goka.Table
	Details    goka.Stream
	Retry      goka.Stream
	DeadLetter goka.Stream
}

// DefaultTopics are the topic names used unless configured otherwise.
var DefaultTopics = Topics{
	Orders:     "orders",
	Customers:  "customers",
	Products:   "products",
	Details:    "order-details",
	Retry:      "orders-details-retry",
	DeadLetter: "orders-details-dlq",
}

// Options configure the join.
type Options struct {
	Group      goka.Group // default DefaultGroup
	Topics     Topics
	MaxRetries int           // join attempts after the first before an order is dead-lettered
	RetryDelay time.Duration // wait before each retry
	// Epoch says which orders topic the offsets of the orders it reads
	// belong to: 0 for the first, one more for each recreated orders topic
	// accepted (see the lineage of services/details.go). It becomes part of
	// every order's identity (OrderDetails.source_epoch).
	Epoch  int32
	Logger *slog.Logger
}

// Codecs are the value codecs of the processor's topics.
type Codecs struct {
	Order    *codecs.Avro[avro.Order]
	Customer *codecs.Avro[avro.Customer]
	Product  *codecs.Avro[avro.Product]
	Details  *codecs.Avro[avro.OrderDetails]
}

// NewCodecs registers the schemas of the processor's topics.
func NewCodecs(ctx context.Context, reg *codecs.Registry, t Topics) (*Codecs, error) {
	var c Codecs
	var err error
	if c.Order, err = codecs.NewAvro[avro.Order](ctx, reg, codecs.ValueSubject(string(t.Orders)), avro.OrderSchema); err != nil {
		return nil, err
	}
	if c.Customer, err = codecs.NewAvro[avro.Customer](ctx, reg, codecs.ValueSubject(string(t.Customers)), avro.CustomerSchema); err != nil {
		return nil, err
	}
	if c.Product, err = codecs.NewAvro[avro.Product](ctx, reg, codecs.ValueSubject(string(t.Products)), avro.ProductSchema); err != nil {
		return nil, err
	}
	if c.Details, err = codecs.NewAvro[avro.OrderDetails](ctx, reg, codecs.ValueSubject(string(t.Details)), avro.OrderDetailsSchema); err != nil {
		return nil, err
	}
	// The retry topic carries RETRYING OrderDetails records.
	if _, err = reg.Register(ctx, codecs.ValueSubject(string(t.Retry)), avro.OrderDetailsSchema); err != nil {
		return nil, err
	}
	return &c, nil
}

// Tables are the lookup tables of the join: rows by key, from every
// partition, as they are now. Values are what the tables' Lenient codecs
// decode (codecs.Decoded), nil for a missing row; an error means the
// table cannot be read now (not recovered, stopped).
type Tables interface {
	Get(table goka.Table, key string) (any, error)
}

// Views are Tables as Goka views (see NewViews).
type Views map[goka.Table]*goka.View

// Get reads key from table's view.
func (v Views) Get(table goka.Table, key string) (any, error) {
	view := v[table]
	if view == nil {
		return nil, fmt.Errorf("no view of table %s", table)
	}
	return view.Get(key)
}

// NewViews returns the views of the customers and products tables (not
// running yet: run them, and start the processors once they are
// recovered). Their codecs never fail (an unreadable row reaches the join
// as a decoding error) and decode each version of a row once, handing the
// same value to every reader (codecs.Shared): the values are read only.
func NewViews(brokers []string, t Topics, c *Codecs, opts ...goka.ViewOption) (Views, error) {
	views := Views{}
	for table, codec := range map[goka.Table]goka.Codec{
		t.Customers: codecs.NewShared(c.Customer, rowMemo),
		t.Products:  codecs.NewShared(c.Product, rowMemo),
	} {
		v, err := goka.NewView(brokers, table, codec, opts...)
		if err != nil {
			return nil, fmt.Errorf("view of table %s: %w", table, err)
		}
		views[table] = v
	}
	return views, nil
}

// rowMemo is how many decoded rows each table keeps (codecs.Shared): the
// hot customers and products of a shop, a few hundred bytes each.
const rowMemo = 10_000

// Joiner holds the two processors' callbacks.
type Joiner struct {
	opts   Options
	codecs *Codecs
	tables Tables
	log    *slog.Logger
	wait   func(ctx context.Context, until time.Time) bool // false: ctx ended first
}

// New returns a Joiner reading rows from tables.
func New(opts Options, c *Codecs, tables Tables) *Joiner {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Group == "" {
		opts.Group = DefaultGroup
	}
	return &Joiner{opts: opts, codecs: c, tables: tables, log: opts.Logger.With("group", string(opts.Group)), wait: waitUntil}
}

func waitUntil(ctx context.Context, until time.Time) bool {
	d := time.Until(until)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Graph is the topology of the orders-details group. Avro topics use
// Lenient codecs on every edge: an undecodable record reaches the callback
// (and the dead-letter topic) instead of stopping the processor, and a topic
// that is both input and output has one codec.
func (j *Joiner) Graph() *goka.GroupGraph {
	t := j.opts.Topics
	return goka.DefineGroup(j.opts.Group,
		goka.Input(t.Orders, codecs.NewLenient(j.codecs.Order), j.onOrder),
		goka.Output(t.Details, codecs.NewLenient(j.codecs.Details)),
		goka.Output(t.Retry, codecs.NewLenient(j.codecs.Details)),
		goka.Output(t.DeadLetter, new(codec.Bytes)),
	)
}

// RetryGraph is the topology of the orders-details-retry group.
func (j *Joiner) RetryGraph() *goka.GroupGraph {
	t := j.opts.Topics
	return goka.DefineGroup(j.retryGroup(),
		goka.Input(t.Retry, codecs.NewLenient(j.codecs.Details), j.onRetry),
		goka.Output(t.Details, codecs.NewLenient(j.codecs.Details)),
		goka.Output(t.Retry, codecs.NewLenient(j.codecs.Details)),
		goka.Output(t.DeadLetter, new(codec.Bytes)),
	)
}

func (j *Joiner) retryGroup() goka.Group { return j.opts.Group + "-retry" }

// source is an order's position in the orders topic: its identity.
type source struct {
	epoch     int32
	partition int32
	offset    int64
}

func (j *Joiner) onOrder(ctx goka.Context, msg any) {
	src := source{j.opts.Epoch, ctx.Partition(), ctx.Offset()}
	in, ok := decoded[avro.Order](ctx, msg)
	if !ok {
		j.badOrder(ctx, nil, src, deadletter.StageDecode, codecs.ErrNilValue)
		return
	}
	if in.Err != nil {
		if !codecs.IsBadRecord(in.Err) {
			callback.Stop(ctx, in.Err) // the registry is down: not the order's fault
			return
		}
		j.badOrder(ctx, in.Raw, src, deadletter.StageDecode, in.Err)
		return
	}
	line, err := validate(ctx.Key(), in.Value)
	if err != nil {
		j.badOrder(ctx, in.Raw, src, deadletter.StageValidate, err)
		return
	}
	j.join(ctx, in.Value, line, src, 0)
}

// badOrder dead-letters an order that cannot be joined as it is, and
// writes its first-attempt record (DEAD_LETTERED, under the record's key)
// to order-details: so the totals know the order as not counted, and count
// it if the dead-letter replay sends it again once it can be read. Without
// a customer id in the key there is no customer to write it for.
func (j *Joiner) badOrder(ctx goka.Context, raw []byte, src source, stage string, err error) {
	if id, kerr := codecs.ParseKey(ctx.Key()); kerr == nil {
		reason := fmt.Sprintf("dead-lettered (%s): %v", stage, err)
		ctx.Emit(j.opts.Topics.Details, ctx.Key(), &avro.OrderDetails{
			OrderID: unknownOrderID, CustomerID: id, UnitPrice: new(big.Rat), LineTotal: new(big.Rat), CreatedAt: ctx.Timestamp().UTC().Truncate(time.Millisecond),
			Status: avro.OrderDetailsStatusDeadLettered, Reason: &reason,
			SourceEpoch: src.epoch, SourcePartition: src.partition, SourceOffset: src.offset,
		})
	}
	j.deadLetter(ctx, raw, stage, err)
}

// unknownOrderID stands for the id of an order that could not be read.
const unknownOrderID = "00000000-0000-0000-0000-000000000000"

// RetryDueHeader carries when a retry record is due (Unix milliseconds).
const RetryDueHeader = "orderstream.retry.due"

func (j *Joiner) onRetry(ctx goka.Context, msg any) {
	in, ok := decoded[avro.OrderDetails](ctx, msg)
	if !ok {
		j.deadLetter(ctx, nil, deadletter.StageDecode, codecs.ErrNilValue)
		return
	}
	if in.Err != nil {
		j.badInput(ctx, in.Raw, in.Err)
		return
	}
	d := in.Value
	due := ctx.Timestamp().Add(j.opts.RetryDelay)
	if ms, err := strconv.ParseInt(string(ctx.Headers()[RetryDueHeader]), 10, 64); err == nil {
		due = time.UnixMilli(ms)
	}
	// Records reach the retry topic in due order, so waiting for the head
	// of the partition delays nothing that is due earlier.
	if !j.wait(ctx.Context(), due) {
		// Shutting down or losing the partition: put the record back
		// unchanged rather than commit it unprocessed.
		ctx.Emit(j.opts.Topics.Retry, ctx.Key(), codecs.Raw(in.Raw), goka.WithCtxEmitHeaders(dueHeader(due)))
		return
	}
	order := &avro.Order{OrderID: d.OrderID, CustomerID: d.CustomerID, ProductID: d.ProductID,
		Quantity: d.Quantity, UnitPrice: d.UnitPrice, CreatedAt: d.CreatedAt}
	line, err := validate(ctx.Key(), order)
	if err != nil {
		// Only a record put here by hand (or the dead-letter replay) can
		// fail this: orders-details validated it before its first retry.
		j.deadLetter(ctx, in.Raw, deadletter.StageValidate, err)
		return
	}
	j.join(ctx, order, line, source{d.SourceEpoch, d.SourcePartition, d.SourceOffset}, d.Attempt)
}

func dueHeader(t time.Time) goka.Headers {
	return goka.Headers{RetryDueHeader: []byte(strconv.FormatInt(t.UnixMilli(), 10))}
}

// join emits the outcome of one join attempt for order, whose line total
// is line.
func (j *Joiner) join(ctx goka.Context, o *avro.Order, line *big.Rat, src source, attempt int32) {
	t := j.opts.Topics
	key := codecs.Key(o.CustomerID)
	d := &avro.OrderDetails{
		OrderID: o.OrderID, CustomerID: o.CustomerID, ProductID: o.ProductID, Quantity: o.Quantity,
		UnitPrice: o.UnitPrice, LineTotal: line, CreatedAt: o.CreatedAt,
		SourceEpoch: src.epoch, SourcePartition: src.partition, SourceOffset: src.offset, Attempt: attempt,
	}
	cust, prod, reason, err := j.lookup(ctx, o)
	if err != nil {
		callback.Stop(ctx, err)
		return
	}
	switch {
	case reason == "":
		d.Status = avro.OrderDetailsStatusJoined
		d.CustomerFirstName, d.CustomerLastName, d.CustomerEmail = &cust.FirstName, &cust.LastName, &cust.Email
		d.ProductName, d.ProductCategory = &prod.Name, &prod.Category
		ctx.Emit(t.Details, key, d)
		ordersJoined.Inc()
		if attempt > 0 {
			ordersJoinedAfterRetry.Inc()
		}
	case int(attempt) < j.opts.MaxRetries:
		d.Status, d.Reason = avro.OrderDetailsStatusRetrying, &reason
		if attempt == 0 {
			ctx.Emit(t.Details, key, d) // the in-order marker, see the package doc
		}
		next := *d
		next.Attempt = attempt + 1
		ctx.Emit(t.Retry, key, &next, goka.WithCtxEmitHeaders(dueHeader(time.Now().Add(j.opts.RetryDelay))))
		ordersRetried.Inc()
		j.log.Debug("order not joinable yet; will retry", "order_id", o.OrderID, "attempt", attempt+1, "reason", reason)
	default:
		d.Status, d.Reason = avro.OrderDetailsStatusDeadLettered, &reason
		ctx.Emit(t.Details, key, d)
		raw, err := j.codecs.Order.Encode(o)
		if err != nil {
			callback.Stop(ctx, fmt.Errorf("re-encoding order %s for the dead-letter topic: %w", o.OrderID, err))
			return
		}
		j.emitDeadLetter(ctx, raw, deadletter.Record{
			Service: string(ctx.Group()), Topic: string(t.Orders), Partition: src.partition, Offset: src.offset,
			Stage: deadletter.StageJoin, Err: fmt.Errorf("not joined after %d attempts: %s", attempt+1, reason),
		}, src.epoch)
	}
}

// lookup finds the order's customer and product, or says why it cannot
// (reason: the order is retried, then dead-lettered). An error is not the
// order's fault: the processor stops.
func (j *Joiner) lookup(ctx goka.Context, o *avro.Order) (*avro.Customer, *avro.Product, string, error) {
	cust, reason, err := lookupRow[avro.Customer](j.tables, j.opts.Topics.Customers, o.CustomerID, "customer")
	if reason != "" || err != nil {
		return nil, nil, reason, err
	}
	prod, reason, err := lookupRow[avro.Product](j.tables, j.opts.Topics.Products, o.ProductID, "product")
	if reason != "" || err != nil {
		return nil, nil, reason, err
	}
	return cust, prod, "", nil
}

// lookupRow reads row id of table. A missing row, or one whose bytes do not
// decode with the schema its id names (a corrupt row), is a reason to
// retry. A row whose schema the registry does not know or cannot resolve
// onto ours is a configuration fault (the registry was reset, or another
// registry is configured) and an unreachable registry a transient one:
// both stop the processor, and no order is dead-lettered for them.
func lookupRow[T any](tables Tables, table goka.Table, id int64, what string) (*T, string, error) {
	v, err := tables.Get(table, codecs.Key(id))
	if err != nil {
		return nil, "", fmt.Errorf("reading %s %d from table %s: %w", what, id, table, err)
	}
	if v == nil {
		return nil, fmt.Sprintf("%s %d not found in table %s", what, id, table), nil
	}
	row := v.(codecs.Decoded[T])
	switch {
	case row.Err == nil:
		return row.Value, "", nil
	case !codecs.IsBadRecord(row.Err):
		return nil, "", fmt.Errorf("reading %s %d from table %s: %w", what, id, table, row.Err)
	case errors.Is(row.Err, codecs.ErrUnknownSchemaID) || errors.Is(row.Err, codecs.ErrIncompatibleSchema):
		return nil, "", fmt.Errorf("the row of %s %d in table %s cannot be read (%w): the schema registry does not know or "+
			"cannot resolve the schema it was written with. Was the registry reset (schema ids handed out again), or does "+
			"--schema.registry.url name another registry than the one the CDC source writes with? The processor stops "+
			"rather than dead-letter orders for it", what, id, table, row.Err)
	default:
		return nil, fmt.Sprintf("%s %d: the row in table %s cannot be read (key %q, corrupt bytes): %v", what, id, table, codecs.Key(id), row.Err), nil
	}
}

// decoded unpacks a Lenient codec's value; false for a null value.
func decoded[T any](ctx goka.Context, msg any) (codecs.Decoded[T], bool) {
	if msg == nil {
		return codecs.Decoded[T]{}, false
	}
	return msg.(codecs.Decoded[T]), true
}

// badInput dead-letters an undecodable record, or stops the processor (to be
// restarted) when the failure is transient, e.g. the registry is down.
func (j *Joiner) badInput(ctx goka.Context, raw []byte, err error) {
	if !codecs.IsBadRecord(err) {
		callback.Stop(ctx, err)
		return
	}
	j.deadLetter(ctx, raw, deadletter.StageDecode, err)
}

func (j *Joiner) deadLetter(ctx goka.Context, raw []byte, stage string, err error) {
	j.emitDeadLetter(ctx, raw, deadletter.Record{
		Service: string(ctx.Group()), Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(),
		Stage: stage, Err: err,
	}, j.opts.Epoch)
}

// emitDeadLetter writes raw to the dead-letter topic with Kafka Connect's
// headers for r, and the epoch of the orders topic r names (Replay needs it
// for the order's identity).
func (j *Joiner) emitDeadLetter(ctx goka.Context, raw []byte, r deadletter.Record, epoch int32) {
	j.log.Warn("dead-lettering record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset,
		"key", ctx.Key(), "stage", r.Stage, "err", r.Err, "dlq", string(j.opts.Topics.DeadLetter))
	h := r.Headers()
	h[EpochHeader] = []byte(strconv.FormatInt(int64(epoch), 10))
	ctx.Emit(j.opts.Topics.DeadLetter, ctx.Key(), raw, goka.WithCtxEmitHeaders(h))
	deadLettered.WithLabelValues(r.Stage).Inc()
}

// maxLineTotal is the first value decimal(12,2) cannot hold.
var maxLineTotal = big.NewRat(1e10, 1)

// maxLineCents is maxLineTotal in cents.
const maxLineCents = 1e12

// validate checks what the schema cannot: an order keyed by its customer
// (per-customer order and co-partitioning depend on it) with a sane
// amount. It returns the order's line total, quantity * unit price.
func validate(key string, o *avro.Order) (*big.Rat, error) {
	if want := codecs.Key(o.CustomerID); key != want {
		return nil, fmt.Errorf("order %s is keyed %q but belongs to customer %d: orders must be keyed by customer id", o.OrderID, key, o.CustomerID)
	}
	if o.Quantity <= 0 {
		return nil, fmt.Errorf("order %s: quantity %d is not positive", o.OrderID, o.Quantity)
	}
	if o.UnitPrice == nil || o.UnitPrice.Sign() < 0 {
		return nil, fmt.Errorf("order %s: unit price %v is missing or negative", o.OrderID, o.UnitPrice)
	}
	line := lineTotal(o)
	if line.Cmp(maxLineTotal) >= 0 {
		return nil, fmt.Errorf("order %s: line total %s does not fit decimal(12,2)", o.OrderID, line.FloatString(2))
	}
	return line, nil
}

// lineTotal is quantity * unit price: in cents when the price is a whole
// number of cents (every price of a decimal(10,2) column), exactly either
// way.
func lineTotal(o *avro.Order) *big.Rat {
	if o.UnitPrice == nil {
		return new(big.Rat)
	}
	if cents, ok := codecs.Unscaled(o.UnitPrice, 2); ok && cents >= 0 && cents < maxLineCents {
		if line := cents * int64(o.Quantity); line/int64(o.Quantity) == cents {
			return codecs.Scaled(line, 2)
		}
	}
	return new(big.Rat).Mul(o.UnitPrice, big.NewRat(int64(o.Quantity), 1))
}
