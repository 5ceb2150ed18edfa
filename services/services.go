// Package services composes the pipeline's libraries into its services:
// each service is a Component (its own flags and a Run that does what its
// binary does), and Table lists them all. The binaries in cmd/ run one
// component each through Main; the dev stack (dev/stack) runs all of them
// in one process. Restarting and readiness belong to the frame
// (services/frame); a component's Run sets itself up, says when it is
// ready, and returns an error when it cannot go on.
package services

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/services/frame"
)

// Component is one service.
type Component interface {
	// RegisterFlags adds the service's own flags, defaults included (the
	// shared Kafka, registry, logging and HTTP flags come from
	// frame.NewFlags).
	RegisterFlags(fs *flag.FlagSet)
	// Run does the service's work until ctx ends or the work is done
	// (env.Ready once it does its work), and returns an error when it
	// cannot go on: the frame restarts it with backoff, or, for a
	// *run.Permanent error, stops.
	Run(ctx context.Context, env *frame.Env) error
	// Groups are the consumer groups whose lag the service reports.
	Groups() []string
}

// Command is a one-off task of a service's binary, run as
// `<binary> <name> [flags]` with the service's flags and its own
// (`orders-details replay-dlq --replay.from ...`).
type Command struct {
	Name, About string
	// RegisterFlags adds the command's own flags.
	RegisterFlags func(fs *flag.FlagSet)
	// Run does the task once (no restarts) and returns.
	Run func(ctx context.Context, env *frame.Env) error
}

// Commander is a component whose binary has commands besides running the
// service.
type Commander interface {
	Commands() []Command
}

// Service is one row of the table of services.
type Service struct {
	Name     string // binary, client.id and default group
	About    string // one line for --help
	HTTPAddr string // default --http.addr: one port each, so all run on one machine
	New      func() Component
	// Replaces is the Kafka Connect connector a Go connector stands for
	// ("" for the processors and the producer): either runs, not both
	// (docker-compose runs the Go one under the go-connectors profile).
	Replaces string
}

// Table is every service of the pipeline, in the order of the flow.
// Adding a service is its package, one row here, its cmd/ main, and docs
// (ARCHITECTURE.md, "Adding a processor or a connector").
var Table = []Service{
	{"cdc-source", "cdc-source: captures shop.customers and shop.products from the MySQL binlog into Kafka (Avro, masked, keyed by id).",
		"127.0.0.1:9404", func() Component { return &CDC{} }, "Debezium MySQL/MariaDB source"},
	{"orders-producer", "orders-producer: produces random orders for the customers and products in MySQL.",
		"127.0.0.1:9401", func() Component { return &Producer{} }, ""},
	{"orders-details", "orders-details: joins each order with its customer and product (Goka Lookup tables) and writes order-details.",
		"127.0.0.1:9402", func() Component { return &Details{} }, ""},
	{"orders-totals-by-customer", "orders-totals-by-customer: keeps each customer's exact running total (Goka group table) and publishes customer-totals.",
		"127.0.0.1:9403", func() Component { return &Totals{} }, ""},
	{"mongo-sink", "mongo-sink: writes customer-totals to MongoDB, one document per customer (_id = key).",
		"127.0.0.1:9405", func() Component { return &Sink{} }, "MongoDB sink connector (MongoSinkConnector)"},
}

// Lookup returns the table row of the service called name.
func Lookup(name string) (Service, bool) {
	for _, s := range Table {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// Defaults sets c's fields to its flags' defaults, for a component
// configured in code rather than from a command line.
func Defaults(c Component) {
	fs := flag.NewFlagSet("defaults", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
}

// Main is the main of the binary of service name: flags and environment,
// logger and clients, /metrics, /healthz and /readyz, then the component,
// restarted when it fails, until SIGINT/SIGTERM.
func Main(name string, args []string) error {
	s, ok := Lookup(name)
	if !ok {
		return fmt.Errorf("no service %q in services.Table", name)
	}
	c := s.New()
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return runCommand(s, c, args[0], args[1:])
	}
	f, fs := frame.NewFlags(s.Name, s.About, s.HTTPAddr)
	c.RegisterFlags(fs)
	if err := frame.Parse(fs, args); err != nil {
		return err
	}
	env, err := f.Setup()
	if err != nil {
		return err
	}
	if limit := run.MemoryLimitFromCgroup(); limit > 0 {
		env.Log.Info("GOMEMLIMIT set from the cgroup memory limit", "bytes", limit)
	}
	ctx, stop := run.SignalContext()
	defer stop()
	if err := env.ServeHTTP(ctx); err != nil {
		return err
	}
	env.WatchLag(ctx, 15*time.Second, c.Groups()...)
	return env.Supervise(ctx, func(ctx context.Context) error { return c.Run(ctx, env) })
}

// RunComponent runs c as component name of a process that runs several
// (the dev stack, end-to-end tests): with its own logger attribute and
// readiness entry in env's health, restarted by the frame as its binary
// would be.
func RunComponent(ctx context.Context, env *frame.Env, name string, c Component) error {
	cenv := env.Component(name)
	if err := cenv.Supervise(ctx, func(ctx context.Context) error { return c.Run(ctx, cenv) }); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// runCommand runs command name of service s, with the service's flags
// (its HTTP endpoints off) and the command's own.
func runCommand(s Service, c Component, name string, args []string) error {
	var cmd *Command
	var names []string
	if cc, ok := c.(Commander); ok {
		for _, x := range cc.Commands() {
			names = append(names, x.Name)
			if x.Name == name {
				cmd = &x
			}
		}
	}
	if cmd == nil {
		if len(names) == 0 {
			return fmt.Errorf("%s takes no command (%q): run it with flags only, see --help", s.Name, name)
		}
		return fmt.Errorf("%s has no command %q (it has: %s)", s.Name, name, strings.Join(names, ", "))
	}
	f, fs := frame.NewFlags(s.Name+" "+cmd.Name, cmd.About, "off")
	c.RegisterFlags(fs)
	if cmd.RegisterFlags != nil {
		cmd.RegisterFlags(fs)
	}
	if err := frame.Parse(fs, args); err != nil {
		return err
	}
	f.Name = s.Name
	env, err := f.Setup()
	if err != nil {
		return err
	}
	ctx, stop := run.SignalContext()
	defer stop()
	return cmd.Run(ctx, env)
}
