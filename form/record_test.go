package form_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/google/uuid"
)

const (
	stampA = `{"t":"019b76daa87b0000","d":"dev-1"}`
	stampB = `{"t":"019b76daa87b0003","d":"dev-2"}`
)

// goodRecord is a valid encoded record; its keys are in Encode's order.
var goodRecord = `{"id":"` + recID + `","template":"site-inspection","version":1,"created":` + stampA + `,"created_by":"ann",` +
	`"fields":{"_deleted":{"v":false,"s":` + stampB + `},"_status":{"v":"submitted","s":` + stampB + `},` +
	`"notes":{"v":"a \u003cb\u003e","s":` + stampA + `},"site_code":{"v":"AB-123","s":` + stampB + `}}}`

// edit returns goodRecord decoded into a map, changed by f, encoded again.
func edit(t *testing.T, base string, f func(m map[string]any)) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fieldsOf(m map[string]any) map[string]any { return m["fields"].(map[string]any) }

func TestDecodeRecordOK(t *testing.T) {
	r, err := form.DecodeRecord([]byte(goodRecord))
	if err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	if enc := r.Encode(); string(enc) != goodRecord {
		t.Errorf("Encode differs from the canonical input:\n got %s\nwant %s", enc, goodRecord)
	}
	if r.Status() != form.StatusSubmitted || r.Deleted() || string(r.Value("site_code")) != `"AB-123"` || r.Value("nope") != nil {
		t.Errorf("accessors: %s %v %s", r.Status(), r.Deleted(), r.Value("site_code"))
	}
	if v := r.Values(); len(v) != 2 || v["notes"] == nil || v[form.FieldStatus] != nil {
		t.Errorf("Values = %v", v)
	}
	if u := r.Updated(); u.Device != "dev-2" || u.HLC.Counter() != 3 {
		t.Errorf("Updated = %v", u)
	}
	if rev := r.Rev(); len(rev) != 32 {
		t.Errorf("Rev = %q", rev)
	}

	t.Run("OKWhiteSpaceAndOrder", func(t *testing.T) {
		// Another key order, white space inside values, escapes: the same record.
		messy := `{ "fields": {"site_code": {"s": ` + stampB + `, "v": "AB-123"},
			"notes": {"v": "a <b>", "s": ` + stampA + `},
			"_status": {"v": "submitted", "s": ` + stampB + `}, "_deleted": {"v": false, "s": ` + stampB + `}},
			"created_by": "ann", "created": {"d": "dev-1", "t": "019B76DAA87B0000"},
			"version": 1, "template": "site-inspection", "id": "` + recID + `" }` + "\n"
		m, err := form.DecodeRecord([]byte(messy))
		if err != nil {
			t.Fatalf("DecodeRecord: %v", err)
		}
		if !bytes.Equal(m.Encode(), r.Encode()) || m.Rev() != r.Rev() {
			t.Errorf("encoding differs:\n%s\n%s", m.Encode(), r.Encode())
		}
	})
	t.Run("OKCompactsValues", func(t *testing.T) {
		in := edit(t, goodRecord, func(m map[string]any) {
			fieldsOf(m)["list"] = map[string]any{"v": json.RawMessage(`[ 1, 2 ]`), "s": json.RawMessage(stampA)}
		})
		in = strings.Replace(in, `[1,2]`, "[ 1 ,\n 2 ]", 1)
		d, err := form.DecodeRecord([]byte(in))
		if err != nil || string(d.Value("list")) != `[1,2]` {
			t.Errorf("value %s, %v", d.Value("list"), err)
		}
	})
	t.Run("OKStatusDefault", func(t *testing.T) {
		d, err := form.DecodeRecord([]byte(edit(t, goodRecord, func(m map[string]any) {
			delete(fieldsOf(m), form.FieldStatus)
			fieldsOf(m)[form.FieldDeleted] = map[string]any{"v": true, "s": json.RawMessage(stampB)}
		})))
		if err != nil || d.Status() != form.StatusDraft || !d.Deleted() {
			t.Errorf("Status %s, Deleted %v, %v", d.Status(), d.Deleted(), err)
		}
	})
	t.Run("OKNoFields", func(t *testing.T) {
		a, err1 := form.DecodeRecord([]byte(edit(t, goodRecord, func(m map[string]any) { delete(m, "fields") })))
		b, err2 := form.DecodeRecord([]byte(edit(t, goodRecord, func(m map[string]any) { m["fields"] = map[string]any{} })))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !bytes.Equal(a.Encode(), b.Encode()) {
			t.Errorf("no fields and empty fields encode differently: %s, %s", a.Encode(), b.Encode())
		}
	})
}

