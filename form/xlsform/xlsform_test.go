package xlsform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/fieldforms/fieldforms/form"
)

// sheets is a workbook's sheets for a test.
type sheets = map[string][][]string

// field finds a field of the template by path (group/sub/name).
func field(t *testing.T, tpl *form.Template, path string) *form.Field {
	t.Helper()
	fields := tpl.Fields
	var f *form.Field
	for _, name := range strings.Split(path, "/") {
		f = nil
		for i := range fields {
			if fields[i].ID == name {
				f = &fields[i]
				break
			}
		}
		if f == nil {
			t.Fatalf("no field %q in %s", path, tpl.Encode())
		}
		fields = f.Fields
	}
	return f
}

func hasField(tpl *form.Template, path string) bool {
	fields := tpl.Fields
	for _, name := range strings.Split(path, "/") {
		var f *form.Field
		for i := range fields {
			if fields[i].ID == name {
				f = &fields[i]
			}
		}
		if f == nil {
			return false
		}
		fields = f.Fields
	}
	return true
}

func findDropped(rep *Report, row string) *Dropped {
	for i := range rep.Dropped {
		if rep.Dropped[i].Row == row {
			return &rep.Dropped[i]
		}
	}
	return nil
}

func findApprox(rep *Report, row string) *Approximated {
	for i := range rep.Approximated {
		if rep.Approximated[i].Row == row {
			return &rep.Approximated[i]
		}
	}
	return nil
}

func findWarning(rep *Report, row, substr string) bool {
	for _, w := range rep.Warnings {
		if w.Row == row && strings.Contains(w.Message, substr) {
			return true
		}
	}
	return false
}

// checkCounts checks that every typed survey row is counted once.
func checkCounts(t *testing.T, rep *Report) {
	t.Helper()
	rows := map[int]bool{}
	for _, a := range rep.Approximated {
		if a.key.sheet == sheetSurvey && a.key.row > 0 {
			rows[a.key.row] = true
		}
	}
	for _, d := range rep.Dropped {
		if d.key.sheet == sheetSurvey && d.key.row > 0 {
			rows[d.key.row] = true
		}
	}
	if rep.Imported+len(rows) != rep.Rows() {
		t.Errorf("imported %d + %d rows approximated or dropped != %d rows", rep.Imported, len(rows), rep.Rows())
	}
}

func TestQuestionTypes(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "appearance", "parameters", "calculation", "default"},
			{"text", "t", "T"},
			{"text", "ml", "ML", "multiline"},
			{"integer", "i", "I"},
			{"decimal", "dec", "Dec"},
			{"range", "r1", "R1"},
			{"range", "r2", "R2", "rating", "start=0 end=100 step=5 tick_interval=10"},
			{"date", "d", "D"},
			{"time", "tm", "Tm"},
			{"dateTime", "dt", "Dt"},
			{"geopoint", "gp", "Gp", "", "capture-accuracy=10"},
			{"geotrace", "gt", "Gt"},
			{"geoshape", "gs", "Gs"},
			{"image", "img", "Img", "", "max-pixels=1024"},
			{"image", "sig", "Sig", "signature"},
			{"image", "newimg", "New", "new"},
			{"audio", "au", "Au"},
			{"video", "vi", "Vi"},
			{"file", "fi", "Fi"},
			{"barcode", "bc", "Bc"},
			{"acknowledge", "ack", "Ack"},
			{"trigger", "trig", "Trig"},
			{"note", "no", "Note"},
			{"hidden", "hid"},
			{"calculate", "calc", "", "", "", "1 + 1"},
			{"calculate", "calc2", "", "", "", "", "7"},
			{"start", "start"},
			{"end", "end"},
			{"today", "today"},
			{"deviceid", "deviceid"},
			{"username", "username"},
			{"phonenumber", "phonenumber"},
			{"email", "email"},
			{"select_one yn", "s1", "S1"},
			{"select_multiple yn", "sm", "SM"},
			{"rank yn", "rk", "Rank"},
		},
		"choices": {{"list_name", "name", "label"}, {"yn", "yes", "Yes"}, {"yn", "no", "No"}},
	}, Options{})
	tpl := rep.Template
	for path, want := range map[string]form.FieldType{
		"t": form.TypeText, "ml": form.TypeMultiline, "i": form.TypeInteger, "dec": form.TypeDecimal,
		"r1": form.TypeRange, "d": form.TypeDate, "tm": form.TypeTime, "dt": form.TypeDateTime,
		"gp": form.TypeGeo, "gt": form.TypeGeoTrace, "gs": form.TypeGeoShape, "img": form.TypePhoto,
		"sig": form.TypeSignature, "newimg": form.TypePhoto, "au": form.TypeAudio, "vi": form.TypeVideo,
		"fi": form.TypeFile, "bc": form.TypeBarcode, "ack": form.TypeAcknowledge, "trig": form.TypeAcknowledge,
		"no": form.TypeNote, "hid": form.TypeHidden, "start": form.TypeDateTime, "end": form.TypeDateTime,
		"today": form.TypeDate, "deviceid": form.TypeHidden, "username": form.TypeHidden,
		"phonenumber": form.TypeHidden, "email": form.TypeHidden, "s1": form.TypeChoice,
		"sm": form.TypeMultiChoice, "rk": form.TypeRank,
	} {
		if got := field(t, tpl, path).Type; got != want {
			t.Errorf("%s: type %s, want %s", path, got, want)
		}
	}
	if f := field(t, tpl, "ml"); f.Appearance != "" {
		t.Errorf("multiline appearance kept: %q", f.Appearance)
	}
	if f := field(t, tpl, "r1"); string(f.Min) != "1" || string(f.Max) != "10" || string(f.Step) != "1" {
		t.Errorf("range defaults: %s %s %s", f.Min, f.Max, f.Step)
	}
	if f := field(t, tpl, "r2"); string(f.Min) != "0" || string(f.Max) != "100" || string(f.Step) != "5" || f.Parameters["tick_interval"] != "10" || f.Parameters["start"] != "" {
		t.Errorf("range: %s %s %s %v", f.Min, f.Max, f.Step, f.Parameters)
	}
	for _, p := range []string{"img", "newimg", "au", "vi", "fi"} {
		if f := field(t, tpl, p); f.MaxFiles != 1 {
			t.Errorf("%s: max files %d", p, f.MaxFiles)
		}
	}
	if f := field(t, tpl, "img"); f.Parameters["max-pixels"] != "1024" {
		t.Errorf("img parameters %v", f.Parameters)
	}
	if f := field(t, tpl, "newimg"); f.Appearance != "new" {
		t.Errorf("new appearance %q", f.Appearance)
	}
	for path, meta := range map[string]string{"start": "start", "end": "end", "today": "today", "deviceid": "deviceid",
		"username": "username", "phonenumber": "phonenumber", "email": "email"} {
		if got := field(t, tpl, path).Meta; got != meta {
			t.Errorf("%s: meta %q", path, got)
		}
	}
	if f := field(t, tpl, "s1"); f.List != "yn" {
		t.Errorf("list %q", f.List)
	}
	if f := field(t, tpl, "calc"); f.Type != form.TypeCalculate || f.Calculation != "1 + 1" {
		t.Errorf("calc: %+v", f)
	}
	if f := field(t, tpl, "calc2"); f.Type != form.TypeHidden || string(f.Default) != `"7"` {
		t.Errorf("calculate with a default only: %+v", f)
	}
	checkCounts(t, rep)
}

