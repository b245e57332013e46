package form_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

const valuesTemplate = `{"id":"v","version":2,"name":"Values","fields":[
 {"id":"text","type":"text","label":"Text","min_length":2,"max_length":5,"pattern":"[A-Z]+"},
 {"id":"plain","type":"text","label":"Plain"},
 {"id":"multi","type":"multiline","label":"Multi","max_length":10},
 {"id":"int","type":"integer","label":"Int","min":-5,"max":100},
 {"id":"big","type":"integer","label":"Big"},
 {"id":"dec","type":"decimal","label":"Dec","min":-1,"max":9.5},
 {"id":"date","type":"date","label":"Date","min":"2020-01-01","max":"2030-12-31"},
 {"id":"time","type":"time","label":"Time","min":"06:00","max":"22:00"},
 {"id":"dt","type":"datetime","label":"DT","min":"2020-01-01T00:00:00Z","max":"2030-01-01T00:00:00Z"},
 {"id":"choice","type":"choice","label":"Choice","options":[{"value":"a","label":"A"},{"value":"b","label":"B"}]},
 {"id":"mc","type":"multichoice","label":"MC","min":1,"max":2,"options":[{"value":"x","label":"X"},{"value":"y","label":"Y"},{"value":"z","label":"Z"}]},
 {"id":"yn","type":"yesno","label":"YN"},
 {"id":"sig","type":"signature","label":"Sig"},
 {"id":"photo","type":"photo","label":"Photo","max_files":2},
 {"id":"file","type":"file","label":"File"},
 {"id":"geo","type":"geolocation","label":"Geo"},
 {"id":"note","type":"note","label":"Note"}
]}`

func att(typ string) string {
	return `{"sha256":"` + sha + `","size":12,"type":"` + typ + `"}`
}

