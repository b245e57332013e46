package form_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

func TestParseTemplateErrors(t *testing.T) {
	const text = `{"id":"a","type":"text","label":"A"}`
	deep := strings.Repeat("(", 999) + "a" + strings.Repeat(")", 999)
	tests := []struct {
		name  string
		data  string
		field string
		rule  string
		msg   string
	}{
		{"ErrMalformedJSON", "{\n  \"id\": \"t\",\n  \"version\": 1,\n  \"name\": }", "", "json", "malformed JSON at line 4, column 11"},
		{"ErrTruncatedJSON", `{"id":"t","version":1,`, "", "json", "malformed JSON"},
		{"ErrEmptyInput", ``, "", "json", "malformed JSON"},
		{"ErrWrongJSONType", "{\"id\":\"t\",\n\"version\":\"1\"}", "", "json", "version at line 2, column 14: expected int, got JSON string"},
		{"ErrNotAnObject", `[1,2]`, "", "json", "expected form.Template"},
		{"ErrUnknownKey", string(tmpl(`{"id":"a","type":"text","label":"A","requird":true}`)), "", "json", `unknown field "requird"`},
		{"ErrUnknownTopKey", `{"id":"t","version":1,"name":"T","feilds":[]}`, "", "json", `unknown field "feilds"`},
		{"ErrTrailingData", string(tmpl(text)) + ` {}`, "", "json", "unexpected data after the template object"},
		{"ErrTrailingBrace", string(tmpl(text)) + `}`, "", "json", "unexpected data after the template object"},
		{"ErrTrailingBracket", string(tmpl(text)) + "\n]", "", "json", "unexpected data after the template object"},
		{"ErrTooBig", string(tmpl(text)) + strings.Repeat(" ", form.MaxTemplateBytes), "", "size", "over the limit"},

		{"ErrTemplateID", `{"id":"Site Inspection","version":1,"name":"T","fields":[` + text + `]}`, "", "id", `id "Site Inspection" must be`},
		{"ErrTemplateIDEmpty", `{"version":1,"name":"T","fields":[` + text + `]}`, "", "id", `id ""`},
		{"ErrTemplateIDTooLong", `{"id":"` + strings.Repeat("a", 65) + `","version":1,"name":"T","fields":[` + text + `]}`, "", "id", "1-64 characters"},
		{"ErrVersionZero", `{"id":"t","version":0,"name":"T","fields":[` + text + `]}`, "", "version", "version 0 must be 1 or more"},
		{"ErrVersionMissing", `{"id":"t","name":"T","fields":[` + text + `]}`, "", "version", "version 0"},
		{"ErrVersionNegative", `{"id":"t","version":-3,"name":"T","fields":[` + text + `]}`, "", "version", "version -3"},
		{"ErrName", `{"id":"t","version":1,"name":"  ","fields":[` + text + `]}`, "", "name", "name is required"},
		{"ErrNoFields", `{"id":"t","version":1,"name":"T","fields":[]}`, "", "fields", "at least one field"},
		{"ErrFieldsNull", `{"id":"t","version":1,"name":"T"}`, "", "fields", "at least one field"},
		{"ErrTooManyFields", `{"id":"t","version":1,"name":"T","fields":[` + manyFields(form.MaxFields+1) + `]}`, "", "fields", "over the limit"},
		{"ErrTitleUnknown", `{"id":"t","version":1,"name":"T","title":["nope"],"fields":[` + text + `]}`, "", "title", `title names unknown field "nope"`},
		{"ErrTitleNote", `{"id":"t","version":1,"name":"T","title":["n"],"fields":[{"id":"n","type":"note","label":"N"}]}`, "", "title", `title names note "n"`},
		{"ErrProcedure", `{"id":"t","version":1,"name":"T","fields":[` + text + `],"procedures":[{"name":"Manual","sha256":"ABC","size":1}]}`, "", "procedures", "procedure 1 needs"},

		{"ErrFieldIDMissing", string(tmpl(`{"type":"text","label":"A"}`)), "", "id", "field 1 has no id"},
		{"ErrFieldID", string(tmpl(`{"id":"Site code","type":"text","label":"A"}`)), "Site code", "id", "id must be"},
		{"ErrFieldIDDigit", string(tmpl(`{"id":"1st","type":"text","label":"A"}`)), "1st", "id", "id must be"},
		{"ErrFieldIDSlash", string(tmpl(`{"id":"a/b","type":"text","label":"A"}`)), "a/b", "id", "id must be"},
		{"ErrFieldIDSystem", string(tmpl(`{"id":"_status","type":"text","label":"A"}`)), "_status", "id", "kept for the record's own fields"},
		{"ErrDuplicateField", string(tmpl(text + `,{"id":"b","type":"text","label":"B"},` + text)), "a", "duplicate", "duplicate field id"},
		{"ErrUnknownType", string(tmpl(`{"id":"a","type":"textt","label":"A"}`)), "a", "type", `unknown type "textt" (known: text, multiline,`},
		{"ErrTypeMissing", string(tmpl(`{"id":"a","label":"A"}`)), "a", "type", `unknown type ""`},
		{"ErrLabel", string(tmpl(`{"id":"a","type":"text","label":" "}`)), "a", "label", "label is required"},

		{"ErrPatternOnInteger", string(tmpl(`{"id":"n","type":"integer","label":"N","pattern":"[0-9]+"}`)), "n", "pattern", "pattern does not apply to a integer field"},
		{"ErrMinOnText", string(tmpl(`{"id":"a","type":"text","label":"A","min":1}`)), "a", "min", "min does not apply to a text field"},
		{"ErrMaxOnChoice", string(tmpl(`{"id":"a","type":"choice","label":"A","max":1,"options":[{"value":"x","label":"X"}]}`)), "a", "max", "max does not apply to a choice field"},
		{"ErrMinLengthOnInteger", string(tmpl(`{"id":"n","type":"integer","label":"N","min_length":1}`)), "n", "min_length", "does not apply"},
		{"ErrMaxLengthOnDate", string(tmpl(`{"id":"d","type":"date","label":"D","max_length":10}`)), "d", "max_length", "does not apply"},
		{"ErrOptionsOnText", string(tmpl(`{"id":"a","type":"text","label":"A","options":[{"value":"x","label":"X"}]}`)), "a", "options", "options does not apply to a text field"},
		{"ErrMaxFilesOnSignature", string(tmpl(`{"id":"s","type":"signature","label":"S","max_files":2}`)), "s", "max_files", "does not apply"},
		{"ErrRequiredOnNote", string(tmpl(`{"id":"n","type":"note","label":"N","required":true}`)), "n", "required", "required does not apply to a note field"},

		{"ErrPatternInvalid", string(tmpl(`{"id":"site_code","type":"text","label":"Site","pattern":"["}`)), "site_code", "pattern", `pattern "[": missing closing ]`},
		{"ErrPatternInjection", string(tmpl(`{"id":"a","type":"text","label":"A","pattern":"a)|(b"}`)), "a", "pattern", "unexpected )"},
		{"ErrPatternBadRepeat", string(tmpl(`{"id":"a","type":"text","label":"A","pattern":"a{2000}"}`)), "a", "pattern", "invalid repeat count"},
		{"ErrPatternTooDeep", string(tmpl(`{"id":"a","type":"text","label":"A","pattern":"` + deep + `"}`)), "a", "pattern", "expression nests too deeply"},
		{"ErrMaxLengthZero", string(tmpl(`{"id":"a","type":"text","label":"A","max_length":0}`)), "a", "max_length", "max_length 0 must be between 1 and"},
		{"ErrMinLengthNegative", string(tmpl(`{"id":"a","type":"text","label":"A","min_length":-1}`)), "a", "min_length", "min_length -1 must be between 0 and"},
		{"ErrMinLengthOverMax", string(tmpl(`{"id":"a","type":"multiline","label":"A","min_length":10,"max_length":5}`)), "a", "min_length", "min_length 10 is greater than max_length 5"},
		{"ErrMaxFiles", string(tmpl(`{"id":"p","type":"photo","label":"P","max_files":51}`)), "p", "max_files", "max_files 51 must be between 1 and 50"},
		{"ErrMaxFilesNegative", string(tmpl(`{"id":"p","type":"file","label":"P","max_files":-1}`)), "p", "max_files", "max_files -1"},

		{"ErrOptionsMissingChoice", string(tmpl(`{"id":"c","type":"choice","label":"C"}`)), "c", "options", "a choice field needs options"},
		{"ErrOptionsMissingMultichoice", string(tmpl(`{"id":"m","type":"multichoice","label":"M"}`)), "m", "options", "a multichoice field needs options"},
		{"ErrOptionsEmpty", string(tmpl(`{"id":"c","type":"choice","label":"C","options":[]}`)), "c", "options", "needs options"},
		{"ErrOptionsDuplicate", string(tmpl(`{"id":"c","type":"choice","label":"C","options":[{"value":"x","label":"X"},{"value":"x","label":"Y"}]}`)), "c", "options", `duplicate option value "x"`},
		{"ErrOptionEmptyValue", string(tmpl(`{"id":"c","type":"multichoice","label":"C","options":[{"value":"","label":"X"}]}`)), "c", "options", "option 1 has an empty value"},
		{"ErrOptionNoLabel", string(tmpl(`{"id":"c","type":"choice","label":"C","options":[{"value":"x"}]}`)), "c", "options", `option "x" has no label`},

		{"ErrMinOverMaxInteger", string(tmpl(`{"id":"n","type":"integer","label":"N","min":10,"max":5}`)), "n", "min", "min 10 is greater than max 5"},
		{"ErrMinOverMaxDecimal", string(tmpl(`{"id":"n","type":"decimal","label":"N","min":1.5,"max":1.25}`)), "n", "min", "min 1.5 is greater than max 1.25"},
		{"ErrMinOverMaxDate", string(tmpl(`{"id":"d","type":"date","label":"D","min":"2026-02-01","max":"2026-01-31"}`)), "d", "min", `min "2026-02-01" is greater than max "2026-01-31"`},
		{"ErrMinOverMaxTime", string(tmpl(`{"id":"d","type":"time","label":"D","min":"18:00","max":"08:00"}`)), "d", "min", "is greater than max"},
		{"ErrMinOverMaxDateTime", string(tmpl(`{"id":"d","type":"datetime","label":"D","min":"2026-01-01T12:00:00+01:00","max":"2026-01-01T10:30:00Z"}`)), "d", "min", "is greater than max"},
		{"ErrMinOverMaxMultichoice", string(tmpl(`{"id":"m","type":"multichoice","label":"M","min":3,"max":2,"options":[{"value":"x","label":"X"}]}`)), "m", "min", "min 3 is greater than max 2"},
		{"ErrMinFormatInteger", string(tmpl(`{"id":"n","type":"integer","label":"N","min":"5"}`)), "n", "min", `min "5": expected a whole number`},
		{"ErrMaxFormatInteger", string(tmpl(`{"id":"n","type":"integer","label":"N","max":2.5}`)), "n", "max", "max 2.5: expected a whole number"},
		{"ErrMinFormatDecimal", string(tmpl(`{"id":"n","type":"decimal","label":"N","min":"0.5"}`)), "n", "min", "expected a number"},
		{"ErrMinFormatDate", string(tmpl(`{"id":"d","type":"date","label":"D","min":"01/02/2026"}`)), "d", "min", `"01/02/2026" is not a date as YYYY-MM-DD`},
		{"ErrMaxFormatDate", string(tmpl(`{"id":"d","type":"date","label":"D","max":20260102}`)), "d", "max", "expected a date"},
		{"ErrMaxFormatTime", string(tmpl(`{"id":"d","type":"time","label":"D","max":"25:00"}`)), "d", "max", `"25:00" is not a time`},
		{"ErrMinFormatDateTime", string(tmpl(`{"id":"d","type":"datetime","label":"D","min":"2026-01-01 10:00"}`)), "d", "min", "is not a date-time as RFC 3339"},
		{"ErrMinFormatDateTimeNoZone", string(tmpl(`{"id":"d","type":"datetime","label":"D","min":"2026-01-01T10:00:00"}`)), "d", "min", "is not a date-time"},
		{"ErrMinMultichoiceNegative", string(tmpl(`{"id":"m","type":"multichoice","label":"M","min":-1,"options":[{"value":"x","label":"X"}]}`)), "m", "min", "must not be negative"},
		{"ErrMinNull", string(tmpl(`{"id":"n","type":"integer","label":"N","min":null}`)), "n", "min", "expected a whole number"},

		{"ErrShowIfUnknownField", string(tmpl(text + `,{"id":"b","type":"text","label":"B","show_if":{"field":"nope","not_empty":true}}`)), "b", "show_if", `show_if: unknown field "nope"`},
		{"ErrShowIfLaterField", string(tmpl(`{"id":"b","type":"text","label":"B","show_if":{"field":"a","not_empty":true}},` + text)), "b", "show_if", `field "a" comes later in the form`},
		{"ErrShowIfSelf", string(tmpl(`{"id":"a","type":"text","label":"A","show_if":{"field":"a","not_empty":true}}`)), "a", "show_if", `field "a" comes later`},
		{"ErrShowIfTwoOperators", string(tmpl(text + `,{"id":"b","type":"text","label":"B","show_if":{"field":"a","equals":"x","not_empty":true}}`)), "b", "show_if", "give exactly one of equals, in, not_empty"},
		{"ErrShowIfEqualsAndIn", string(tmpl(text + `,{"id":"b","type":"text","label":"B","show_if":{"field":"a","equals":"x","in":["y"]}}`)), "b", "show_if", "give exactly one of"},
		{"ErrShowIfNoOperator", string(tmpl(text + `,{"id":"b","type":"text","label":"B","show_if":{"field":"a"}}`)), "b", "show_if", "give exactly one of"},
		{"ErrShowIfInEmpty", string(tmpl(text + `,{"id":"b","type":"text","label":"B","show_if":{"field":"a","in":[]}}`)), "b", "show_if", "in needs at least one value"},
		{"ErrShowIfOnNote", string(tmpl(`{"id":"n","type":"note","label":"N"},{"id":"b","type":"text","label":"B","show_if":{"field":"n","not_empty":true}}`)), "b", "show_if", `field "n" is a note`},
		{"ErrShowIfNotAnOption", string(tmpl(`{"id":"c","type":"choice","label":"C","options":[{"value":"x","label":"X"}]},{"id":"b","type":"text","label":"B","show_if":{"field":"c","equals":"y"}}`)), "b", "show_if", `"y" is not a valid value for "c"`},
		{"ErrShowIfNotAnOptionMultichoice", string(tmpl(`{"id":"m","type":"multichoice","label":"M","options":[{"value":"x","label":"X"}]},{"id":"b","type":"text","label":"B","show_if":{"field":"m","in":["x","y"]}}`)), "b", "show_if", `"y" is not an option of "m"`},
		{"ErrShowIfWrongType", string(tmpl(`{"id":"y","type":"yesno","label":"Y"},{"id":"b","type":"text","label":"B","show_if":{"field":"y","equals":"yes"}}`)), "b", "show_if", "is not a valid value"},
		{"ErrShowIfEqualsNull", string(tmpl(`{"id":"y","type":"yesno","label":"Y"},{"id":"b","type":"text","label":"B","show_if":{"field":"y","equals":null}}`)), "b", "show_if", "null never matches"},
		{"ErrShowIfEqualsEmptyString", string(tmpl(text + `,{"id":"b","type":"text","label":"B","show_if":{"field":"a","in":["x",""]}}`)), "b", "show_if", `"" never matches`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := form.ParseTemplate([]byte(tt.data))
			if err == nil {
				t.Fatalf("ParseTemplate succeeded: %+v", tpl)
			}
			if tpl != nil {
				t.Errorf("ParseTemplate returned a template with its error")
			}
			if !errors.Is(err, form.ErrInvalidTemplate) {
				t.Errorf("errors.Is(%v, ErrInvalidTemplate) = false", err)
			}
			var te *form.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *TemplateError", err)
			}
			if te.Field != tt.field || te.Rule != tt.rule {
				t.Errorf("Field, Rule = %q, %q; want %q, %q (%v)", te.Field, te.Rule, tt.field, tt.rule, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
			if tt.field != "" && !strings.HasPrefix(err.Error(), `field "`+tt.field+`": `) {
				t.Errorf("message %q does not start by naming the field", err)
			}
		})
	}
}