func TestApproximatedAndDroppedTypes(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "appearance"},
			{"text", "keep", "Keep"},
			{"audit", "audit"},
			{"simserial", "simserial"},
			{"subscriberid", "subscriberid"},
			{"background-audio", "bga"},
			{"background-geopoint", "bgg"},
			{"xml-external", "ext"},
			{"csv-external", "ext2"},
			{"osm", "o"},
			{"start-geopoint", "sg"},
			{"image", "drawing", "Draw", "draw"},
			{"image", "ann", "Annotate", "annotate"},
		},
	}, Options{})
	for _, r := range []int{3, 4, 5, 6, 7, 8, 9, 10} {
		row := "survey row " + itoa(r)
		if findDropped(rep, row) == nil {
			t.Errorf("%s not dropped: %+v", row, rep.Dropped)
		}
	}
	if d := findDropped(rep, "survey row 3"); d == nil || !strings.Contains(d.Why, "audit") {
		t.Errorf("audit: %+v", d)
	}
	if a := findApprox(rep, "survey row 11, column type"); a == nil || field(t, rep.Template, "sg").Type != form.TypeGeo {
		t.Errorf("start-geopoint: %+v", rep.Approximated)
	}
	if f := field(t, rep.Template, "drawing"); f.Type != form.TypeSignature || findApprox(rep, "survey row 12, column appearance") == nil {
		t.Errorf("draw: %s %+v", f.Type, rep.Approximated)
	}
	if f := field(t, rep.Template, "ann"); f.Type != form.TypePhoto || findApprox(rep, "survey row 13, column appearance") == nil {
		t.Errorf("annotate: %s", f.Type)
	}
	if rep.Imported != 1 || rep.Rows() != 12 {
		t.Errorf("imported %d of %d", rep.Imported, rep.Rows())
	}
	checkCounts(t, rep)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestGroupsAndRepeats(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "relevant", "appearance", "repeat_count"},
			{"integer", "n", "How many?"},
			{"begin group", "hh", "Household", "${n} > 0", "field-list"},
			{"text", "head", "Head"},
			{"begin_repeat", "members", "Members", "", "", "${n}"},
			{"text", "mname", "Name"},
			{"begin group", "details", "Details"},
			{"integer", "age", "Age"},
			{"end group"},
			{"end_repeat"},
			{"begin repeat", "visits", "Visits", "", "", "3"},
			{"date", "vdate", "Date"},
			{"end repeat"},
			{"end_group"},
		},
	}, Options{})
	tpl := rep.Template
	hh := field(t, tpl, "hh")
	if hh.Type != form.TypeGroup || hh.Appearance != "field-list" || hh.Relevant != "${n} > 0" || hh.Label.String() != "Household" {
		t.Errorf("group: %+v", hh)
	}
	if m := field(t, tpl, "hh/members"); m.Type != form.TypeRepeat || m.RepeatCount != "${n}" {
		t.Errorf("repeat: %+v", m)
	}
	if v := field(t, tpl, "hh/visits"); v.RepeatCount != "3" {
		t.Errorf("repeat count %q", v.RepeatCount)
	}
	if f := field(t, tpl, "hh/members/details/age"); f.Type != form.TypeInteger {
		t.Errorf("nested: %+v", f)
	}
	if rep.Imported != rep.Rows() || len(rep.Dropped) != 0 {
		t.Errorf("report: %s", rep.Text())
	}
}

