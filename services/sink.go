package services

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/connectors/mongosink"
	"github.com/orderstream/pipeline/kit/config"
	"github.com/orderstream/pipeline/kit/run"
	"github.com/orderstream/pipeline/kit/topics"
	"github.com/orderstream/pipeline/services/frame"
)

// Sink is the mongo-sink service.
type Sink struct {
	URI          string
	Database     string
	Collection   string
	Topic        string
	Group        string
	DLQ          string
	BatchSize    int
	MaxKeys      int
	Flush        time.Duration
	WriteTimeout time.Duration
	InsertNew    bool
	Decimal      mongosink.DecimalFormat
}

// RegisterFlags adds the service's flags, defaults included.
func (s *Sink) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.URI, "mongodb.uri", "mongodb://127.0.0.1:27017/", "MongoDB connection string (its password is never logged)")
	fs.StringVar(&s.Database, "database", mongosink.DefaultDatabase, "MongoDB database")
	fs.StringVar(&s.Collection, "collection", mongosink.DefaultCollection, "MongoDB collection: one document per customer")
	fs.StringVar(&s.Topic, "topic", mongosink.DefaultTopic, "input: CustomerTotal records keyed by customer id (compacted)")
	fs.StringVar(&s.Group, "group.id", mongosink.DefaultGroup, "consumer group")
	fs.StringVar(&s.DLQ, "topic.dlq", mongosink.DefaultDLQ, "dead-letter topic")
	fs.IntVar(&s.BatchSize, "batch.size", mongosink.DefaultBatchSize, "documents per write command (the connector's max.batch.size); FerretDB hangs above ~100")
	fs.IntVar(&s.MaxKeys, "max.buffered.keys", mongosink.DefaultMaxBufferedKeys, "distinct keys waiting before a flush; only the latest change of a key is written")
	config.DurationMs(fs, &s.Flush, "flush.interval.ms", mongosink.DefaultFlushInterval, "longest wait between reading a record and writing it, in ms or as a duration (1s)")
	config.DurationMs(fs, &s.WriteTimeout, "write.timeout.ms", mongosink.DefaultWriteTimeout, "bound on one write command, in ms or as a duration (30s); a timed-out write is retried")
	fs.BoolVar(&s.InsertNew, "insert.new.keys", true, "insert the document of a key not yet written by this run (replace it if the _id exists): same result as ReplaceOne upserts only (false), much faster on FerretDB")
	s.Decimal = mongosink.DecimalString
	fs.Var(&s.Decimal, "decimal.format", "total_amount as an exact decimal \"string\" (works on FerretDB) or \"decimal128\" (what the MongoDB connector writes; real MongoDB only)")
}

// Groups are the consumer groups of the service.
func (s *Sink) Groups() []string { return []string{s.Group} }

// Run writes the totals until ctx ends.
func (s *Sink) Run(ctx context.Context, env *frame.Env) error {
	if s.BatchSize > 90 {
		env.Log.Warn("batch.size above 90: FerretDB hangs on an update command matching more than ~100 existing documents", "batch.size", s.BatchSize)
	}
	kafka, err := env.Flags.Kafka.Franz(env.Log)
	if err != nil {
		return err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(s.URI).SetAppName("mongo-sink"))
	if err != nil {
		return &run.Permanent{Err: errors.New("mongodb.uri " + mongosink.RedactURI(s.URI) + ": " + mongosink.RedactError(s.URI, err))}
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = client.Disconnect(dctx)
	}()

	if err := env.EnsureTopics(ctx, []topics.Spec{{Name: s.Topic, Compacted: true}, {Name: s.DLQ}}); err != nil {
		return err
	}
	codec, err := codecs.NewAvro[avro.CustomerTotal](ctx, env.Registry, codecs.ValueSubject(s.Topic), avro.CustomerTotalSchema)
	if err != nil {
		return err
	}
	health := func(err error) {
		if err != nil {
			env.NotReady(fmt.Errorf("MongoDB at %s: %s", mongosink.RedactURI(s.URI), mongosink.RedactError(s.URI, err)))
			return
		}
		env.Ready()
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = client.Ping(pctx, readpref.Primary())
	cancel()
	if err != nil {
		env.Log.Warn("MongoDB does not answer yet; writes are retried until it does", "mongodb.uri", mongosink.RedactURI(s.URI), "err", mongosink.RedactError(s.URI, err))
	}
	health(err)

	sink, err := mongosink.New(mongosink.Options{
		Topic: s.Topic, DeadLetterTopic: s.DLQ, Group: s.Group, Kafka: kafka,
		Codec: codec, Collection: client.Database(s.Database).Collection(s.Collection),
		BatchSize: s.BatchSize, MaxBufferedKeys: s.MaxKeys, FlushInterval: s.Flush, WriteTimeout: s.WriteTimeout,
		Decimal: s.Decimal, ReplaceOnly: !s.InsertNew, Logger: env.Log, OnWrite: health,
	})
	if err != nil {
		return err
	}
	env.Log.Info("starting mongo-sink", "mongodb.uri", mongosink.RedactURI(s.URI), "database", s.Database, "collection", s.Collection)
	return sink.Run(ctx)
}
