package cdc

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	tavro "github.com/twmb/avro"
)

// rowMapper turns a captured row (column name -> value, as the binlog
// decoder or the SQL driver hands it over) into the Avro record of its
// table: the columns the schema names, converted to its types, masked
// columns replaced; a field whose column the row does not have (a column
// added after the row was written, or dropped since) gets its default.
// Columns the schema does not name are never dropped silently: the source
// evolves the schema for them first (see reconcile).
type rowMapper struct {
	table       Table
	fields      []tavro.SchemaField
	mask        map[string]bool
	replacement string
}

func newRowMapper(t Table, schema *tavro.Schema, replacement string) (*rowMapper, error) {
	root := schema.Root()
	if root.Type != "record" {
		return nil, fmt.Errorf("table %s.%s: schema is a %s, want a record", t.Database, t.Name, root.Type)
	}
	m := &rowMapper{table: t, fields: root.Fields, mask: map[string]bool{}, replacement: replacement}
	var hasKey bool
	for _, f := range root.Fields {
		hasKey = hasKey || f.Name == t.KeyColumn
	}
	if !hasKey {
		return nil, fmt.Errorf("table %s.%s: the schema has no field for key column %q", t.Database, t.Name, t.KeyColumn)
	}
	for _, c := range t.Mask {
		m.mask[c] = true
	}
	return m, nil
}

// key returns the record key of a row: its id as a decimal string.
func (m *rowMapper) key(row map[string]any) (string, error) {
	v, ok := row[m.table.KeyColumn]
	if !ok || v == nil {
		return "", fmt.Errorf("key column %q is missing or NULL", m.table.KeyColumn)
	}
	id, err := toInt(v)
	if err != nil {
		return "", fmt.Errorf("key column %q: %w", m.table.KeyColumn, err)
	}
	return strconv.FormatInt(id, 10), nil
}

// record converts a row to the value twmb/avro encodes with the schema.
func (m *rowMapper) record(row map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(m.fields))
	for _, f := range m.fields {
		v, ok := row[f.Name]
		if !ok {
			if !f.HasDefault {
				return nil, fmt.Errorf("column %q is not in the row and field %q has no default", f.Name, f.Name)
			}
			out[f.Name] = f.Default
			continue
		}
		if m.mask[f.Name] && v != nil {
			v = m.replacement
		}
		c, err := convert(f.Type, v)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name, err)
		}
		out[f.Name] = c
	}
	return out, nil
}

// convert maps a column value to what the Avro type takes.
func convert(t tavro.SchemaNode, v any) (any, error) {
	if t.Type == "union" {
		if v == nil {
			for _, b := range t.Branches {
				if b.Type == "null" {
					return nil, nil
				}
			}
			return nil, fmt.Errorf("NULL where the schema allows no null")
		}
		for _, b := range t.Branches {
			if b.Type != "null" {
				return convert(b, v)
			}
		}
	}
	if v == nil {
		return nil, fmt.Errorf("NULL where the schema allows no null")
	}
	switch {
	case t.LogicalType == "decimal":
		return toRat(v)
	case strings.HasPrefix(t.LogicalType, "timestamp-") || strings.HasPrefix(t.LogicalType, "local-timestamp-"):
		return toTime(v)
	case t.LogicalType == "date":
		return toDate(v)
	}
	switch t.Type {
	case "long":
		return toInt(v)
	case "int":
		n, err := toInt(v)
		if err != nil {
			return nil, err
		}
		if n != int64(int32(n)) {
			return nil, fmt.Errorf("%d does not fit an Avro int", n)
		}
		return int32(n), nil
	case "string":
		return toString(v)
	case "boolean":
		n, err := toInt(v)
		return n != 0, err
	case "double", "float":
		s, err := toString(v)
		if err != nil {
			return nil, err
		}
		if t.Type == "float" {
			f, err := strconv.ParseFloat(s, 32)
			return float32(f), err
		}
		return strconv.ParseFloat(s, 64)
	case "bytes":
		s, err := toString(v)
		return []byte(s), err
	}
	return nil, fmt.Errorf("Avro type %s is not supported for captured columns", t.Type)
}

func toInt(v any) (int64, error) {
	switch n := v.(type) {
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	case int16:
		return int64(n), nil
	case int8:
		return int64(n), nil
	case int:
		return int64(n), nil
	case uint64:
		if n > 1<<63-1 {
			return 0, fmt.Errorf("%d does not fit a long", n)
		}
		return int64(n), nil
	case uint32:
		return int64(n), nil
	case uint16:
		return int64(n), nil
	case uint8:
		return int64(n), nil
	case []byte:
		return strconv.ParseInt(string(n), 10, 64)
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("%T is not an integer", v)
}

func toString(v any) (string, error) {
	switch s := v.(type) {
	case string:
		return s, nil
	case []byte:
		return string(s), nil
	case int64, int32, int16, int8, int, uint64, uint32, uint16, uint8, float64, float32:
		return fmt.Sprint(s), nil
	case time.Time:
		// A TIMESTAMP column: Debezium's ZonedTimestamp, ISO-8601 in UTC
		// with as many fractional digits as it needs.
		return s.UTC().Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("%T is not text", v)
}

// toRat reads a DECIMAL as an exact rational: the binlog decoder and the SQL
// driver both hand it over as its decimal text.
func toRat(v any) (*big.Rat, error) {
	s, err := toString(v)
	if err != nil {
		return nil, err
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a decimal", s)
	}
	return r, nil
}

// toDate reads a DATE: a time.Time from the SQL driver, its text
// (2006-01-02) from the binlog decoder.
func toDate(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	case string, []byte:
		s, _ := toString(t)
		p, err := time.ParseInLocation("2006-01-02", s, time.UTC)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a DATE: %w", s, err)
		}
		return p, nil
	}
	return time.Time{}, fmt.Errorf("%T is not a date", v)
}

// toTime reads DATETIME values, which hold UTC in this database.
func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC), nil
	case string, []byte:
		s, _ := toString(t)
		if strings.HasPrefix(s, "0000-00-00") {
			return time.Time{}, fmt.Errorf("zero date %q has no timestamp", s)
		}
		p, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a DATETIME: %w", s, err)
		}
		return p, nil
	}
	return time.Time{}, fmt.Errorf("%T is not a time", v)
}
