// Package mongosink is the MongoDB sink of the pipeline, the Go-native
// equivalent of the MongoDB Kafka sink connector as configured in
// connectors/connect/mongodb-sink.json: one document per customer, _id =
// the record key, replaced on every update, deleted on a tombstone.
//
//	customer-totals ──► mongo-sink (consumer group mongo-sink) ──► orderstream.customer_totals
//	  key "42"            │  latest change per key, commands of batch.size:    {_id: "42", customer_id: 42, ...}
//	  CustomerTotal       │  ReplaceOne(_id, upsert) / DeleteOne(_id)
//	  or tombstone        │  (FerretDB: insert first for a key the run has not written)
//	                      └──► mongo-sink-dlq   undecodable values, bad keys, documents MongoDB rejects
//
// The Kafka Connect settings it stands for:
//
//	connector setting                                      here
//	topics=customer-totals                                 --topic
//	connection.uri, database, collection                   --mongodb.uri, --database, --collection
//	key.converter=StringConverter                          the key is the customer id as a decimal string
//	value.converter=AvroConverter (schema registry)        codecs.Avro[avro.CustomerTotal], --schema.registry.url
//	transforms=hoistKey (HoistField$Key, field=_id)        the key becomes {"_id": "42"}
//	document.id.strategy=ProvidedInKeyStrategy             _id = the key string, as is
//	writemodel.strategy=ReplaceOneDefaultStrategy          ReplaceOne({_id}, document, upsert=true)
//	delete.on.null.values=true                             a tombstone is DeleteOne({_id})
//	max.batch.size (0: a whole poll, max.poll.records 500)  --batch.size (documents per write command, 500)
//	errors.tolerance=all, mongo.errors.tolerance=data,     --topic.dlq, with Connect's __connect.errors.*
//	errors.deadletterqueue.topic.name=mongo-sink-dlq,        headers (package kit/deadletter)
//	errors.deadletterqueue.context.headers.enable=true
//	consumer group connect-mongo-sink                      --group.id (default mongo-sink)
//
// Differences from the connector, on purpose:
//   - Coalescing: between two flushes only the latest change of a key is
//     written. The end state is the same (each record replaces the whole
//     document); far fewer writes reach MongoDB, which matters on FerretDB,
//     where an upsert scans the collection.
//   - --mongodb.compat=ferretdb (Options.Compat) for FerretDB v1, the dev
//     stack's MongoDB: total_amount as an exact decimal string ("12.30"),
//     since FerretDB closes the connection on a Decimal128; commands of 50
//     documents, since it hangs on an update command matching more than
//     ~100 existing documents; and new keys inserted first: the first
//     document a run writes for a key is an insert, answered by the unique
//     _id index, and only an insert that finds the _id taken becomes a
//     ReplaceOne upsert (same end state; FerretDB scans the collection for
//     a replace, so loading n new customers would cost O(n²)). Against
//     MongoDB (the default) the sink writes what the connector writes:
//     Decimal128, ReplaceOne upserts, commands of 500. A sink configured
//     for MongoDB refuses to start on FerretDB (IsFerretDB), naming the
//     setting. Times are BSON Dates either way.
//   - A key that is not a canonical customer id ("x", "042") or a total
//     whose customer_id differs from its key is dead-lettered (stage
//     VALIDATE) instead of becoming a document.
//
// # Delivery
//
// At least once. Offsets are committed (autocommit is off) only for records
// whose change MongoDB acknowledged: per partition, the highest offset below
// which every record is written or dead-lettered, i.e. the offset of the
// oldest record whose change still waits (a record superseded in the buffer
// by a newer one of its key waits with it), or just past the last record
// handled when none waits. A crash replays from there: older values of a
// key may be written again for a moment, and every key ends at its latest
// value, since each write replaces the whole document.
//
// Flushes happen when max.buffered.keys keys are waiting or flush.interval.ms
// after the first unflushed record. A flush writes the changes in commands
// of at most batch.size (500; 50 on FerretDB, which hangs on an update
// command matching more than ~100 existing documents), then commits.
//
// Rebalances: the consumer blocks rebalances from the poll that returns
// records until the changes are written (kgo.BlockRebalanceOnPoll), so a
// revoke normally finds nothing waiting and commits. When MongoDB is down,
// the sink stops polling (memory stays bounded by the waiting changes) and
// retries the write with backoff, logging each failure; it lets rebalances
// through between attempts, and a revoked or lost partition's waiting
// changes are dropped without being committed: its new owner reads them
// again. A revoke waits for the write attempt in progress, so no change of a
// partition is written after it is revoked (except a write whose reply timed
// out that MongoDB still executes later, the limit of every client without
// transactions).
//
// A record that cannot be read (not wire format, unknown schema id,
// undecodable body) goes to the dead-letter topic with its original bytes,
// is logged with topic/partition/offset, and the sink goes on; a schema
// registry that cannot be reached is not bad input: Run returns the error
// (after flushing what came before) and cmd/mongo-sink restarts it with
// backoff.
package mongosink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/deadletter"
	"github.com/orderstream/pipeline/kit/run"
)

