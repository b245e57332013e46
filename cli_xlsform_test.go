package main

import (
	"archive/zip"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// writeXLSForm writes a workbook of sheets (each a list of rows) to dir/name.
func writeXLSForm(t *testing.T, dir, name string, sheets map[string][][]string) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	first := true
	for _, sheet := range []string{"survey", "choices", "settings"} {
		rows, ok := sheets[sheet]
		if !ok {
			continue
		}
		if first {
			if err := f.SetSheetName("Sheet1", sheet); err != nil {
				t.Fatal(err)
			}
			first = false
		} else if _, err := f.NewSheet(sheet); err != nil {
			t.Fatal(err)
		}
		for i, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			vals := make([]any, len(row))
			for j, v := range row {
				vals[j] = v
			}
			if err := f.SetSheetRow(sheet, cell, &vals); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := filepath.Join(dir, name)
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// inspectionXLSForm is a bridge inspection as an organisation would write it: a
// group on one page, cascading choices, a repeat a defect with a calculation over
// it, translations, constraint and required messages, a version string.
func inspectionXLSForm(version, extraLabel string) map[string][][]string {
	return map[string][][]string{
		"survey": {
			{"type", "name", "label::English (en)", "label::Français (fr)", "required", "required_message::English (en)", "constraint", "constraint_message::English (en)", "constraint_message::Français (fr)", "relevant", "calculation", "choice_filter", "appearance"},
			{"start", "start"},
			{"username", "inspector"},
			{"begin_group", "bridge", "Bridge", "Pont", "", "", "", "", "", "", "", "", "field-list"},
			{"text", "Bridge-ID", "Bridge number" + extraLabel, "Numéro du pont", "yes", "Every bridge has a number on its plate.", "regex(., '^B[0-9]{3}$')", "B and three digits, as B042.", "B et trois chiffres, comme B042."},
			{"select_one region", "region", "Region", "Région", "yes"},
			{"select_one district", "district", "District", "District", "yes", "", "", "", "", "", "", "region=${region}"},
			{"end_group"},
			{"begin_repeat", "defect", "Defect", "Défaut"},
			{"text", "what", "What is wrong", "Ce qui ne va pas", "yes"},
			{"integer", "severity", "Severity (1-3)", "Gravité (1-3)", "yes", "", ". >= 1 and . <= 3", "From 1 to 3.", "De 1 à 3."},
			{"end_repeat"},
			{"calculate", "worst", "", "", "", "", "", "", "", "", "max(${severity})"},
			{"note", "summary", "Worst defect: ${worst}", "Pire défaut : ${worst}", "", "", "", "", "", "count(${defect}) > 0"},
		},
		"choices": {
			{"list_name", "name", "label::English (en)", "label::Français (fr)", "region"},
			{"region", "north", "North", "Nord"},
			{"region", "south", "South", "Sud"},
			{"district", "n1", "North one", "Nord un", "north"},
			{"district", "n2", "North two", "Nord deux", "north"},
			{"district", "s1", "South one", "Sud un", "south"},
		},
		"settings": {
			{"form_title", "form_id", "version", "default_language", "instance_name"},
			{"Bridge inspection", "bridge_inspection", version, "English (en)", "concat(${Bridge-ID}, ' ', ${worst})"},
		},
	}
}

// A real XLSForm goes the whole way: imported on the server with a report, taken
// by two devices, filled with repeat instances on one, edited on the other,
// submitted through the form's own rules, synced, and exported with a CSV a repeat.
func TestXLSFormRoundTrip(t *testing.T) {
	dir := t.TempDir()
	v1 := writeXLSForm(t, dir, "bridge.xlsx", inspectionXLSForm("2026120301", ""))

	// Tried on a device first, offline: a dry run adds nothing.
	tryDir := t.TempDir()
	out := ok(t, tryDir, "template", "import", "--dry-run", "--json", v1)
	var rep struct {
		Template     struct{ ID, Name string } `json:"template"`
		Imported     int                       `json:"imported"`
		Approximated []map[string]string       `json:"approximated"`
		Dropped      []map[string]string       `json:"dropped"`
		Warnings     []map[string]string       `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("template import --json: %v\n%s", err, out)
	}
	if rep.Template.ID != "bridge_inspection" || rep.Template.Name != "Bridge inspection" || rep.Imported != 13 || len(rep.Dropped) != 0 || rep.Approximated == nil {
		t.Errorf("report: %s", out)
	}
	if got := ok(t, tryDir, "templates"); strings.Contains(got, "bridge_inspection") {
		t.Errorf("a dry run added the template: %s", got)
	}

	s := startFieldformsd(t)
	if out := s.admin("template", "import", v1, "--tenant", "acme"); !strings.Contains(out, "published as version 1") || !strings.Contains(out, "survey rows") && !strings.Contains(out, "Survey rows") {
		t.Fatalf("fieldformsd template import:\n%s", out)
	}
	if out := s.admin("template", "import", v1, "--tenant", "acme"); !strings.Contains(out, "version 1 is already published") {
		t.Fatalf("importing the same form again:\n%s", out)
	}

	a, b := newAgent(t, s, "ann"), newAgent(t, s, "bob")
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	if got := ok(t, a.dir, "templates"); !strings.Contains(got, "bridge_inspection\t1\tBridge inspection") {
		t.Fatalf("templates on device a: %s", got)
	}

	// Device a fills it in: a group, cascading choices, two defects.
	id := strings.TrimSpace(ok(t, a.dir, "record", "new", "--template", "bridge_inspection", "--json",
		`{"bridge": {"Bridge-ID": "B7", "region": "north", "district": "n2"},
		  "defect": [{"what": "Cracked bearing", "severity": 3}, {"what": "Loose rail", "severity": 1}]}`))
	rec := show(t, a.dir, id)
	if rec.Values["inspector"].Display != "ann" || rec.Values["worst"].Display != "3" || rec.Values["start"].Display == "" {
		t.Errorf("computed values on device a: %+v", rec.Values)
	}
	// Submitting runs the form's own rules, and says what they say.
	r := cli(t, a.dir, "record", "edit", id, "--submit")
	fails(t, r, 1, `"bridge/Bridge-ID"`, "B and three digits, as B042.")
	ok(t, a.dir, "record", "edit", id, "--json", `{"bridge/Bridge-ID": "B007"}`, "--submit")
	a.syncUntilQuiet()
	b.syncUntilQuiet()

	// Device b has it, and adds a defect while a edits one of the first two.
	var defects []string
	for key := range show(t, b.dir, id).Values {
		if strings.HasPrefix(key, "defect[") && strings.HasSuffix(key, "/what") {
			defects = append(defects, strings.TrimSuffix(key, "/what"))
		}
	}
	slices.Sort(defects)
	if len(defects) != 2 {
		t.Fatalf("device b holds defects %v", defects)
	}
	ok(t, b.dir, "record", "edit", id, "--json", `{"defect": [{"what": "Graffiti", "severity": 1}]}`)
	ok(t, a.dir, "record", "edit", id, "--json", `{"`+defects[1]+`/severity": 2}`)
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	a.syncUntilQuiet()
	ra, rb := show(t, a.dir, id), show(t, b.dir, id)
	if ra.Values[defects[1]+"/severity"].Display != "2" || len(ra.Values) != len(rb.Values) {
		t.Fatalf("devices differ after sync:\n a %+v\n b %+v", ra.Values, rb.Values)
	}
	whats := 0
	for key := range rb.Values {
		if strings.HasSuffix(key, "/what") {
			whats++
		}
	}
	if whats != 3 {
		t.Errorf("device b holds %d defects, want 3", whats)
	}

	// Shown in French, as the locale or --lang asks.
	var fr showJSON
	if err := json.Unmarshal([]byte(ok(t, b.dir, "record", "show", id, "--json", "--lang", "fr")), &fr); err != nil {
		t.Fatal(err)
	}
	if v := fr.Values["bridge/region"]; v.Label != "Région" || v.Display != "Nord" {
		t.Errorf("in French: %+v", v)
	}
	// A removed instance's values are kept, but not shown.
	ok(t, b.dir, "record", "edit", id, "--json", `{"defect": [{"_id": "`+strings.TrimSuffix(strings.TrimPrefix(defects[0], "defect["), "]")+`", "_removed": true}]}`)
	rs := show(t, b.dir, id)
	if _, shown := rs.Values[defects[0]+"/what"]; shown || rs.Values[defects[0]].Display != "removed" {
		t.Errorf("a removed instance shows: %+v", rs.Values)
	}
	whats = 0
	for key := range rs.Values {
		if strings.HasSuffix(key, "/what") {
			whats++
		}
	}
	if whats != 2 {
		t.Errorf("%d defects shown after removing one, want 2", whats)
	}

	// A new version label is a new version; the same label with other content is refused.
	v2 := writeXLSForm(t, dir, "bridge-v2.xlsx", inspectionXLSForm("2026120302", " (on the plate)"))
	if out := s.admin("template", "import", v2, "--tenant", "acme"); !strings.Contains(out, "published as version 2") {
		t.Fatalf("importing a new version:\n%s", out)
	}
	same := writeXLSForm(t, dir, "bridge-v2b.xlsx", inspectionXLSForm("2026120302", " (changed)"))
	cmd := serverCmd(s, "template", "import", same, "--tenant", "acme")
	if outb, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(outb), "new version") {
		t.Errorf("a changed form with the same version label: err %v, output %s", err, outb)
	}

	// Export on device b: one CSV for the form, one for its repeat, linked by keys.
	zipPath := filepath.Join(t.TempDir(), "export.zip")
	ok(t, b.dir, "export", "--out", zipPath)
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tables := map[string][][]string{}
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "csv/bridge_inspection") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(rc).ReadAll()
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		tables[f.Name] = rows
	}
	main, rep2 := tables["csv/bridge_inspection.csv"], tables["csv/bridge_inspection-defect.csv"]
	if len(main) != 2 || !slices.Contains(main[0], "bridge/Bridge-ID") || !slices.Contains(main[1], "B007") {
		t.Errorf("form CSV: %v", main)
	}
	if len(rep2) != 3 || !slices.Equal(rep2[0][:4], []string{"KEY", "PARENT_KEY", "record", "position"}) {
		t.Fatalf("repeat CSV: %v", rep2)
	}
	for _, row := range rep2[1:] {
		if row[1] != id || !strings.HasPrefix(row[0], id+"/defect[") {
			t.Errorf("repeat row not linked to its record: %v", row)
		}
	}
}

// serverCmd is a fieldformsd command on s's folders, to run and look at as it is.
func serverCmd(s *testServer, args ...string) *exec.Cmd {
	cmd := exec.Command(s.bin, append(args, s.dirs()...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return cmd
}

// An ODK XForm imports too, and a file that is no form is refused in one line.
func TestTemplateImportXFormAndRefusals(t *testing.T) {
	dir, files := t.TempDir(), t.TempDir()
	xml := filepath.Join(files, "clinic.xml")
	if err := os.WriteFile(xml, []byte(`<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
  <h:head><h:title>Clinic visit</h:title><model>
    <instance><data id="clinic_visit" version="3"><age/></data></instance>
    <bind nodeset="/data/age" type="int" required="true()" constraint=". &lt; 120"/>
  </model></h:head>
  <h:body><input ref="/data/age"><label>Age</label></input></h:body>
</h:html>`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ok(t, dir, "template", "import", xml); !strings.Contains(out, "clinic_visit") || !strings.Contains(out, "added as version 1") {
		t.Errorf("template import clinic.xml:\n%s", out)
	}
	id := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "clinic_visit", "--json", `{"age": 130}`))
	fails(t, cli(t, dir, "record", "edit", id, "--submit"), 1, `"age"`, "not allowed")

	txt := filepath.Join(files, "notes.txt")
	os.WriteFile(txt, []byte("hello"), 0o600)
	fails(t, cli(t, dir, "template", "import", txt), 1, "notes.txt", "not a form file")
	bad := writeXLSForm(t, files, "bad.xlsx", map[string][][]string{"survey": {{"type", "name", "label"}, {"selct_one x", "q", "Q"}}})
	fails(t, cli(t, dir, "template", "import", bad), 1, "survey sheet, row 2, column type")
}
