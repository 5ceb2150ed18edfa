package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/services/frame"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestQuantileOfTheWindow(t *testing.T) {
	inf := math.Inf(1)
	before := histogram{0.01: 10, 0.1: 10, 1: 10, inf: 10}
	// 100 observations since: 90 under 10 ms, 9 under 100 ms, 1 under 1 s.
	now := histogram{0.01: 100, 0.1: 109, 1: 110, inf: 110}
	p99 := quantile(0.99, now, before)
	require.NotNil(t, p99)
	assert.InDelta(t, 0.1, *p99, 1e-9, "the 99th of 100 is the last under 100 ms")
	p50 := quantile(0.5, now, before)
	assert.InDelta(t, 0.01*50/90, *p50, 1e-9, "linear within the first bucket")
	assert.Nil(t, quantile(0.99, before, before), "no orders: no latency")
	// Beyond the last finite bucket: its bound.
	assert.Equal(t, 1.0, *quantile(0.99, histogram{1: 0, inf: 5}, histogram{}))
	// A restarted service: its counts start again.
	assert.NotNil(t, quantile(0.99, histogram{0.01: 3, inf: 3}, histogram{0.01: 50, inf: 50}))
}

// TestRatesAreOverTheWindow: a service that writes in batches (the sink
// flushes every second) has a steady rate over the window, not one that
// flaps between 0 and twice it from one reading to the next; a restarted
// counter counts from zero; a reading without the counter starts again.
func TestRatesAreOverTheWindow(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(ms int, v float64, ok bool) *reading {
		r := &reading{at: t0.Add(time.Duration(ms) * time.Millisecond), rate: map[string]float64{}, present: map[string]bool{}}
		if ok {
			r.rate["s"], r.present["s"] = v, true
		}
		return r
	}
	value := func(r *reading) (float64, bool) { return r.rate["s"], r.present["s"] }
	d := &Dashboard{}
	var rates []float64
	// 100 documents written once a second, read every half second.
	for i := 0; i <= 40; i++ {
		cur := at(500*i, float64(100*(i/2)), true)
		window := d.window(cur.at)
		if r := windowRate(window, cur, value); r != nil {
			rates = append(rates, *r)
		}
		d.recent = append(window, cur)
	}
	require.Len(t, rates, 40)
	for _, r := range rates[20:] { // the window full
		assert.InDelta(t, 100, r, 5.01, "documents/s over the window")
	}
	assert.LessOrEqual(t, len(d.recent), int(rateWindow/(500*time.Millisecond))+1, "only the window's readings are kept")

	assert.Equal(t, 5.0, *windowRate([]*reading{at(0, 10, true)}, at(2000, 20, true), value))
	assert.Equal(t, 2.0, *windowRate([]*reading{at(0, 100, true)}, at(2000, 4, true), value), "the counter restarted")
	assert.Equal(t, 3.0, *windowRate([]*reading{at(0, 100, true), at(1000, 4, true)}, at(2000, 6, true), value),
		"a restart inside the window: 4 from zero, then 2")
	assert.Equal(t, 2.0, *windowRate([]*reading{at(0, 100, true), at(1000, 0, false), at(2000, 4, true)}, at(3000, 6, true), value),
		"after a reading without the counter, from the next one")
	assert.Nil(t, windowRate(nil, at(0, 1, true), value), "no earlier reading")
	assert.Nil(t, windowRate([]*reading{at(0, 1, true)}, at(1000, 0, false), value), "not read now")
}

// fakeService serves /metrics and /readyz?format=json as a service of the
// pipeline does.
func fakeService(t *testing.T, metrics func() string, components string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, metrics())
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "json", r.URL.Query().Get("format"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ready":true,"components":[%s]}`, components)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, h http.Handler, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	require.Equal(t, http.StatusOK, rec.Code, path)
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), v), path)
}

