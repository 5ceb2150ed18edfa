package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// retryFor bounds how long ReadToEnd retries listing a topic's offsets
// while the brokers answer with retriable errors (an election: Kafka 4.1
// fences a crashed broker only after broker.session.timeout.ms, 9 s).
var retryFor = 30 * time.Second

// retryEvery is the wait between two attempts.
const retryEvery = 100 * time.Millisecond

// ReadToEnd calls fn for every record of topic, partition by partition in
// offset order, from the start of its log to the end offsets it has when
// ReadToEnd is called: how a service loads state it keeps in a compacted
// topic (a stored position, a journal). The reader has cl's connection
// settings. An error from fn stops the read and is returned as is.
//
// Listing the offsets is retried while the brokers answer with a retriable
// error (kerr.IsRetriable), for up to 30 s (or until ctx ends): right
// after a leader election a new leader answers OFFSET_NOT_AVAILABLE until
// its high watermark is known, and a partition whose leader is being
// fenced answers NOT_LEADER_OR_FOLLOWER or LEADER_NOT_AVAILABLE. A topic
// that does not exist is an error at once.
func ReadToEnd(ctx context.Context, cl *kgo.Client, topic string, fn func(*kgo.Record) error) error {
	adm := kadm.NewClient(cl)
	starts, ends, err := listOffsets(ctx, adm, topic)
	if err != nil {
		return fmt.Errorf("reading topic %s: %w", topic, err)
	}
	from := map[int32]kgo.Offset{}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if start, ok := starts.Lookup(topic, o.Partition); ok && start.Offset < o.Offset {
			from[o.Partition] = kgo.NewOffset().At(start.Offset)
			end[o.Partition] = o.Offset
		}
	})
	if len(from) == 0 {
		return nil
	}
	reader, err := kgo.NewClient(append(cl.Opts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))...)
	if err != nil {
		return fmt.Errorf("reading topic %s: %w", topic, err)
	}
	defer reader.Close()
	for len(end) > 0 {
		fs := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading topic %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("reading topic %s: %w", topic, ferr)
		}
		for iter := fs.RecordIter(); !iter.Done(); {
			r := iter.Next()
			last, ok := end[r.Partition]
			if !ok || r.Offset >= last {
				continue
			}
			if r.Offset == last-1 {
				delete(end, r.Partition)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// listOffsets lists the start and end offsets of topic's partitions,
// retrying retriable errors (see ReadToEnd).
func listOffsets(ctx context.Context, adm *kadm.Client, topic string) (kadm.ListedOffsets, kadm.ListedOffsets, error) {
	deadline := time.Now().Add(retryFor)
	for attempt := 1; ; attempt++ {
		starts, ends, err := listOffsetsOnce(ctx, adm, topic)
		if err == nil {
			return starts, ends, nil
		}
		if !retriable(err) || ctx.Err() != nil {
			return nil, nil, err
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("still failing after %d attempts in %v: %w", attempt, retryFor, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (while retrying: %w)", ctx.Err(), err)
		case <-time.After(retryEvery):
		}
	}
}

func listOffsetsOnce(ctx context.Context, adm *kadm.Client, topic string) (kadm.ListedOffsets, kadm.ListedOffsets, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, nil, err
	}
	return starts, ends, nil
}

// retriable: a broker error that time heals (kerr.IsRetriable), but not
// a topic that does not exist.
func retriable(err error) bool {
	return kerr.IsRetriable(err) && !errors.Is(err, kerr.UnknownTopicOrPartition)
}

// Latest returns the value of the last record of key in topic, read to its
// end (a compacted topic holding state under keys): false when there is
// none, or when the last record is a tombstone.
func Latest(ctx context.Context, cl *kgo.Client, topic, key string) ([]byte, bool, error) {
	var latest []byte
	found := false
	err := ReadToEnd(ctx, cl, topic, func(r *kgo.Record) error {
		if string(r.Key) == key {
			latest, found = r.Value, r.Value != nil
		}
		return nil
	})
	return latest, found, err
}
