package testkit

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The cluster mode of scripts/kafka.sh and the Cluster handle, end to end: the
// leader of a partition of a replication-factor-3 topic is SIGKILLed while an
// idempotent acks=all producer writes; writes go on once a new leader is
// elected (2 of 3 in sync = min.insync.replicas); the node comes back into the
// ISR; every acknowledged record is there exactly once, in order, also on the
// restarted node.
func TestClusterLeaderKilledLosesNothing(t *testing.T) {
	c := KafkaCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	const partitions = 3
	topic := Unique("cluster-failover")
	c.CreateTopic(ctx, topic, partitions, nil)
	cfg, err := c.Admin().DescribeTopicConfigs(ctx, topic)
	require.NoError(t, err)
	minISR, err := cfg.On(topic, nil)
	require.NoError(t, err)
	for _, kv := range minISR.Configs {
		if kv.Key == "min.insync.replicas" {
			require.Equal(t, "2", kv.MaybeValue(), "min.insync.replicas of a topic on the cluster")
		}
	}

	// The production-shaped settings of every node.
	brokerCfgs, err := c.Admin().DescribeBrokerConfigs(ctx, 1, 2, 3)
	require.NoError(t, err)
	require.Len(t, brokerCfgs, ClusterNodes)
	for _, rc := range brokerCfgs {
		require.NoError(t, rc.Err, "configs of node %s", rc.Name)
		got := map[string]string{}
		for _, kv := range rc.Configs {
			got[kv.Key] = kv.MaybeValue()
		}
		for k, v := range map[string]string{
			"default.replication.factor": "3", "min.insync.replicas": "2", "unclean.leader.election.enable": "false",
			"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3",
			"transaction.state.log.min.isr": "2", "auto.create.topics.enable": "false",
		} {
			require.Equal(t, v, got[k], "%s on node %s", k, rc.Name)
		}
	}

	md, err := c.Admin().Metadata(ctx, topic)
	require.NoError(t, err)
	require.Len(t, md.Brokers, ClusterNodes, "brokers in the metadata")
	for _, p := range md.Topics[topic].Partitions {
		require.Len(t, p.Replicas, ClusterNodes, "replicas of partition %d", p.Partition)
	}

	producer, err := kgo.NewClient(
		kgo.SeedBrokers(c.Brokers()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, and what the idempotent producer needs
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(2*time.Minute),
	)
	require.NoError(t, err)
	defer producer.Close()

	next := 0
	// produce writes n records (values next, next+1, ...) round-robin over the
	// partitions and waits for all acks; it returns when each partition got
	// its first ack.
	produce := func(n int) (acked [partitions]time.Time) {
		t.Helper()
		rs := make([]*kgo.Record, n)
		for i := range rs {
			v := next + i
			rs[i] = &kgo.Record{Partition: int32(v % partitions), Value: []byte(strconv.Itoa(v))}
		}
		next += n
		done := make(chan error, n)
		for _, r := range rs {
			producer.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err == nil && acked[r.Partition].IsZero() {
					acked[r.Partition] = time.Now() // promises run one at a time, in order
				}
				done <- err
			})
		}
		for range rs {
			require.NoError(t, <-done, "a produce with acks=all failed")
		}
		return acked
	}

	produce(3000)

	victim := c.Leader(ctx, topic, 0)
	others := slices.DeleteFunc([]int32{1, 2, 3}, func(n int32) bool { return n == victim })
	killedAt := time.Now()
	c.Kill(int(victim))
	t.Logf("%s SIGKILLed node %d, the leader of %s/0", killedAt.Format("15:04:05.000"), victim, topic)

	// Keep producing: each batch must be acknowledged (with acks=all), which
	// for partition 0 needs a new leader. Go on until partition 0 has taken a
	// few batches after its election.
	var firstAck, elected time.Time
	afterElection := 0
	for afterElection < 5 {
		acked := produce(300)
		if firstAck.IsZero() {
			firstAck = acked[0]
		}
		if c.Leader(ctx, topic, 0) != victim {
			if elected.IsZero() {
				elected = time.Now()
			}
			afterElection++
		}
		require.Less(t, time.Since(killedAt), 3*time.Minute, "partition 0 got no new leader")
	}
	newLeader := c.Leader(ctx, topic, 0)
	require.Contains(t, others, newLeader, "the leader of partition 0 after the kill")
	t.Logf("first write to %s/0 acknowledged %v after the kill; new leader node %d in the metadata by %v",
		topic, firstAck.Sub(killedAt).Round(10*time.Millisecond), newLeader, elected.Sub(killedAt).Round(10*time.Millisecond))

	md, err = c.Admin().Metadata(ctx, topic)
	require.NoError(t, err)
	for _, p := range md.Topics[topic].Partitions {
		require.NotContains(t, p.ISR, victim, "ISR of partition %d while node %d is down", p.Partition, victim)
		require.Len(t, p.ISR, ClusterNodes-1, "ISR of partition %d while node %d is down", p.Partition, victim)
	}

	restartAt := time.Now()
	c.Restart(ctx, int(victim))
	t.Logf("node %d restarted and back in the ISR of every partition in %v", victim,
		time.Since(restartAt).Round(10*time.Millisecond))
	produce(1000)
	c.AwaitFullISR(ctx, topic)

	total := next
	readAll(ctx, t, c.Brokers(), topic, partitions, total)

	// Every record also on the restarted node: make it lead again (it is the
	// preferred replica of partition 0, where it led) and read it from there.
	md, err = c.Admin().Metadata(ctx, topic)
	require.NoError(t, err)
	if preferred := md.Topics[topic].Partitions[0].Replicas[0]; preferred != victim {
		t.Logf("node %d is not the preferred leader of %s/0 (node %d is): not read from it alone", victim, topic, preferred)
		return
	}
	_, err = c.Admin().ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	require.NoError(t, err)
	deadline := time.Now().Add(time.Minute)
	for c.Leader(ctx, topic, 0) != victim {
		require.True(t, time.Now().Before(deadline), "node %d did not become the leader of %s/0 again", victim, topic)
		time.Sleep(clusterPoll)
	}
	readAll(ctx, t, c.Brokers(), topic, partitions, total)
}

