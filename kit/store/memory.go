// Package store has the local storage of our Goka tables and views (Goka's
// storage.Storage, one per topic partition).
//
// Memory keeps a partition in memory with O(1) Set, Get and Delete (Goka's
// own storage.NewMemory re-sorts every key on each new key, so loading n
// rows costs O(n² log n)). Rows live in append-only byte arenas and are found
// through an open-addressing hash index of 8-byte slots; neither holds a Go
// pointer per row, so the garbage collector does not scan a table, and a row
// costs its key and value plus ~16 bytes. The key order Goka's iterators
// promise is produced only when an iterator is made, by sorting a snapshot.
//
// Builder picks Memory, or LevelDB files under --state.dir.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lovoo/goka/storage"
)

// Arena layout: a row is one record, uvarint(len key), uvarint(len value),
// key, value, padded to a multiple of unit bytes, in a chunk. A record is
// addressed by a 32-bit ref: the chunk index in the high bits, the offset in
// units in the low unitBits bits. Chunks grow from minChunk to maxChunk
// bytes; a record larger than maxChunk gets a chunk of its own (offset 0).
const (
	unit      = 4
	unitBits  = 16                     // offsets within a chunk, in units
	maxChunk  = unit << unitBits       // 256 KiB
	minChunk  = 4 << 10                // the first chunk of a partition
	maxChunks = 1<<(32-unitBits) - 1   // 65535 chunks (16 GiB per partition)
	minSlots  = 8                      // the smallest index
	offMask   = 1<<unitBits - 1        // the offset part of a ref
	minGC     = 1 << 20                // compact only when at least this much is dead
	empty     = 0                      // an unused index slot
	refMask   = math.MaxUint32         // the ref part of a slot
	hashShift = 32                     // the hash part of a slot
	noOffset  = math.MinInt64          // GetOffset before any SetOffset
	maxRecord = math.MaxInt32 - 2*unit // the largest row
)

// ErrClosed is returned by a Memory used after Close.
var ErrClosed = errors.New("store: storage is closed")

// ErrFull is returned by Set when a partition's rows exceed 16 GiB.
var ErrFull = errors.New("store: in-memory partition exceeds 16 GiB; keep it on disk (--state.dir)")

// Memory is an in-memory storage.Storage for one table partition. It is safe
// for any number of concurrent readers (Get, Has, iterators) and writers;
// Goka writes each partition from one goroutine, calls SetOffset also from
// its producer's callbacks, and reads from any processor callback or HTTP
// handler.
//
// Values returned by Get and by iterators stay valid and unchanged after the
// key is overwritten or deleted (arenas are never written twice); callers
// must not modify them.
type Memory struct {
	mu   sync.RWMutex
	seed maphash.Seed

	// slots is the index: 0 is free, else the key's 32-bit hash in the high
	// half and ref+1 in the low half. Linear probing from the slot named by
	// the hash's top bits; at most 3/4 full; deletes shift back (no
	// tombstones).
	slots []uint64
	bits  uint // len(slots) == 1<<bits
	rows  int

	chunks [][]byte // every chunk; only chunks[cur] is written, after used
	cur    int      // -1 before the first chunk of rows up to maxChunk
	used   int      // bytes of chunks[cur] in use
	live   int64    // bytes of records of live rows
	dead   int64    // bytes of records of overwritten and deleted rows

	offset atomic.Int64
	closed bool
}

var _ storage.Storage = (*Memory)(nil)

// NewMemory returns an empty in-memory storage.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), slots: make([]uint64, minSlots), bits: 3, cur: -1}
	m.offset.Store(noOffset)
	return m
}

// MemoryBuilder builds a Memory for every table partition.
func MemoryBuilder() storage.Builder {
	return func(string, int32) (storage.Storage, error) { return NewMemory(), nil }
}

func (m *Memory) hash(key string) uint32 {
	h := maphash.String(m.seed, key)
	return uint32(h ^ h>>32)
}

// home is the first slot probed for a hash.
func (m *Memory) home(h uint32) int { return int(h >> (32 - m.bits)) }

// record returns the key and value of the record at ref in chunks.
func record(chunks [][]byte, ref uint32) (key, value []byte) {
	c := chunks[ref>>unitBits]
	off := int(ref&offMask) * unit
	kl, n := binary.Uvarint(c[off:])
	off += n
	vl, n := binary.Uvarint(c[off:])
	off += n
	k := off + int(kl)
	v := k + int(vl)
	return c[off:k:k], c[k:v:v]
}

func recordKey(chunks [][]byte, ref uint32) []byte {
	k, _ := record(chunks, ref)
	return k
}

func recordSize(klen, vlen int) int {
	n := uvarintLen(klen) + uvarintLen(vlen) + klen + vlen
	return (n + unit - 1) / unit * unit
}

func uvarintLen(x int) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// find returns the slot of key, or the free slot where it would go.
func (m *Memory) find(key string, h uint32) (int, bool) {
	mask := len(m.slots) - 1
	for i := m.home(h); ; i = (i + 1) & mask {
		s := m.slots[i]
		if s == empty {
			return i, false
		}
		if uint32(s>>hashShift) == h && string(recordKey(m.chunks, uint32(s)-1)) == key {
			return i, true
		}
	}
}

