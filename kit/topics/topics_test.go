package topics_test

import (
	"context"
	"errors"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/topics"
)

func admin(t *testing.T) sarama.ClusterAdmin {
	k := testkit.KafkaConfig(testkit.Kfake(t))
	cfg, err := k.Sarama()
	require.NoError(t, err)
	a, err := sarama.NewClusterAdmin(k.Brokers(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	return a
}

func TestEnsureCreatesAndChecks(t *testing.T) {
	a := admin(t)
	ctx := context.Background()
	specs := []topics.Spec{{Name: "orders"}, {Name: "order-details"}, {Name: "customers", Partitions: 3, Compacted: true}}
	require.NoError(t, topics.Ensure(ctx, a, specs, 6, 1, true, []string{"orders", "order-details"}))

	got, err := a.DescribeTopics([]string{"orders", "customers"})
	require.NoError(t, err)
	assert.Len(t, got[0].Partitions, 6)
	assert.Len(t, got[1].Partitions, 3)
	cfg, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "customers"})
	require.NoError(t, err)
	var policy string
	for _, e := range cfg {
		if e.Name == "cleanup.policy" {
			policy = e.Value
		}
	}
	assert.Equal(t, "compact", policy)

	// Idempotent.
	require.NoError(t, topics.Ensure(ctx, a, specs, 6, 1, true, []string{"orders", "order-details"}))
}

func TestEnsureRejectsMismatchedCopartitionedTopics(t *testing.T) {
	a := admin(t)
	require.NoError(t, a.CreateTopic("order-details", &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false))
	err := topics.Ensure(context.Background(), a, []topics.Spec{{Name: "orders"}, {Name: "order-details"}}, 6, 1, true,
		[]string{"orders", "order-details"})
	require.ErrorContains(t, err, `"orders" (6 partitions) and "order-details" (3 partitions) must have the same number of partitions`)
}

func TestEnsureWithoutCreateNamesTheMissingTopic(t *testing.T) {
	err := topics.Ensure(context.Background(), admin(t), []topics.Spec{{Name: "orders"}}, 6, 1, false)
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