func TestDecodeRecordErrors(t *testing.T) {
	setField := func(id string, v any) func(m map[string]any) {
		return func(m map[string]any) { fieldsOf(m)[id] = v }
	}
	value := func(v string) map[string]any {
		return map[string]any{"v": json.RawMessage(v), "s": json.RawMessage(stampA)}
	}
	tests := []struct {
		name  string
		data  string
		shape bool // errors.Is(err, ErrShape); otherwise a JSON decoding error
		msg   string
	}{
		{"ErrBadUUID", edit(t, goodRecord, func(m map[string]any) { m["id"] = "not-a-uuid" }), true, `record id "not-a-uuid" is not a UUID`},
		{"ErrUpperCaseUUID", edit(t, goodRecord, func(m map[string]any) { m["id"] = strings.ToUpper(recID) }), true, "is not a UUID"},
		{"ErrBracedUUID", edit(t, goodRecord, func(m map[string]any) { m["id"] = "{" + recID + "}" }), true, "is not a UUID"},
		{"ErrNoID", edit(t, goodRecord, func(m map[string]any) { delete(m, "id") }), true, `record id "" is not a UUID`},
		{"ErrBadTemplateID", edit(t, goodRecord, func(m map[string]any) { m["template"] = "Site Inspection" }), true, `template id "Site Inspection" is malformed`},
		{"ErrVersion", edit(t, goodRecord, func(m map[string]any) { m["version"] = 0 }), true, "template version 0"},
		{"ErrZeroCreated", edit(t, goodRecord, func(m map[string]any) { m["created"] = map[string]any{"t": "0000000000000000", "d": "dev-1"} }), true, "creation stamp"},
		{"ErrNoCreated", edit(t, goodRecord, func(m map[string]any) { delete(m, "created") }), true, "creation stamp"},
		{"ErrCreatedDevice", edit(t, goodRecord, func(m map[string]any) { m["created"] = map[string]any{"t": "019b76daa87b0000", "d": "dev 1"} }), true, "creation stamp"},
		{"ErrCreatedBy", edit(t, goodRecord, func(m map[string]any) { m["created_by"] = strings.Repeat("a", 257) }), true, "created_by is too long"},
		{"ErrZeroFieldStamp", edit(t, goodRecord, setField("notes", map[string]any{"v": "x", "s": map[string]any{"t": "0000000000000000", "d": "dev-1"}})), true, `field "notes": stamp`},
		{"ErrNoFieldStamp", edit(t, goodRecord, setField("notes", map[string]any{"v": "x"})), true, `field "notes": stamp`},
		{"ErrFieldDevice", edit(t, goodRecord, setField("notes", map[string]any{"v": "x", "s": map[string]any{"t": "019b76daa87b0000", "d": strings.Repeat("d", 65)}})), true, "stamp is missing or malformed"},
		{"ErrNoValue", edit(t, goodRecord, setField("notes", map[string]any{"s": json.RawMessage(stampA)})), true, "value is not JSON"},
		{"ErrBigValue", edit(t, goodRecord, setField("notes", value(`"`+strings.Repeat("a", form.MaxValueBytes)+`"`))), true, "value is not JSON of at most"},
		// Under the limit as sent, over it as Encode writes it.
		{"ErrBigValueEscaped", strings.Replace(goodRecord, `"a \u003cb\u003e"`, `"`+strings.Repeat("<", form.MaxValueBytes/6+1)+`"`, 1), true, "value is not JSON of at most"},
		{"ErrFieldID", edit(t, goodRecord, setField("my notes", value(`1`))), true, `field key "my notes" is malformed`},
		{"ErrFieldKeyInstance", edit(t, goodRecord, setField("notes[x]/a", value(`1`))), true, `field key "notes[x]/a" is malformed`},
		{"ErrFieldKeyEmptyStep", edit(t, goodRecord, setField("a//b", value(`1`))), true, `field key "a//b" is malformed`},
		{"ErrStatus", edit(t, goodRecord, setField(form.FieldStatus, value(`"done"`))), true, `_status must be "draft" or "submitted", got "done"`},
		{"ErrStatusNull", edit(t, goodRecord, setField(form.FieldStatus, value(`null`))), true, "_status must be"},
		{"ErrStatusNumber", edit(t, goodRecord, setField(form.FieldStatus, value(`1`))), true, "_status must be"},
		{"ErrDeletedString", edit(t, goodRecord, setField(form.FieldDeleted, value(`"true"`))), true, `_deleted must be true or false, got "true"`},
		{"ErrDeletedNull", edit(t, goodRecord, setField(form.FieldDeleted, value(`null`))), true, "_deleted must be true or false"},
		{"ErrDeletedNumber", edit(t, goodRecord, setField(form.FieldDeleted, value(`1`))), true, "_deleted must be true or false"},
		{"ErrTooManyFields", edit(t, goodRecord, func(m map[string]any) {
			for i := range form.MaxRecordKeys + 1 {
				fieldsOf(m)["f"+itoa(i)] = value(`1`)
			}
		}), true, "over the limit"},

		{"ErrUnknownKey", edit(t, goodRecord, func(m map[string]any) { m["owner"] = "x" }), false, `unknown field "owner"`},
		{"ErrUnknownFieldKey", edit(t, goodRecord, setField("notes", map[string]any{"v": 1, "s": json.RawMessage(stampA), "x": 1})), false, `unknown field "x"`},
		{"ErrUnknownStampKey", edit(t, goodRecord, func(m map[string]any) { m["created"] = map[string]any{"t": "019b76daa87b0000", "d": "dev-1", "z": 0} }), false, `unknown field "z"`},
		{"ErrTrailingData", goodRecord + ` {}`, false, "unexpected data after the value"},
		{"ErrTrailingBrace", goodRecord + `}`, false, "unexpected data after the value"},
		{"ErrTrailingBracket", goodRecord + ` ]`, false, "unexpected data after the value"},
		{"ErrTrailingGarbage", goodRecord + `x`, false, "unexpected data after the value"},
		{"ErrHLCNumber", edit(t, goodRecord, func(m map[string]any) { m["created"] = map[string]any{"t": 12345, "d": "dev-1"} }), false, "decode record"},
		{"ErrHLCShort", edit(t, goodRecord, func(m map[string]any) { m["created"] = map[string]any{"t": "12345", "d": "dev-1"} }), false, "want 16 hex digits"},
		{"ErrVersionString", edit(t, goodRecord, func(m map[string]any) { m["version"] = "1" }), false, "decode record"},
		{"ErrNotObject", `[]`, false, "decode record"},
		{"ErrEmpty", ``, false, "decode record"},
		{"ErrNull", `null`, true, "is not a UUID"},
		{"ErrTruncated", goodRecord[:len(goodRecord)-3], false, "decode record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := form.DecodeRecord([]byte(tt.data))
			if err == nil {
				t.Fatalf("DecodeRecord succeeded: %.200s", r.Encode())
			}
			if errors.Is(err, form.ErrShape) != tt.shape {
				t.Errorf("errors.Is(%v, ErrShape) = %v, want %v", err, !tt.shape, tt.shape)
			}
			if !strings.HasPrefix(err.Error(), "decode record") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %.300q does not contain %q", err, tt.msg)
			}
			if r.ID != "" || r.Fields != nil {
				t.Errorf("DecodeRecord returned a partial record with its error")
			}
		})
	}
}

