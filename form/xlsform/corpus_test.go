package xlsform

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/internal/corpus"
)

// corpusDir holds the public forms, when this machine has them (package
// form/internal/corpus says where they are looked for).
var corpusDir = corpus.Dir()

// corpusFiles lists the workbooks of the corpus, by path under corpusDir.
func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	if corpusDir == "" {
		tb.Skip("no corpus of public forms on this machine")
	}
	var files []string
	root := corpusDir
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r // the corpus may be a link to where it is being gathered
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".xlsx", ".xls", ".xlsm":
			if !d.IsDir() {
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				files = append(files, filepath.Join(corpusDir, rel))
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) == 0 {
		tb.Skip("no workbooks in " + corpusDir)
	}
	return files
}

// corpusDisagreements are forms of invalid/ that this importer takes, and why.
var corpusDisagreements = map[string]string{
	"invalid/kobo/MCH_v1.xls":                     "its type is \"select one from source\" in lower case, an alias pyxform knows; only the .xlsx twin's \"Select one from source\" is unknown",
	"invalid/ona/error_test_form.xlsx":            "the calculation with a syntax error is dropped and reported, as every expression the engine refuses",
	"invalid/ona/group_names_must_be_unique.xlsx": "a repeat named data clashes with an XForm's root element, which templates do not have",
}

func isInvalid(path string) bool {
	rel, _ := filepath.Rel(corpusDir, path)
	return strings.HasPrefix(filepath.ToSlash(rel), "invalid/")
}

// importCorpusFile imports one workbook, turning a panic into an error.
func importCorpusFile(path string) (rep *Report, err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	rep, err = ImportFile(context.Background(), path, Options{})
	return rep, err, nil
}

func TestCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		rel, _ := filepath.Rel(corpusDir, path)
		rep, err, p := importCorpusFile(path)
		if p != nil {
			t.Errorf("%s: panic: %v", rel, p)
			continue
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Errorf("%s: refused with %T, not *Error: %v", rel, err, err)
			continue
		}
		if e != nil && strings.Contains(e.Msg, "internal error") {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if isInvalid(path) {
			if why, ok := corpusDisagreements[filepath.ToSlash(rel)]; ok {
				t.Logf("%s: invalid, imported (err %v): %s", rel, err, why)
				continue
			}
			if err == nil {
				t.Errorf("%s: invalid, but imported:\n%s", rel, rep.Text())
			} else {
				t.Logf("%s: refused as expected: %v", rel, err)
			}
			continue
		}
		if err != nil {
			// A refusal names the place, unless the file is not a workbook at all.
			if e.Sheet == "" || (e.Row == 0 && !errors.Is(err, ErrNotXLSForm)) {
				t.Errorf("%s: refusal names no sheet and row: %v", rel, err)
			}
			t.Logf("%s: refused: %v", rel, err)
			continue
		}
		if _, err := form.ParseTemplate(rep.Template.Encode()); err != nil {
			t.Errorf("%s: the imported template does not parse again: %v", rel, err)
		}
		checkCounts(t, rep)
		t.Logf("%s: imported %s: %d of %d rows exactly, %d approximated, %d dropped, %d warnings",
			rel, rep.Template.ID, rep.Imported, rep.Rows(), len(rep.Approximated), len(rep.Dropped), len(rep.Warnings))
	}
}

// BenchmarkCorpus imports the whole corpus and prints what became of it.
func BenchmarkCorpus(b *testing.B) {
	files := corpusFiles(b)
	printed := false
	for b.Loop() {
		var total, imported, clean, refused int
		for _, path := range files {
			if isInvalid(path) {
				continue
			}
			total++
			rep, err, p := importCorpusFile(path)
			switch {
			case p != nil || err != nil:
				refused++
			default:
				imported++
				if rep.Clean() {
					clean++
				}
			}
		}
		if !printed {
			printed = true
			fmt.Printf("forms_corpus_total %d forms\n", total)
			fmt.Printf("forms_corpus_imported %d forms\n", imported)
			fmt.Printf("forms_corpus_imported_clean %d forms\n", clean)
			fmt.Printf("forms_corpus_refused %d forms\n", refused)
		}
	}
}

func TestXLS(t *testing.T) {
	files := corpusFiles(t)
	n := 0
	for _, path := range files {
		if strings.ToLower(filepath.Ext(path)) != ".xls" || isInvalid(path) {
			continue
		}
		rep, err, p := importCorpusFile(path)
		if p != nil {
			t.Fatalf("%s: panic %v", path, p)
		}
		if err == nil {
			n++
			if len(rep.Template.Fields) == 0 {
				t.Errorf("%s: no fields", path)
			}
		}
	}
	if n == 0 {
		t.Skip("no .xls workbook in the corpus imports")
	}
}

// TestXLSDamaged imports damaged copies of .xls workbooks: the reader must not panic
// or hang, whatever the bytes.
func TestXLSDamaged(t *testing.T) {
	var data []byte
	for _, path := range corpusFiles(t) {
		if strings.ToLower(filepath.Ext(path)) == ".xls" {
			b, err := os.ReadFile(path)
			if err == nil && (data == nil || len(b) < len(data)) {
				data = b
			}
		}
	}
	if data == nil {
		t.Skip("no .xls in the corpus")
	}
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		b := append([]byte(nil), data...)
		off := (i * 7919) % len(b)
		switch i % 3 {
		case 0:
			b = b[:off]
		case 1:
			for j := off; j < len(b) && j < off+16; j++ {
				b[j] ^= 0xff
			}
		case 2:
			b[off] = byte(i)
		}
		_, err := ImportBytes(ctx, "damaged.xls", b, Options{})
		if err != nil && strings.Contains(err.Error(), "internal error") {
			t.Errorf("damaged at %d: %v", off, err)
		}
	}
}
