package services

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orderstream/pipeline/kit/lineage"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/services/frame"
)

// lineageTopic is where group keeps the record of what its state was built
// from (compacted, one partition).
func lineageTopic(group string) string { return group + "-lineage" }

// lineageWatch is how often a running service checks its topics again.
const lineageWatch = 30 * time.Second

// guard is a lineage check of one group: at start, and every lineageWatch
// while the service runs.
type guard struct {
	store   lineage.Store
	group   string
	service string
	watch   []lineage.Watch
	fix     func(*lineage.Changed) string // the procedure, for the error
}

func newGuard(env *frame.Env, group, service string, watch []lineage.Watch, fix func(*lineage.Changed) string) (*guard, func(), error) {
	cl, err := env.KafkaClient()
	if err != nil {
		return nil, nil, err
	}
	return &guard{store: lineage.Store{Client: cl, Topic: lineageTopic(group)}, group: group, service: service, watch: watch, fix: fix}, cl.Close, nil
}

// check compares the recorded lineage with the topics. A change is a
// *run.Permanent error naming it and the procedure: restarting cannot fix
// it, an operator must decide.
func (g *guard) check(ctx context.Context) (*lineage.Record, []lineage.Source, error) {
	rec, now, err := g.store.Check(ctx, g.group, g.service, g.watch)
	var ch *lineage.Changed
	if errors.As(err, &ch) {
		ch.Fix = g.fix(ch)
		return rec, now, &run.Permanent{Err: ch}
	}
	return rec, now, err
}

// running returns a context that ends with the lineage error when a
// watched topic changes while the service runs, and a func that returns
// that error once the run is over (nil when none).
func (g *guard) running(ctx context.Context, env *frame.Env) (context.Context, func() error) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lineageWatch)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now, err := lineage.Now(ctx, g.store.Client, g.watch)
			if err != nil {
				env.Log.DebugContext(ctx, "checking the lineage", "err", err)
				continue
			}
			rec, err := g.store.Load(ctx, g.group)
			if err != nil || rec == nil {
				continue
			}
			if ch := lineage.Compare(rec, now, g.watch); len(ch) > 0 {
				changed := &lineage.Changed{Group: g.group, Changes: ch, Epoch: rec.Epoch}
				changed.Fix = g.fix(changed)
				cancel(&run.Permanent{Err: changed})
				return
			}
		}
	}()
	return ctx, func() error {
		cancel(nil)
		<-done
		var perm *run.Permanent
		if err := context.Cause(ctx); errors.As(err, &perm) {
			return err
		}
		return nil
	}
}

// rebuildFix is the procedure for a totals state that no longer matches
// its topics.
func rebuildFix(group, input string) string {
	return fmt.Sprintf("Either give the topics back what they had, or rebuild the state from %s: stop every instance, "+
		"delete the topics %s-table and %s, reset the group's offsets (scripts/kafka.sh tool consumer-groups --group %s "+
		"--topic %s --reset-offsets --to-earliest --execute) and start again; exact only if %s still holds every record "+
		"(see README, \"When topics change\")", input, group, lineageTopic(group), group, input, input)
}
