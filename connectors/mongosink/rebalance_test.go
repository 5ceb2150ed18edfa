package mongosink

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/dev/mongoserver"
	"github.com/orderstream/pipeline/internal/testkit"
)

// awaitMembers waits until the group is stable with n members that each
// own partitions.
func (f *fixture) awaitMembers(n int) {
	f.t.Helper()
	testkit.Await(f.t, 2*time.Minute, fmt.Sprintf("%d group members with partitions", n), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		groups, err := f.admin.DescribeGroups(ctx, f.group)
		if err != nil {
			return false, err.Error()
		}
		g := groups[f.group]
		var owned []int
		for _, m := range g.Members {
			a, ok := m.Assigned.AsConsumer()
			parts := 0
			if ok {
				for _, t := range a.Topics {
					parts += len(t.Partitions)
				}
			}
			owned = append(owned, parts)
		}
		ok := g.State == "Stable" && len(owned) == n
		for _, p := range owned {
			ok = ok && p > 0
		}
		return ok, fmt.Sprintf("state %s, partitions per member %v", g.State, owned)
	})
}

// TestRebalances runs sinks in one group: a second joins mid-stream, then
// the first leaves; later, with MongoDB down, a third joins the one left
// (which lets the rebalance through between its failed attempts) and stops
// again without having written anything: its waiting changes go back to
// the group uncommitted. The collection must end with the latest value of
// every key.
func TestRebalances(t *testing.T) {
	testkit.Slow(t, "three rebalances")
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		dir := t.TempDir()
		flog, _ := testLogger(t, "ferretdb", slog.LevelError)
		srv, err := mongoserver.Start(context.Background(), mongoserver.Options{Dir: dir, Addr: "127.0.0.1:0", Logger: flog})
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		addr := srv.Addr()

		f := newFixture(t, brokers, 6, fastURI(srv.URI()))
		h := newHistory(4)
		logA, _ := testLogger(t, "sink A", slog.LevelInfo)
		logB, _ := testLogger(t, "sink B", slog.LevelInfo)
		logC, _ := testLogger(t, "sink C", slog.LevelInfo)
		a, stopA := runSink(t, f.options(logA))
		f.produce(h, 3000, 400)
		f.awaitMembers(1)
		b, stopB := runSink(t, f.options(logB))
		f.awaitMembers(2)
		f.produce(h, 3000, 400)
		testkit.Await(t, 2*time.Minute, "B to write", func() (bool, string) {
			return b.Stats().Upserted > 0, fmt.Sprintf("%+v", b.Stats())
		})
		require.NoError(t, stopA(), "A leaves cleanly")
		f.produce(h, 2000, 400)
		f.awaitCommitted(2 * time.Minute)
		f.checkCollection(h.want)

		require.NoError(t, srv.Close())
		f.produce(h, 2000, 400)
		testkit.Await(t, time.Minute, "B to fail writing", func() (bool, string) {
			return b.Stats().WriteRetries >= 2, fmt.Sprintf("%+v", b.Stats())
		})
		optsC := f.options(logC)
		optsC.ShutdownTimeout = time.Second
		c, stopC := runSink(t, optsC)
		f.awaitMembers(2)
		testkit.Await(t, 2*time.Minute, "C to fail writing", func() (bool, string) {
			return c.Stats().WriteRetries >= 1, fmt.Sprintf("%+v", c.Stats())
		})
		err = stopC()
		require.ErrorContains(t, err, "not written to MongoDB", "C could not flush when stopping")
		assert.Zero(t, c.Stats().Upserted+c.Stats().Deleted)

		srv, err = mongoserver.Start(context.Background(), mongoserver.Options{Dir: dir, Addr: addr, Logger: flog})
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		f.produce(h, 1000, 400)
		f.awaitCommitted(2 * time.Minute)
		require.NoError(t, stopB())
		f.checkCollection(h.want)
		t.Logf("A %+v\nB %+v\nC %+v", a.Stats(), b.Stats(), c.Stats())
	})
}
