// Package monitor serves Goka's web pages (index, monitor, query) for the
// processors and tables of a run, usable offline: the jQuery, Bootstrap,
// lodash and d3 files the pages load from public CDNs are served from the
// binary instead (assets/, with their licenses; fetched once from the npm
// registry by scripts/fetch-monitor-assets.sh).
package monitor

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/web/index"
	"github.com/lovoo/goka/web/monitor"
	"github.com/lovoo/goka/web/query"
)

//go:embed assets
var assets embed.FS

// Server is the web monitor.
type Server struct {
	router  *mux.Router
	monitor *monitor.Server
	query   *query.Server
}

// New returns a monitor with index (/), monitor (/monitor) and query
// (/query) pages.
func New() *Server {
	r := mux.NewRouter()
	s := &Server{router: r}
	sub, _ := fs.Sub(assets, "assets")
	r.PathPrefix("/assets/").Handler(http.StripPrefix("/assets/", http.FileServer(http.FS(sub))))
	idx := index.NewServer("/", r)
	s.monitor = monitor.NewServer("/monitor", r)
	s.query = query.NewServer("/query", r, query.WithHumanizer(query.HumanizerFunc(Humanize)))
	idx.AddComponent(s.monitor, "Monitor")
	idx.AddComponent(s.query, "Query")
	return s
}

// AttachProcessor shows a processor on the monitor page.
func (s *Server) AttachProcessor(p *goka.Processor) { s.monitor.AttachProcessor(p) }

// AttachView shows a view on the monitor page.
func (s *Server) AttachView(v *goka.View) { s.monitor.AttachView(v) }

// AttachSource makes a table queryable by key on the query page.
func (s *Server) AttachSource(name string, g goka.Getter) error { return s.query.AttachSource(name, g) }

// cdn maps what Goka's page head loads from the internet to our copies.
var cdn = strings.NewReplacer(
	`https://maxcdn.bootstrapcdn.com/bootstrap/3.3.7/css/bootstrap.min.css`, `/assets/bootstrap/css/bootstrap.min.css`,
	`https://maxcdn.bootstrapcdn.com/bootstrap/3.3.7/css/bootstrap-theme.min.css`, `/assets/bootstrap/css/bootstrap-theme.min.css`,
	`https://maxcdn.bootstrapcdn.com/bootstrap/3.3.7/js/bootstrap.min.js`, `/assets/bootstrap/js/bootstrap.min.js`,
	`//ajax.googleapis.com/ajax/libs/jquery/1.11.0/jquery.min.js`, `/assets/jquery/jquery.min.js`,
	`https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.1/lodash.min.js`, `/assets/lodash/lodash.min.js`,
	`https://d3js.org/d3.v4.min.js`, `/assets/d3/d3.min.js`,
)

// fonts drops the Google Fonts stylesheet (the pages fall back to the
// browser's fonts) and the subresource-integrity attributes, which name CDN
// files.
var fonts = regexp.MustCompile(`<link href='https://fonts\.googleapis\.com[^>]*>|\s(integrity|crossorigin)="[^"]*"`)

// ServeHTTP serves the pages, pointing them at the local assets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		s.router.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || bytes.Contains(body, []byte("<html")) {
		body = fonts.ReplaceAll([]byte(cdn.Replace(string(body))), nil)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// Humanize renders a table value for the query page: the decoded record as
// JSON with decimals written as decimals (not big.Rat fractions), or the
// reason it does not decode.
func Humanize(v any) (string, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Struct {
		if val, errf := rv.FieldByName("Value"), rv.FieldByName("Err"); val.IsValid() && errf.IsValid() {
			if !errf.IsNil() {
				return fmt.Sprintf("(does not decode: %v)", errf.Interface()), nil
			}
			v = val.Interface()
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		return "", err
	}
	out, err := json.MarshalIndent(decimals(tree), "", "  ")
	return string(out), err
}

var fraction = regexp.MustCompile(`^-?\d+/\d+$`)

// decimals rewrites big.Rat's "a/b" text as a decimal where it is exact.
func decimals(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = decimals(x)
		}
	case []any:
		for i, x := range t {
			t[i] = decimals(x)
		}
	case string:
		if fraction.MatchString(t) {
			if r, ok := new(big.Rat).SetString(t); ok {
				for digits := 2; digits <= 18; digits++ { // money: at least cents
					s := r.FloatString(digits)
					if back, _ := new(big.Rat).SetString(s); back != nil && back.Cmp(r) == 0 {
						return s
					}
				}
			}
		}
	}
	return v
}
