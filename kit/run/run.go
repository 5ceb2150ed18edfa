// Package run holds what every binary's main does around its work: stop on
// SIGINT/SIGTERM, and restart a failed component with backoff instead of
// exiting, for failures that time can heal (broker or registry down).
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

// Forever runs fn until ctx is cancelled, restarting it with backoff when it
// returns an error. It returns nil once ctx is cancelled, or the first
// *Permanent error.
func Forever(ctx context.Context, log *slog.Logger, name string, b Backoff, fn func(context.Context) error) error {
	wait := b.Min
	for {
		start := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var perm *Permanent
		if errors.As(err, &perm) {
			return err
		}
		if time.Since(start) > b.Healthy {
			wait = b.Min
		}
		if err == nil {
			log.WarnContext(ctx, "stopped without error; restarting", "component", name, "in", wait)
		} else {
			log.ErrorContext(ctx, "failed; restarting", "component", name, "err", err, "in", wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, b.Max)
	}
}