var goodChange = `{"id":"0190a5b2-7c3d-7e4f-8a1b-00000000c0de","record":"` + recID + `","template":"site-inspection","version":1,` +
	`"created":` + stampA + `,"created_by":"ann","fields":{"notes":{"v":"x","s":` + stampB + `}},"author":"bob","device":"dev-2"}`

func TestDecodeChange(t *testing.T) {
	c, err := form.DecodeChange([]byte(goodChange))
	if err != nil {
		t.Fatalf("DecodeChange: %v", err)
	}
	if b, _ := json.Marshal(c); string(b) != goodChange {
		t.Errorf("round trip:\n got %s\nwant %s", b, goodChange)
	}
	r := c.AsRecord()
	if r.ID != recID || r.Template != "site-inspection" || string(r.Value("notes")) != `"x"` {
		t.Errorf("AsRecord = %+v", r)
	}
	back := form.ChangeFrom(c.ID, r, c.Author, c.Device)
	if b1, b2 := encodeChanges([]form.Change{back}), encodeChanges([]form.Change{c}); !bytes.Equal(b1, b2) {
		t.Errorf("ChangeFrom(AsRecord) differs:\n%s\n%s", b1, b2)
	}

	tests := []struct {
		name  string
		data  string
		shape bool
		msg   string
	}{
		{"ErrID", edit(t, goodChange, func(m map[string]any) { m["id"] = "x" }), false, `id "x" is not a UUID`},
		{"ErrRecordID", edit(t, goodChange, func(m map[string]any) { m["record"] = "x" }), true, `record id "x"`},
		{"ErrTemplate", edit(t, goodChange, func(m map[string]any) { m["template"] = "" }), true, "template id"},
		{"ErrZeroStamp", edit(t, goodChange, func(m map[string]any) {
			fieldsOf(m)["notes"] = map[string]any{"v": 1, "s": map[string]any{"t": "0000000000000000", "d": "dev-2"}}
		}), true, "stamp is missing"},
		{"ErrStatus", edit(t, goodChange, func(m map[string]any) {
			fieldsOf(m)[form.FieldStatus] = map[string]any{"v": "deleted", "s": json.RawMessage(stampB)}
		}), true, "_status must be"},
		{"ErrDeleted", edit(t, goodChange, func(m map[string]any) {
			fieldsOf(m)[form.FieldDeleted] = map[string]any{"v": "yes", "s": json.RawMessage(stampB)}
		}), true, "_deleted must be true or false"},
		{"ErrDevice", edit(t, goodChange, func(m map[string]any) { m["device"] = "" }), true, "device or author is malformed"},
		{"ErrAuthor", edit(t, goodChange, func(m map[string]any) { m["author"] = strings.Repeat("a", 257) }), true, "device or author"},
		{"ErrUnknownKey", edit(t, goodChange, func(m map[string]any) { m["seq"] = 1 }), false, `unknown field "seq"`},
		{"ErrTrailingData", goodChange + `]`, false, "unexpected data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := form.DecodeChange([]byte(tt.data))
			if err == nil {
				t.Fatalf("DecodeChange succeeded")
			}
			if errors.Is(err, form.ErrShape) != tt.shape {
				t.Errorf("errors.Is(%v, ErrShape) = %v", err, !tt.shape)
			}
			if !strings.HasPrefix(err.Error(), "decode change") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for range 1000 {
		id := form.NewID()
		if !form.ValidID(id) || seen[id] {
			t.Fatalf("NewID = %q (valid %v, seen %v)", id, form.ValidID(id), seen[id])
		}
		if u := uuid.MustParse(id); u.Version() != 7 {
			t.Fatalf("NewID = %s, version %d", id, u.Version())
		}
		if id <= prev {
			t.Fatalf("NewID %s after %s: not ordered", id, prev)
		}
		seen[id], prev = true, id
	}
	for _, s := range []string{"", "x", strings.ToUpper(recID), "urn:uuid:" + recID, strings.ReplaceAll(recID, "-", "")} {
		if form.ValidID(s) {
			t.Errorf("ValidID(%q)", s)
		}
	}
	for s, ok := range map[string]bool{"dev-1": true, "": false, "a b": false, "é": false, strings.Repeat("d", 64): true, strings.Repeat("d", 65): false} {
		if form.ValidDevice(s) != ok {
			t.Errorf("ValidDevice(%q) = %v", s, !ok)
		}
	}
}

// A record encodes the same however it was put together, and its rev follows.
func TestEncodeRev(t *testing.T) {
	a := rec1(map[string]form.FieldValue{"b": fv(`1`, 1, "d"), "a": fv(`2`, 2, "d")})
	b := rec1(map[string]form.FieldValue{"a": fv(`2`, 2, "d")})
	b.Fields["b"] = fv(`1`, 1, "d")
	if !bytes.Equal(a.Encode(), b.Encode()) || a.Rev() != b.Rev() {
		t.Errorf("insertion order shows in the encoding")
	}
	if !bytes.Contains(a.Encode(), []byte(`"fields":{"a":`)) {
		t.Errorf("fields not sorted: %s", a.Encode())
	}
	b.Fields["b"] = fv(`3`, 1, "d")
	if a.Rev() == b.Rev() {
		t.Errorf("different values, same rev")
	}
}