// Has reports whether key is stored.
func (m *Memory) Has(key string) (bool, error) {
	h := m.hash(key)
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return false, ErrClosed
	}
	_, ok := m.find(key, h)
	return ok, nil
}

// Get returns the value of key, nil when it is not stored.
func (m *Memory) Get(key string) ([]byte, error) {
	h := m.hash(key)
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	i, ok := m.find(key, h)
	if !ok {
		return nil, nil
	}
	_, v := record(m.chunks, uint32(m.slots[i])-1)
	return v, nil
}

// Set stores value under key (a nil value is stored as an empty one, as
// LevelDB does; Goka deletes on nil before it gets here). The bytes are
// copied.
func (m *Memory) Set(key string, value []byte) error {
	size := recordSize(len(key), len(value))
	if size > maxRecord {
		return fmt.Errorf("store: row of %d bytes under key %.40q is too large", size, key)
	}
	h := m.hash(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if (m.rows+1)*4 > len(m.slots)*3 {
		m.grow()
	}
	i, found := m.find(key, h)
	ref, err := appendRecord(m, key, value, size)
	if err != nil {
		return err
	}
	if found {
		m.free(uint32(m.slots[i]) - 1)
	} else {
		m.rows++
	}
	m.slots[i] = uint64(h)<<hashShift | uint64(ref+1)
	m.live += int64(size)
	m.maybeCompact()
	return nil
}

// Delete removes key; a key that is not stored is no error.
func (m *Memory) Delete(key string) error {
	h := m.hash(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	i, found := m.find(key, h)
	if !found {
		return nil
	}
	m.free(uint32(m.slots[i]) - 1)
	m.rows--
	// Backward-shift deletion: move later entries of the probe run into the
	// hole unless their home lies cyclically in (hole, j].
	mask := len(m.slots) - 1
	for j := (i + 1) & mask; m.slots[j] != empty; j = (j + 1) & mask {
		home := m.home(uint32(m.slots[j] >> hashShift))
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			m.slots[i] = m.slots[j]
			i = j
		}
	}
	m.slots[i] = empty
	m.maybeCompact()
	return nil
}

// free accounts the record at ref as dead.
func (m *Memory) free(ref uint32) {
	k, v := record(m.chunks, ref)
	size := int64(recordSize(len(k), len(v)))
	m.live -= size
	m.dead += size
}

// appendRecord writes a record and returns its ref.
func appendRecord[K string | []byte](m *Memory, key K, value []byte, size int) (uint32, error) {
	var c []byte
	var idx int
	switch {
	case size > maxChunk:
		if len(m.chunks) >= maxChunks {
			return 0, ErrFull
		}
		c = make([]byte, size)
		idx = len(m.chunks)
		m.chunks = append(m.chunks, c)
	case m.cur < 0 || m.used+size > len(m.chunks[m.cur]):
		if len(m.chunks) >= maxChunks {
			return 0, ErrFull
		}
		n := minChunk
		if m.cur >= 0 {
			n = min(2*len(m.chunks[m.cur]), maxChunk)
		}
		for n < size {
			n *= 2
		}
		m.cur, m.used = len(m.chunks), 0
		m.chunks = append(m.chunks, make([]byte, n))
		fallthrough
	default:
		idx = m.cur
		c = m.chunks[m.cur][m.used:]
		m.used += size
	}
	off := (len(m.chunks[idx]) - len(c)) / unit
	n := binary.PutUvarint(c, uint64(len(key)))
	n += binary.PutUvarint(c[n:], uint64(len(value)))
	n += copy(c[n:], key)
	copy(c[n:], value)
	return uint32(idx)<<unitBits | uint32(off), nil
}

// grow doubles the index. The slots keep their hashes, so no key is read.
func (m *Memory) grow() { m.rehash(m.bits + 1) }

// rehash moves the slots into an index of 1<<bits slots.
func (m *Memory) rehash(bits uint) {
	old := m.slots
	m.bits = bits
	m.slots = make([]uint64, 1<<bits)
	mask := len(m.slots) - 1
	for _, s := range old {
		if s == empty {
			continue
		}
		i := m.home(uint32(s >> hashShift))
		for m.slots[i] != empty {
			i = (i + 1) & mask
		}
		m.slots[i] = s
	}
}

// maybeCompact copies the live records into new chunks once the dead ones
// outweigh half the live ones (so each byte written is copied at most twice
// on average). Old chunks are left to the garbage collector: iterators and
// values handed out keep reading them.
func (m *Memory) maybeCompact() {
	if m.dead < minGC || m.dead < m.live/2 {
		return
	}
	if m.rows*4 < len(m.slots) && m.bits > 3 {
		m.shrink()
	}
	old := m.chunks
	m.chunks, m.cur, m.used, m.live, m.dead = nil, -1, 0, 0, 0
	for i, s := range m.slots {
		if s == empty {
			continue
		}
		k, v := record(old, uint32(s)-1)
		size := recordSize(len(k), len(v))
		ref, _ := appendRecord(m, k, v, size) // fewer bytes than before: fits
		m.slots[i] = s&^refMask | uint64(ref+1)
		m.live += int64(size)
	}
}

// shrink halves the index while it stays at most 3/8 full.
func (m *Memory) shrink() {
	bits := m.bits
	for bits > 3 && m.rows*8 <= (1<<(bits-1))*3 {
		bits--
	}
	m.rehash(bits)
}

// GetOffset returns the offset last set, def before any.
func (m *Memory) GetOffset(def int64) (int64, error) {
	if o := m.offset.Load(); o != noOffset {
		return o, nil
	}
	return def, nil
}

// SetOffset records the offset of the last message applied.
func (m *Memory) SetOffset(offset int64) error {
	m.offset.Store(offset)
	return nil
}

// MarkRecovered does nothing: a Memory is the same during and after recovery.
func (m *Memory) MarkRecovered() error { return nil }

// Open does nothing.
func (m *Memory) Open() error { return nil }

// Close frees the rows; later calls return ErrClosed. Iterators already made
// keep working.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.slots, m.chunks = nil, nil
	return nil
}

