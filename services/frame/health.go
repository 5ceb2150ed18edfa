package frame

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/orderstream/pipeline/kit/run"
)

// Health is the readiness of the components of one process: each is ready
// (doing its work) or not, with the reason. /readyz is 200 only while every
// component is ready.
type Health struct {
	mu    sync.Mutex
	parts map[string]*PartStatus
}

// PartStatus is one component's readiness.
type PartStatus struct {
	Name   string    `json:"name"`
	Ready  bool      `json:"ready"`
	Reason string    `json:"reason,omitempty"` // why it is not ready
	Since  time.Time `json:"since"`
}

// NewHealth returns a Health with no components (not ready).
func NewHealth() *Health { return &Health{parts: map[string]*PartStatus{}} }

// Set records whether component name is ready, and why not.
func (h *Health) Set(name string, ready bool, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.parts[name]
	if p == nil {
		p = &PartStatus{Name: name}
		h.parts[name] = p
	}
	if p.Ready != ready || p.Since.IsZero() {
		p.Since = time.Now()
	}
	p.Ready, p.Reason = ready, reason
	if ready {
		p.Reason = ""
	}
}

// Ready reports whether there is at least one component and every one is
// ready.
func (h *Health) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.parts) == 0 {
		return false
	}
	for _, p := range h.parts {
		if !p.Ready {
			return false
		}
	}
	return true
}

// Parts returns every component's status, by name.
func (h *Health) Parts() []PartStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]PartStatus, 0, len(h.parts))
	for _, p := range h.parts {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PartStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Ready marks this environment's component as doing its work.
func (e *Env) Ready() { e.health.Set(e.part, true, "") }

// NotReady marks this environment's component as unable to do its work,
// for reason.
func (e *Env) NotReady(reason error) {
	msg := "not ready"
	if reason != nil {
		msg = reason.Error()
	}
	e.health.Set(e.part, false, msg)
}

// Component returns the environment of one component of a process running
// several: the same clients and health, its own logger attribute and
// readiness entry (not ready until it says so).
func (e *Env) Component(name string) *Env {
	c := *e
	c.Log = e.Log.With("component", name)
	c.part = name
	c.NotReady(errStarting)
	return &c
}

var errStarting = errors.New("starting")

// Supervise runs fn, the work of this environment's component, until ctx
// ends or fn returns nil (the work is done), restarting it with backoff
// when it fails (run.Restart; a *run.Permanent error ends it). It owns the
// component's readiness: not ready from the start until fn calls Ready,
// and again from every failure, through the wait, until the new run calls
// Ready.
func (e *Env) Supervise(ctx context.Context, fn func(context.Context) error) error {
	return e.supervise(ctx, run.DefaultBackoff, fn)
}

func (e *Env) supervise(ctx context.Context, b run.Backoff, fn func(context.Context) error) error {
	e.NotReady(errStarting)
	err := run.Restart(ctx, e.Log, e.part, b, fn, func(err error, wait time.Duration) {
		e.NotReady(fmt.Errorf("restarting in %v after: %w", wait, err))
	})
	switch {
	case err != nil:
		e.NotReady(err)
	case ctx.Err() != nil:
		e.NotReady(errors.New("stopped"))
	default:
		e.NotReady(errors.New("done"))
	}
	return err
}
