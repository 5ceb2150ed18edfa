// Package monitor serves Goka's web pages (index at /goka/, monitor at
// /monitor/, query at /query/) for the processors and tables of a run,
// usable offline: the jQuery, Bootstrap, lodash and d3 files the pages load
// from public CDNs are served from the binary instead (assets/, with their
// licenses; fetched once from the npm registry by
// scripts/fetch-monitor-assets.sh). The pages are made legible for someone
// who does not know Goka: titled, without sideways scrolling, edges named
// by topic and schema rather than Go type, idle tables called idle rather
// than "stalled".
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

	"github.com/orderstream/pipeline/avro"
)

//go:embed assets
var assets embed.FS

// Server is the web monitor.
type Server struct {
	router  *mux.Router
	monitor *monitor.Server
	query   *query.Server
}

// IndexPath is where Goka's index page is served (the dev stack serves its
// dashboard at /).
const IndexPath = "/goka"

// Prefixes are the paths the monitor serves below (for a mux in front).
var Prefixes = []string{IndexPath + "/", "/monitor/", "/query/", "/assets/"}

// New returns a monitor with index (/goka/), monitor (/monitor/) and query
// (/query/) pages.
func New() *Server {
	r := mux.NewRouter()
	s := &Server{router: r}
	sub, _ := fs.Sub(assets, "assets")
	r.PathPrefix("/assets/").Handler(http.StripPrefix("/assets/", http.FileServer(http.FS(sub))))
	idx := index.NewServer(IndexPath, r)
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
	switch r.URL.Path {
	case IndexPath, "/monitor", "/query": // Goka routes only the slashed paths
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
		return
	}
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || bytes.Contains(body, []byte("<html")) {
		body = fonts.ReplaceAll([]byte(cdn.Replace(string(body))), nil)
		body = legible(body)
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

// title is the page's <title> (Goka leaves the index's empty).
var title = regexp.MustCompile(`<title>([^<]*)</title>`)

// edge is an edge of a processor on the monitor's index: topic and the Go
// type of its codec.
var edge = regexp.MustCompile(`(<li>[A-Z]+: )([^ <]+) &rarr; ([^<]+)</li>`)

// avroType is a codec of ours for a generated type, lenient or not.
var avroType = regexp.MustCompile(`^\*?codecs\.(?:Lenient|Avro)\[\*?(?:[\w./-]+/)?avro\.(\w+)\]$`)

// stalled: Goka calls a table partition "stalled" when no record arrived
// for two minutes, which an idle compacted table (customers, products) is
// while it is up to date. Say which it is.
var stalled = strings.NewReplacer(`status = "stalled";`,
	`status = (stats.Input && stats.Input.OffsetLag > 0) ? "behind by " + stats.Input.OffsetLag + ", no record for 2 min" : "up to date, idle";`)

// style keeps the pages within the window: Goka nests .container inside
// .row, whose negative margins make every page scroll sideways; wide
// tables scroll inside their panel instead. And an empty icon: the
// browser's request for /favicon.ico would be a 404 in the console.
const style = `<link rel="icon" href="data:,"><style>.row{margin-left:0;margin-right:0}body{overflow-x:hidden}.panel-body{overflow-x:auto}` +
	`.navbar .container{display:flex;flex-wrap:wrap}.navbar-nav>li>a{padding:8px 10px}</style>`

// legible rewrites one of Goka's pages for readers who do not know Goka.
func legible(page []byte) []byte {
	page = title.ReplaceAllFunc(page, func(m []byte) []byte {
		t := strings.TrimSpace(string(title.FindSubmatch(m)[1]))
		if t == "" {
			t = "Index"
		}
		return []byte("<title>" + t + " · Goka monitor · orderstream</title>")
	})
	// After Bootstrap's stylesheets, so that it wins.
	page = bytes.Replace(page, []byte("</head>"), []byte(style+"</head>"), 1)
	page = edge.ReplaceAllFunc(page, func(m []byte) []byte {
		g := edge.FindSubmatch(m)
		return []byte(string(g[1]) + string(g[2]) + " (" + codecName(string(g[3])) + ")</li>")
	})
	return []byte(stalled.Replace(string(page)))
}

// codecName names what a codec reads and writes, given its Go type as
// Goka prints it: the Avro record's full name, or the plain format.
func codecName(goType string) string {
	if m := avroType.FindStringSubmatch(goType); m != nil {
		if full, ok := schemaNames[m[1]]; ok {
			return full + ", Avro"
		}
		return m[1] + ", Avro"
	}
	switch goType {
	case "*codec.Bytes":
		return "bytes as read"
	case "*codec.String":
		return "string"
	case "*codec.Int64":
		return "int64"
	}
	return goType
}

// schemaNames maps a generated type's name to its record's full name
// (io.orderstream.OrderDetails), from the schemas themselves.
var schemaNames = func() map[string]string {
	out := map[string]string{}
	for _, text := range []string{avro.OrderSchema, avro.CustomerSchema, avro.ProductSchema, avro.OrderDetailsSchema,
		avro.CustomerTotalSchema, avro.CustomerTotalStateSchema} {
		var s struct{ Name, Namespace string }
		if json.Unmarshal([]byte(text), &s) == nil && s.Name != "" {
			out[s.Name] = strings.TrimPrefix(s.Namespace+"."+s.Name, ".")
		}
	}
	return out
}()