func manyFields(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":"f` + strings.Repeat("x", i%7) + itoa(i) + `","type":"text","label":"F"}`)
	}
	return b.String()
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// The message of a bad pattern is exactly what the package documentation promises.
func TestParseTemplatePatternMessage(t *testing.T) {
	_, err := form.ParseTemplate(tmpl(`{"id":"site_code","type":"text","label":"Site code","pattern":"["}`))
	const want = `field "site_code": pattern "[": missing closing ]`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v; want %s", err, want)
	}
}

const fullTemplate = `{
  "id": "full.v-1_x",
  "version": 3,
  "name": "Everything",
  "description": "one of each",
  "title": ["code", "when"],
  "fields": [
    {"id": "intro", "type": "note", "label": "Read first", "help": "notes hold no value"},
    {"id": "code", "type": "text", "label": "Code", "required": true, "min_length": 0, "max_length": 8, "pattern": "[A-Z]{2}-[0-9]+"},
    {"id": "body", "type": "multiline", "label": "Body", "min_length": 3},
    {"id": "count", "type": "integer", "label": "Count", "min": 0, "max": 1e3},
    {"id": "weight", "type": "decimal", "label": "Weight", "min": -1.5, "max": 2.50},
    {"id": "day", "type": "date", "label": "Day", "min": "2020-01-01", "max": "2030-12-31"},
    {"id": "at", "type": "time", "label": "At", "min": "06:00", "max": "20:00:30"},
    {"id": "when", "type": "datetime", "label": "When", "min": "2020-01-01T00:00:00Z"},
    {"id": "kind", "type": "choice", "label": "Kind", "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
    {"id": "tags", "type": "multichoice", "label": "Tags", "min": 1, "max": 2, "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}, {"value": "z", "label": "Z"}]},
    {"id": "ok", "type": "yesno", "label": "OK?"},
    {"id": "why", "type": "multiline", "label": "Why not?", "show_if": {"field": "ok", "equals": false}},
    {"id": "sig", "type": "signature", "label": "Signature", "show_if": {"field": "kind", "in": ["a"]}},
    {"id": "pics", "type": "photo", "label": "Photos", "max_files": 3, "show_if": {"field": "tags", "equals": "y"}},
    {"id": "docs", "type": "file", "label": "Files", "show_if": {"field": "pics", "not_empty": true}},
    {"id": "where", "type": "geolocation", "label": "Where", "show_if": {"field": "count", "in": [1, 2.0, 3e0]}}
  ],
  "procedures": [{"name": "Manual", "sha256": "` + sha + `", "size": 1024, "type": "application/pdf"}]
}`

