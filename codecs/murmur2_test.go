package codecs_test

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/codecs"
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

func TestMurmur2MatchesKafkaUtils(t *testing.T) {
	for key, want := range kafkaUtilsTestVectors {
		assert.Equal(t, want, codecs.Murmur2([]byte(key)), "murmur2(%q)", key)
	}
}

func TestHasherAndPartitionerAgreeWithPartition(t *testing.T) {
	p := codecs.NewPartitioner("orders")
	for _, key := range []string{"", "0", "1", "21", "42", "foobar", "ä€😀", "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"} {
		for _, n := range []int32{1, 3, 6, 12} {
			want := codecs.Partition([]byte(key), n)
			require.True(t, want >= 0 && want < n)

			got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			require.NoError(t, err)
			assert.Equal(t, want, got, "sarama partitioner, key %q, %d partitions", key, n)

			// Goka: int32(Sum32()), negated when negative, modulo n.
			h := codecs.Hasher()
			_, _ = h.Write([]byte(key))
			sum := int32(h.Sum32())
			assert.GreaterOrEqual(t, sum, int32(0))
			assert.Equal(t, want, sum%n, "goka hasher, key %q, %d partitions", key, n)
		}
	}
}

func TestHasherReset(t *testing.T) {
	h := codecs.Hasher()
	_, _ = h.Write([]byte("foo"))
	h.Reset()
	_, _ = h.Write([]byte("21"))
	assert.Equal(t, uint32(-973932308&0x7fffffff), h.Sum32())
}

func TestKeys(t *testing.T) {
	assert.Equal(t, "42", codecs.Key(42))
	id, err := codecs.ParseKey("42")
	require.NoError(t, err)
	assert.Equal(t, int64(42), id)
	_, err = codecs.ParseKey("\x00\x00\x00\x00\x01T")
	require.ErrorContains(t, err, "not a decimal row id")
}
