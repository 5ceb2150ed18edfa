package topics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/topics"
)

func client(t *testing.T) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(testkit.Kfake(t)...))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func TestEnsureCreatesAndChecks(t *testing.T) {
	cl := client(t)
	a := kadm.NewClient(cl)
	ctx := context.Background()
	specs := []topics.Spec{{Name: "orders"}, {Name: "order-details"}, {Name: "customers", Partitions: 3, Compacted: true}}
	require.NoError(t, topics.Ensure(ctx, cl, specs, 6, 1, true, []string{"orders", "order-details"}))

	got, err := a.ListTopics(ctx, "orders", "customers")
	require.NoError(t, err)
	assert.Len(t, got["orders"].Partitions, 6)
	assert.Len(t, got["customers"].Partitions, 3)
	cfgs, err := a.DescribeTopicConfigs(ctx, "customers")
	require.NoError(t, err)
	policy, err := cfgs.On("customers", nil)
	require.NoError(t, err)
	var value string
	for _, c := range policy.Configs {
		if c.Key == "cleanup.policy" {
			value = c.MaybeValue()
		}
	}
	assert.Equal(t, "compact", value)

	// Idempotent.
	require.NoError(t, topics.Ensure(ctx, cl, specs, 6, 1, true, []string{"orders", "order-details"}))
}

func TestEnsureRejectsMismatchedCopartitionedTopics(t *testing.T) {
	cl := client(t)
	_, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, "order-details")
	require.NoError(t, err)
	err = topics.Ensure(context.Background(), cl, []topics.Spec{{Name: "order-details"}, {Name: "table"}}, 6, 1, true,
		[]string{"order-details", "table"})
	require.ErrorContains(t, err, `"order-details" (3 partitions) and "table" (6 partitions) must have the same number of partitions`)
}

func TestEnsureWithoutCreateNamesTheMissingTopic(t *testing.T) {
	err := topics.Ensure(context.Background(), client(t), []topics.Spec{{Name: "orders"}}, 6, 1, false)
	require.ErrorContains(t, err, `topic "orders" does not exist`)
}

func TestReadToEndStopsAtTheEndOffsetsOfTheCall(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(testkit.Kfake(t)...), kgo.DefaultProduceTopic("state"))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	require.ErrorContains(t, topics.ReadToEnd(ctx, cl, "missing", func(*kgo.Record) error { return nil }), "reading topic missing")
	_, err = kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "state")
	require.NoError(t, err)
	n := 0
	require.NoError(t, topics.ReadToEnd(ctx, cl, "state", func(*kgo.Record) error { n++; return nil }))
	assert.Zero(t, n, "an empty topic")
	for i := range 30 {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte{byte(i)}}).FirstErr())
	}
	seen := map[byte]bool{}
	require.NoError(t, topics.ReadToEnd(ctx, cl, "state", func(r *kgo.Record) error { seen[r.Value[0]] = true; return nil }))
	assert.Len(t, seen, 30)

	stop := errors.New("stop")
	err = topics.ReadToEnd(ctx, cl, "state", func(*kgo.Record) error { return stop })
	assert.ErrorIs(t, err, stop, "the callback's error, as is")
}

// TestReadToEndRetriesRetriableErrors: right after a leader election Kafka
// answers ListOffsets with OFFSET_NOT_AVAILABLE for a while; ReadToEnd
// waits it out (for a bounded time), but returns at once an error that
// waiting does not heal.
func TestReadToEndRetriesRetriableErrors(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "state"))
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("state"))
	require.NoError(t, err)
	defer cl.Close()
	ctx := context.Background()
	for i := range 30 {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte{byte(i)}, Value: []byte{byte(i)}}).FirstErr())
	}
	read := func() (int, error) {
		n := 0
		err := topics.ReadToEnd(ctx, cl, "state", func(*kgo.Record) error { n++; return nil })
		return n, err
	}
	listOffsets := []kmsg.Key{kmsg.ListOffsets}

	f := c.Fault(kfake.Fault{Keys: listOffsets, Topic: "state", Partitions: []int32{1}, Err: kerr.OffsetNotAvailable, Count: 5})
	n, err := read()
	require.NoError(t, err, "retried through OFFSET_NOT_AVAILABLE")
	assert.Equal(t, 30, n)
	assert.Equal(t, 5, f.Hits())

	defer topics.SetRetryFor(300 * time.Millisecond)()
	f = c.Fault(kfake.Fault{Keys: listOffsets, Topic: "state", Partitions: []int32{2}, Err: kerr.OffsetNotAvailable, Count: -1})
	_, err = read()
	assert.ErrorIs(t, err, kerr.OffsetNotAvailable, "for a bounded time")
	assert.ErrorContains(t, err, "still failing after")
	assert.Greater(t, f.Hits(), 1)
	f.Remove()

	f = c.Fault(kfake.Fault{Keys: listOffsets, Topic: "state", Err: kerr.TopicAuthorizationFailed, Count: -1})
	_, err = read()
	assert.ErrorIs(t, err, kerr.TopicAuthorizationFailed, "not retriable: at once")
	assert.Equal(t, 1, f.Hits())
	f.Remove()
}

func TestLatestIsTheLastRecordOfTheKey(t *testing.T) {
	cl := client(t)
	ctx := context.Background()
	_, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "kv")
	require.NoError(t, err)
	put := func(k string, v []byte) {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: "kv", Key: []byte(k), Value: v}).FirstErr())
	}
	_, found, err := topics.Latest(ctx, cl, "kv", "a")
	require.NoError(t, err)
	assert.False(t, found, "an empty topic")
	put("a", []byte("1"))
	put("b", []byte("x"))
	put("a", []byte("2"))
	v, found, err := topics.Latest(ctx, cl, "kv", "a")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "2", string(v))
	put("a", nil)
	_, found, err = topics.Latest(ctx, cl, "kv", "a")
	require.NoError(t, err)
	assert.False(t, found, "a tombstone last")
}
