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

// RunProcessors runs one Goka processor per graph until ctx ends or one of
// them stops; then it stops the others and returns why the first stopped
// (a processor that stops while ctx is live is a failure, even without an
// error). The component is ready while every processor is running: Goka
// says a processor is ready once its tables are recovered, and also when it
// has stopped, so a stopped processor is never counted as running.
// Restarting is the caller's: see Supervise.
func (e *Env) RunProcessors(ctx context.Context, stateDir string, graphs ...*goka.GroupGraph) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
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

	var wg sync.WaitGroup
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
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
