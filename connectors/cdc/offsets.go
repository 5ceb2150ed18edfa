package cdc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderstream/pipeline/kit/topics"
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
	v, found, err := topics.Latest(ctx, s.cl, s.topic, s.key)
	if err != nil {
		return nil, fmt.Errorf("loading the offset of %s: %w", s.key, err)
	}
	if !found {
		return nil, nil // none, or reset
	}
	var o Offset
	if err := json.Unmarshal(v, &o); err != nil {
		return nil, fmt.Errorf("the offset record of %s in %s does not parse: %w", s.key, s.topic, err)
	}
	return &o, nil
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
