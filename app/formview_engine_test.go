package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// Tests of forms as XLSForm makes them: groups, repeats, expressions,
// translations, pages.

var (
	householdSurvey = FormTarget{Template: form.TemplateKey{ID: "household-survey"}}
	waterPoint      = FormTarget{Template: form.TemplateKey{ID: "water-point-inspection"}}
)

// options returns the labels a choice offers now.
func (h *formHarness) options(key string) []string {
	h.t.Helper()
	switch in := h.row(key).input.(type) {
	case *fieldChoiceInput:
		if in.radio != nil {
			return in.radio.Options
		}
		if in.sel != nil {
			return in.sel.Options
		}
		return in.labels
	case *fieldMultiChoiceInput:
		return in.group.Options
	}
	h.t.Fatalf("field %q offers no options", key)
	return nil
}

// label is the label a field shows.
func (h *formHarness) label(key string) string { h.t.Helper(); return h.row(key).label.Text }

// acknowledge ticks an acknowledge field.
func (h *formHarness) acknowledge(key string) {
	h.t.Helper()
	test.Tap(h.row(key).input.(*fieldAcknowledgeInput).check)
}

// section returns the section of a group, repeat or instance.
func (h *formHarness) section(key string) *formSection {
	h.t.Helper()
	s := h.v.outline.byKey[key]
	if s == nil {
		h.t.Fatalf("no section %q on screen", key)
	}
	return s
}

// instances returns the keys of a repeat's instances on screen.
func (h *formHarness) instances(repeat string) []string {
	var out []string
	for _, s := range h.v.outline.sections {
		if s.item.Kind == form.ItemInstance && form.JoinKey(s.item.Parent, s.item.Field.ID) == repeat {
			out = append(out, s.item.Key)
		}
	}
	return out
}

// note is the text a note shows.
func (h *formHarness) note(key string) string {
	h.t.Helper()
	return h.row(key).note.String()
}

