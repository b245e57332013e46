package server

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// Every route of the API declares who may call it (invariant I11): the route table
// holds no route without a role, and no file of the package registers a handler on a
// mux other than through the router, which records the role.
func TestEveryRouteDeclaresItsRole(t *testing.T) {
	root := t.TempDir()
	s, err := Open(context.Background(), Options{ConfigDir: filepath.Join(root, "config"), DataDir: filepath.Join(root, "data"),
		Create: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, table := s.newRouter()
	if len(table) == 0 {
		t.Fatal("empty route table")
	}
	seen := map[string]bool{}
	for _, r := range table {
		switch {
		case seen[r.pattern]:
			t.Errorf("route %q registered twice", r.pattern)
		case r.who != roleAnyone && r.who != roleDevice && r.who != roleAdmin:
			t.Errorf("route %q has no role (%s)", r.pattern, r.who)
		case r.fallback && r.who != roleAnyone:
			t.Errorf("fallback %q must hold no data", r.pattern)
		}
		seen[r.pattern] = true
	}

	// Registering without a role panics at start, so a server cannot serve one.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a route registered with no role was accepted")
			}
		}()
		rt := &router{s: s, allow: map[string][]string{}}
		rt.handle("GET /v1/nothing", roleNone, nil)
	}()

	// Only the router touches the mux.
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			fn, ok := n.(*ast.FuncDecl)
			if ok && fn.Recv != nil && len(fn.Recv.List) == 1 {
				if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
					if id, ok := star.X.(*ast.Ident); ok && id.Name == "router" {
						return false // the router's own methods
					}
				}
			}
			sel, ok := n.(*ast.SelectorExpr)
			if ok && (sel.Sel.Name == "HandleFunc" || sel.Sel.Name == "Handle") {
				t.Errorf("%s: %s registers a handler outside the router, without a role", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}
