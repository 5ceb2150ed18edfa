package codecs_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
)

func customerCodec(t *testing.T) *codecs.Avro[avro.Customer] {
	c, err := codecs.NewAvro[avro.Customer](context.Background(), testkit.Registry(t), "customers-value", avro.CustomerSchema)
	require.NoError(t, err)
	return c
}

func TestSharedDecodesARecordOnce(t *testing.T) {
	c := customerCodec(t)
	s := codecs.NewShared(c, 2)
	a, err := c.Encode(&avro.Customer{ID: 1, FirstName: "Ada", CreatedAt: when, UpdatedAt: when})
	require.NoError(t, err)
	b, err := c.Encode(&avro.Customer{ID: 1, FirstName: "Ada B.", CreatedAt: when, UpdatedAt: when})
	require.NoError(t, err)
	get := func(raw []byte) *avro.Customer {
		v, err := s.Decode(raw)
		require.NoError(t, err)
		d := v.(codecs.Decoded[avro.Customer])
		require.NoError(t, d.Err)
		return d.Value
	}
	first := get(a)
	assert.Same(t, first, get(append([]byte(nil), a...)), "the same bytes: the same value")
	changed := get(b)
	assert.NotSame(t, first, changed, "other bytes (the row changed): decoded again")
	assert.Equal(t, "Ada B.", changed.FirstName)
	bad, _ := s.Decode([]byte("garbage"))
	assert.Error(t, bad.(codecs.Decoded[avro.Customer]).Err, "errors are not remembered as values")
	// Bounded: a third record pushes one out; everything still decodes.
	c3, err := c.Encode(&avro.Customer{ID: 3, CreatedAt: when, UpdatedAt: when})
	require.NoError(t, err)
	for _, raw := range [][]byte{a, b, c3, a, b, c3} {
		assert.NotNil(t, get(raw))
	}
}

func TestOwnedHandsTheWrittenValueBackOnce(t *testing.T) {
	c := customerCodec(t)
	o := codecs.NewOwned(c, 10)
	v := &avro.Customer{ID: 7, FirstName: "Grace", CreatedAt: when, UpdatedAt: when}
	raw, err := o.Encode(v)
	require.NoError(t, err)
	got, _ := o.Decode(raw)
	assert.Same(t, v, got.(codecs.Decoded[avro.Customer]).Value, "the value written comes back without decoding")
	again, _ := o.Decode(raw)
	assert.NotSame(t, v, again.(codecs.Decoded[avro.Customer]).Value, "once: its owner may change it now")
	assert.Equal(t, "Grace", again.(codecs.Decoded[avro.Customer]).Value.FirstName)
}
