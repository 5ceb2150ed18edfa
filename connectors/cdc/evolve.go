package cdc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"

	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/orderstream/pipeline/codecs"
	"github.com/orderstream/pipeline/kit/run"
)

// Schema evolution modes: what the source does with a column the topic's
// value schema does not know.
const (
	// EvolveSchema adds it to the schema as a new optional field (a union
	// with null, default null, appended), registered as a new version under
	// <topic>-value, as Debezium with the Avro converter does for a column
	// added by ALTER TABLE.
	EvolveSchema = "evolve"
	// FailOnUnknownColumn stops the source, naming the table and column.
	FailOnUnknownColumn = "fail"
)

// The schema a table's records are written with: the table's .avsc (the
// base), plus the fields evolution added, in the order they were added.
// Evolution only ever appends optional fields, so every version is
// backward compatible with the one before (a reader with the new schema
// reads the old records, the new field null), and the readers of the
// pipeline, which resolve any writer schema onto the .avsc they were built
// with, skip the added fields. A field is never removed: a dropped column's
// field stays, written as its default (null).

// startSchema is the schema text a table starts with: its .avsc, plus the
// fields of the latest version registered under the subject that the .avsc
// does not have (what an earlier run added), so that the evolved schema
// survives restarts and the field order stays as it was registered.
func startSchema(ctx context.Context, reg *codecs.Registry, t Table) (string, error) {
	latest, found, err := reg.Latest(ctx, codecs.ValueSubject(t.Topic))
	if err != nil || !found {
		return t.Schema, err
	}
	base, err := schemaFields(t.Schema)
	if err != nil {
		return "", fmt.Errorf("table %s.%s: schema: %w", t.Database, t.Name, err)
	}
	have := map[string]bool{}
	for _, f := range base {
		have[f.name] = true
	}
	registered, err := schemaFields(latest)
	if err != nil {
		// Not a record we can read (a subject someone else owns): start
		// from the .avsc; registering it says whether the registry agrees.
		return t.Schema, nil
	}
	var extra []json.RawMessage
	for _, f := range registered {
		if !have[f.name] {
			extra = append(extra, f.raw)
		}
	}
	if len(extra) == 0 {
		return t.Schema, nil
	}
	return appendFields(t.Schema, extra)
}

type rawField struct {
	name string
	raw  json.RawMessage
}

// schemaFields returns a record schema's fields as written.
func schemaFields(text string) ([]rawField, error) {
	var rec struct {
		Type   string            `json:"type"`
		Fields []json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal([]byte(text), &rec); err != nil {
		return nil, err
	}
	if rec.Type != "record" {
		return nil, fmt.Errorf("not a record schema")
	}
	out := make([]rawField, len(rec.Fields))
	for i, raw := range rec.Fields {
		var f struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, err
		}
		out[i] = rawField{name: f.Name, raw: raw}
	}
	return out, nil
}

// appendFields returns a record schema's text with fields appended. The
// record's attributes come first in the usual order (type, name,
// namespace, doc, aliases, fields), the others after them sorted, so the
// same schema always has the same text.
func appendFields(text string, fields []json.RawMessage) (string, error) {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &attrs); err != nil {
		return "", err
	}
	var have []json.RawMessage
	if err := json.Unmarshal(attrs["fields"], &have); err != nil {
		return "", fmt.Errorf("fields: %w", err)
	}
	all, err := json.Marshal(append(have, fields...))
	if err != nil {
		return "", err
	}
	attrs["fields"] = all
	order := []string{"type", "name", "namespace", "doc", "aliases", "fields"}
	var rest []string
	for k := range attrs {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var b bytes.Buffer
	b.WriteByte('{')
	for _, k := range append(order, rest...) {
		v, ok := attrs[k]
		if !ok {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		if err := json.Compact(&b, v); err != nil {
			return "", err
		}
	}
	b.WriteByte('}')
	return b.String(), nil
}

// useSchema makes text the schema c's records are written with: registered
// under the topic's subject, and the row mapper built for it.
func (s *Source) useSchema(ctx context.Context, c *capture, text string) error {
	schema, err := tavro.Parse(text)
	if err != nil {
		return &run.Permanent{Err: fmt.Errorf("table %s.%s: schema: %w", c.Database, c.Name, err)}
	}
	m, err := newRowMapper(c.Table, schema, s.opts.MaskReplacement)
	if err != nil {
		return &run.Permanent{Err: err}
	}
	codec, err := codecs.NewAvro[map[string]any](ctx, s.reg, codecs.ValueSubject(c.Topic), text)
	if err != nil {
		if code := refused(err); code != 0 {
			return &run.Permanent{Err: fmt.Errorf("%w (HTTP %d)", err, code)}
		}
		return err
	}
	c.text, c.schema, c.mapper, c.codec = text, schema, m, codec
	return nil
}

// refused returns the status of a registry's answer that retrying will not
// change (0 for any other error): the schema is incompatible (409), invalid
// (422), or, with auto-registration off, not registered (404).
func refused(err error) int {
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusUnprocessableEntity || re.StatusCode == http.StatusNotFound) {
		return re.StatusCode
	}
	return 0
}

