package config

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/orderstream/pipeline/kit/gokafranz"
	"github.com/orderstream/pipeline/kit/murmur2"
	"github.com/orderstream/pipeline/kit/ordered"
	"github.com/orderstream/pipeline/kit/store"
)

// Clients are the Kafka clients Goka built for one processor or view, to
// be closed when it is done. Goka's View (and so every Lookup table of a
// processor) never closes the consumer and the topic manager it creates in
// NewView (goka v1.1.16, view.go: close() closes only the partitions):
// without this, each start of a processor with Lookup tables leaves sarama
// clients behind, refreshing metadata against brokers forever. Clients
// closes each one once, however often Goka closes it too.
type Clients struct {
	mu      sync.Mutex
	closers []func() error
}

// Close closes every client built so far.
func (c *Clients) Close() error {
	c.mu.Lock()
	closers := c.closers
	c.closers = nil
	c.mu.Unlock()
	var errs []error
	for _, f := range closers {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

func (c *Clients) add(f func() error) func() error {
	var once sync.Once
	var err error
	closeOnce := func() error {
		once.Do(func() { err = f() })
		return err
	}
	c.mu.Lock()
	c.closers = append(c.closers, closeOnce)
	c.mu.Unlock()
	return closeOnce
}

type trackedConsumer struct {
	sarama.Consumer
	close func() error
	log   *slog.Logger
}

func (t trackedConsumer) Close() error { return t.close() }

// ConsumePartition consumes a partition for Goka's tables and views,
// without the errors sarama recovers from itself (see ridingThrough).
func (t trackedConsumer) ConsumePartition(topic string, partition int32, offset int64) (sarama.PartitionConsumer, error) {
	pc, err := t.Consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return nil, err
	}
	return ridingThrough(pc, t.log), nil
}

// ridingThrough hides from Goka the errors of a partition consumer after
// which sarama goes on by itself: a broker that went away (the connection
// ends, EOF) or a partition whose leader moves. sarama reports them on
// Errors() and consumes again from the partition's leader, once there is
// one (it gives up on a partition only for an offset out of range, a
// message too large, or after Consumer.Retry.Max failures, 0: never); but
// Goka's tables and views stop on any error, and with them the processor
// or view: every broker that crashed restarted orders-details, which
// reloads its lookup tables, instead of waiting out the election as its
// group's consumer does. They are logged instead; any other error is
// passed on.
func ridingThrough(pc sarama.PartitionConsumer, log *slog.Logger) sarama.PartitionConsumer {
	r := &ridingConsumer{PartitionConsumer: pc, errors: make(chan *sarama.ConsumerError, cap(pc.Errors()))}
	go func() {
		defer close(r.errors)
		for err := range pc.Errors() {
			if transientConsumerError(err) {
				log.Warn("consuming a table partition failed; sarama consumes again from its leader", "topic", err.Topic, "partition", err.Partition, "err", err.Err)
				continue
			}
			r.errors <- err
		}
	}()
	return r
}

type ridingConsumer struct {
	sarama.PartitionConsumer
	errors chan *sarama.ConsumerError
}

func (r *ridingConsumer) Errors() <-chan *sarama.ConsumerError { return r.errors }

// transientConsumerError: a partition consumer's error that sarama
// recovers from by consuming again from the partition's (new) leader.
func transientConsumerError(err error) bool {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.As(err, &ne):
		return true
	}
	for _, k := range []sarama.KError{sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrReplicaNotAvailable,
		sarama.ErrBrokerNotAvailable, sarama.ErrRequestTimedOut, sarama.ErrNetworkException, sarama.ErrKafkaStorageError,
		sarama.ErrNotEnoughReplicas, sarama.ErrOffsetNotAvailable, sarama.ErrUnknownLeaderEpoch, sarama.ErrFencedLeaderEpoch} {
		if errors.Is(err, k) {
			return true
		}
	}
	return errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected)
}

type trackedTopicManager struct {
	goka.TopicManager
	close func() error
}

func (t trackedTopicManager) Close() error { return t.close() }

func (c *Clients) consumer(b goka.SaramaConsumerBuilder, log *slog.Logger) goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		cons, err := b(brokers, clientID)
		if err != nil {
			return nil, err
		}
		return trackedConsumer{cons, c.add(cons.Close), log}, nil
	}
}

func (c *Clients) topicManager(b goka.TopicManagerBuilder) goka.TopicManagerBuilder {
	return func(brokers []string) (goka.TopicManager, error) {
		tm, err := b(brokers)
		if err != nil {
			return nil, err
		}
		return trackedTopicManager{tm, c.add(tm.Close)}, nil
	}
}

// rejoining wraps a consumer group builder so that its groups rejoin at
// once after a rebalance. Goka calls Consume once per group generation and
// waits 5 s after each before calling it again (goka v1.1.16,
// processor.go), so every rebalance stalled the whole group for at least
// that long while the coordinator waited for this member; the wrapped
// Consume runs generation after generation itself, returning only when ctx
// ends or consuming fails.
//
// A failure to reach the group coordinator (the connection refused or
// lost: its broker crashed) is retried for up to rejoinFor: sarama's
// JoinGroup gives up at once on a connection error, while the controller
// fences a crashed broker only after broker.session.timeout.ms (9 s) and
// the coordinator moves with the election. Without this, every crash of
// the broker coordinating a group stopped the processor (Goka stops on the
// error), and the service restarted, reloading its tables.
func rejoining(b goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := b(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return rejoiningGroup{cg}, nil
	}
}