func TestRefusals(t *testing.T) {
	survey := func(rows ...[]string) sheets {
		return sheets{"survey": append([][]string{{"type", "name", "label", "relevant", "calculation"}}, rows...)}
	}
	withChoices := func(s sheets, rows ...[]string) sheets {
		s["choices"] = append([][]string{{"list_name", "name", "label"}}, rows...)
		return s
	}
	tests := []struct {
		name  string
		in    sheets
		want  string
		sheet string
		row   int
		col   string
	}{
		{"unknown type", survey([]string{"text", "a", "A"}, []string{"selct_one yn", "b", "B"}),
			`survey sheet, row 3, column type: unknown question type "selct_one yn"`, "survey", 3, "type"},
		{"no name", survey([]string{"text", "", "A"}),
			`survey sheet, row 2, column name: a question needs a name`, "survey", 2, "name"},
		{"group without name", survey([]string{"begin group", "", "G"}, []string{"text", "a", "A"}, []string{"end group"}),
			`survey sheet, row 2, column name: a group needs a name`, "survey", 2, "name"},
		{"invalid name", survey([]string{"text", "my field", "A"}),
			`survey sheet, row 2, column name: name "my field" is not valid: names start with a letter or _, then letters, digits, -, . or _ (no spaces)`, "survey", 2, "name"},
		{"name starts with a digit", survey([]string{"text", "1a", "A"}),
			`survey sheet, row 2, column name: name "1a" is not valid: names start with a letter or _, then letters, digits, -, . or _ (no spaces)`, "survey", 2, "name"},
		{"duplicate name", survey([]string{"text", "a", "A"}, []string{"integer", "a", "B"}),
			`survey sheet, row 3, column name: name "a" is already used in the survey (row 2); names are unique in their group or repeat`, "survey", 3, "name"},
		{"duplicate in group", survey([]string{"begin group", "g", "G"}, []string{"text", "a", "A"}, []string{"text", "a", "B"}, []string{"end group"}),
			`survey sheet, row 4, column name: name "a" is already used in group "g" (row 3); names are unique in their group or repeat`, "survey", 4, "name"},
		{"begin without end", survey([]string{"begin group", "g", "G"}, []string{"text", "a", "A"}),
			`survey sheet, row 2, column type: begin group "g" has no end group`, "survey", 2, "type"},
		{"end without begin", survey([]string{"text", "a", "A"}, []string{"end group"}),
			`survey sheet, row 3, column type: "end group" closes no open group`, "survey", 3, "type"},
		{"mismatched end", survey([]string{"begin repeat", "r", "R"}, []string{"text", "a", "A"}, []string{"end group"}),
			`survey sheet, row 4, column type: "end group" does not close repeat "r" of row 2; close it first`, "survey", 4, "type"},
		{"unknown list", withChoices(survey([]string{"select_one nope", "a", "A"}), []string{"yn", "yes", "Yes"}),
			`survey sheet, row 2, column type: list "nope" is not in the choices sheet`, "survey", 2, "type"},
		{"no choices sheet", survey([]string{"select_one yn", "a", "A"}),
			`survey sheet, row 2, column type: list "yn" is not in the choices sheet (the form has no choices sheet, or it is empty)`, "survey", 2, "type"},
		{"reference to nothing", survey([]string{"text", "a", "A", "${b} = 'x'"}),
			`survey sheet, row 2, column relevant: ${b} names no question of the form`, "survey", 2, "relevant"},
		{"ambiguous reference", survey([]string{"text", "a", "A"}, []string{"begin group", "g", "G"}, []string{"text", "a", "A2"}, []string{"end group"}, []string{"text", "b", "B", "${a} = 'x'"}),
			`survey sheet, row 6, column relevant: ${a} is ambiguous: rows 2, 4 have that name`, "survey", 6, "relevant"},
		{"reference in a label", survey([]string{"note", "n", "Hello ${who}"}),
			`survey sheet, row 2, column label: ${who} names no question of the form`, "survey", 2, "label"},
		{"calculate without calculation", survey([]string{"calculate", "c", ""}),
			`survey sheet, row 2, column calculation: calculate "c" has no calculation`, "survey", 2, "calculation"},
		{"duplicate choice", withChoices(survey([]string{"select_one yn", "a", "A"}), []string{"yn", "yes", "Yes"}, []string{"yn", "yes", "Yes again"}),
			`choices sheet, row 3, column name: choice "yes" is already in list "yn" (row 2); names are unique in a list unless the settings sheet sets allow_choice_duplicates to yes`, "choices", 3, "name"},
		{"choice without name", withChoices(survey([]string{"select_one yn", "a", "A"}), []string{"yn", "yes", "Yes"}, []string{"yn", "", "Nameless"}),
			`choices sheet, row 3, column name: a choice of list "yn" needs a name`, "choices", 3, "name"},
		{"duplicate header", sheets{"survey": {{"type", "name", "label", "label"}, {"text", "a", "A", "B"}}},
			`survey sheet, row 1, column label: column "label" is given twice (or under another name for the same column)`, "survey", 1, "label"},
		{"alias header twice", sheets{"survey": {{"type", "name", "relevant", "relevance"}, {"text", "a", "", ""}}},
			`survey sheet, row 1, column relevance: column "relevance" is given twice (or under another name for the same column)`, "survey", 1, "relevance"},
		{"no type column", sheets{"survey": {{"name", "label"}, {"a", "A"}}},
			`survey sheet, row 1: the survey sheet has no type column`, "survey", 1, ""},
		{"bad parameters", sheets{"survey": {{"type", "name", "label", "parameters"}, {"range", "r", "R", "start=1 end"}}},
			`survey sheet, row 2, column parameters: parameters "start=1 end": expected name=value pairs separated by spaces`, "survey", 2, "parameters"},
		{"bad range", sheets{"survey": {{"type", "name", "label", "parameters"}, {"range", "r", "R", "start=a"}}},
			`survey sheet, row 2, column parameters: range start "a" is not a number`, "survey", 2, "parameters"},
		{"range that does not step", sheets{"survey": {{"type", "name", "label", "parameters"}, {"range", "r", "R", "start=0 end=10 step=3"}}},
			``, "survey", 2, "parameters"},
		{"bad trigger", sheets{"survey": {{"type", "name", "label", "trigger", "calculation"}, {"text", "a", "A"}, {"calculate", "c", "", "a", "1"}}},
			`survey sheet, row 3, column trigger: trigger "a": name the questions as ${name}, separated by commas`, "survey", 3, "trigger"},
		{"trigger names nothing", sheets{"survey": {{"type", "name", "label", "trigger", "calculation"}, {"calculate", "c", "", "${zz}", "1"}}},
			`survey sheet, row 2, column trigger: ${zz} names no question of the form`, "survey", 2, "trigger"},
		{"reserved name", survey([]string{"text", "_status", "A"}),
			`survey sheet, row 2, column name: name "_status" is kept for Fieldforms' own record fields; rename the question`, "survey", 2, "name"},
		{"nothing left", survey([]string{"audit", "audit"}),
			``, "survey", 2, ""},
		{"begin loop", sheets{"survey": {{"type", "name", "label"}, {"begin loop over yn", "l", "L"}, {"text", "a", "A"}, {"end loop"}},
			"choices": {{"list_name", "name", "label"}, {"yn", "yes", "Yes"}}},
			``, "survey", 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := importSheets(t, tt.in, Options{})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want an *Error, got %v (report %v)", err, rep)
			}
			if tt.want != "" && err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if e.Sheet != tt.sheet || e.Row != tt.row || (tt.col != "" && e.Column != tt.col) {
				t.Errorf("error at %s/%d/%s, want %s/%d/%s", e.Sheet, e.Row, e.Column, tt.sheet, tt.row, tt.col)
			}
		})
	}
}

