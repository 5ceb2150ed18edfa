// Package stack runs the whole pipeline on one machine, in one process,
// without Docker or a JVM: an in-process Kafka (kfake, data on disk), a
// schema registry journaled to that Kafka, an embedded MongoDB-wire server
// (FerretDB on SQLite), and every service of the pipeline — each the same
// component its own binary runs — against the private MariaDB of
// scripts/mariadb.sh. `make run` starts it.
package stack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/orderstream/pipeline/dashboard"
	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/dev/monitor"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/processors/totals"
	"github.com/orderstream/pipeline/schemaregistry"
	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

// Options configure a run.
type Options struct {
	DataDir      string        // kafka/, mongo/ below it
	MySQLDSN     string        // the shop database; the CDC user's DSN
	KafkaAddr    string        // where the in-process Kafka listens
	RegistryAddr string        // schema registry
	MongoAddr    string        // MongoDB wire protocol (FerretDB)
	MonitorAddr  string        // Goka web monitor
	Rate         float64       // orders per second
	Orders       int64         // 0: run until stopped; N: produce N orders, wait for them in MongoDB, summarise, exit
	Retention    time.Duration // Kafka retention of non-compacted topics
	RetentionMB  int           // and their size bound per partition
	Progress     time.Duration // how often to print the progress line
	Log          config.Log
	Out          io.Writer // where the progress lines and the summary go
	// Check, when set, runs at the end of a bounded run, before the stack
	// stops (tests look at Kafka, MongoDB and the monitor there).
	Check func(ctx context.Context, s Endpoints) error
	// Started, when set, is called once every component has been started
	// (tests watch the running stack from there).
	Started func(Endpoints)
	// Scrape is how often the dashboard reads the metrics (default 2 s).
	Scrape time.Duration
}

// Endpoints are where a running stack answers.
type Endpoints struct {
	Brokers     []string
	RegistryURL string
	MongoURI    string
	MonitorURL  string
}

// errBoundedRunDone ends a bounded run: every order is in MongoDB.
var errBoundedRunDone = errors.New("bounded run done")