// TestAServiceThatIsDownShowsAsDown: one service answers, one does not;
// the answering one has its rate and readiness, the other is down, the
// page and the JSON still answer.
func TestAServiceThatIsDownShowsAsDown(t *testing.T) {
	brokers := testkit.Kfake(t)
	var mu sync.Mutex
	joined := 100
	details := fakeService(t, func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("# TYPE orderstream_details_orders_joined_total counter\norderstream_details_orders_joined_total %d\n"+
			"# TYPE orderstream_details_orders_retried_total counter\norderstream_details_orders_retried_total 3\n", joined)
	}, `{"name":"orders-details","ready":true,"since":"2026-01-01T00:00:00Z"}`)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()

	d, err := New(Options{
		Targets:  []Target{{Name: "orders-details", URL: details.URL}, {Name: "mongo-sink", URL: gone.URL}},
		Kafka:    []kgo.Opt{kgo.SeedBrokers(brokers...)},
		Registry: testkit.Registry(t),
		Groups:   map[string][]string{"orders-details": {"orders-details"}, "mongo-sink": {"mongo-sink"}},
		Log:      quiet,
	})
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()

	ctx := context.Background()
	d.collect(ctx, cl)
	mu.Lock()
	joined = 160
	mu.Unlock()
	d.collect(ctx, cl)

	var st State
	getJSON(t, d, "/api/state", &st)
	byName := map[string]StageState{}
	for _, s := range st.Stages {
		byName[s.Name] = s
	}
	det := byName["orders-details"]
	assert.Equal(t, "ready", det.Health.State)
	require.NotNil(t, det.Rate)
	assert.Positive(t, *det.Rate, "60 more joined between the readings")
	require.NotNil(t, det.Retries)
	assert.Equal(t, 3.0, *det.Retries)
	require.NotNil(t, det.DeadLetters)
	assert.Zero(t, *det.DeadLetters, "no dead-letter topic: nothing dead-lettered")

	sink := byName["mongo-sink"]
	assert.Equal(t, "down", sink.Health.State)
	assert.Contains(t, sink.Health.Reason, "does not answer")
	assert.Nil(t, sink.Rate, "a service that does not answer has no rate")
	assert.Equal(t, "unknown", byName["cdc-source"].Health.State, "no address for it")
	assert.False(t, st.Targets[1].Up)

	rec := httptest.NewRecorder()
	d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `<svg id="diagram"`)
	for _, path := range []string{"/static/app.js", "/static/style.css", "/static/uplot/uPlot.iife.min.js", "/static/uplot/uPlot.min.css", "/static/uplot/LICENSE"} {
		rec := httptest.NewRecorder()
		d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		assert.Equal(t, http.StatusOK, rec.Code, path)
		assert.NotContains(t, rec.Body.String(), "https://cdn", path)
	}
	var series Series
	getJSON(t, d, "/api/series", &series)
	assert.Len(t, series.Time, 2)
	assert.Contains(t, series.Lag, "mongo-sink")
}