// readAll reads topic from the start to its end offsets and checks that it
// holds the values 0..total-1 exactly once each, ascending in each partition,
// value v in partition v%partitions.
func readAll(ctx context.Context, t *testing.T, brokers []string, topic string, partitions, total int) {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer adm.Close()
	// Right after a leader election the new leader answers OFFSET_NOT_AVAILABLE
	// (retriable) until its high watermark has caught up.
	var ends kadm.ListedOffsets
	deadline := time.Now().Add(30 * time.Second)
	for {
		ends, err = kadm.NewClient(adm).ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil || !kerr.IsRetriable(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(clusterPoll)
	}
	require.NoError(t, err, "end offsets of %s", topic)
	want := map[int32]int64{}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) {
		want[o.Partition] = o.Offset
		sum += o.Offset
	})
	require.Len(t, want, partitions)
	require.EqualValues(t, total, sum, "records in %s (end offsets %v): acknowledged %d", topic, want, total)

	offsets := map[int32]kgo.Offset{}
	for p := range want {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	require.NoError(t, err)
	defer cl.Close()

	seen := make([]bool, total)
	last := map[int32]int{}
	got := map[int32]int64{}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for n := int64(0); n < sum; {
		fs := cl.PollFetches(rctx)
		require.NoError(t, rctx.Err(), "read %d of %d records of %s (per partition %v, want %v)", n, sum, topic, got, want)
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			n++
			got[r.Partition]++
			v, err := strconv.Atoi(string(r.Value))
			require.NoError(t, err)
			require.True(t, v >= 0 && v < total, "value %d out of range", v)
			require.False(t, seen[v], "value %d read twice (%s/%d@%d)", v, topic, r.Partition, r.Offset)
			seen[v] = true
			require.EqualValues(t, v%partitions, r.Partition, "value %d in partition %d", v, r.Partition)
			if l, ok := last[r.Partition]; ok {
				require.Greater(t, v, l, "partition %d out of order at offset %d", r.Partition, r.Offset)
			}
			last[r.Partition] = v
		})
	}
	var missing []string
	for v, ok := range seen {
		if !ok && len(missing) < 10 {
			missing = append(missing, fmt.Sprint(v))
		}
	}
	require.Empty(t, missing, "acknowledged values never read back")
}
