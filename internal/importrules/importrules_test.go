package importrules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rule says what the packages under one path of the module may depend on.
type rule struct {
	// pkg is the module-relative path the rule covers, with the packages
	// below it; "." is the module's root package (main.go) alone.
	pkg string
	// mayUse lists the only packages of ours (with the packages below them)
	// the covered packages may depend on, directly or not, besides their own
	// tree. It is ignored when anyOwn is set.
	mayUse []string
	anyOwn bool
	// notOwn lists packages of ours (with the packages below them) that must
	// not be reached, directly or not.
	notOwn []string
	// notDeps lists outside import-path prefixes that must not be reached,
	// directly or not.
	notDeps []string
	// notImports lists import paths that must not be imported directly.
	notImports []string
	// fyne allows depending on fyne.io/...; every other package must not.
	fyne bool
}

// rules are DESIGN.md's import rules. A package no rule covers may use any of
// ours but must not depend on Fyne.
var rules = []rule{
	{pkg: "form"},
	{pkg: "store", mayUse: []string{"form"}},
	{pkg: "sync", mayUse: []string{"form", "store", "sync/wire"}},
	// The wire types are shared by devices and the server, so they stay as
	// light as the domain they describe.
	{pkg: "sync/wire", mayUse: []string{"form"}},
	{pkg: "server", mayUse: []string{"form", "store", "sync/wire"}},
	{
		pkg:        "app",
		anyOwn:     true,
		notOwn:     []string{"store", "sync", "server", "cmd"},
		notDeps:    []string{"go.etcd.io/bbolt", "github.com/Azure/"},
		notImports: []string{"net/http"},
		fyne:       true,
	},
	{pkg: ".", anyOwn: true, fyne: true},
}

// otherPackages names, in test output, the packages no rule covers.
const otherPackages = "others"

// pkg is what `go list` reports about one package.
type pkg struct {
	ImportPath string
	Imports    []string // direct imports
	Deps       []string // all dependencies, direct or not
	Module     *struct {
		Path string
		Main bool
	}
	Error      *struct{ Err string }
	DepsErrors []*struct{ Err string }
}

// graph is the module's packages and everything they depend on.
type graph struct {
	module string          // the module path
	pkgs   map[string]*pkg // by import path
	ours   []string        // the module's own packages, sorted
}

// TestImportRules checks the module's packages against the rules, one
// subtest per rule.
func TestImportRules(t *testing.T) {
	g := listModule(t)
	for _, p := range g.ours {
		if e := g.pkgs[p].Error; e != nil {
			t.Errorf("go list %s: %s", p, e.Err)
		}
		for _, e := range g.pkgs[p].DepsErrors {
			t.Errorf("go list %s: dependency: %s", p, e.Err)
		}
	}
	if t.Failed() {
		t.Fatal("the module's packages could not all be listed, so their imports cannot be checked")
	}

	names := []string{otherPackages}
	for _, r := range rules {
		names = append(names, r.pkg)
	}
	for _, name := range names {
		title := name
		if name == "." {
			title = "main"
		}
		t.Run(title, func(t *testing.T) {
			var covered []string
			for _, p := range g.ours {
				r, ok := ruleFor(rules, g.rel(p))
				if ok && r.pkg == name || !ok && name == otherPackages {
					covered = append(covered, p)
				}
			}
			if len(covered) == 0 {
				t.Skipf("no package %s yet", title)
			}
			for _, p := range covered {
				for _, v := range check(g, rules, p) {
					t.Error(v)
				}
			}
		})
	}
}