var avroName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// reconcile checks the columns a table has (in the binlog event or the
// snapshot at hand) against the schema its records are written with, and
// evolves the schema for columns it does not know. It stops the source
// (a *run.Permanent error naming the table and the column) where the
// records could not carry the table's rows to the schema's readers: a
// column whose type no longer fits its field, a field without default
// whose column is gone, an unknown column under FailOnUnknownColumn, or a
// new column of a type the source does not map.
func (s *Source) reconcile(ctx context.Context, c *capture, cols []column, where string) error {
	table := c.Database + "." + c.Name
	byName := make(map[string]column, len(cols))
	for _, col := range cols {
		byName[col.name] = col
	}
	root := c.schema.Root()
	known := make(map[string]bool, len(root.Fields))
	for _, f := range root.Fields {
		known[f.Name] = true
		col, ok := byName[f.Name]
		if !ok {
			if f.HasDefault {
				continue // a dropped column: its field stays, with its default
			}
			return &run.Permanent{Err: fmt.Errorf("table %s: column %s is gone (at %s), but field %q of %s has no default, so the records of topic %s cannot be written without it: "+
				"add the column back and restart once with --reset.offsets (a new snapshot, past the events without it), or give the field a default in the schema", table, f.Name, where, f.Name, root.Name, c.Topic)}
		}
		if col.avro == "" {
			continue // a type the source does not map: its values are converted as they come
		}
		if ok, have, want := fits(f.Type, col.avro); !ok {
			return &run.Permanent{Err: fmt.Errorf("table %s: column %s is now %s (Avro %s), but field %q of %s on topic %s is %s (at %s): "+
				"a type change is not a compatible schema version for the topic's readers; change the column back and restart once with --reset.offsets (a new snapshot, past the events of the other type), or move the table to a new topic",
				table, col.name, col.sqlType, want, f.Name, root.Name, c.Topic, have, where)}
		}
	}
	var added []column
	for _, col := range cols {
		if !known[col.name] {
			added = append(added, col)
		}
	}
	if len(added) == 0 {
		return nil
	}
	names := func() string {
		var n []string
		for _, col := range added {
			n = append(n, col.name+" "+col.sqlType)
		}
		return strings.Join(n, ", ")
	}
	if s.opts.SchemaEvolution == FailOnUnknownColumn {
		return &run.Permanent{Err: fmt.Errorf("table %s has column %s that schema %s of topic %s does not have (at %s); --schema.evolution=%s stops on it (restart with %s to add it as an optional field)",
			table, names(), root.Name, c.Topic, where, FailOnUnknownColumn, EvolveSchema)}
	}
	var fields []json.RawMessage
	for _, col := range added {
		if col.avro == "" {
			return &run.Permanent{Err: fmt.Errorf("table %s: new column %s has type %s, which the source does not map to Avro (at %s); drop or change it and restart once with --reset.offsets", table, col.name, col.sqlType, where)}
		}
		if !avroName.MatchString(col.name) {
			return &run.Permanent{Err: fmt.Errorf("table %s: new column %q is not a valid Avro field name (at %s)", table, col.name, where)}
		}
		name, _ := json.Marshal(col.name)
		fields = append(fields, json.RawMessage(fmt.Sprintf(`{"name":%s,"type":["null",%s],"default":null}`, name, col.avro)))
	}
	text, err := appendFields(c.text, fields)
	if err != nil {
		return &run.Permanent{Err: fmt.Errorf("table %s: evolving schema %s: %w", table, root.Name, err)}
	}
	next, err := tavro.Parse(text)
	if err == nil {
		// BACKWARD: the new schema reads what the current one wrote.
		err = tavro.CheckCompatibility(c.schema, next)
	}
	if err != nil {
		return &run.Permanent{Err: fmt.Errorf("table %s: new column %s: the evolved schema is not backward compatible: %w", table, names(), err)}
	}
	old := c.codec.SchemaID()
	if err := s.useSchema(ctx, c, text); err != nil {
		var p *run.Permanent
		if errors.As(err, &p) {
			return &run.Permanent{Err: fmt.Errorf("table %s: new column %s: the schema registry refuses the evolved schema of topic %s (allow it, then restart): %w", table, names(), c.Topic, err)}
		}
		return fmt.Errorf("table %s: new column %s: registering the evolved schema: %w", table, names(), err)
	}
	schemaChanges.WithLabelValues(c.Topic).Inc()
	s.log.WarnContext(ctx, "schema evolved: new columns are new optional fields", "table", table, "columns", names(), "topic", c.Topic,
		"subject", codecs.ValueSubject(c.Topic), "schema_id", c.codec.SchemaID(), "previous_schema_id", old, "at", where)
	return nil
}

// fits reports whether every value of a column whose values have Avro
// type col can be written to a field of type field (its non-null branch):
// the same type (decimals: the same precision and scale), or an int into a
// long, a float into a double, text into bytes and back. It returns the
// two types for messages.
func fits(field tavro.SchemaNode, col string) (ok bool, have, want string) {
	f := field
	if f.Type == "union" {
		for _, b := range f.Branches {
			if b.Type != "null" {
				f = b
			}
		}
	}
	cs, err := tavro.Parse(col)
	if err != nil {
		return false, describe(f), col
	}
	c := *cs.Root()
	have, want = describe(f), describe(c)
	if f.LogicalType != c.LogicalType {
		return false, have, want
	}
	if f.LogicalType == "decimal" {
		return f.Precision == c.Precision && f.Scale == c.Scale, have, want
	}
	switch {
	case f.Type == c.Type,
		f.Type == "long" && c.Type == "int",
		f.Type == "double" && c.Type == "float",
		f.Type == "string" && c.Type == "bytes",
		f.Type == "bytes" && c.Type == "string":
		return true, have, want
	}
	return false, have, want
}

func describe(n tavro.SchemaNode) string {
	switch {
	case n.LogicalType == "decimal":
		return fmt.Sprintf("decimal(%d,%d)", n.Precision, n.Scale)
	case n.LogicalType != "":
		return n.LogicalType
	}
	return n.Type
}
