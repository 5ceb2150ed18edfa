package services

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/orderstream/pipeline/dashboard"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/services/frame"
)

// DashboardHTTPAddr is the dashboard binary's default --http.addr. The
// dashboard is not a row of Table: it processes nothing, it looks at the
// services (their --http.addr, from Table) and at Kafka.
const DashboardHTTPAddr = "127.0.0.1:9400"

// Dashboard is the composition of cmd/dashboard: package dashboard in
// front of the separate binaries.
type Dashboard struct {
	Services string // name=host:port of each service's --http.addr, comma separated
	Interval time.Duration
	Topics   dashboard.Topics
}

// RegisterFlags adds the dashboard's own flags; the defaults are Table's
// services at their default addresses and topics.
func (d *Dashboard) RegisterFlags(fs *flag.FlagSet) {
	var addrs []string
	for _, s := range Table {
		addrs = append(addrs, s.Name+"="+s.HTTPAddr)
	}
	fs.StringVar(&d.Services, "services", strings.Join(addrs, ","), "each service's --http.addr (its /metrics and /readyz) as name=host:port, comma separated")
	fs.DurationVar(&d.Interval, "scrape.interval", 2*time.Second, "how often to read the services' metrics, readiness and Kafka")
	d.Topics = dashboard.DefaultTopics()
	t := &d.Topics
	fs.StringVar(&t.Customers, "topic.customers", t.Customers, "the customers table (compacted; written by the CDC source)")
	fs.StringVar(&t.Products, "topic.products", t.Products, "the products table (compacted)")
	fs.StringVar(&t.Orders, "topic.orders", t.Orders, "the orders stream")
	fs.StringVar(&t.OrderDetails, "topic.order.details", t.OrderDetails, "the joined orders stream")
	fs.StringVar(&t.CustomerTotals, "topic.customer.totals", t.CustomerTotals, "the totals table (compacted): the top customers and the search read it")
}

// targets parses --services.
func (d *Dashboard) targets() ([]dashboard.Target, error) {
	var out []dashboard.Target
	for _, item := range strings.Split(d.Services, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("--services: %q is not name=host:port", item)
		}
		if !strings.Contains(addr, "://") {
			addr = "http://" + addr
		}
		out = append(out, dashboard.Target{Name: name, URL: addr})
	}
	return out, nil
}

// wiring is what the dashboard needs to know of each service of Table: its
// consumer groups and its dead-letter topic, at their defaults.
func wiring() (groups map[string][]string, dlqs map[string]string) {
	groups, dlqs = map[string][]string{}, map[string]string{}
	for _, s := range Table {
		c := s.New()
		Defaults(c)
		if gs := c.Groups(); len(gs) > 0 {
			groups[s.Name] = gs
		}
		switch c := c.(type) {
		case *CDC:
			dlqs[s.Name] = c.Options.DeadLetterTopic
		case *Details:
			dlqs[s.Name] = string(c.Topics.DeadLetter)
		case *Totals:
			dlqs[s.Name] = string(c.Topics.DeadLetter)
		case *Sink:
			dlqs[s.Name] = c.DLQ
		}
	}
	return groups, dlqs
}

// DashboardMain is the main of cmd/dashboard: flags and environment, then
// the dashboard at --http.addr (with its own /metrics, /healthz and
// /readyz) until SIGINT/SIGTERM.
func DashboardMain(args []string) error {
	f, fs := frame.NewFlags("dashboard", "dashboard: the pipeline's live dashboard in front of the separate binaries (their /metrics and /readyz, and Kafka).", DashboardHTTPAddr)
	fs.Lookup("http.addr").Usage = "where to serve the dashboard (/) and its own /metrics, /healthz, /readyz"
	var d Dashboard
	d.RegisterFlags(fs)
	if err := frame.Parse(fs, args); err != nil {
		return err
	}
	env, err := f.Setup()
	if err != nil {
		return err
	}
	targets, err := d.targets()
	if err != nil {
		return err
	}
	kafka, err := f.Kafka.Franz(env.Log)
	if err != nil {
		return err
	}
	groups, dlqs := wiring()
	d.Topics.DeadLetters = dlqs
	dash, err := dashboard.New(dashboard.Options{Targets: targets, Kafka: kafka, Registry: env.Registry, Topics: d.Topics,
		Groups: groups, Interval: d.Interval, Log: env.Log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http.addr %s: %w (another dashboard there? set --http.addr)", f.HTTPAddr, err)
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
		mux.Handle(p, env.Handler())
	}
	mux.Handle("/", dash)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := run.SignalContext()
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	env.Log.Info("dashboard serving", "url", "http://"+ln.Addr().String()+"/", "services", d.Services)
	env.Ready()
	err = dash.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
