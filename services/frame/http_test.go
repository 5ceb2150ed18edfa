package frame

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/kit/run"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testEnv(name string) *Env {
	return &Env{Flags: &Flags{Name: name}, Log: quiet, health: NewHealth(), part: name}
}

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	res, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	e := testEnv("test")
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	code, _ := get(t, srv, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready before the work starts")
	e.Ready()
	code, body := get(t, srv, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "test: ready since")
	e.NotReady(errors.New("MongoDB does not answer"))
	code, body = get(t, srv, "/readyz?format=json")
	assert.Equal(t, http.StatusServiceUnavailable, code, "not ready again when the work cannot be done")
	assert.Contains(t, body, `"reason":"MongoDB does not answer"`)
	code, body = get(t, srv, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "go_goroutines")
}

func TestReadyOnlyWhenEveryComponentIs(t *testing.T) {
	e := testEnv("pipeline")
	a, b := e.Component("a"), e.Component("b")
	a.Ready()
	assert.False(t, e.Health().Ready(), "b is starting")
	b.NotReady(errors.New("starting"))
	assert.False(t, e.Health().Ready())
	b.Ready()
	assert.True(t, e.Health().Ready())
}

// TestSuperviseOwnsReadiness: a component is not ready while it waits to
// restart after a failure, and ready again once the new run says so.
func TestSuperviseOwnsReadiness(t *testing.T) {
	e := testEnv("svc")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := make(chan struct{})
	proceed := make(chan struct{})
	readyAgain := make(chan struct{})
	runs := 0
	done := make(chan error, 1)
	go func() {
		done <- e.supervise(ctx, run.Backoff{Min: time.Millisecond, Max: time.Millisecond}, func(ctx context.Context) error {
			runs++
			e.Ready()
			if runs == 1 {
				close(failed)
				<-proceed
				return errors.New("database down")
			}
			close(readyAgain)
			<-ctx.Done()
			return nil
		})
	}()
	<-failed
	assert.True(t, e.Health().Ready(), "ready while the first run works")
	close(proceed)
	<-readyAgain
	assert.True(t, e.Health().Ready(), "ready once the second run says so")
	cancel()
	require.NoError(t, <-done)
	assert.False(t, e.Health().Ready(), "not ready once stopped")
}

func TestSuperviseIsNotReadyDuringTheWait(t *testing.T) {
	e := testEnv("svc")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- e.supervise(ctx, run.Backoff{Min: time.Hour, Max: time.Hour}, func(ctx context.Context) error {
			e.Ready()
			return errors.New("database down")
		})
	}()
	require.Eventually(t, func() bool {
		p := e.Health().Parts()
		return len(p) == 1 && !p[0].Ready && strings.Contains(p[0].Reason, "database down")
	}, 10*time.Second, time.Millisecond, "not ready, with the reason, during the backoff")
	cancel()
	require.NoError(t, <-done)
}

func TestServeHTTPReportsATakenPort(t *testing.T) {
	taken := httptest.NewServer(http.NotFoundHandler())
	defer taken.Close()
	e := testEnv("test")
	e.Flags.HTTPAddr = taken.Listener.Addr().String()
	err := e.ServeHTTP(t.Context())
	require.ErrorContains(t, err, "address already in use")
	require.ErrorContains(t, err, "--http.addr")
}
