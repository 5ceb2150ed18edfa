package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A stage of the pipeline as the diagram shows it: a service and the
// metrics that make its numbers.
type stageDef struct {
	Name, Title string
	Rate        []selector // counters whose sum's rate is the stage's rate
	RateUnit    string
	Retries     []selector // counters of retries (since the service started)
	Errors      []selector // counters of failures that stop the stage's work
}

// selector picks the series of a metric, all of them or those with one
// label value.
type selector struct{ Metric, Label, Value string }

// stages are the pipeline's services, in the order of the flow.
var stages = []stageDef{
	{Name: "cdc-source", Title: "CDC source", RateUnit: "rows/s",
		Rate: []selector{{Metric: "orderstream_cdc_binlog_rows_total"}, {Metric: "orderstream_cdc_snapshot_rows_total"}}},
	{Name: "orders-producer", Title: "orders-producer", RateUnit: "orders/s",
		Rate:   []selector{{Metric: "orderstream_producer_orders_acked_total"}},
		Errors: []selector{{Metric: "orderstream_producer_produce_errors_total"}}},
	{Name: "orders-details", Title: "orders-details (join)", RateUnit: "orders/s",
		Rate:    []selector{{Metric: "orderstream_details_orders_joined_total"}},
		Retries: []selector{{Metric: "orderstream_details_orders_retried_total"}}},
	{Name: "orders-totals-by-customer", Title: "orders-totals-by-customer", RateUnit: "orders/s",
		Rate: []selector{{Metric: "orderstream_totals_records_total", Label: "outcome", Value: "counted"}}},
	{Name: "mongo-sink", Title: "MongoDB sink", RateUnit: "docs/s",
		Rate:    []selector{{Metric: "orderstream_mongo_sink_documents_upserted_total"}},
		Retries: []selector{{Metric: "orderstream_mongo_sink_write_retries_total"}}},
}

// StageNames are the services the diagram draws, in the order of the flow.
func StageNames() []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.Name
	}
	return out
}

const (
	latencyMetric = "orderstream_totals_order_to_total_seconds"
	binlogLag     = "orderstream_cdc_binlog_lag_seconds"
	// latencyWindow: the p99 at each point is over the orders totalled in
	// the window before it.
	latencyWindow = 30 * time.Second
	// rateWindow: rates are over the readings of this long before, as
	// Prometheus' rate() over a range: a service that writes in batches
	// (the sink flushes every second) would flap between 0 and twice its
	// rate between two readings.
	rateWindow  = 10 * time.Second
	totalsStage = "orders-totals-by-customer"
)

// State is what the page shows now (GET /api/state).
type State struct {
	Time     time.Time     `json:"time"`
	Interval int64         `json:"interval_ms"`
	Stages   []StageState  `json:"stages"`
	Topics   []TopicState  `json:"topics"`
	Targets  []TargetState `json:"targets"`
	Kafka    string        `json:"kafka_error,omitempty"`
	Tables   TablesState   `json:"tables"`
	Links    []Link        `json:"links"`
	P99      *float64      `json:"p99_seconds"`
	OrdersIn *float64      `json:"orders_in"`
}

// StageState is one service's numbers; nil where unknown (its service does
// not answer).
type StageState struct {
	Name        string   `json:"name"`
	Title       string   `json:"title"`
	Rate        *float64 `json:"rate"`
	RateUnit    string   `json:"rate_unit"`
	Lag         *int64   `json:"lag"`            // records its consumer groups have yet to read
	HasLag      bool     `json:"has_lag"`        // it has consumer groups
	Retries     *float64 `json:"retries"`        // since the service started
	HasRetries  bool     `json:"has_retries"`    //
	Errors      *float64 `json:"errors"`         // failures since the service started
	DeadLetters *int64   `json:"dead_letters"`   // records on its dead-letter topic
	DLQ         string   `json:"dlq"`            // that topic
	Note        string   `json:"note,omitempty"` // e.g. when the CDC source last read the binlog
	Health      Health   `json:"health"`
}

// Health is a stage's readiness, from its service's /readyz.
type Health struct {
	State  string    `json:"state"` // ready, not ready, down, unknown
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
}

// TopicState is a topic of the flow.
type TopicState struct {
	Name    string   `json:"name"`
	Records *int64   `json:"records"` // end offsets summed: records ever written (compaction and retention aside)
	Rate    *float64 `json:"rate"`    // records/s
}

// TargetState is a scraped process.
type TargetState struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// TablesState is what the dashboard has read of the compacted topics.
type TablesState struct {
	Customers int    `json:"customers"` // rows of the customers topic
	Totals    int    `json:"totals"`    // customers with a total
	Orders    int64  `json:"orders"`    // their order counts summed
	Amount    string `json:"amount"`    // their totals summed, exact
	CaughtUp  bool   `json:"caught_up"` // read to the end offsets seen at start
	Error     string `json:"error,omitempty"`
}

