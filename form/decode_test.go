package form

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
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
