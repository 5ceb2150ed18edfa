package services

import (
	"context"
	"errors"
	"flag"

	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/kit/lineage"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/processors/totals"
	"github.com/orderstream/pipeline/services/frame"
)

// Totals is the orders-totals-by-customer service.
type Totals struct {
	Topics   totals.Topics
	Group    string
	StateDir string
}

// RegisterFlags adds the service's flags, defaults included.
func (a *Totals) RegisterFlags(fs *flag.FlagSet) {
	a.Topics = totals.DefaultTopics
	frame.StreamFlag(fs, &a.Topics.Details, "topic.order.details", "input: joined orders")
	frame.StreamFlag(fs, &a.Topics.Totals, "topic.customer.totals", "output: one CustomerTotal per customer (compacted; read by the MongoDB sink)")
	frame.StreamFlag(fs, &a.Topics.DeadLetter, "topic.dlq", "dead-letter topic")
	fs.StringVar(&a.Group, "group.id", string(totals.DefaultGroup), "consumer group; also names the state table topic <group.id>-table")
	fs.StringVar(&a.StateDir, "state.dir", "", "keep the totals in LevelDB here (default: in memory, rebuilt from the table topic at start)")
}

// Groups are the consumer groups of the service.
func (a *Totals) Groups() []string { return []string{a.Group} }

// Run keeps the totals.
func (a *Totals) Run(ctx context.Context, env *frame.Env) error {
	t := a.Topics
	group := goka.Group(a.Group)
	// Goka creates the group table itself; creating it here too lets the
	// checks below cover it.
	table := string(goka.GroupTable(group))
	if err := env.EnsureTopics(ctx, []topics.Spec{
		{Name: string(t.Details)}, {Name: table, Compacted: true},
		{Name: string(t.Totals), Compacted: true}, {Name: string(t.DeadLetter)},
		{Name: lineageTopic(a.Group), Partitions: 1, Compacted: true},
	}); err != nil {
		return err
	}
	// The state is partitioned like order-details (a customer's total sits
	// in the table partition of its order-details partition), and lives in
	// the table topic: recreating that loses it.
	g, closeGuard, err := newGuard(env, a.Group, "orders-totals-by-customer", []lineage.Watch{
		{Topic: string(t.Details), Partitions: true},
		{Topic: table, ID: true, Partitions: true},
	}, func(ch *lineage.Changed) string {
		return "The totals would restart from zero for the customers that moved (or all of them), and the sink would " +
			"overwrite MongoDB with the smaller totals. " + rebuildFix(a.Group, string(t.Details))
	})
	if err != nil {
		return err
	}
	defer closeGuard()
	if _, _, err := g.check(ctx); err != nil {
		return err
	}
	if err := env.CheckCopartitioned(ctx, []string{string(t.Details), table}); err != nil {
		return &run.Permanent{Err: err}
	}
	c, err := totals.NewCodecs(ctx, env.Registry, group, t)
	if err != nil {
		return err
	}
	env.Log.Info("starting orders-totals-by-customer", "group.id", a.Group)
	ctx, lineageErr := g.running(ctx, env)
	err = env.RunProcessors(ctx, a.StateDir, nil, totals.New(group, t, c, env.Log).Graph())
	return errors.Join(lineageErr(), err)
}
