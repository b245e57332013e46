package assets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/xlsform"
)

// Each sample written as an XLSForm imports whole, into exactly the template
// embedded for it (go generate ./assets makes it so).
func TestSamplesImported(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("xlsform", "*.xlsx"))
	if err != nil || len(paths) < 2 {
		t.Fatalf("sample XLSForms: %v %v", paths, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			rep, err := xlsform.ImportFile(context.Background(), p, xlsform.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Clean() || len(rep.Approximated) != 0 {
				t.Errorf("not carried over exactly:\n%s", rep.Text())
			}
			data, err := os.ReadFile(filepath.Join("templates", strings.TrimSuffix(filepath.Base(p), ".xlsx")+".json"))
			if err != nil {
				t.Fatal(err)
			}
			embedded, err := form.ParseTemplate(data)
			if err != nil {
				t.Fatal(err)
			}
			if string(embedded.Encode()) != string(rep.Template.Encode()) {
				t.Errorf("templates/%s.json is not what the XLSForm imports to: run go generate ./assets", rep.Template.ID)
			}
		})
	}
	ts, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != len(paths)+4 {
		t.Errorf("%d embedded templates", len(ts))
	}
}
