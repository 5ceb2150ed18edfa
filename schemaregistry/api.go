package schemaregistry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	tavro "github.com/twmb/avro"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
)

// apiError is an error answer in Confluent's shape:
// {"error_code":40401,"message":"..."}; the HTTP status is the code's first
// three digits (409 is its own code: an incompatible schema).
type apiError struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

func (e *apiError) status() int {
	if e.Code >= 1000 {
		return e.Code / 100
	}
	return e.Code
}

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Confluent's error codes (sr.Err*).
const (
	codeIncompatible        = 409
	codeSubjectNotFound     = 40401
	codeVersionNotFound     = 40402
	codeSchemaNotFound      = 40403
	codeSubjectSoftDeleted  = 40404
	codeSubjectNotSoftDel   = 40405
	codeVersionSoftDeleted  = 40406
	codeVersionNotSoftDel   = 40407
	codeSubjectCompatNotSet = 40408
	codeSubjectModeNotSet   = 40409
	codeInvalidSchema       = 42201
	codeInvalidVersion      = 42202
	codeInvalidCompat       = 42203
	codeInvalidMode         = 42204
	codeNotPermitted        = 42205
	codeStore               = 50001
)

const contentType = "application/vnd.schemaregistry.v1+json"

// routes is the REST API (what franz-go's sr client and Confluent's
// clients call) and /healthz.
func (r *Registry) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(*http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) { r.answer(w, req, fn) })
	}
	mux.HandleFunc("GET /healthz", r.healthz)
	h("GET /{$}", func(*http.Request) (any, error) { return struct{}{}, nil })
	h("GET /schemas/types", func(*http.Request) (any, error) { return []string{"AVRO"}, nil })
	h("GET /schemas/ids/{id}", r.schemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", r.rawSchemaByID)
	h("GET /schemas/ids/{id}/subjects", r.subjectsByID)
	h("GET /schemas/ids/{id}/versions", r.versionsByID)
	h("GET /subjects", r.listSubjects)
	h("GET /subjects/{subject}/versions", r.listVersions)
	h("POST /subjects/{subject}/versions", r.register)
	h("POST /subjects/{subject}", r.lookup)
	h("DELETE /subjects/{subject}", r.deleteSubject)
	h("GET /subjects/{subject}/versions/{version}", r.getVersion)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", r.rawSchemaByVersion)
	h("GET /subjects/{subject}/versions/{version}/referencedby", r.referencedBy)
	h("DELETE /subjects/{subject}/versions/{version}", r.deleteVersion)
	h("GET /config", r.getConfig)
	h("PUT /config", r.putConfig)
	h("DELETE /config", r.deleteConfig)
	h("GET /config/{subject}", r.getConfig)
	h("PUT /config/{subject}", r.putConfig)
	h("DELETE /config/{subject}", r.deleteConfig)
	h("POST /compatibility/subjects/{subject}/versions/{version}", r.checkCompatibility)
	h("POST /compatibility/subjects/{subject}/versions", r.checkCompatibility)
	h("GET /mode", r.getMode)
	h("GET /mode/{subject}", r.getMode)
	h("PUT /mode", r.putMode)
	h("PUT /mode/{subject}", r.putMode)
	h("GET /contexts", func(*http.Request) (any, error) { return []string{"."}, nil })
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusNotFound, errorf(404, "HTTP 404 Not Found: %s %s is not an endpoint of this registry", req.Method, req.URL.Path))
	})
	return mux
}

// ServeHTTP serves the REST API.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.handler.ServeHTTP(w, req) }

func (r *Registry) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := r.Err(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not reading the journal %s: %v\n", r.opts.Topic, err)
		return
	}
	r.mu.RLock()
	n := len(r.st.byID)
	r.mu.RUnlock()
	fmt.Fprintf(w, "ok: %d schemas, journal %s\n", n, r.opts.Topic)
}