func TestNotXLSForm(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"form.txt", []byte("hello")},
		{"form.xlsx", []byte("not a zip at all")},
		{"form.xls", []byte("not an ole2 file")},
		{"form.xlsx", []byte("PK\x03\x04 broken zip")},
		{"form.xls", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 broken")},
	} {
		_, err := ImportBytes(ctx, tt.name, tt.data, Options{})
		var e *Error
		if !errors.Is(err, ErrNotXLSForm) || !errors.As(err, &e) {
			t.Errorf("%s %q: %v, want ErrNotXLSForm", tt.name, tt.data, err)
		}
	}
	// A workbook without a survey sheet.
	path := writeXLSX(t, sheets{"questions": {{"type", "name"}, {"text", "a"}}, "other": {{"x"}}})
	_, err := ImportFile(ctx, path, Options{})
	if !errors.Is(err, ErrNotXLSForm) || !strings.Contains(err.Error(), "no sheet named survey") {
		t.Errorf("no survey sheet: %v", err)
	}
	// A lone sheet is the survey, whatever its name.
	path = writeXLSX(t, sheets{"Sheet1": {{"type", "name", "label"}, {"text", "a", "A"}}})
	if rep, err := ImportFile(ctx, path, Options{}); err != nil || !hasField(rep.Template, "a") {
		t.Errorf("lone sheet: %v", err)
	}
}

func TestTranslations(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label::English (en)", "label::French (fr)", "hint::English (en)", "hint:: French (fr)", "guidance_hint::English (en)",
				"constraint", "constraint_message::English (en)", "constraint_message::French (fr)", "required", "required_message::French (fr)", "image::English (en)", "media::audio::French (fr)"},
			{"integer", "age", "Age", "Âge", "In years", "En années", "Ask kindly", ". < 150", "Too old", "Trop vieux", "yes", "Obligatoire", "age.png", "age.mp3"},
			{"select_one yn", "ok", "OK?", "D'accord ?"},
		},
		"choices": {
			{"list name", "name", "label::English (en)", "label::French (fr)", "label::Spanish (es)"},
			{"yn", "yes", "Yes", "Oui", "Sí"},
			{"yn", "no", "No", "Non", "No"},
		},
		"settings": {{"default_language"}, {"French (fr)"}},
	}, Options{})
	tpl := rep.Template
	if got := strings.Join(tpl.Languages, "|"); got != "English (en)|French (fr)|Spanish (es)" {
		t.Errorf("languages %q", got)
	}
	if tpl.DefaultLanguage != "French (fr)" {
		t.Errorf("default language %q", tpl.DefaultLanguage)
	}
	f := field(t, tpl, "age")
	if f.Label.In("French (fr)") != "Âge" || f.Label.In("English (en)") != "Age" || f.Help.In("French (fr)") != "En années" ||
		f.Guidance.In("English (en)") != "Ask kindly" || f.ConstraintMessage.In("French (fr)") != "Trop vieux" ||
		f.RequiredMessage.In("French (fr)") != "Obligatoire" || !f.Required.Const {
		t.Errorf("texts: %s", tpl.Encode())
	}
	if f.Media["image"].In("English (en)") != "age.png" || f.Media["audio"].In("French (fr)") != "age.mp3" {
		t.Errorf("media: %+v", f.Media)
	}
	opts := tpl.Choices["yn"]
	if opts[0].Label.In("Spanish (es)") != "Sí" {
		t.Errorf("choice labels: %+v", opts)
	}

	// A plain label column is the language "", or the default language's when the
	// settings name one; old single-colon headers split too.
	rep = mustImport(t, sheets{"survey": {{"type", "name", "label", "label:Swahili"}, {"text", "a", "Name", "Jina"}}}, Options{})
	if f := field(t, rep.Template, "a"); f.Label.In("") != "Name" || f.Label.In("Swahili") != "Jina" || strings.Join(rep.Template.Languages, ",") != "Swahili" {
		t.Errorf("plain label: %s", rep.Template.Encode())
	}
	rep = mustImport(t, sheets{"survey": {{"type", "name", "label"}, {"text", "a", "Name"}}, "settings": {{"default_language"}, {"English"}}}, Options{})
	if f := field(t, rep.Template, "a"); !f.Label.Has("English") || rep.Template.DefaultLanguage != "English" {
		t.Errorf("default language: %s", rep.Template.Encode())
	}
}

