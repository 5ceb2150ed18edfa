package cdc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Offset is where the source stands in the binlog: the position after the
// last transaction whose records Kafka acknowledged. It is stored as JSON
// under the connector's name in a compacted topic, as Kafka Connect stores
// source offsets in connect-offsets.
type Offset struct {
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
	// GTID of the last transaction covered (MariaDB domain-server-sequence),
	// for operators; resuming uses File and Pos.
	GTID string `json:"gtid,omitempty"`
	// SnapshotCompleted is false while the initial snapshot runs: a source
	// restarted then takes the snapshot again.
	SnapshotCompleted bool  `json:"snapshot_completed"`
	TsMs              int64 `json:"ts_ms"`
}

func (o Offset) String() string {
	s := fmt.Sprintf("%s:%d", o.File, o.Pos)
	if o.GTID != "" {
		s += " (gtid " + o.GTID + ")"
	}
	return s
}

// offsetStore reads and writes the connector's offset.
type offsetStore struct {
	cl    *kgo.Client
	topic string
	key   string
}

// load returns the latest offset stored under the connector's name, or nil.
func (s *offsetStore) load(ctx context.Context) (*Offset, error) {
	adm := kadm.NewClient(s.cl)
	ends, err := adm.ListEndOffsets(ctx, s.topic)
	if err != nil {
		return nil, fmt.Errorf("reading offsets topic %s: %w", s.topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("reading offsets topic %s: %w", s.topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, s.topic)
	if err != nil {
		return nil, fmt.Errorf("reading offsets topic %s: %w", s.topic, err)
	}
	want := map[int32]kgo.Offset{}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if start, ok := starts.Lookup(s.topic, o.Partition); ok && start.Offset < o.Offset {
			want[o.Partition] = kgo.NewOffset().At(start.Offset)
			remaining[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	// A reader with the same connection settings as the producing client.
	reader, err := kgo.NewClient(append(s.cl.Opts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: want}))...)
	if err != nil {
		return nil, err
	}
	defer reader.Close()
	var latest *Offset
	for len(remaining) > 0 {
		fs := reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading offsets topic %s: %w", s.topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, fmt.Errorf("reading offsets topic %s: %w", s.topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= remaining[r.Partition] {
				delete(remaining, r.Partition)
			}
			if string(r.Key) != s.key {
				return
			}
			if r.Value == nil {
				latest = nil // reset
				return
			}
			var o Offset
			if err := json.Unmarshal(r.Value, &o); err != nil {
				ferr = fmt.Errorf("offset record at %s/%d@%d does not parse: %w", r.Topic, r.Partition, r.Offset, err)
				return
			}
			latest = &o
		})
		if ferr != nil {
			return nil, ferr
		}
	}
	return latest, nil
}

// save writes o and waits until Kafka acknowledged it.
func (s *offsetStore) save(ctx context.Context, o Offset) error {
	o.TsMs = time.Now().UnixMilli()
	v, err := json.Marshal(o)
	if err != nil {
		return err
	}
	if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte(s.key), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("saving offset %s to %s: %w", o, s.topic, err)
	}
	return nil
}

// reset forgets the stored offset (a tombstone): the next start snapshots.
func (s *offsetStore) reset(ctx context.Context) error {
	if err := s.cl.ProduceSync(ctx, &kgo.Record{Topic: s.topic, Key: []byte(s.key)}).FirstErr(); err != nil {
		return fmt.Errorf("resetting the offset in %s: %w", s.topic, err)
	}
	return nil
}
