package services

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/deadletter"
	"github.com/orderstream/pipeline/kit/lineage"
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
	// AcceptNewOrders accepts a recreated orders topic as a new epoch.
	AcceptNewOrders bool
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
	fs.BoolVar(&d.AcceptNewOrders, "lineage.accept", false, "accept that the orders topic was deleted and created again since the last start: "+
		"its orders get a new epoch (their offsets start at 0 again) and count as new orders; without it orders-details refuses to start")
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
		{Name: lineageTopic(d.Group), Partitions: 1, Compacted: true},
	}); err != nil {
		return err
	}
	epoch, g, closeGuard, err := d.epoch(ctx, env)
	if err != nil {
		return err
	}
	defer closeGuard()
	c, err := details.NewCodecs(ctx, env.Registry, t)
	if err != nil {
		return err
	}
	// One copy of each lookup table in the process, for both groups.
	k := env.Flags.Kafka
	var clients config.Clients
	defer clients.Close()
	viewDir := ""
	if d.StateDir != "" {
		viewDir = filepath.Join(d.StateDir, "tables")
	}
	views, err := details.NewViews(k.Brokers(), t, c, k.ViewOptions(env.Sarama, env.Log, &clients, viewDir)...)
	if err != nil {
		return err
	}
	j := details.New(details.Options{Group: goka.Group(d.Group), Topics: t, MaxRetries: d.MaxRetries, RetryDelay: d.RetryDelay,
		Epoch: epoch, Logger: env.Log}, c, views)
	env.Log.Info("starting orders-details", "group.id", d.Group, "retry.max", d.MaxRetries, "retry.backoff", d.RetryDelay, "epoch", epoch)
	ctx, lineageErr := g.running(ctx, env)
	err = env.RunProcessors(ctx, d.StateDir, []*goka.View{views[t.Customers], views[t.Products]}, j.Graph(), j.RetryGraph())
	return errors.Join(lineageErr(), err)
}

// epoch checks that orders is the topic the recorded orders came from:
// the totals identify orders by their offsets in it, which start at 0
// again when it is recreated. With --lineage.accept a recreated topic is
// a new epoch of identities: recorded, and read from its start.
func (d *Details) epoch(ctx context.Context, env *frame.Env) (int32, *guard, func(), error) {
	orders := string(d.Topics.Orders)
	g, closeGuard, err := newGuard(env, d.Group, "orders-details", []lineage.Watch{{Topic: orders, ID: true}},
		func(ch *lineage.Changed) string {
			return fmt.Sprintf("Its offsets start at 0 again, and orders-totals-by-customer identifies orders by them: "+
				"new orders would be taken for ones already counted. If every order of the old topic was processed "+
				"(lag 0) and you mean to go on with the new one, stop every instance and start one once with "+
				"--lineage.accept: the new topic's orders get epoch %d and count as new orders "+
				"(see README, \"When topics change\")", ch.Epoch+1)
		})
	if err != nil {
		return 0, nil, nil, err
	}
	rec, now, err := g.check(ctx)
	var ch *lineage.Changed
	if errors.As(err, &ch) && d.AcceptNewOrders {
		rec.Epoch++
		rec.Sources = now
		if err = g.store.Save(ctx, *rec); err == nil {
			env.Log.Warn("accepted the recreated orders topic as a new epoch (--lineage.accept)", "topic", orders, "epoch", rec.Epoch)
			// Offsets committed on the old topic mean nothing on the new
			// one: read it from its start.
			adm := kadm.NewClient(g.store.Client)
			for _, group := range d.Groups()[:1] {
				if _, derr := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{orders: nil}); derr != nil {
					env.Log.Warn("forgetting the group's offsets on the old orders topic", "group", group, "err", derr)
				}
			}
		}
	}
	if err != nil {
		closeGuard()
		return 0, nil, nil, err
	}
	return rec.Epoch, g, closeGuard, nil
}

// Commands: replay-dlq.
func (d *Details) Commands() []Command {
	var o details.ReplayOptions
	var from, until, stages string
	return []Command{{
		Name: "replay-dlq",
		About: "orders-details replay-dlq: sends dead-lettered orders back through the retry path with their original identity " +
			"(orders partition and offset), so that an order that joins now is counted once, and an order counted already " +
			"is not counted again, however often it is replayed.",
		RegisterFlags: func(fs *flag.FlagSet) {
			fs.StringVar(&from, "replay.from", "", "replay records dead-lettered at or after this time (RFC 3339, e.g. 2026-12-01T09:00:00Z; default: the start)")
			fs.StringVar(&until, "replay.until", "", "and before this time (RFC 3339; default: now)")
			fs.StringVar(&stages, "replay.stage", deadletter.StageJoin+","+deadletter.StageDecode, "dead-letter stages to replay, comma separated (VALIDATE orders would fail again)")
			fs.BoolVar(&o.DryRun, "replay.dry.run", false, "report what would be replayed, send nothing")
		},
		Run: func(ctx context.Context, env *frame.Env) error {
			var err error
			if o.From, err = parseTime("replay.from", from); err != nil {
				return err
			}
			if o.Until, err = parseTime("replay.until", until); err != nil {
				return err
			}
			for _, st := range strings.Split(stages, ",") {
				if st = strings.TrimSpace(st); st != "" {
					o.Stages = append(o.Stages, st)
				}
			}
			o.Topics = d.Topics
			c, err := details.NewCodecs(ctx, env.Registry, d.Topics)
			if err != nil {
				return err
			}
			cl, err := env.KafkaClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			rep, err := details.Replay(ctx, cl, c, o)
			verb := "replayed"
			if o.DryRun {
				verb = "would replay"
			}
			fmt.Printf("read %d dead-lettered records from %s; %s %d to %s\n", rep.Read, d.Topics.DeadLetter, verb, rep.Replayed, d.Topics.Retry)
			for _, why := range slices.Sorted(maps.Keys(rep.Skipped)) {
				fmt.Printf("  skipped %d: %s\n", rep.Skipped[why], why)
			}
			return err
		},
	}}
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339, e.g. 2026-12-01T09:00:00Z", name, v)
	}
	return t, nil
}