func TestCascadingChoiceFilter(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "choice_filter"},
			{"select_one country", "country", "Country"},
			{"select_one city", "city", "City", "country=${country}"},
		},
		"choices": {
			{"list_name", "name", "label", "country", "state name"},
			{"country", "ke", "Kenya"},
			{"country", "tz", "Tanzania"},
			{"city", "nbo", "Nairobi", "ke", "x"},
			{"city", "dar", "Dar es Salaam", "tz"},
		},
	}, Options{})
	city := field(t, rep.Template, "city")
	if city.ChoiceFilter != "country=${country}" || city.List != "city" {
		t.Errorf("city: %+v", city)
	}
	opts := rep.Template.Choices["city"]
	if opts[0].Filter["country"] != "ke" || opts[1].Filter["country"] != "tz" || len(opts[0].Filter) != 1 {
		t.Errorf("filters: %+v", opts)
	}
	if !findWarning(rep, "choices row 1, column state name", "not a valid name") {
		t.Errorf("warnings: %+v", rep.Warnings)
	}
	if rep.Imported != 2 {
		t.Errorf("imported %d", rep.Imported)
	}
}

func TestOrOther(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label"},
			{"select_one fruit or_other", "fav", "Favourite"},
			{"select_multiple fruit", "all", "All"},
		},
		"choices": {{"list_name", "name", "label"}, {"fruit", "apple", "Apple"}, {"fruit", "pear", "Pear"}},
	}, Options{})
	fav := field(t, rep.Template, "fav")
	if fav.List != "fruit_or_other" || len(rep.Template.Choices["fruit_or_other"]) != 3 || len(rep.Template.Choices["fruit"]) != 2 {
		t.Errorf("lists: %s", rep.Template.Encode())
	}
	other := field(t, rep.Template, "fav_other")
	if other.Type != form.TypeText || other.Relevant != "selected(${fav}, 'other')" {
		t.Errorf("other: %+v", other)
	}
	if a := findApprox(rep, "survey row 2, column type"); a == nil || !strings.Contains(a.How, "fav_other") {
		t.Errorf("approximated: %+v", rep.Approximated)
	}
	if field(t, rep.Template, "all").List != "fruit" || rep.Imported != 1 {
		t.Errorf("the other select: %s", rep.Text())
	}
}

func TestSelectFromFile(t *testing.T) {
	files := fstest.MapFS{
		"cities.csv": {Data: []byte("name,label,label::French (fr),country\nnbo,Nairobi,Nairobi,ke\ndar,Dar es Salaam,Dar es Salam,tz\n")},
		"sites.xml":  {Data: []byte("<root><item><name>a</name><label>Site A</label><region>n</region></item><item><name>b</name><label>Site B</label></item></root>")},
		"codes.csv":  {Data: []byte("code,title\n1,One\n2,Two\n")},
	}
	s := sheets{
		"survey": {
			{"type", "name", "label", "choice_filter", "parameters"},
			{"select_one_from_file cities.csv", "city", "City", "country='ke'"},
			{"select_multiple_from_file sites.xml", "sites", "Sites"},
			{"select_one_from_file codes.csv", "code", "Code", "", "value=code label=title"},
			{"select_one_from_file missing.csv", "gone", "Gone"},
			{"text", "after", "After", ""},
		},
	}
	rep := mustImport(t, s, Options{Files: files})
	city := field(t, rep.Template, "city")
	opts := rep.Template.Choices[city.List]
	if city.List != "cities.csv" || len(opts) != 2 || opts[0].Label.In("French (fr)") != "Nairobi" || opts[1].Filter["country"] != "tz" {
		t.Errorf("csv: %s", rep.Template.Encode())
	}
	if sites := rep.Template.Choices[field(t, rep.Template, "sites").List]; len(sites) != 2 || sites[0].Filter["region"] != "n" || sites[1].Label.String() != "Site B" {
		t.Errorf("xml: %+v", sites)
	}
	code := field(t, rep.Template, "code")
	if codes := rep.Template.Choices[code.List]; len(codes) != 2 || codes[0].Value != "1" || codes[0].Label.String() != "One" || code.Parameters != nil {
		t.Errorf("value/label parameters: %+v %v", codes, code.Parameters)
	}
	if d := findDropped(rep, "survey row 5"); d == nil || !strings.Contains(d.Why, "missing.csv was not found") || hasField(rep.Template, "gone") {
		t.Errorf("missing file: %+v", rep.Dropped)
	}
	if !strings.Contains(strings.Join(rep.Template.Languages, ","), "French (fr)") {
		t.Errorf("languages from the file: %v", rep.Template.Languages)
	}
	checkCounts(t, rep)
	// Without Files, nothing can be loaded.
	rep = mustImport(t, s, Options{})
	if hasField(rep.Template, "city") || findDropped(rep, "survey row 2") == nil {
		t.Errorf("no files: %s", rep.Text())
	}
}

