package mongosink

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func rec(p int32, off int64) *kgo.Record { return &kgo.Record{Partition: p, Offset: off} }

func offsetsOf(m map[int32]kgo.EpochOffset) map[int32]int64 {
	out := map[int32]int64{}
	for p, at := range m {
		out[p] = at.Offset
	}
	return out
}

func TestBufferCoalescesAndCommitsOnlyWrittenOffsets(t *testing.T) {
	b := newBuffer()
	doc := bson.D{{Key: "v", Value: 1}}
	b.Add("a", doc, rec(0, 10))
	b.Add("b", doc, rec(0, 11))
	b.Add("a", nil, rec(0, 12)) // a deleted: replaces the update
	b.Handled(rec(0, 13))       // dead-lettered
	b.Add("c", doc, rec(1, 5))
	assert.Equal(t, 3, b.Len())
	pending := b.Pending()
	assert.Equal(t, []string{"a", "b", "c"}, []string{pending[0].key, pending[1].key, pending[2].key}, "oldest first")
	assert.Nil(t, pending[0].doc, "the latest change of a wins")
	assert.Empty(t, b.Committable(), "nothing written yet: the first offsets read are where the group stands")

	// a is written; b (offset 11) still waits: 11 is as far as partition 0 goes.
	b.Written(pending[:1])
	assert.Equal(t, map[int32]int64{0: 11}, offsetsOf(b.Committable()))
	b.Committed(b.Committable())
	assert.Empty(t, b.Committable(), "no progress since the commit")

	// b is superseded by a newer record: its first unwritten offset stays 11.
	b.Add("b", doc, rec(0, 20))
	assert.Empty(t, b.Committable(), "the record at 11 is still unwritten")
	b.Written(b.Pending())
	assert.Equal(t, map[int32]int64{0: 21, 1: 6}, offsetsOf(b.Committable()))
	assert.True(t, b.Dirty())
	b.Committed(b.Committable())
	assert.False(t, b.Dirty())
}

func TestBufferWrittenKeepsNewerChange(t *testing.T) {
	b := newBuffer()
	b.Add("a", bson.D{}, rec(0, 1))
	old := b.Pending()
	b.Add("a", bson.D{}, rec(0, 2))
	b.Written(old)
	assert.Equal(t, 1, b.Len(), "the newer change of a is not written yet")
	assert.Empty(t, b.Committable())
	b.Written(b.Pending())
	assert.Equal(t, map[int32]int64{0: 3}, offsetsOf(b.Committable()))
}

func TestBufferDropForgetsRevokedPartitions(t *testing.T) {
	b := newBuffer()
	b.Handled(rec(0, 0))
	b.Add("a", bson.D{}, rec(0, 1))
	b.Handled(rec(1, 0))
	b.Add("b", bson.D{}, rec(1, 1))
	// A key that moved partitions: its latest record is in partition 2.
	b.Add("c", bson.D{}, rec(1, 2))
	b.Handled(rec(2, 6))
	b.Add("c", bson.D{}, rec(2, 7))
	assert.Equal(t, map[int32]int64{0: 1, 1: 1, 2: 7}, offsetsOf(b.Committable()))

	assert.Equal(t, 1, b.Drop([]int32{1}), "b dropped; c's latest record is in a partition we keep")
	assert.Equal(t, 2, b.Len())
	assert.Equal(t, map[int32]int64{0: 1, 2: 7}, offsetsOf(b.Committable()))
	assert.Equal(t, 1, b.Drop([]int32{2}))
	assert.Equal(t, map[int32]int64{0: 1}, offsetsOf(b.Committable()))
}
