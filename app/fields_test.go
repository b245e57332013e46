package app

import (
	"encoding/json"
	"errors"
	"image"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/fieldforms/fieldforms/form"
)

// formTestHooks are hooks for an input alone: changes are counted, stored images
// are blank.
func formTestHooks(changes *int) fieldHooks {
	return fieldHooks{
		changed: func() { *changes++ },
		left:    func() {},
		settled: func() {},
		later:   func(fn func()) { fn() },
		pick:    func() {},
		image: func(_ form.Attachment, side int, show func(image.Image, error)) {
			show(image.NewRGBA(image.Rect(0, 0, side, side/3)), nil)
		},
		now: func() time.Time { return formTestNow },
		loc: formTestZone,
	}
}

// TestFieldInputsRoundTrip shows a stored value of each field type and reads it
// back: the same value, as the template's check writes it.
func TestFieldInputsRoundTrip(t *testing.T) {
	test.NewTempApp(t)
	r := newFormFakeReplica(t)
	att := `{"sha256":"` + formSHA("a") + `","size":3,"type":"image/png","name":"a.png"}`
	values := map[form.FieldType][]string{
		form.TypeText:        {`"NW-0412"`, `"Ünïcode ✓"`},
		form.TypeMultiline:   {`"line one\nline two"`},
		form.TypeInteger:     {`0`, `-7`, `9007199254740993`},
		form.TypeDecimal:     {`1.5`, `-0.25`, `20000`},
		form.TypeDate:        {`"2026-03-02"`},
		form.TypeTime:        {`"07:45"`, `"23:59:30"`},
		form.TypeDateTime:    {`"2026-03-01T17:05:00+01:00"`},
		form.TypeYesNo:       {`true`, `false`},
		form.TypeGeo:         {`{"lat":51.5072,"lon":-0.1276,"accuracy":8}`, `{"lat":-33.9,"lon":18.4}`},
		form.TypeSignature:   {att},
		form.TypePhoto:       {`[` + att + `]`},
		form.TypeFile:        {`[{"sha256":"` + formSHA("b") + `","size":10,"type":"application/pdf","name":"r.pdf"}]`},
		form.TypeAudio:       {`[{"sha256":"` + formSHA("c") + `","size":10,"type":"audio/ogg","name":"pump.ogg"}]`},
		form.TypeVideo:       {`[{"sha256":"` + formSHA("d") + `","size":10,"type":"video/mp4","name":"leak.mp4"}]`},
		form.TypeBarcode:     {`"WP-00412"`},
		form.TypeAcknowledge: {`"OK"`},
		form.TypeRange:       {`0`, `35`, `120`},
		form.TypeGeoTrace:    {`[{"lat":5.6,"lon":-0.2},{"lat":5.61,"lon":-0.21,"alt":12,"accuracy":4}]`},
		form.TypeGeoShape:    {`[{"lat":5.6,"lon":-0.2},{"lat":5.61,"lon":-0.21},{"lat":5.62,"lon":-0.2}]`},
		form.TypeChoice:      nil, // from the field's options
		form.TypeMultiChoice: nil,
		form.TypeRank:        nil,
	}
	for _, tpl := range r.templates {
		for _, f := range tpl.All() {
			if !f.Asked() || f.Type == form.TypeNote {
				continue
			}
			key := formSampleKey(f)
			cases := values[f.Type]
			opts := f.ChoiceOptions()
			switch f.Type {
			case form.TypeChoice:
				cases = []string{string(fieldJSON(opts[len(opts)-1].Value))}
			case form.TypeMultiChoice:
				cases = []string{string(fieldJSON([]string{opts[0].Value, opts[len(opts)-1].Value}))}
			case form.TypeRank:
				order := optionValues(opts)
				slices.Reverse(order)
				cases = []string{string(fieldJSON(order))}
			}
			for _, c := range append(cases, "null") {
				var changes int
				in := newFieldInput(f, formTestHooks(&changes))
				if in == nil {
					t.Fatalf("%s %s (%s): no input", tpl.ID, key, f.Type)
				}
				test.NewTempWindow(t, in.object())
				in.show(json.RawMessage(c))
				got, err := in.value()
				if err != nil {
					t.Fatalf("%s %s (%s): shown %s, value error %v", tpl.ID, key, f.Type, c, err)
				}
				if c == "null" {
					if string(got) != "null" {
						t.Fatalf("%s %s: empty input reads %s", tpl.ID, key, got)
					}
					continue
				}
				want, err := tpl.Check(form.Values{key: json.RawMessage(c)})
				if err != nil {
					// Outside the field's own rules (min, max): compare as typed.
					want = form.Values{key: json.RawMessage(c)}
				}
				check, _ := tpl.Check(form.Values{key: got})
				if check == nil {
					check = form.Values{key: got}
				}
				if string(check[key]) != string(want[key]) {
					t.Fatalf("%s %s (%s): shown %s, reads %s", tpl.ID, key, f.Type, c, got)
				}
			}
		}
	}
}