// Iterator returns an iterator over a snapshot of all rows in key order.
func (m *Memory) Iterator() (storage.Iterator, error) {
	return m.IteratorWithRange(nil, nil)
}

// IteratorWithRange returns an iterator over a snapshot of the rows with
// keys in [start, limit), in key order. An empty limit means every key that
// starts with start, which is what Goka's LevelDB storage does (and its
// memory storage, roughly); View.IteratorWithRange(start, "") relies on it.
func (m *Memory) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if len(limit) == 0 {
		limit = prefixLimit(start)
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	chunks := m.chunks
	refs := make([]sortRef, 0, m.rows)
	for _, s := range m.slots {
		if s == empty {
			continue
		}
		ref := uint32(s) - 1
		k := recordKey(chunks, ref)
		if bytes.Compare(k, start) < 0 || (limit != nil && bytes.Compare(k, limit) >= 0) {
			continue
		}
		refs = append(refs, sortRef{keyPrefix(k), ref})
	}
	m.mu.RUnlock()
	// Records are immutable: sort without the lock. Most comparisons are of
	// the keys' first 8 bytes, held in refs (reading the keys from the
	// arenas is a cache miss each).
	slices.SortFunc(refs, func(a, b sortRef) int {
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		return bytes.Compare(recordKey(chunks, a.ref), recordKey(chunks, b.ref))
	})
	return &iterator{chunks: chunks, refs: refs, pos: -1}, nil
}

// sortRef is a record and the first 8 bytes of its key (zero padded, big
// endian: ordered as the keys are, up to ties).
type sortRef struct {
	prefix uint64
	ref    uint32
}

func keyPrefix(k []byte) uint64 {
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

// prefixLimit is the smallest key greater than every key starting with
// prefix; nil when there is none (no prefix, or only 0xff bytes).
func prefixLimit(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			limit := slices.Clone(prefix[:i+1])
			limit[i]++
			return limit
		}
	}
	return nil
}

// iterator walks a sorted snapshot of refs, like a LevelDB iterator: Seek
// positions on the first key >= the given one (Key and Value are then that
// row; Next moves past it).
type iterator struct {
	chunks [][]byte
	refs   []sortRef
	pos    int
}

func (it *iterator) valid() bool { return it.pos >= 0 && it.pos < len(it.refs) }

func (it *iterator) Next() bool {
	if it.pos < len(it.refs) {
		it.pos++
	}
	return it.pos < len(it.refs)
}

func (it *iterator) Err() error { return nil }

func (it *iterator) Key() []byte {
	if !it.valid() {
		return nil
	}
	return recordKey(it.chunks, it.refs[it.pos].ref)
}

func (it *iterator) Value() ([]byte, error) {
	if !it.valid() {
		return nil, nil
	}
	_, v := record(it.chunks, it.refs[it.pos].ref)
	return v, nil
}

func (it *iterator) Release() {
	it.chunks, it.refs, it.pos = nil, nil, 0
}

func (it *iterator) Seek(key []byte) bool {
	it.pos, _ = slices.BinarySearchFunc(it.refs, key, func(r sortRef, key []byte) int {
		return bytes.Compare(recordKey(it.chunks, r.ref), key)
	})
	return it.pos < len(it.refs)
}

// Stats describes the memory a Memory holds.
type Stats struct {
	Rows       int   // keys stored
	LiveBytes  int64 // bytes of the rows' records (key, value, two lengths, padding)
	DeadBytes  int64 // bytes of overwritten and deleted records not yet compacted
	ArenaBytes int64 // bytes of all chunks allocated
	IndexBytes int64 // bytes of the hash index
}

// Stats returns the current figures.
func (m *Memory) Stats() Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	s := Stats{Rows: m.rows, LiveBytes: m.live, DeadBytes: m.dead, IndexBytes: int64(len(m.slots)) * 8}
	for _, c := range m.chunks {
		s.ArenaBytes += int64(len(c))
	}
	return s
}