func TestCheckValid(t *testing.T) {
	tpl := mustParse(t, []byte(valuesTemplate))
	tests := []struct {
		name, field, in, want string
	}{
		{"OKText", "text", `"ABC"`, `"ABC"`},
		{"OKTextEmpty", "text", `""`, `""`}, // empty is "no answer": length and pattern do not apply
		{"OKTextEscaped", "plain", `"\u0041<b>&"`, `"A\u003cb\u003e\u0026"`},
		{"OKTextUnicode", "plain", `"ÄÖ"`, `"ÄÖ"`},
		{"OKLengthInCharacters", "multi", `"ääääääääää"`, `"ääääääääää"`},
		{"OKNull", "text", `null`, `null`},
		{"OKNullSpaced", "int", "  null\n", `null`},
		{"OKMultiline", "multi", `"a\r\nb"`, `"a\r\nb"`},
		{"OKInteger", "int", `42`, `42`},
		{"OKIntegerWhole", "int", `3.0`, `3`},
		{"OKIntegerExponent", "int", `1e2`, `100`},
		{"OKIntegerNegativeZero", "int", `-0`, `0`},
		{"OKIntegerMin", "int", `-5`, `-5`},
		{"OKIntegerLarge", "big", `9007199254740993`, `9007199254740993`},
		{"OKDecimal", "dec", `1.50`, `1.5`},
		{"OKDecimalExponent", "dec", `25e-1`, `2.5`},
		{"OKDecimalInteger", "dec", `7`, `7`},
		{"OKDecimalNegativeZero", "dec", `-0.0`, `0`},
		{"OKDecimalMax", "dec", `9.5`, `9.5`},
		{"OKDate", "date", `"2026-02-28"`, `"2026-02-28"`},
		{"OKDateLeap", "date", `"2028-02-29"`, `"2028-02-29"`},
		{"OKTime", "time", `"07:30"`, `"07:30"`},
		{"OKTimeSeconds", "time", `"07:30:00"`, `"07:30"`},
		{"OKTimeSecondsKept", "time", `"07:30:15"`, `"07:30:15"`},
		{"OKDateTimeZ", "dt", `"2026-03-04T05:06:07Z"`, `"2026-03-04T05:06:07Z"`},
		{"OKDateTimeKeepsOffset", "dt", `"2026-03-04T05:06:07+02:00"`, `"2026-03-04T05:06:07+02:00"`},
		{"OKDateTimeZeroOffset", "dt", `"2026-03-04T05:06:07+00:00"`, `"2026-03-04T05:06:07Z"`},
		{"OKDateTimeFraction", "dt", `"2026-03-04T05:06:07.250000-05:30"`, `"2026-03-04T05:06:07.25-05:30"`},
		{"OKDateTimeFractionZero", "dt", `"2026-03-04T05:06:07.000Z"`, `"2026-03-04T05:06:07Z"`},
		{"OKChoice", "choice", `"b"`, `"b"`},
		{"OKMultichoiceOrder", "mc", `["z","x"]`, `["x","z"]`},
		{"OKMultichoiceEmpty", "mc", `[]`, `[]`}, // no answer: min does not apply
		{"OKYes", "yn", `true`, `true`},
		{"OKNo", "yn", ` false `, `false`},
		{"OKSignature", "sig", att("image/png"), att("image/png")},
		{"OKPhoto", "photo", `[` + att("image/jpeg") + `,` + att("image/heic") + `]`, `[` + att("image/jpeg") + `,` + att("image/heic") + `]`},
		{"OKPhotoName", "photo", `[{"name":"front.jpg","type":"image/jpeg","size":1,"sha256":"` + sha + `"}]`, `[{"sha256":"` + sha + `","size":1,"type":"image/jpeg","name":"front.jpg"}]`},
		{"OKFilesEmpty", "file", `[]`, `[]`},
		{"OKFile", "file", `[` + att("application/pdf") + `]`, `[` + att("application/pdf") + `]`},
		{"OKFileTenByDefault", "file", `[` + strings.Repeat(att("text/plain")+",", 9) + att("text/plain") + `]`, `[` + strings.Repeat(att("text/plain")+",", 9) + att("text/plain") + `]`},
		{"OKGeo", "geo", `{"lon": 13.4050, "lat": 52.52, "accuracy": 5}`, `{"lat":52.52,"lon":13.405,"accuracy":5}`},
		{"OKGeoNoAccuracy", "geo", `{"lat":-90,"lon":180,"accuracy":0}`, `{"lat":-90,"lon":180}`},
		{"OKGeoNegativeZero", "geo", `{"lat":-0,"lon":-0.0}`, `{"lat":0,"lon":0}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tpl.Check(form.Values{tt.field: json.RawMessage(tt.in)})
			if err != nil {
				t.Fatalf("Check(%s) = %v", tt.in, err)
			}
			if got := string(out[tt.field]); got != tt.want {
				t.Errorf("Check(%s) = %s, want %s", tt.in, got, tt.want)
			}
			// Canonical values are a fixed point.
			again, err := tpl.Check(out)
			if err != nil || string(again[tt.field]) != tt.want {
				t.Errorf("Check of the canonical value: %s, %v", again[tt.field], err)
			}
		})
	}
}

func TestCheckInvalid(t *testing.T) {
	tpl := mustParse(t, []byte(valuesTemplate))
	tests := []struct {
		name, field, in, rule string
	}{
		{"ErrTextNumber", "text", `12`, "type"},
		{"ErrTextObject", "plain", `{"a":1}`, "type"},
		{"ErrTextBool", "plain", `true`, "type"},
		{"ErrTextLineBreak", "plain", `"a\nb"`, "type"},
		{"ErrTextTooShort", "text", `"A"`, "min_length"},
		{"ErrTextTooLong", "text", `"ABCDEF"`, "max_length"},
		{"ErrTextPattern", "text", `"abc"`, "pattern"},
		{"ErrTextPatternPartial", "text", `"AB1"`, "pattern"},
		{"ErrTextOverGlobalLimit", "plain", `"` + strings.Repeat("a", form.MaxTextLength+1) + `"`, "max_length"},
		{"ErrMultilineTooLong", "multi", `"` + strings.Repeat("ä", 11) + `"`, "max_length"},
		{"ErrIntegerString", "int", `"5"`, "type"},
		{"ErrIntegerFraction", "int", `2.5`, "type"},
		{"ErrIntegerBool", "int", `true`, "type"},
		{"ErrIntegerHuge", "big", `1e300`, "type"},
		{"ErrIntegerOverflow", "big", `99999999999999999999`, "type"},
		{"ErrIntegerBelowMin", "int", `-6`, "min"},
		{"ErrIntegerAboveMax", "int", `101`, "max"},
		{"ErrIntegerList", "int", `[1]`, "type"},
		{"ErrDecimalString", "dec", `"1.5"`, "type"},
		{"ErrDecimalAboveMax", "dec", `9.51`, "max"},
		{"ErrDecimalBelowMin", "dec", `-1.01`, "min"},
		{"ErrDecimalRange", "dec", `1e400`, "type"},
		{"ErrDecimalNaN", "dec", `NaN`, "type"},
		{"ErrDateNumber", "date", `20260101`, "type"},
		{"ErrDateImpossible", "date", `"2026-02-30"`, "type"},
		{"ErrDateNotLeap", "date", `"2026-02-29"`, "type"},
		{"ErrDateFormat", "date", `"2026-1-5"`, "type"},
		{"ErrDateWithTime", "date", `"2026-01-05T00:00:00Z"`, "type"},
		{"ErrDateBelowMin", "date", `"2019-12-31"`, "min"},
		{"ErrDateAboveMax", "date", `"2031-01-01"`, "max"},
		{"ErrTimeFormat", "time", `"7:30"`, "type"},
		{"ErrTime24", "time", `"24:00"`, "type"},
		{"ErrTimeSeconds60", "time", `"12:00:60"`, "type"},
		{"ErrTimeBelowMin", "time", `"05:59:59"`, "min"},
		{"ErrTimeAboveMax", "time", `"22:00:01"`, "max"},
		{"ErrDateTimeNoZone", "dt", `"2026-03-04T05:06:07"`, "type"},
		{"ErrDateTimeSpace", "dt", `"2026-03-04 05:06:07Z"`, "type"},
		{"ErrDateTimeNumber", "dt", `1767225600`, "type"},
		{"ErrDateTimeAboveMax", "dt", `"2030-01-01T00:00:00-00:01"`, "max"},
		{"ErrDateTimeBelowMin", "dt", `"2020-01-01T00:59:59+01:00"`, "min"},
		{"ErrDateTimeFarPast", "dt", `"1500-01-01T00:00:00Z"`, "min"},
		{"ErrDateTimeFarFuture", "dt", `"9999-12-31T23:59:59Z"`, "max"},
		{"ErrChoiceUnknown", "choice", `"c"`, "options"},
		{"ErrChoiceCase", "choice", `"A"`, "options"},
		{"ErrChoiceList", "choice", `["a"]`, "type"},
		{"ErrMultichoiceString", "mc", `"x"`, "type"},
		{"ErrMultichoiceUnknown", "mc", `["x","w"]`, "options"},
		{"ErrMultichoiceDuplicate", "mc", `["x","x"]`, "options"},
		{"ErrMultichoiceTooMany", "mc", `["x","y","z"]`, "max"},
		{"ErrMultichoiceNumbers", "mc", `[1]`, "type"},
		{"ErrYesNoString", "yn", `"yes"`, "type"},
		{"ErrYesNoNumber", "yn", `1`, "type"},
		{"ErrSignatureJPEG", "sig", att("image/jpeg"), "type"},
		{"ErrSignatureList", "sig", `[` + att("image/png") + `]`, "type"},
		{"ErrSignatureUnknownKey", "sig", `{"sha256":"` + sha + `","size":1,"type":"image/png","url":"x"}`, "type"},
		{"ErrPhotoNotImage", "photo", `[` + att("application/pdf") + `]`, "type"},
		{"ErrPhotoNotList", "photo", att("image/jpeg"), "type"},
		{"ErrPhotoTooMany", "photo", `[` + att("image/jpeg") + `,` + att("image/jpeg") + `,` + att("image/jpeg") + `]`, "max_files"},
		{"ErrFileOverDefaultLimit", "file", `[` + strings.Repeat(att("text/plain")+",", 10) + att("text/plain") + `]`, "max_files"},
		{"ErrFileBadSHA", "file", `[{"sha256":"` + strings.ToUpper(sha) + `","size":1,"type":"text/plain"}]`, "type"},
		{"ErrFileShortSHA", "file", `[{"sha256":"abc","size":1,"type":"text/plain"}]`, "type"},
		{"ErrFileNegativeSize", "file", `[{"sha256":"` + sha + `","size":-1,"type":"text/plain"}]`, "type"},
		{"ErrFileNoType", "file", `[{"sha256":"` + sha + `","size":1}]`, "type"},
		{"ErrFileBadName", "file", `[{"sha256":"` + sha + `","size":1,"type":"text/plain","name":"../etc/passwd"}]`, "type"},
		{"ErrFileNullEntry", "file", `[null]`, "type"},
		{"ErrGeoLat", "geo", `{"lat":90.0001,"lon":0}`, "range"},
		{"ErrGeoLon", "geo", `{"lat":0,"lon":-180.5}`, "range"},
		{"ErrGeoAccuracy", "geo", `{"lat":0,"lon":0,"accuracy":-1}`, "range"},
		{"ErrGeoString", "geo", `"52.5,13.4"`, "type"},
		{"ErrGeoList", "geo", `[52.5,13.4]`, "type"},
		{"ErrGeoUnknownKey", "geo", `{"lat":1,"lon":2,"altitude":3}`, "type"},
		{"ErrGeoStringLat", "geo", `{"lat":"1","lon":2}`, "type"},
		{"ErrNoteValue", "note", `"hello"`, "type"},
		{"ErrUnknownField", "nope", `"x"`, "unknown"},
		{"ErrSystemField", form.FieldStatus, `"draft"`, "unknown"},
		{"ErrOversized", "multi", `"` + strings.Repeat("a", form.MaxValueBytes) + `"`, "size"},
		{"ErrOversizedFiles", "file", `[` + strings.Repeat(" ", form.MaxValueBytes) + `]`, "size"},
		// Under the limit as given, over it once escaped.
		{"ErrOversizedCanonical", "plain", `"` + strings.Repeat("<", form.MaxValueBytes/6+1) + `"`, "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tpl.Check(form.Values{tt.field: json.RawMessage(tt.in)})
			if err == nil {
				t.Fatalf("Check(%.80s) = %.80s, want an error", tt.in, out[tt.field])
			}
			if out != nil {
				t.Errorf("Check returned values with its error")
			}
			if !errors.Is(err, form.ErrInvalidValue) {
				t.Errorf("errors.Is(%v, ErrInvalidValue) = false", err)
			}
			var ve *form.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError", err)
			}
			if ve.Template != (form.TemplateKey{ID: "v", Version: 2}) {
				t.Errorf("Template = %v", ve.Template)
			}
			fe, ok := ve.For(tt.field)
			if !ok {
				t.Fatalf("For(%q): no error in %v", tt.field, err)
			}
			if fe.Rule != tt.rule {
				t.Errorf("Rule = %q, want %q (%v)", fe.Rule, tt.rule, fe)
			}
			if !strings.HasPrefix(fe.Error(), `field "`+tt.field+`": `) || !strings.Contains(err.Error(), "template v@2: ") {
				t.Errorf("message %.200q does not say where", err)
			}
		})
	}
}

// Every bad field is reported, in template order, and nothing is returned.
func TestCheckReportsAllErrors(t *testing.T) {
	tpl := mustParse(t, []byte(valuesTemplate))
	_, err := tpl.Check(form.Values{
		"zzz":  json.RawMessage(`1`),
		"geo":  json.RawMessage(`1`),
		"text": json.RawMessage(`1`),
		"int":  json.RawMessage(`7`),
		"dec":  json.RawMessage(`100`),
	})
	var ve *form.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, f := range ve.Fields {
		got = append(got, f.Field+":"+f.Rule)
	}
	if want := "text:type dec:max geo:type zzz:unknown"; strings.Join(got, " ") != want {
		t.Errorf("errors = %v, want %s", got, want)
	}
	if _, ok := ve.For("int"); ok {
		t.Errorf("For(int) found an error for a valid value")
	}
}

func TestCheckEmpty(t *testing.T) {
	tpl := mustParse(t, []byte(valuesTemplate))
	out, err := tpl.Check(nil)
	if err != nil || len(out) != 0 || out == nil {
		t.Errorf("Check(nil) = %v, %v", out, err)
	}
	// A Go nil value clears the field, like JSON null.
	out, err = tpl.Check(form.Values{"int": nil, "mc": json.RawMessage(" ")})
	if err != nil || string(out["int"]) != "null" || string(out["mc"]) != "null" {
		t.Errorf("Check(nil values) = %s %s, %v", out["int"], out["mc"], err)
	}
}

const completeTemplate = `{"id":"c","version":1,"name":"Complete","fields":[
 {"id":"intro","type":"note","label":"Intro"},
 {"id":"name","type":"text","label":"Name","required":true},
 {"id":"hazard","type":"yesno","label":"Hazard?","required":true},
 {"id":"kind","type":"choice","label":"Kind","required":true,"show_if":{"field":"hazard","equals":true},
  "options":[{"value":"fire","label":"Fire"},{"value":"chem","label":"Chemical"},{"value":"other","label":"Other"}]},
 {"id":"chem_name","type":"text","label":"Chemical","required":true,"show_if":{"field":"kind","in":["chem","other"]}},
 {"id":"msds","type":"file","label":"Data sheet","required":true,"show_if":{"field":"chem_name","not_empty":true}},
 {"id":"ppe","type":"multichoice","label":"PPE","required":true,
  "options":[{"value":"gloves","label":"Gloves"},{"value":"mask","label":"Mask"}]},
 {"id":"mask_fit","type":"date","label":"Mask fit test","required":true,"show_if":{"field":"ppe","equals":"mask"}},
 {"id":"count","type":"integer","label":"Count"},
 {"id":"extra","type":"text","label":"Extra","required":true,"show_if":{"field":"count","in":[2,3]}}
]}`

func TestCheckComplete(t *testing.T) {
	tpl := mustParse(t, []byte(completeTemplate))
	base := `"name":"Ann","ppe":["gloves"]`
	tests := []struct {
		name    string
		values  string
		missing string // the required fields reported, in order
	}{
		{"ErrNothing", `{}`, "name hazard ppe"},
		{"ErrEmptyValues", `{"name":"","hazard":null,"ppe":[]}`, "name hazard ppe"},
		{"OK", `{` + base + `,"hazard":false}`, ""},
		{"ErrShownChild", `{` + base + `,"hazard":true}`, "kind"},
		{"OKHiddenRequired", `{` + base + `,"hazard":false,"kind":null}`, ""},
		{"ErrChainLevel2", `{` + base + `,"hazard":true,"kind":"chem"}`, "chem_name"},
		{"OKChainOtherOption", `{` + base + `,"hazard":true,"kind":"fire"}`, ""},
		{"ErrChainLevel3", `{` + base + `,"hazard":true,"kind":"other","chem_name":"HCl"}`, "msds"},
		{"OKChainComplete", `{` + base + `,"hazard":true,"kind":"other","chem_name":"HCl","msds":[` + att("application/pdf") + `]}`, ""},
		// kind and chem_name still hold answers, but hazard=false hides kind, which hides
		// chem_name, which hides msds.
		{"OKHiddenParentHidesChain", `{` + base + `,"hazard":false,"kind":"chem","chem_name":"HCl"}`, ""},
		{"OKHiddenParentUnanswered", `{` + base + `,"kind":"chem","chem_name":"HCl","hazard":false}`, ""},
		{"ErrMultichoiceEquals", `{"name":"Ann","hazard":false,"ppe":["mask","gloves"]}`, "mask_fit"},
		{"OKMultichoiceEquals", `{"name":"Ann","hazard":false,"ppe":["mask"],"mask_fit":"2026-01-05"}`, ""},
		{"ErrInNumber", `{` + base + `,"hazard":false,"count":3}`, "extra"},
		{"OKInNumberOther", `{` + base + `,"hazard":false,"count":4}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var values form.Values
			if err := json.Unmarshal([]byte(tt.values), &values); err != nil {
				t.Fatal(err)
			}
			err := tpl.CheckComplete(values)
			if tt.missing == "" {
				if err != nil {
					t.Fatalf("CheckComplete = %v", err)
				}
				return
			}
			if !errors.Is(err, form.ErrInvalidValue) {
				t.Fatalf("CheckComplete = %v, want ErrInvalidValue", err)
			}
			ve := err.(*form.ValidationError)
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
				if f.Rule != "required" {
					t.Errorf("%s: Rule = %q, want required", f.Field, f.Rule)
				}
				if !strings.Contains(f.Error(), "is required") {
					t.Errorf("message %q", f.Error())
				}
			}
			if strings.Join(got, " ") != tt.missing {
				t.Errorf("missing %v, want %s", got, tt.missing)
			}
			if fe, ok := ve.For(got[0]); !ok || fe.Field != got[0] {
				t.Errorf("For(%s) = %v, %v", got[0], fe, ok)
			}
		})
	}
}

