package form_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// household is a form in the shape real XLSForms have: translations, a group
// shown on one page, a calculation, a repeat with its own fields and a sum over
// it, a repeat with a count, cascading choices.
const household = `{
  "id": "household", "version": 1, "version_label": "2024031501", "name": "Household survey",
  "languages": ["English (en)", "Français (fr)"], "default_language": "English (en)",
  "instance_name": "concat(${head}, ' – ', ${village})",
  "choices": {
    "yn": [{"value": "yes", "label": {"English (en)": "Yes", "Français (fr)": "Oui"}},
           {"value": "no", "label": {"English (en)": "No", "Français (fr)": "Non"}}],
    "region": [{"value": "north", "label": "North"}, {"value": "south", "label": "South"}],
    "village": [{"value": "n1", "label": "Nord-A", "filter": {"region": "north"}},
                {"value": "n2", "label": "Nord-B", "filter": {"region": "north"}},
                {"value": "s1", "label": "Sud-A", "filter": {"region": "south"}}]
  },
  "fields": [
    {"id": "start", "type": "datetime", "meta": "start"},
    {"id": "who", "type": "hidden", "meta": "username"},
    {"id": "consent", "type": "choice", "list": "yn", "required": true,
     "label": {"English (en)": "Do you agree, ${head}?", "Français (fr)": "D'accord, ${head} ?"}},
    {"id": "place", "type": "group", "label": "Place", "appearance": "field-list", "relevant": "${consent} = 'yes'", "fields": [
      {"id": "region", "type": "choice", "list": "region", "label": "Region"},
      {"id": "village", "type": "choice", "list": "village", "label": "Village", "choice_filter": "region = ${region}"}
    ]},
    {"id": "head", "type": "text", "label": "Head of household", "constraint": "string-length(.) >= 2",
     "constraint_message": {"English (en)": "At least two letters", "Français (fr)": "Au moins deux lettres"}},
    {"id": "size", "type": "integer", "label": "People", "required": "${consent} = 'yes'", "default": 1,
     "constraint": ". >= 1 and . <= 30"},
    {"id": "adults", "type": "integer", "label": "Adults", "constraint": ". <= ${size}",
     "constraint_message": "No more adults than people (${size})"},
    {"id": "children", "type": "calculate", "calculation": "${size} - ${adults}"},
    {"id": "members", "type": "repeat", "label": "Member", "repeat_count": "${size}", "fields": [
      {"id": "name", "type": "text", "label": "Name of member ${pos}"},
      {"id": "pos", "type": "calculate", "calculation": "position(..)"},
      {"id": "age", "type": "integer", "label": "Age", "constraint": ". < 130"}
    ]},
    {"id": "total_age", "type": "calculate", "calculation": "sum(${age})"},
    {"id": "eldest", "type": "calculate", "calculation": "max(${age})"},
    {"id": "first_name", "type": "calculate", "calculation": "indexed-repeat(${name}, ${members}, 1)"},
    {"id": "assets", "type": "repeat", "label": "Asset", "fields": [
      {"id": "kind", "type": "text", "label": "Kind"},
      {"id": "value", "type": "decimal", "label": "Value", "default": 0}
    ]},
    {"id": "asset_count", "type": "calculate", "calculation": "count(${assets})"},
    {"id": "when", "type": "date", "label": "Visit", "default_expr": "today()"},
    {"id": "back", "type": "date", "label": "Come back", "calculation": "date(${when} + 7)", "readonly": true}
  ]
}`

var fixedNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func newHousehold(t *testing.T) (*form.Template, *form.Form) {
	t.Helper()
	tpl := mustParse(t, []byte(household))
	n := 0
	fm := tpl.NewForm(nil, form.Context{
		Now:    func() time.Time { return fixedNow },
		NewID:  func() string { n++; return fmt.Sprintf("0190a0b4-0000-7000-8000-%012d", n) },
		User:   "ann",
		Device: "dev-1",
		Record: "0190a0b4-1111-7000-8000-000000000000",
	})
	fm.Start()
	return tpl, fm
}

func set(t *testing.T, fm *form.Form, key, raw string) {
	t.Helper()
	if err := fm.Set(key, json.RawMessage(raw)); err != nil {
		t.Fatalf("Set(%s, %s): %v", key, raw, err)
	}
}

func val(fm *form.Form, key string) string { return string(fm.Value(key)) }

