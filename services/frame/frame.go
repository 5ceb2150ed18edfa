// Package frame is what every service of the pipeline runs in: the flags it
// shares with the others (Kafka, schema registry, logging, HTTP), the
// clients they configure, the one loop that restarts a failed component
// with backoff and owns its readiness, and the HTTP endpoints (/metrics,
// /healthz, /readyz) that report on it. The services (package services)
// are built on it; the libraries below (processors, connectors, producer)
// know nothing of it.
package frame

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/topics"
)

// Flags are the flags every service has.
type Flags struct {
	Name     string
	Kafka    config.Kafka
	Registry config.Registry
	Log      config.Log
	HTTPAddr string
	Pprof    bool
}

// NewFlags registers the shared flags on a new FlagSet named name, with
// httpAddr as the default of --http.addr.
func NewFlags(name, about, httpAddr string) (*Flags, *flag.FlagSet) {
	f := &Flags{Name: name}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = config.Usage(fs, about)
	f.Kafka.RegisterFlags(fs, name)
	f.Registry.RegisterFlags(fs)
	f.Log.RegisterFlags(fs)
	fs.StringVar(&f.HTTPAddr, "http.addr", httpAddr, "where to serve /metrics, /healthz and /readyz (off: nowhere)")
	fs.BoolVar(&f.Pprof, "http.pprof", false, "also serve Go's profiles under /debug/pprof/ on http.addr (for whoever can reach it: keep http.addr private)")
	return f, fs
}

// Env is what a service works with once its flags are parsed.
type Env struct {
	Flags    *Flags
	Log      *slog.Logger
	Sarama   *sarama.Config
	Registry *codecs.Registry
	// OnProcessor and OnView, when set, see every processor and view
	// RunProcessors runs (the web monitor attaches them).
	OnProcessor func(*goka.Processor)
	OnView      func(*goka.View)
	health      *Health
	part        string // this component's name in health
}

// Setup builds the logger and clients.
func (f *Flags) Setup() (*Env, error) {
	log, err := f.Log.Logger(f.Name)
	if err != nil {
		return nil, err
	}
	return f.SetupWith(log)
}

// SetupWith builds the clients, logging to log: for components sharing a
// process whose logger is already set up.
func (f *Flags) SetupWith(log *slog.Logger) (*Env, error) {
	cfg, err := f.Kafka.Sarama()
	if err != nil {
		return nil, err
	}
	cl, err := f.Registry.Client()
	if err != nil {
		return nil, err
	}
	reg := codecs.NewRegistry(cl, codecs.WithAutoRegister(f.Registry.AutoRegister))
	return &Env{Flags: f, Log: log, Sarama: cfg, Registry: reg, health: NewHealth(), part: f.Name}, nil
}

// Health is the readiness of every component this environment reports on.
func (e *Env) Health() *Health { return e.health }

// WithHealth makes the environment report into h (shared by the components
// of one process) instead of its own.
func (e *Env) WithHealth(h *Health) *Env {
	c := *e
	c.health = h
	return &c
}

// EnsureTopics creates missing topics (with --create.topics) and checks
// that each group in copartitioned has one partition count.
func (e *Env) EnsureTopics(ctx context.Context, specs []topics.Spec, copartitioned ...[]string) error {
	k := e.Flags.Kafka
	cl, err := e.KafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := topics.Ensure(ctx, cl, specs, int32(k.Partitions), int16(k.ReplicationFactor), k.CreateTopics, copartitioned...); err != nil {
		return fmt.Errorf("Kafka at %s: %w", k.BootstrapServers, err)
	}
	return nil
}

// KafkaClient is a franz-go client with the service's connection and
// producer settings (config.Kafka.Franz) and opts; the caller closes it.
func (e *Env) KafkaClient(opts ...kgo.Opt) (*kgo.Client, error) {
	k := e.Flags.Kafka
	base, err := k.Franz(e.Log)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("Kafka client for %s: %w", k.BootstrapServers, err)
	}
	return cl, nil
}

// CheckCopartitioned checks that the topics have one partition count.
func (e *Env) CheckCopartitioned(ctx context.Context, names []string) error {
	cl, err := e.KafkaClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	return topics.CheckCopartitioned(ctx, cl, names)
}

// Parse parses args, then the environment (see package config).
func Parse(fs *flag.FlagSet, args []string) error { return config.Parse(fs, args) }

// StreamFlag adds a flag naming a stream topic.
func StreamFlag(fs *flag.FlagSet, s *goka.Stream, name, usage string) {
	fs.Func(name, fmt.Sprintf("%s (default %q)", usage, *s), func(v string) error { *s = goka.Stream(v); return nil })
}

// TableFlag adds a flag naming a table topic.
func TableFlag(fs *flag.FlagSet, t *goka.Table, name, usage string) {
	fs.Func(name, fmt.Sprintf("%s (default %q)", usage, *t), func(v string) error { *t = goka.Table(v); return nil })
}

// Exit ends a main: status 0 for nil and for --help, 1 with the error
// otherwise.
func Exit(name string, err error) {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}
