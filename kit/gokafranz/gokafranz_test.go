package gokafranz_test

import (
	"context"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/pipeline/internal/testkit"
	"github.com/orderstream/pipeline/kit/gokafranz"
	"github.com/orderstream/pipeline/kit/murmur2"
)

// await waits for a promise and returns its error.
func await(p *goka.Promise) error {
	done := make(chan error, 1)
	p.Then(func(err error) { done <- err })
	return <-done
}

// keyFor is a key murmur2 places in partition of partitions.
func keyFor(partition, partitions int32) string {
	for i := 0; ; i++ {
		k := string(rune('a'+i%26)) + string(rune('a'+i/26))
		if murmur2.Partition([]byte(k), partitions) == partition {
			return k
		}
	}
}

// TestNothingIsWrittenAfterAFailedRecord: a partition refuses every batch
// until the producer gives up on them (the record's delivery timeout), and
// takes the next ones (a new producer epoch), as a partition whose leader
// comes back right then would. The record that failed must not be
// followed, in Kafka, by a record emitted after it: every later emit fails
// at once, on any partition.
func TestNothingIsWrittenAfterAFailedRecord(t *testing.T) {
	testkit.Slow(t, "a record timing out (about 5 s)")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	require.NoError(t, err)
	defer c.Close()
	type producer struct {
		id    int64
		epoch int16
	}
	var first *producer
	refusals := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "t", Partitions: []int32{0},
		Err: kerr.NotEnoughReplicas, Count: -1, When: func(req kmsg.Request) bool {
			for _, tp := range req.(*kmsg.ProduceRequest).Topics {
				for _, part := range tp.Partitions {
					var b kmsg.RecordBatch
					if part.Partition != 0 || b.ReadFrom(part.Records) != nil {
						continue
					}
					if first == nil {
						first = &producer{b.ProducerID, b.ProducerEpoch}
					}
					return b.ProducerID == first.id && b.ProducerEpoch == first.epoch
				}
			}
			return false
		}})

	p, err := gokafranz.New([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordDeliveryTimeout(time.Second),
		kgo.ProducerLinger(0), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond })}, 5*time.Second)
	require.NoError(t, err)
	defer p.Close()
	lost := await(p.Emit("t", keyFor(0, 2), []byte("lost")))
	require.ErrorIs(t, lost, kgo.ErrRecordTimeout)
	assert.Positive(t, refusals.Hits())

	later := await(p.Emit("t", keyFor(0, 2), []byte("later")))
	assert.ErrorContains(t, later, "not sent, an earlier record failed")
	assert.ErrorIs(t, later, kgo.ErrRecordTimeout)
	other := await(p.Emit("t", keyFor(1, 2), []byte("other partition")))
	assert.ErrorContains(t, other, "not sent, an earlier record failed")

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "t")
	require.NoError(t, err)
	ends.Each(func(o kadm.ListedOffset) {
		assert.Zero(t, o.Offset, "records written to t/%d", o.Partition)
	})
}
