package form

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// The fast encoder must write exactly what encoding/json writes, or revs would differ
// between code paths.
func TestEncodeMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "a<b>&c", "quote\"back\\slash", "tab\tnew\nline\r", "é ü 日本", "\u2028\u2029",
		"\x00\x1f", "invalid \xff utf8", "emoji 🙂"}
	raws := []string{`"x"`, `1`, `-0.5`, `1e+21`, `true`, `null`, `[1, 2]`, `{"a" : "b<"}`, `"é"`, `[ ]`, `"a\"b"`, `"\u00e9"`}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		r := Record{ID: strs[rng.IntN(len(strs))], Template: "t", Version: rng.IntN(5), CreatedBy: strs[rng.IntN(len(strs))],
			Created: Stamp{HLC: HLC(rng.Uint64()), Device: strs[rng.IntN(len(strs))]}}
		if rng.IntN(4) > 0 {
			r.Fields = map[string]FieldValue{}
			for j := rng.IntN(6); j > 0; j-- {
				r.Fields[strs[rng.IntN(len(strs))]] = FieldValue{Value: json.RawMessage(raws[rng.IntN(len(raws))]),
					Stamp: Stamp{HLC: HLC(rng.Uint64()), Device: strs[rng.IntN(len(strs))]}}
			}
		}
		want, err := json.Marshal(struct {
			*Record
			Fields map[string]FieldValue `json:"fields"`
		}{&r, nonNil(r.Fields)})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
	for _, f := range []float64{0, 1, -1, 1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, math.MaxFloat64, -math.SmallestNonzeroFloat64} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func nonNil(m map[string]FieldValue) map[string]FieldValue {
	if m == nil {
		return map[string]FieldValue{}
	}
	return m
}

func TestValidNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-12.5", "1e5", "1E+5", "1.0e-3", "123456789012345678901234567890"} {
		if !validNumber([]byte(s)) || !json.Valid([]byte(s)) {
			t.Errorf("%q: want valid", s)
		}
	}
	for _, s := range []string{"", "-", "01", "1.", ".5", "1e", "+1", "0x10", "1_000", "NaN", "Infinity", "1 ", "--1"} {
		if validNumber([]byte(s)) {
			t.Errorf("%q: want invalid", s)
		}
	}
}

// Titles and displays show choices by their labels.
func TestFieldDisplayUsesLabels(t *testing.T) {
	tpl, err := ParseTemplate([]byte(`{"id":"t","version":1,"name":"T","title":["kind","site"],"fields":[
		{"id":"kind","type":"choice","label":"Kind","options":[{"value":"near_miss","label":"Near miss"},{"value":"injury","label":"Injury"}]},
		{"id":"site","type":"text","label":"Site"},
		{"id":"tags","type":"multichoice","label":"Tags","options":[{"value":"a","label":"Alpha"},{"value":"b","label":"Beta"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	vals := Values{"kind": json.RawMessage(`"near_miss"`), "site": json.RawMessage(`"S-1"`), "tags": json.RawMessage(`["a","b"]`)}
	if got := tpl.RecordTitle(vals); got != "Near miss · S-1" {
		t.Errorf("title %q", got)
	}
	if got := tpl.FieldDisplay("tags", vals["tags"]); got != "Alpha, Beta" {
		t.Errorf("tags %q", got)
	}
	if got := tpl.FieldDisplay("kind", json.RawMessage(`"unknown"`)); got != "unknown" {
		t.Errorf("unknown option %q", got)
	}
}
