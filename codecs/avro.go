package codecs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	tavro "github.com/twmb/avro"
)

// Decoding errors. A *DecodeError wraps one of the first four; errors.Is
// tells them apart. All four are facts about the record (dead-letter it); a
// *RegistryError is not (retry).
var (
	ErrNotWireFormat      = errors.New("not Confluent wire format (magic byte 0, 4-byte schema id, Avro body)")
	ErrUnknownSchemaID    = errors.New("schema id unknown to the schema registry")
	ErrIncompatibleSchema = errors.New("writer schema cannot be resolved onto our schema")
	ErrBadBody            = errors.New("Avro body does not decode")
	ErrNilValue           = errors.New("value is null (tombstone) where a record is required")
)

// DecodeError describes a record value that cannot be decoded.
type DecodeError struct {
	Subject  string // the reader's subject, e.g. orders-value
	SchemaID int    // the writer schema id in the header, when there is one
	Kind     error  // ErrNotWireFormat, ErrUnknownSchemaID, ErrIncompatibleSchema, ErrBadBody, ErrNilValue
	Err      error  // detail, may be nil
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "decoding %s", e.Subject)
	if e.SchemaID != 0 {
		fmt.Fprintf(&b, " (writer schema id %d)", e.SchemaID)
	}
	switch {
	case e.Err == nil:
		fmt.Fprintf(&b, ": %v", e.Kind)
	case errors.Is(e.Err, e.Kind):
		fmt.Fprintf(&b, ": %v", e.Err)
	default:
		fmt.Fprintf(&b, ": %v: %v", e.Kind, e.Err)
	}
	return b.String()
}

func (e *DecodeError) Unwrap() []error { return []error{e.Kind, e.Err} }

// IsBadRecord reports whether err says the record itself is bad (so it
// belongs on a dead-letter topic) rather than something transient.
func IsBadRecord(err error) bool {
	var de *DecodeError
	return errors.As(err, &de)
}

// Avro is a goka.Codec for the values of one topic: Confluent wire format
// (magic byte 0, big-endian schema id, Avro binary) with T, a struct
// generated from an .avsc, as the reader type.
//
// Encode writes with our schema, registered under the subject. Decode reads
// a record written with any registered schema: the writer's schema is
// fetched by id once and resolved onto ours (added fields get defaults,
// removed fields are skipped, promotions apply, the root record's name is not
// compared so Debezium's <prefix>.<db>.<table>.Value records resolve).
type Avro[T any] struct {
	reg     *Registry
	subject string
	id      int
	reader  *tavro.Schema
	name    string // the reader root record's short name
	header  [5]byte

	mu       sync.Mutex
	resolved map[int]resolved
}

type resolved struct {
	schema *tavro.Schema
	// optional: the writer's root is ["null", record] (Kafka Connect's
	// AvroConverter writes an optional struct so): schema is the reader
	// record in a union with null, and records decode into a *T.
	optional bool
	err      error // permanent: ErrUnknownSchemaID or ErrIncompatibleSchema
}

// NewAvro registers schema (the .avsc text) under subject and returns a
// codec for T.
func NewAvro[T any](ctx context.Context, reg *Registry, subject, schema string) (*Avro[T], error) {
	reader, err := tavro.Parse(schema, decimals)
	if err != nil {
		return nil, fmt.Errorf("parsing our schema for %s: %w", subject, err)
	}
	id, err := reg.Register(ctx, subject, schema)
	if err != nil {
		return nil, err
	}
	c := &Avro[T]{reg: reg, subject: subject, id: id, reader: reader, resolved: map[int]resolved{}}
	c.name = reader.Root().Name
	if i := strings.LastIndexByte(c.name, '.'); i >= 0 {
		c.name = c.name[i+1:]
	}
	c.header[0] = 0
	binary.BigEndian.PutUint32(c.header[1:], uint32(id))
	return c, nil
}

// SchemaID is the registry id our schema has under the subject.
func (c *Avro[T]) SchemaID() int { return c.id }

// Subject is the subject our schema is registered under.
func (c *Avro[T]) Subject() string { return c.subject }

// Raw is a value already in wire format. Encode passes it through
// unchanged: a record can be forwarded (put back on a retry topic, replayed
// from a dead-letter topic) without decoding and re-encoding it.
type Raw []byte

