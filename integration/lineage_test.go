package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

// running is a component run by component.
type running struct {
	env    *frame.Env
	cancel context.CancelFunc
	done   chan struct{} // closed when the run has returned, with err
	err    error
}

// component runs c as its binary would (restarted after failures).
func (p *pipeline) component(name string, c services.Component) *running {
	return p.componentOn(p.env(), name, c)
}

// componentOn runs c as component, in env.
func (p *pipeline) componentOn(env *frame.Env, name string, c services.Component) *running {
	r := &running{env: env, done: make(chan struct{})}
	var ctx context.Context
	ctx, r.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(r.done)
		r.err = services.RunComponent(ctx, r.env, name, c)
	}()
	p.t.Cleanup(func() { r.stop() })
	return r
}

// stop ends the run and returns its error.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// awaitReady waits until the component is ready, or fails with why not
// (or with the error it stopped on).
func (r *running) awaitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	env := r.env
	deadline := time.Now().Add(timeout)
	for !env.Health().Ready() {
		select {
		case <-r.done:
			t.Fatalf("stopped before it was ready: %v", r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %v: %+v", timeout, env.Health().Parts())
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func (p *pipeline) totalsComponent() *services.Totals {
	c := &services.Totals{}
	services.Defaults(c)
	c.Topics, c.Group = p.totals, string(p.totalsID)
	return c
}

func (p *pipeline) detailsComponent() *services.Details {
	c := &services.Details{}
	services.Defaults(c)
	c.Topics, c.Group, c.RetryDelay, c.MaxRetries = p.details, string(p.detailsID), time.Second, 5
	return c
}

// refuses runs c and expects it to stop at once, for good, with an error
// containing every one of want.
func refuses(t *testing.T, p *pipeline, name string, c services.Component, want ...string) {
	t.Helper()
	r := p.component(name, c)
	select {
	case <-r.done:
		err := r.err
		var perm *run.Permanent
		require.True(t, errors.As(err, &perm), "a permanent error (no restart loop): %v", err)
		for _, w := range want {
			assert.ErrorContains(t, err, w)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("it did not refuse to start")
	}
}

// TestTotalsRefuseAChangedPartitioning: the totals state is partitioned
// like order-details; when order-details grows (customers would move to
// other partitions and their totals restart from zero), or the table topic
// is recreated (the state is gone), orders-totals-by-customer refuses to
// start and says what to do.
func TestTotalsRefuseAChangedPartitioning(t *testing.T) {
	testkit.Slow(t, "starts orders-totals-by-customer four times")
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		ctx := context.Background()
		for _, tc := range []struct {
			name   string
			change func(p *pipeline, adm *kadm.Client)
			want   []string
		}{
			{"order-details grown", func(p *pipeline, adm *kadm.Client) {
				_, err := adm.CreatePartitions(ctx, 6, string(p.totals.Details))
				require.NoError(t, err)
			}, []string{"order-details had 6 partitions, now 12", "rebuild the state", "--reset-offsets --to-earliest"}},
			{"table recreated", func(p *pipeline, adm *kadm.Client) {
				table := string(goka.GroupTable(p.totalsID))
				_, err := adm.DeleteTopic(ctx, table)
				require.NoError(t, err)
				require.Eventually(t, func() bool {
					_, err := adm.CreateTopic(ctx, orderPartitions, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, table)
					return err == nil
				}, time.Minute, 100*time.Millisecond)
				require.NoError(t, topics.AwaitServed(ctx, p.client, time.Minute, table))
			}, []string{"-table was recreated (topic id", "rebuild the state"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := newPipeline(t, brokers)
				r := p.component("orders-totals-by-customer", p.totalsComponent())
				r.awaitReady(t, 2*time.Minute) // the lineage is recorded
				require.NoError(t, r.stop())
				tc.change(p, kadm.NewClient(p.client))
				refuses(t, p, "orders-totals-by-customer", p.totalsComponent(), tc.want...)
			})
		}
	})
}

// TestRecreatedOrdersAreNewOrdersOnceAccepted: after the orders topic is
// deleted and created again, its offsets start at 0: without the epoch,
// every new order would sit below the totals' watermarks and be dropped as
// a duplicate, silently. orders-details refuses to start until told
// (--lineage.accept); then the new orders count.
func TestRecreatedOrdersAreNewOrdersOnceAccepted(t *testing.T) {
	db := openShop(t)
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		ctx := context.Background()
		p := newPipeline(t, brokers)
		catalog := p.loadCatalog(db)
		p.produce(ctx, db, catalog, 500, 0)
		p.component("orders-totals-by-customer", p.totalsComponent())
		det := p.component("orders-details", p.detailsComponent())
		w := p.watchTotals()
		w.awaitCounted(500, 3*time.Minute)
		require.NoError(t, det.stop())

		// The orders topic is deleted and created again, and new orders
		// arrive: their offsets are 0..299 again.
		adm := kadm.NewClient(p.client)
		_, err := adm.DeleteTopic(ctx, string(p.details.Orders))
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := adm.CreateTopic(ctx, orderPartitions, 1, nil, string(p.details.Orders))
			return err == nil
		}, time.Minute, 100*time.Millisecond)
		require.NoError(t, topics.AwaitServed(ctx, p.client, time.Minute, string(p.details.Orders)))
		p.produce(ctx, db, catalog, 300, 0)

		refuses(t, p, "orders-details", p.detailsComponent(), "orders was recreated", "--lineage.accept", "epoch 1")

		accept := p.detailsComponent()
		accept.AcceptNewOrders = true
		p.component("orders-details", accept)
		w.awaitCounted(800, 3*time.Minute)
		// And nothing more: the 500 old ones are not counted again.
		p.awaitNoLag(2*time.Minute, string(p.detailsID), string(p.totalsID))
		w.poll(time.Second)
		assert.Equal(t, int64(800), w.counted())
	})
}