// Defaults of the knobs.
const (
	DefaultName            = "mongo-sink"
	DefaultMaxBufferedKeys = 1000
	DefaultFlushInterval   = time.Second
	DefaultWriteTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
)

// DefaultRetryBackoff bounds the waits between failed write attempts.
var DefaultRetryBackoff = run.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second}

// StageWrite is the dead-letter stage of a record whose document MongoDB
// rejected, as Kafka Connect names a failure in a sink task's put.
const StageWrite = "TASK_PUT"

// Options configure a Sink.
type Options struct {
	Name            string    // connector name in the dead-letter headers; default mongo-sink
	Topic           string    // the totals topic
	DeadLetterTopic string    // where bad records go
	Group           string    // consumer group
	Kafka           []kgo.Opt // brokers, TLS, SASL, producer settings (config.Kafka.Franz)

	Codec      *codecs.Avro[avro.CustomerTotal]
	Collection *mongo.Collection

	// Compat sets the defaults of BatchSize, Decimal and InsertNewKeys
	// (CompatMongoDB, the default, or CompatFerretDB).
	Compat          Compat
	BatchSize       int           // documents per write command; 0: Compat.BatchSize (500, or 50 for FerretDB)
	MaxBufferedKeys int           // keys waiting before a flush (bounds memory)
	FlushInterval   time.Duration // longest wait between a record and its flush
	WriteTimeout    time.Duration // bound on one write command
	ShutdownTimeout time.Duration // bound on the last flush when stopping
	RetryBackoff    run.Backoff   // waits between failed write attempts (Min, Max)
	Decimal         DecimalFormat // total_amount as Decimal128 or string; "": Compat.Decimal
	// InsertNewKeys: the document of a key this run has not written yet is
	// inserted, and replaced only when the insert finds the _id taken: the
	// same result as ReplaceOne upserts (what the Kafka connector does),
	// much faster on FerretDB, where a replace scans the collection and an
	// insert uses the _id index. nil: Compat.InsertNewKeys (false, or true
	// for FerretDB).
	InsertNewKeys *bool

	Logger *slog.Logger
	// OnWrite, when set, is told how writing to MongoDB goes: the error of
	// every failed write attempt, and nil after the first successful one
	// (and the first after failures). The service reports itself not
	// ready while writes fail.
	OnWrite func(err error)
}

// Sink copies the totals topic into the collection.
type Sink struct {
	opts  Options
	log   *slog.Logger
	stats stats

	// mu guards buf and the Kafka commits: the poll loop holds it while it
	// handles records and while a write attempt runs; the rebalance
	// callbacks take it, so a revoke waits for the attempt in progress.
	mu  sync.Mutex
	buf *buffer
	cl  *kgo.Client
	// dirtySince is when the first record not yet flushed was handled.
	dirtySince time.Time
	// known are keys this sink has written a document for (with InsertNewKeys).
	known map[string]struct{}
	// writeOK: the last write outcome told to OnWrite was a success.
	writeOK bool
	// contact is when MongoDB last answered or was last asked (write or
	// ping): an idle sink pings it every idlePing to keep OnWrite true.
	contact time.Time
}

// idlePing is how often an idle sink checks that MongoDB answers.
const idlePing = 10 * time.Second