func TestDefaults(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "default"},
			{"integer", "i", "I", "3"},
			{"decimal", "dec", "Dec", "1.5"},
			{"date", "d", "D", "2024-01-01"},
			{"date", "dd", "DD", "today()"},
			{"time", "tm", "Tm", "12:30"},
			{"text", "t", "T", "a-b"},
			{"text", "t2", "T2", "N/A"},
			{"text", "t3", "T3", "${t} + 1"},
			{"integer", "i2", "I2", "${i} * 2"},
			{"select_one c", "s1", "S1", "a"},
			{"select_multiple c", "sm", "SM", "a b"},
			{"geopoint", "g", "G", "1.5 2.5 10 5"},
			{"image", "img", "Img", "pic.jpg"},
			{"text", "u", "U", "concat('a', 'b')"},
		},
		"choices": {{"list_name", "name", "label"}, {"c", "a", "A"}, {"c", "b", "B"}},
	}, Options{})
	tpl := rep.Template
	for path, want := range map[string]string{"i": `3`, "dec": `1.5`, "d": `"2024-01-01"`, "tm": `"12:30"`, "t": `"a-b"`, "t2": `"N/A"`,
		"s1": `"a"`, "sm": `["a","b"]`, "g": `{"lat":1.5,"lon":2.5,"alt":10,"accuracy":5}`} {
		if got := string(field(t, tpl, path).Default); got != want {
			t.Errorf("%s: default %s, want %s", path, got, want)
		}
	}
	for path, want := range map[string]string{"dd": "today()", "t3": "${t} + 1", "i2": "${i} * 2", "u": "concat('a', 'b')"} {
		if f := field(t, tpl, path); f.DefaultExpr != want || f.Default != nil {
			t.Errorf("%s: default_expr %q, default %s", path, f.DefaultExpr, f.Default)
		}
	}
	if d := findDropped(rep, "survey row 14, column default"); d == nil {
		t.Errorf("image default: %+v", rep.Dropped)
	}
	// A literal the field cannot hold is dropped with the engine's message.
	rep = mustImport(t, sheets{"survey": {{"type", "name", "label", "default"}, {"integer", "i", "I", "many"}}}, Options{})
	if d := findDropped(rep, "survey row 2, column default"); d == nil || d.What != `default "many"` {
		t.Errorf("bad default: %+v", rep.Dropped)
	}
}

func TestDefaultIsDynamic(t *testing.T) {
	for _, tt := range []struct {
		s    string
		t    form.FieldType
		want bool
	}{
		{"3", form.TypeInteger, false}, {"-3", form.TypeInteger, false}, {"1.5", form.TypeDecimal, false},
		{"2024-01-01", form.TypeDate, false}, {"today()", form.TypeDate, true}, {"today() - 1", form.TypeDate, true}, {"2024-01-01 - 1", form.TypeDate, false},
		{"hello world", form.TypeText, false}, {"a-b", form.TypeText, false}, {"${x}", form.TypeText, true},
		{"1 + 2", form.TypeInteger, true}, {"3 * 4", form.TypeInteger, true}, {"10 div 2", form.TypeInteger, true},
		{"a | b", form.TypeText, true}, {"concat('a')", form.TypeText, true}, {"'quoted'", form.TypeText, false},
		{"12:30:00", form.TypeTime, false}, {"1.5 2.5", form.TypeGeo, false}, {"-1.5 -2.5", form.TypeGeo, false},
		{"jr:choice-name(${a}, '${a}')", form.TypeText, true}, {"N/A", form.TypeText, false}, {"", form.TypeText, false},
	} {
		if got := defaultIsDynamic(tt.s, tt.t); got != tt.want {
			t.Errorf("defaultIsDynamic(%q, %s) = %v", tt.s, tt.t, got)
		}
	}
}

func TestUnsupportedExpressionDropped(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "relevant", "calculation", "constraint", "constraint_message"},
			{"text", "a", "A"},
			{"text", "b", "B", "pulldata('fruits', 'name', 'key', ${a}) = 'x'"},
			{"calculate", "c", "", "", "pulldata('fruits', 'name', 'key', ${a})"},
			{"note", "n", "Value: ${c}"},
			{"integer", "d", "D", "${c} != ''", "", ". > 0", "Positive"},
		},
	}, Options{})
	d := findDropped(rep, "survey row 3, column relevant")
	if d == nil || d.What != `relevant "pulldata('fruits', 'name', 'key', ${a}) = 'x'"` || !strings.Contains(d.Why, "pulldata()") {
		t.Fatalf("dropped relevant: %+v", rep.Dropped)
	}
	if f := field(t, rep.Template, "b"); f.Relevant != "" {
		t.Errorf("relevant kept: %q", f.Relevant)
	}
	if hasField(rep.Template, "c") || findDropped(rep, "survey row 4") == nil {
		t.Errorf("calculate kept: %s", rep.Text())
	}
	if d := findDropped(rep, "survey row 5, column label"); d == nil || !strings.Contains(d.Why, "${c}") {
		t.Errorf("label reference: %+v", rep.Dropped)
	}
	if f := field(t, rep.Template, "d"); f.Relevant != "" || f.Constraint != ". > 0" || findDropped(rep, "survey row 6, column relevant") == nil {
		t.Errorf("cascade: %+v", f)
	}
	if rep.Imported != 1 || !strings.Contains(rep.Text(), "survey row 3, column relevant: relevant") {
		t.Errorf("report:\n%s", rep.Text())
	}
	checkCounts(t, rep)
}