func (d *Dashboard) emptyState() State {
	st := State{Time: time.Now(), Interval: d.o.Interval.Milliseconds(), Links: d.o.Links}
	for _, s := range stages {
		st.Stages = append(st.Stages, StageState{Name: s.Name, Title: s.Title, RateUnit: s.RateUnit,
			HasLag: len(d.o.Groups[s.Name]) > 0, HasRetries: len(s.Retries) > 0, DLQ: d.dlq(s.Name),
			Health: Health{State: "unknown", Reason: "not scraped yet"}})
	}
	for _, t := range d.flowTopics() {
		st.Topics = append(st.Topics, TopicState{Name: t})
	}
	for _, t := range d.o.Targets {
		st.Targets = append(st.Targets, TargetState{Name: t.Name, URL: t.URL})
	}
	return st
}

func (d *Dashboard) dlq(service string) string {
	if t, ok := d.o.Topics.DeadLetters[service]; ok {
		return t
	}
	return service + "-dlq"
}

func (d *Dashboard) flowTopics() []string {
	t := d.o.Topics
	return []string{t.Customers, t.Products, t.Orders, t.OrderDetails, t.CustomerTotals}
}

// scraped is one target's answer.
type scraped struct {
	target Target
	err    error
	fams   map[string]*dto.MetricFamily
	ready  []component
}

