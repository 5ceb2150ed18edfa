package codecs

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tavro "github.com/twmb/avro"
)

// TestDecimalsMatchTheBuiltInCodec: the fast decimal path writes and reads
// exactly what twmb/avro's own does, and fails where it fails.
func TestDecimalsMatchTheBuiltInCodec(t *testing.T) {
	const schema = `{"type":"record","name":"R","fields":[
		{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
		{"name":"b","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}},
		{"name":"c","type":{"type":"bytes","logicalType":"decimal","precision":30,"scale":4}}]}`
	type rec struct {
		A *big.Rat `avro:"a"`
		B *big.Rat `avro:"b"`
		C *big.Rat `avro:"c"`
	}
	fast, err := tavro.Parse(schema, decimals)
	require.NoError(t, err)
	slow, err := tavro.Parse(schema)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	value := func() *big.Rat {
		switch rng.IntN(8) {
		case 0:
			return new(big.Rat)
		case 1:
			return big.NewRat(-rng.Int64N(1e10), 100) // negative
		case 2:
			return big.NewRat(rng.Int64N(1<<62), 1) // large: over precision for a
		case 3:
			return big.NewRat(1, 3) // not exact at any scale
		case 4:
			return new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(1), 80), big.NewInt(100)) // over int64
		case 5:
			return big.NewRat(rng.Int64N(1e6), 8) // exact at scale 4, not 2
		default:
			return big.NewRat(rng.Int64N(1e12)-5e11, 100)
		}
	}
	for i := range 20000 {
		r := rec{value(), value(), value()}
		got, gerr := fast.Encode(&r)
		want, werr := slow.Encode(&r)
		require.Equal(t, werr != nil, gerr != nil, "case %d %v: fast err %v, built-in err %v", i, r, gerr, werr)
		if werr != nil {
			continue
		}
		require.Equal(t, want, got, "case %d: %v", i, r)
		var back, ref rec
		_, err := fast.Decode(got, &back)
		require.NoError(t, err)
		_, err = slow.Decode(got, &ref)
		require.NoError(t, err)
		for j, pair := range [][2]*big.Rat{{back.A, ref.A}, {back.B, ref.B}, {back.C, ref.C}} {
			assert.Zero(t, pair[0].Cmp(pair[1]), "case %d field %d: %v vs %v", i, j, pair[0], pair[1])
		}
	}
}

func TestTwosComplementEdges(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 1<<31 - 1, -1 << 31, 1<<63 - 1, -1 << 63} {
		b := appendTwos(nil, v)
		assert.Equal(t, v, fromTwos(b), "%d", v)
		assert.Equal(t, bigIntToBytesRef(big.NewInt(v)), b, "%d: Java's toByteArray", v)
	}
}

// bigIntToBytesRef is two's complement in the fewest bytes, from math/big.
func bigIntToBytesRef(i *big.Int) []byte {
	n := (i.BitLen() + 8) / 8 // room for the sign bit
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	u := new(big.Int).Set(i)
	if u.Sign() < 0 {
		u.Add(u, m)
	}
	b := u.FillBytes(make([]byte, n))
	for len(b) > 1 && ((b[0] == 0 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	return b
}
