package run

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var fast = Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond, Healthy: time.Hour}

func TestRestartUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	var waits []time.Duration
	err := Restart(ctx, quiet, "x", fast, func(ctx context.Context) error {
		runs++
		if runs == 4 {
			cancel()
			return ctx.Err()
		}
		return errors.New("broker down")
	}, func(_ error, wait time.Duration) { waits = append(waits, wait) })
	require.NoError(t, err, "cancellation is a clean stop")
	assert.Equal(t, 4, runs)
	assert.Equal(t, []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}, waits, "doubling up to Max")
}

func TestRestartStopsOnPermanentError(t *testing.T) {
	runs := 0
	err := Restart(context.Background(), quiet, "x", fast, func(context.Context) error {
		runs++
		return &Permanent{Err: errors.New("bad config")}
	}, nil)
	require.ErrorContains(t, err, "bad config")
	assert.Equal(t, 1, runs)
}

func TestRestartEndsWhenTheWorkIsDone(t *testing.T) {
	runs := 0
	err := Restart(context.Background(), quiet, "x", fast, func(context.Context) error {
		runs++
		if runs < 3 {
			return errors.New("transient")
		}
		return nil
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, runs, "restarted after each failure, not after success")
}

func TestRestartReturnsAnErrorWhileStopping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err := Restart(ctx, quiet, "x", fast, func(context.Context) error {
		cancel()
		return errors.New("last flush failed")
	}, nil)
	require.ErrorContains(t, err, "last flush failed", "an error while stopping is not hidden")
}

func TestCgroupLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := dir + "/" + name
		require.NoError(t, os.WriteFile(p, []byte(v), 0o644))
		return p
	}
	assert.Equal(t, int64(536870912), cgroupLimit([]string{dir + "/missing", write("v2", "536870912\n")}))
	assert.Zero(t, cgroupLimit([]string{write("max", "max\n")}), "no limit")
	assert.Zero(t, cgroupLimit([]string{write("v1", "9223372036854771712\n")}), "v1's unlimited")
	assert.Zero(t, cgroupLimit([]string{dir + "/missing"}))
}