type component struct {
	Name   string    `json:"name"`
	Ready  bool      `json:"ready"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// reading is what one collection saw, kept for the next one's rates.
type reading struct {
	at      time.Time
	rate    map[string]float64 // per stage: its rate counters summed
	present map[string]bool    // per stage: its counters were scraped
	ends    map[string]int64   // per topic
	latency histogram
}

// histogram is a cumulative Prometheus histogram: upper bound -> count.
type histogram map[float64]float64

func (d *Dashboard) collect(ctx context.Context, cl *kgo.Client) {
	now := time.Now()
	answers := d.scrapeAll(ctx)
	fams := map[string][]*dto.Metric{}
	types := map[string]dto.MetricType{}
	components := map[string]component{}
	for _, a := range answers {
		for name, f := range a.fams {
			fams[name] = append(fams[name], f.GetMetric()...)
			types[name] = f.GetType()
		}
		for _, c := range a.ready {
			components[c.Name] = c
		}
	}

	// Kafka: topic ends (the flow's and the dead-letter topics) and lag.
	kctx, cancel := context.WithTimeout(ctx, d.o.Interval)
	defer cancel()
	adm := kadm.NewClient(cl)
	topics := d.flowTopics()
	for _, s := range stages {
		topics = append(topics, d.dlq(s.Name))
	}
	ends := map[string]int64{}
	var kafkaErr error
	if listed, err := adm.ListEndOffsets(kctx, topics...); err == nil {
		listed.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				ends[o.Topic] += o.Offset
			}
		})
	} else {
		kafkaErr = err
	}
	var groups []string
	for _, g := range d.o.Groups {
		groups = append(groups, g...)
	}
	lagOf := map[string]int64{}
	if len(groups) > 0 && kafkaErr == nil {
		if lags, err := adm.Lag(kctx, groups...); err == nil {
			for g, l := range lags {
				if l.Error() == nil {
					lagOf[g] = l.Lag.Total()
				}
			}
		} else {
			kafkaErr = err
		}
	}

	cur := &reading{at: now, rate: map[string]float64{}, present: map[string]bool{}, ends: ends,
		latency: sumHistogram(fams[latencyMetric])}
	st := d.emptyState()
	st.Time = now
	if kafkaErr != nil {
		st.Kafka = kafkaErr.Error()
	}
	for i, a := range answers {
		st.Targets[i].Up = a.err == nil
		if a.err != nil {
			st.Targets[i].Error = a.err.Error()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	window := d.window(now)
	for i, s := range stages {
		ss := &st.Stages[i]
		ss.Health = d.health(s.Name, components, answers)
		up := ss.Health.State == "ready" || ss.Health.State == "not ready"
		v, ok := sum(fams, s.Rate)
		if ok || up { // a service that answers without the counter has counted nothing yet
			cur.rate[s.Name], cur.present[s.Name] = v, true
			ss.Rate = windowRate(window, cur, func(r *reading) (float64, bool) { return r.rate[s.Name], r.present[s.Name] })
		}
		if r, ok := sum(fams, s.Retries); ok || (up && len(s.Retries) > 0) {
			ss.Retries = ptr(r)
		}
		if e, ok := sum(fams, s.Errors); ok || (up && len(s.Errors) > 0) {
			ss.Errors = ptr(e)
		}
		if n, ok := ends[ss.DLQ]; ok {
			ss.DeadLetters = ptr(n)
		} else if kafkaErr == nil {
			ss.DeadLetters = ptr(int64(0)) // no such topic yet: nothing dead-lettered
		}
		if gs := d.o.Groups[s.Name]; len(gs) > 0 && kafkaErr == nil {
			var total int64
			for _, g := range gs {
				total += lagOf[g]
			}
			ss.Lag = ptr(total)
		}
	}
	if ms := fams[binlogLag]; len(ms) > 0 {
		if secs := ms[0].GetGauge().GetValue(); secs > 0 {
			st.Stages[0].Note = "binlog " + time.Duration(secs*float64(time.Second)).Round(time.Second).String() + " behind"
		}
	}
	for i, t := range st.Topics {
		if n, ok := ends[t.Name]; ok {
			st.Topics[i].Records = ptr(n)
			st.Topics[i].Rate = windowRate(window, cur, func(r *reading) (float64, bool) {
				n, ok := r.ends[t.Name]
				return float64(n), ok
			})
		} else if kafkaErr == nil {
			st.Topics[i].Records = ptr(int64(0))
		}
	}
	st.Tables = d.tables.summary()

	// The charts' point.
	p := point{T: now.UnixMilli(), Lag: map[string]*int64{}}
	for _, t := range st.Topics {
		if t.Name == d.o.Topics.Orders {
			p.In = t.Rate
		}
	}
	for _, s := range st.Stages {
		if s.Name == totalsStage {
			p.Out = s.Rate
		}
		if s.HasLag {
			p.Lag[s.Name] = s.Lag
		}
	}
	if old := d.history.latencyBefore(now.Add(-latencyWindow)); old != nil && cur.latency != nil {
		p.P99 = quantile(0.99, cur.latency, old)
	}
	d.history.add(p, cur.latency)
	st.P99, st.OrdersIn = p.P99, p.In
	d.recent, d.state = append(window, cur), st
}

// window is the readings kept for rates at now: those of the last
// rateWindow, and at least the one before now.
func (d *Dashboard) window(now time.Time) []*reading {
	from := now.Add(-rateWindow)
	i := 0
	for i < len(d.recent)-1 && d.recent[i].at.Before(from) {
		i++
	}
	d.recent = slices.Delete(d.recent, 0, i)
	return d.recent
}

// windowRate is the per-second rate of a counter over the readings of the
// window and cur, from the oldest reading that has the counter: the sum of
// its increases between consecutive readings (a counter that went down
// was restarted, and counts from zero), over the time they span. Nil
// without an earlier reading of it.
func windowRate(window []*reading, cur *reading, value func(*reading) (float64, bool)) *float64 {
	b, ok := value(cur)
	if !ok {
		return nil
	}
	var first time.Time
	var inc float64
	var last float64
	have := false
	for _, r := range window {
		v, ok := value(r)
		if !ok {
			have = false // a gap: start again after it
			inc = 0
			continue
		}
		if !have {
			first, last, have = r.at, v, true
			continue
		}
		inc += increase(last, v)
		last = v
	}
	if !have || !cur.at.After(first) {
		return nil
	}
	inc += increase(last, b)
	return ptr(inc / cur.at.Sub(first).Seconds())
}

// increase is how much a counter grew from a to b; a counter that went
// down was restarted (its service was), and counts from zero.
func increase(a, b float64) float64 {
	if b < a {
		return b
	}
	return b - a
}

// health is a stage's readiness: the /readyz entry named after it, or down
// when the process that should answer for it does not.
func (d *Dashboard) health(name string, components map[string]component, answers []scraped) Health {
	for _, a := range answers {
		if a.err != nil && a.target.Name == name {
			return Health{State: "down", Reason: a.err.Error()}
		}
	}
	if c, ok := components[name]; ok {
		if c.Ready {
			return Health{State: "ready", Since: c.Since}
		}
		return Health{State: "not ready", Reason: c.Reason, Since: c.Since}
	}
	for _, a := range answers {
		if a.err != nil && len(answers) == 1 { // the one process that runs them all
			return Health{State: "down", Reason: a.err.Error()}
		}
	}
	if len(answers) == 0 {
		return Health{State: "unknown", Reason: "no service address given"}
	}
	return Health{State: "unknown", Reason: "no /readyz names " + name}
}

func (d *Dashboard) scrapeAll(ctx context.Context) []scraped {
	out := make([]scraped, len(d.o.Targets))
	var wg sync.WaitGroup
	for i, t := range d.o.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = d.scrape(ctx, t)
		}()
	}
	wg.Wait()
	return out
}

func (d *Dashboard) scrape(ctx context.Context, t Target) scraped {
	s := scraped{target: t}
	base := strings.TrimSuffix(t.URL, "/")
	res, err := d.get(ctx, base+"/metrics")
	if err != nil {
		s.err = err
		return s
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		s.err = fmt.Errorf("%s/metrics: %s", base, res.Status)
		return s
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	if s.fams, err = p.TextToMetricFamilies(res.Body); err != nil {
		s.err = fmt.Errorf("%s/metrics: %w", base, err)
		return s
	}
	rr, err := d.get(ctx, base+"/readyz?format=json")
	if err != nil {
		s.err = err
		return s
	}
	defer rr.Body.Close()
	var ready struct {
		Components []component `json:"components"`
	}
	if err := json.NewDecoder(rr.Body).Decode(&ready); err == nil {
		s.ready = ready.Components
	}
	return s
}

func (d *Dashboard) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := d.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s does not answer: %w", url, unwrapURL(err))
	}
	return res, nil
}

// unwrapURL drops net/url's repetition of the method and URL.
func unwrapURL(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && strings.HasPrefix(err.Error(), "Get ") {
		return u.Unwrap()
	}
	return err
}

// sum adds up the selected counters (or gauges); ok is false when none of
// them was scraped.
func sum(fams map[string][]*dto.Metric, sels []selector) (float64, bool) {
	var total float64
	found := false
	for _, sel := range sels {
		for _, m := range fams[sel.Metric] {
			if sel.Label != "" && !hasLabel(m, sel.Label, sel.Value) {
				continue
			}
			found = true
			switch {
			case m.Counter != nil:
				total += m.Counter.GetValue()
			case m.Gauge != nil:
				total += m.Gauge.GetValue()
			case m.Untyped != nil:
				total += m.Untyped.GetValue()
			}
		}
	}
	return total, found
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func sumHistogram(ms []*dto.Metric) histogram {
	if len(ms) == 0 {
		return nil
	}
	h := histogram{}
	for _, m := range ms {
		hist := m.GetHistogram()
		if hist == nil {
			continue
		}
		inf := false
		for _, b := range hist.GetBucket() {
			h[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			inf = inf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !inf { // the text format's le="+Inf" bucket is the sample count
			h[math.Inf(1)] += float64(hist.GetSampleCount())
		}
	}
	return h
}

// quantile estimates the q-quantile of the observations between two
// readings of a cumulative histogram (as Prometheus's histogram_quantile:
// linear within the bucket); nil when there were none.
func quantile(q float64, now, before histogram) *float64 {
	bounds := make([]float64, 0, len(now))
	for b := range now {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	delta := func(b float64) float64 {
		d := now[b] - before[b]
		if d < 0 { // the service restarted: its counts start again
			return now[b]
		}
		return d
	}
	total := delta(math.Inf(1))
	if total <= 0 || len(bounds) < 2 {
		return nil
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		c := delta(b)
		if c >= rank {
			if math.IsInf(b, 1) {
				return ptr(lower) // beyond the last finite bucket
			}
			if c == below {
				return ptr(b)
			}
			return ptr(lower + (b-lower)*(rank-below)/(c-below))
		}
		lower, below = b, c
	}
	return ptr(lower)
}

func ptr[T any](v T) *T { return &v }

// point is one collection's values on the charts.
type point struct {
	T   int64
	In  *float64
	Out *float64
	P99 *float64
	Lag map[string]*int64
}

// history is the charts' ring buffer, and the latency histograms of the
// last latencyWindow.
type history struct {
	points []point
	hists  []timedHist
	next   int
	full   bool
}

type timedHist struct {
	at time.Time
	h  histogram
}

func newHistory(n int) *history {
	return &history{points: make([]point, max(n, 2))}
}

func (h *history) add(p point, lat histogram) {
	h.points[h.next] = p
	h.next = (h.next + 1) % len(h.points)
	h.full = h.full || h.next == 0
	h.hists = append(h.hists, timedHist{time.UnixMilli(p.T), lat})
	// Keep the newest reading at or before the window's start, and after.
	for len(h.hists) > 2 && !h.hists[1].at.After(time.UnixMilli(p.T).Add(-latencyWindow)) {
		h.hists = h.hists[1:]
	}
}

// latencyBefore returns the newest histogram read at or before t.
func (h *history) latencyBefore(t time.Time) histogram {
	var out histogram
	for _, x := range h.hists {
		if x.at.After(t) {
			break
		}
		out = x.h
	}
	if out == nil && len(h.hists) > 0 && h.hists[0].h != nil {
		// Less history than the window: since the first reading.
		return h.hists[0].h
	}
	return out
}

// ordered returns the points oldest first.
func (h *history) ordered() []point {
	if !h.full {
		return slices.Clone(h.points[:h.next])
	}
	return append(slices.Clone(h.points[h.next:]), h.points[:h.next]...)
}