func TestFormViewHousehold(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, householdSurvey)
	if h.v.pager.paged {
		t.Fatal("a form of 17 questions is paged")
	}

	// Everything after the consent is hidden until it is given.
	if h.shown("location/region") || h.section("location").shown || h.section("members").shown {
		t.Fatal("the survey is shown before the consent")
	}
	if got := h.v.progress.label.Text; got != "0 of 1 answered" {
		t.Fatalf("progress %q before the consent", got)
	}
	h.acknowledge("consent")
	if !h.shown("location/region") || !h.section("location").shown || !h.shown("members[1]/name") {
		t.Fatal("the survey is hidden after the consent")
	}
	if _, ok := h.section("location").box.(*widget.Card); !ok {
		t.Fatal("the field-list group is not one card")
	}

	// Cascading choices: each list offers what the one before lets through.
	if got := h.options("location/district"); len(got) != 0 {
		t.Fatalf("districts before a region: %q", got)
	}
	h.choose("location/region", "North")
	if got := h.options("location/district"); !slices.Equal(got, []string{"Hill district", "Lake district"}) {
		t.Fatalf("districts in the north: %q", got)
	}
	h.choose("location/district", "Hill district")
	if got := h.options("location/village"); !slices.Equal(got, []string{"Abor", "Bansi"}) {
		t.Fatalf("villages of the hill district: %q", got)
	}
	h.choose("location/village", "Bansi")
	// Another region: the district it does not have goes, and so do its villages.
	h.choose("location/region", "South")
	if got := h.options("location/district"); !slices.Equal(got, []string{"Coast district"}) {
		t.Fatalf("districts in the south: %q", got)
	}
	if v := h.v.fm.Value("location/district"); !form.IsEmpty(v) {
		t.Fatalf("district %s kept after the region changed", v)
	}
	if got := h.options("location/village"); len(got) != 0 {
		t.Fatalf("villages without a district: %q", got)
	}
	h.choose("location/district", "Coast district")
	if got := h.options("location/village"); !slices.Equal(got, []string{"Elmina", "Keta"}) {
		t.Fatalf("villages of the coast: %q", got)
	}
	h.choose("location/village", "Keta")

	// Two people: two members, each with a heading and their own questions;
	// a counted repeat has no Add or Remove.
	h.typeInto("household/head_name", "K")
	h.entry("household/size").SetText("2")
	if got := h.instances("members"); !slices.Equal(got, []string{"members[1]", "members[2]"}) {
		t.Fatalf("members %q with size 2", got)
	}
	if s := h.section("members[2]"); s.heading.Text != "Member 2" || s.remove != nil || h.section("members").add != nil {
		t.Fatalf("member heading %q, remove %v, add %v", s.heading.Text, s.remove, h.section("members").add)
	}
	if got := h.label("members[2]/name"); got != "Name of member 2 *" {
		t.Fatalf("label %q", got)
	}
	h.typeInto("members[1]/name", "Kofi")
	h.choose("members[1]/relation", "Head of household")
	h.typeInto("members[1]/age", "45")
	h.typeInto("members[2]/name", "Ama")
	h.choose("members[2]/relation", "Child")
	h.typeInto("members[2]/age", "9")
	if got := h.label("members[2]/relation"); got != "Relation to K *" {
		t.Fatalf("label with the head's name: %q", got)
	}
	if !h.shown("members[2]/school") || h.shown("members[1]/school") || h.label("members[2]/school") != "Does Ama go to school?" {
		t.Fatalf("school: shown %v/%v, label %q", h.shown("members[1]/school"), h.shown("members[2]/school"), h.label("members[2]/school"))
	}
	// The note reads the calculations.
	if got := h.note("summary/roster_note"); got != "2 people, eldest 45 years old." {
		t.Fatalf("the note reads %q", got)
	}
	h.choose("summary/water", "Borehole")
	// A read-only calculated date shows as text.
	if row := h.row("summary/visit_again"); !row.readOnly || row.value.Text != "2026-05-31" || row.input.object().Visible() {
		t.Fatalf("next visit: read-only %v, %q", row.readOnly, row.value.Text)
	}

	// In French, the submit is refused with the form's own message.
	h.v.language.SetSelected("Français (fr)")
	h.tap(h.v.submit)
	if got := h.problem("household/head_name"); got != "Écrivez au moins deux lettres." {
		t.Fatalf("problem %q, want the form's French message", got)
	}
	if len(h.done) != 0 || !strings.HasPrefix(h.v.state.Text, "Not submitted: 1 field needs attention") {
		t.Fatalf("done %q, state %q", h.done, h.v.state.Text)
	}
	if c := h.w.Canvas().Focused(); c != h.entry("household/head_name") {
		t.Fatalf("focus on %T, want the head's name", c)
	}
	// Fixed as it is typed, and submitted.
	h.typeInto("household/head_name", "ofi Mensah")
	if got := h.problem("household/head_name"); got != "" {
		t.Fatalf("problem %q after the fix", got)
	}
	h.tap(h.v.submit)
	if len(h.done) != 1 {
		t.Fatalf("not submitted; state %q", h.v.state.Text)
	}
	rec := r.record(t, h.done[0])
	for key, want := range map[string]string{
		"_status": `"submitted"`, "consent": `"OK"`, "location/village": `"coast_2"`, "household/size": "2",
		"members[1]": "true", "members[2]/name": `"Ama"`, "members[2]/age": "9", "summary/eldest": `"45"`,
		"summary/children": `"1"`, "members[2]/position": `"2"`,
	} {
		if got := raw(rec, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

func TestFormViewWaterPoint(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, waterPoint)
	h.choose("point/point_type", "Tap stand")
	h.choose("state/functional", "Not working")
	add := h.section("defects").add
	if add == nil || add.Text != "Add Defect" || !add.Visible() {
		t.Fatalf("add button %v", add)
	}
	h.tap(add)
	h.tap(add)
	defects := h.instances("defects")
	if len(defects) != 2 {
		t.Fatalf("defects %q after adding two", defects)
	}
	// The new instance's first question has the keyboard.
	if s := h.section(defects[1]); s.heading.Text != "Defect 2" || s.remove == nil {
		t.Fatalf("heading %q, remove %v", s.heading.Text, s.remove)
	}
	// The components offered are those of a tap stand.
	if got := h.options(defects[0] + "/component"); !slices.Equal(got, []string{"Apron and drainage", "Tap or valve", "Pipe or joint", "Fence or gate"}) {
		t.Fatalf("components %q", got)
	}
	if in := h.row(defects[0] + "/severity").input.(*fieldChoiceInput); in.radio == nil || !in.radio.Horizontal {
		t.Fatal("a likert choice is not a row of radio buttons")
	}
	for i, d := range defects {
		h.choose(d+"/component", "Pipe or joint")
		h.choose(d+"/severity", "Severe: repair now")
		h.row(d + "/description").input.(*fieldTextInput).entry.SetText(fmt.Sprintf("Leak %d", i+1))
	}
	if got := h.note("result/summary"); got != "2 defects recorded; repair now: yes." {
		t.Fatalf("the summary reads %q", got)
	}
	// Severity triggers the time it was reported.
	if v := h.v.fm.Value(defects[0] + "/reported_at"); form.IsEmpty(v) {
		t.Fatal("reported_at not set by the severity")
	}

	// Remove the first, after a question.
	h.tap(h.section(defects[0]).remove)
	if !slices.Equal(h.confirms, []string{"Remove Defect 1?"}) {
		t.Fatalf("confirms %q", h.confirms)
	}
	if got := h.instances("defects"); !slices.Equal(got, defects[1:]) {
		t.Fatalf("defects %q after removing the first", got)
	}
	if got := h.section(defects[1]).heading.Text; got != "Defect 1" {
		t.Fatalf("heading %q of what is now the first", got)
	}
	if got := h.note("result/summary"); got != "1 defects recorded; repair now: yes." {
		t.Fatalf("the summary reads %q after the removal", got)
	}
	if got := string(h.v.fm.Value("result/defect_count")); got != `"1"` {
		t.Fatalf("defect_count %s", got)
	}
	// The removal is saved with its marker.
	h.autosave()
	if got := raw(r.record(t, h.v.recordID), defects[0]); got != "false" {
		t.Fatalf("marker of the removed defect %s", got)
	}

	// A severe defect without a photo: the form's own message.
	h.tap(h.v.submit)
	if got := h.problem(defects[1] + "/photo"); got != "A severe defect needs a photo." {
		t.Fatalf("photo problem %q", got)
	}
	if len(h.done) != 0 {
		t.Fatal("submitted without the photo")
	}
}

// longSurvey is a template long enough to be paged: a question outside any
// group, then three groups and a repeat; group C is asked only of someone with a
// name.
func longSurvey(t *testing.T) *form.Template {
	t.Helper()
	group := func(id, label string, n int, extra string) string {
		var fields []string
		for i := 1; i <= n; i++ {
			fields = append(fields, fmt.Sprintf(`{"id":"%s%d","type":"text","label":"%s question %d"}`, id, i, label, i))
		}
		return fmt.Sprintf(`{"id":"%s","type":"group","label":"%s"%s,"fields":[%s]}`, id, label, extra, strings.Join(fields, ","))
	}
	js := `{"id":"long-survey","version":1,"name":"Long survey","fields":[
		{"id":"name","type":"text","label":"Your name"},` +
		group("a", "Section A", 10, "") + "," + group("b", "Section B", 10, "") + `,
		{"id":"visits","type":"repeat","label":"Visit","fields":[{"id":"when","type":"date","label":"When"},{"id":"why","type":"text","label":"Why"}]},` +
		group("c", "Section C", 5, `,"relevant":"${name} != ''"`) + `]}`
	tpl, err := form.ParseTemplate([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestFormViewPages(t *testing.T) {
	r := newFormFakeReplica(t)
	tpl := longSurvey(t)
	r.templates = append(r.templates, tpl)
	h := openForm(t, r, FormTarget{Template: tpl.Key()})
	p := h.v.pager
	if !p.paged || !p.view.Visible() {
		t.Fatal("a form of 28 questions in groups is not paged")
	}
	onPage := func(key string) bool {
		found := false
		formWalk(h.v.list, func(o fyne.CanvasObject) { found = found || o == h.row(key).box })
		return found
	}
	if p.title.Text != "Page 1 of 4 · Long survey" || !onPage("name") || onPage("a/a1") || !p.prev.Disabled() {
		t.Fatalf("first page: %q, name shown %v, a1 shown %v", p.title.Text, onPage("name"), onPage("a/a1"))
	}
	h.tap(p.next)
	if p.title.Text != "Page 2 of 4 · Section A" || !onPage("a/a1") || onPage("name") || p.prev.Disabled() {
		t.Fatalf("second page: %q", p.title.Text)
	}
	h.tap(p.next)
	h.tap(p.next)
	if p.title.Text != "Page 4 of 4 · Visit" || !p.next.Disabled() {
		t.Fatalf("last page %q, next disabled %v: section C is not asked yet", p.title.Text, p.next.Disabled())
	}
	if add := h.section("visits").add; add == nil || !add.Visible() {
		t.Fatal("no Add Visit on the repeat's page")
	}
	h.tap(p.prev)
	if p.title.Text != "Page 3 of 4 · Section B" {
		t.Fatalf("back: %q", p.title.Text)
	}
	// Answering the name asks section C: a fifth page.
	h.v.jumpTo(h.row("name"))
	h.typeInto("name", "Efua")
	if p.title.Text != "Page 1 of 5 · Long survey" {
		t.Fatalf("after the name: %q", p.title.Text)
	}

	// A short form scrolls, with no pages.
	h = openForm(t, r, siteInspection)
	if h.v.pager.paged || h.v.pager.view.Visible() {
		t.Fatal("a short form is paged")
	}
}

func TestFormViewJumpList(t *testing.T) {
	r := newFormFakeReplica(t)
	tpl := longSurvey(t)
	r.templates = append(r.templates, tpl)
	h := openForm(t, r, FormTarget{Template: tpl.Key()})
	h.typeInto("name", "Efua")

	h.tap(h.v.jump.button)
	j := h.v.jump
	if !j.open || j.list.Length() != 26 {
		t.Fatalf("open %v, %d questions listed; want 26 (section C asked)", j.open, j.list.Length())
	}
	if e := j.entries[0]; e.text != "Your name" || e.status != "Answered" {
		t.Fatalf("first entry %+v", e)
	}
	i := slices.IndexFunc(j.entries, func(e formJumpEntry) bool { return e.row.key == "b/b7" })
	if e := j.entries[i]; e.text != "Section B › Section B question 7" || e.status != "Not answered yet" {
		t.Fatalf("entry %+v", e)
	}
	j.list.Select(i)
	h.settle()
	if j.open || h.v.pager.title.Text != "Page 3 of 5 · Section B" {
		t.Fatalf("after the jump: open %v, page %q", j.open, h.v.pager.title.Text)
	}
	if c := h.w.Canvas().Focused(); c != h.entry("b/b7") {
		t.Fatalf("focus on %T, want question B7", c)
	}
	if h.v.scroll.Offset.Y <= 0 {
		t.Fatal("not scrolled down to question B7")
	}
}

func TestFormViewJumpListProblems(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, householdSurvey)
	h.acknowledge("consent")
	h.tap(h.v.submit)
	h.tap(h.v.jump.button)
	var problems []string
	for _, e := range h.v.jump.entries {
		if e.problem {
			problems = append(problems, e.row.key+": "+e.status)
		}
	}
	want := []string{"location/region: Required.", "location/district: Required.", "location/village: Required.",
		"household/head_name: Required.", "members[1]/name: Required.", "members[1]/relation: Required.",
		"members[1]/age: Required.", "summary/water: Required."}
	if !slices.Equal(problems, want) {
		t.Fatalf("problems listed:\n%q\nwant\n%q", problems, want)
	}
	if e := h.v.jump.entries[slices.IndexFunc(h.v.jump.entries, func(e formJumpEntry) bool { return e.row.key == "members[1]/age" })]; e.text != "Member 1 › Age in years" {
		t.Fatalf("entry %q", e.text)
	}
}

func TestFormViewProgress(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, householdSurvey)
	h.acknowledge("consent")
	// Asked now: the consent, 4 about the place, 2 about the household (the
	// size has its default), 4 about the one member, 4 about the living
	// conditions; the next visit is computed, not asked.
	if got := h.v.progress.label.Text; got != "2 of 15 answered" {
		t.Fatalf("progress %q", got)
	}
	h.typeInto("household/head_name", "Kofi")
	h.entry("household/size").SetText("2")
	if got := h.v.progress.label.Text; got != "3 of 19 answered" {
		t.Fatalf("progress %q with two members", got)
	}
	if b := h.v.progress.bar; b.Value != 3 || b.Max != 19 {
		t.Fatalf("bar %v of %v", b.Value, b.Max)
	}
}

func TestFormViewLanguage(t *testing.T) {
	r := newFormFakeReplica(t)
	prefs := test.NewTempApp(t).Preferences()
	withPrefs := func(s *formSeams) { s.prefs, s.locale = prefs, "en-GB" }
	h := openForm(t, r, householdSurvey, withPrefs)
	h.acknowledge("consent")
	if h.v.language == nil || !slices.Equal(h.v.language.Options, []string{"English (en)", "Français (fr)"}) || h.v.language.Selected != "English (en)" {
		t.Fatalf("language select %v", h.v.language)
	}
	if got := h.label("household/head_name"); got != "Name of the head of household *" {
		t.Fatalf("English label %q", got)
	}
	h.v.language.SetSelected("Français (fr)")
	if got := h.label("household/head_name"); got != "Nom du chef de ménage *" {
		t.Fatalf("French label %q", got)
	}
	if got := h.options("location/region"); !slices.Equal(got, []string{"Nord", "Sud"}) {
		t.Fatalf("French options %q", got)
	}
	if got := h.section("members[1]").heading.Text; got != "Membre 1" {
		t.Fatalf("French heading %q", got)
	}
	if got := h.section("summary").heading.Text; got != "Conditions de vie" {
		t.Fatalf("French group %q", got)
	}
	// The answer stays when its labels change.
	h.choose("location/region", "Nord")
	h.v.language.SetSelected("English (en)")
	if got := h.row("location/region").input.(*fieldChoiceInput).radio.Selected; got != "North" {
		t.Fatalf("region shown as %q in English", got)
	}
	h.v.language.SetSelected("Français (fr)")

	// Remembered for the template.
	h = openForm(t, r, householdSurvey, withPrefs)
	if got := h.v.language.Selected; got != "Français (fr)" {
		t.Fatalf("language %q when opened again", got)
	}
	// A device in French starts in French; a form with one language has no select.
	h = openForm(t, r, householdSurvey, func(s *formSeams) { s.locale = "fr_CA.UTF-8" })
	if got := h.v.language.Selected; got != "Français (fr)" {
		t.Fatalf("language %q on a French device", got)
	}
	if h = openForm(t, r, waterPoint); h.v.language != nil {
		t.Fatal("a form in one language offers a language select")
	}
}

// newTypes has one field of each type the first template format lacked.
const newTypes = `{"id":"new-types","version":1,"name":"New types","fields":[
	{"id":"minutes","type":"range","label":"Minutes","min":0,"max":60,"step":5},
	{"id":"needs","type":"rank","label":"Needs","options":[{"value":"water","label":"Water"},{"value":"food","label":"Food"},{"value":"school","label":"School"}]},
	{"id":"track","type":"geotrace","label":"Track"},
	{"id":"plot","type":"geoshape","label":"Plot"},
	{"id":"ack","type":"acknowledge","label":"Read the rules"},
	{"id":"tag","type":"barcode","label":"Tag"},
	{"id":"sound","type":"audio","label":"Sound"},
	{"id":"clip","type":"video","label":"Clip"},
	{"id":"kind","type":"choice","appearance":"minimal","label":"Kind","options":[{"value":"a","label":"Alpha"},{"value":"b","label":"Beta"}]},
	{"id":"town","type":"choice","appearance":"autocomplete","label":"Town","options":[{"value":"acc","label":"Accra"},{"value":"kum","label":"Kumasi"},{"value":"tam","label":"Tamale"}]},
	{"id":"tools","type":"multichoice","appearance":"minimal","label":"Tools","options":[{"value":"saw","label":"Saw"},{"value":"drill","label":"Drill"}]},
	{"id":"doubled","type":"calculate","label":"Twice the minutes","calculation":"${minutes} * 2"},
	{"id":"secret","type":"hidden","default":"x"}
]}`

func TestFormViewNewTypes(t *testing.T) {
	mime.AddExtensionType(".ogg", "audio/ogg")
	mime.AddExtensionType(".mp4", "video/mp4")
	r := newFormFakeReplica(t)
	tpl, err := form.ParseTemplate([]byte(newTypes))
	if err != nil {
		t.Fatal(err)
	}
	r.templates = append(r.templates, tpl)
	h := openForm(t, r, FormTarget{Template: tpl.Key()})
	if _, ok := h.v.byID["secret"]; ok {
		t.Fatal("a hidden field has a row")
	}
	pickFile := func(name, content string) func() {
		return func() {
			h.file = &formFakeFile{Reader: strings.NewReader(content), uri: storage.NewFileURI("/media/" + name)}
			h.tap(h.row(strings.TrimSuffix(name, filepath.Ext(name))).input.(*fieldAttachInput).add)
		}
	}
	tests := []struct {
		key  string
		do   func()
		want string
	}{
		{"minutes", func() {
			s := h.row("minutes").input.(*fieldRangeInput).slider
			s.TypedKey(&fyne.KeyEvent{Name: fyne.KeyRight})
			s.TypedKey(&fyne.KeyEvent{Name: fyne.KeyRight})
			s.TypedKey(&fyne.KeyEvent{Name: fyne.KeyRight})
		}, `15`},
		{"needs", func() { h.tap(h.row("needs").input.(*fieldRankInput).rows[2].up) }, `["water","school","food"]`},
		{"track", func() {
			in := h.row("track").input.(*fieldGeoPointsInput)
			test.Type(in.points[0].lat, "5.6")
			test.Type(in.points[0].lon, "-0.2")
			test.Type(in.points[1].lat, "5.61")
			test.Type(in.points[1].lon, "-0.21")
			test.Type(in.points[1].acc, "4")
		}, `[{"lat":5.6,"lon":-0.2},{"lat":5.61,"lon":-0.21,"accuracy":4}]`},
		{"plot", func() {
			in := h.row("plot").input.(*fieldGeoPointsInput)
			h.tap(in.add)
			for i, p := range in.points {
				test.Type(p.lat, fmt.Sprint(10+i))
				test.Type(p.lon, "20")
			}
			h.tap(in.points[3].remove)
		}, `[{"lat":10,"lon":20},{"lat":11,"lon":20},{"lat":12,"lon":20}]`},
		{"ack", func() { h.acknowledge("ack") }, `"OK"`},
		{"tag", func() { h.typeInto("tag", "WP-00412") }, `"WP-00412"`},
		{"sound", pickFile("sound.ogg", "OggS…"), `[{"sha256":"` + sha256Hex("OggS…") + `","size":7,"type":"audio/ogg","name":"sound.ogg"}]`},
		{"clip", pickFile("clip.mp4", "ftyp"), `[{"sha256":"` + sha256Hex("ftyp") + `","size":4,"type":"video/mp4","name":"clip.mp4"}]`},
		{"kind", func() { h.row("kind").input.(*fieldChoiceInput).sel.SetSelected("Beta") }, `"b"`},
		{"town", func() {
			in := h.row("town").input.(*fieldChoiceInput)
			test.Type(in.auto, "kum")
			if got := in.offers; !slices.Equal(got, []string{"Kumasi"}) {
				t.Fatalf("towns offered for kum: %q", got)
			}
			in.auto.SetText("Kumasi")
		}, `"kum"`},
		{"tools", func() { h.row("tools").input.(*fieldMultiChoiceInput).group.SetSelected([]string{"Drill", "Saw"}) }, `["saw","drill"]`},
	}
	for _, tt := range tests {
		tt.do()
		if got := string(h.v.fm.Value(tt.key)); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.key, got, tt.want)
		}
		if got := h.problem(tt.key); got != "" {
			t.Errorf("%s: problem %q", tt.key, got)
		}
	}
	if got := h.row("minutes").input.(*fieldRangeInput).shown.Text; got != "15" {
		t.Errorf("range shows %q", got)
	}
	if got := h.row("tools").input.(*fieldMultiChoiceInput).summary.Text; got != "Saw, Drill" {
		t.Errorf("minimal multichoice shows %q", got)
	}
	if row := h.row("doubled"); row.input != nil || row.value.Text != "30" || !row.value.Visible() {
		t.Errorf("calculation shown as %q", row.value.Text)
	}
	h.autosave()
	rec := r.record(t, h.v.recordID)
	for _, tt := range tests {
		if got := raw(rec, tt.key); got != tt.want {
			t.Errorf("saved %s = %s, want %s", tt.key, got, tt.want)
		}
	}
	if got := raw(rec, "secret"); got != `"x"` {
		t.Errorf("hidden default %s", got)
	}

	// A line of one point, and a recording that is not one.
	in := h.row("track").input.(*fieldGeoPointsInput)
	h.tap(in.points[1].remove)
	h.w.Canvas().Focus(in.points[0].lat)
	h.w.Canvas().Unfocus()
	h.settle()
	if got := h.problem("track"); got != "A line needs at least 2 points." {
		t.Errorf("track problem %q", got)
	}
	h.file = &formFakeFile{Reader: strings.NewReader("%PDF"), uri: storage.NewFileURI("/docs/report.pdf")}
	h.tap(h.row("sound").input.(*fieldAttachInput).add)
	if got := h.problem("sound"); !strings.Contains(got, "it is not a recording") {
		t.Errorf("sound problem %q", got)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Structure changes lay the outline out again; what is typed stays, even what is
// not a value yet.
func TestFormViewKeepsTypingAcrossRebuilds(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, householdSurvey)
	h.acknowledge("consent")
	h.typeInto("members[1]/name", "Kofi")
	h.typeInto("members[1]/age", "4x") // refused: not a digit
	h.typeInto("members[1]/age", "-")
	row := h.row("members[1]/age")
	h.entry("household/size").SetText("3")
	if got := h.instances("members"); len(got) != 3 {
		t.Fatalf("members %q", got)
	}
	if h.row("members[1]/age") != row || h.entry("members[1]/name").Text != "Kofi" || h.entry("members[1]/age").Text != "4-" {
		t.Fatalf("after the rebuild: name %q, age %q", h.entry("members[1]/name").Text, h.entry("members[1]/age").Text)
	}
	h.entry("household/size").SetText("1")
	if got := h.instances("members"); !slices.Equal(got, []string{"members[1]"}) {
		t.Fatalf("members %q with size 1", got)
	}
	if _, ok := h.v.byID["members[2]/name"]; ok {
		t.Fatal("the rows of a member gone stay")
	}
	// Not working: no defects to record, and no Add.
	h = openForm(t, r, waterPoint)
	h.choose("state/functional", "Working")
	if h.section("defects").shown {
		t.Fatal("defects offered for a working water point")
	}
}

// A repeat in a repeat: each instance has its own instances, added under it.
func TestFormViewNestedRepeats(t *testing.T) {
	r := newFormFakeReplica(t)
	tpl, err := form.ParseTemplate([]byte(`{"id":"visits","version":1,"name":"Visits","fields":[
		{"id":"hh","type":"repeat","label":"Household","fields":[
			{"id":"name","type":"text","label":"Name"},
			{"id":"people","type":"repeat","label":"Person","fields":[{"id":"age","type":"integer","label":"Age"}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	r.templates = append(r.templates, tpl)
	h := openForm(t, r, FormTarget{Template: tpl.Key()})
	h.tap(h.section("hh").add)
	h.tap(h.section("hh").add)
	households := h.instances("hh")
	if len(households) != 2 {
		t.Fatalf("households %q", households)
	}
	people := h.section(households[1] + "/people")
	if people.add == nil || people.add.Text != "Add Person" {
		t.Fatalf("no Add Person in the second household")
	}
	h.tap(people.add)
	persons := h.instances(households[1] + "/people")
	if len(persons) != 1 || len(h.instances(households[0]+"/people")) != 0 {
		t.Fatalf("people %q in the second household", persons)
	}
	age := persons[0] + "/age"
	if c := h.w.Canvas().Focused(); c != h.entry(age) {
		t.Fatalf("focus on %T, want the new person's age", c)
	}
	h.typeInto(age, "30")
	if got := h.v.where(h.row(age)); got != "Household 2 › Person 1 › Age" {
		t.Fatalf("where %q", got)
	}
	h.autosave()
	rec := r.record(t, h.v.recordID)
	if raw(rec, households[1]) != "true" || raw(rec, persons[0]) != "true" || raw(rec, age) != "30" {
		t.Fatalf("record %s", rec.Encode())
	}
	// Removing the household takes its people off the screen.
	h.tap(h.section(households[1]).remove)
	if _, ok := h.v.byID[age]; ok || len(h.instances("hh")) != 1 {
		t.Fatal("the removed household's person is still on screen")
	}
}
