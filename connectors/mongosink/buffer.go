package mongosink

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// op is the latest change of one key not yet written to MongoDB.
type op struct {
	key string
	doc bson.D      // the replacement; nil deletes the key's document
	rec *kgo.Record // the record it comes from: its bytes for the DLQ
	// first is, per partition (one, unless the key moved between
	// partitions), the oldest record of the key read since its last write:
	// no offset from there on may be committed before this op is written.
	first []position
}

type position struct {
	partition int32
	at        kgo.EpochOffset
}

// partitionState is what the sink knows of one assigned partition.
type partitionState struct {
	next kgo.EpochOffset // just past the last record handled (buffered, dead-lettered or skipped)
	// committed is the offset last committed by this sink, or, before
	// its first commit, the offset of the first record it read (the
	// group's committed offset, give or take a gap left by compaction):
	// committing that again would be a no-op.
	committed int64
}

// buffer holds the latest change per key (coalescing: a key updated ten
// times between flushes is written once) and the position reached in each
// partition, and says which offsets may be committed.
//
// The commit offset of a partition is the offset of its oldest record whose
// change is not yet written (a record superseded by a newer one of its key
// counts as unwritten until that newer one is written), or, when none waits,
// the position just past the last record handled: the highest offset below
// which everything is written to MongoDB or dead-lettered.
type buffer struct {
	ops   map[string]*op
	parts map[int32]*partitionState
}

func newBuffer() *buffer {
	return &buffer{ops: map[string]*op{}, parts: map[int32]*partitionState{}}
}

// Len is the number of keys waiting to be written.
func (b *buffer) Len() int { return len(b.ops) }

// Dirty reports whether some partition has a position not yet committed.
func (b *buffer) Dirty() bool { return len(b.ops) > 0 || len(b.Committable()) > 0 }

func (b *buffer) part(rec *kgo.Record) *partitionState {
	ps := b.parts[rec.Partition]
	if ps == nil {
		ps = &partitionState{committed: rec.Offset}
		b.parts[rec.Partition] = ps
	}
	return ps
}

// Add buffers the change of rec's key (doc nil: delete), replacing any
// older change of that key.
func (b *buffer) Add(key string, doc bson.D, rec *kgo.Record) {
	o := &op{key: key, doc: doc, rec: rec}
	if old := b.ops[key]; old != nil {
		o.first = old.first
	}
	if !slices.ContainsFunc(o.first, func(p position) bool { return p.partition == rec.Partition }) {
		o.first = append(slices.Clip(o.first), position{rec.Partition, kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset}})
	}
	b.ops[key] = o
	b.Handled(rec)
}

// Handled records that rec needs nothing more (dead-lettered, say): the
// partition's position moves past it.
func (b *buffer) Handled(rec *kgo.Record) {
	b.part(rec).next = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
}

// Pending returns the buffered changes oldest first (by partition and
// first unwritten offset), so that a flush that fails half way has written
// the oldest ones and the commit offsets can move.
func (b *buffer) Pending() []*op {
	out := make([]*op, 0, len(b.ops))
	for _, o := range b.ops {
		out = append(out, o)
	}
	slices.SortFunc(out, func(x, y *op) int {
		return cmp.Or(cmp.Compare(x.first[0].partition, y.first[0].partition), cmp.Compare(x.first[0].at.Offset, y.first[0].at.Offset))
	})
	return out
}

// Written removes the changes MongoDB acknowledged. A key buffered again
// since (by a newer record) stays.
func (b *buffer) Written(ops []*op) {
	for _, o := range ops {
		if b.ops[o.key] == o {
			delete(b.ops, o.key)
		}
	}
}

// Committable returns, per partition, the offset that may be committed
// when it is past the last one committed.
func (b *buffer) Committable() map[int32]kgo.EpochOffset {
	oldest := map[int32]kgo.EpochOffset{}
	for _, o := range b.ops {
		for _, f := range o.first {
			if at, ok := oldest[f.partition]; !ok || f.at.Offset < at.Offset {
				oldest[f.partition] = f.at
			}
		}
	}
	out := map[int32]kgo.EpochOffset{}
	for p, ps := range b.parts {
		at := ps.next
		if o, ok := oldest[p]; ok {
			at = o
		}
		if at.Offset > ps.committed {
			out[p] = at
		}
	}
	return out
}

// Committed records a successful commit.
func (b *buffer) Committed(offsets map[int32]kgo.EpochOffset) {
	for p, at := range offsets {
		if ps := b.parts[p]; ps != nil && at.Offset > ps.committed {
			ps.committed = at.Offset
		}
	}
}

// Drop forgets partitions this sink no longer owns (revoked or lost) and
// their buffered changes: they were not committed, so the partition's new
// owner reads them again. It returns how many changes were dropped.
func (b *buffer) Drop(partitions []int32) int {
	gone := map[int32]bool{}
	for _, p := range partitions {
		gone[p] = true
		delete(b.parts, p)
	}
	n := 0
	for k, o := range b.ops {
		if gone[o.rec.Partition] { // its new owner writes the key again
			delete(b.ops, k)
			n++
			continue
		}
		// The key's latest record is ours; only older ones came from
		// the partition that is gone (a key that moved partitions).
		o.first = slices.DeleteFunc(slices.Clone(o.first), func(p position) bool { return gone[p.partition] })
	}
	return n
}
