package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/internal/testkit"
)

// TestPipelineTotalsEqualTheOrders: 100k orders through orders-details and
// orders-totals-by-customer over multi-partition topics; every customer's
// total equals the sum of its orders read back from the orders topic.
func TestPipelineTotalsEqualTheOrders(t *testing.T) {
	testkit.Slow(t, "an end-to-end run of 100k orders")
	db := openShop(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		p := newPipeline(t, brokers)
		catalog := p.loadCatalog(db)

		ctx, cancel := context.WithCancel(context.Background())
		done := p.runProcessors(ctx)
		start := time.Now()
		stats := p.produce(ctx, db, catalog, 100_000, 0)
		require.Equal(t, int64(100_000), stats.Acked)
		t.Logf("produced %d orders in %v", stats.Acked, time.Since(start).Round(time.Millisecond))

		want, n := p.expectedTotals()
		require.Equal(t, int64(100_000), n)
		w := p.watchTotals()
		w.await(want, 5*time.Minute)
		t.Logf("%d orders of %d customers totalled in %v", n, len(want), time.Since(start).Round(time.Millisecond))

		cancel()
		require.NoError(t, <-done)
		p.assertEmpty(p.details.DeadLetter, p.totals.DeadLetter)
	})
}
