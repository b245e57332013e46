package form

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// The fast reader gives exactly what the strict decoder gives, for canonical input
// and for input it hands over to the strict decoder.
func TestFastDecodeAgreesWithStrict(t *testing.T) {
	strs := []string{"plain", "a<b>&c", `quote"back\slash`, "tab\tnew\nline", "é ü 日本", "emoji 🙂"}
	raws := []string{`"x"`, `1`, `-0.5`, `true`, `null`, `[1,2]`, `{"a":"b<"}`, `"é"`, `[]`, `"a\"b"`, `{"lat":1,"lon":2}`}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 3000; i++ {
		r := Record{ID: NewID(), Template: "tpl-a", Version: 1 + rng.IntN(5), CreatedBy: strs[rng.IntN(len(strs))],
			Created: Stamp{HLC: HLC(rng.Uint64()>>1 | 1), Device: "dev-1"}, Fields: map[string]FieldValue{}}
		for j := rng.IntN(6); j > 0; j-- {
			r.Fields[[]string{"a", "b_c", "notes", "z9"}[rng.IntN(4)]] = FieldValue{Value: json.RawMessage(raws[rng.IntN(len(raws))]),
				Stamp: Stamp{HLC: HLC(rng.Uint64()>>1 | 1), Device: "dev-2"}}
		}
		enc := r.Encode()
		fast, ferr := fastRecord(enc)
		var strict Record
		serr := strictDecode(enc, &strict)
		if serr != nil {
			t.Fatalf("strict decode of %s: %v", enc, serr)
		}
		if ferr == nil && !reflect.DeepEqual(fast, strict) {
			t.Fatalf("fast and strict differ for %s:\n%+v\n%+v", enc, fast, strict)
		}
		c := ChangeFrom(NewID(), r, strs[rng.IntN(len(strs))], "dev-3")
		cb, _ := json.Marshal(c)
		fc, ferr := fastChange(cb)
		var sc Change
		if err := strictDecode(cb, &sc); err != nil {
			t.Fatal(err)
		}
		if ferr == nil && !reflect.DeepEqual(fc, sc) {
			t.Fatalf("change: fast and strict differ for %s", cb)
		}
	}
	// Plain canonical input takes the fast path.
	r := Record{ID: NewID(), Template: "t", Version: 1, CreatedBy: "ann", Created: Stamp{HLC: 5, Device: "d"},
		Fields: map[string]FieldValue{"a": {Value: json.RawMessage(`"x"`), Stamp: Stamp{HLC: 6, Device: "d"}}}}
	if _, err := fastRecord(r.Encode()); err != nil {
		t.Fatalf("canonical record not read fast: %v", err)
	}
	// Anything else falls back: white space, other key order, unknown keys, duplicates.
	for _, in := range []string{
		` {"id":"x"}`,
		`{"template":"t","id":"x","version":1,"created":{"t":"0000000000000005","d":"d"},"created_by":"","fields":{}}`,
		`{"id":"x","template":"t","version":1,"created":{"t":"0000000000000005","d":"d"},"created_by":"","fields":{},"extra":1}`,
		`{"id":"x","template":"t","version":1,"created":{"t":"0000000000000005","d":"d"},"created_by":"","fields":{"a":{"v":1,"s":{"t":"0000000000000005","d":"d"}},"a":{"v":2,"s":{"t":"0000000000000005","d":"d"}}}}`,
		`{"id":"x","template":"t","version":1,"created":{"t":"0000000000000005","d":"d"},"created_by":"","fields":{"a":{"v":1 ,"s":{"t":"0000000000000005","d":"d"}}}}`,
		`{"id":"x","template":"t","version":01,"created":{"t":"0000000000000005","d":"d"},"created_by":"","fields":{}}`,
	} {
		if _, err := fastRecord([]byte(in)); err == nil {
			t.Errorf("fast path accepted %s", in)
		}
	}
}

// decodeAgree fails unless DecodeChange/DecodeRecord (fast scanner first, one
// validation pass) and the strict-only decoder agree on data: both refuse it, or
// both give the same value.
func decodeAgree(t *testing.T, data []byte) {
	t.Helper()
	fc, ferr := decodeChange(data, true)
	sc, serr := decodeChange(data, false)
	if (ferr == nil) != (serr == nil) || errors.Is(ferr, ErrShape) != errors.Is(serr, ErrShape) {
		t.Fatalf("change %q: fast error %v, strict error %v", data, ferr, serr)
	}
	if ferr == nil && !reflect.DeepEqual(fc, sc) {
		t.Fatalf("change %q: fast %+v, strict %+v", data, fc, sc)
	}
	fr, ferr := decodeRecord(data, true)
	sr, serr := decodeRecord(data, false)
	if (ferr == nil) != (serr == nil) || errors.Is(ferr, ErrShape) != errors.Is(serr, ErrShape) {
		t.Fatalf("record %q: fast error %v, strict error %v", data, ferr, serr)
	}
	if ferr == nil && !reflect.DeepEqual(fr, sr) {
		t.Fatalf("record %q: fast %+v, strict %+v", data, fr, sr)
	}
}

// FuzzFastDecodeChange: decoding with the fast scanner, which skips the second
// validation of values, accepts and refuses exactly what the strict decoder does.
func FuzzFastDecodeChange(f *testing.F) {
	rec := `{"id":"0190a5b2-7c3d-7e4f-8a1b-000000000001","template":"tpl-a","version":1,"created":{"t":"0000018f00000001","d":"dev-1"},"created_by":"ann",` +
		`"fields":{"a":{"v":"x","s":{"t":"0000018f00000002","d":"dev-2"}},"b":{"v":[1,{"k":"<"}],"s":{"t":"0000018f00000002","d":"dev-2"}}}}`
	chg := `{"id":"0190a5b2-7c3d-7e4f-8a1b-00000000c0de","record":"0190a5b2-7c3d-7e4f-8a1b-000000000001","template":"tpl-a","version":1,` +
		`"created":{"t":"0000018f00000001","d":"dev-1"},"created_by":"ann","fields":{"a":{"v":12.5,"s":{"t":"0000018f00000002","d":"dev-2"}}},"author":"bob","device":"dev-2"}`
	for _, s := range []string{rec, chg,
		strings.Replace(chg, `12.5`, `12.`, 1),         // not JSON, in the fast layout
		strings.Replace(chg, `12.5`, `[1,}`, 1),        // not JSON, brackets
		strings.Replace(chg, `"bob"`, "\"b\xffb\"", 1), // invalid UTF-8
		strings.Replace(chg, `12.5`, `"<\u00e9>"`, 1),  // escapes to compact
		strings.Replace(rec, `"x"`, `tru`, 1),          // a bad literal
		strings.Replace(rec, `"x"`, `"x","v":1`, 1),    // a duplicate key
		strings.Replace(chg, `12.5`, `{"a":1 }`, 1),    // white space
		strings.Replace(chg, `"a":{"v"`, `"_status":{"v"`, 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { decodeAgree(t, data) })
}
