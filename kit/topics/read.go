package topics

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadToEnd calls fn for every record of topic, partition by partition in
// offset order, from the start of its log to the end offsets it has when
// ReadToEnd is called: how a service loads state it keeps in a compacted
// topic (a stored position, a journal). The reader has cl's connection
// settings. An error from fn stops the read and is returned as is.
func ReadToEnd(ctx context.Context, cl *kgo.Client, topic string, fn func(*kgo.Record) error) error {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("reading topic %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
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
