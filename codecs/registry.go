package codecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is a Confluent Schema Registry client with the caches the codecs
// need: schema ids are immutable, so a schema fetched once by id is kept
// for the life of the process.
type Registry struct {
	client       *sr.Client
	autoRegister bool
	timeout      time.Duration

	mu      sync.Mutex
	writers map[int]*tavro.Schema
}

// RegistryOption configures a Registry.
type RegistryOption func(*Registry)

// WithAutoRegister controls what Register does with a schema: register it
// under the subject (true, the default, like Confluent's
// auto.register.schemas) or only look up the id of an identical schema that
// is already registered (false, for registries where the pipeline may not
// write, e.g. Confluent Cloud with schemas managed by CI).
func WithAutoRegister(on bool) RegistryOption { return func(r *Registry) { r.autoRegister = on } }

// WithRequestTimeout bounds every registry request (default 10 s).
func WithRequestTimeout(d time.Duration) RegistryOption { return func(r *Registry) { r.timeout = d } }

// NewRegistry wraps a franz-go schema registry client.
func NewRegistry(client *sr.Client, opts ...RegistryOption) *Registry {
	r := &Registry{client: client, autoRegister: true, timeout: 10 * time.Second, writers: map[int]*tavro.Schema{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// ValueSubject is Confluent's TopicNameStrategy subject for a topic's values.
func ValueSubject(topic string) string { return topic + "-value" }

// Register returns the id of schema under subject, registering it when the
// registry allows auto-registration. The text is registered as written
// (with defaults and docs), which backward-compatibility checks need.
func (r *Registry) Register(ctx context.Context, subject, schema string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	s := sr.Schema{Schema: schema, Type: sr.TypeAvro}
	if r.autoRegister {
		id, err := r.client.RegisterSchema(ctx, subject, s, -1, -1)
		if err != nil {
			return 0, fmt.Errorf("registering the schema under subject %q: %w", subject, err)
		}
		return id, nil
	}
	ss, err := r.client.LookupSchema(ctx, subject, s)
	if err != nil {
		return 0, fmt.Errorf("looking up our schema under subject %q (auto-registration is off: register it first): %w", subject, err)
	}
	return ss.ID, nil
}

// writer returns the schema registered under id, fetching it once.
// An id the registry does not know is ErrUnknownSchemaID; a registry that
// cannot be reached is an ordinary (transient) error.
func (r *Registry) writer(id int) (*tavro.Schema, error) {
	r.mu.Lock()
	s, ok := r.writers[id]
	r.mu.Unlock()
	if ok {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	got, err := r.client.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil, ErrUnknownSchemaID
		}
		return nil, &RegistryError{SchemaID: id, Err: err}
	}
	if got.Type != sr.TypeAvro {
		return nil, fmt.Errorf("%w: schema %d is %s, not Avro", ErrIncompatibleSchema, id, got.Type)
	}
	if len(got.References) > 0 {
		return nil, fmt.Errorf("%w: schema %d uses schema references, which this codec does not resolve", ErrIncompatibleSchema, id)
	}
	s, err = tavro.Parse(got.Schema)
	if err != nil {
		return nil, fmt.Errorf("%w: schema %d does not parse: %v", ErrIncompatibleSchema, id, err)
	}
	r.mu.Lock()
	r.writers[id] = s
	r.mu.Unlock()
	return s, nil
}

// RegistryError is a failure to reach the schema registry or an error
// answer from it other than "not found". It says nothing about the record
// being decoded: retry instead of dead-lettering.
type RegistryError struct {
	SchemaID int
	Err      error
}

func (e *RegistryError) Error() string {
	return fmt.Sprintf("schema registry: fetching schema %d: %v", e.SchemaID, e.Err)
}

func (e *RegistryError) Unwrap() error { return e.Err }

// renameRoot returns writer's text with its root record's short name
// replaced by name. Each topic carries one record type, so the root record's
// name says nothing the topic does not: Debezium names it
// <prefix>.<db>.<table>.Value, our schemas io.orderstream.<Type>. Avro
// resolution compares names, so the writer's root gets the reader's short
// name before resolving. Its namespace is kept, so nested named types (which
// inherit it) keep their names and must still match the reader's.
//
// A root ["null", record] (an optional struct, as Kafka Connect's
// AvroConverter may write a connector's value) has its record renamed, and
// optional is true.
func renameRoot(writer, name string) (text string, optional bool, err error) {
	var root any
	if err := json.Unmarshal([]byte(writer), &root); err != nil {
		return "", false, err
	}
	record := root
	if union, ok := root.([]any); ok && len(union) == 2 {
		for i, b := range union {
			if b == "null" {
				record, optional = union[1-i], true
			}
		}
	}
	m, ok := record.(map[string]any)
	if !ok || m["type"] != "record" {
		return writer, false, nil
	}
	if old, _ := m["name"].(string); old != "" {
		if i := strings.LastIndexByte(old, '.'); i >= 0 {
			name = old[:i+1] + name
		}
		m["name"] = name
	}
	out, err := json.Marshal(root)
	return string(out), optional, err
}

// Latest returns the newest schema registered under subject; found is
// false when the subject has none.
func (r *Registry) Latest(ctx context.Context, subject string) (schema string, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ss, err := r.client.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return "", false, nil
		}
		return "", false, fmt.Errorf("reading the latest schema under subject %q: %w", subject, err)
	}
	return ss.Schema.Schema, true, nil
}
