// Package gokafranz is a goka.Producer on franz-go's client, for every Goka
// processor and emitter of the pipeline. Against Goka's default (sarama's
// idempotent async producer) it brings what a Java producer has:
// delivery.timeout.ms (a record fails only after that long, however many
// retries fit in it: a broker failover takes seconds), acks=all with the
// idempotent producer and up to five requests in flight per broker with
// per-partition order kept, and Java's murmur2 placement of keyed records.
//
// Placement is franz-go's default partitioner, which puts a keyed record
// where Kafka's Java client puts it (toPositive(murmur2(key)) % partitions):
// the same place kit/murmur2 computes for Goka's Lookup and the group
// table, so a processor's table writes land in the partition it reads.
//
// A Producer takes no record after one has failed: every later Emit fails
// at once. franz-go fails all the records buffered for a partition with the
// one that failed (no gap), but a record handed to it after that would be
// written, ahead of the failed one that the restarted processor writes
// again. Goka stops the processor on a failed emit only asynchronously, so
// without this, a later order of a customer could reach order-details
// before an earlier one, which the totals' watermark then takes for a
// duplicate. The processor, or the emitter's service, restarts with a new
// Producer.
package gokafranz

import (
	"context"
	"fmt"
	"hash"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Producer is a goka.Producer on a franz-go client.
//
// Once a record has failed (its delivery timed out, or Kafka refused it for
// good), the producer fails every record emitted after it at once, without
// sending it. franz-go fails the records buffered for the failed record's
// partition with it, but takes records produced afterwards, which a
// recovered partition would write after the lost one; the processor is
// stopping (it restarts from its last in-order commit, and writes the lost
// record and everything after it again, in order), so a later record must
// not be written before them: orders-totals-by-customer counts an order's
// first record only while it comes in order (see processors/totals).
type Producer struct {
	cl           *kgo.Client
	closeTimeout time.Duration
	failed       atomic.Pointer[error] // the first record's failure
}

// New returns a producer with the client options opts (config.Kafka.Franz
// plus delivery settings).
func New(opts []kgo.Opt, closeTimeout time.Duration) (*Producer, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Kafka producer: %w", err)
	}
	return &Producer{cl: cl, closeTimeout: closeTimeout}, nil
}

// Builder is a goka.ProducerBuilder of Producers with opts (Goka's client
// id is added; its hasher is not needed: franz-go places keys as murmur2
// does).
func Builder(opts []kgo.Opt, closeTimeout time.Duration) goka.ProducerBuilder {
	return func(_ []string, clientID string, _ func() hash.Hash32) (goka.Producer, error) {
		o := append([]kgo.Opt(nil), opts...)
		if clientID != "" {
			o = append(o, kgo.ClientID(clientID))
		}
		return New(o, closeTimeout)
	}
}

// Emit sends value to topic under key.
func (p *Producer) Emit(topic, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

// EmitWithHeaders sends value with headers to topic under key. The promise
// finishes once Kafka acknowledged the record (acks=all) or it failed for
// good (delivery timeout, a non-retriable error); it carries the record's
// partition and offset, which Goka stores with a table write.
func (p *Producer) EmitWithHeaders(topic, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	if failed := p.failed.Load(); failed != nil {
		finish(&sarama.ProducerMessage{Topic: topic, Partition: -1, Offset: -1},
			fmt.Errorf("producing to %s: not sent, an earlier record failed: %w", topic, *failed))
		return promise
	}
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if len(headers) > 0 {
		rec.Headers = make([]kgo.RecordHeader, 0, len(headers))
		for _, k := range slices.Sorted(maps.Keys(headers)) { // a stable order
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: headers[k]})
		}
	}
	if first := p.failed.Load(); first != nil {
		finish(&sarama.ProducerMessage{Topic: topic, Partition: -1, Offset: -1},
			fmt.Errorf("producing to %s: not sent, an earlier record failed (the processor restarts): %w", topic, *first))
		return promise
	}
	p.cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
		msg := &sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
		if err != nil {
			err = fmt.Errorf("producing to %s (partition %d): %w", r.Topic, r.Partition, err)
			p.failed.CompareAndSwap(nil, &err)
		}
		finish(msg, err)
	})
	return promise
}

// Close waits up to the close timeout for the records in flight, then
// closes the client; records still unacknowledged then fail their promises.
func (p *Producer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.closeTimeout)
	defer cancel()
	err := p.cl.Flush(ctx)
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("flushing the Kafka producer: %w", err)
	}
	return nil
}
