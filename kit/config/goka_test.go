package config

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestViewsRideThroughLostConnections: the broker drops the connection of
// a view's fetches (EOF, as when a broker is killed), three times. sarama
// connects again and goes on; so does the view, and it sees what is
// written after, instead of stopping on the first EOF (Goka stops a view,
// and so a processor, on any error of its partition consumers).
func TestViewsRideThroughLostConnections(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	require.NoError(t, err)
	defer c.Close()
	k := Kafka{BootstrapServers: c.ListenAddrs()[0], ClientID: "test", CompressionType: "none", Linger: time.Millisecond}
	cfg, err := k.Sarama()
	require.NoError(t, err)
	cfg.Consumer.Retry.Backoff = 10 * time.Millisecond
	var clients Clients
	defer clients.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	v, err := goka.NewView(k.Brokers(), "t", new(codec.String), k.ViewOptions(cfg, log, &clients, "")...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	select {
	case <-v.WaitRunning():
	case err := <-done:
		t.Fatalf("the view stopped before it ran: %v", err)
	}

	var cuts atomic.Int32
	c.ControlKey(kmsg.Fetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if cuts.Add(1) >= 3 {
			c.DropControl()
		} else {
			c.KeepControl()
		}
		return nil, errors.New("connection cut"), true // closes the connection
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("after the cuts")}).FirstErr())
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := v.Get("k")
		require.NoError(t, err)
		if got == "after the cuts" {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the view stopped on a lost connection: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "the view did not see the record within a minute (%d cuts)", cuts.Load())
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	assert.GreaterOrEqual(t, cuts.Load(), int32(3))
	cancel()
	require.NoError(t, <-done)
}

func TestTransientConsumerErrors(t *testing.T) {
	for _, err := range []error{io.EOF, sarama.ErrNotLeaderForPartition, sarama.ErrOutOfBrokers,
		&sarama.ConsumerError{Topic: "t", Err: io.EOF}} {
		assert.True(t, transientConsumerError(err), "%v", err)
	}
	for _, err := range []error{sarama.ErrOffsetOutOfRange, sarama.ErrMessageSizeTooLarge, sarama.ErrTopicAuthorizationFailed,
		errors.New("something else")} {
		assert.False(t, transientConsumerError(err), "%v", err)
	}
}

// TestGroupsRideThroughALostCoordinator: the group coordinator drops the
// connection of the first two JoinGroup requests (as when its broker is
// killed: sarama gives up on a connection error at once). The processor
// joins on the third and processes, instead of stopping.
func TestGroupsRideThroughALostCoordinator(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "in"))
	require.NoError(t, err)
	defer c.Close()
	k := Kafka{BootstrapServers: c.ListenAddrs()[0], ClientID: "test", CompressionType: "none", Linger: time.Millisecond,
		SessionTimeout: 6 * time.Second}
	cfg, err := k.Sarama()
	require.NoError(t, err)
	var cuts atomic.Int32
	c.ControlKey(kmsg.JoinGroup.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if cuts.Add(1) >= 2 {
			c.DropControl()
		} else {
			c.KeepControl()
		}
		return nil, errors.New("coordinator gone"), true // closes the connection
	})
	var clients Clients
	defer clients.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts, err := k.ProcessorOptions(cfg, "g", "", log, &clients)
	require.NoError(t, err)
	processed := make(chan string, 1)
	p, err := goka.NewProcessor(k.Brokers(), goka.DefineGroup("g", goka.Input("in", new(codec.String), func(_ goka.Context, msg any) {
		processed <- msg.(string)
	})), opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("in"))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after the cuts")}).FirstErr())
	select {
	case got := <-processed:
		assert.Equal(t, "after the cuts", got)
	case err := <-done:
		t.Fatalf("the processor stopped on a lost coordinator: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("nothing processed within a minute")
	}
	assert.EqualValues(t, 2, cuts.Load())
	cancel()
	require.NoError(t, <-done)
}
