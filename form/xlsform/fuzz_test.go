package xlsform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fieldforms/fieldforms/form"
)

// fuzzSeeds are small workbooks that reach most of the importer.
var fuzzSeeds = []sheets{
	{"survey": {{"type", "name", "label"}, {"text", "a", "A"}}},
	{
		"survey": {
			{"type", "name", "label::en", "label::fr", "relevant", "default", "parameters", "repeat_count", "choice_filter"},
			{"integer", "n", "N", "N", "", "3"},
			{"begin repeat", "r", "R", "R", "${n} > 0", "", "", "${n}"},
			{"select_one c or_other", "s", "S", "S"},
			{"select_one_from_file list.csv", "f", "F", "F", "", "", "", "", "k='x'"},
			{"range", "g", "G", "G", "", "", "start=0 end=4 step=2"},
			{"end repeat"},
			{"calculate", "k", "", "", "", "", "", "", ""},
		},
		"choices":  {{"list_name", "name", "label::en", "k"}, {"c", "a", "A", "x"}, {"c", "b", "B", "y"}},
		"settings": {{"form_title", "form_id", "version", "default_language"}, {"Fuzz", "fuzz", "1", "en"}},
	},
	{
		"survey": {
			{"type", "name", "label", "calculation", "constraint", "constraint_message", "bind::x"},
			{"calculate", "c", "", "pulldata('a','b','c','d')"},
			{"note", "n", "${c}"},
			{"image", "i", "I", "", ". != ''", "M", "y"},
			{"begin group", "g", "G"},
			{"audit", "audit"},
			{"end group"},
		},
	},
}

func xlsxBytes(tb testing.TB, s sheets) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "seed.xlsx")
	if err := saveXLSX(path, s); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var fuzzFiles = fstest.MapFS{"list.csv": {Data: []byte("name,label,k\nx,X,x\ny,Y,y\n")}}

// FuzzImportXLSX feeds the importer arbitrary bytes as an .xlsx: it must never
// panic, and what it imports must be a valid template.
func FuzzImportXLSX(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(xlsxBytes(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		rep, err := ImportBytes(context.Background(), "fuzz.xlsx", data, Options{Files: fuzzFiles})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("refused with %T: %v", err, err)
			}
			if strings.Contains(e.Msg, "internal error") {
				t.Fatal(err)
			}
			return
		}
		if _, err := form.ParseTemplate(rep.Template.Encode()); err != nil {
			t.Fatalf("imported template does not parse: %v", err)
		}
		checkCounts(t, rep)
		_ = rep.Text()
	})
}

// TestWriteFuzzSeeds writes the seeds into testdata/fuzz in Go's corpus format
// (XLSFORM_WRITE_SEEDS=1 go test -run TestWriteFuzzSeeds).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("XLSFORM_WRITE_SEEDS") == "" {
		t.Skip("set XLSFORM_WRITE_SEEDS=1 to write the seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzImportXLSX")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds {
		var b bytes.Buffer
		fmt.Fprintf(&b, "go test fuzz v1\n[]byte(%q)\n", xlsxBytes(t, s))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i+1)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