// Encode encodes a T or *T, or passes a Raw through.
func (c *Avro[T]) Encode(value any) ([]byte, error) {
	switch v := value.(type) {
	case Raw:
		return v, nil
	case *T, T:
	default:
		var zero T
		return nil, fmt.Errorf("encoding %s: got %T, want %T", c.subject, value, &zero)
	}
	buf := make([]byte, 5, 128)
	copy(buf, c.header[:])
	buf, err := c.reader.AppendEncode(buf, value)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", c.subject, err)
	}
	return buf, nil
}

// Decode decodes data into a new *T (as any, for goka).
func (c *Avro[T]) Decode(data []byte) (any, error) {
	v, err := c.DecodeValue(data)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DecodeValue decodes data into a new *T.
func (c *Avro[T]) DecodeValue(data []byte) (*T, error) {
	if data == nil {
		return nil, &DecodeError{Subject: c.subject, Kind: ErrNilValue}
	}
	if len(data) < 5 || data[0] != 0 {
		return nil, &DecodeError{Subject: c.subject, Kind: ErrNotWireFormat, Err: describePrefix(data)}
	}
	id := int(binary.BigEndian.Uint32(data[1:5]))
	r, err := c.schemaFor(id)
	if err != nil {
		return nil, err
	}
	v := new(T)
	var rest []byte
	if r.optional {
		var p *T
		rest, err = r.schema.Decode(data[5:], &p)
		if err == nil && p == nil {
			return nil, &DecodeError{Subject: c.subject, SchemaID: id, Kind: ErrNilValue, Err: errors.New("the optional record is null")}
		}
		if p != nil {
			v = p
		}
	} else {
		rest, err = r.schema.Decode(data[5:], v)
	}
	if err != nil {
		return nil, &DecodeError{Subject: c.subject, SchemaID: id, Kind: ErrBadBody, Err: err}
	}
	if len(rest) != 0 {
		return nil, &DecodeError{Subject: c.subject, SchemaID: id, Kind: ErrBadBody,
			Err: fmt.Errorf("%d bytes left after the record", len(rest))}
	}
	return v, nil
}

// schemaFor returns the schema that reads records written with schema id.
func (c *Avro[T]) schemaFor(id int) (resolved, error) {
	if id == c.id {
		return resolved{schema: c.reader}, nil
	}
	c.mu.Lock()
	r, ok := c.resolved[id]
	c.mu.Unlock()
	if !ok {
		var err error
		r, err = c.resolve(id)
		if err != nil {
			return r, err // transient: not cached
		}
		c.mu.Lock()
		c.resolved[id] = r
		c.mu.Unlock()
	}
	if r.err != nil {
		return r, &DecodeError{Subject: c.subject, SchemaID: id, Kind: kindOf(r.err), Err: r.err}
	}
	return r, nil
}

func (c *Avro[T]) resolve(id int) (resolved, error) {
	writer, err := c.reg.writer(id)
	if err != nil {
		if errors.Is(err, ErrUnknownSchemaID) || errors.Is(err, ErrIncompatibleSchema) {
			return resolved{err: err}, nil
		}
		return resolved{}, err
	}
	text, optional, err := renameRoot(writer.String(), c.name)
	if err == nil {
		writer, err = tavro.Parse(text)
	}
	reader := c.reader
	if err == nil && optional {
		reader, err = tavro.Parse(`["null",`+c.reader.String()+`]`, decimals)
	}
	if err != nil {
		return resolved{err: fmt.Errorf("%w: %v", ErrIncompatibleSchema, err)}, nil
	}
	s, err := tavro.Resolve(writer, reader)
	if err != nil {
		return resolved{err: fmt.Errorf("%w: %v", ErrIncompatibleSchema, err)}, nil
	}
	return resolved{schema: s, optional: optional}, nil
}

func kindOf(err error) error {
	for _, k := range []error{ErrUnknownSchemaID, ErrIncompatibleSchema} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrBadBody
}

func describePrefix(data []byte) error {
	n := min(len(data), 8)
	if len(data) < 5 {
		return fmt.Errorf("%d bytes, want at least 5 (% x)", len(data), data[:n])
	}
	return fmt.Errorf("first byte is 0x%02x, want 0x00 (starts % x)", data[0], data[:n])
}