func TestVisible(t *testing.T) {
	tpl := mustParse(t, []byte(completeTemplate))
	values := form.Values{"hazard": json.RawMessage(`true`), "kind": json.RawMessage(`"chem"`), "chem_name": json.RawMessage(`"x"`)}
	for id, want := range map[string]bool{"intro": true, "name": true, "kind": true, "chem_name": true, "msds": true, "mask_fit": false, "nope": false} {
		if got := tpl.Visible(id, values); got != want {
			t.Errorf("Visible(%s) = %v", id, got)
		}
	}
	values["hazard"] = json.RawMessage(`false`)
	for _, id := range []string{"kind", "chem_name", "msds"} {
		if tpl.Visible(id, values) {
			t.Errorf("Visible(%s) with hazard=false", id)
		}
	}
	// A value that is not valid for the field never satisfies a condition.
	if tpl.Visible("kind", form.Values{"hazard": json.RawMessage(`"true"`)}) {
		t.Errorf("Visible with a malformed controlling value")
	}
}

func TestRecordTitleAndDisplay(t *testing.T) {
	tpl := mustParse(t, []byte(fullTemplate))
	v := form.Values{"code": json.RawMessage(`"AB-1"`), "when": json.RawMessage(`"2026-01-02T03:04:05Z"`)}
	if got := tpl.RecordTitle(v); got != "AB-1 · 2026-01-02T03:04:05Z" {
		t.Errorf("RecordTitle = %q", got)
	}
	if got := tpl.RecordTitle(form.Values{"when": json.RawMessage(`"x"`)}); got != "x" {
		t.Errorf("RecordTitle with a missing part = %q", got)
	}
	for raw, want := range map[string]string{
		`null`: "", `""`: "", `[]`: "", `true`: "yes", `false`: "no", `1.5`: "1.5", `12345678`: "12345678",
		`"x"`: "x", `["a","b"]`: "a, b", `{"lat":1,"lon":2,"accuracy":3}`: "1.000000, 2.000000 (±3m)",
		att("image/png"): "signature " + sha[:12], `[` + att("image/png") + `]`: sha[:12],
		`[{"sha256":"` + sha + `","size":1,"type":"a/b","name":"n.txt"}]`: "n.txt",
	} {
		if got := form.DisplayValue(json.RawMessage(raw)); got != want {
			t.Errorf("DisplayValue(%s) = %q, want %q", raw, got, want)
		}
	}
}