// formSampleKey is a record key of a field: the first instance of each repeat it
// is in.
func formSampleKey(f *form.Field) string {
	key := f.ID
	for p := f.Parent(); p != nil; p = p.Parent() {
		name := p.ID
		if p.Type == form.TypeRepeat {
			inst := "0190a0b4-0000-7000-8000-000000000001"
			if p.RepeatCount != "" {
				inst = "1"
			}
			name += "[" + inst + "]"
		}
		key = name + "/" + key
	}
	return key
}

func TestParseFieldClock(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, {"07:45", "07:45"}, {"7:45", "07:45"}, {"0745", "07:45"}, {"745", "07:45"},
		{"7.45", "07:45"}, {"23:59:30", "23:59:30"}, {"7", "07:00"}, {" 12:00 ", "12:00"},
	}
	for _, tt := range tests {
		if got, err := parseFieldClock(tt.in); err != nil || got != tt.want {
			t.Errorf("parseFieldClock(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"24:00", "12:60", "12:5", "1:2:3:4", "ab", "12345", "12::", ":30"} {
		if got, err := parseFieldClock(in); err == nil {
			t.Errorf("parseFieldClock(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseFieldNumber(t *testing.T) {
	tests := []struct {
		in      string
		decimal bool
		want    string
	}{
		{"", false, "null"}, {"12", false, "12"}, {"+12", false, "12"}, {"-3", false, "-3"}, {"007", false, "7"},
		{"1.5", true, "1.5"}, {"1,5", true, "1.5"}, {"-0", true, "0"}, {" 3 ", true, "3"}, {"1e3", true, "1000"},
	}
	for _, tt := range tests {
		if got, err := parseFieldNumber(tt.in, tt.decimal); err != nil || string(got) != tt.want {
			t.Errorf("parseFieldNumber(%q, %v) = %s, %v; want %s", tt.in, tt.decimal, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in      string
		decimal bool
	}{{"1.5", false}, {"-", false}, {"1-2", false}, {"NaN", true}, {"Inf", true}, {"0x10", true}, {"1,5,5", true}} {
		if got, err := parseFieldNumber(tt.in, tt.decimal); err == nil {
			t.Errorf("parseFieldNumber(%q, %v) = %s, want an error", tt.in, tt.decimal, got)
		}
	}
}

func TestFieldDateTimeInput(t *testing.T) {
	test.NewTempApp(t)
	var changes int
	in := newFieldDateTimeInput(formTestHooks(&changes))
	test.NewTempWindow(t, in.object())

	in.date.setDate(2026, 7, 1)
	if _, err := in.value(); err == nil || err.Error() != "Enter the time as well as the date." {
		t.Fatalf("date alone: %v", err)
	}
	test.Type(in.clock, "0930")
	got, err := in.value()
	// The offset is the zone's on that date, and the moment is exact.
	if err != nil || string(got) != `"2026-07-01T09:30:00+01:00"` {
		t.Fatalf("value %s, %v", got, err)
	}
	in.date.SetDate(nil)
	if _, err := in.value(); err == nil || err.Error() != "Enter the date as well as the time." {
		t.Fatalf("time alone: %v", err)
	}
	in.clock.SetText("")
	if got, err := in.value(); err != nil || string(got) != "null" {
		t.Fatalf("empty: %s, %v", got, err)
	}
	if changes == 0 {
		t.Fatal("no change reported")
	}

	// Now: today, this minute, in the device's zone.
	test.Tap(formFindButton(t, in.object(), "Now"))
	if got, _ := in.value(); string(got) != `"2026-03-02T14:30:00+01:00"` {
		t.Fatalf("after Now: %s", got)
	}
}

func TestFormZoneText(t *testing.T) {
	tests := []struct {
		loc  *time.Location
		want string
	}{
		{time.UTC, "UTC+00:00"},
		{time.FixedZone("CET", 3600), "CET (UTC+01:00)"},
		{time.FixedZone("", -5*3600-1800), "UTC-05:30"},
	}
	for _, tt := range tests {
		if got := formZoneText(time.Date(2026, 1, 1, 0, 0, 0, 0, tt.loc)); got != tt.want {
			t.Errorf("zone %v: %q, want %q", tt.loc, got, tt.want)
		}
	}
}

func TestFieldChoiceInputs(t *testing.T) {
	test.NewTempApp(t)
	r := newFormFakeReplica(t)
	tpl, _ := r.Template(form.TemplateKey{ID: "equipment-maintenance"})
	var changes int

	// Six options: a drop-down list that can be cleared.
	f, _ := tpl.Field("equipment_type")
	in := newFieldChoiceInput(f, formTestHooks(&changes))
	test.NewTempWindow(t, in.object())
	if in.sel == nil || in.radio != nil {
		t.Fatal("six options: want a drop-down list")
	}
	in.choose("Pump")
	if got, _ := in.value(); string(got) != `"pump"` || !in.clear.Visible() {
		t.Fatalf("value %s, clear shown %v", got, in.clear.Visible())
	}
	test.Tap(in.clear)
	if got, _ := in.value(); string(got) != "null" || in.clear.Visible() {
		t.Fatalf("after clearing: %s", got)
	}

	// Three options: radio buttons.
	f, _ = tpl.Field("service_type")
	if in := newFieldChoiceInput(f, formTestHooks(&changes)); in.radio == nil {
		t.Fatal("three options: want radio buttons")
	}

	// Yes/no can go back to unanswered.
	yn := newFieldYesNoInput(formTestHooks(&changes))
	yn.radio.SetSelected(fieldYes)
	yn.radio.SetSelected("")
	if got, _ := yn.value(); string(got) != "null" || yn.radio.Required {
		t.Fatalf("yes/no after unselecting: %s", got)
	}
}

func TestFieldProblemText(t *testing.T) {
	r := newFormFakeReplica(t)
	site, _ := r.Template(form.TemplateKey{ID: "site-inspection"})
	incident, _ := r.Template(form.TemplateKey{ID: "incident-report"})
	field := func(tpl *form.Template, id string) *form.Field {
		f, ok := tpl.Field(id)
		if !ok {
			t.Fatalf("no field %s", id)
		}
		return f
	}
	tests := []struct {
		tpl   *form.Template
		id    string
		value string
		want  string
	}{
		{site, "site_code", `"nw-1"`, "Must match pattern [A-Z]{2}-[0-9]{3,5}."},
		{site, "site_code", `"NW-012345"`, "At most 8 characters."},
		{site, "inspector", `"A"`, "At least 2 characters."},
		{site, "workers_on_site", `501`, "Must be between 0 and 500."},
		{site, "workers_on_site", `1.5`, "Must be a whole number."},
		{site, "inspection_date", `"2019-12-31"`, "Must be 2020-01-01 or later."},
		{site, "arrival_time", `"04:00"`, "Must be between 05:00 and 22:00."},
		{site, "weather", `"hail"`, "Not one of the options."},
		{site, "location", `{"lat":91,"lon":0}`, "The latitude must be between -90 and 90, the longitude between -180 and 180, and the accuracy 0 or more."},
		{incident, "contributing_factors", `["weather","equipment","procedure","training","fatigue"]`, "Choose at most 4."},
		{incident, "injured_persons", `0`, "Must be between 1 and 100."},
		{incident, "occurred_at", `"2019-01-01T00:00:00Z"`, "Must be 2020-01-01T00:00:00Z or later."},
	}
	for _, tt := range tests {
		_, err := tt.tpl.Check(form.Values{tt.id: json.RawMessage(tt.value)})
		var ve *form.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s = %s: no validation error (%v)", tt.id, tt.value, err)
		}
		if got := fieldProblemText(field(tt.tpl, tt.id), ve.Fields[0]); got != tt.want {
			t.Errorf("%s = %s (%s): %q, want %q", tt.id, tt.value, ve.Fields[0].Rule, got, tt.want)
		}
	}
	if got := fieldProblemText(field(site, "inspector"), form.FieldError{Rule: "required"}); got != "Required." {
		t.Errorf("required: %q", got)
	}
	if got := fieldProblemText(field(site, "inspector"), form.FieldError{Rule: ruleInput, Msg: "Say it plainly."}); got != "Say it plainly." {
		t.Errorf("input: %q", got)
	}
}

func TestFormThumbnail(t *testing.T) {
	tests := []struct {
		w, h, side int
		want       image.Point
	}{
		{1200, 900, 240, image.Pt(240, 180)},
		{900, 1200, 240, image.Pt(180, 240)},
		{100, 50, 240, image.Pt(100, 50)},
		{5000, 10, 240, image.Pt(240, 1)},
	}
	for _, tt := range tests {
		img := image.NewRGBA(image.Rect(0, 0, tt.w, tt.h))
		if got := formThumbnail(img, tt.side).Bounds().Size(); got != tt.want {
			t.Errorf("%dx%d to %d: %v, want %v", tt.w, tt.h, tt.side, got, tt.want)
		}
	}
}

func TestAttachmentFileName(t *testing.T) {
	long := ""
	for range 300 {
		long += "é"
	}
	tests := []struct{ in, want string }{
		{"pump.jpg", "pump.jpg"}, {`a\b/c`, "a_b_c"}, {"", "file"}, {long, long[:254]},
	}
	for _, tt := range tests {
		if got := attachmentFileName(tt.in); got != tt.want {
			t.Errorf("attachmentFileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// formSHA is a made-up SHA-256 in hex.
func formSHA(seed string) string {
	s := ""
	for len(s) < 64 {
		s += "0123456789abcdef"
	}
	return (seed + s)[:64]
}
