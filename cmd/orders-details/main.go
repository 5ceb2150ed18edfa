// Command orders-details joins orders with customers and products.
// See package processors/details for the topology; --help for the flags.
package main

import (
	"context"
	"os"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/internal/run"
	"github.com/orderstream/pipeline/internal/service"
	"github.com/orderstream/pipeline/internal/topics"
	"github.com/orderstream/pipeline/processors/details"
)

func main() { service.Exit("orders-details", Main(os.Args[1:])) }

// Main runs the service with args until SIGINT/SIGTERM.
func Main(args []string) error {
	f, fs := service.NewFlags("orders-details", "orders-details: joins each order with its customer and product (Goka Lookup tables) and writes order-details.")
	t := details.DefaultTopics
	service.StreamFlag(fs, &t.Orders, "topic.orders", "input: orders")
	service.TableFlag(fs, &t.Customers, "topic.customers", "lookup table: customers (written by the CDC source)")
	service.TableFlag(fs, &t.Products, "topic.products", "lookup table: products (written by the CDC source)")
	service.StreamFlag(fs, &t.Details, "topic.order.details", "output: joined orders and their status")
	service.StreamFlag(fs, &t.Retry, "topic.retry", "orders waiting for their customer or product")
	service.StreamFlag(fs, &t.DeadLetter, "topic.dlq", "dead-letter topic")
	group := fs.String("group.id", string(details.DefaultGroup), "consumer group of the join; retries run in <group.id>-retry")
	maxRetries := fs.Int("retry.max", 10, "join attempts after the first before an order is dead-lettered")
	retryDelay := fs.Duration("retry.backoff", 3*time.Second, "wait before each retry")
	stateDir := fs.String("state.dir", "", "keep the lookup tables in LevelDB here (default: in memory, rebuilt at start)")
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
	env.WatchLag(ctx, 15*time.Second, *group, *group+"-retry")

	var c *details.Codecs
	err = env.Retry(ctx, "start-up", func(ctx context.Context) error {
		if err := env.EnsureTopics(ctx, []topics.Spec{
			{Name: string(t.Orders)}, {Name: string(t.Details)}, {Name: string(t.Retry)}, {Name: string(t.DeadLetter)},
			{Name: string(t.Customers), Compacted: true}, {Name: string(t.Products), Compacted: true},
		}, []string{string(t.Orders), string(t.Details)}); err != nil {
			return err
		}
		c, err = details.NewCodecs(ctx, env.Registry, t)
		return err
	})
	if err != nil || ctx.Err() != nil {
		return err
	}
	j := details.New(details.Options{Group: goka.Group(*group), Topics: t, MaxRetries: *maxRetries, RetryDelay: *retryDelay, Logger: env.Log}, c)
	env.Log.Info("starting", "bootstrap.servers", f.Kafka.BootstrapServers, "retry.max", *maxRetries, "retry.backoff", *retryDelay)
	return env.RunProcessors(ctx, *stateDir, j.Graph(), j.RetryGraph())
}
