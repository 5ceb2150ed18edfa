// Package run holds what every binary does around its work: stop on
// SIGINT/SIGTERM, and restart a failed component with backoff instead of
// exiting, for failures that time can heal (broker, registry or database
// down). Restart is the one restart loop of the pipeline: libraries return
// their errors, and the service frame (services/frame) restarts them here.
package run

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// SignalContext is cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Permanent marks an error that restarting will not fix (bad configuration).
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// Backoff bounds the waits between restarts.
type Backoff struct {
	Min, Max time.Duration
	// Healthy: a run that lasted this long resets the wait to Min.
	Healthy time.Duration
}

// DefaultBackoff waits 1 s, doubling up to 30 s.
var DefaultBackoff = Backoff{Min: time.Second, Max: 30 * time.Second, Healthy: time.Minute}

// Restart runs fn, and runs it again with backoff each time it returns an
// error, until fn returns nil (its work is done), returns a *Permanent
// error (returned as is), or ctx ends. Once ctx has ended it returns fn's
// last error unless that is only the cancellation itself: an error while
// stopping (a last flush that failed) is worth an exit status. onFailure,
// when not nil, is told of each failure and the wait before the next run,
// before the wait starts.
func Restart(ctx context.Context, log *slog.Logger, name string, b Backoff, fn func(context.Context) error, onFailure func(err error, wait time.Duration)) error {
	wait := b.Min
	for {
		start := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
		if err == nil {
			return nil
		}
		var perm *Permanent
		if errors.As(err, &perm) {
			return err
		}
		if b.Healthy > 0 && time.Since(start) > b.Healthy {
			wait = b.Min
		}
		log.ErrorContext(ctx, "failed; restarting", "component", name, "err", err, "in", wait)
		if onFailure != nil {
			onFailure(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(wait*2, b.Max)
	}
}
