package run

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var fast = Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond, Healthy: time.Hour}

func TestForeverRestartsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	err := Forever(ctx, quiet, "x", fast, func(context.Context) error {
		runs++
		if runs == 3 {
			cancel()
			return errors.New("interrupted")
		}
		return errors.New("broker down")
	})
	require.NoError(t, err, "cancellation is a clean stop")
	assert.Equal(t, 3, runs)
}

func TestForeverStopsOnPermanentError(t *testing.T) {
	runs := 0
	err := Forever(context.Background(), quiet, "x", fast, func(context.Context) error {
		runs++
		return &Permanent{Err: errors.New("bad config")}
	})
	require.ErrorContains(t, err, "bad config")
	assert.Equal(t, 1, runs)
}