// Run starts everything and runs until ctx ends (or, with Orders, until the
// orders are in MongoDB). Its lifecycle is one errgroup: the resources are
// opened, the components started in the group; on any exit (ctx ends, the
// bounded run is done, a component fails for good) the group's context is
// cancelled, every goroutine is waited for, and only then are the
// resources closed, in reverse order.
//
// A ctx that ends during the start-up is a stop, not a failure: Run returns
// nil, whatever step it interrupted.
func Run(ctx context.Context, o Options) (err error) {
	defer func() {
		if err != nil && ctx.Err() != nil {
			fmt.Fprintf(o.Out, "stopped during start-up (%v)\n", err)
			err = nil
		}
	}()
	log, err := o.Log.Logger("pipeline")
	if err != nil {
		return err
	}
	if err := writable(o.DataDir); err != nil {
		return err
	}
	if err := mysqlUp(ctx, o.MySQLDSN); err != nil {
		return err
	}
	for name, addr := range map[string]string{"kafka": o.KafkaAddr, "schema registry": o.RegistryAddr, "mongodb": o.MongoAddr, "monitor": o.MonitorAddr} {
		if err := portFree(addr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	var res closers
	defer res.close() // after the group is waited for, below

	// Kafka, persisted under the data dir, with a retention bound.
	_, port, err := net.SplitHostPort(o.KafkaAddr)
	if err != nil {
		return fmt.Errorf("kafka.addr %q: %w", o.KafkaAddr, err)
	}
	var kport int
	if _, err := fmt.Sscan(port, &kport); err != nil {
		return fmt.Errorf("kafka.addr %q: %w", o.KafkaAddr, err)
	}
	kopts := []kfake.Opt{kfake.NumBrokers(1), kfake.DataDir(filepath.Join(o.DataDir, "kafka")),
		kfake.DefaultNumPartitions(6), kfake.BrokerConfigs(map[string]string{
			"log.retention.ms":    fmt.Sprint(o.Retention.Milliseconds()),
			"log.retention.bytes": fmt.Sprint(int64(o.RetentionMB) << 20),
		})}
	if kport != 0 {
		kopts = append(kopts, kfake.Ports(kport))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return fmt.Errorf("starting Kafka on %s with data in %s: %w", o.KafkaAddr, filepath.Join(o.DataDir, "kafka"), err)
	}
	res.add(cluster.Close)
	brokers := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	res.add(cl.Close)

	reg, err := schemaregistry.Start(ctx, o.RegistryAddr, cl, schemaregistry.DefaultTopic, log.With("component", "schema-registry"))
	if err != nil {
		return err
	}
	res.add(func() { _ = reg.Close() })

	// Not stopped by ctx: the sink still writes its last changes while it
	// stops; res closes the server after every component is done.
	mongo, err := mongoserver.Start(context.WithoutCancel(ctx), mongoserver.Options{Dir: filepath.Join(o.DataDir, "mongo"), Addr: o.MongoAddr, Logger: config.MinLevel(log.With("component", "mongodb"), slog.LevelError)})
	if err != nil {
		return err
	}
	res.add(func() { _ = mongo.Close() })

	// One environment for all components, as their binaries would get it
	// from flags.
	flags := &frame.Flags{Name: "pipeline", Log: o.Log,
		Kafka: config.Kafka{BootstrapServers: brokers[0], SecurityProtocol: "PLAINTEXT", SASLMechanism: "PLAIN", ClientID: "pipeline",
			CompressionType: "lz4", Linger: 5 * time.Millisecond, SessionTimeout: 10 * time.Second,
			ReplicationFactor: 1, Partitions: 6, CreateTopics: true},
		Registry: config.Registry{URL: reg.URL(), AutoRegister: true}}
	env, err := flags.SetupWith(log)
	if err != nil {
		return err
	}
	web := monitor.New()
	// The query page reads the tables through the views and processor the
	// components run now (a component that restarts runs new ones).
	var procMu sync.Mutex
	sources := map[string]func(string) (any, error){}
	source := func(name string) func(string) (any, error) {
		return func(key string) (any, error) {
			procMu.Lock()
			get := sources[name]
			procMu.Unlock()
			if get == nil {
				return nil, fmt.Errorf("%s is not loaded yet", name)
			}
			return get(key)
		}
	}
	for _, name := range []string{"customers", "products", "totals"} {
		if err := web.AttachSource(name, source(name)); err != nil {
			return err
		}
	}
	env.OnProcessor = func(p *goka.Processor) {
		procMu.Lock()
		defer procMu.Unlock()
		web.AttachProcessor(p)
		if p.Graph().Group() == totals.DefaultGroup {
			sources["totals"] = p.Get
		}
	}
	env.OnView = func(v *goka.View) {
		procMu.Lock()
		defer procMu.Unlock()
		web.AttachView(v)
		sources[v.Topic()] = v.Get
	}
	s := newStack(o, mongo.URI())
	counts := newCounters()
	s.producer.Stats = counts.producerDone

	// The monitor's server also serves the process's /metrics and health.
	mux := http.NewServeMux()
	mux.Handle("/metrics", env.Handler())
	mux.Handle("/healthz", env.Handler())
	mux.Handle("/readyz", env.Handler())
	for _, prefix := range monitor.Prefixes {
		mux.Handle(prefix, web) // and the slash-less path redirects
	}
	ln, err := net.Listen("tcp", o.MonitorAddr)
	if err != nil {
		return fmt.Errorf("web monitor on %s: %w", o.MonitorAddr, err)
	}
	ends := Endpoints{Brokers: brokers, RegistryURL: reg.URL(), MongoURI: mongo.URI(), MonitorURL: "http://" + ln.Addr().String()}
	// The dashboard at /, reading this process's own /metrics and /readyz
	// as it would read the separate binaries'.
	dash, err := dashboard.New(s.dashboardOptions(o, ends, env.Registry, log))
	if err != nil {
		return err
	}
	mux.Handle("/", dash)
	report := newReporter(o, cl, mongo.URI(), s, counts, log)
	res.add(report.close)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveUntil(gctx, ln, mux) })
	start := func(name string, c services.Component) {
		g.Go(func() error { return services.RunComponent(gctx, env, name, c) })
	}
	for _, c := range s.components {
		if c.name != producerName {
			start(c.name, c.Component)
		}
	}
	g.Go(func() error { env.ReportLag(gctx, 5*time.Second, s.groups()...); return nil })
	g.Go(func() error { return dash.Run(gctx) })
	fmt.Fprintf(o.Out, "pipeline running (pid %d; Ctrl-C stops it): Kafka %s, schema registry %s, MongoDB %s, MySQL %s\n"+
		"dashboard: %s/ (Goka's monitor: %s/monitor/, queries: %s/query/, metrics: %s/metrics)\n",
		os.Getpid(), brokers[0], reg.URL(), mongo.URI(), redactDSN(o.MySQLDSN), ends.MonitorURL, ends.MonitorURL, ends.MonitorURL, ends.MonitorURL)
	report.legend()
	if o.Started != nil {
		o.Started(ends)
	}

	g.Go(func() error {
		// The producer waits for the CDC snapshot: orders for customers
		// the lookup tables do not have yet would only be retried.
		if err := awaitCatalog(gctx, cl, s, 2*time.Minute); err != nil {
			return err
		}
		start(producerName, s.producer)
		ticker := time.NewTicker(o.Progress)
		defer ticker.Stop()
		startTime := time.Now()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-ticker.C:
			}
			st := report.line(gctx)
			if o.Orders > 0 && st.done(o.Orders) {
				report.summary(gctx, startTime, st)
				if o.Check != nil {
					if err := o.Check(gctx, ends); err != nil {
						return err
					}
				}
				return errBoundedRunDone
			}
		}
	})
	err = g.Wait()
	switch {
	case errors.Is(err, errBoundedRunDone):
		return nil
	case ctx.Err() != nil: // stopped from outside (Ctrl-C): say what was done
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		report.stopped(rctx)
		return nil
	}
	return err
}