func TestFormHousehold(t *testing.T) {
	tpl, fm := newHousehold(t)

	t.Run("StartFillsMetadataAndDefaults", func(t *testing.T) {
		for key, want := range map[string]string{
			"start": `"2026-03-02T09:30:00Z"`, "who": `"ann"`, "size": `1`, "when": `"2026-03-02"`,
			"back": `"2026-03-09"`, "members[1]": `true`, "asset_count": `"0"`,
		} {
			if got := val(fm, key); got != want {
				t.Errorf("%s = %s, want %s", key, got, want)
			}
		}
	})

	t.Run("RelevanceOfGroups", func(t *testing.T) {
		if fm.Relevant("place/region") {
			t.Errorf("place/region relevant before consent")
		}
		set(t, fm, "consent", `"yes"`)
		if !fm.Relevant("place/region") || !fm.Relevant("place") {
			t.Errorf("place/region not relevant after consent")
		}
		if !fm.Required("size") {
			t.Errorf("size not required after consent")
		}
	})

	t.Run("CascadingChoices", func(t *testing.T) {
		if got := optionValues(fm.Options("place/village")); len(got) != 0 {
			t.Errorf("villages before a region = %v", got)
		}
		set(t, fm, "place/region", `"north"`)
		if got := optionValues(fm.Options("place/village")); !slices.Equal(got, []string{"n1", "n2"}) {
			t.Errorf("villages in the north = %v", got)
		}
		set(t, fm, "place/village", `"n1"`)
	})

	t.Run("RepeatCountAndCalculations", func(t *testing.T) {
		set(t, fm, "size", `3`)
		set(t, fm, "adults", `2`)
		if got := val(fm, "children"); got != `"1"` {
			t.Errorf("children = %s", got)
		}
		var inst []string
		for _, it := range fm.Items() {
			if it.Kind == form.ItemInstance && it.Field.ID == "members" {
				inst = append(inst, it.Key)
			}
		}
		if !slices.Equal(inst, []string{"members[1]", "members[2]", "members[3]"}) {
			t.Fatalf("instances = %v", inst)
		}
		set(t, fm, "members[1]/name", `"Ama"`)
		set(t, fm, "members[1]/age", `40`)
		set(t, fm, "members[2]/age", `12`)
		set(t, fm, "members[3]/age", `70`)
		for key, want := range map[string]string{
			"members[2]/pos": `"2"`, "total_age": `"122"`, "eldest": `"70"`, "first_name": `"Ama"`,
		} {
			if got := val(fm, key); got != want {
				t.Errorf("%s = %s, want %s", key, got, want)
			}
		}
		if got := fm.Label("members[3]/name"); got != "Name of member 3" {
			t.Errorf("label = %q", got)
		}
		// Fewer people: the third instance goes, its values stay behind its marker.
		set(t, fm, "size", `2`)
		if got := val(fm, "members[3]"); got != "false" {
			t.Errorf("members[3] = %s after size 2", got)
		}
		if got := val(fm, "total_age"); got != `"52"` {
			t.Errorf("total_age = %s after size 2", got)
		}
	})

	t.Run("FreeRepeat", func(t *testing.T) {
		a, err := fm.AddInstance("", mustField(t, tpl, "assets"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := fm.AddInstance("", mustField(t, tpl, "assets"))
		if err != nil {
			t.Fatal(err)
		}
		if val(fm, a+"/value") != "0" {
			t.Errorf("default of a new instance = %s", val(fm, a+"/value"))
		}
		if val(fm, "asset_count") != `"2"` {
			t.Errorf("asset_count = %s", val(fm, "asset_count"))
		}
		if err := fm.RemoveInstance(a); err != nil {
			t.Fatal(err)
		}
		if val(fm, "asset_count") != `"1"` || val(fm, a) != "false" || val(fm, b) != "true" {
			t.Errorf("after removing %s: count %s, markers %s %s", a, val(fm, "asset_count"), val(fm, a), val(fm, b))
		}
		if _, err := fm.AddInstance("", mustField(t, tpl, "members")); err == nil {
			t.Errorf("AddInstance on a counted repeat worked")
		}
	})

	t.Run("LanguagesAndMessages", func(t *testing.T) {
		set(t, fm, "head", `"K"`)
		p, ok := fm.Problem("head")
		if !ok || p.Rule != "constraint" || p.Msg != "At least two letters" {
			t.Errorf("Problem(head) = %+v, %v", p, ok)
		}
		fm.SetLanguage("Français (fr)")
		if p, _ := fm.Problem("head"); p.Msg != "Au moins deux lettres" {
			t.Errorf("French message = %q", p.Msg)
		}
		if got := fm.Label("consent"); got != "D'accord, K ?" {
			t.Errorf("French label = %q", got)
		}
		if got := fm.OptionLabel(fm.Options("consent")[0]); got != "Oui" {
			t.Errorf("French option = %q", got)
		}
		fm.SetLanguage("")
		set(t, fm, "adults", `5`)
		if p, _ := fm.Problem("adults"); p.Msg != "No more adults than people (2)" {
			t.Errorf("message with a reference = %q", p.Msg)
		}
	})

	t.Run("CheckForSubmit", func(t *testing.T) {
		err := fm.Check()
		var ve *form.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("Check = %v", err)
		}
		var got []string
		for _, fe := range ve.Fields {
			got = append(got, fe.Field+":"+fe.Rule)
		}
		want := []string{"head:constraint", "adults:constraint"}
		if !slices.Equal(got, want) {
			t.Errorf("problems = %v, want %v", got, want)
		}
		set(t, fm, "head", `"Kofi"`)
		set(t, fm, "adults", `2`)
		if err := fm.Check(); err != nil {
			t.Errorf("Check after fixing = %v", err)
		}
		if got := fm.Title(); got != "Kofi – n1" {
			t.Errorf("Title = %q", got)
		}
	})

	t.Run("ChangesAreEverythingSet", func(t *testing.T) {
		ch := fm.Changes()
		for _, key := range []string{"start", "consent", "members[1]/age", "members[3]", "total_age"} {
			if _, ok := ch[key]; !ok {
				t.Errorf("Changes lacks %s", key)
			}
		}
		if _, err := tpl.Check(ch); err != nil {
			t.Errorf("the changes do not pass Check: %v", err)
		}
	})
}

func optionValues(opts []form.Option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.Value
	}
	return out
}

