package pipeline_test

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/orderstream/pipeline/dev/stack"
	"github.com/orderstream/pipeline/services"
	"github.com/orderstream/pipeline/services/frame"
)

// registeredMetrics finds every Prometheus metric the code defines: the
// orderstream_<subsystem>_<name> of each prometheus.*Opts literal with a
// Namespace, in the module's non-test Go files.
func registeredMetrics(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{} // metric -> file
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			sel, ok := lit.Type.(*ast.SelectorExpr)
			if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
				return true
			}
			parts := map[string]string{}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				key, _ := kv.Key.(*ast.Ident)
				val, _ := kv.Value.(*ast.BasicLit)
				if key != nil && val != nil && val.Kind == token.STRING {
					parts[key.Name], _ = strconv.Unquote(val.Value)
				}
			}
			if parts["Namespace"] == "" || parts["Name"] == "" {
				return true
			}
			name := parts["Namespace"]
			if parts["Subsystem"] != "" {
				name += "_" + parts["Subsystem"]
			}
			out[name+"_"+parts["Name"]] = path
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestREADMEListsEveryMetric: every orderstream_* metric the code registers
// is in the README, and every one the README names exists.
func TestREADMEListsEveryMetric(t *testing.T) {
	code := registeredMetrics(t)
	if len(code) < 10 {
		t.Fatalf("found only %d metrics in the code: %v", len(code), code)
	}
	doc := map[string]bool{}
	for _, m := range regexp.MustCompile(`orderstream_[a-z0-9_]+`).FindAllString(readme(t), -1) {
		doc[strings.TrimRight(m, "_")] = true
	}
	for m, file := range code {
		if !doc[m] {
			t.Errorf("README.md does not list %s (registered in %s)", m, file)
		}
	}
	for m := range doc {
		if _, ok := code[m]; !ok {
			t.Errorf("README.md names %s, which no code registers", m)
		}
	}
}

// binaryFlags are the flags of every binary the README documents, and of
// their commands (`orders-details replay-dlq`).
func binaryFlags() map[string]*flag.FlagSet {
	out := map[string]*flag.FlagSet{}
	for _, s := range services.Table {
		_, fs := frame.NewFlags(s.Name, s.About, s.HTTPAddr)
		c := s.New()
		c.RegisterFlags(fs)
		out[s.Name] = fs
		if cc, ok := c.(services.Commander); ok {
			for _, cmd := range cc.Commands() {
				fs := flag.NewFlagSet(s.Name+" "+cmd.Name, flag.ContinueOnError)
				cmd.RegisterFlags(fs)
				out[s.Name+" "+cmd.Name] = fs
			}
		}
	}
	_, fs := frame.NewFlags("dashboard", "", services.DashboardHTTPAddr)
	new(services.Dashboard).RegisterFlags(fs)
	out["dashboard"] = fs
	fs = flag.NewFlagSet("pipeline", flag.ContinueOnError)
	new(stack.Options).RegisterFlags(fs)
	out["pipeline"] = fs
	out["schema-registry"] = services.RegistryFlags()
	return out
}

// TestREADMEListsEveryFlag: every flag of every service, of the dashboard
// and of pipeline (make run) is in the README as `--name`, and every
// `--name` the README shows is a flag of one of them.
func TestREADMEListsEveryFlag(t *testing.T) {
	doc := readme(t)
	// Flags the README shows that are not our binaries': every binary's
	// --help, and the Kafka tools' (scripts/kafka.sh tool).
	all := map[string]bool{"help": true, "bootstrap-server": true}
	for bin, fs := range binaryFlags() {
		fs.VisitAll(func(f *flag.Flag) {
			all[f.Name] = true
			if !strings.Contains(doc, "`--"+f.Name+"`") {
				t.Errorf("README.md does not list %s's flag `--%s`", bin, f.Name)
			}
		})
	}
	var stale []string
	for _, m := range regexp.MustCompile("`--([a-z0-9.-]+)`").FindAllStringSubmatch(doc, -1) {
		if !all[m[1]] && !slices.Contains(stale, m[1]) {
			stale = append(stale, m[1])
		}
	}
	for _, f := range stale {
		t.Errorf("README.md shows `--%s`, which no binary has", f)
	}
}
