package pipeline_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/orderstream/pipeline"

// A floor of the house: which folders it holds and which floors its
// packages may import (besides their own floor's packages where allowed).
type floor struct {
	name    string
	folders []string // package path prefixes, relative to the module
	imports []string // floors its non-test code may import
	self    bool     // may its packages import each other?
}

// The floors, top to bottom, as ARCHITECTURE.md describes them.
var floors = []floor{
	{"commands", []string{"cmd/"}, []string{"dev", "composition", "libraries", "foundation", "plumbing"}, false},
	{"dev", []string{"dev/"}, []string{"composition", "libraries", "foundation", "plumbing"}, true},
	{"composition", []string{"services"}, []string{"libraries", "foundation", "plumbing"}, true},
	{"libraries", []string{"processors/", "connectors", "producer", "schemaregistry", "dashboard"}, []string{"foundation", "plumbing"}, false},
	{"foundation", []string{"avro", "codecs", "database"}, []string{"plumbing"}, true},
	{"plumbing", []string{"kit/"}, nil, true},
	{"tests", []string{"internal/testkit", "integration", "deploy"}, []string{"dev", "composition", "libraries", "foundation", "plumbing"}, true},
}

func floorOf(pkg string) (floor, bool) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	for _, f := range floors {
		for _, dir := range f.folders {
			if rel == strings.TrimSuffix(dir, "/") || strings.HasPrefix(rel, strings.TrimSuffix(dir, "/")+"/") {
				return f, true
			}
		}
	}
	return floor{}, false
}

type goPackage struct {
	ImportPath  string
	Dir         string
	Doc         string
	Imports     []string
	TestImports []string
	GoFiles     []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(&out)
	for {
		var p goPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestLayers: every package sits on a floor, and its code imports only the
// floors below it (dependencies point one way: composition -> libraries ->
// plumbing); test support is imported by tests only.
func TestLayers(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath == module {
			continue // this test
		}
		from, ok := floorOf(p.ImportPath)
		if !ok {
			t.Errorf("%s is on no floor: put it in a folder ARCHITECTURE.md describes (and add it to floors here)", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to, _ := floorOf(imp)
			switch {
			case to.name == "tests":
				t.Errorf("%s (%s) imports %s: test support is for tests only", p.ImportPath, from.name, imp)
			case to.name == from.name && !from.self:
				t.Errorf("%s imports %s: packages of the %s floor do not import each other", p.ImportPath, imp, from.name)
			case to.name != from.name && !slices.Contains(from.imports, to.name):
				t.Errorf("%s (%s) imports %s (%s): the %s floor may import only %v", p.ImportPath, from.name, imp, to.name, from.name, from.imports)
			}
		}
	}
}

// TestEveryPackageIsDocumented: a package doc on every package, and every
// package folder named in ARCHITECTURE.md, so the tree and the document
// agree.
func TestEveryPackageIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z0-9./_-]+)/?`").FindAllStringSubmatch(string(doc), -1) {
		named[strings.TrimSuffix(m[1], "/")] = true
	}
	for _, p := range listPackages(t) {
		if p.ImportPath == module {
			continue
		}
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc", rel)
		}
		if !named[rel] {
			t.Errorf("ARCHITECTURE.md does not name `%s`", rel)
		}
	}
	// And every folder it names with a trailing slash exists.
	for _, m := range regexp.MustCompile("`([a-z0-9._-]+(?:/[a-z0-9._-]+)*)/`").FindAllStringSubmatch(string(doc), -1) {
		if fi, err := os.Stat(m[1]); err != nil || !fi.IsDir() {
			t.Errorf("ARCHITECTURE.md names the folder `%s/`, which does not exist", m[1])
		}
	}
}