func mustField(t *testing.T, tpl *form.Template, key string) *form.Field {
	t.Helper()
	f, ok := tpl.Field(key)
	if !ok {
		t.Fatalf("no field %s", key)
	}
	return f
}

func TestTemplateV2Errors(t *testing.T) {
	base := func(fields string) string {
		return `{"id":"t","version":1,"name":"T","choices":{"l":[{"value":"a","label":"A"}]},"fields":[` + fields + `]}`
	}
	tests := []struct {
		name, data, field, rule, msg string
	}{
		{"ErrUnknownRef", base(`{"id":"a","type":"text","label":"A","relevant":"${nope} = 1"}`), "a", "relevant", "${nope} names no field"},
		{"ErrAmbiguousRef", base(`{"id":"g","type":"group","fields":[{"id":"x","type":"text","label":"X"}]},{"id":"h","type":"group","fields":[{"id":"x","type":"text","label":"X"}]},{"id":"a","type":"text","label":"A","relevant":"${x} = 1"}`), "a", "relevant", "${x} is ambiguous: g/x, h/x"},
		{"ErrSyntax", base(`{"id":"a","type":"text","label":"A","constraint":". > "}`), "a", "constraint", "constraint:"},
		{"ErrCycle", base(`{"id":"a","type":"calculate","calculation":"${b} + 1"},{"id":"b","type":"calculate","calculation":"${a} + 1"}`), "a", "calculation", "depends on itself"},
		{"ErrEmptyGroup", base(`{"id":"g","type":"group","fields":[]}`), "g", "fields", "a group needs at least one field"},
		{"ErrFieldsOnText", base(`{"id":"a","type":"text","label":"A","fields":[{"id":"b","type":"text","label":"B"}]}`), "a", "fields", "only groups and repeats hold fields"},
		{"ErrDuplicateSibling", base(`{"id":"g","type":"group","fields":[{"id":"x","type":"text","label":"X"},{"id":"x","type":"text","label":"X"}]}`), "g/x", "duplicate", "duplicate field id"},
		{"ErrUnknownList", base(`{"id":"a","type":"choice","label":"A","list":"nope"}`), "a", "list", `list "nope"`},
		{"ErrListAndOptions", base(`{"id":"a","type":"choice","label":"A","list":"l","options":[{"value":"x","label":"X"}]}`), "a", "list", "not both"},
		{"ErrCalculateWithout", base(`{"id":"a","type":"calculate"}`), "a", "calculation", "needs a calculation"},
		{"ErrMetaType", base(`{"id":"a","type":"date","meta":"start"}`), "a", "meta", "meta start is a datetime field"},
		{"ErrRepeatCountAndMax", base(`{"id":"r","type":"repeat","repeat_count":"3","max":4,"fields":[{"id":"x","type":"text","label":"X"}]}`), "r", "repeat_count", "min and max do not apply"},
		{"ErrRangeStep", base(`{"id":"r","type":"range","label":"R","min":0,"max":10,"step":3}`), "r", "step", "does not divide"},
		{"ErrRangeBounds", base(`{"id":"r","type":"range","label":"R","min":0}`), "r", "min", "needs min and max"},
		{"ErrSystemName", base(`{"id":"_status","type":"text","label":"A"}`), "_status", "id", "kept for the record"},
		{"ErrBadName", base(`{"id":"my field","type":"text","label":"A"}`), "my field", "id", "id must be"},
		{"ErrOptionSpace", base(`{"id":"a","type":"choice","label":"A","options":[{"value":"x y","label":"X"}]}`), "a", "options", "white space"},
		{"ErrDefaultType", base(`{"id":"a","type":"integer","label":"A","default":"x"}`), "a", "default", "expected a whole number"},
		{"ErrShowIfInGroup", base(`{"id":"g","type":"group","fields":[{"id":"x","type":"text","label":"X","show_if":{"field":"x","not_empty":true}}]}`), "g/x", "show_if", "use relevant"},
		{"ErrTooDeep", base(strings.Repeat(`{"id":"g","type":"group","fields":[`, form.MaxDepth+1) + `{"id":"x","type":"text","label":"X"}` + strings.Repeat(`]}`, form.MaxDepth+1)), "", "fields", "nest more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := form.ParseTemplate([]byte(tt.data))
			var te *form.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a TemplateError", err)
			}
			if tt.field != "" && te.Field != tt.field || te.Rule != tt.rule || !strings.Contains(te.Error(), tt.msg) {
				t.Errorf("err = %q (field %q rule %q), want field %q rule %q containing %q", te, te.Field, te.Rule, tt.field, tt.rule, tt.msg)
			}
		})
	}
}

