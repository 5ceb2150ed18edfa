// Command orders-totals-by-customer keeps each customer's running order
// total. See package processors/totals for the topology; --help for flags.
package main

import (
	"context"
	"os"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/internal/run"
	"github.com/orderstream/pipeline/internal/service"
	"github.com/orderstream/pipeline/internal/topics"
	"github.com/orderstream/pipeline/processors/totals"
)

func main() { service.Exit("orders-totals-by-customer", Main(os.Args[1:])) }

// Main runs the service with args until SIGINT/SIGTERM.
func Main(args []string) error {
	f, fs := service.NewFlags("orders-totals-by-customer", "orders-totals-by-customer: sums each customer's orders, exactly once, and publishes the totals.")
	t := totals.DefaultTopics
	service.StreamFlag(fs, &t.Details, "topic.order.details", "input: joined orders")
	service.StreamFlag(fs, &t.Totals, "topic.customer.totals", "output: one CustomerTotal per customer (compacted; read by the MongoDB sink)")
	service.StreamFlag(fs, &t.DeadLetter, "topic.dlq", "dead-letter topic")
	group := fs.String("group.id", string(totals.DefaultGroup), "consumer group; also names the state table topic <group.id>-table")
	stateDir := fs.String("state.dir", "", "keep the totals in LevelDB here (default: in memory, rebuilt from the table topic at start)")
	if err := service.Parse(fs, args); err != nil {
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
	env.WatchLag(ctx, 15*time.Second, *group)

	var c *totals.Codecs
	err = env.Retry(ctx, "start-up", func(ctx context.Context) error {
		// Goka creates the group table itself; creating it here too lets
		// the partition-count check cover it.
		table := string(goka.GroupTable(goka.Group(*group)))
		if err := env.EnsureTopics(ctx, []topics.Spec{
			{Name: string(t.Details)}, {Name: table, Compacted: true},
			{Name: string(t.Totals), Compacted: true}, {Name: string(t.DeadLetter)},
		}, []string{string(t.Details), table}); err != nil {
			return err
		}
		c, err = totals.NewCodecs(ctx, env.Registry, goka.Group(*group), t)
		return err
	})
	if err != nil || ctx.Err() != nil {
		return err
	}
	a := totals.New(goka.Group(*group), t, c, env.Log)
	env.Log.Info("starting", "bootstrap.servers", f.Kafka.BootstrapServers)
	return env.RunProcessors(ctx, *stateDir, a.Graph())
}
