// Command pipeline runs the whole pipeline on one machine, in one process:
// an in-process Kafka, schema registry and MongoDB-wire server, the CDC
// source, orders-producer, orders-details, orders-totals-by-customer and the
// MongoDB sink, with the dashboard and the Goka web monitor, against the
// private MariaDB of scripts/mariadb.sh. `make run` starts it; --help for
// the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/orderstream/pipeline/dev/stack"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/services/frame"
)

func main() {
	// Signals first, before the flags are parsed: one that arrives at any
	// moment of the start-up stops the run.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go interrupts(sigs, cancel, os.Stderr, os.Exit)
	frame.Exit("pipeline", Main(ctx, os.Args[1:], os.Stdout))
}

// interrupts: the first signal stops the run (cancel); the second quits at
// once, without waiting for the components to finish.
func interrupts(sigs <-chan os.Signal, cancel func(), out io.Writer, exit func(int)) {
	<-sigs
	fmt.Fprintln(out, "\npipeline: stopping (Ctrl-C again to quit at once)")
	cancel()
	<-sigs
	fmt.Fprintln(out, "pipeline: quit without waiting; the next start carries on from what was saved")
	exit(130)
}

// Main runs the stack with args until ctx ends.
func Main(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.Usage = config.Usage(fs, "pipeline: the whole pipeline in one process (make run).")
	o := stack.Options{Out: out}
	o.RegisterFlags(fs)
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	return stack.Run(ctx, o)
}
