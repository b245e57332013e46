package store

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// The audit encoder must write what encoding/json writes: entries are verified by
// decoding and encoding again.
func TestAuditEncodeMatchesEncodingJSON(t *testing.T) {
	stamp := form.Stamp{HLC: form.NewHLC(1700000000000, 3), Device: "dev-1"}
	for _, e := range []AuditEntry{
		{},
		{Seq: 7, Time: time.Date(2026, 11, 26, 13, 0, 0, 123456789, time.UTC), Actor: "ana <a&b>", Device: "dev-1", Action: ActionEdit,
			Record: "r", Change: "c", Note: "é", Prev: "p", Hash: "h",
			Diff: []form.Diff{{Field: "a", New: json.RawMessage(`"x"`), Stamp: stamp}, {Field: "b", Old: json.RawMessage(`[1, 2]`), New: nil, Stamp: stamp}}},
		{Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Diff: []form.Diff{}},
	} {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.encode(nil); !bytes.Equal(got, want) {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	}
}
