package services

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/schemaregistry"
)

const registryName = "schema-registry"

// registryConfig is what cmd/schema-registry's flags set.
type registryConfig struct {
	k         *config.Kafka
	listeners *string
	topic     *string
	level     sr.CompatibilityLevel
	l         config.Log
}

// registryFlags are cmd/schema-registry's flags.
func registryFlags() (*flag.FlagSet, *registryConfig) {
	fs := flag.NewFlagSet(registryName, flag.ContinueOnError)
	fs.Usage = config.Usage(fs, "schema-registry: a schema registry with Confluent's REST API, kept in a compacted Kafka topic; BACKWARD compatibility (or the level set) enforced.")
	f := &registryConfig{k: kafkaFlags(fs), level: sr.CompatBackward}
	f.listeners = fs.String("listeners", "http://127.0.0.1:8081", "where to serve the API, /healthz and /metrics: http://host:port (Confluent's listeners; host:port works too)")
	f.topic = fs.String("kafkastore.topic", schemaregistry.DefaultTopic, "the compacted topic holding the schemas (Confluent's kafkastore.topic); one partition")
	fs.Func("schema.compatibility.level", "compatibility level until one is set with PUT /config: none, backward, backward_transitive, forward, forward_transitive, full, full_transitive (default \"backward\")", func(s string) error {
		return f.level.UnmarshalText([]byte(s))
	})
	f.l.RegisterFlags(fs)
	return fs, f
}

// RegistryFlags are cmd/schema-registry's flags (for docs and checks).
func RegistryFlags() *flag.FlagSet {
	fs, _ := registryFlags()
	return fs
}

// RegistryMain is the main of cmd/schema-registry: the journaled schema
// registry (package schemaregistry) as a service of its own, until
// SIGINT/SIGTERM. It is not a row of Table (see ARCHITECTURE.md).
func RegistryMain(args []string) error {
	fs, f := registryFlags()
	k, listeners, topic, level, l := f.k, f.listeners, f.topic, &f.level, &f.l
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	log, err := l.Logger(registryName)
	if err != nil {
		return err
	}
	addr, err := listenAddr(*listeners)
	if err != nil {
		return err
	}
	kopts, err := k.Franz(log)
	if err != nil {
		return err
	}
	if k.ReplicationFactor < -1 || k.ReplicationFactor > 32767 {
		return fmt.Errorf("replication.factor %d: want 1..32767, or -1 for the broker's default", k.ReplicationFactor)
	}
	opts := schemaregistry.Options{Kafka: kopts, Topic: *topic, ReplicationFactor: int16(k.ReplicationFactor), NoCreateTopic: !k.CreateTopics,
		DefaultCompatibility: *level, Logger: log}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listeners %s: %w (another registry there? set --listeners)", *listeners, err)
	}
	ctx, stop := run.SignalContext()
	defer stop()

	var current atomic.Pointer[schemaregistry.Registry]
	var waiting atomic.Value // why there is no registry yet (string)
	waiting.Store("reading the journal " + *topic + " at " + k.BootstrapServers)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		if r := current.Load(); r != nil {
			r.ServeHTTP(w, req)
			return
		}
		reason := waiting.Load().(string)
		if req.URL.Path == "/healthz" {
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "{\"error_code\":50001,\"message\":%q}\n", "the schema registry is not ready: "+reason)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving; stop with SIGINT or SIGTERM", "listeners", "http://"+ln.Addr().String(), "kafkastore.topic", *topic, "bootstrap.servers", k.BootstrapServers)

	// Open the registry, again with backoff while Kafka cannot be reached;
	// then serve until stopped.
	err = run.Restart(ctx, log, registryName, run.DefaultBackoff, func(ctx context.Context) error {
		r, err := schemaregistry.Open(ctx, opts)
		if err != nil {
			if errors.Is(err, schemaregistry.ErrBadJournal) {
				return &run.Permanent{Err: err}
			}
			return err
		}
		current.Store(r)
		<-ctx.Done()
		return nil
	}, func(err error, wait time.Duration) {
		waiting.Store(fmt.Sprintf("%v (trying again in %v)", err, wait))
	})

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if serr == nil {
		serr = <-served
		if errors.Is(serr, http.ErrServerClosed) {
			serr = nil
		}
	}
	if r := current.Load(); r != nil {
		_ = r.Close()
	}
	log.Info("stopped")
	return errors.Join(err, serr)
}

// listenAddr takes Confluent's http://host:port or host:port.
func listenAddr(s string) (string, error) {
	if strings.Contains(s, ",") {
		return "", fmt.Errorf("listeners %q: one listener only", s)
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("listeners %q: want http://host:port", s)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("listeners %q: http only (put TLS in front of it)", s)
	}
	return u.Host, nil
}

// kafkaFlags adds the Kafka flags every binary has that a registry uses:
// the connection, and how it creates its topic.
func kafkaFlags(fs *flag.FlagSet) *config.Kafka {
	var k config.Kafka
	all := flag.NewFlagSet("kafka", flag.ContinueOnError)
	k.RegisterFlags(all, registryName)
	usage := map[string]string{
		"replication.factor": "replication factor of the journal topic when it creates it (Confluent's kafkastore.topic.replication.factor; -1: the broker's default)",
		"create.topics":      "create the journal topic when missing",
	}
	for _, n := range []string{"bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
		"ssl.ca.location", "client.id", "replication.factor", "create.topics"} {
		f := all.Lookup(n)
		u := f.Usage
		if usage[n] != "" {
			u = usage[n]
		}
		fs.Var(f.Value, f.Name, u)
		fs.Lookup(n).DefValue = f.DefValue
	}
	return &k
}
