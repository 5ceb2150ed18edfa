package ordered_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/kit/ordered"
)

// fakeSession records the real MarkOffset calls.
type fakeSession struct {
	sarama.ConsumerGroupSession
	ctx    context.Context
	mu     sync.Mutex
	marked []int64
}

func (f *fakeSession) Context() context.Context { return f.ctx }

func (f *fakeSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marked = append(f.marked, offset)
}

func (f *fakeSession) last() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.marked) == 0 {
		return -1
	}
	return f.marked[len(f.marked)-1]
}

type fakeClaim struct {
	sarama.ConsumerGroupClaim
	ch chan *sarama.ConsumerMessage
}

func (c fakeClaim) Topic() string                            { return "orders" }
func (c fakeClaim) Partition() int32                         { return 3 }
func (c fakeClaim) Messages() <-chan *sarama.ConsumerMessage { return c.ch }

// deliver sends offsets through a claim of s and returns them as received
// on the other side.
func deliver(t *testing.T, s *ordered.Session, offsets ...int64) (got []*sarama.ConsumerMessage, stop func()) {
	t.Helper()
	in := make(chan *sarama.ConsumerMessage, len(offsets))
	for _, o := range offsets {
		in <- &sarama.ConsumerMessage{Topic: "orders", Partition: 3, Offset: o}
	}
	c, stop := s.Claim(fakeClaim{ch: in})
	for range offsets {
		got = append(got, <-c.Messages())
	}
	return got, stop
}

func TestACommitNeverPassesAMessageNotDone(t *testing.T) {
	f := &fakeSession{ctx: context.Background()}
	s := ordered.NewSession(f)
	msgs, stop := deliver(t, s, 10, 11, 12, 14) // 13 compacted away
	defer stop()
	require.Len(t, msgs, 4)

	s.MarkMessage(msgs[1], "") // 11 done while 10 is in flight
	assert.Equal(t, int64(-1), f.last(), "nothing may be committed past 10")
	s.MarkMessage(msgs[2], "")
	assert.Equal(t, int64(-1), f.last())
	s.MarkMessage(msgs[0], "") // 10 done: 10, 11, 12 are all done
	assert.Equal(t, int64(14), f.last(), "up to the first message not done")
	s.MarkMessage(msgs[3], "")
	assert.Equal(t, int64(15), f.last())
	assert.Equal(t, 0, s.Pending("orders", 3))
	s.MarkMessage(msgs[3], "") // again: no new mark
	assert.Equal(t, []int64{14, 15}, f.marked)
}

func TestAMessageNeverMarkedHoldsThePartition(t *testing.T) {
	f := &fakeSession{ctx: context.Background()}
	s := ordered.NewSession(f)
	msgs, stop := deliver(t, s, 0, 1, 2, 3)
	defer stop()
	for _, m := range msgs[2:] {
		s.MarkMessage(m, "")
	}
	s.MarkMessage(msgs[0], "")
	// Message 1's emit failed: Goka never marks it.
	assert.Equal(t, int64(1), f.last(), "the restart reads message 1 again")
	assert.Equal(t, 3, s.Pending("orders", 3))
}

// TestRandomCompletionOrder: whatever order messages finish in, every
// commit is at most the first message not yet done, and the last one is
// past them all.
func TestRandomCompletionOrder(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		f := &fakeSession{ctx: context.Background()}
		s := ordered.NewSession(f)
		var offsets []int64
		for o := int64(0); len(offsets) < 200; o += 1 + int64(rng.IntN(3)) {
			offsets = append(offsets, o)
		}
		msgs, stop := deliver(t, s, offsets...)
		order := rng.Perm(len(msgs))
		done := map[int64]bool{}
		for _, i := range order {
			s.MarkMessage(msgs[i], "")
			done[msgs[i].Offset] = true
			firstNotDone := offsets[len(offsets)-1] + 1
			for _, o := range offsets {
				if !done[o] {
					firstNotDone = o
					break
				}
			}
			require.LessOrEqual(t, f.last(), firstNotDone, "seed %d", seed)
		}
		require.Equal(t, offsets[len(offsets)-1]+1, f.last(), "seed %d", seed)
		require.True(t, slices.IsSorted(f.marked), "marks only move forward")
		stop()
	}
}

func TestStopEndsThePump(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeSession{ctx: ctx}
	s := ordered.NewSession(f)
	in := make(chan *sarama.ConsumerMessage)
	_, stop := s.Claim(fakeClaim{ch: in})
	cancel()
	stop() // returns: the pump saw the session end
}
