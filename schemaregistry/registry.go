// Package schemaregistry is the schema registry of the one-command dev run: the
// Confluent REST API of franz-go's srfake, made durable the way Confluent's
// Schema Registry is, by journaling every registered schema to a compacted
// Kafka topic (_schemas) and replaying it at start. With the dev Kafka's data
// kept on disk, schema ids then stay the same across restarts and the records
// on the topics stay readable.
package schemaregistry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/orderstream/pipeline/kit/topics"
)

// DefaultTopic is where the schemas are journaled (Confluent's name).
const DefaultTopic = "_schemas"

// entry is one journaled registration.
type entry struct {
	Subject    string               `json:"subject"`
	Version    int                  `json:"version"`
	ID         int                  `json:"id"`
	Schema     string               `json:"schema"`
	SchemaType sr.SchemaType        `json:"schemaType"`
	References []sr.SchemaReference `json:"references,omitempty"`
}

// Registry is a running dev schema registry.
type Registry struct {
	fake  *srfake.Registry
	cl    *kgo.Client
	topic string
	log   *slog.Logger
	srv   *http.Server
	url   string

	mu      sync.Mutex
	written map[string]bool // subject/version already journaled
}

// Start replays the journal from topic (creating it if missing) and serves
// the registry on addr.
func Start(ctx context.Context, addr string, cl *kgo.Client, topic string, log *slog.Logger) (*Registry, error) {
	r := &Registry{fake: srfake.NewRegistry(), cl: cl, topic: topic, log: log, written: map[string]bool{}}
	if err := r.replay(ctx); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("schema registry on %s: %w (is another registry running there?)", addr, err)
	}
	r.url = "http://" + ln.Addr().String()
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is the registry's address.
func (r *Registry) URL() string { return r.url }

// Close stops serving.
func (r *Registry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

func (r *Registry) replay(ctx context.Context) error {
	adm := kadm.NewClient(r.cl)
	res, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, r.topic)
	if err == nil {
		err = res.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating the schema journal %s: %w", r.topic, err)
	}
	if err := topics.AwaitServed(ctx, r.cl, 30*time.Second, r.topic); err != nil {
		return fmt.Errorf("the schema journal: %w", err)
	}
	n := 0
	err = topics.ReadToEnd(ctx, r.cl, r.topic, func(rec *kgo.Record) error {
		var e entry
		err := json.Unmarshal(rec.Value, &e)
		if err == nil {
			err = r.restore(e)
		}
		if err != nil {
			return fmt.Errorf("schema journal record %d: %w; the dev data is inconsistent: reset it (make run-reset)", rec.Offset, err)
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	r.log.Info("schema registry restored", "schemas", n, "topic", r.topic)
	return nil
}

// restore puts one journaled registration back under its id and version.
func (r *Registry) restore(e entry) error {
	s := sr.Schema{Schema: e.Schema, Type: e.SchemaType, References: e.References}
	key := fmt.Sprintf("%s/%d", e.Subject, e.Version)
	if r.written[key] {
		return nil
	}
	if _, ok := r.fake.GetSchema(e.Subject, e.Version); ok {
		return fmt.Errorf("schema journal: %s version %d twice", e.Subject, e.Version)
	}
	if !r.idTaken(e.ID) {
		r.fake.SeedSchema(e.Subject, e.Version, e.ID, s)
	} else {
		// The same schema under another subject: registering it again gives
		// back its id.
		id, version, err := r.fake.RegisterSchema(e.Subject, s)
		if err != nil || id != e.ID || version != e.Version {
			return fmt.Errorf("schema journal: %s version %d did not come back as id %d (got id %d version %d, %v)", e.Subject, e.Version, e.ID, id, version, err)
		}
	}
	r.written[key] = true
	return nil
}

func (r *Registry) idTaken(id int) bool {
	rec := httptest.NewRecorder()
	r.fake.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil))
	return rec.Code == http.StatusOK
}

// ServeHTTP serves the registry API and journals each new registration
// before answering it.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	register := req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/subjects/") && strings.HasSuffix(req.URL.Path, "/versions")
	if !register {
		r.fake.Handler().ServeHTTP(w, req)
		return
	}
	r.mu.Lock() // registrations one at a time, so the journal has them in id order
	defer r.mu.Unlock()
	rec := httptest.NewRecorder()
	r.fake.Handler().ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		var res struct {
			ID int `json:"id"`
		}
		subject := strings.TrimSuffix(strings.TrimPrefix(req.URL.Path, "/subjects/"), "/versions")
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err == nil {
			if err := r.journal(req.Context(), subject, res.ID); err != nil {
				r.log.Error("journaling a schema failed", "subject", subject, "id", res.ID, "err", err)
				http.Error(w, `{"error_code":50001,"message":"could not store the schema: `+err.Error()+`"}`, http.StatusInternalServerError)
				return
			}
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (r *Registry) journal(ctx context.Context, subject string, id int) error {
	for v := 1; ; v++ {
		ss, ok := r.fake.GetSchema(subject, v)
		if !ok {
			return nil // not a new version (already registered): nothing to journal
		}
		key := fmt.Sprintf("%s/%d", subject, v)
		if ss.ID != id || r.written[key] {
			continue
		}
		b, err := json.Marshal(entry{Subject: subject, Version: v, ID: id, Schema: ss.Schema.Schema, SchemaType: ss.Schema.Type, References: ss.Schema.References})
		if err != nil {
			return err
		}
		if err := r.cl.ProduceSync(ctx, &kgo.Record{Topic: r.topic, Key: []byte(key), Value: b}).FirstErr(); err != nil {
			return err
		}
		r.written[key] = true
		return nil
	}
}
