package form_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

// The seed corpora are in testdata/fuzz/<target>/; the sample templates are added
// here too, so that they are always part of the seed.

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{fullTemplate, valuesTemplate, completeTemplate} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := form.ParseTemplate(data)
		if err != nil {
			var te *form.TemplateError
			if tpl != nil || !errors.Is(err, form.ErrInvalidTemplate) || !errors.As(err, &te) || te.Rule == "" {
				t.Fatalf("bad error %T %v (template %v)", err, err, tpl)
			}
			return
		}
		enc := tpl.Encode()
		if len(enc) > form.MaxTemplateBytes {
			return // HTML escaping can make the encoding longer than the input, and the limit
		}
		again, err := form.ParseTemplate(enc)
		if err != nil {
			t.Fatalf("the encoding of a valid template does not parse: %v\n%s", err, enc)
		}
		if enc2 := again.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encode, parse, encode differs:\n%s\n%s", enc, enc2)
		}
		// Using the template never panics, and its checks agree with each other.
		empty := form.Values{}
		_ = tpl.CheckComplete(empty)
		_ = tpl.RecordTitle(empty)
		probe := form.Values{}
		for _, fld := range tpl.Fields {
			_ = tpl.Visible(fld.ID, empty)
			for _, v := range []string{`null`, `""`, `"x"`, `1`, `[]`, `true`} {
				probe[fld.ID] = json.RawMessage(v)
			}
			// A value from a show_if is valid for the field it tests.
			if c := fld.ShowIf; c != nil && c.Equals != nil {
				src, ok := tpl.Field(c.Field)
				if !ok {
					t.Fatalf("show_if names %q, which Field does not find", c.Field)
				}
				if src.Type != form.TypeMultiChoice {
					if _, err := tpl.Check(form.Values{src.ID: c.Equals}); err != nil {
						t.Fatalf("show_if equals %s, which Check refuses: %v", c.Equals, err)
					}
				}
			}
		}
		for id, v := range probe {
			out, err := tpl.Check(form.Values{id: v})
			if err != nil {
				if !errors.Is(err, form.ErrInvalidValue) {
					t.Fatalf("Check error %T %v", err, err)
				}
				continue
			}
			again, err := tpl.Check(out)
			if err != nil || !bytes.Equal(again[id], out[id]) {
				t.Fatalf("canonical value %s is not a fixed point: %s, %v", out[id], again[id], err)
			}
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(goodRecord))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := form.DecodeRecord(data)
		if err != nil {
			return
		}
		enc := r.Encode()
		r2, err := form.DecodeRecord(enc)
		if err != nil {
			t.Fatalf("the encoding of a valid record does not decode: %v\n%s", err, enc)
		}
		if enc2 := r2.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("decode, encode differs:\n%s\n%s", enc, enc2)
		}
		if r.Rev() != r2.Rev() {
			t.Fatalf("rev differs")
		}
		if c := r.Clone(); !bytes.Equal(c.Encode(), enc) {
			t.Fatalf("Clone encodes differently")
		}
		// Merging with itself (idempotence) and with the decoded copy changes nothing.
		self := r.Clone()
		changed, lost, err := self.Merge(r2)
		if err != nil || len(changed) != 0 || len(lost) != 0 || !bytes.Equal(self.Encode(), enc) {
			t.Fatalf("r ⊔ r = %s, changed %v, lost %v, %v", self.Encode(), changed, lost, err)
		}
		_ = r.Status()
		_ = r.Deleted()
		_ = r.Updated()
		_ = r.Values()
	})
}

func FuzzDecodeChange(f *testing.F) {
	f.Add([]byte(goodChange))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := form.DecodeChange(data)
		if err != nil {
			return
		}
		enc, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		c2, err := form.DecodeChange(enc)
		if err != nil {
			t.Fatalf("the encoding of a valid change does not decode: %v\n%s", err, enc)
		}
		if enc2, _ := json.Marshal(c2); !bytes.Equal(enc, enc2) {
			t.Fatalf("decode, encode differs:\n%s\n%s", enc, enc2)
		}
		r := c.AsRecord()
		if _, err := form.DecodeRecord(r.Encode()); err != nil {
			t.Fatalf("the record of a valid change does not decode: %v", err)
		}
	})
}
