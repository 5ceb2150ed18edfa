package gokafranz

import (
	"context"
	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/orderstream/pipeline/kit/murmur2"
)

func newCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newProducer(t *testing.T, c *kfake.Cluster) *Producer {
	t.Helper()
	p, err := New([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(10 * time.Second), kgo.ProducerLinger(0)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestEmitPlacesLikeJavaAndReportsTheOffset(t *testing.T) {
	c := newCluster(t, "t")
	p := newProducer(t, c)
	// Where Kafka's Java client puts key "42" of a 3-partition topic
	// (kit/murmur2 is checked against Java's vectors).
	want := murmur2.Partition([]byte("42"), 3)
	for i := range 2 {
		msg, err := result(p.EmitWithHeaders("t", "42", []byte("v"), map[string][]byte{"b": []byte("2"), "a": []byte("1")}))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Partition != want || msg.Offset != int64(i) {
			t.Fatalf("record %d at partition %d offset %d, want partition %d offset %d", i, msg.Partition, msg.Offset, want, i)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	r := fs.Records()[0]
	if string(r.Key) != "42" || len(r.Headers) != 2 || r.Headers[0].Key != "a" || r.Headers[1].Key != "b" {
		t.Fatalf("record %q headers %v: want key 42, headers a, b in that order", r.Key, r.Headers)
	}
}

// TestNoRecordAfterAFailure: once a record failed, a later one is not sent,
// even to a partition that takes records: else it would be written ahead of
// the failed one, which the restarted processor writes again.
func TestNoRecordAfterAFailure(t *testing.T) {
	c := newCluster(t, "bad", "good")
	p := newProducer(t, c)
	if _, err := result(p.Emit("good", "1", []byte("before"))); err != nil {
		t.Fatalf("a record before any failure: %v", err)
	}
	fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "bad", Err: kerr.InvalidRecord, Count: -1})
	_, err := result(p.Emit("bad", "1", []byte("refused")))
	if err == nil {
		t.Fatal("the refused record succeeded")
	}
	fault.Remove()
	msg, err := result(p.Emit("good", "1", []byte("after")))
	if err == nil {
		t.Fatalf("a record after the failure was written (partition %d, offset %d): it must fail", msg.Partition, msg.Offset)
	}
	t.Logf("the later record: %v", err)
	if _, err := result(p.Emit("bad", "1", []byte("again"))); err == nil {
		t.Fatal("a record to the failed topic after the failure was written")
	}
	// A new producer (the restarted processor's) sends again.
	if _, err := result(newProducer(t, c).Emit("good", "1", []byte("restarted"))); err != nil {
		t.Fatalf("a new producer: %v", err)
	}
}

// result waits for the promise: its message and error.
func result(p *goka.Promise) (*sarama.ProducerMessage, error) {
	type res struct {
		msg *sarama.ProducerMessage
		err error
	}
	ch := make(chan res, 1)
	p.ThenWithMessage(func(msg *sarama.ProducerMessage, err error) { ch <- res{msg, err} })
	select {
	case r := <-ch:
		return r.msg, r.err
	case <-time.After(time.Minute):
		panic("no result within a minute")
	}
}
