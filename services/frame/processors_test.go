package frame

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
)

// kafkaEnv is the environment of component name on a fresh kfake cluster
// with the topic "in" (3 partitions), and a producer writing to it.
func kafkaEnv(t *testing.T, name string) (*Env, *kfake.Cluster, func(partition int32, value string)) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "in"))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	f := &Flags{Name: name, Kafka: config.Kafka{BootstrapServers: c.ListenAddrs()[0], ClientID: name,
		CompressionType: "none", Linger: time.Millisecond, SessionTimeout: 6 * time.Second, ReplicationFactor: 1, Partitions: 3},
		Registry: config.Registry{URL: "http://127.0.0.1:1"}} // no registry needed
	env, err := f.SetupWith(quiet)
	require.NoError(t, err)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("in"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	produce := func(partition int32, value string) {
		require.NoError(t, cl.ProduceSync(context.Background(), &kgo.Record{Partition: partition, Value: []byte(value)}).FirstErr())
	}
	return env, c, produce
}

// awaitHealth waits until the component's readiness is ready and its
// reason contains reason, or fails after a minute with what it was.
func awaitHealth(t *testing.T, e *Env, ready bool, reason string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		parts := e.Health().Parts()
		if len(parts) == 1 && parts[0].Ready == ready && strings.Contains(parts[0].Reason, reason) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness is not ready=%v with %q after a minute: %+v", ready, reason, parts)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestProcessorBetweenSessionsIsNotReady: a processor whose group session
// ends (the coordinator answers its heartbeats REBALANCE_IN_PROGRESS, as
// while the group rebalances, and refuses it back in for a while, as while
// the coordinator moves) has no partitions until it has joined again: not
// ready meanwhile, with the reason, and ready once it runs a session again
// (restarted by the frame, should its rejoining give up first).
func TestProcessorBetweenSessionsIsNotReady(t *testing.T) {
	testkit.Slow(t, "a Goka group on kfake losing its session")
	e, c, _ := kafkaEnv(t, "sessions")
	g := goka.DefineGroup("sessions", goka.Input("in", new(codec.String), func(goka.Context, any) {}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- e.supervise(ctx, run.Backoff{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond}, func(ctx context.Context) error {
			return e.RunProcessors(ctx, "", nil, g)
		})
	}()
	awaitHealth(t, e, true, "")

	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup}, Group: "sessions", Err: kerr.RebalanceInProgress, Count: -1})
	awaitHealth(t, e, false, "sessions (its group session ended")
	f.Remove()
	awaitHealth(t, e, true, "")
	cancel()
	require.NoError(t, <-done)
	assert.Positive(t, f.Hits())
}

// TestProcessorThatFailsIsNotReadyUntilItRunsAgain: a processor whose
// callback fails stops, but its Run returns only once its other partitions'
// callbacks have returned (here one is held): not ready from the failure
// on, though Goka would say it is ready (its WaitForReady returns for a
// stopped processor) and its Run has not returned; not ready while the
// frame waits to restart it; ready again once the new run has its
// partitions.
func TestProcessorThatFailsIsNotReadyUntilItRunsAgain(t *testing.T) {
	testkit.Slow(t, "a Goka processor on kfake failing and restarted")
	e, _, produce := kafkaEnv(t, "fails")
	held, release := make(chan struct{}), make(chan struct{})
	var failed, holding atomic.Bool
	g := goka.DefineGroup("fails", goka.Input("in", new(codec.String), func(ctx goka.Context, msg any) {
		switch msg.(string) {
		case "hold":
			if !holding.Swap(true) {
				close(held)
			}
			<-release
		case "poison":
			if !failed.Swap(true) { // once: the restarted run reads it again
				ctx.Fail(errors.New("poison record"))
			}
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- e.supervise(ctx, run.Backoff{Min: 10 * time.Millisecond, Max: 10 * time.Millisecond}, func(ctx context.Context) error {
			runs.Add(1)
			return e.RunProcessors(ctx, "", nil, g)
		})
	}()
	awaitHealth(t, e, true, "")
	produce(0, "hold")
	<-held
	produce(1, "poison")
	awaitHealth(t, e, false, "fails (its group session ended")
	require.EqualValues(t, 1, runs.Load(), "the first run has not returned: a callback is held")

	close(release)
	awaitHealth(t, e, true, "")
	require.EqualValues(t, 2, runs.Load(), fmt.Sprintf("restarted once: %+v", e.Health().Parts()))
	cancel()
	require.NoError(t, <-done)
}
