package form

import (
	"bytes"
	"testing"
)

// canonTemplate has a field of every type canonicalAlready reads, with rules.
const canonTemplate = `{"id":"canon","version":1,"name":"canon",` +
	`"choices":{"yn":[{"value":"yes","label":"Yes"},{"value":"no","label":"No"}]},"fields":[` +
	`{"id":"t","type":"text","label":"T"},` +
	`{"id":"tp","type":"text","pattern":"S-[0-9]{5}","min_length":7,"max_length":7,"label":"TP"},` +
	`{"id":"ml","type":"multiline","max_length":5,"label":"ML"},` +
	`{"id":"bc","type":"barcode","label":"BC"},` +
	`{"id":"i","type":"integer","min":-5,"max":1000,"label":"I"},` +
	`{"id":"iu","type":"integer","label":"IU"},` +
	`{"id":"d","type":"decimal","min":0,"max":150.5,"label":"D"},` +
	`{"id":"du","type":"decimal","label":"DU"},` +
	`{"id":"dt","type":"date","min":"2000-01-01","label":"DT"},` +
	`{"id":"du2","type":"date","label":"DU2"},` +
	`{"id":"c","type":"choice","options":[{"value":"low","label":"Low"},{"value":"a<b","label":"AB"}],"label":"C"},` +
	`{"id":"cl","type":"choice","list":"yn","label":"CL"},` +
	`{"id":"y","type":"yesno","label":"Y"},` +
	`{"id":"ts","type":"datetime","min":"2000-01-01T00:00:00Z","label":"TS"},` +
	`{"id":"tsu","type":"datetime","label":"TSU"}]}`

// canonicalAgree fails unless canonical (with its fast path) and canonicalSlow give
// the same value, or the same error, for raw in every field of canonTemplate.
func canonicalAgree(t *testing.T, tpl *Template, raw []byte) {
	t.Helper()
	for _, f := range tpl.Fields {
		fast, ferr := f.canonical(raw)
		slow, serr := f.canonicalSlow(raw)
		if !bytes.Equal(fast, slow) || (ferr == nil) != (serr == nil) || ferr != nil && ferr.Error() != serr.Error() {
			t.Fatalf("field %s, value %q: canonical %q %v, slow path %q %v", f.ID, raw, fast, ferr, slow, serr)
		}
		if v, ok := f.canonicalAlready(raw); ok && (serr != nil || !bytes.Equal(v, raw)) {
			t.Fatalf("field %s, value %q: the fast path took a value the slow path gives as %q %v", f.ID, raw, slow, serr)
		}
	}
}

var canonSeeds = []string{
	`"plain text"`, `""`, `"S-09671"`, `"S-0967"`, `"S-0967x"`, `"abcde"`, `"abcdef"`, `"a<b"`, `"a\u003cb"`, `"é"`, `"a\nb"`, `"a\"b"`,
	`0`, `-0`, `1`, `-5`, `-6`, `1000`, `1001`, `007`, `1.0`, `1e3`, `123456789012345678901`, `-`, `+1`, `1 `, ` 1`,
	`0.5`, `150.5`, `150.50`, `150.6`, `738.23`, `62.9`, `1e-7`, `1e21`, `1E2`, `-0.0`, `0.1e1`, `1e400`, `.5`,
	`"2024-01-01"`, `"1999-12-31"`, `"2024-02-29"`, `"2023-02-29"`, `"2024-04-31"`, `"2024-13-01"`, `"2024-00-10"`, `"0000-01-01"`, `"2024-1-01"`, `"2024-01-01T00:00:00Z"`,
	`"2024-01-01T00:18:55.387Z"`, `"2024-01-01T00:18:55.380Z"`, `"2024-01-01T00:18:55Z"`, `"2024-01-01T00:18:55+02:00"`, `"2024-01-01T00:18:55+00:00"`,
	`"1999-01-01T00:00:00Z"`, `"2024-01-01t00:18:55z"`, `"2024-01-01T24:00:00Z"`, `"2024-01-01T00:18:55.000000001-00:30"`, `"2024-01-01 00:18:55Z"`,
	`"low"`, `"high"`, `"yes"`, `"no"`, `"Yes"`,
	`true`, `false`, `null`, `tru`, `[1]`, `{}`, `"x`,
}

func TestCanonicalFastPathAgrees(t *testing.T) {
	tpl, err := ParseTemplate([]byte(canonTemplate))
	if err != nil {
		t.Fatal(err)
	}
	took := 0
	for _, s := range canonSeeds {
		canonicalAgree(t, tpl, []byte(s))
		for _, f := range tpl.Fields {
			if _, ok := f.canonicalAlready([]byte(s)); ok {
				took++
			}
		}
	}
	if took < 20 {
		t.Fatalf("the fast path took %d values; the seeds are meant to exercise it", took)
	}
}

// FuzzCanonicalFastPath: the fast path for values already canonical gives what the
// full check gives, errors included.
func FuzzCanonicalFastPath(f *testing.F) {
	for _, s := range canonSeeds {
		f.Add([]byte(s))
	}
	tpl, err := ParseTemplate([]byte(canonTemplate))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) { canonicalAgree(t, tpl, raw) })
}
