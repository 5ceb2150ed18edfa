package cdc_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/internal/testkit"
)

// binlogLag reads orderstream_cdc_binlog_lag_seconds as /metrics serves it.
func binlogLag(t testing.TB) float64 {
	families, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "orderstream_cdc_binlog_lag_seconds" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no orderstream_cdc_binlog_lag_seconds metric")
	return 0
}

// TestBinlogLagIsZeroWhenIdle: after a change stamped an hour ago (SET
// TIMESTAMP, as a replicated or long-delayed statement is), the lag reads an
// hour while that change is the last thing read, and 0 once the server's
// heartbeat says there is nothing more: an idle server is not "an hour
// behind".
func TestBinlogLagIsZeroWhenIdle(t *testing.T) {
	f := newFixture(t, testkit.Kfake(t))
	opts := f.opts
	opts.HeartbeatInterval = 500 * time.Millisecond
	stop := f.run(opts)
	defer func() { require.NoError(t, stop()) }()
	f.await(time.Minute)

	conn, err := f.root.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	for _, q := range []string{"SET TIMESTAMP = UNIX_TIMESTAMP() - 3600", "UPDATE customers SET city = 'An hour ago' WHERE id = 1", "SET TIMESTAMP = DEFAULT"} {
		_, err := conn.ExecContext(context.Background(), q)
		require.NoError(t, err, q)
	}
	f.await(time.Minute) // the change is read

	deadline := time.Now().Add(time.Minute)
	for binlogLag(t) != 0 {
		require.True(t, time.Now().Before(deadline), "the binlog lag is still %.0f s with everything read and the server idle", binlogLag(t))
		time.Sleep(100 * time.Millisecond) // polling interval of a condition
	}
}
