package schemaregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// The journal is a compacted, single-partition topic in the format
// Confluent's Schema Registry (and Karapace) write to _schemas: JSON keys
// naming what a record is about, JSON values with its current state, a null
// value (tombstone) for a hard delete. The last value of each key is the
// state of that key, so compaction keeps the registry intact.
//
//	key                                                          value
//	{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}     {"subject":"s","version":1,"id":3,"schema":"...","deleted":false}
//	{"keytype":"CONFIG","subject":null,"magic":0}                {"compatibilityLevel":"BACKWARD"}   (global level)
//	{"keytype":"CONFIG","subject":"s","magic":0}                 {"compatibilityLevel":"FULL"}, null = reset
//	{"keytype":"DELETE_SUBJECT","subject":"s","magic":0}         {"subject":"s","version":4}          (read, not written)
//	{"keytype":"NOOP","magic":0}                                 null: a marker to wait for
//
// A soft delete rewrites the SCHEMA value with "deleted":true. Records
// whose key is not JSON are the journal of the first version of this
// package (key "subject/version", value {"subject","version","id","schema",
// "schemaType","references"}); they are read, never written.

// Key types.
const (
	keySchema        = "SCHEMA"
	keyConfig        = "CONFIG"
	keyDeleteSubject = "DELETE_SUBJECT"
	keyNoop          = "NOOP"
)

// journalKey is any key, as read.
type journalKey struct {
	Keytype string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version int     `json:"version"`
	Magic   int     `json:"magic"`
}