// XLSForm names may have capitals, dashes and dots, and a name may be used again in
// another group.
func TestNamesAsXLSFormAllows(t *testing.T) {
	tpl := mustParse(t, []byte(`{"id":"t","version":1,"name":"T","fields":[
		{"id":"Q1-a.b","type":"text","label":"Q"},
		{"id":"g","type":"group","fields":[{"id":"x","type":"text","label":"X"}]},
		{"id":"h","type":"group","fields":[{"id":"x","type":"text","label":"X"}]},
		{"id":"r","type":"repeat","fields":[{"id":"x","type":"integer","label":"X"}]}]}`))
	id := form.NewID()
	vals, err := tpl.Check(form.Values{"Q1-a.b": []byte(`"v"`), "g/x": []byte(`"1"`), "h/x": []byte(`"2"`),
		"r[" + id + "]": []byte(`true`), "r[" + id + "]/x": []byte(`3`)})
	if err != nil || len(vals) != 5 {
		t.Fatalf("Check = %v, %v", vals, err)
	}
	for _, tt := range []struct{ key, value, rule string }{
		{"g", `"x"`, "type"},
		{"r/x", `1`, "instance"},
		{"r[1]/x", `1`, "instance"},
		{"g[" + id + "]/x", `"1"`, "instance"},
		{"r[" + id + "]", `"yes"`, "type"},
		{"nope", `1`, "unknown"},
		{"r[" + id + "]/y", `1`, "unknown"},
		{"_status", `"draft"`, "unknown"},
	} {
		_, err := tpl.Check(form.Values{tt.key: []byte(tt.value)})
		var ve *form.ValidationError
		if !errors.As(err, &ve) || ve.Fields[0].Rule != tt.rule || ve.Fields[0].Field != tt.key {
			t.Errorf("Check(%s) = %v, want rule %s", tt.key, err, tt.rule)
		}
	}
}

