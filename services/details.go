package services

import (
	"context"
	"flag"
	"time"

	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/processors/details"
	"github.com/orderstream/pipeline/services/frame"
)

// Details is the orders-details service.
type Details struct {
	Topics     details.Topics
	Group      string
	MaxRetries int
	RetryDelay time.Duration
	StateDir   string
}

// RegisterFlags adds the service's flags, defaults included.
func (d *Details) RegisterFlags(fs *flag.FlagSet) {
	d.Topics = details.DefaultTopics
	t := &d.Topics
	frame.StreamFlag(fs, &t.Orders, "topic.orders", "input: orders")
	frame.TableFlag(fs, &t.Customers, "topic.customers", "lookup table: customers (written by the CDC source)")
	frame.TableFlag(fs, &t.Products, "topic.products", "lookup table: products (written by the CDC source)")
	frame.StreamFlag(fs, &t.Details, "topic.order.details", "output: joined orders and their status")
	frame.StreamFlag(fs, &t.Retry, "topic.retry", "orders waiting for their customer or product")
	frame.StreamFlag(fs, &t.DeadLetter, "topic.dlq", "dead-letter topic")
	fs.StringVar(&d.Group, "group.id", string(details.DefaultGroup), "consumer group of the join; retries run in <group.id>-retry")
	fs.IntVar(&d.MaxRetries, "retry.max", 10, "join attempts after the first before an order is dead-lettered")
	fs.DurationVar(&d.RetryDelay, "retry.backoff", 3*time.Second, "wait before each retry")
	fs.StringVar(&d.StateDir, "state.dir", "", "keep the lookup tables in LevelDB here (default: in memory, rebuilt at start)")
}

// Groups are the consumer groups of the service.
func (d *Details) Groups() []string { return []string{d.Group, d.Group + "-retry"} }

// Run runs the join and its retries.
func (d *Details) Run(ctx context.Context, env *frame.Env) error {
	t := d.Topics
	// No partition counts need to agree here: the join reads orders alone
	// and looks rows up by key in whole tables (orders-totals-by-customer
	// checks what its state depends on).
	if err := env.EnsureTopics(ctx, []topics.Spec{
		{Name: string(t.Orders)}, {Name: string(t.Details)}, {Name: string(t.Retry)}, {Name: string(t.DeadLetter)},
		{Name: string(t.Customers), Compacted: true}, {Name: string(t.Products), Compacted: true},
	}); err != nil {
		return err
	}
	c, err := details.NewCodecs(ctx, env.Registry, t)
	if err != nil {
		return err
	}
	j := details.New(details.Options{Group: goka.Group(d.Group), Topics: t, MaxRetries: d.MaxRetries, RetryDelay: d.RetryDelay, Logger: env.Log}, c)
	env.Log.Info("starting orders-details", "group.id", d.Group, "retry.max", d.MaxRetries, "retry.backoff", d.RetryDelay)
	return env.RunProcessors(ctx, d.StateDir, j.Graph(), j.RetryGraph())
}
