package xform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form/xlsform"
)

const corpusDir = "../xlsform/testdata/corpus"

// corpusFiles lists the XForms of the corpus of real public forms.
func corpusFiles(tb testing.TB) []string {
	var files []string
	dir := corpusDir
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real // the corpus may be a link to where it is gathered
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

// BenchmarkCorpusXForm imports every XForm of the corpus and prints how many import
// and how many import with nothing dropped.
func BenchmarkCorpusXForm(b *testing.B) {
	files := corpusFiles(b)
	data := make([][]byte, len(files))
	for i, p := range files {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		data[i] = d
	}
	var imported, clean int
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		imported, clean = 0, 0
		for i, p := range files {
			opts := xlsform.Options{Files: os.DirFS(filepath.Dir(p))}
			rep, err := Import(context.Background(), p, strings.NewReader(string(data[i])), opts)
			if err != nil {
				continue
			}
			imported++
			if rep.Clean() {
				clean++
			}
		}
	}
	b.StopTimer()
	_ = imported
	fmt.Printf("forms_corpus_xml_total %d forms\n", len(files))
	fmt.Printf("forms_corpus_xml_imported_clean %d forms\n", clean)
}
