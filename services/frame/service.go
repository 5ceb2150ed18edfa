// Package service is the frame of every binary: the shared flags (Kafka,
// schema registry, logging), the clients they configure, and running Goka
// processors until SIGINT/SIGTERM, restarting one that fails.
package frame

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
)

// Flags are the flags every service has.
type Flags struct {
	Name     string
	Kafka    config.Kafka
	Registry config.Registry
	Log      config.Log
	HTTPAddr string
}

// NewFlags registers the shared flags on a new FlagSet named name.
func NewFlags(name, about string) (*Flags, *flag.FlagSet) {
	f := &Flags{Name: name}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = config.Usage(fs, about)
	f.Kafka.RegisterFlags(fs, name)
	f.Registry.RegisterFlags(fs)
	f.Log.RegisterFlags(fs)
	fs.StringVar(&f.HTTPAddr, "http.addr", DefaultHTTPAddr[name], "where to serve /metrics, /healthz and /readyz (off: nowhere)")
	return f, fs
}

// Env is what a service works with once its flags are parsed.
type Env struct {
	Flags    *Flags
	Log      *slog.Logger
	Sarama   *sarama.Config
	Registry *codecs.Registry
	// OnProcessor, when set, sees every processor RunProcessors creates
	// (the web monitor attaches them).
	OnProcessor func(*goka.Processor)
	ready       ready
}

// With returns an environment for one component of a process running
// several: the same clients, its own logger attribute and readiness.
func (e *Env) With(component string) *Env {
	return &Env{Flags: e.Flags, Log: e.Log.With("component", component), Sarama: e.Sarama, Registry: e.Registry, OnProcessor: e.OnProcessor}
}

// Setup builds the logger and clients.
func (f *Flags) Setup() (*Env, error) {
	log, err := f.Log.Logger(f.Name)
	if err != nil {
		return nil, err
	}
	cfg, err := f.Kafka.Sarama()
	if err != nil {
		return nil, err
	}
	cl, err := f.Registry.Client()
	if err != nil {
		return nil, err
	}
	reg := codecs.NewRegistry(cl, codecs.WithAutoRegister(f.Registry.AutoRegister))
	return &Env{Flags: f, Log: log, Sarama: cfg, Registry: reg}, nil
}

// EnsureTopics creates missing topics (with --create.topics) and checks
// that each group in copartitioned has one partition count.
func (e *Env) EnsureTopics(ctx context.Context, specs []topics.Spec, copartitioned ...[]string) error {
	admin, err := sarama.NewClusterAdmin(e.Flags.Kafka.Brokers(), e.Sarama)
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %s: %w", e.Flags.Kafka.BootstrapServers, err)
	}
	defer admin.Close()
	k := e.Flags.Kafka
	return topics.Ensure(ctx, admin, specs, int32(k.Partitions), int16(k.ReplicationFactor), k.CreateTopics, copartitioned...)
}

// Retry runs fn until it succeeds or ctx ends, with backoff: for start-up
// steps that need Kafka or the registry to be reachable.
func (e *Env) Retry(ctx context.Context, what string, fn func(context.Context) error) error {
	var done bool
	err := run.Forever(ctx, e.Log, what, run.DefaultBackoff, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		done = true
		return &run.Permanent{Err: errDone}
	})
	if done {
		return nil
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

var errDone = errors.New("done")

// RunProcessors runs one Goka processor per graph until ctx ends,
// restarting any that fails (after a broker outage, say) with backoff.
func (e *Env) RunProcessors(ctx context.Context, stateDir string, graphs ...*goka.GroupGraph) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	running := make([]bool, len(graphs))
	setRunning := func(i int, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		running[i] = ok
		e.SetReady(!slices.Contains(running, false))
	}
	errs := make([]error, len(graphs))
	for i, g := range graphs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log := e.Log.With("group", string(g.Group()))
			errs[i] = run.Forever(ctx, log, string(g.Group()), run.DefaultBackoff, func(ctx context.Context) error {
				p, err := goka.NewProcessor(e.Flags.Kafka.Brokers(), g, e.Flags.Kafka.ProcessorOptions(e.Sarama, g.Group(), stateDir, e.Log)...)
				if err != nil {
					return fmt.Errorf("creating processor %s: %w", g.Group(), err)
				}
				if e.OnProcessor != nil {
					e.OnProcessor(p)
				}
				go func() {
					if p.WaitForReadyContext(ctx) == nil {
						log.InfoContext(ctx, "processor running")
						setRunning(i, true)
					}
				}()
				err = p.Run(ctx)
				setRunning(i, false)
				return err
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
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
