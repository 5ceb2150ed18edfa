package frame

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/kit/config"
)

// RunProcessors runs views, lookup tables the processors share (not yet
// running; may be none), and, once every view is recovered, one Goka
// processor per graph, until ctx ends or one of them stops; then it stops
// the others and returns why the first stopped (a view or processor that
// stops while ctx is live is a failure, even without an error). The
// component is ready while every processor is running: Goka says a
// processor is ready once its tables are recovered, and also when it has
// stopped, so a stopped processor is never counted as running.
// Restarting is the caller's: see Supervise.
func (e *Env) RunProcessors(ctx context.Context, stateDir string, views []*goka.View, graphs ...*goka.GroupGraph) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	if len(views) > 0 {
		var topics []string
		for _, v := range views {
			topics = append(topics, v.Topic())
			if e.OnView != nil {
				e.OnView(v)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := v.Run(ctx)
				if ctx.Err() == nil {
					if err == nil {
						err = errors.New("stopped without an error")
					}
					cancel(fmt.Errorf("view of %s: %w", v.Topic(), err))
				}
			}()
		}
		e.NotReady(fmt.Errorf("loading tables: %s", strings.Join(topics, ", ")))
		for _, v := range views {
			select {
			case <-v.WaitRunning():
			case <-ctx.Done():
				return causeOf(ctx)
			}
		}
		e.Log.InfoContext(ctx, "tables loaded", "tables", topics)
	}
	var mu sync.Mutex
	running := map[goka.Group]bool{}
	stopped := map[goka.Group]bool{}
	report := func() {
		var waiting []string
		for _, g := range graphs {
			if !running[g.Group()] {
				waiting = append(waiting, string(g.Group()))
			}
		}
		if len(waiting) == 0 {
			e.Ready()
			return
		}
		e.NotReady(fmt.Errorf("processors not running: %s", strings.Join(waiting, ", ")))
	}
	started := func(g goka.Group) bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped[g] { // Goka reports a stopped processor as ready
			return false
		}
		running[g] = true
		report()
		return true
	}
	stop := func(g goka.Group) {
		mu.Lock()
		defer mu.Unlock()
		stopped[g], running[g] = true, false
		report()
	}

	// Every client Goka builds for these processors is closed once they
	// have stopped (see config.Clients).
	var clients config.Clients
	defer func() {
		if err := clients.Close(); err != nil {
			e.Log.Debug("closing Goka's clients", "err", err)
		}
	}()
	procs := make([]*goka.Processor, len(graphs))
	for i, g := range graphs {
		opts, err := e.Flags.Kafka.ProcessorOptions(e.Sarama, g.Group(), stateDir, e.Log, &clients)
		if err != nil {
			return err
		}
		p, err := goka.NewProcessor(e.Flags.Kafka.Brokers(), g, opts...)
		if err != nil {
			return fmt.Errorf("creating processor %s: %w", g.Group(), err)
		}
		if e.OnProcessor != nil {
			e.OnProcessor(p)
		}
		procs[i] = p
	}
	mu.Lock()
	report()
	mu.Unlock()

	for i, p := range procs {
		group := graphs[i].Group()
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := p.Run(ctx)
			stop(group)
			if ctx.Err() == nil {
				if err == nil {
					err = errors.New("stopped without an error")
				}
				cancel(fmt.Errorf("processor %s: %w", group, err))
			}
		}()
		go func() {
			defer wg.Done()
			if p.WaitForReadyContext(ctx) == nil && started(group) {
				e.Log.InfoContext(ctx, "processor running", "group", string(group))
			}
		}()
	}
	wg.Wait()
	return causeOf(ctx)
}

// causeOf is why ctx ended, unless that is only its cancellation.
func causeOf(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
