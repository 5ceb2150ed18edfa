package codecs_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/orderstream/pipeline/codecs"
)

func TestKeys(t *testing.T) {
	assert.Equal(t, "42", codecs.Key(42))
	id, err := codecs.ParseKey("42")
	require.NoError(t, err)
	assert.Equal(t, int64(42), id)
	_, err = codecs.ParseKey("\x00\x00\x00\x00\x01T")
	require.ErrorContains(t, err, "not a decimal row id")
}
