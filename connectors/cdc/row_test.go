package cdc

import (
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tavro "github.com/twmb/avro"

	"github.com/orderstream/pipeline/avro"
)

func customersMapper(t *testing.T) *rowMapper {
	s, err := tavro.Parse(avro.CustomerSchema)
	require.NoError(t, err)
	m, err := newRowMapper(DefaultTables[0], s, "****")
	require.NoError(t, err)
	return m
}

func TestRowFromBinlogValues(t *testing.T) {
	m := customersMapper(t)
	when := time.Date(2024, 1, 18, 10, 13, 29, 137_000_000, time.UTC)
	row := map[string]any{
		"id": int64(65), "first_name": "Yuki", "last_name": "Nakamura 🌸", "email": "y@example.com",
		"phone": nil, "credit_card": "4111111111111111", "city": []byte("São Paulo"), "country": "BR",
		"created_at": when, "updated_at": "2024-01-18 10:13:29.137",
		"loyalty_tier": "gold", // not in this schema: the mapper writes the schema's fields (reconcile evolves the schema first)
	}
	key, err := m.key(row)
	require.NoError(t, err)
	assert.Equal(t, "65", key)
	rec, err := m.record(row)
	require.NoError(t, err)
	assert.Equal(t, "****", rec["credit_card"], "masked before it leaves the process")
	assert.Nil(t, rec["phone"])
	assert.Equal(t, "São Paulo", rec["city"])
	assert.Equal(t, when, rec["created_at"])
	assert.Equal(t, when, rec["updated_at"], "DATETIME text is UTC")
	assert.NotContains(t, rec, "loyalty_tier")

	s, _ := tavro.Parse(avro.CustomerSchema)
	_, err = s.Encode(rec)
	require.NoError(t, err, "the record encodes with the schema")
}

func TestRowNullCardStaysNull(t *testing.T) {
	rec, err := customersMapper(t).record(map[string]any{"id": int64(1), "first_name": "a", "last_name": "b", "email": "c",
		"credit_card": nil, "created_at": time.Now(), "updated_at": time.Now()})
	require.NoError(t, err)
	assert.Nil(t, rec["credit_card"])
}

func TestRowDecimalIsExact(t *testing.T) {
	s, err := tavro.Parse(avro.ProductSchema)
	require.NoError(t, err)
	m, err := newRowMapper(DefaultTables[1], s, "****")
	require.NoError(t, err)
	rec, err := m.record(map[string]any{"id": uint64(19), "name": "Clip", "category": "Office", "price": "0.10",
		"description": nil, "created_at": time.Now(), "updated_at": time.Now()})
	require.NoError(t, err)
	assert.Zero(t, big.NewRat(1, 10).Cmp(rec["price"].(*big.Rat)))
}

func TestRowErrorsNameTheColumn(t *testing.T) {
	m := customersMapper(t)
	_, err := m.record(map[string]any{"id": int64(1), "first_name": nil})
	require.ErrorContains(t, err, `column "first_name": NULL where the schema allows no null`)
	_, err = m.record(map[string]any{"id": int64(1), "first_name": "a", "last_name": "b", "email": "c"})
	require.ErrorContains(t, err, `column "created_at" is not in the row`)
	_, err = m.key(map[string]any{"id": nil})
	require.ErrorContains(t, err, `key column "id" is missing or NULL`)
	_, err = m.record(map[string]any{"id": int64(1), "first_name": "a", "last_name": "b", "email": "c",
		"created_at": "0000-00-00 00:00:00", "updated_at": time.Now()})
	require.ErrorContains(t, err, "zero date")
}

func TestCheckSettingsNamesTheFix(t *testing.T) {
	good := map[string]string{"log_bin": "1", "binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"}
	require.NoError(t, checkSettings(good))
	for _, tc := range []struct{ name, value, want string }{
		{"log_bin", "0", "start the server with log-bin"},
		{"binlog_format", "STATEMENT", "set binlog_format=ROW"},
		{"binlog_format", "MIXED", "set binlog_format=ROW"},
		{"binlog_row_image", "MINIMAL", "set binlog_row_image=FULL"},
		{"binlog_row_metadata", "MINIMAL", "set binlog_row_metadata=FULL"},
		{"binlog_row_metadata", "", "set binlog_row_metadata=FULL"},
	} {
		v := map[string]string{}
		for k, x := range good {
			v[k] = x
		}
		v[tc.name] = tc.value
		err := checkSettings(v)
		assert.ErrorContains(t, err, tc.want, "%s=%s", tc.name, tc.value)
		assert.ErrorContains(t, err, "database/mysql-cdc.cnf")
	}
}

func TestTrackerAdvancesOnlyOverAcknowledgedTransactions(t *testing.T) {
	tr := newTracker(Offset{File: "bin.1", Pos: 4, SnapshotCompleted: true})
	ack1 := tr.promise()
	tr.commit(100) // tx 1: one record in flight
	ack2 := tr.promise()
	ack3 := tr.promise()
	tr.commit(200) // tx 2: two records
	tr.commit(300) // tx 3: no captured rows

	acked, _ := tr.state()
	assert.Equal(t, uint32(4), acked.Pos, "nothing acknowledged yet")
	ack2(nil, nil)
	ack3(nil, nil)
	acked, _ = tr.state()
	assert.Equal(t, uint32(4), acked.Pos, "tx 2 is done but tx 1 is not")
	ack1(nil, nil)
	acked, err := tr.state()
	require.NoError(t, err)
	assert.Equal(t, Offset{File: "bin.1", Pos: 300, SnapshotCompleted: true}, acked, "all three now")
}
