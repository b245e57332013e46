package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// mustOpen opens a replica in a temporary folder with the test template, closed at
// the end of the test.
func mustOpen(tb testing.TB) *store.Store {
	tb.Helper()
	return mustOpenDir(tb, tb.TempDir())
}

func mustOpenDir(tb testing.TB, dir string) *store.Store {
	tb.Helper()
	s, err := store.Open(context.Background(), dir, store.Options{Device: "dev-test"})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.PutTemplate(context.Background(), mustTemplate(tb)); err != nil {
		tb.Fatalf("put template: %v", err)
	}
	return s
}

func mustTemplate(tb testing.TB) *form.Template {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "inspection.json"))
	if err != nil {
		tb.Fatal(err)
	}
	t, err := form.ParseTemplate(b)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

var inspection = form.TemplateKey{ID: "inspection", Version: 1}
