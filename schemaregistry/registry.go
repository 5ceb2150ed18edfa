// Package schemaregistry is a schema registry with Confluent's REST API,
// kept in a compacted Kafka topic the way Confluent's Schema Registry keeps
// it (_schemas, in the same record format), that refuses a new version
// its subject's compatibility level does not allow (BACKWARD by default,
// checked by Avro schema resolution): what franz-go's sr client, the
// codecs of this repository and Confluent's serializers and converters
// need from a registry. cmd/schema-registry serves it on its own; the dev
// stack (make run) runs it in process.
//
// # The journal
//
// Every change (a new version, a deletion, a compatibility level) is a
// record on the topic before it is answered, and the registry's state is
// only ever what it has read back from the topic, in order. Schema ids and
// versions therefore survive a restart, and every instance reading the
// same topic serves the same ids: an instance keeps reading the topic while
// it runs, and before it answers "unknown id" it reads up to the end.
//
// Writes are serialized across instances by Kafka's transactions: a write
// first commits a marker with the one transactional id all instances of a
// topic share (which fences any other instance's write in progress), reads
// the topic up to that marker, decides (the next id is one more than the
// highest ever seen; an identical schema keeps its id, under any subject),
// then commits its records. A write fenced by another instance is decided
// again from the newer state. Readers read committed records only.
//
// Only Avro schemas are taken, without references; modes other than
// READWRITE, contexts, data contracts (metadata, rule sets) and
// registration with a given id (IMPORT mode) are not supported.
package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/kit/topics"
)

// DefaultTopic is where the schemas are journaled (Confluent's name).
const DefaultTopic = "_schemas"

// ErrBadJournal is a journal topic that cannot be one (more than one
// partition, not compacted): trying again does not help.
var ErrBadJournal = errors.New("not a usable journal")

// Options configure a Registry.
type Options struct {
	// Kafka are the client options of the Kafka holding the journal
	// (brokers, TLS, SASL): config.Kafka.Franz.
	Kafka []kgo.Opt
	// Topic is the journal (default _schemas). Created when missing, with
	// one partition and cleanup.policy=compact, unless NoCreateTopic.
	Topic             string
	ReplicationFactor int16 // of a topic it creates; 0: the broker's default
	NoCreateTopic     bool
	// DefaultCompatibility is the global level until one is set through
	// PUT /config (default BACKWARD, Confluent's schema.compatibility.level).
	DefaultCompatibility sr.CompatibilityLevel
	// TransactionalID is what the instances of one journal share to fence
	// each other's writes (default schema-registry-<topic>).
	TransactionalID string
	Logger          *slog.Logger
}

// Registry is a schema registry on a journal. It is an http.Handler of
// the REST API.
type Registry struct {
	opts    Options
	log     *slog.Logger
	handler http.Handler

	reader *kgo.Client // tails the journal (read committed); also writes the markers of reads
	cancel context.CancelFunc
	done   chan struct{} // closed when the reader stops
	errMu  sync.Mutex
	err    error // why the reader stopped

	mu      sync.RWMutex
	st      *state
	seen    int64         // offset of the last record applied, -1 before any
	changed chan struct{} // closed (and replaced) whenever seen moves

	writeMu sync.Mutex // one write at a time in this process
}