func (r *Registry) answer(w http.ResponseWriter, req *http.Request, fn func(*http.Request) (any, error)) {
	v, err := fn(req)
	if err != nil {
		var ae *apiError
		var se *errStore
		switch {
		case errors.As(err, &ae):
		case errors.As(err, &se):
			r.log.Error("journal unavailable", "method", req.Method, "path", req.URL.Path, "err", err)
			ae = errorf(codeStore, "%v", err)
		default:
			ae = errorf(codeStore, "%v", err)
		}
		writeJSON(w, ae.status(), ae)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Type", contentType)
	_, _ = io.WriteString(w, text)
}

// Parameters.

func flag(req *http.Request, name string) bool {
	v, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return v
}

func idParam(req *http.Request) (int, error) {
	id, err := strconv.Atoi(req.PathValue("id"))
	if err != nil || id <= 0 {
		return 0, errorf(codeSchemaNotFound, "Schema %s not found", req.PathValue("id"))
	}
	return id, nil
}

// versionParam is a version number, or -1 for "latest".
func versionParam(req *http.Request) (int, error) {
	s := req.PathValue("version")
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, errorf(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return v, nil
}

// The answers.

type schemaAnswer struct {
	Subject    string               `json:"subject,omitempty"`
	Version    int                  `json:"version,omitempty"`
	ID         int                  `json:"id,omitempty"`
	SchemaType string               `json:"schemaType,omitempty"`
	References []sr.SchemaReference `json:"references,omitempty"`
	Schema     string               `json:"schema"`
}

// schemaOf finds id, reading the journal to its end first when this
// instance does not know it (another instance may have just registered it).
func (r *Registry) schemaOf(req *http.Request, id int) (*schema, error) {
	r.mu.RLock()
	s := r.st.byID[id]
	r.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	if err := r.sync(req.Context()); err != nil {
		return nil, &errStore{err}
	}
	r.mu.RLock()
	s = r.st.byID[id]
	r.mu.RUnlock()
	if s == nil {
		return nil, errorf(codeSchemaNotFound, "Schema %d not found", id)
	}
	return s, nil
}

func (r *Registry) schemaByID(req *http.Request) (any, error) {
	id, err := idParam(req)
	if err != nil {
		return nil, err
	}
	s, err := r.schemaOf(req, id)
	if err != nil {
		return nil, err
	}
	return schemaAnswer{SchemaType: schemaTypeName(s.typ), References: s.refs, Schema: s.text}, nil
}

func (r *Registry) rawSchemaByID(w http.ResponseWriter, req *http.Request) {
	id, err := idParam(req)
	var s *schema
	if err == nil {
		s, err = r.schemaOf(req, id)
	}
	if err != nil {
		r.answer(w, req, func(*http.Request) (any, error) { return nil, err })
		return
	}
	writeRaw(w, s.text)
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// usages are the versions holding id.
func (r *Registry) usages(req *http.Request, id int) ([]subjectVersion, error) {
	if _, err := r.schemaOf(req, id); err != nil {
		return nil, err
	}
	deleted := flag(req, "deleted")
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []subjectVersion{}
	for name, sub := range r.st.subjects {
		for v, ver := range sub.versions {
			if ver.id == id && (deleted || !ver.deleted) {
				out = append(out, subjectVersion{name, v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Subject != out[j].Subject {
			return out[i].Subject < out[j].Subject
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

func (r *Registry) subjectsByID(req *http.Request) (any, error) {
	id, err := idParam(req)
	if err != nil {
		return nil, err
	}
	us, err := r.usages(req, id)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, u := range us {
		if len(out) == 0 || out[len(out)-1] != u.Subject {
			out = append(out, u.Subject)
		}
	}
	return out, nil
}

func (r *Registry) versionsByID(req *http.Request) (any, error) {
	id, err := idParam(req)
	if err != nil {
		return nil, err
	}
	return r.usages(req, id)
}

func (r *Registry) listSubjects(req *http.Request) (any, error) {
	deleted := flag(req, "deleted")
	prefix := req.URL.Query().Get("subjectPrefix")
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := []string{}
	for name, sub := range r.st.subjects {
		if strings.HasPrefix(name, prefix) && len(sub.sortedVersions(deleted)) > 0 {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// liveSubject returns the subject with at least one version (a live one
// unless deleted); st is read-locked.
func liveSubject(st *state, name string, deleted bool) (*subject, error) {
	sub := st.subjects[name]
	if sub == nil || len(sub.sortedVersions(deleted)) == 0 {
		return nil, errorf(codeSubjectNotFound, "Subject '%s' not found.", name)
	}
	return sub, nil
}

func (r *Registry) listVersions(req *http.Request) (any, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	sub, err := liveSubject(r.st, req.PathValue("subject"), flag(req, "deleted"))
	if err != nil {
		return nil, err
	}
	return sub.sortedVersions(flag(req, "deleted")), nil
}

// findVersion resolves version v (-1: latest) of a subject; st is read-locked.
func findVersion(st *state, name string, v int, deleted bool) (int, *version, error) {
	sub, err := liveSubject(st, name, deleted)
	if err != nil {
		return 0, nil, err
	}
	if v == -1 {
		vs := sub.sortedVersions(deleted)
		v = vs[len(vs)-1]
	}
	ver := sub.versions[v]
	if ver == nil || (ver.deleted && !deleted) {
		return 0, nil, errorf(codeVersionNotFound, "Version %d not found.", v)
	}
	return v, ver, nil
}

func (r *Registry) versionAnswer(req *http.Request) (schemaAnswer, error) {
	v, err := versionParam(req)
	if err != nil {
		return schemaAnswer{}, err
	}
	name := req.PathValue("subject")
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ver, err := findVersion(r.st, name, v, flag(req, "deleted"))
	if err != nil {
		return schemaAnswer{}, err
	}
	s := r.st.byID[ver.id]
	return schemaAnswer{Subject: name, Version: v, ID: ver.id, SchemaType: schemaTypeName(s.typ), References: s.refs, Schema: s.text}, nil
}

func (r *Registry) getVersion(req *http.Request) (any, error) { return r.versionAnswer(req) }

func (r *Registry) rawSchemaByVersion(w http.ResponseWriter, req *http.Request) {
	a, err := r.versionAnswer(req)
	if err != nil {
		r.answer(w, req, func(*http.Request) (any, error) { return nil, err })
		return
	}
	writeRaw(w, a.Schema)
}

func (r *Registry) referencedBy(req *http.Request) (any, error) {
	if _, err := r.versionAnswer(req); err != nil {
		return nil, err
	}
	return []int{}, nil // references are not taken, so nothing refers to anything
}

// schemaRequest is the body of a registration, lookup or compatibility
// check.
type schemaRequest struct {
	Schema     string               `json:"schema"`
	SchemaType string               `json:"schemaType"`
	References []sr.SchemaReference `json:"references"`
	ID         int                  `json:"id"`
	Version    int                  `json:"version"`
}

// parsed is a schema of a request, checked.
type parsed struct {
	text string
	norm string
	avro *tavro.Schema
}

func parseRequest(req *http.Request) (schemaRequest, parsed, error) {
	var body schemaRequest
	dec := json.NewDecoder(io.LimitReader(req.Body, 16<<20))
	if err := dec.Decode(&body); err != nil {
		return body, parsed{}, errorf(codeInvalidSchema, "Invalid schema request: %v", err)
	}
	var typ sr.SchemaType
	if err := typ.UnmarshalText([]byte(body.SchemaType)); err != nil || typ != sr.TypeAvro {
		return body, parsed{}, errorf(codeInvalidSchema, "Invalid schema: schemaType %q: this registry takes AVRO schemas only", body.SchemaType)
	}
	if len(body.References) > 0 {
		return body, parsed{}, errorf(codeInvalidSchema, "Invalid schema: schema references are not supported by this registry")
	}
	if strings.TrimSpace(body.Schema) == "" {
		return body, parsed{}, errorf(codeInvalidSchema, "Invalid schema: empty schema")
	}
	s, err := tavro.Parse(body.Schema)
	if err != nil {
		return body, parsed{}, errorf(codeInvalidSchema, "Invalid schema %s: %v", truncate(body.Schema, 200), err)
	}
	return body, parsed{text: body.Schema, norm: normalize(body.Schema, sr.TypeAvro, nil), avro: s}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

type idAnswer struct {
	ID int `json:"id"`
}

// register is POST /subjects/{subject}/versions: the id of the schema
// under the subject, registering it as a new version when it is not there
// and the subject's compatibility level allows it (409 otherwise).
func (r *Registry) register(req *http.Request) (any, error) {
	name := req.PathValue("subject")
	body, p, err := parseRequest(req)
	if err != nil {
		registrations.WithLabelValues("invalid").Inc()
		return nil, err
	}
	if body.ID > 0 {
		return nil, errorf(codeNotPermitted, "Registering with a given id (%d) needs IMPORT mode, which this registry does not have", body.ID)
	}
	if name == "" || len(name) > 255 || strings.ContainsRune(name, 0) {
		return nil, errorf(codeInvalidSchema, "Invalid subject %q", name)
	}
	// Already there: answered without a write.
	r.mu.RLock()
	id, _ := registered(r.st, name, p.norm)
	r.mu.RUnlock()
	if id > 0 {
		registrations.WithLabelValues("existing").Inc()
		return idAnswer{id}, nil
	}
	answer, err := r.write(req.Context(), func(st *state) ([]*kgo.Record, any, error) {
		if id, _ := registered(st, name, p.norm); id > 0 {
			return nil, idAnswer{id}, nil
		}
		sub := st.subjects[name]
		level := st.level(sub, r.opts.DefaultCompatibility)
		if problems := incompatibilities(p.avro, level, st.targets(sub, level)); len(problems) > 0 {
			return nil, nil, errorf(codeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", name, strings.Join(problems, ", "))
		}
		id := st.find(p.norm)
		if id == 0 {
			id = st.maxID + 1
		}
		next := 1
		if sub != nil {
			next = sub.highest() + 1
		}
		return []*kgo.Record{schemaRecord(schemaValue{Subject: name, Version: next, ID: id, Schema: p.text})}, nil, nil
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == codeIncompatible {
			registrations.WithLabelValues("incompatible").Inc()
			r.log.Info("incompatible schema refused", "subject", name, "err", ae.Message)
		}
		return nil, err
	}
	registrations.WithLabelValues("new").Inc()
	a := answer.(idAnswer)
	r.log.Info("schema registered", "subject", name, "id", a.ID)
	return a, nil
}

// registered is the id and version of a live version of subject holding
// the schema; st is read-locked.
func registered(st *state, name, norm string) (int, int) {
	sub := st.subjects[name]
	if sub == nil {
		return 0, 0
	}
	for _, v := range sub.sortedVersions(false) {
		id := sub.versions[v].id
		if s := st.byID[id]; s != nil && s.norm == norm {
			return id, v
		}
	}
	return 0, 0
}

// level is the compatibility level of sub (nil: a new subject).
func (st *state) level(sub *subject, def sr.CompatibilityLevel) sr.CompatibilityLevel {
	if sub != nil && sub.compat != 0 {
		return sub.compat
	}
	if st.global != 0 {
		return st.global
	}
	return def
}

// lookup is POST /subjects/{subject}: the version holding the schema.
func (r *Registry) lookup(req *http.Request) (any, error) {
	name := req.PathValue("subject")
	_, p, err := parseRequest(req)
	if err != nil {
		return nil, err
	}
	deleted := flag(req, "deleted")
	r.mu.RLock()
	defer r.mu.RUnlock()
	sub, err := liveSubject(r.st, name, deleted)
	if err != nil {
		return nil, err
	}
	for _, v := range sub.sortedVersions(deleted) {
		id := sub.versions[v].id
		if s := r.st.byID[id]; s != nil && s.norm == p.norm {
			return schemaAnswer{Subject: name, Version: v, ID: id, Schema: s.text}, nil
		}
	}
	return nil, errorf(codeSchemaNotFound, "Schema not found")
}

// deleteSubject is DELETE /subjects/{subject}[?permanent=true].
func (r *Registry) deleteSubject(req *http.Request) (any, error) {
	name, permanent := req.PathValue("subject"), flag(req, "permanent")
	var done []int
	return r.write(req.Context(), func(st *state) ([]*kgo.Record, any, error) {
		if done != nil {
			return nil, done, nil
		}
		sub := st.subjects[name]
		if sub == nil || len(sub.versions) == 0 {
			if permanent {
				return nil, []int{}, nil
			}
			return nil, nil, errorf(codeSubjectNotFound, "Subject '%s' not found.", name)
		}
		live := sub.sortedVersions(false)
		var recs []*kgo.Record
		if !permanent {
			if len(live) == 0 {
				return nil, nil, errorf(codeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", name)
			}
			for _, v := range live {
				s := st.byID[sub.versions[v].id]
				recs = append(recs, schemaRecord(schemaValue{Subject: name, Version: v, ID: s.id, Schema: s.text,
					SchemaType: schemaTypeName(s.typ), References: s.refs, Deleted: true}))
			}
			done = live
			return recs, live, nil
		}
		if len(live) > 0 {
			return nil, nil, errorf(codeSubjectNotSoftDel, "Subject '%s' was not deleted first before being permanently deleted", name)
		}
		all := sub.sortedVersions(true)
		for _, v := range all {
			recs = append(recs, schemaTombstone(name, v))
		}
		done = all
		return recs, all, nil
	})
}

// deleteVersion is DELETE /subjects/{subject}/versions/{version}[?permanent=true].
func (r *Registry) deleteVersion(req *http.Request) (any, error) {
	v, err := versionParam(req)
	if err != nil {
		return nil, err
	}
	name, permanent := req.PathValue("subject"), flag(req, "permanent")
	done := 0
	return r.write(req.Context(), func(st *state) ([]*kgo.Record, any, error) {
		if done > 0 {
			return nil, done, nil
		}
		n, ver, err := findVersion(st, name, v, permanent)
		if err != nil {
			return nil, nil, err
		}
		s := st.byID[ver.id]
		switch {
		case !permanent && ver.deleted:
			return nil, nil, errorf(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", name, n)
		case !permanent:
			done = n
			return []*kgo.Record{schemaRecord(schemaValue{Subject: name, Version: n, ID: ver.id, Schema: s.text, SchemaType: schemaTypeName(s.typ), References: s.refs, Deleted: true})}, n, nil
		case !ver.deleted:
			return nil, nil, errorf(codeVersionNotSoftDel, "Subject '%s' Version %d was not deleted first before being permanently deleted", name, n)
		}
		done = n
		return []*kgo.Record{schemaTombstone(name, n)}, n, nil
	})
}

// Compatibility configuration.

type configAnswer struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

type configRequest struct {
	Compatibility string `json:"compatibility"`
}

type configUpdate struct {
	Compatibility string `json:"compatibility"`
}

func subjectParam(req *http.Request) *string {
	if name := req.PathValue("subject"); name != "" {
		return &name
	}
	return nil
}

func (r *Registry) getConfig(req *http.Request) (any, error) {
	name := subjectParam(req)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if name != nil {
		if sub := r.st.subjects[*name]; sub != nil && sub.compat != 0 {
			return configAnswer{sub.compat.String()}, nil
		}
		if !flag(req, "defaultToGlobal") {
			return nil, errorf(codeSubjectCompatNotSet, "Subject '%s' does not have subject-level compatibility configured", *name)
		}
	}
	return configAnswer{r.st.level(nil, r.opts.DefaultCompatibility).String()}, nil
}

func (r *Registry) putConfig(req *http.Request) (any, error) {
	name := subjectParam(req)
	var body configRequest
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body); err != nil {
		return nil, errorf(codeInvalidCompat, "Invalid compatibility level: %v", err)
	}
	var level sr.CompatibilityLevel
	if err := level.UnmarshalText([]byte(body.Compatibility)); err != nil || body.Compatibility == "" {
		return nil, errorf(codeInvalidCompat, "Invalid compatibility level %q. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive", body.Compatibility)
	}
	return r.write(req.Context(), func(st *state) ([]*kgo.Record, any, error) {
		current := st.global
		if name != nil {
			if sub := st.subjects[*name]; sub != nil {
				current = sub.compat
			} else {
				current = 0
			}
		}
		if current == level {
			return nil, configUpdate{level.String()}, nil
		}
		return []*kgo.Record{configRecord(name, level)}, nil, nil
	})
}

func (r *Registry) deleteConfig(req *http.Request) (any, error) {
	name := subjectParam(req)
	var old sr.CompatibilityLevel
	return r.write(req.Context(), func(st *state) ([]*kgo.Record, any, error) {
		current := st.global
		if name != nil {
			current = 0
			if sub := st.subjects[*name]; sub != nil {
				current = sub.compat
			}
		}
		if current == 0 {
			if old != 0 {
				return nil, configAnswer{old.String()}, nil
			}
			if name != nil {
				return nil, nil, errorf(codeSubjectCompatNotSet, "Subject '%s' does not have subject-level compatibility configured", *name)
			}
			return nil, configAnswer{r.opts.DefaultCompatibility.String()}, nil
		}
		old = current
		return []*kgo.Record{configRecord(name, 0)}, nil, nil
	})
}

type compatibilityAnswer struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitempty"`
}

// checkCompatibility is POST /compatibility/subjects/{subject}/versions[/{version}].
func (r *Registry) checkCompatibility(req *http.Request) (any, error) {
	name := req.PathValue("subject")
	all := req.PathValue("version") == ""
	v := -1
	if !all {
		var err error
		if v, err = versionParam(req); err != nil {
			return nil, err
		}
	}
	_, p, err := parseRequest(req)
	if err != nil {
		return nil, err
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	sub := r.st.subjects[name]
	level := r.st.level(sub, r.opts.DefaultCompatibility)
	var targets []against
	if all {
		targets = r.st.targets(sub, level)
	} else {
		n, ver, err := findVersion(r.st, name, v, false)
		if err != nil {
			return nil, err
		}
		if level != sr.CompatNone {
			targets = []against{{n, r.st.byID[ver.id]}}
		}
	}
	problems := incompatibilities(p.avro, level, targets)
	a := compatibilityAnswer{IsCompatible: len(problems) == 0}
	if flag(req, "verbose") {
		a.Messages = append([]string{}, problems...)
	}
	return a, nil
}

// Modes: READWRITE only.

type modeAnswer struct {
	Mode string `json:"mode"`
}

func (r *Registry) getMode(req *http.Request) (any, error) {
	if name := subjectParam(req); name != nil && !flag(req, "defaultToGlobal") {
		return nil, errorf(codeSubjectModeNotSet, "Subject '%s' does not have subject-level mode configured", *name)
	}
	return modeAnswer{"READWRITE"}, nil
}

func (r *Registry) putMode(req *http.Request) (any, error) {
	var body modeAnswer
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&body); err != nil || !strings.EqualFold(body.Mode, "READWRITE") {
		return nil, errorf(codeInvalidMode, "Invalid mode %q: this registry has READWRITE only", body.Mode)
	}
	return modeAnswer{"READWRITE"}, nil
}
