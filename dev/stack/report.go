package stack

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/producer"
)

// counters collects what the components report directly.
type counters struct {
	mu       sync.Mutex
	finished bool
	acked    int64
}

func newCounters() *counters { return &counters{} }

func (c *counters) producerDone(s producer.Stats, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finished, c.acked = true, s.Acked
}

// state is one reading of the pipeline. Two kinds of counters: what this
// process did since it started (run), and what Kafka and MongoDB hold,
// written by every run on this data dir.
type state struct {
	run         processCounts // since this process started
	orders      int64         // records on the orders topic (every run)
	docs        int64         // documents in MongoDB
	docOrders   int64         // sum of order_count over the MongoDB documents
	lag         int64         // records the consumer groups have not read yet
	deadLetters int64         // records on the dead-letter topics (every run)
	joinDLQ     int64         // orders dead-lettered by orders-details
	produced    bool          // the producer finished (bounded runs)
	totals      []docTotal
}

// processCounts are counters of this process's metrics.
type processCounts struct {
	produced, joined, counted float64
}

func readProcessCounts() processCounts {
	return processCounts{
		produced: metric("orderstream_producer_orders_acked_total", ""),
		joined:   metric("orderstream_details_orders_joined_total", ""),
		counted:  metric("orderstream_totals_records_total", "counted"),
	}
}

func (p processCounts) minus(q processCounts) processCounts {
	return processCounts{p.produced - q.produced, p.joined - q.joined, p.counted - q.counted}
}

// done: every order is in MongoDB (or dead-lettered) and nothing is left
// to consume.
func (s state) done(want int64) bool {
	return s.produced && s.lag == 0 && s.docOrders+s.joinDLQ == s.orders && s.orders >= want
}

type docTotal struct {
	ID     string `bson:"_id"`
	Name   string `bson:"customer_name"`
	Orders int64  `bson:"order_count"`
	Amount string `bson:"total_amount"`
}

type reporter struct {
	o       Options
	cl      *kgo.Client
	adm     *kadm.Client
	mongo   *mongo.Client
	stack   stack
	counts  *counters
	log     *slog.Logger
	last    state
	lastAt  time.Time
	started time.Time
	first   int64         // orders on the topic when the run started
	base    processCounts // the process's counters when the run started (tests run several)
}

func newReporter(o Options, cl *kgo.Client, mongoURI string, s stack, counts *counters, log *slog.Logger) *reporter {
	m, _ := mongo.Connect(options.Client().ApplyURI(mongoURI))
	r := &reporter{o: o, cl: cl, adm: kadm.NewClient(cl), mongo: m, stack: s, counts: counts, log: log, started: time.Now(), lastAt: time.Now(),
		base: readProcessCounts()}
	r.first = r.endOffsets(context.Background(), string(s.producer.Topic))
	r.last.orders = r.first
	return r
}

func (r *reporter) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.mongo.Disconnect(ctx)
}