// TestCheck proves the checker can fail: each case is a small fake module
// "m" that keeps or breaks a rule.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		imports map[string][]string // import path → its direct imports
		check   string              // the package to check
		want    []string            // substrings, one per expected violation, in order
	}{
		{
			name:    "OK",
			imports: map[string][]string{"m/form": {"fmt"}, "m/store": {"m/form", "go.etcd.io/bbolt"}, "go.etcd.io/bbolt": {"os"}},
			check:   "m/store",
		},
		{
			name:    "FormImportsStore",
			imports: map[string][]string{"m/form": {"m/store"}, "m/store": {"fmt"}},
			check:   "m/form",
			want:    []string{"form depends on store (form → store); it may use only nothing of ours"},
		},
		{
			name:    "StoreReachesSyncIndirectly",
			imports: map[string][]string{"m/store": {"m/store/index"}, "m/store/index": {"m/sync"}, "m/sync": {"m/form"}, "m/form": nil},
			check:   "m/store",
			want:    []string{"store depends on sync (store → store/index → sync)"},
		},
		{
			name:    "ServerImportsSync",
			imports: map[string][]string{"m/server": {"m/sync/wire", "m/sync"}, "m/sync": {"m/sync/wire"}, "m/sync/wire": nil},
			check:   "m/server",
			want:    []string{"server depends on sync (server → sync)"},
		},
		{
			name:    "ServerReachesFyne",
			imports: map[string][]string{"m/server": {"github.com/x/y"}, "github.com/x/y": {"fyne.io/fyne/v2"}, "fyne.io/fyne/v2": nil},
			check:   "m/server",
			want:    []string{"server depends on fyne.io/fyne/v2 (server → github.com/x/y → fyne.io/fyne/v2)"},
		},
		{
			name:    "UnlistedPackageImportsFyne",
			imports: map[string][]string{"m/internal/widgets": {"fyne.io/fyne/v2/widget"}, "fyne.io/fyne/v2/widget": nil},
			check:   "m/internal/widgets",
			want:    []string{"internal/widgets depends on fyne.io/fyne/v2/widget"},
		},
		{
			name: "AppUsesStorageAndHTTP",
			imports: map[string][]string{
				"m/app":            {"m/form", "fyne.io/fyne/v2", "net/http", "m/app/screens"},
				"m/app/screens":    {"m/store", "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"},
				"m/store":          {"go.etcd.io/bbolt"},
				"m/form":           nil,
				"fyne.io/fyne/v2":  {"net/http"},
				"go.etcd.io/bbolt": nil,
				"net/http":         nil,
				"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob": {"net/http"},
			},
			check: "m/app",
			want: []string{
				"app depends on github.com/Azure/azure-sdk-for-go/sdk/storage/azblob (app → app/screens → github.com/Azure/",
				"app depends on go.etcd.io/bbolt (app → app/screens → store → go.etcd.io/bbolt)",
				"app depends on store (app → app/screens → store)",
				"app imports net/http",
			},
		},
		{
			name:    "AppMayUseFyneAndForm",
			imports: map[string][]string{"m/app": {"m/form", "fyne.io/fyne/v2"}, "m/form": nil, "fyne.io/fyne/v2": {"net/http"}, "net/http": nil},
			check:   "m/app",
		},
		{
			name:    "MainMayUseAnything",
			imports: map[string][]string{"m": {"m/app", "m/store", "m/sync", "fyne.io/fyne/v2"}, "m/app": nil, "m/store": nil, "m/sync": nil, "fyne.io/fyne/v2": nil},
			check:   "m",
		},
		{
			name:    "WireStaysLight",
			imports: map[string][]string{"m/sync/wire": {"m/store"}, "m/store": nil},
			check:   "m/sync/wire",
			want:    []string{"sync/wire depends on store"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := check(fakeGraph("m", tt.imports), rules, tt.check)
			if len(got) != len(tt.want) {
				t.Fatalf("check(%s) = %d violations, want %d:\n%s", tt.check, len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("violation %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// check returns the ways package p breaks its rule, in a stable order.
func check(g *graph, rules []rule, p string) []string {
	rel := g.rel(p)
	r, ok := ruleFor(rules, rel)
	if !ok {
		r = rule{pkg: rel, anyOwn: true}
	}
	var out []string
	for _, d := range g.pkgs[p].Deps {
		if dr, ours := g.relOK(d); ours {
			switch {
			case under(dr, r.pkg):
				// its own tree
			case underAny(dr, r.notOwn):
				out = append(out, fmt.Sprintf("%s depends on %s (%s), which DESIGN.md forbids", rel, dr, g.path(p, d)))
			case !r.anyOwn && !underAny(dr, r.mayUse):
				out = append(out, fmt.Sprintf("%s depends on %s (%s); it may use only %s", rel, dr, g.path(p, d), allowed(r.mayUse)))
			}
			continue
		}
		switch {
		case !r.fyne && strings.HasPrefix(d, "fyne.io/"):
			out = append(out, fmt.Sprintf("%s depends on %s (%s); only app and main may use Fyne", rel, d, g.path(p, d)))
		case hasPrefixAny(d, r.notDeps):
			out = append(out, fmt.Sprintf("%s depends on %s (%s), which DESIGN.md forbids", rel, d, g.path(p, d)))
		}
	}
	for _, i := range g.pkgs[p].Imports {
		if slices.Contains(r.notImports, i) {
			out = append(out, fmt.Sprintf("%s imports %s, which DESIGN.md forbids", rel, i))
		}
	}
	return out
}

// ruleFor returns the rule covering rel: the one with the longest matching
// path.
func ruleFor(rules []rule, rel string) (rule, bool) {
	var best rule
	found := false
	for _, r := range rules {
		if under(rel, r.pkg) && (!found || len(r.pkg) > len(best.pkg)) {
			best, found = r, true
		}
	}
	return best, found
}

// under reports whether module-relative path rel is dir or below it; "."
// (the root package) has nothing below it.
func under(rel, dir string) bool {
	if dir == "." {
		return rel == "."
	}
	return rel == dir || strings.HasPrefix(rel, dir+"/")
}

func underAny(rel string, dirs []string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool { return under(rel, d) })
}

func hasPrefixAny(s string, prefixes []string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
}

func allowed(pkgs []string) string {
	if len(pkgs) == 0 {
		return "nothing of ours"
	}
	return strings.Join(pkgs, ", ")
}

// relOK returns the module-relative path of an import path of ours.
func (g *graph) relOK(importPath string) (string, bool) {
	if importPath == g.module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(importPath, g.module+"/")
	return rel, ok
}

// rel returns the module-relative path of an import path, or the import
// path itself for a package not ours.
func (g *graph) rel(importPath string) string {
	if rel, ok := g.relOK(importPath); ok {
		return rel
	}
	return importPath
}

// path returns a shortest import chain from one package to another, such as
// "app → app/screens → store", to show where a forbidden dependency comes in.
func (g *graph) path(from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append(chain, g.rel(p))
			}
			slices.Reverse(chain)
			return strings.Join(chain, " → ")
		}
		if q, ok := g.pkgs[p]; ok {
			for _, i := range q.Imports {
				if _, seen := prev[i]; !seen {
					prev[i] = p
					queue = append(queue, i)
				}
			}
		}
	}
	return g.rel(from) + " → … → " + g.rel(to)
}

// listModule runs `go list` on the module and returns its package graph.
func listModule(t *testing.T) *graph {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.Command(goBin, "list", "-e", "-deps",
		"-json=ImportPath,Imports,Deps,Module,Error,DepsErrors", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", root, err, stderr.Bytes())
	}
	g := &graph{pkgs: map[string]*pkg{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		g.pkgs[p.ImportPath] = p
		if p.Module != nil && p.Module.Main {
			g.module = p.Module.Path
			g.ours = append(g.ours, p.ImportPath)
		}
	}
	if g.module == "" {
		t.Fatalf("go list in %s found no packages of the main module", root)
	}
	slices.Sort(g.ours)
	return g
}

// fakeGraph builds a graph from direct imports, filling in Deps as go list
// does: every dependency, direct or not, sorted.
func fakeGraph(module string, imports map[string][]string) *graph {
	g := &graph{module: module, pkgs: map[string]*pkg{}}
	for p, is := range imports {
		g.pkgs[p] = &pkg{ImportPath: p, Imports: is}
	}
	for _, q := range g.pkgs {
		seen := map[string]bool{}
		stack := slices.Clone(q.Imports)
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[d] {
				continue
			}
			seen[d] = true
			if dq, ok := g.pkgs[d]; ok {
				stack = append(stack, dq.Imports...)
			}
		}
		for d := range seen {
			q.Deps = append(q.Deps, d)
		}
		slices.Sort(q.Deps)
	}
	return g
}

// moduleRoot walks up from the working directory to the folder holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}
