package murmur2_test

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/kit/murmur2"
)

// From Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
// (testMurmur2).
var kafkaUtilsTestVectors = map[string]int32{
	"21":                         -973932308,
	"foobar":                     -790332482,
	"a-little-bit-long-string":   -985981536,
	"a-little-bit-longer-string": -1486304829,
	"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
	"abc": 479470107,
}

// Printed by Kafka 4.1.1's own code (kafka-clients on the classpath of
// scripts/kafka.sh): Utils.murmur2(key.getBytes(UTF_8)) and
// Utils.toPositive(murmur2) % n for n = 3, 6, 12.
var javaVectors = []struct {
	key         string
	murmur2     int32
	p3, p6, p12 int32
}{
	{"", 275646681, 0, 3, 9},
	{"0", 971027396, 2, 2, 8},
	{"1", -1993445489, 0, 3, 3},
	{"21", -973932308, 0, 0, 0},
	{"42", 417700972, 1, 4, 4},
	{"100", 627947253, 0, 3, 9},
	{"12345", -1188365604, 2, 2, 8},
	{"foobar", -790332482, 0, 0, 6},
	{"abc", 479470107, 0, 3, 3},
	{"a-little-bit-long-string", -985981536, 2, 2, 8},
	{"a-little-bit-longer-string", -1486304829, 2, 5, 11},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971, 2, 5, 5},
	{"customer-7", -1283830537, 1, 1, 7},
	{"ä€😀", -565103750, 0, 0, 6},
	{"2", 648968168, 2, 2, 8},
	{"3", -1148165505, 2, 5, 11},
	{"4", 1514888353, 1, 1, 1},
	{"5", 55100550, 0, 0, 6},
	{"6", 1157411398, 1, 4, 10},
	{"7", -1961297549, 0, 3, 3},
	{"8", 828913227, 0, 3, 3},
	{"9", 415544963, 2, 5, 11},
	{"10", 1164287326, 1, 4, 10},
	{"11", -800031680, 0, 0, 0},
	{"12", 126087238, 1, 4, 10},
	{"13", -1108865041, 1, 1, 7},
	{"14", 212412655, 1, 1, 7},
	{"15", 626769438, 0, 0, 6},
	{"16", -2136730347, 2, 5, 5},
	{"17", -424092380, 0, 0, 0},
	{"18", 1180781992, 1, 4, 4},
	{"19", -1753221073, 1, 1, 7},
	{"20", -999018406, 1, 4, 10},
}

func TestPartitionMatchesJavaClient(t *testing.T) {
	for _, v := range javaVectors {
		assert.Equal(t, v.murmur2, murmur2.Hash([]byte(v.key)), "murmur2(%q)", v.key)
		assert.Equal(t, v.p3, murmur2.Partition([]byte(v.key), 3), "partition(%q, 3)", v.key)
		assert.Equal(t, v.p6, murmur2.Partition([]byte(v.key), 6), "partition(%q, 6)", v.key)
		assert.Equal(t, v.p12, murmur2.Partition([]byte(v.key), 12), "partition(%q, 12)", v.key)
	}
}

func TestMurmur2MatchesKafkaUtils(t *testing.T) {
	for key, want := range kafkaUtilsTestVectors {
		assert.Equal(t, want, murmur2.Hash([]byte(key)), "murmur2(%q)", key)
	}
}

func TestHasherAndPartitionerAgreeWithPartition(t *testing.T) {
	p := murmur2.NewPartitioner("orders")
	for _, key := range []string{"", "0", "1", "21", "42", "foobar", "ä€😀", "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"} {
		for _, n := range []int32{1, 3, 6, 12} {
			want := murmur2.Partition([]byte(key), n)
			require.True(t, want >= 0 && want < n)

			got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			require.NoError(t, err)
			assert.Equal(t, want, got, "sarama partitioner, key %q, %d partitions", key, n)

			// Goka: int32(Sum32()), negated when negative, modulo n.
			h := murmur2.Hasher()
			_, _ = h.Write([]byte(key))
			sum := int32(h.Sum32())
			assert.GreaterOrEqual(t, sum, int32(0))
			assert.Equal(t, want, sum%n, "goka hasher, key %q, %d partitions", key, n)
		}
	}
}

func TestHasherReset(t *testing.T) {
	h := murmur2.Hasher()
	_, _ = h.Write([]byte("foo"))
	h.Reset()
	_, _ = h.Write([]byte("21"))
	assert.Equal(t, uint32(-973932308&0x7fffffff), h.Sum32())
}

func BenchmarkPartition(b *testing.B) {
	key := []byte("123456")
	for b.Loop() {
		murmur2.Partition(key, 6)
	}
}