// Two devices add instances to the same repeat and edit different instances
// offline: merging keeps every instance and every edit, the same on both.
func TestMergeRepeatInstances(t *testing.T) {
	tpl := mustParse(t, []byte(`{"id":"t","version":1,"name":"T","fields":[
		{"id":"site","type":"text","label":"Site"},
		{"id":"defects","type":"repeat","label":"Defect","fields":[
			{"id":"what","type":"text","label":"What"},
			{"id":"severity","type":"integer","label":"Severity"}]}]}`))
	rec := form.Record{ID: form.NewID(), Template: "t", Version: 1, Created: form.Stamp{HLC: 1 << 16, Device: "a"}, CreatedBy: "ann",
		Fields: map[string]form.FieldValue{}}
	shared := form.NewID()
	edit := func(r *form.Record, device string, hlc form.HLC, vals map[string]string) form.Record {
		fv := map[string]form.FieldValue{}
		for k, v := range vals {
			fv[k] = form.FieldValue{Value: json.RawMessage(v), Stamp: form.Stamp{HLC: hlc, Device: device}}
		}
		in := form.Record{ID: r.ID, Template: r.Template, Version: 1, Created: r.Created, CreatedBy: r.CreatedBy, Fields: fv}
		if _, err := tpl.Check(in.Values()); err != nil {
			t.Fatalf("edit does not check: %v", err)
		}
		return in
	}
	base := edit(&rec, "a", 2<<16, map[string]string{"site": `"S1"`, "defects[" + shared + "]": `true`, "defects[" + shared + "]/what": `"crack"`})
	a, b := rec.Clone(), rec.Clone()
	for _, r := range []*form.Record{&a, &b} {
		if _, _, err := r.Merge(base); err != nil {
			t.Fatal(err)
		}
	}
	ia, ib := form.NewID(), form.NewID()
	ea := edit(&a, "a", 3<<16, map[string]string{"defects[" + ia + "]": `true`, "defects[" + ia + "]/what": `"leak"`, "defects[" + shared + "]/severity": `2`})
	eb := edit(&b, "b", 3<<16, map[string]string{"defects[" + ib + "]": `true`, "defects[" + ib + "]/what": `"rust"`, "defects[" + shared + "]/what": `"wide crack"`})
	eb2 := edit(&b, "b", 4<<16, map[string]string{"defects[" + shared + "]": `false`})
	for _, e := range []form.Record{ea} {
		a.Merge(e)
	}
	for _, e := range []form.Record{eb, eb2} {
		b.Merge(e)
	}
	a.Merge(eb)
	a.Merge(eb2)
	b.Merge(ea)
	if a.Rev() != b.Rev() {
		t.Fatalf("replicas differ:\n%s\n%s", a.Encode(), b.Encode())
	}
	fm := tpl.NewForm(a.Values(), form.Context{})
	var whats []string
	for _, key := range fm.Instances("", mustField(t, tpl, "defects")) {
		whats = append(whats, string(fm.Value(key+"/what")))
	}
	slices.Sort(whats)
	if !slices.Equal(whats, []string{`"leak"`, `"rust"`}) {
		t.Errorf("live instances hold %v", whats)
	}
	// The removed instance keeps both concurrent edits behind its marker.
	if string(a.Value("defects["+shared+"]/what")) != `"wide crack"` || string(a.Value("defects["+shared+"]/severity")) != "2" {
		t.Errorf("removed instance lost an edit: %s", a.Encode())
	}
}

func TestMatchLanguage(t *testing.T) {
	langs := []string{"English (en)", "Français (fr)", "Português (pt-BR)", "Kiswahili (sw)", "Hindi"}
	for _, tt := range []struct{ locale, want string }{
		{"fr_FR.UTF-8", "Français (fr)"},
		{"fr-CA", "Français (fr)"},
		{"fr", "Français (fr)"},
		{"en_GB.UTF-8", "English (en)"},
		{"pt_BR", "Português (pt-BR)"},
		{"pt_PT", "Português (pt-BR)"},
		{"sw_KE", "Kiswahili (sw)"},
		{"hindi", "Hindi"},
		{"de_DE.UTF-8", ""},
		{"C.UTF-8", ""},
		{"POSIX", ""},
		{"", ""},
	} {
		if got := form.MatchLanguage(langs, tt.locale); got != tt.want {
			t.Errorf("MatchLanguage(%q) = %q, want %q", tt.locale, got, tt.want)
		}
	}
}

// Counts that ask for more than a record may hold make as many instances as fit,
// quickly.
func TestRepeatCountBounded(t *testing.T) {
	tpl := mustParse(t, []byte(`{"id":"t","version":1,"name":"T","fields":[
		{"id":"a","type":"repeat","repeat_count":"1000","fields":[
			{"id":"b","type":"repeat","repeat_count":"1000","fields":[
				{"id":"x","type":"integer","label":"X","default":1},
				{"id":"y","type":"calculate","calculation":"${x} + position(..)"}]}]}]}`))
	start := time.Now()
	fm := tpl.NewForm(nil, form.Context{})
	fm.Start()
	if n := len(fm.Values()); n > 3*form.MaxRecordKeys {
		t.Errorf("%d values, over the bound", n)
	}
	if err := fm.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %v", d)
	}
}