const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseTemplateOK(t *testing.T) {
	tpl := mustParse(t, []byte(fullTemplate))
	if got := tpl.Key().String(); got != "full.v-1_x@3" {
		t.Errorf("Key = %s", got)
	}
	if len(tpl.Fields) != 16 {
		t.Errorf("%d fields", len(tpl.Fields))
	}
	f, ok := tpl.Field("tags")
	if !ok || f.Type != form.TypeMultiChoice || len(f.Options) != 3 {
		t.Errorf("Field(tags) = %+v, %v", f, ok)
	}
	if _, ok := tpl.Field("nope"); ok {
		t.Errorf("Field(nope) found")
	}
	if !form.ValidTemplateID(tpl.ID) || form.ValidTemplateID("-x") || form.ValidTemplateID("") {
		t.Errorf("ValidTemplateID")
	}

	t.Run("EncodeRoundTrip", func(t *testing.T) {
		enc := tpl.Encode()
		again := mustParse(t, enc)
		if !bytes.Equal(again.Encode(), enc) {
			t.Errorf("encode, parse, encode differs:\n%s\n%s", enc, again.Encode())
		}
		if again.Key() != tpl.Key() || len(again.Fields) != len(tpl.Fields) {
			t.Errorf("round trip lost something")
		}
		// The parsed template works like the original.
		v := form.Values{"code": []byte(`"AB-12"`), "tags": []byte(`["z","x"]`)}
		a, err1 := tpl.Check(v)
		b, err2 := again.Check(v)
		if err1 != nil || err2 != nil || string(a["tags"]) != string(b["tags"]) {
			t.Errorf("Check differs after round trip: %v %v %s %s", err1, err2, a["tags"], b["tags"])
		}
	})
}

// The whole value must match a pattern, and alternatives in it stay inside the anchor.
func TestPatternAnchored(t *testing.T) {
	tpl := mustParse(t, tmpl(`{"id":"a","type":"text","label":"A","pattern":"ab|cd"}`))
	for v, ok := range map[string]bool{`"ab"`: true, `"cd"`: true, `"abcd"`: false, `"xab"`: false, `"abx"`: false, `"cdx"`: false} {
		_, err := tpl.Check(form.Values{"a": []byte(v)})
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok = %v", v, err, ok)
		}
	}
}
