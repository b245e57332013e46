package xform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form/internal/corpus"
	"github.com/fieldforms/fieldforms/form/xlsform"
)

// corpusDir holds the public forms, when this machine has them (package
// form/internal/corpus says where they are looked for).
var corpusDir = corpus.Dir()

// corpusFiles lists the XForms of the corpus of real public forms.
func corpusFiles(tb testing.TB) []string {
	var files []string
	dir := corpusDir
	if dir == "" {
		tb.Skip("no corpus of public forms on this machine")
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".xml") {
			files = append(files, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) || len(files) == 0 {
		tb.Skip("no XForm in " + corpusDir)
	}
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// TestCorpus imports every XForm of the corpus: each imports, or is refused with
// an *Error that names an element.
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	var imported, clean, refused int
	for _, p := range files {
		rel := p
		if i := strings.Index(p, "corpus"); i >= 0 {
			rel = p[i+len("corpus")+1:]
		}
		rep, err := ImportFile(context.Background(), p, xlsform.Options{})
		if err != nil {
			var xe *Error
			if !errors.As(err, &xe) {
				t.Errorf("%s: %v is not an *Error", rel, err)
				continue
			}
			refused++
			t.Logf("%s: refused: %v", rel, err)
			continue
		}
		imported++
		if rep.Clean() {
			clean++
		}
		if rep.Template == nil {
			t.Errorf("%s: no template", rel)
			continue
		}
		t.Logf("%s: %d fields, %d exact, %d approximated, %d dropped, %d warnings", rel, len(rep.Template.All()),
			rep.Imported, len(rep.Approximated), len(rep.Dropped), len(rep.Warnings))
	}
	t.Logf("%d XForms: %d imported (%d clean), %d refused", len(files), imported, clean, refused)
}

// BenchmarkCorpusXForm imports the XForms of the corpus (those under invalid/,
// meant to be refused, left out, as BenchmarkCorpus of package xlsform does) and
// prints how many there are and how many import with nothing dropped, one figure a
// line.
func BenchmarkCorpusXForm(b *testing.B) {
	var files []string
	var data [][]byte
	for _, p := range corpusFiles(b) {
		if strings.Contains(filepath.ToSlash(p), "/invalid/") {
			continue
		}
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, p)
		data = append(data, d)
	}
	printed := false
	for b.Loop() {
		clean := 0
		for i, p := range files {
			opts := xlsform.Options{Files: os.DirFS(filepath.Dir(p))}
			rep, err := Import(context.Background(), p, bytes.NewReader(data[i]), opts)
			if err == nil && rep.Clean() {
				clean++
			}
		}
		if !printed {
			printed = true
			fmt.Printf("forms_corpus_xml_total %d forms\n", len(files))
			fmt.Printf("forms_corpus_xml_imported_clean %d forms\n", clean)
		}
	}
}
