package services

import (
	"context"
	"flag"

	"github.com/lovoo/goka"

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
	// partition-count check cover it.
	table := string(goka.GroupTable(group))
	if err := env.EnsureTopics(ctx, []topics.Spec{
		{Name: string(t.Details)}, {Name: table, Compacted: true},
		{Name: string(t.Totals), Compacted: true}, {Name: string(t.DeadLetter)},
	}, []string{string(t.Details), table}); err != nil {
		return err
	}
	c, err := totals.NewCodecs(ctx, env.Registry, group, t)
	if err != nil {
		return err
	}
	env.Log.Info("starting orders-totals-by-customer", "group.id", a.Group)
	return env.RunProcessors(ctx, a.StateDir, totals.New(group, t, c, env.Log).Graph())
}