// Keys as written, fields in Confluent's order.
type schemaKey struct {
	Keytype string `json:"keytype"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
	Magic   int    `json:"magic"`
}

type configKey struct {
	Keytype string  `json:"keytype"`
	Subject *string `json:"subject"`
	Magic   int     `json:"magic"`
}

type noopKey struct {
	Keytype string `json:"keytype"`
	Magic   int    `json:"magic"`
}

// schemaValue is the value of a SCHEMA key (and of a legacy record).
type schemaValue struct {
	Subject    string               `json:"subject"`
	Version    int                  `json:"version"`
	ID         int                  `json:"id"`
	SchemaType string               `json:"schemaType,omitempty"`
	References []sr.SchemaReference `json:"references,omitempty"`
	Schema     string               `json:"schema"`
	Deleted    bool                 `json:"deleted"`
}

type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schema is one registered schema (one id).
type schema struct {
	id   int
	text string // as registered
	typ  sr.SchemaType
	refs []sr.SchemaReference
	norm string // for equality: the JSON re-encoded, type and references

	parsed   *tavro.Schema // Avro only, parsed once
	parseErr error
}

func newSchema(id int, text string, typ sr.SchemaType, refs []sr.SchemaReference) *schema {
	return &schema{id: id, text: text, typ: typ, refs: refs, norm: normalize(text, typ, refs)}
}

// avro returns the parsed Avro schema.
func (s *schema) avro() (*tavro.Schema, error) {
	if s.parsed == nil && s.parseErr == nil {
		if s.typ != sr.TypeAvro {
			s.parseErr = fmt.Errorf("schema %d is %s, not AVRO", s.id, s.typ)
		} else {
			s.parsed, s.parseErr = tavro.Parse(s.text)
		}
	}
	return s.parsed, s.parseErr
}

// normalize is what two registrations of one schema have in common: the JSON
// re-encoded (object keys sorted, no whitespace), the type and the
// references. Avro field order is kept (it is an array).
func normalize(text string, typ sr.SchemaType, refs []sr.SchemaReference) string {
	var b bytes.Buffer
	var v any
	if err := json.Unmarshal([]byte(text), &v); err == nil {
		out, _ := json.Marshal(v)
		b.Write(out)
	} else {
		b.WriteString(text)
	}
	fmt.Fprintf(&b, "\x00%d", typ)
	for _, r := range refs {
		fmt.Fprintf(&b, "\x00%s\x00%s\x00%d", r.Name, r.Subject, r.Version)
	}
	return b.String()
}

// version is one version of a subject.
type version struct {
	id      int
	deleted bool
}

type subject struct {
	versions map[int]*version
	compat   sr.CompatibilityLevel // 0: not set, the global level applies
}

// sortedVersions are the subject's versions in order, soft-deleted ones
// only if deleted.
func (s *subject) sortedVersions(deleted bool) []int {
	var out []int
	for v, d := range s.versions {
		if deleted || !d.deleted {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

// latest is the highest live version, 0 if none.
func (s *subject) latest() int {
	vs := s.sortedVersions(false)
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// highest is the highest version ever given, soft-deleted included: a new
// version comes after it.
func (s *subject) highest() int {
	vs := s.sortedVersions(true)
	if len(vs) == 0 {
		return 0
	}
	return vs[len(vs)-1]
}

// state is the registry: what the journal says, up to seen.
type state struct {
	subjects map[string]*subject
	byID     map[int]*schema
	global   sr.CompatibilityLevel // 0: the configured default
	maxID    int                   // the highest id ever seen: ids are never handed out twice
}

func newState() *state {
	return &state{subjects: map[string]*subject{}, byID: map[int]*schema{}}
}

func (st *state) subject(name string) *subject {
	s := st.subjects[name]
	if s == nil {
		s = &subject{versions: map[int]*version{}}
		st.subjects[name] = s
	}
	return s
}

// apply changes the state by one journal record. Every instance applies
// the same records in the same order with these rules, so all agree; a
// record that breaks them (which only a foreign or corrupt journal has) is
// skipped, and the returned error says why.
func (st *state) apply(rec *kgo.Record) error {
	if len(rec.Key) == 0 {
		return fmt.Errorf("a record without key")
	}
	if rec.Key[0] != '{' {
		return st.applyLegacy(rec)
	}
	var k journalKey
	if err := json.Unmarshal(rec.Key, &k); err != nil {
		return fmt.Errorf("key %q: %w", rec.Key, err)
	}
	switch k.Keytype {
	case keySchema:
		if k.Subject == nil {
			return fmt.Errorf("SCHEMA key without subject")
		}
		if rec.Value == nil {
			st.hardDelete(*k.Subject, k.Version)
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(rec.Value, &v); err != nil {
			return fmt.Errorf("SCHEMA %s version %d: %w", *k.Subject, k.Version, err)
		}
		if v.Subject != *k.Subject || v.Version != k.Version {
			return fmt.Errorf("SCHEMA key %s/%d holds %s/%d", *k.Subject, k.Version, v.Subject, v.Version)
		}
		return st.put(v)
	case keyConfig:
		var level sr.CompatibilityLevel
		if rec.Value != nil {
			var v configValue
			if err := json.Unmarshal(rec.Value, &v); err != nil {
				return fmt.Errorf("CONFIG: %w", err)
			}
			if err := level.UnmarshalText([]byte(v.CompatibilityLevel)); err != nil {
				return fmt.Errorf("CONFIG: %w", err)
			}
		}
		if k.Subject == nil {
			st.global = level
		} else {
			st.subject(*k.Subject).compat = level
		}
		return nil
	case keyDeleteSubject:
		var v deleteSubjectValue
		if rec.Value == nil || json.Unmarshal(rec.Value, &v) != nil {
			return fmt.Errorf("DELETE_SUBJECT without a value")
		}
		if s := st.subjects[v.Subject]; s != nil {
			for n, ver := range s.versions {
				if n <= v.Version {
					ver.deleted = true
				}
			}
		}
		return nil
	case keyNoop:
		return nil
	}
	return nil // MODE, CONTEXT, ...: nothing this registry keeps
}

// applyLegacy reads a record of this package's first journal format.
func (st *state) applyLegacy(rec *kgo.Record) error {
	if rec.Value == nil {
		return nil
	}
	var v schemaValue
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return fmt.Errorf("legacy record %q: %w", rec.Key, err)
	}
	return st.put(v)
}

// put sets a version. An id already held by another schema, or a version
// already held by another id, is refused: first in the journal wins.
func (st *state) put(v schemaValue) error {
	var typ sr.SchemaType
	if err := typ.UnmarshalText([]byte(v.SchemaType)); err != nil {
		return fmt.Errorf("%s version %d: %w", v.Subject, v.Version, err)
	}
	if v.ID <= 0 || v.Version <= 0 || v.Subject == "" {
		return fmt.Errorf("%s version %d id %d: not a registration", v.Subject, v.Version, v.ID)
	}
	s := newSchema(v.ID, v.Schema, typ, v.References)
	if have := st.byID[v.ID]; have != nil && have.norm != s.norm {
		return fmt.Errorf("%s version %d: id %d is already another schema's", v.Subject, v.Version, v.ID)
	}
	sub := st.subject(v.Subject)
	if have := sub.versions[v.Version]; have != nil && have.id != v.ID {
		return fmt.Errorf("%s version %d: already schema %d, not %d", v.Subject, v.Version, have.id, v.ID)
	}
	if st.byID[v.ID] == nil {
		st.byID[v.ID] = s
	}
	sub.versions[v.Version] = &version{id: v.ID, deleted: v.Deleted}
	st.maxID = max(st.maxID, v.ID)
	return nil
}

// hardDelete removes a version, and its schema when no version refers to
// it any more. maxID stays: an id is not handed out again.
func (st *state) hardDelete(subjectName string, v int) {
	sub := st.subjects[subjectName]
	if sub == nil || sub.versions[v] == nil {
		return
	}
	id := sub.versions[v].id
	delete(sub.versions, v)
	if len(sub.versions) == 0 && sub.compat == 0 {
		delete(st.subjects, subjectName)
	}
	for _, s := range st.subjects {
		for _, ver := range s.versions {
			if ver.id == id {
				return
			}
		}
	}
	delete(st.byID, id)
}

// find returns the id of a schema equal to s, 0 if none.
func (st *state) find(norm string) int {
	ids := make([]int, 0, len(st.byID))
	for id, have := range st.byID {
		if have.norm == norm {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return 0
	}
	return slices.Min(ids)
}

// Records to write.

func schemaRecord(v schemaValue) *kgo.Record {
	key, _ := json.Marshal(schemaKey{Keytype: keySchema, Subject: v.Subject, Version: v.Version, Magic: 1})
	val, _ := json.Marshal(v)
	return &kgo.Record{Key: key, Value: val}
}

func schemaTombstone(subject string, v int) *kgo.Record {
	key, _ := json.Marshal(schemaKey{Keytype: keySchema, Subject: subject, Version: v, Magic: 1})
	return &kgo.Record{Key: key}
}

// configRecord sets the level of subject (nil: the global one); level 0
// resets it.
func configRecord(subject *string, level sr.CompatibilityLevel) *kgo.Record {
	key, _ := json.Marshal(configKey{Keytype: keyConfig, Subject: subject, Magic: 0})
	rec := &kgo.Record{Key: key}
	if level != 0 {
		rec.Value, _ = json.Marshal(configValue{CompatibilityLevel: level.String()})
	}
	return rec
}

func noopRecord() *kgo.Record {
	key, _ := json.Marshal(noopKey{Keytype: keyNoop, Magic: 0})
	return &kgo.Record{Key: key}
}

// schemaTypeName is the schemaType a record or answer carries: none for
// Avro, as Confluent writes it.
func schemaTypeName(t sr.SchemaType) string {
	if t == sr.TypeAvro {
		return ""
	}
	return t.String()
}