// Open creates the journal topic if needed, reads it to its end and keeps
// reading it until Close.
func Open(ctx context.Context, opts Options) (*Registry, error) {
	if opts.Topic == "" {
		opts.Topic = DefaultTopic
	}
	if opts.DefaultCompatibility == 0 {
		opts.DefaultCompatibility = sr.CompatBackward
	}
	if opts.DefaultCompatibility.String() == "" {
		return nil, fmt.Errorf("schema registry: compatibility level %d is not one", opts.DefaultCompatibility)
	}
	if opts.TransactionalID == "" {
		opts.TransactionalID = "schema-registry-" + opts.Topic
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Registry{opts: opts, log: opts.Logger.With("topic", opts.Topic), st: newState(), seen: -1,
		changed: make(chan struct{}), done: make(chan struct{})}
	r.handler = r.routes()

	admin, err := kgo.NewClient(opts.Kafka...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: Kafka client: %w", err)
	}
	defer admin.Close()
	if err := r.ensureTopic(ctx, admin); err != nil {
		return nil, err
	}
	r.reader, err = kgo.NewClient(append(slices.Clone(opts.Kafka),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{opts.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.DefaultProduceTopic(opts.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("schema registry: Kafka client: %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.read(rctx)

	start := time.Now()
	if err := r.sync(ctx); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("schema registry: reading the journal %s: %w", opts.Topic, err)
	}
	r.mu.RLock()
	n, subjects := len(r.st.byID), len(r.st.subjects)
	r.mu.RUnlock()
	r.log.Info("schema registry loaded", "schemas", n, "subjects", subjects, "took", time.Since(start).Round(time.Millisecond))
	return r, nil
}

// ensureTopic creates the journal or checks the one there: one partition,
// compacted (Confluent refuses a journal that is not compacted too: deleted
// by retention, it would lose the schemas).
func (r *Registry) ensureTopic(ctx context.Context, cl *kgo.Client) error {
	adm := kadm.NewClient(cl)
	t := r.opts.Topic
	if !r.opts.NoCreateTopic {
		rf := r.opts.ReplicationFactor
		if rf == 0 {
			rf = -1
		}
		res, err := adm.CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, t)
		if err == nil {
			err = res.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("schema registry: creating the journal %s: %w", t, err)
		}
	}
	if err := topics.AwaitServed(ctx, cl, 30*time.Second, t); err != nil {
		return fmt.Errorf("schema registry: the journal %s: %w", t, err)
	}
	details, err := adm.ListTopics(ctx, t)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		return fmt.Errorf("schema registry: the journal %s: %w", t, err)
	}
	if n := len(details[t].Partitions); n != 1 {
		return fmt.Errorf("schema registry: the journal %s has %d partitions; it must have one (the order of the records is the order of the registrations): %w", t, n, ErrBadJournal)
	}
	configs, err := adm.DescribeTopicConfigs(ctx, t)
	if err == nil {
		var rc kadm.ResourceConfig
		rc, err = configs.On(t, nil)
		if err == nil {
			err = rc.Err
		}
		if err == nil {
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil && *c.Value != "compact" {
					return fmt.Errorf("schema registry: the journal %s has cleanup.policy=%s: it must be compact, or retention deletes the schemas (kafka-configs --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact): %w", t, *c.Value, t, ErrBadJournal)
				}
			}
		}
	}
	if err != nil {
		r.log.Warn("cannot read the journal's configuration; not checking that it is compacted", "err", err)
	}
	return nil
}

// read applies the journal's records as they come, until ctx ends.
func (r *Registry) read(ctx context.Context) {
	defer close(r.done)
	for {
		fs := r.reader.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			r.stop(errors.New("schema registry closed"))
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			r.log.Warn("reading the journal failed; retrying", "partition", p, "err", err)
		})
		var last int64 = -1
		r.mu.Lock()
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Partition != 0 {
				return
			}
			if err := r.st.apply(rec); err != nil {
				r.log.Error("journal record skipped", "offset", rec.Offset, "err", err)
			}
			last = rec.Offset
		})
		if last >= 0 {
			r.seen = last
			close(r.changed)
			r.changed = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

func (r *Registry) stop(err error) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// Err is nil while the registry reads its journal, and why it stopped once
// it does not.
func (r *Registry) Err() error {
	select {
	case <-r.done:
		r.errMu.Lock()
		defer r.errMu.Unlock()
		return r.err
	default:
		return nil
	}
}

// await waits until the record at offset is applied.
func (r *Registry) await(ctx context.Context, offset int64) error {
	for {
		r.mu.RLock()
		seen, ch := r.seen, r.changed
		r.mu.RUnlock()
		if seen >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-r.done:
			return fmt.Errorf("the journal reader stopped: %w", r.Err())
		case <-ctx.Done():
			return fmt.Errorf("waiting for the journal to reach offset %d (read %d): %w", offset, seen, ctx.Err())
		}
	}
}

