package services

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
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
	Compat       mongosink.Compat
	BatchSize    int // 0: Compat's
	MaxKeys      int
	Flush        time.Duration
	WriteTimeout time.Duration
	InsertNew    optionalBool            // unset: Compat's
	Decimal      mongosink.DecimalFormat // "": Compat's
}

// RegisterFlags adds the service's flags, defaults included.
func (s *Sink) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.URI, "mongodb.uri", "mongodb://127.0.0.1:27017/", "MongoDB connection string (its password is never logged)")
	fs.StringVar(&s.Database, "database", mongosink.DefaultDatabase, "MongoDB database")
	fs.StringVar(&s.Collection, "collection", mongosink.DefaultCollection, "MongoDB collection: one document per customer")
	fs.StringVar(&s.Topic, "topic", mongosink.DefaultTopic, "input: CustomerTotal records keyed by customer id (compacted)")
	fs.StringVar(&s.Group, "group.id", mongosink.DefaultGroup, "consumer group")
	fs.StringVar(&s.DLQ, "topic.dlq", mongosink.DefaultDLQ, "dead-letter topic")
	s.Compat = mongosink.CompatMongoDB
	fs.Var(&s.Compat, "mongodb.compat", "the server: \"mongodb\" (MongoDB or Atlas: Decimal128, commands of 500, ReplaceOne upserts, as the MongoDB connector) or \"ferretdb\" (FerretDB v1, the dev MongoDB: decimals as strings, commands of 50, new keys inserted first); sets the defaults of batch.size, decimal.format and insert.new.keys")
	fs.IntVar(&s.BatchSize, "batch.size", 0, "documents per write command (the connector's max.batch.size); default 500, 50 with --mongodb.compat=ferretdb (FerretDB hangs above ~100)")
	fs.IntVar(&s.MaxKeys, "max.buffered.keys", mongosink.DefaultMaxBufferedKeys, "distinct keys waiting before a flush; only the latest change of a key is written")
	config.DurationMs(fs, &s.Flush, "flush.interval.ms", mongosink.DefaultFlushInterval, "longest wait between reading a record and writing it, in ms or as a duration (1s)")
	config.DurationMs(fs, &s.WriteTimeout, "write.timeout.ms", mongosink.DefaultWriteTimeout, "bound on one write command, in ms or as a duration (30s); a timed-out write is retried")
	fs.Var(&s.InsertNew, "insert.new.keys", "insert the document of a key not yet written by this run (replace it if the _id exists): same result as ReplaceOne upserts only, much faster on FerretDB; default false, true with --mongodb.compat=ferretdb")
	fs.Var(&s.Decimal, "decimal.format", "total_amount as \"decimal128\" (what the MongoDB connector writes) or an exact decimal \"string\"; default decimal128, string with --mongodb.compat=ferretdb (FerretDB cannot store Decimal128)")
}

// optionalBool is a boolean flag that knows whether it was given.
type optionalBool struct{ v *bool }

func (b *optionalBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	b.v = &v
	return nil
}

func (b *optionalBool) String() string {
	if b == nil || b.v == nil {
		return ""
	}
	return strconv.FormatBool(*b.v)
}

func (b *optionalBool) IsBoolFlag() bool { return true }

// Groups are the consumer groups of the service.
func (s *Sink) Groups() []string { return []string{s.Group} }

// Run writes the totals until ctx ends.
func (s *Sink) Run(ctx context.Context, env *frame.Env) error {
	if s.Compat == mongosink.CompatFerretDB && s.BatchSize > 90 {
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
	} else if err := s.checkServer(ctx, client.Database(s.Database), env); err != nil {
		return err
	}
	health(err)

	sink, err := mongosink.New(mongosink.Options{
		Topic: s.Topic, DeadLetterTopic: s.DLQ, Group: s.Group, Kafka: kafka,
		Codec: codec, Collection: client.Database(s.Database).Collection(s.Collection),
		Compat: s.Compat, BatchSize: s.BatchSize, MaxBufferedKeys: s.MaxKeys, FlushInterval: s.Flush, WriteTimeout: s.WriteTimeout,
		Decimal: s.Decimal, InsertNewKeys: s.InsertNew.v, Logger: env.Log, OnWrite: health,
	})
	if err != nil {
		return err
	}
	env.Log.Info("starting mongo-sink", "mongodb.uri", mongosink.RedactURI(s.URI), "database", s.Database, "collection", s.Collection)
	return sink.Run(ctx)
}

// checkServer refuses FerretDB unless --mongodb.compat=ferretdb: its first
// Decimal128 would close the connection and every write would fail, and
// commands of 500 would hang it.
func (s *Sink) checkServer(ctx context.Context, db *mongo.Database, env *frame.Env) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ferret, version, err := mongosink.IsFerretDB(cctx, db)
	switch {
	case err != nil:
		env.Log.Warn("cannot ask MongoDB what server it is (buildInfo); assuming --mongodb.compat is right", "mongodb.compat", s.Compat, "err", mongosink.RedactError(s.URI, err))
	case ferret && s.Compat != mongosink.CompatFerretDB:
		return &run.Permanent{Err: fmt.Errorf("mongodb.uri %s is FerretDB %s, which cannot store the Decimal128 a sink for MongoDB writes and hangs on its commands of 500: run with --mongodb.compat=ferretdb (MONGODB_COMPAT=ferretdb)", mongosink.RedactURI(s.URI), version)}
	case !ferret && s.Compat == mongosink.CompatFerretDB:
		env.Log.Warn("--mongodb.compat=ferretdb against MongoDB: total_amount is written as a string, not Decimal128; drop the setting for a real MongoDB", "version", version)
	}
	return nil
}
