// Package app is each service as a component: its own flags, and a Run that
// does what the service's binary does. The binaries in cmd/ run one
// component each; cmd/pipeline runs them all in one process.
package services

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/services/frame"
)

// Component is one frame.
type Component interface {
	// RegisterFlags adds the service's own flags (the shared Kafka,
	// registry, logging and HTTP flags come from frame.NewFlags).
	RegisterFlags(fs *flag.FlagSet)
	// Run does the service's work until ctx ends.
	Run(ctx context.Context, env *frame.Env) error
}

// Grouped components report the lag of their consumer groups.
type Grouped interface {
	Groups() []string
}

// Defaults sets c's fields to its flags' defaults, for a component
// configured in code rather than from a command line.
func Defaults(c Component) {
	fs := flag.NewFlagSet("defaults", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
}

// Main is a binary's main: flags and environment, logger and clients,
// /metrics, then the component until SIGINT/SIGTERM.
func Main(name, about string, c Component, args []string) error {
	f, fs := frame.NewFlags(name, about)
	c.RegisterFlags(fs)
	if err := frame.Parse(fs, args); err != nil {
		return err
	}
	env, err := f.Setup()
	if err != nil {
		return err
	}
	ctx, stop := run.SignalContext()
	defer stop()
	if err := env.ServeHTTP(ctx); err != nil {
		return err
	}
	if g, ok := c.(Grouped); ok {
		env.WatchLag(ctx, 15*time.Second, g.Groups()...)
	}
	err = c.Run(ctx, env)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}
