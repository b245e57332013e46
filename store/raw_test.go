package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

// TestCanonicalMany: records in either stored layout come back as their canonical
// bytes, in the order asked, missing IDs left out; the bytes stay good after the
// replica's pages are given back and after the file changes; a damaged value is
// refused with ErrCorrupt naming the record.
func TestCanonicalMany(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	corpus := recordCorpus(t)
	var recs []form.Record
	want := map[string][]byte{}
	old := map[string][]byte{}
	for i, name := range []string{"bench-0.json", "bench-1.json", "unicode-escapes.json", "attachment-tombstone.json"} {
		r, err := form.DecodeRecord(corpus[name])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		want[r.ID] = corpus[name]
		if i%2 == 1 {
			old[r.ID] = corpus[name] // the layout of schema 2 and earlier
		}
	}
	putRaw(t, s, recs, old)
	const missing = "01900000-0000-7000-8000-00000000dead"
	ids := []string{recs[3].ID, missing, recs[0].ID, recs[1].ID, recs[2].ID}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"all, one missing", ids, []string{recs[3].ID, recs[0].ID, recs[1].ID, recs[2].ID}},
		{"old layout only", []string{recs[1].ID}, []string{recs[1].ID}},
		{"none", nil, nil},
		{"only missing", []string{missing}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.CanonicalMany(ctx, tt.ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d records, want %d", len(got), len(tt.want))
			}
			if err := s.ReleaseMapped(); err != nil {
				t.Fatal(err)
			}
			// Rewriting the records after the read leaves the bytes read as they were.
			putRaw(t, s, recs, nil)
			for i, c := range got {
				if c.ID != tt.want[i] || !bytes.Equal(c.Bytes, want[c.ID]) {
					t.Fatalf("record %d: %s, %d bytes; want %s as stored", i, c.ID, len(c.Bytes), tt.want[i])
				}
			}
			putRaw(t, s, recs, old)
		})
	}
	// Damage: one flipped byte in a stored value is refused, naming the record.
	for _, id := range []string{recs[0].ID, recs[1].ID} {
		v := storedRaw(t, s, id)
		v[len(v)/2] ^= 0x20
		putRaw(t, s, nil, map[string][]byte{id: v})
		_, err := s.CanonicalMany(ctx, ids)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), id) || strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("damaged %s: %v; want one line naming it, matching ErrCorrupt", id, err)
		}
		putRaw(t, s, recs, old)
	}
}
