package form_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// The seed corpora are in testdata/fuzz/<target>/; the sample templates are added
// here too, so that they are always part of the seed.

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{fullTemplate, valuesTemplate, completeTemplate, household} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"household-survey.json", "water-point-inspection.json"} {
		data, err := os.ReadFile(filepath.Join(samplesDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
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
		// The engine runs over whatever parses: a new form, its outline, its rules.
		fm := tpl.NewForm(nil, form.Context{Now: func() time.Time { return time.Unix(1e9, 0) }, User: "u", Device: "d"})
		fm.Start()
		for _, it := range fm.Items() {
			_ = fm.Relevant(it.Key)
			_ = fm.Label(it.Key)
			_ = fm.Required(it.Key)
			_ = fm.ReadOnly(it.Key)
			_ = fm.Options(it.Key)
			_, _ = fm.Problem(it.Key)
		}
		_ = fm.Check()
		_ = fm.Title()
		if _, err := tpl.Check(fm.Changes()); err != nil {
			t.Fatalf("what Start set does not pass Check: %v", err)
		}
		probe := form.Values{}
		for _, fld := range tpl.Fields {
			if !fld.HoldsValue() {
				continue
			}
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

// Values of any shape, nested or as keys, into the household form: Expand, Check and
// the engine never panic, and what the engine holds passes Check.
func FuzzFormValues(f *testing.F) {
	f.Add([]byte(`{"consent":"yes","place":{"region":"north","village":"n1"},"size":3,"adults":2,"members":[{"name":"A","age":40}],"assets":[{"kind":"cow","value":300}]}`))
	f.Add([]byte(`{"members[1]/age":"x","assets[0190a0b4-0000-7000-8000-000000000001]":true,"place/region":null}`))
	f.Add([]byte(`{"size":1000000,"head":"K"}`))
	tpl, err := form.ParseTemplate([]byte(household))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var nested form.Values
		if json.Unmarshal(data, &nested) != nil {
			return
		}
		vals, err := tpl.Expand(nested, nil)
		if err != nil {
			return
		}
		checked, err := tpl.Check(vals)
		if err != nil {
			if !errors.Is(err, form.ErrInvalidValue) {
				t.Fatalf("Check error %T %v", err, err)
			}
			return
		}
		fm := tpl.NewForm(nil, form.Context{})
		fm.Start()
		if err := fm.SetAll(checked); err != nil {
			t.Fatalf("SetAll of checked values: %v", err)
		}
		for _, it := range fm.Items() {
			_ = fm.Relevant(it.Key)
			_ = fm.Label(it.Key)
			_, _ = fm.Problem(it.Key)
		}
		_ = fm.Check()
		_ = fm.Title()
		if _, err := tpl.Check(fm.Values()); err != nil {
			t.Fatalf("the engine's values do not pass Check: %v", err)
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