// A repeat as a whole follows its own relevant, read where the repeat sits, and
// says whether another instance may be added.
func TestRepeatAsAWhole(t *testing.T) {
	tpl := mustParse(t, []byte(`{"id":"t","version":1,"name":"T","fields":[
		{"id":"any","type":"yesno","label":"Any defects?"},
		{"id":"defects","type":"repeat","label":"Defect","relevant":"${any}","max":2,"fields":[{"id":"what","type":"text","label":"What"}]},
		{"id":"fixed","type":"repeat","label":"F","repeat_count":"2","fields":[{"id":"x","type":"text","label":"X"}]}]}`))
	fm := tpl.NewForm(nil, form.Context{})
	fm.Start()
	defects := mustField(t, tpl, "defects")
	if fm.Relevant("defects") {
		t.Errorf("defects relevant before any")
	}
	set(t, fm, "any", "true")
	if !fm.Relevant("defects") {
		t.Errorf("defects not relevant after any")
	}
	for i := range 3 {
		can := fm.CanAddInstance("", defects)
		if can != (i < 2) {
			t.Fatalf("CanAddInstance with %d instances = %v", i, can)
		}
		if _, err := fm.AddInstance("", defects); (err == nil) != can {
			t.Fatalf("AddInstance with %d instances: %v", i, err)
		}
	}
	if fm.CanAddInstance("", mustField(t, tpl, "fixed")) {
		t.Errorf("CanAddInstance on a counted repeat")
	}
	if s, e, st := mustField(t, mustParse(t, tmpl(`{"id":"r","type":"range","label":"R","min":0,"max":10,"step":2.5}`)), "r").RangeStep(); s != 0 || e != 10 || st != 2.5 {
		t.Errorf("RangeStep = %v %v %v", s, e, st)
	}
}

// Languages named by their codes alone match too.
func TestMatchLanguageCodes(t *testing.T) {
	if got := form.MatchLanguage([]string{"en", "fr"}, "fr-BE"); got != "fr" {
		t.Errorf("names that are codes: %q", got)
	}
	if got := form.MatchLanguage([]string{"English (en)", "Kiswahili (sw)"}, "SW"); got != "Kiswahili (sw)" {
		t.Errorf("upper-case locale: %q", got)
	}
}

// Filters on paths, and lookups in a list of options as XForms write them.
func TestPathFilters(t *testing.T) {
	tpl := mustParse(t, []byte(`{"id":"t","version":1,"name":"T",
		"choices":{"schools":[{"value":"s1","label":"North school","filter":{"district":"n","pupils":"120"}},
		                      {"value":"s2","label":"South school","filter":{"district":"s","pupils":"80"}},
		                      {"value":"s3","label":"Hill school","filter":{"district":"n","pupils":"45"}}]},
		"fields":[
		{"id":"district","type":"text","label":"D"},
		{"id":"school","type":"choice","list":"schools","label":"S"},
		{"id":"pupils","type":"calculate","calculation":"instance('schools')/root/item[name = ${school}]/pupils"},
		{"id":"north_count","type":"calculate","calculation":"count(instance('schools')/root/item[district = current()/../district])"},
		{"id":"second","type":"calculate","calculation":"instance('schools')/root/item[2]/label"},
		{"id":"m","type":"repeat","label":"M","fields":[{"id":"age","type":"integer","label":"Age"}]},
		{"id":"children","type":"calculate","calculation":"count(/data/m/age[. < 18])"},
		{"id":"first_age","type":"calculate","calculation":"/data/m/age[1]"}]}`))
	fm := tpl.NewForm(nil, form.Context{})
	fm.Start()
	set(t, fm, "district", `"n"`)
	set(t, fm, "school", `"s3"`)
	m := mustField(t, tpl, "m")
	for _, age := range []string{"40", "9", "12"} {
		k, err := fm.AddInstance("", m)
		if err != nil {
			t.Fatal(err)
		}
		set(t, fm, k+"/age", age)
	}
	for key, want := range map[string]string{
		"pupils": `"45"`, "north_count": `"2"`, "second": `"South school"`, "children": `"2"`, "first_age": `"40"`,
	} {
		if got := val(fm, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if _, err := form.ParseTemplate(tmpl(`{"id":"a","type":"calculate","calculation":"count(/data/x[. = ${nope}])"}`)); err == nil || !strings.Contains(err.Error(), "${nope}") {
		t.Errorf("a filter naming no field: %v", err)
	}
}