// New checks opts and fills in defaults.
func New(opts Options) (*Sink, error) {
	switch {
	case opts.Topic == "":
		return nil, errors.New("mongo sink: no topic")
	case opts.DeadLetterTopic == "":
		return nil, errors.New("mongo sink: no dead-letter topic")
	case opts.DeadLetterTopic == opts.Topic:
		return nil, fmt.Errorf("mongo sink: the dead-letter topic is the input topic %q", opts.Topic)
	case opts.Group == "":
		return nil, errors.New("mongo sink: no consumer group")
	case opts.Codec == nil:
		return nil, errors.New("mongo sink: no codec")
	case opts.Collection == nil:
		return nil, errors.New("mongo sink: no collection")
	case opts.BatchSize < 0 || opts.MaxBufferedKeys < 0:
		return nil, errors.New("mongo sink: negative batch size or buffer")
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if err := opts.Compat.Set(string(opts.Compat)); err != nil {
		return nil, fmt.Errorf("mongo sink: compat: %w", err)
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = opts.Compat.BatchSize()
	}
	if opts.InsertNewKeys == nil {
		insert := opts.Compat.InsertNewKeys()
		opts.InsertNewKeys = &insert
	}
	if opts.MaxBufferedKeys == 0 {
		opts.MaxBufferedKeys = DefaultMaxBufferedKeys
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.RetryBackoff.Min <= 0 {
		opts.RetryBackoff.Min = DefaultRetryBackoff.Min
	}
	if opts.RetryBackoff.Max < opts.RetryBackoff.Min {
		opts.RetryBackoff.Max = max(opts.RetryBackoff.Min, DefaultRetryBackoff.Max)
	}
	if opts.Decimal == "" {
		opts.Decimal = opts.Compat.Decimal()
	}
	if err := opts.Decimal.Set(string(opts.Decimal)); err != nil {
		return nil, fmt.Errorf("mongo sink: decimal format: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Sink{opts: opts, log: log.With("topic", opts.Topic, "collection", opts.Collection.Database().Name()+"."+opts.Collection.Name())}, nil
}

// Stats returns this sink's counters.
func (s *Sink) Stats() Stats { return s.stats.snapshot() }

// Run consumes until ctx is cancelled, then writes what it has read,
// commits and leaves the group; it returns nil after such a clean stop. It
// returns an error when it cannot go on (schema registry unreachable, Kafka
// client failure); what was written is committed first, the rest is read
// again by the next Run.
func (s *Sink) Run(ctx context.Context) error {
	// Fresh state before the client exists: its callbacks may run as soon
	// as it has joined the group.
	s.mu.Lock()
	s.buf, s.dirtySince, s.known = newBuffer(), time.Time{}, map[string]struct{}{}
	s.mu.Unlock()
	cl, err := kgo.NewClient(append(slices.Clone(s.opts.Kafka),
		kgo.ConsumerGroup(s.opts.Group),
		kgo.ConsumeTopics(s.opts.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
	)...)
	if err != nil {
		return &run.Permanent{Err: fmt.Errorf("mongo sink: Kafka client configuration: %w", err)}
	}
	s.mu.Lock()
	s.cl = cl
	s.mu.Unlock()
	s.log.Info("mongo sink running", "group", s.opts.Group, "mongodb.compat", s.opts.Compat, "batch.size", s.opts.BatchSize,
		"max.buffered.keys", s.opts.MaxBufferedKeys, "flush.interval", s.opts.FlushInterval, "decimal.format", s.opts.Decimal,
		"insert.new.keys", *s.opts.InsertNewKeys)

	runErr := s.loop(ctx)
	if ctx.Err() != nil {
		runErr = nil // stopped, not failed
	}

	// Write and commit what was read, even when stopping on an error.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	var stopErr error
	if err := s.flush(stopCtx); err != nil {
		s.mu.Lock()
		n := s.buf.Len()
		s.mu.Unlock()
		stopErr = fmt.Errorf("mongo sink: stopping with %d changes not written to MongoDB (not committed: they are read again at the next start): %w", n, err)
	}
	cl.AllowRebalance()
	cl.Close() // leaves the group; onRevoked finds nothing waiting
	if runErr == nil && stopErr == nil {
		s.log.Info("mongo sink stopped", "consumed", s.stats.consumed.Load(), "upserted", s.stats.upserted.Load(), "deleted", s.stats.deleted.Load())
	}
	return errors.Join(runErr, stopErr)
}

// loop polls, buffers and flushes until ctx ends or a record cannot be
// handled (registry unreachable).
func (s *Sink) loop(ctx context.Context) error {
	for ctx.Err() == nil {
		s.mu.Lock()
		room := max(1, s.opts.MaxBufferedKeys-s.buf.Len())
		deadline := time.Now().Add(s.opts.FlushInterval)
		if !s.dirtySince.IsZero() {
			deadline = s.dirtySince.Add(s.opts.FlushInterval)
		}
		s.mu.Unlock()

		pollCtx, cancel := context.WithDeadline(ctx, deadline)
		fetches := s.cl.PollRecords(pollCtx, room)
		cancel()
		if fetches.IsClientClosed() {
			return errors.New("mongo sink: Kafka client closed")
		}
		for _, fe := range fetches.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			s.log.WarnContext(ctx, "fetch failed; the client retries", "partition", fe.Partition, "err", fe.Err)
		}

		s.mu.Lock()
		var err error
		fetches.EachRecord(func(r *kgo.Record) {
			if err == nil {
				err = s.handle(ctx, r)
			}
		})
		if s.dirtySince.IsZero() && s.buf.Dirty() {
			s.dirtySince = time.Now()
		}
		due := s.buf.Len() >= s.opts.MaxBufferedKeys || (!s.dirtySince.IsZero() && !time.Now().Before(s.dirtySince.Add(s.opts.FlushInterval)))
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if due {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
		// Rebalances wait while changes wait: a revoke then finds
		// everything written.
		s.mu.Lock()
		waiting := s.buf.Len()
		s.mu.Unlock()
		if waiting == 0 {
			s.cl.AllowRebalance()
			if s.opts.OnWrite != nil && time.Since(s.contact) > idlePing {
				s.ping(ctx)
			}
		}
	}
	return nil
}

// handle buffers one record's change or dead-letters it. s.mu is held.
func (s *Sink) handle(ctx context.Context, r *kgo.Record) error {
	s.stats.consumed.Add(1)
	recordsConsumed.Inc()
	if r.Value == nil {
		if err := ValidateKey(r.Key, nil); err != nil {
			return s.deadLetter(ctx, r, deadletter.StageValidate, err)
		}
		s.buf.Add(string(r.Key), nil, r)
		return nil
	}
	t, err := s.opts.Codec.DecodeValue(r.Value)
	if err != nil {
		if codecs.IsBadRecord(err) {
			return s.deadLetter(ctx, r, deadletter.StageDecode, err)
		}
		return fmt.Errorf("mongo sink: decoding %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if err := ValidateKey(r.Key, t); err != nil {
		return s.deadLetter(ctx, r, deadletter.StageValidate, err)
	}
	doc, err := Document(string(r.Key), t, s.opts.Decimal)
	if err != nil {
		return s.deadLetter(ctx, r, deadletter.StageValidate, err)
	}
	s.buf.Add(string(r.Key), doc, r)
	return nil
}

// deadLetter writes r, as it was read, to the dead-letter topic with Kafka
// Connect's error headers and waits for Kafka's acknowledgement: only then
// may its offset be committed. s.mu is held.
func (s *Sink) deadLetter(ctx context.Context, r *kgo.Record, stage string, cause error) error {
	s.log.WarnContext(ctx, "dead-lettering record", "partition", r.Partition, "offset", r.Offset,
		"stage", stage, "err", cause, "dlq", s.opts.DeadLetterTopic)
	// class.name: what ran the stage, as Connect names its converter or
	// its sink task.
	class := deadletter.ClassOf(s)
	if stage == deadletter.StageDecode {
		class = deadletter.ClassOf(s.opts.Codec)
	}
	h := deadletter.Record{Service: s.opts.Name, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Stage: stage, Err: cause, Class: class}.Headers()
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	headers := slices.Clone(r.Headers)
	for _, k := range names {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: h[k]})
	}
	out := &kgo.Record{Topic: s.opts.DeadLetterTopic, Key: r.Key, Value: r.Value, Headers: headers}
	if err := s.cl.ProduceSync(ctx, out).FirstErr(); err != nil {
		return fmt.Errorf("mongo sink: writing %s/%d@%d to the dead-letter topic %s: %w", r.Topic, r.Partition, r.Offset, s.opts.DeadLetterTopic, err)
	}
	s.buf.Handled(r)
	s.stats.deadLettered.Add(1)
	deadLettered.WithLabelValues(stage).Inc()
	return nil
}

// flush writes every waiting change and commits, retrying with backoff
// until it succeeds or ctx ends. Between attempts it lets rebalances
// through (the callbacks drop what is no longer ours).
func (s *Sink) flush(ctx context.Context) error {
	wait := s.opts.RetryBackoff.Min
	for attempt := 1; ; attempt++ {
		start := time.Now()
		n, err := s.writeAndCommit(ctx)
		if ctx.Err() == nil && (n > 0 || err != nil) {
			s.contact = time.Now()
			s.tell(err)
		}
		if err == nil {
			if n > 0 {
				s.log.DebugContext(ctx, "flushed", "changes", n, "took", time.Since(start))
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		s.stats.writeRetries.Add(1)
		writeRetries.Inc()
		s.log.WarnContext(ctx, "writing to MongoDB failed; retrying (offsets stay uncommitted, polling paused)",
			"attempt", attempt, "waiting.changes", n, "in", wait, "err", err)
		s.cl.AllowRebalance()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last write error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(wait*2, s.opts.RetryBackoff.Max)
	}
}

// ping asks MongoDB whether it answers, for OnWrite, while nothing is
// written.
func (s *Sink) ping(ctx context.Context) {
	s.contact = time.Now()
	pctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	err := s.opts.Collection.Database().Client().Ping(pctx, nil)
	if ctx.Err() == nil {
		s.tell(err)
	}
}

// tell reports a write outcome to OnWrite: every failure, and a success
// after none or after failures.
func (s *Sink) tell(err error) {
	if s.opts.OnWrite == nil || (err == nil && s.writeOK) {
		return
	}
	s.writeOK = err == nil
	s.opts.OnWrite(err)
}

// writeAndCommit writes the waiting changes in commands of BatchSize,
// oldest first, stopping at the first command that fails, then commits what
// may be committed. It returns how many changes were waiting.
func (s *Sink) writeAndCommit(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := s.buf.Pending()
	var err error
	for chunk := range slices.Chunk(pending, s.opts.BatchSize) {
		if err = s.write(ctx, chunk); err != nil {
			break
		}
	}
	if cerr := s.commit(ctx, s.cl, nil); cerr != nil && err == nil {
		// The data is written; the offsets go with the next commit (or
		// the records are read again and rewritten, harmlessly).
		s.log.WarnContext(ctx, "committing offsets failed", "err", cerr)
	}
	if s.buf.Len() == 0 {
		s.dirtySince = time.Time{}
		if s.buf.Dirty() { // written, not committed: try again in a while
			s.dirtySince = time.Now()
		}
	}
	return len(pending), err
}

// write sends one chunk of changes. With InsertNewKeys, the documents of
// keys this sink has not written yet are first inserted, which the unique
// _id index settles at once (FerretDB scans the whole collection for a
// replace); those whose _id exists are then replaced like the others. The
// end state is the same as with ReplaceOne upserts only.
func (s *Sink) write(ctx context.Context, chunk []*op) error {
	rest := chunk
	if *s.opts.InsertNewKeys {
		var fresh []*op
		rest = nil
		for _, o := range chunk {
			if _, known := s.known[o.key]; o.doc != nil && !known {
				fresh = append(fresh, o)
			} else {
				rest = append(rest, o)
			}
		}
		if len(fresh) > 0 {
			exist, err := s.bulk(ctx, fresh, true)
			if err != nil {
				return err
			}
			rest = append(rest, exist...)
		}
	}
	if len(rest) == 0 {
		return nil
	}
	_, err := s.bulk(ctx, rest, false)
	return err
}

// bulk sends ops as one unordered command: inserts (insert), or
// ReplaceOne upserts and DeleteOnes. What MongoDB acknowledges is written;
// documents it rejects as such (validation, bad value, too large) are
// dead-lettered; on any other error the command is retried whole, which the
// idempotent replace and delete allow. It returns the inserts whose _id
// exists already.
func (s *Sink) bulk(ctx context.Context, ops []*op, insert bool) (exist []*op, err error) {
	models := make([]mongo.WriteModel, len(ops))
	for i, o := range ops {
		filter := bson.D{{Key: "_id", Value: o.key}}
		switch {
		case insert:
			models[i] = mongo.NewInsertOneModel().SetDocument(o.doc)
		case o.doc == nil:
			models[i] = mongo.NewDeleteOneModel().SetFilter(filter)
		default:
			models[i] = mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(o.doc).SetUpsert(true)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	_, err = s.opts.Collection.BulkWrite(wctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil {
		s.written(ops)
		return nil, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, fmt.Errorf("writing %d changes: %w", len(ops), err)
	}
	// Only per-document errors: every other change was applied.
	failed := map[int]mongo.BulkWriteError{}
	for _, we := range bwe.WriteErrors {
		failed[we.Index] = we
	}
	var ok []*op
	var retry error
	for i, o := range ops {
		we, bad := failed[i]
		switch {
		case !bad:
			ok = append(ok, o)
		case insert && we.Code == codeDuplicateKey:
			exist = append(exist, o)
		case rejected(we.Code):
			if err := s.deadLetter(ctx, o.rec, StageWrite, fmt.Errorf("MongoDB rejected the document of key %q: %w", o.key, we)); err != nil {
				return nil, err
			}
			s.buf.Written([]*op{o})
		default:
			retry = errors.Join(retry, fmt.Errorf("key %q: %w", o.key, we))
		}
	}
	s.written(ok)
	if retry != nil {
		return nil, fmt.Errorf("writing %d changes: %w", len(ops), retry)
	}
	return exist, nil
}

// codeDuplicateKey is MongoDB's E11000.
const codeDuplicateKey = 11000

// knownKeysLimit bounds the set of keys known to have a document: past it
// the set starts again (it only saves insert attempts).
const knownKeysLimit = 100_000

func (s *Sink) written(ops []*op) {
	var up, del int64
	for _, o := range ops {
		if o.doc == nil {
			del++
		} else {
			up++
		}
	}
	s.buf.Written(ops)
	if *s.opts.InsertNewKeys {
		if len(s.known)+len(ops) > knownKeysLimit {
			clear(s.known)
		}
		for _, o := range ops {
			if o.doc == nil {
				delete(s.known, o.key)
			} else {
				s.known[o.key] = struct{}{}
			}
		}
	}
	s.stats.upserted.Add(up)
	s.stats.deleted.Add(del)
	documentsUpserted.Add(float64(up))
	documentsDeleted.Add(float64(del))
}

// rejected reports whether a per-document write error code says the
// document itself is unacceptable (dead-letter it) rather than that the
// server could not apply it now (retry). Unknown codes are retried: the sink
// never drops a change on a guess.
func rejected(code int) bool {
	switch code {
	case 2, // BadValue
		9,     // FailedToParse
		14,    // TypeMismatch
		52,    // DollarPrefixedFieldName
		55,    // InvalidDBRef
		57,    // DottedFieldName
		66,    // ImmutableField
		121,   // DocumentValidationFailure
		10334, // BSONObjectTooLarge
		17419, // document too large
		17280: // key too large to index
		return true
	}
	return false
}

// commit commits what may be committed, for the partitions in only (all
// when nil). s.mu is held.
func (s *Sink) commit(ctx context.Context, cl *kgo.Client, only []int32) error {
	offsets := s.buf.Committable()
	if only != nil {
		for p := range offsets {
			if !slices.Contains(only, p) {
				delete(offsets, p)
			}
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	var cerr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{s.opts.Topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = commitError(resp, err)
		})
	if cerr != nil {
		return fmt.Errorf("committing offsets %v of %s for group %s: %w", offsets, s.opts.Topic, s.opts.Group, cerr)
	}
	s.buf.Committed(offsets)
	s.stats.commits.Add(1)
	s.log.DebugContext(ctx, "committed", "offsets", offsets)
	return nil
}

// onRevoked runs when partitions leave this sink (rebalance, Close). It
// waits for a write attempt in progress, commits what is written, and
// forgets the partitions with the changes still waiting (only when MongoDB
// writes are failing; the new owner reads them again).
func (s *Sink) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	parts := revoked[s.opts.Topic]
	if len(parts) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.commit(ctx, cl, parts); err != nil {
		s.log.WarnContext(ctx, "committing revoked partitions failed; the new owner re-reads from the last commit", "partitions", parts, "err", err)
	}
	if n := s.buf.Drop(parts); n > 0 {
		s.log.WarnContext(ctx, "partitions revoked while MongoDB writes were failing; their unwritten changes are left to the new owner", "partitions", parts, "changes", n)
	}
	s.log.InfoContext(ctx, "partitions revoked", "partitions", parts)
}

// onLost runs when the group session is lost: nothing can be committed; the
// partitions' waiting changes are dropped for their new owner.
func (s *Sink) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := lost[s.opts.Topic]
	if len(parts) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.buf.Drop(parts)
	s.log.WarnContext(ctx, "partitions lost (group session ended); uncommitted changes are left to their new owner", "partitions", parts, "changes", n)
}

// commitError is the error of a commit request, or of its first failed
// partition.
func commitError(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, err)
			}
		}
	}
	return nil
}