func TestColumns(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "required", "readonly", "parameters", "trigger", "calculation", "bind::oc:itemgroup", "body::accuracyThreshold", "Notes", "disabled", "autoplay"},
			{"text", "a", "A", "yes", "no"},
			{"text", "b", "B", "TRUE()", "${a} != ''"},
			{"text", "c", "C", "${a} = 'x'", "true", "", "", "", "grp"},
			{"select_one l", "s", "S", "", "", "randomize=true seed=${a}"},
			{"calculate", "e", "", "", "", "", "${a}, ${b}", "now()"},
			{"text", "f", "F", "false", "FALSE", "", "", "", "", "5", "a comment"},
			{"text", "g", "G", "", "", "", "", "", "", "", "", "yes"},
			{"audio", "h", "H", "", "", "", "", "", "", "", "", "", "video"},
		},
		"choices": {{"list_name", "name", "label"}, {"l", "x", "X"}},
	}, Options{})
	tpl := rep.Template
	if f := field(t, tpl, "a"); !f.Required.Const || f.ReadOnly.Set() {
		t.Errorf("a: %+v", f)
	}
	if f := field(t, tpl, "b"); !f.Required.Const || f.ReadOnly.Expr != "${a} != ''" {
		t.Errorf("b: %+v", f)
	}
	if f := field(t, tpl, "c"); f.Required.Expr != "${a} = 'x'" || !f.ReadOnly.Const {
		t.Errorf("c: %+v", f)
	}
	if f := field(t, tpl, "s"); f.Parameters["randomize"] != "true" || f.Parameters["seed"] != "${a}" {
		t.Errorf("s: %v", f.Parameters)
	}
	if f := field(t, tpl, "e"); strings.Join(f.Trigger, ",") != "a,b" || f.Calculation != "now()" {
		t.Errorf("e: %+v", f)
	}
	if f := field(t, tpl, "f"); f.Required.Set() || f.ReadOnly.Set() {
		t.Errorf("f: %+v", f)
	}
	if d := findDropped(rep, "survey row 4, column bind::oc:itemgroup"); d == nil || !strings.Contains(d.Why, "oc:itemgroup") {
		t.Errorf("bind column: %+v", rep.Dropped)
	}
	if findDropped(rep, "survey row 7, column body::accuracyThreshold") == nil {
		t.Errorf("body column: %+v", rep.Dropped)
	}
	if !findWarning(rep, "survey row 1, column Notes", "not an XLSForm column") {
		t.Errorf("unknown column: %+v", rep.Warnings)
	}
	if d := findDropped(rep, "survey row 8"); d == nil || !strings.Contains(d.Why, "disabled") || hasField(tpl, "g") {
		t.Errorf("disabled: %+v", rep.Dropped)
	}
	if findDropped(rep, "survey row 9, column autoplay") == nil {
		t.Errorf("autoplay: %+v", rep.Dropped)
	}
	checkCounts(t, rep)
}

func TestSettings(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey":   {{"type", "name", "label"}, {"text", "a", "A"}},
		"settings": {{"form_title", "form_id", "version", "instance_name", "style", "public_key", "submission_url", "auto_send", "Unknown"}, {"Household Survey", "HH Survey 2024!", "2024031501", "concat('HH ', ${a})", "pages", "MIIBIjAN", "https://example.org/submit", "true", "x"}},
	}, Options{FileName: "whatever.xlsx"})
	tpl := rep.Template
	if tpl.Name != "Household Survey" || tpl.ID != "hh-survey-2024" || tpl.VersionLabel != "2024031501" || tpl.Version != 1 || tpl.InstanceName != "concat('HH ', ${a})" {
		t.Errorf("template: %s", tpl.Encode())
	}
	if a := findApprox(rep, "settings row 2, column form_id"); a == nil || !strings.Contains(a.How, `"hh-survey-2024"`) {
		t.Errorf("form_id: %+v", rep.Approximated)
	}
	if findApprox(rep, "settings row 2, column style") == nil {
		t.Errorf("style: %+v", rep.Approximated)
	}
	for _, col := range []string{"public_key", "submission_url", "auto_send"} {
		if findDropped(rep, "settings row 2, column "+col) == nil {
			t.Errorf("%s not dropped: %+v", col, rep.Dropped)
		}
	}
	if !findWarning(rep, "settings row 2, column Unknown", "not an XLSForm setting") {
		t.Errorf("unknown setting: %+v", rep.Warnings)
	}
	if rep.Imported != 1 || rep.Clean() {
		t.Errorf("imported %d clean %v", rep.Imported, rep.Clean())
	}
	// Without settings: the file name.
	rep = mustImport(t, sheets{"survey": {{"type", "name", "label"}, {"text", "a", "A"}}}, Options{FileName: "My Form (v2).xlsx"})
	if rep.Template.ID != "my-form-v2" || rep.Template.Name != "My Form (v2)" {
		t.Errorf("fallback: %s %s", rep.Template.ID, rep.Template.Name)
	}
	// instance_name the engine refuses is dropped.
	rep = mustImport(t, sheets{"survey": {{"type", "name", "label"}, {"text", "a", "A"}}, "settings": {{"instance_name"}, {"pulldata('x','y','z','w')"}}}, Options{})
	if rep.Template.InstanceName != "" || findDropped(rep, "settings row 2, column instance_name") == nil {
		t.Errorf("instance_name: %+v", rep.Dropped)
	}
}

func TestChoices(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {{"type", "name", "label", "relevant"}, {"select_multiple l", "s", "S"}, {"text", "t", "T", "selected(${s}, 'nope')"}},
		"choices": {
			{"list_name", "name", "label", "image"},
			{"l", "a b", "A B", "ab.png"},
			{"l", "c", "C"},
			{"l", "c", "C again"},
			{"", "", ""},
			{"unused", "z", "Z"},
		},
		"settings": {{"allow_choice_duplicates"}, {"yes"}},
	}, Options{})
	opts := rep.Template.Choices["l"]
	if len(opts) != 3 || opts[0].Value != "a_b" || opts[2].Value != "c_2" || opts[0].Media["image"].String() != "ab.png" {
		t.Errorf("options: %+v", opts)
	}
	if findApprox(rep, "choices row 2, column name") == nil || findApprox(rep, "choices row 4, column name") == nil {
		t.Errorf("approximated: %+v", rep.Approximated)
	}
	if !findWarning(rep, "survey row 3, column relevant", `"nope" is not a choice`) {
		t.Errorf("warning: %+v", rep.Warnings)
	}
	if rep.Imported != 2 {
		t.Errorf("survey rows imported: %d", rep.Imported)
	}
}

