package importer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/fieldforms/fieldforms/form/importer"
)

const xform = `<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:jr="http://openrosa.org/javarosa">
  <h:head>
    <h:title>Clinic visit</h:title>
    <model>
      <instance><data id="clinic_visit" version="3"><age/><pregnant/></data></instance>
      <bind nodeset="/data/age" type="int" required="true()" constraint=". &lt; 120"/>
      <bind nodeset="/data/pregnant" type="string" relevant="/data/age &gt;= 12"/>
    </model>
  </h:head>
  <h:body>
    <input ref="/data/age"><label>Age</label></input>
    <select1 ref="/data/pregnant"><label>Pregnant?</label>
      <item><label>Yes</label><value>yes</value></item><item><label>No</label><value>no</value></item>
    </select1>
  </h:body>
</h:html>`

func xlsx(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	f.SetSheetName("Sheet1", "survey")
	f.SetSheetRow("survey", "A1", &[]any{"type", "name", "label", "relevant"})
	f.SetSheetRow("survey", "A2", &[]any{"integer", "age", "Age"})
	f.SetSheetRow("survey", "A3", &[]any{"text", "school", "School", "${age} < 18"})
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Each kind of form file goes to its reader, by its content before its name.
func TestImportKinds(t *testing.T) {
	ctx := context.Background()
	book := xlsx(t)
	for _, tt := range []struct {
		name   string
		data   []byte
		id     string
		fields int
	}{
		{"visit.xlsx", book, "visit", 2},
		{"visit.xls.bin", book, "visit.xls", 2}, // an .xlsx by content, whatever its name
		{"clinic.xml", []byte(xform), "clinic_visit", 2},
		{"clinic.txt", []byte("\xef\xbb\xbf  " + xform), "clinic_visit", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := importer.Import(ctx, tt.name, tt.data, importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Template.ID != tt.id || len(rep.Template.Fields) != tt.fields {
				t.Errorf("template %s with %d fields:\n%s", rep.Template.ID, len(rep.Template.Fields), rep.Text())
			}
		})
	}
	if _, err := importer.Import(ctx, "notes.txt", []byte("hello"), importer.Options{}); !errors.Is(err, importer.ErrUnknownKind) {
		t.Errorf("a text file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "visit.xlsx")
	if err := os.WriteFile(path, book, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep, err := importer.ImportFile(ctx, path, importer.Options{}); err != nil || rep.Template.ID != "visit" {
		t.Errorf("ImportFile: %v", err)
	}
}
