// Package dashboard serves a live view of the whole pipeline: the flow
// MySQL -> CDC -> customers/products -> orders-producer -> orders ->
// orders-details -> order-details -> orders-totals-by-customer ->
// customer-totals -> mongo-sink -> MongoDB drawn as a diagram, each stage
// with its rate, consumer lag, retries, dead letters and readiness; charts
// of the last 15 minutes (orders/s in and out, p99 order -> total latency,
// lag); the top customers by their exact totals; a search for one customer.
//
// Its data comes from two places. The services' Prometheus /metrics and
// /readyz?format=json, scraped every few seconds and kept as time series in
// memory (a ring buffer per chart): a service that does not answer shows as
// down and the page goes on. And Kafka: the compacted customer-totals and
// customers topics read from the start (the exact decimal totals and each
// customer's row), the end offsets of the topics, and the consumer groups'
// lag. The page and its chart library (uPlot, assets/, fetched from npm by
// scripts/fetch-dashboard-assets.sh) are served from the binary: no CDN.
//
// The dev stack serves it at its monitor address's /; cmd/dashboard serves
// it in front of the separate binaries.
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/codecs"
)

// Target is a process serving /metrics and /readyz: one service binary, or
// the dev stack's one process running them all.
type Target struct {
	Name string // the service's name (a stage shows down when its target is)
	URL  string // base URL, http://127.0.0.1:9401
}

// Link is a link in the page's header.
type Link struct {
	Title, URL string
}

// Topics are the topics the dashboard reads.
type Topics struct {
	Customers, Products, Orders, OrderDetails, CustomerTotals string
	// DeadLetters maps a service to its dead-letter topic; a service not
	// in it has <name>-dlq.
	DeadLetters map[string]string
}

// DefaultTopics are the services' default topic names.
func DefaultTopics() Topics {
	return Topics{Customers: "customers", Products: "products", Orders: "orders", OrderDetails: "order-details",
		CustomerTotals: "customer-totals"}
}

// Options configure a dashboard.
type Options struct {
	Targets  []Target
	Kafka    []kgo.Opt        // seed brokers and security, for reading topics and lag
	Registry *codecs.Registry // for decoding customer-totals and customers
	Topics   Topics
	// Groups maps a service to the consumer groups whose lag is its lag.
	Groups   map[string][]string
	Interval time.Duration // how often to scrape (default 2 s)
	Window   time.Duration // how much history the charts keep (default 15 min)
	Links    []Link
	Log      *slog.Logger
}

// Dashboard is the scraper, the table readers and the web page.
type Dashboard struct {
	o      Options
	mux    *http.ServeMux
	http   *http.Client
	tables *tables

	mu      sync.Mutex
	state   State
	history *history
	recent  []*reading // the readings of the last rateWindow, oldest first
}

//go:embed web assets
var files embed.FS

// New returns a dashboard; Run makes it collect.
func New(o Options) (*Dashboard, error) {
	if o.Registry == nil {
		return nil, errors.New("dashboard: no schema registry client")
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Window <= 0 {
		o.Window = 15 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Topics.CustomerTotals == "" {
		o.Topics = DefaultTopics()
	}
	d := &Dashboard{o: o, http: &http.Client{Timeout: o.Interval}, tables: newTables(),
		history: newHistory(int(o.Window / o.Interval))}
	d.state = d.emptyState()
	d.mux = http.NewServeMux()
	// The page's files under /static/ (Goka's monitor, served beside it
	// by the dev stack, has /assets/).
	web, _ := fs.Sub(files, "web")
	assets, _ := fs.Sub(files, "assets")
	d.mux.Handle("GET /static/uplot/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	d.mux.Handle("GET /{$}", fileHandler(web, "index.html"))
	d.mux.Handle("GET /static/app.js", fileHandler(web, "app.js"))
	d.mux.Handle("GET /static/style.css", fileHandler(web, "style.css"))
	d.mux.HandleFunc("GET /api/state", d.serveState)
	d.mux.HandleFunc("GET /api/series", d.serveSeries)
	d.mux.HandleFunc("GET /api/top", d.serveTop)
	d.mux.HandleFunc("GET /api/customer", d.serveCustomer)
	return d, nil
}

func fileHandler(fsys fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, fsys, name)
	})
}

// ServeHTTP serves the page (/), its files (/static/...) and its JSON
// (/api/...).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// Run scrapes the targets and reads the tables until ctx ends. It returns
// nil then: a target or Kafka that does not answer is shown, not an error.
func (d *Dashboard) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(d.o.Kafka...)
	if err != nil {
		return fmt.Errorf("dashboard: Kafka client: %w", err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.tables.run(ctx, d.o)
	}()
	defer wg.Wait()

	t := time.NewTicker(d.o.Interval)
	defer t.Stop()
	for {
		d.collect(ctx, cl)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