func TestWarnings(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label", "constraint", "constraint_message", "required", "calculation"},
			{"text", "a", "A", "", "Must be short"},
			{"", "", "a comment row"},
			{"", "", "", "", "", ""},
			{"calculate", "c", "", "", "", "yes", "1"},
		},
		"notes": {{"anything"}},
	}, Options{})
	if !findWarning(rep, "survey row 2, column constraint_message", "without a constraint") {
		t.Errorf("constraint message: %+v", rep.Warnings)
	}
	if !findWarning(rep, "survey row 3", "without a type") {
		t.Errorf("typeless row: %+v", rep.Warnings)
	}
	if !findWarning(rep, "notes sheet", "not an XLSForm sheet") {
		t.Errorf("sheet: %+v", rep.Warnings)
	}
	if rep.Rows() != 2 || rep.Imported != 2 {
		t.Errorf("rows %d imported %d: %s", rep.Rows(), rep.Imported, rep.Text())
	}
	if f := field(t, rep.Template, "a"); !f.ConstraintMessage.IsZero() {
		t.Errorf("constraint message kept")
	}
}

func TestInstanceIDReference(t *testing.T) {
	rep := mustImport(t, sheets{"survey": {{"type", "name", "label", "calculation"}, {"calculate", "uid", "", "concat('x-', ${instanceID})"}}}, Options{})
	if f := field(t, rep.Template, "instanceID"); f.Meta != "instanceid" || f.Type != form.TypeHidden {
		t.Errorf("instanceID: %+v", f)
	}
	if rep.Imported != 1 || rep.Rows() != 1 {
		t.Errorf("counts: %s", rep.Text())
	}
}

func TestReportTextAndJSON(t *testing.T) {
	rep := mustImport(t, sheets{
		"survey": {
			{"type", "name", "label::English", "label::French", "relevant"},
			{"audit", "audit"},
			{"begin group", "g", "G", "G"},
			{"text", "a", "A", "A", "pulldata('x','y','z','w')"},
			{"end group"},
			{"begin repeat", "r", "R", "R"},
			{"text", "b", "B", "B"},
			{"end repeat"},
		},
		"settings": {{"form_title", "form_id", "version"}, {"T", "t", "7"}},
	}, Options{})
	text := rep.Text()
	for _, want := range []string{`Imported "T" as template t, version 7.`, "2 questions, 1 group, 1 repeat", "Languages: English, French",
		"Survey rows: 7, 5 carried over exactly", "Dropped (2):", "survey row 2: audit \"audit\"", "survey row 4, column relevant"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	// Sorted by row.
	if rep.Dropped[0].Row != "survey row 2" {
		t.Errorf("order: %+v", rep.Dropped)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Template json.RawMessage `json:"template"`
		Imported int             `json:"imported"`
		Dropped  []Dropped       `json:"dropped"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Imported != 5 || len(back.Dropped) != 2 || !bytes.Contains(back.Template, []byte(`"id":"t"`)) {
		t.Errorf("json: %s", b)
	}
	checkCounts(t, rep)
}

func TestImportFileFilesBeside(t *testing.T) {
	path := writeXLSX(t, sheets{"survey": {{"type", "name", "label"}, {"select_one_from_file list.csv", "s", "S"}}})
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "list.csv"), []byte("name,label\na,A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := ImportFile(context.Background(), path, Options{})
	if err != nil || !hasField(rep.Template, "s") {
		t.Fatalf("%v %v", err, rep)
	}
}

func TestHeaderParsing(t *testing.T) {
	for _, tt := range []struct {
		h          string
		base, lang string
	}{
		{"label::English (en)", "label", "English (en)"},
		{"Label::English (en)", "label", "English (en)"},
		{"label:: French (fr)", "label", "French (fr)"},
		{"media::image::English", "media:image", "English"},
		{"image", "media:image", ""},
		{"big-image", "media:big-image", ""},
		{"jr:count", "repeat_count", ""},
		{"bind::jr:constraintMsg", "constraint_message", ""},
		{"List Name", "list_name", ""},
		{"relevance", "relevant", ""},
		{"constraint message", "constraint_message", ""},
	} {
		c := parseHeader(tt.h, true, surveyAliases)
		if tt.base == "list_name" {
			c = parseHeader(tt.h, true, choicesAliases)
		}
		if c.base != tt.base || c.lang != tt.lang {
			t.Errorf("%q: %q %q", tt.h, c.base, c.lang)
		}
	}
	if c := parseHeader("label:English", false, surveyAliases); c.base != "label" || c.lang != "English" {
		t.Errorf("single colon: %+v", c)
	}
}

func TestParseParameters(t *testing.T) {
	p, err := parseParameters("start=1 end=10;step=0.5, Label=Name value=ID")
	if err != nil || p["start"] != "1" || p["end"] != "10" || p["step"] != "0.5" || p["label"] != "Name" || p["value"] != "ID" {
		t.Errorf("%v %v", p, err)
	}
	if _, err := parseParameters("start"); err == nil {
		t.Error("no error for a lone name")
	}
}

func TestTemplateID(t *testing.T) {
	for in, want := range map[string]string{"household": "household", "HH Survey!": "hh-survey", "_x": "x", "": "form", "über": "ber", "a.b-c_d": "a.b-c_d"} {
		if got := form.MakeTemplateID(in); got != want {
			t.Errorf("templateID(%q) = %q, want %q", in, got, want)
		}
	}
}
