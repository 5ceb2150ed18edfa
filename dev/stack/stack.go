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
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

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
}

// Endpoints are where a running stack answers.
type Endpoints struct {
	Brokers     []string
	RegistryURL string
	MongoURI    string
	MonitorURL  string
}

// Run starts everything and runs until ctx ends (or, with Orders, until the
// orders are in MongoDB).
func Run(ctx context.Context, o Options) error {
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

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
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()

	reg, err := schemaregistry.Start(ctx, o.RegistryAddr, cl, schemaregistry.DefaultTopic, log.With("component", "schema-registry"))
	if err != nil {
		return err
	}
	defer reg.Close()

	mongo, err := mongoserver.Start(ctx, mongoserver.Options{Dir: filepath.Join(o.DataDir, "mongo"), Addr: o.MongoAddr, Logger: config.MinLevel(log.With("component", "mongodb"), slog.LevelError)})
	if err != nil {
		return err
	}
	defer mongo.Close()

	// One environment for all components, as their binaries would get it
	// from flags.
	flags := &frame.Flags{Name: "pipeline", Log: o.Log,
		Kafka: config.Kafka{BootstrapServers: brokers[0], SecurityProtocol: "PLAINTEXT", SASLMechanism: "PLAIN", ClientID: "pipeline",
			CompressionType: "lz4", Linger: 5 * time.Millisecond, SessionTimeout: 10 * time.Second,
			ReplicationFactor: 1, Partitions: 6, CreateTopics: true},
		Registry: config.Registry{URL: reg.URL(), AutoRegister: true}}
	env, err := flags.Setup()
	if err != nil {
		return err
	}
	web := monitor.New()
	var procMu sync.Mutex
	env.OnProcessor = func(p *goka.Processor) {
		procMu.Lock()
		defer procMu.Unlock()
		web.AttachProcessor(p)
		if p.Graph().Group() == totals.DefaultGroup {
			_ = web.AttachSource("totals", p.Get)
		}
	}

	c := components(o, mongo.URI())
	counts := newCounters()
	c.producer.Stats = counts.producerDone
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := func(name string, comp services.Component) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := comp.Run(ctx, env.With(name)); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	start("cdc-source", c.cdc)
	start("orders-details", c.details)
	start("orders-totals-by-customer", c.totals)
	start("mongo-sink", c.sink)

	// The monitor's server also serves the process's /metrics and health.
	mux := http.NewServeMux()
	mux.Handle("/metrics", env.Handler())
	mux.Handle("/healthz", env.Handler())
	mux.Handle("/", web)
	monitorAddr, stopWeb, err := serve(o.MonitorAddr, mux)
	if err != nil {
		return err
	}
	defer stopWeb()
	ends := Endpoints{Brokers: brokers, RegistryURL: reg.URL(), MongoURI: mongo.URI(), MonitorURL: "http://" + monitorAddr}
	fmt.Fprintf(o.Out, "pipeline running: Kafka %s, schema registry %s, MongoDB %s, MySQL %s\nweb monitor: %s/ (monitor, query: customers, products, totals; /metrics)\n",
		brokers[0], reg.URL(), mongo.URI(), redactDSN(o.MySQLDSN), ends.MonitorURL)

	// The producer waits for the CDC snapshot: orders for customers the
	// lookup tables do not have yet would only be retried.
	if err := awaitCatalog(ctx, cl, c, 2*time.Minute); err != nil {
		return err
	}
	if err := tableViews(ctx, env, web, c); err != nil {
		return err
	}
	report := newReporter(o, cl, mongo.URI(), c, counts, log)
	defer report.close()
	start("orders-producer", c.producer)
	ticker := time.NewTicker(o.Progress)
	defer ticker.Stop()
	startTime := time.Now()
	for {
		select {
		case err := <-errs:
			cancel()
			wg.Wait()
			return err
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-ticker.C:
			st := report.line(ctx)
			if o.Orders > 0 && st.done(o.Orders) {
				report.summary(ctx, startTime, st)
				var err error
				if o.Check != nil {
					err = o.Check(ctx, ends)
				}
				cancel()
				wg.Wait()
				return err
			}
		}
	}
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
	if err := db.PingContext(pctx); err != nil {
		return fmt.Errorf("MariaDB at %s does not answer (%w): start it with scripts/mariadb.sh start (make run does)", redactDSN(dsn), err)
	}
	return nil
}

func portFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken (%w): stop what listens there or choose another address", addr, err)
	}
	return ln.Close()
}

func serve(addr string, h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("web monitor on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
