package integration

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
)

// BenchmarkPipeline measures orders-details + orders-totals-by-customer end
// to end, in this process, on kfake and on real Kafka (make bench):
//   - orders/s: a backlog of 200k orders, from the start of the processors
//     to the last total;
//   - p50-ms, p99-ms: from an order's created_at (set when it is produced)
//     to the customer-totals record that counts it, at a steady 2,000
//     orders/s;
//   - peak-RSS-MB: the process's resident-set high-water mark (producer,
//     both processors, the test's readers, and for kfake the broker itself).
func BenchmarkPipeline(b *testing.B) {
	db := openShop(b)
	for _, cluster := range []struct {
		name    string
		brokers func(testing.TB) []string
	}{{"kfake", testkit.Kfake}, {"kafka", testkit.RealKafka}} {
		b.Run(cluster.name, func(b *testing.B) {
			for range b.N {
				resetPeakRSS()
				p := newPipeline(b, cluster.brokers(b))
				catalog := p.loadCatalog(db)
				ctx, cancel := context.WithCancel(context.Background())

				const backlog = 200_000
				p.produce(ctx, db, catalog, backlog, 0)
				start := time.Now()
				done := p.runProcessors(ctx)
				w := p.watchTotals()
				w.awaitCounted(backlog, 5*time.Minute)
				b.ReportMetric(backlog/time.Since(start).Seconds(), "orders/s")

				// Latency at a steady rate, on the running processors.
				lat := newLatencyWatcher(b, p)
				const steady = 20_000
				p.produce(ctx, db, catalog, steady, 2_000)
				p50, p99 := lat.collect(steady)
				b.ReportMetric(p50, "p50-ms")
				b.ReportMetric(p99, "p99-ms")
				b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
				b.ReportMetric(0, "ns/op") // the figures above are the result
				cancel()
				require.NoError(b, <-done)
			}
		})
	}
}

// latencyWatcher reads customer-totals from its current end and measures
// updated_at - last_order_at of each record: the time from the counted
// order's creation to its total being written.
type latencyWatcher struct {
	b     testing.TB
	cl    *kgo.Client
	codec *codecs.Avro[avro.CustomerTotal]
}

func newLatencyWatcher(b testing.TB, p *pipeline) *latencyWatcher {
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.brokers...), kgo.ConsumeTopics(string(p.totals.Totals)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	require.NoError(b, err)
	b.Cleanup(cl.Close)
	codec, err := codecs.NewAvro[avro.CustomerTotal](context.Background(), p.reg, codecs.ValueSubject(string(p.totals.Totals)), avro.CustomerTotalSchema)
	require.NoError(b, err)
	return &latencyWatcher{b: b, cl: cl, codec: codec}
}

// collect reads until it has seen n counted orders (every customer-totals
// record after a counted order names it as last_order_at).
func (l *latencyWatcher) collect(n int) (p50, p99 float64) {
	var ms []float64
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for len(ms) < n && ctx.Err() == nil {
		l.cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			v, err := l.codec.DecodeValue(r.Value)
			require.NoError(l.b, err)
			if v.LastOrderAt != nil {
				ms = append(ms, float64(v.UpdatedAt.Sub(*v.LastOrderAt).Microseconds())/1000)
			}
		})
	}
	require.NotEmpty(l.b, ms)
	slices.Sort(ms)
	return ms[len(ms)*50/100], ms[len(ms)*99/100]
}

// resetPeakRSS restarts the VmHWM count (Linux clear_refs 5), so that each
// sub-benchmark reports its own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB is VmHWM from /proc/self/status, in MiB.
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
