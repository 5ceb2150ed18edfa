// Package murmur2 partitions keys as Kafka's Java client does. Kafka's Java
// client, Kafka Connect, Debezium and Confluent Cloud connectors place a
// keyed record in partition toPositive(murmur2(key)) % partitions. Goka and
// sarama default to FNV-1a, which places keys elsewhere: a Goka Lookup then
// reads the wrong partition of a table written by a Java producer and finds
// nothing. Every producer, processor, view and emitter of ours uses the
// functions here instead (franz-go, which the connectors use, partitions
// like Java by default).
package murmur2

import (
	"encoding/binary"
	"hash"

	"github.com/IBM/sarama"
)

const (
	murmur2Seed = 0x9747b28c
	murmur2M    = 0x5bd1e995
	murmur2R    = 24
)

// Hash is org.apache.kafka.common.utils.Utils.murmur2: the 32-bit
// MurmurHash2 of data with Kafka's seed, as a signed int like Java's.
func Hash(data []byte) int32 {
	length := len(data)
	h := uint32(murmur2Seed) ^ uint32(length)
	for ; len(data) >= 4; data = data[4:] {
		k := binary.LittleEndian.Uint32(data)
		k *= murmur2M
		k ^= k >> murmur2R
		k *= murmur2M
		h *= murmur2M
		h ^= k
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= murmur2M
	}
	h ^= h >> 13
	h *= murmur2M
	h ^= h >> 15
	return int32(h)
}

// toPositive is Kafka's Utils.toPositive: clear the sign bit (not abs).
func toPositive(n int32) int32 { return n & 0x7fffffff }

// Partition returns the partition Kafka's Java client (DefaultPartitioner /
// BuiltInPartitioner) chooses for a non-null key.
func Partition(key []byte, partitions int32) int32 {
	return toPositive(Hash(key)) % partitions
}

// Hasher returns a hash.Hash32 whose Sum32 is toPositive(murmur2(data)), for
// goka.WithHasher, goka.WithViewHasher, goka.WithEmitterHasher and sarama's
// NewCustomHashPartitioner. Goka and sarama reduce the sum with
// int32(sum) % partitions; the sum is already non-negative, so they pick the
// partition Java picks.
func Hasher() hash.Hash32 { return &murmur2Hash{} }

// NewPartitioner is a sarama.PartitionerConstructor placing keyed records
// like the Java client (records without a key go to a random partition).
func NewPartitioner(topic string) sarama.Partitioner {
	return sarama.NewCustomHashPartitioner(Hasher)(topic)
}

type murmur2Hash struct{ buf []byte }

func (m *murmur2Hash) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	return len(p), nil
}

func (m *murmur2Hash) Sum(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, m.Sum32())
}

func (m *murmur2Hash) Sum32() uint32  { return uint32(toPositive(Hash(m.buf))) }
func (m *murmur2Hash) Reset()         { m.buf = m.buf[:0] }
func (m *murmur2Hash) Size() int      { return 4 }
func (m *murmur2Hash) BlockSize() int { return 4 }
