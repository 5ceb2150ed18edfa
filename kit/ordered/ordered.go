// Package ordered makes a sarama consumer group commit each partition's
// offsets in order: an offset is marked only once every message before it
// is done. Goka marks a message's offset (MarkOffset(offset+1)) as soon as
// that message's own emits are acknowledged, whatever the messages before it
// are doing; acknowledgements arrive on other goroutines, and sarama's
// MarkOffset only moves forward. So without this, message N+1 can commit
// past message N while N's emits are still in flight, and if they then fail
// (the processor stops), the restart begins after N: N is lost.
//
// ConsumerGroup wraps the group a Goka processor consumes with. Every
// message its claims deliver is registered, in offset order, before Goka
// sees it; Goka's MarkOffset for a message only records that message as
// done; the real MarkOffset advances to the first message not yet done.
// A message Goka never marks (its emit failed, the processor stopped) holds
// its partition's commit below it, so it is read again after the restart.
package ordered

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// Builder wraps a Goka consumer group builder so that the groups it builds
// commit in order.
func Builder(b goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := b(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return ConsumerGroup{cg}, nil
	}
}

// ConsumerGroup is a sarama.ConsumerGroup that commits in order.
type ConsumerGroup struct{ sarama.ConsumerGroup }

// Consume consumes with handler, through sessions and claims that commit in
// order.
func (g ConsumerGroup) Consume(ctx context.Context, topics []string, handler sarama.ConsumerGroupHandler) error {
	return g.ConsumerGroup.Consume(ctx, topics, &orderedHandler{handler: handler})
}

// orderedHandler wraps the handler's session once per generation.
type orderedHandler struct {
	handler sarama.ConsumerGroupHandler
	mu      sync.Mutex
	session *Session // of the current generation
}

func (h *orderedHandler) Setup(s sarama.ConsumerGroupSession) error {
	os := NewSession(s)
	h.mu.Lock()
	h.session = os
	h.mu.Unlock()
	return h.handler.Setup(os)
}

func (h *orderedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	return h.handler.Cleanup(h.current(s))
}

func (h *orderedHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	os := h.current(s)
	claim, stop := os.Claim(c)
	defer stop()
	return h.handler.ConsumeClaim(os, claim)
}

func (h *orderedHandler) current(s sarama.ConsumerGroupSession) *Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.session == nil || h.session.ConsumerGroupSession != s {
		h.session = NewSession(s)
	}
	return h.session
}

// Session is a sarama.ConsumerGroupSession whose MarkOffset commits in
// order over the messages its claims delivered.
type Session struct {
	sarama.ConsumerGroupSession
	mu    sync.Mutex
	parts map[topicPartition]*partition
}

type topicPartition struct {
	topic     string
	partition int32
}

// partition is what is in flight in one partition: the offsets delivered
// and not yet done, oldest first, and those done out of order.
type partition struct {
	pending []int64
	done    map[int64]bool
	next    int64 // the offset after the last message delivered
	marked  int64 // the last offset passed to the real MarkOffset
}

// NewSession wraps s.
func NewSession(s sarama.ConsumerGroupSession) *Session {
	return &Session{ConsumerGroupSession: s, parts: map[topicPartition]*partition{}}
}

// Claim returns c with its messages registered as delivered before they
// are handed on; call stop when done consuming it.
func (s *Session) Claim(c sarama.ConsumerGroupClaim) (sarama.ConsumerGroupClaim, func()) {
	tp := topicPartition{c.Topic(), c.Partition()}
	s.mu.Lock()
	if s.parts[tp] == nil {
		s.parts[tp] = &partition{done: map[int64]bool{}, next: -1, marked: -1}
	}
	s.mu.Unlock()
	out := make(chan *sarama.ConsumerMessage)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer close(out)
		in := c.Messages()
		for {
			var msg *sarama.ConsumerMessage
			var ok bool
			select {
			case msg, ok = <-in:
				if !ok {
					return
				}
			case <-quit:
				return
			case <-s.Context().Done():
				return
			}
			s.delivered(tp, msg.Offset)
			select {
			case out <- msg:
			case <-quit:
				return
			case <-s.Context().Done():
				return
			}
		}
	}()
	var once sync.Once
	return claim{c, out}, func() {
		once.Do(func() { close(quit) })
		<-finished
	}
}

type claim struct {
	sarama.ConsumerGroupClaim
	messages chan *sarama.ConsumerMessage
}

func (c claim) Messages() <-chan *sarama.ConsumerMessage { return c.messages }

func (s *Session) delivered(tp topicPartition, offset int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.parts[tp]
	if p.marked < 0 {
		p.marked = offset // where consumption started: nothing to mark yet
	}
	p.pending = append(p.pending, offset)
	p.next = offset + 1
}

// MarkOffset records the message before offset (offset-1, as Goka and
// sarama's MarkMessage pass it) as done, and marks the partition up to the
// first message delivered and not yet done.
func (s *Session) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	s.mu.Lock()
	p := s.parts[topicPartition{topic, partition}]
	if p == nil {
		// Not a claim of ours (nothing delivered through Claim): pass it on.
		s.mu.Unlock()
		s.ConsumerGroupSession.MarkOffset(topic, partition, offset, metadata)
		return
	}
	if len(p.pending) == 0 || offset-1 < p.pending[0] {
		s.mu.Unlock() // already done, or never delivered here
		return
	}
	p.done[offset-1] = true
	for len(p.pending) > 0 && p.done[p.pending[0]] {
		delete(p.done, p.pending[0])
		p.pending = p.pending[1:]
	}
	commit := p.next
	if len(p.pending) > 0 {
		commit = p.pending[0]
	}
	if commit <= p.marked {
		s.mu.Unlock()
		return
	}
	p.marked = commit
	s.mu.Unlock()
	s.ConsumerGroupSession.MarkOffset(topic, partition, commit, metadata)
}

// MarkMessage is MarkOffset(msg.Offset+1).
func (s *Session) MarkMessage(msg *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(msg.Topic, msg.Partition, msg.Offset+1, metadata)
}

// Pending returns how many messages of the partition are delivered and not
// yet done.
func (s *Session) Pending(topic string, partition int32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.parts[topicPartition{topic, partition}]; p != nil {
		return len(p.pending)
	}
	return 0
}
