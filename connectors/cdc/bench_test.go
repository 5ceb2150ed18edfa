package cdc_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/internal/testkit"
)

// BenchmarkSource measures the CDC source on MariaDB (make bench):
//   - snapshot-rows/s: 100k customers, from start to all records on Kafka;
//   - binlog-rows/s: 100k rows inserted (1,000 per statement) while the
//     source runs, from the first insert to the last record on Kafka.
func BenchmarkSource(b *testing.B) {
	const n = 100_000
	for _, cluster := range []struct {
		name    string
		brokers func(testing.TB) []string
	}{{"kfake", testkit.Kfake}, {"kafka", testkit.RealKafka}} {
		b.Run(cluster.name, func(b *testing.B) {
			for range b.N {
				f := newFixture(b, cluster.brokers(b))
				f.exec("SET SESSION max_recursive_iterations = 1000000")
				insert := func(from int) {
					for i := from; i < from+n; i += 1000 {
						f.exec(fmt.Sprintf("INSERT INTO customers (id, first_name, last_name, email, credit_card, city, created_at, updated_at) "+
							"WITH RECURSIVE seq(k) AS (SELECT %d UNION ALL SELECT k+1 FROM seq WHERE k < %d) "+
							"SELECT k, 'Bench', CONCAT('Row ', k), CONCAT('bench', k, '@example.com'), '4111111111111111', 'Berlin', UTC_TIMESTAMP(3), UTC_TIMESTAMP(3) FROM seq",
							i, i+999))
					}
				}
				insert(10_000)
				total := int64(n + 150)
				start := time.Now()
				stop := f.run(f.opts)
				f.awaitRecords(total, 5*time.Minute)
				b.ReportMetric(float64(total)/time.Since(start).Seconds(), "snapshot-rows/s")

				start = time.Now()
				insert(200_000)
				f.awaitRecords(total+n, 5*time.Minute)
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "binlog-rows/s")
				b.ReportMetric(0, "ns/op")
				require.NoError(b, stop())
			}
		})
	}
}

// awaitRecords polls until the two topics hold n records.
func (f *fixture) awaitRecords(n int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for f.records() < n {
		require.True(f.t, time.Now().Before(deadline), "only %d of %d records after %v", f.records(), n, timeout)
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}