// sync returns once everything committed to the journal before it was
// called is applied: it writes a marker and waits for it.
func (r *Registry) sync(ctx context.Context) error {
	res := r.reader.ProduceSync(ctx, withPartition(noopRecord())...)
	rec, err := res.First()
	if err != nil {
		return fmt.Errorf("writing a marker: %w", err)
	}
	return r.await(ctx, rec.Offset)
}

func withPartition(recs ...*kgo.Record) []*kgo.Record {
	for _, rec := range recs {
		rec.Partition = 0
	}
	return recs
}

// errStore is a failure to use the journal (HTTP 500, error code 50001).
type errStore struct{ err error }

func (e *errStore) Error() string { return "error in the backend data store: " + e.err.Error() }
func (e *errStore) Unwrap() error { return e.err }

// decision is what a write does, given the current state (read-locked):
// the records to append (none: nothing to write, done), what to answer,
// or an error to answer instead.
type decision func(st *state) (recs []*kgo.Record, answer any, err error)

// write journals what decide says, then decides again on the state the
// records made, until there is nothing left to write, and returns the last
// answer.
func (r *Registry) write(ctx context.Context, decide decision) (any, error) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	wait := 50 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= 6; attempt++ {
		answer, retry, err := r.tryWrite(ctx, decide)
		if !retry {
			return answer, err
		}
		lastErr = err
		r.log.Warn("journal write failed; deciding again", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, &errStore{fmt.Errorf("%w (last error: %v)", ctx.Err(), err)}
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
	return nil, &errStore{lastErr}
}

// tryWrite is one attempt of write; retry says whether the failure was the
// journal's (another instance's write fenced ours, Kafka unreachable).
func (r *Registry) tryWrite(ctx context.Context, decide decision) (answer any, retry bool, err error) {
	txn, err := kgo.NewClient(append(slices.Clone(r.opts.Kafka),
		kgo.TransactionalID(r.opts.TransactionalID),
		kgo.TransactionTimeout(10*time.Second),
		kgo.DefaultProduceTopic(r.opts.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)...)
	if err != nil {
		return nil, false, &errStore{err}
	}
	defer txn.Close()
	// The marker: committing it fences every other instance's write in
	// progress; once it is read back, the state has every write before.
	offset, err := commit(ctx, txn, noopRecord())
	if err != nil {
		return nil, true, fmt.Errorf("fencing other writers: %w", err)
	}
	if err := r.await(ctx, offset); err != nil {
		return nil, true, err
	}
	for range 3 {
		r.mu.RLock()
		recs, answer, err := decide(r.st)
		r.mu.RUnlock()
		if err != nil || len(recs) == 0 {
			return answer, false, err
		}
		offset, err := commit(ctx, txn, recs...)
		if err != nil {
			return nil, true, fmt.Errorf("writing %d records: %w", len(recs), err)
		}
		if err := r.await(ctx, offset); err != nil {
			return nil, true, err
		}
	}
	return nil, false, errors.New("a write that does not settle (a bug)")
}

// commit writes recs in one transaction and returns the offset of the
// last.
func commit(ctx context.Context, txn *kgo.Client, recs ...*kgo.Record) (int64, error) {
	if err := txn.BeginTransaction(); err != nil {
		return 0, err
	}
	res := txn.ProduceSync(ctx, withPartition(recs...)...)
	if err := res.FirstErr(); err != nil {
		_ = txn.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
		return 0, err
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return 0, err
	}
	return res[len(res)-1].Record.Offset, nil
}

// Close stops reading the journal.
func (r *Registry) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
	if r.reader != nil {
		r.reader.Close()
	}
	return nil
}

// Server is a Registry served on an address.
type Server struct {
	*Registry
	srv *http.Server
	url string
}

// Start opens the registry on topic with cl's connection settings and
// serves it on addr: the registry of the dev stack.
func Start(ctx context.Context, addr string, cl *kgo.Client, topic string, log *slog.Logger) (*Server, error) {
	r, err := Open(ctx, Options{Kafka: cl.Opts(), Topic: topic, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("schema registry on %s: %w (is another registry running there?)", addr, err)
	}
	s := &Server{Registry: r, url: "http://" + ln.Addr().String(), srv: &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the registry's address.
func (s *Server) URL() string { return s.url }

// Close stops serving, then reading the journal.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, s.Registry.Close())
}
