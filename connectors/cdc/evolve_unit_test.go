package cdc

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tavro "github.com/twmb/avro"

	"github.com/orderstream/pipeline/avro"
	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/internal/testkit"
)

func TestAppendFieldsAppendsAndKeepsTheRecord(t *testing.T) {
	field := json.RawMessage(`{"name":"loyalty_tier","type":["null","string"],"default":null}`)
	text, err := appendFields(avro.CustomerSchema, []json.RawMessage{field})
	require.NoError(t, err)
	again, err := appendFields(avro.CustomerSchema, []json.RawMessage{field})
	require.NoError(t, err)
	assert.Equal(t, text, again, "the same schema, the same text (the registry answers the same id)")

	base, evolved := tavro.MustParse(avro.CustomerSchema), tavro.MustParse(text)
	assert.Equal(t, base.Root().Name, evolved.Root().Name)
	assert.Equal(t, base.Root().Namespace, evolved.Root().Namespace)
	assert.Equal(t, base.Root().Doc, evolved.Root().Doc)
	require.Len(t, evolved.Root().Fields, len(base.Root().Fields)+1)
	last := evolved.Root().Fields[len(base.Root().Fields)]
	assert.Equal(t, "loyalty_tier", last.Name)
	assert.True(t, last.HasDefault)
	assert.NoError(t, tavro.CheckCompatibility(base, evolved), "BACKWARD: the new schema reads the old records")
	assert.NoError(t, tavro.CheckCompatibility(evolved, base), "and the .avsc readers read the new ones")
}

func TestFits(t *testing.T) {
	node := func(s string) tavro.SchemaNode { return *tavro.MustParse(s).Root() }
	for _, tc := range []struct {
		field, col string
		ok         bool
	}{
		{`"string"`, avroString, true},
		{`["null","string"]`, avroString, true},
		{`"long"`, avroLong, true},
		{`"long"`, avroInt, true},
		{`"int"`, avroLong, false},
		{`"double"`, avroFloat, true},
		{`"string"`, avroInt, false},
		{`"bytes"`, avroString, true},
		{`{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, avroDecimal(10, 2), true},
		{`{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, avroDecimal(12, 2), false},
		{`{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, avroDecimal(10, 3), false},
		{`{"type":"long","logicalType":"timestamp-millis"}`, avroTimestamp, true},
		{`{"type":"long","logicalType":"timestamp-millis"}`, avroLong, false},
		{`"long"`, avroTimestamp, false},
		{`{"type":"int","logicalType":"date"}`, avroDate, true},
		{`"string"`, avroDate, false},
	} {
		ok, have, want := fits(node(tc.field), tc.col)
		assert.Equal(t, tc.ok, ok, "field %s, column %s (%s, %s)", tc.field, tc.col, have, want)
	}
}

func TestEnumAndSetValues(t *testing.T) {
	enum := enumValue([]string{"a", "b"})
	for in, want := range map[int64]any{0: "", 1: "a", 2: "b"} {
		got, err := enum(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := enum(int64(3))
	assert.Error(t, err)
	set := setValue([]string{"x", "y", "z"})
	for in, want := range map[int64]any{0: "", 1: "x", 5: "x,z", 7: "x,y,z"} {
		got, err := set(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err = set(int64(8))
	assert.Error(t, err)
	got, err := set(nil)
	require.NoError(t, err)
	assert.Nil(t, got)
}

func TestStartSchemaIsTheLatestRegisteredVersion(t *testing.T) {
	reg := testkit.Registry(t)
	ctx := context.Background()
	table := DefaultTables[0]
	table.Topic = "evolving"
	text, err := startSchema(ctx, reg, table)
	require.NoError(t, err)
	assert.Equal(t, avro.CustomerSchema, text, "a subject with no versions: the .avsc as written")

	// An earlier run added two columns; the .avsc is registered again
	// since (by a processor): the evolved schema is still the start.
	evolved, err := appendFields(avro.CustomerSchema, []json.RawMessage{
		json.RawMessage(`{"name":"loyalty_tier","type":["null","string"],"default":null}`),
		json.RawMessage(`{"name":"points","type":["null","int"],"default":null}`),
	})
	require.NoError(t, err)
	for _, s := range []string{avro.CustomerSchema, evolved, avro.CustomerSchema} {
		_, err = reg.Register(ctx, codecs.ValueSubject(table.Topic), s)
		require.NoError(t, err)
	}
	text, err = startSchema(ctx, reg, table)
	require.NoError(t, err)
	assert.Equal(t, evolved, text)
}