func (r *reporter) endOffsets(ctx context.Context, topics ...string) int64 {
	ends, err := r.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return 0
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

// read takes a reading of the pipeline.
func (r *reporter) read(ctx context.Context) state {
	var s state
	s.run = readProcessCounts().minus(r.base)
	s.orders = r.endOffsets(ctx, string(r.stack.producer.Topic))
	s.deadLetters = r.endOffsets(ctx, r.stack.deadLetterTopics()...)
	s.joinDLQ = r.endOffsets(ctx, string(r.stack.details.Topics.DeadLetter))
	if lags, err := r.adm.Lag(ctx, r.stack.groups()...); err == nil {
		for _, l := range lags {
			s.lag += l.Lag.Total()
		}
	} else {
		s.lag = -1
	}
	coll := r.mongo.Database(r.stack.sink.Database).Collection(r.stack.sink.Collection)
	if cur, err := coll.Find(ctx, bson.D{}); err == nil {
		_ = cur.All(ctx, &s.totals)
	}
	s.docs = int64(len(s.totals))
	for _, t := range s.totals {
		s.docOrders += t.Orders
	}
	r.counts.mu.Lock()
	s.produced = r.counts.finished
	r.counts.mu.Unlock()
	return s
}

// legend says once what the progress line's counters are.
func (r *reporter) legend() {
	fmt.Fprintf(r.o.Out, "progress every %v. \"this run\": what this process did since it started; \"Kafka\", \"MongoDB\": what they hold (every run on %s); lag: records the consumer groups have yet to read (0: caught up)\n",
		r.o.Progress, r.o.DataDir)
}

// line prints the progress line and returns the reading.
func (r *reporter) line(ctx context.Context) state {
	s := r.read(ctx)
	el := time.Since(r.lastAt).Seconds()
	rate := (s.run.produced - r.last.run.produced) / el
	fmt.Fprintf(r.o.Out, "%s  this run: produced %.0f (%.0f/s), joined %.0f, totalled %.0f | Kafka: %d orders, %d dead letters | MongoDB: %d customers, %d orders | lag %s\n",
		time.Now().Format("15:04:05"), s.run.produced, rate, s.run.joined, s.run.counted, s.orders, s.deadLetters, s.docs, s.docOrders, lagText(s.lag))
	r.last, r.lastAt = s, time.Now()
	return s
}

// stopped prints the one line of a run stopped from outside (Ctrl-C).
func (r *reporter) stopped(ctx context.Context) {
	s := r.read(ctx)
	fmt.Fprintf(r.o.Out, "stopped after %v: this run produced %.0f orders, joined %.0f, totalled %.0f | Kafka: %d orders, %d dead letters | MongoDB: %d customers, %d orders\n",
		time.Since(r.started).Round(time.Second), s.run.produced, s.run.joined, s.run.counted, s.orders, s.deadLetters, s.docs, s.docOrders)
}

func lagText(lag int64) string {
	if lag < 0 {
		return "unknown"
	}
	return fmt.Sprint(lag)
}

// summary prints the bounded run's result.
func (r *reporter) summary(_ context.Context, start time.Time, s state) {
	el := time.Since(start)
	produced := s.orders - r.first
	fmt.Fprintf(r.o.Out, "\n%d orders produced and totalled in %v (%.0f orders/s); %d customers in MongoDB hold %d orders; %d dead-lettered\n\n",
		produced, el.Round(time.Millisecond), float64(produced)/el.Seconds(), s.docs, s.docOrders, s.deadLetters)
	top := slices.Clone(s.totals)
	amount := func(t docTotal) *big.Rat { r, _ := new(big.Rat).SetString(t.Amount); return r }
	slices.SortFunc(top, func(a, b docTotal) int {
		x, y := amount(a), amount(b)
		if x == nil || y == nil {
			return strings.Compare(a.ID, b.ID)
		}
		return y.Cmp(x)
	})
	w := tabwriter.NewWriter(r.o.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "rank\tcustomer\tname\torders\ttotal\t")
	grand := new(big.Rat)
	for _, t := range s.totals {
		if a := amount(t); a != nil {
			grand.Add(grand, a)
		}
	}
	for i, t := range top[:min(10, len(top))] {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t\n", i+1, t.ID, t.Name, t.Orders, t.Amount)
	}
	fmt.Fprintf(w, "\t\tall %d customers\t%d\t%s\t\n", len(s.totals), s.docOrders, grand.FloatString(2))
	w.Flush()
}

// metric sums a counter of this process's Prometheus registry, optionally
// only the series with outcome=label.
func metric(name, outcome string) float64 {
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if outcome != "" {
				match := false
				for _, l := range m.GetLabel() {
					match = match || (l.GetName() == "outcome" && l.GetValue() == outcome)
				}
				if !match {
					continue
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// redactDSN drops the password from a DSN for printing.
func redactDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	if cfg.Passwd != "" {
		cfg.Passwd = "xxx"
	}
	return cfg.FormatDSN()
}