// closers closes resources in the reverse order of opening.
type closers []func()

func (c *closers) add(f func()) { *c = append(*c, f) }

func (c *closers) close() {
	for i := len(*c) - 1; i >= 0; i-- {
		(*c)[i]()
	}
}

// serveUntil serves h on ln until ctx ends, then shuts the server down.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web monitor: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-errc
	return nil
}

// writable checks the data dir can hold the run's data.
func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".writable-")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// mysqlUp checks the shop database answers.
func mysqlUp(ctx context.Context, dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("mysql.dsn: %w", err)
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = db.PingContext(pctx)
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me) && (me.Number == 1045 || me.Number == 1044 || me.Number == 1698):
		// It answers: the user, the password or the grants are wrong.
		return fmt.Errorf("MariaDB at %s refused the login, authentication failed (%w): check the user and password of --mysql.dsn (scripts/mariadb.sh creates orderstream/orderstream)", redactDSN(dsn), err)
	case errors.As(err, &me) && me.Number == 1049:
		return fmt.Errorf("MariaDB at %s has no such database (%w): check the database of --mysql.dsn, or load it with scripts/mariadb.sh start", redactDSN(dsn), err)
	case errors.As(err, &me):
		return fmt.Errorf("MariaDB at %s answers with an error (%w): check --mysql.dsn", redactDSN(dsn), err)
	}
	return fmt.Errorf("MariaDB at %s does not answer (%w): start it with scripts/mariadb.sh start (make run does), or check the address in --mysql.dsn", redactDSN(dsn), err)
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken (%w): stop what listens there or choose another address", addr, err)
	}
	return ln.Close()
}
