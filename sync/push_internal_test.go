package sync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// TestPushBodyIsJSONMarshal: the push body written from records' canonical bytes is
// byte for byte what json.Marshal writes for the same wire.PushRequest.
func TestPushBodyIsJSONMarshal(t *testing.T) {
	st := form.Stamp{HLC: form.NewHLC(1_700_000_000_000, 1), Device: "dev-1"}
	rec := func(i int, fields map[string]form.FieldValue) form.Record {
		return form.Record{ID: fmt.Sprintf("0190a5b2-7c3d-7e4f-8a1b-%012x", i), Template: "inspection", Version: 1 + i%3,
			Created: st, CreatedBy: "ann", Fields: fields}
	}
	many := make([]form.Record, 50)
	for i := range many {
		many[i] = rec(i, map[string]form.FieldValue{"site": {Value: json.RawMessage(fmt.Sprintf(`"S <%d> & é"`, i)), Stamp: st},
			"score": {Value: json.RawMessage(fmt.Sprint(i)), Stamp: st}})
	}
	tests := []struct {
		name          string
		recs          []form.Record
		author, devID string
	}{
		{"one", many[:1], "ann", "dev-2"},
		{"many", many, "bob", "dev-3"},
		{"no fields", []form.Record{rec(7, nil), rec(8, map[string]form.FieldValue{})}, "", ""},
		{"escapes in author", many[:3], `a"<b>&`, "dév\\ice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body pushBody
			var req wire.PushRequest
			for _, r := range tt.recs {
				canon := r.Encode()
				cid := form.NewID()
				if err := body.add(canon, cid, tt.author, tt.devID); err != nil {
					t.Fatal(err)
				}
				dec, err := form.DecodeRecord(canon)
				if err != nil {
					t.Fatal(err)
				}
				req.Changes = append(req.Changes, wire.PushChange{Change: form.ChangeFrom(cid, dec, tt.author, tt.devID)})
			}
			if body.n != len(tt.recs) {
				t.Fatalf("%d changes written, want %d", body.n, len(tt.recs))
			}
			got := body.finish()
			want, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("body differs from json.Marshal:\n got %s\nwant %s", got, want)
			}
			if body.n != 0 || body.buf != nil {
				t.Fatal("finish left the writer full")
			}
		})
	}
	// A record that is not one writes nothing and says so.
	var body pushBody
	if err := body.add([]byte(`{"id":`), "c", "a", "d"); err == nil || body.n != 0 {
		t.Fatalf("a broken record: %v, %d written", err, body.n)
	}
	if got := string(body.finish()); got != `{"changes":[]}` {
		t.Fatalf("body after a refused record: %s", got)
	}
}
