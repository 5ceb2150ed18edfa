package codecs

import (
	"sync"
)

// A memo remembers decoded values by the exact bytes they were decoded
// from, so that a value read again and again (a lookup row, a customer's
// state) is decoded once. Bytes, not keys, are the identity: a row that
// changed has other bytes, and misses. It holds at most limit entries,
// dropping an arbitrary one when full.
type memo[T any] struct {
	mu    sync.Mutex
	limit int
	m     map[string]*T
}

func newMemo[T any](limit int) *memo[T] {
	return &memo[T]{limit: max(limit, 1), m: make(map[string]*T)}
}

func (m *memo[T]) get(raw []byte, take bool) (*T, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[string(raw)]
	if ok && take {
		delete(m.m, string(raw))
	}
	return v, ok
}

func (m *memo[T]) put(raw []byte, v *T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= m.limit {
		for k := range m.m {
			delete(m.m, k)
			break
		}
	}
	m.m[string(raw)] = v
}

// Shared is a Lenient codec for values that are only read (lookup rows):
// a record decoded before is returned again, the same *T to every caller,
// who must not change it.
type Shared[T any] struct {
	Lenient[T]
	memo *memo[T]
}

// NewShared wraps c, remembering up to limit decoded values.
func NewShared[T any](c *Avro[T], limit int) Shared[T] {
	return Shared[T]{NewLenient(c), newMemo[T](limit)}
}

// Decode returns a Decoded[T] and never an error.
func (s Shared[T]) Decode(data []byte) (any, error) {
	if v, ok := s.memo.get(data, false); ok {
		return Decoded[T]{Value: v, Raw: data}, nil
	}
	v, err := s.DecodeValue(data)
	if err == nil {
		s.memo.put(data, v)
	}
	return Decoded[T]{Value: v, Raw: data, Err: err}, nil
}

// Owned is a Lenient codec for a value its one owner reads, changes and
// writes back (a processor's state for a key): the value it encodes is
// remembered by its bytes, and decoding those bytes hands the same value
// back, once (the entry is taken: the owner is about to change it).
type Owned[T any] struct {
	Lenient[T]
	memo *memo[T]
}

// NewOwned wraps c, remembering up to limit values.
func NewOwned[T any](c *Avro[T], limit int) Owned[T] {
	return Owned[T]{NewLenient(c), newMemo[T](limit)}
}

// Encode encodes v (a *T, or Raw) and remembers a *T by its bytes.
func (o Owned[T]) Encode(value any) ([]byte, error) {
	b, err := o.Lenient.Encode(value)
	if v, ok := value.(*T); ok && err == nil {
		o.memo.put(b, v)
	}
	return b, err
}

// Decode returns a Decoded[T] and never an error.
func (o Owned[T]) Decode(data []byte) (any, error) {
	if v, ok := o.memo.get(data, true); ok {
		return Decoded[T]{Value: v, Raw: data}, nil
	}
	return o.Lenient.Decode(data)
}