// TestTopCustomersAndSearch: the totals and rows on the compacted topics
// become the top list and the search's answers, exact, tombstones deleting.
func TestTopCustomersAndSearch(t *testing.T) {
	brokers := testkit.Kfake(t)
	reg := testkit.Registry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("customer-totals"))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopics(ctx, 3, 1, nil, "customer-totals", "customers")
	require.NoError(t, err)
	tc, err := codecs.NewAvro[avro.CustomerTotal](ctx, reg, "customer-totals-value", avro.CustomerTotalSchema)
	require.NoError(t, err)
	cc, err := codecs.NewAvro[avro.Customer](ctx, reg, "customers-value", avro.CustomerSchema)
	require.NoError(t, err)
	card := "****"
	produce := func(topic, key string, v any) {
		var b []byte
		if v != nil {
			var err error
			if topic == "customers" {
				b, err = cc.Encode(v)
			} else {
				b, err = tc.Encode(v)
			}
			require.NoError(t, err)
		}
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b}).FirstErr())
	}
	rat := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	for i, amount := range []string{"10.10", "99999999999.99", "250.00", "0.01"} {
		id := int64(i + 1)
		produce("customers", codecs.Key(id), &avro.Customer{ID: id, FirstName: fmt.Sprint("First", id), LastName: "Last", Email: fmt.Sprintf("c%d@example.com", id), CreditCard: &card, CreatedAt: now, UpdatedAt: now})
		produce("customer-totals", codecs.Key(id), &avro.CustomerTotal{CustomerID: id, CustomerName: fmt.Sprint("First", id, " Last"), OrderCount: id, TotalAmount: rat(amount), UpdatedAt: now})
	}
	produce("customer-totals", "3", &avro.CustomerTotal{CustomerID: 3, CustomerName: "First3 Last", OrderCount: 7, TotalAmount: rat("300.05"), UpdatedAt: now})
	produce("customer-totals", "4", nil) // deleted

	d, err := New(Options{Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Registry: reg, Interval: 50 * time.Millisecond, Log: quiet})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	var top struct {
		Customers []CustomerView
		Tables    TablesState
	}
	for !top.Tables.CaughtUp {
		time.Sleep(20 * time.Millisecond) // polling interval of a condition
		getJSON(t, d, "/api/top?n=3", &top)
	}
	require.Len(t, top.Customers, 3)
	assert.Equal(t, []string{"2", "3", "1"}, []string{top.Customers[0].ID, top.Customers[1].ID, top.Customers[2].ID})
	assert.Equal(t, "99999999999.99", top.Customers[0].Total, "exact, not a float")
	assert.Equal(t, "300.05", top.Customers[1].Total, "the latest value of the key")
	assert.Equal(t, 3, top.Tables.Totals, "the tombstone deleted customer 4's total")
	assert.Equal(t, "100000000310.14", top.Tables.Amount)

	var found struct{ Matches []CustomerView }
	getJSON(t, d, "/api/customer?q=3", &found)
	require.Len(t, found.Matches, 1)
	c := found.Matches[0]
	assert.Equal(t, "First3 Last", c.Name)
	assert.Equal(t, "300.05", c.Total)
	assert.Equal(t, int64(7), c.Orders)
	assert.Equal(t, "****", *c.CreditCard)
	getJSON(t, d, "/api/customer?q=c1%40example", &found)
	require.Len(t, found.Matches, 1)
	assert.Equal(t, "1", found.Matches[0].ID)
	getJSON(t, d, "/api/customer?q=LAST", &found)
	assert.Len(t, found.Matches, 4, "customer 4's row is still on the customers topic")
	assert.Equal(t, "0.00", found.Matches[3].Total, "no total: zero")
	getJSON(t, d, "/api/customer?q=nobody", &found)
	assert.Empty(t, found.Matches)
}

// TestReadsTheFramesEndpoints: the dashboard reads what a service's frame
// really serves (/metrics of the default registry, /readyz?format=json
// with one entry per component), not only the fakes above.
func TestReadsTheFramesEndpoints(t *testing.T) {
	brokers := testkit.Kfake(t)
	f := &frame.Flags{Name: "orders-details", Kafka: testkit.KafkaConfig(brokers), Registry: config.Registry{URL: "http://127.0.0.1:1"}}
	env, err := f.SetupWith(quiet)
	require.NoError(t, err)
	srv := httptest.NewServer(env.Handler())
	defer srv.Close()
	d, err := New(Options{Targets: []Target{{Name: "orders-details", URL: srv.URL}}, Kafka: []kgo.Opt{kgo.SeedBrokers(brokers...)},
		Registry: testkit.Registry(t), Log: quiet})
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()

	stage := func() StageState {
		d.collect(context.Background(), cl)
		var st State
		getJSON(t, d, "/api/state", &st)
		for _, s := range st.Stages {
			if s.Name == "orders-details" {
				return s
			}
		}
		t.Fatal("no orders-details stage")
		return StageState{}
	}
	env.NotReady(errors.New("processors not running: orders-details"))
	s := stage()
	assert.Equal(t, "not ready", s.Health.State)
	assert.Equal(t, "processors not running: orders-details", s.Health.Reason)
	env.Ready()
	assert.Equal(t, "ready", stage().Health.State)
}