type rejoiningGroup struct{ sarama.ConsumerGroup }

func (g rejoiningGroup) Consume(ctx context.Context, topics []string, handler sarama.ConsumerGroupHandler) error {
	var failing time.Time // since when joining fails for want of a coordinator
	for {
		err := g.ConsumerGroup.Consume(ctx, topics, handler)
		switch {
		case ctx.Err() != nil:
			return err
		case err == nil:
			failing = time.Time{}
			continue
		case !transientConsumerError(err):
			return err
		case failing.IsZero():
			failing = time.Now()
		case time.Since(failing) > rejoinFor:
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(rejoinWait):
		}
	}
}

// How long a group tries to reach its coordinator again, and how often.
const (
	rejoinFor  = 30 * time.Second
	rejoinWait = 500 * time.Millisecond
)

// ProcessorOptions are the Goka options every processor of ours runs with:
// our sarama configuration for consuming, offsets committed in order (see
// package ordered), the franz-go producer with delivery.timeout.ms (see
// package gokafranz), murmur2 partitioning (also for its Lookup views),
// null values handed to the callback instead of dropped, and local state in
// memory (kit/store: rebuilt from the table topics at start, in linear time)
// or, with stateDir, in LevelDB under stateDir/<group> (a restart reads only
// what is new). The consumers and topic managers Goka
// builds are tracked in clients: close it once the processor has stopped.
func (k *Kafka) ProcessorOptions(cfg *sarama.Config, group goka.Group, stateDir string, log *slog.Logger, clients *Clients) ([]goka.ProcessorOption, error) {
	dir := ""
	if stateDir != "" {
		dir = filepath.Join(stateDir, string(group))
	}
	produce, err := k.producerBuilder(log)
	if err != nil {
		return nil, err
	}
	return []goka.ProcessorOption{
		goka.WithClientID(k.ClientID + "-" + string(group)),
		goka.WithHasher(murmur2.Hasher),
		goka.WithConsumerGroupBuilder(rejoining(ordered.Builder(goka.ConsumerGroupBuilderWithConfig(clone(cfg))))),
		goka.WithConsumerSaramaBuilder(clients.consumer(goka.SaramaConsumerBuilderWithConfig(clone(cfg)), log)),
		goka.WithProducerBuilder(produce),
		goka.WithTopicManagerBuilder(clients.topicManager(goka.TopicManagerBuilderWithConfig(clone(cfg), k.TopicManager()))),
		goka.WithStorageBuilder(store.Builder(dir)),
		goka.WithNilHandling(goka.NilProcess),
		goka.WithLogger(GokaLogger(log.With("component", "goka", "group", string(group)), slog.LevelDebug)),
	}, nil
}

// producerBuilder builds the franz-go producers of Goka processors and
// emitters: the client options of Franz (acks=all, idempotent, murmur2,
// delivery.timeout.ms), closing within the delivery timeout.
func (k *Kafka) producerBuilder(log *slog.Logger) (goka.ProducerBuilder, error) {
	opts, err := k.Franz(log)
	if err != nil {
		return nil, err
	}
	return gokafranz.Builder(opts, k.deliveryTimeout()), nil
}

// EmitterOptions are the Goka options of an emitter of ours (the franz-go
// producer, murmur2).
func (k *Kafka) EmitterOptions(cfg *sarama.Config, log *slog.Logger) ([]goka.EmitterOption, error) {
	produce, err := k.producerBuilder(log)
	if err != nil {
		return nil, err
	}
	return []goka.EmitterOption{
		goka.WithEmitterClientID(k.ClientID),
		goka.WithEmitterHasher(murmur2.Hasher),
		goka.WithEmitterProducerBuilder(produce),
		goka.WithEmitterTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(clone(cfg), k.TopicManager())),
		goka.WithEmitterLogger(GokaLogger(log.With("component", "goka"), slog.LevelDebug)),
	}, nil
}

// clone copies cfg: Goka's builders write ClientID and the partitioner into
// the config they are given.
func clone(cfg *sarama.Config) *sarama.Config {
	c := *cfg
	return &c
}

// ViewOptions are the Goka options of a view of ours (murmur2; the table in
// memory, or with stateDir in LevelDB below it, a restart reading only what
// is new); close clients once the view has stopped (see Clients).
func (k *Kafka) ViewOptions(cfg *sarama.Config, log *slog.Logger, clients *Clients, stateDir string) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewClientID(k.ClientID + "-view"),
		goka.WithViewHasher(murmur2.Hasher),
		goka.WithViewConsumerSaramaBuilder(clients.consumer(goka.SaramaConsumerBuilderWithConfig(clone(cfg)), log)),
		goka.WithViewTopicManagerBuilder(clients.topicManager(goka.TopicManagerBuilderWithConfig(clone(cfg), k.TopicManager()))),
		goka.WithViewStorageBuilder(store.Builder(stateDir)),
		goka.WithViewLogger(GokaLogger(log.With("component", "goka"), slog.LevelDebug)),
	}
}
