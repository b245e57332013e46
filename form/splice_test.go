package form_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

// slowChange is what AppendChangeFrom must write: the record decoded, made a
// change, and encoded by encoding/json.
func slowChange(t *testing.T, canon []byte, cid, author, device string) []byte {
	t.Helper()
	r, err := form.DecodeRecord(canon)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	b, err := json.Marshal(form.ChangeFrom(cid, r, author, device))
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func spliceRecord(id string, fields map[string]form.FieldValue) form.Record {
	return form.Record{ID: id, Template: "site-inspection", Version: 3,
		Created: form.Stamp{HLC: form.NewHLC(1_700_000_000_000, 2), Device: "dev-1"}, CreatedBy: "ann", Fields: fields}
}

func TestAppendChangeFrom(t *testing.T) {
	st := form.Stamp{HLC: form.NewHLC(1_700_000_000_123, 7), Device: "dev-2"}
	fv := func(v string) form.FieldValue { return form.FieldValue{Value: json.RawMessage(v), Stamp: st} }
	const id = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"
	odd := spliceRecord(id, map[string]form.FieldValue{"a": fv(`1`)})
	odd.CreatedBy, odd.Version = "ünïcode\x01\u2028<>", 1234567

	tests := []struct {
		name string
		rec  form.Record
	}{
		{"plain", spliceRecord(id, map[string]form.FieldValue{"site_code": fv(`"AB-123"`), "_status": fv(`"submitted"`), "_deleted": fv(`false`)})},
		{"no fields", spliceRecord(id, nil)},
		{"empty fields", spliceRecord(id, map[string]form.FieldValue{})},
		{"nested values", spliceRecord(id, map[string]form.FieldValue{"g": fv(`[{"a":[1,2,{"b":null}]},{}]`), "o": fv(`{"x":"y,}]"}`), "n": fv(`-1.5e-7`)})},
		{"escapes in values", spliceRecord(id, map[string]form.FieldValue{"notes": fv(`"a <b> & \"c\" \\ \n é 日本"`), "k_ey": fv(`"\u0041"`)})},
		{"odd head", odd},
		{"empty strings", form.Record{ID: id, Template: "t", Version: 1, Created: st, Fields: map[string]form.FieldValue{"x": fv(`""`)}}},
	}
	authors := [][2]string{{"ann", "dev-9"}, {"", ""}, {`a<b>"&`, "dév\\"}}
	for _, tt := range tests {
		for _, ad := range authors {
			t.Run(tt.name, func(t *testing.T) {
				canon := tt.rec.Encode()
				const cid = "01900000-0000-7000-8000-000000000001"
				want := slowChange(t, canon, cid, ad[0], ad[1])
				got, err := form.AppendChangeFrom([]byte("prefix"), canon, cid, ad[0], ad[1])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[6:], want) {
					t.Fatalf("splice differs from encoding/json:\n got %s\nwant %s", got, want)
				}
			})
		}
	}
}

// TestAppendChangeFromOtherLayouts: bytes that are a record but not in the canonical
// layout take the slow path and still give the change's encoding; bytes that are no
// record give an error and append nothing.
func TestAppendChangeFromOtherLayouts(t *testing.T) {
	rec := spliceRecord("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", map[string]form.FieldValue{"a": {Value: json.RawMessage(`1`), Stamp: form.Stamp{HLC: 5, Device: "d"}}})
	canon := string(rec.Encode())
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"white space", strings.Replace(canon, `"template":`, `"template": `, 1), true},
		{"keys reordered", `{"template":"site-inspection","id":"0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b","version":1,"created":{"t":"0000000000000001","d":"d"},"created_by":"","fields":{}}`, true},
		{"trailing bytes", canon + " ", true},
		{"truncated", canon[:len(canon)-3], false},
		{"empty", "", false},
		{"not json", "{\"id\":\"x\x00", false},
		{"version string", strings.Replace(canon, `"version":3`, `"version":"3"`, 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := form.AppendChangeFrom(nil, []byte(tt.in), "c", "a", "d")
			if !tt.ok {
				if err == nil || len(got) != 0 {
					t.Fatalf("want an error and nothing written, got %v and %q", err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := slowChange(t, []byte(tt.in), "c", "a", "d"); !bytes.Equal(got, want) {
				t.Fatalf("got %s\nwant %s", got, want)
			}
		})
	}
}

// FuzzAppendChangeFrom: for every input that is a record's canonical encoding, the
// splice writes exactly what encoding/json writes for the change; for any input it
// never panics, and writes a change whenever the input decodes as a record.
func FuzzAppendChangeFrom(f *testing.F) {
	f.Add([]byte(goodRecord))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := form.AppendChangeFrom(nil, data, "c", "ann", "dev-1")
		r, derr := form.DecodeRecord(data)
		if derr != nil {
			return
		}
		canon := r.Encode()
		if err != nil {
			t.Fatalf("a record that decodes gave an error: %v", err)
		}
		// The change is made from the record the canonical bytes decode to (a record
		// read from other bytes may differ in nothing but a nil or empty field map).
		rc, err := form.DecodeRecord(canon)
		if err != nil {
			t.Fatalf("the canonical encoding does not decode: %v", err)
		}
		want, merr := json.Marshal(form.ChangeFrom("c", rc, "ann", "dev-1"))
		if merr != nil {
			return
		}
		if bytes.Equal(canon, data) && !bytes.Equal(got, want) {
			t.Fatalf("splice differs from encoding/json:\n got %s\nwant %s", got, want)
		}
		// Whatever the layout, the canonical bytes of the same record splice right.
		got2, err := form.AppendChangeFrom(nil, canon, "c", "ann", "dev-1")
		if err != nil || !bytes.Equal(got2, want) {
			t.Fatalf("splice of the canonical encoding differs (%v):\n got %s\nwant %s", err, got2, want)
		}
	})
}
