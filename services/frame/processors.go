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
// component is ready while every processor is running, as Goka's state of
// it says: running once its group session is set up (its partitions
// assigned and their tables recovered), and not while it joins its group,
// between two sessions (its partitions revoked: a rebalance, a session lost
// with the group coordinator), or once it fails or stops. Goka's
// WaitForReady is not enough: it also returns when the processor has
// stopped, and says nothing of later sessions. Restarting is the caller's:
// see Supervise.
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
	why := map[goka.Group]string{} // why a processor is not running; "" while it is
	stopped := map[goka.Group]bool{}
	for _, g := range graphs {
		why[g.Group()] = "starting"
	}
	report := func() {
		var waiting []string
		for _, g := range graphs {
			if w := why[g.Group()]; w != "" {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", g.Group(), w))
			}
		}
		if len(waiting) == 0 {
			e.Ready()
			return
		}
		e.NotReady(fmt.Errorf("processors not running: %s", strings.Join(waiting, ", ")))
	}
	set := func(g goka.Group, state goka.State) {
		mu.Lock()
		defer mu.Unlock()
		if stopped[g] {
			return
		}
		w := notRunning(state)
		if w == why[g] {
			return
		}
		switch {
		case w == "":
			e.Log.InfoContext(ctx, "processor running", "group", string(g))
		case why[g] == "":
			e.Log.InfoContext(ctx, "processor not running", "group", string(g), "state", w)
		}
		why[g] = w
		report()
	}
	stop := func(g goka.Group, err error) {
		mu.Lock()
		defer mu.Unlock()
		stopped[g] = true
		why[g] = "stopped"
		if err != nil {
			why[g] = "stopped: " + err.Error()
		}
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
		// Observed before it runs, so that no change is missed; drained
		// at once, as Goka's SetState waits for it.
		states := p.StateReader().ObserveStateChange()
		ran := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(ran)
			err := p.Run(ctx)
			if ctx.Err() == nil {
				if err == nil {
					err = errors.New("stopped without an error")
				}
				stop(group, err)
				cancel(fmt.Errorf("processor %s: %w", group, err))
				return
			}
			stop(group, nil)
		}()
		go func() {
			defer wg.Done()
			defer states.Stop()
			for {
				select {
				case <-ran:
					return
				case st, ok := <-states.C():
					if !ok {
						return
					}
					set(group, st)
				}
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

// notRunning says why a processor in state is not doing its work ("" when
// it is).
func notRunning(state goka.State) string {
	switch state {
	case goka.ProcStateRunning:
		return ""
	case goka.ProcStateIdle, goka.ProcStateStarting:
		return "starting"
	case goka.ProcStateSetup:
		return "joining its group and recovering its partitions"
	default: // stopping, stopped
		return "its group session ended (a rebalance, a session lost with the coordinator, or a failure): no partitions"
	}
}
