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

// TestMongoDownForAWhile stops the MongoDB server while records keep
// coming: the sink retries (and logs) its writes, stops polling, commits
// nothing it has not written, and once the server is back on the same
// directory and port the collection converges with nothing lost.
func TestMongoDownForAWhile(t *testing.T) {
	testkit.Slow(t, "a MongoDB outage")
	testkit.Clusters(t, func(t *testing.T, brokers []string) {
		dir := t.TempDir()
		flog, _ := testLogger(t, "ferretdb", slog.LevelError)
		srv, err := mongoserver.Start(context.Background(), mongoserver.Options{Dir: dir, Addr: "127.0.0.1:0", Logger: flog})
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		addr := srv.Addr()

		f := newFixture(t, brokers, 3, fastURI(srv.URI()))
		h := newHistory(2)
		log, logs := testLogger(t, "sink", slog.LevelDebug)
		opts := f.options(log)
		sink, stop := runSink(t, opts)
		f.produce(h, 1000, 200)
		f.awaitCommitted(time.Minute)
		before, _, err := f.offsets()
		require.NoError(t, err)

		require.NoError(t, srv.Close())
		f.produce(h, 1000, 200)
		testkit.Await(t, time.Minute, "the sink to fail writing a few times", func() (bool, string) {
			st := sink.Stats()
			return st.WriteRetries >= 3, fmt.Sprintf("%+v", st)
		})
		committed, _, err := f.offsets()
		require.NoError(t, err)
		assert.Equal(t, before, committed, "nothing is committed while MongoDB is down")
		assert.Less(t, sink.Stats().Consumed, int64(2000), "the sink stops polling while it cannot write (memory stays bounded)")
		assert.Contains(t, logs.String(), "writing to MongoDB failed; retrying")

		srv, err = mongoserver.Start(context.Background(), mongoserver.Options{Dir: dir, Addr: addr, Logger: flog})
		require.NoError(t, err, "restart on the same directory and port")
		t.Cleanup(func() { _ = srv.Close() })
		f.produce(h, 1000, 200)
		f.awaitCommitted(2 * time.Minute)
		require.NoError(t, stop())
		f.checkCollection(h.want)
		st := sink.Stats()
		assert.EqualValues(t, 3000, st.Consumed)
		t.Logf("%d failed write attempts while MongoDB was down; %+v", st.WriteRetries, st)
	})
}
