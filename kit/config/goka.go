package config

import (
	"log/slog"
	"path/filepath"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/orderstream/pipeline/kit/murmur2"
)

// ProcessorOptions are the Goka options every processor of ours runs with:
// our sarama configuration, murmur2 partitioning (also for its Lookup
// views), null values handed to the callback instead of dropped, and local
// state in memory (rebuilt from the table topics at start) or, with
// stateDir, in LevelDB under stateDir/<group>.
func (k *Kafka) ProcessorOptions(cfg *sarama.Config, group goka.Group, stateDir string, log *slog.Logger) []goka.ProcessorOption {
	st := storage.MemoryBuilder()
	if stateDir != "" {
		st = storage.DefaultBuilder(filepath.Join(stateDir, string(group)))
	}
	return []goka.ProcessorOption{
		goka.WithClientID(k.ClientID + "-" + string(group)),
		goka.WithHasher(murmur2.Hasher),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(clone(cfg))),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(clone(cfg))),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(clone(cfg))),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(clone(cfg), k.TopicManager())),
		goka.WithStorageBuilder(st),
		goka.WithNilHandling(goka.NilProcess),
		goka.WithLogger(GokaLogger(log.With("component", "goka", "group", string(group)), slog.LevelDebug)),
	}
}

// EmitterOptions are the Goka options of an emitter of ours.
func (k *Kafka) EmitterOptions(cfg *sarama.Config, log *slog.Logger) []goka.EmitterOption {
	return []goka.EmitterOption{
		goka.WithEmitterClientID(k.ClientID),
		goka.WithEmitterHasher(murmur2.Hasher),
		goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(clone(cfg))),
		goka.WithEmitterTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(clone(cfg), k.TopicManager())),
		goka.WithEmitterLogger(GokaLogger(log.With("component", "goka"), slog.LevelDebug)),
	}
}

// clone copies cfg: Goka's builders write ClientID and the partitioner into
// the config they are given.
func clone(cfg *sarama.Config) *sarama.Config {
	c := *cfg
	return &c
}

// ViewOptions are the Goka options of a view of ours (in memory, murmur2).
func (k *Kafka) ViewOptions(cfg *sarama.Config, log *slog.Logger) []goka.ViewOption {
	return []goka.ViewOption{
		goka.WithViewClientID(k.ClientID + "-view"),
		goka.WithViewHasher(murmur2.Hasher),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(clone(cfg))),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(clone(cfg), k.TopicManager())),
		goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		goka.WithViewLogger(GokaLogger(log.With("component", "goka"), slog.LevelDebug)),
	}
}
