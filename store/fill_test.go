package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// peerRecords makes n records of the test template as another device made them, in
// the order of their IDs (UUIDv7: creation order), with notes of random words.
func peerRecords(n int, rng *rand.Rand) []form.Record {
	words := strings.Fields("valve pump corrosion inspection leak north gasket alarm vibration sensor seal bolt filter reading")
	now := time.Now().UnixMilli()
	recs := make([]form.Record, n)
	for i := range recs {
		var notes []string
		for range 120 {
			notes = append(notes, words[rng.IntN(len(words))])
		}
		st := form.Stamp{HLC: form.NewHLC(now-int64(n-i), 0), Device: "dev-peer"}
		v := func(x any) form.FieldValue {
			b, _ := json.Marshal(x)
			return form.FieldValue{Value: b, Stamp: st}
		}
		recs[i] = form.Record{ID: form.NewID(), Template: "inspection", Version: 1, Created: st, CreatedBy: "ana",
			Fields: map[string]form.FieldValue{
				"site_code": v(fmt.Sprintf("S-%05d", rng.IntN(100000))),
				"inspector": v("Ana Lima"),
				"notes":     v(strings.Join(notes, " ")),
				"ok":        v(true),
			}}
	}
	return recs
}

// Records that arrive in key order fill their pages: the buckets whose keys only grow
// (feed, documents) to the brim, records and their metadata to 90 %, instead of the
// half-full pages bbolt leaves by default.
func TestBucketFillFollowsKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpenDir(t, dir)
	recs := peerRecords(1500, rand.New(rand.NewPCG(3, 4)))
	for i := 0; i < len(recs); i += 500 {
		res, err := s.ApplyRecords(ctx, recs[i:i+500], "sync")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != store.Applied {
				t.Fatalf("%s: %s %v", r.ID, r.Status, r.Err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]float64{"records": 75, "recmeta": 75, "feed": 90, "docs": 90}
	if err := db.View(func(tx *bolt.Tx) error {
		for name, min := range want {
			st := tx.Bucket([]byte(name)).Stats()
			pages := st.BranchPageN + st.BranchOverflowN + st.LeafPageN + st.LeafOverflowN
			fill := 100 * float64(st.BranchInuse+st.LeafInuse) / float64(pages*db.Info().PageSize)
			t.Logf("%s: %d pages, %.0f %% full", name, pages, fill)
			if fill < min {
				t.Errorf("%s: pages %.0f %% full, want at least %.0f %%", name, fill, min)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A pull page out of key order is written in key order; the results keep the page's
// order, and a record sent twice merges both copies in the order sent.
func TestApplyRecordsOutOfKeyOrder(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	recs := peerRecords(6, rand.New(rand.NewPCG(5, 6)))
	var batch []form.Record
	for i := len(recs) - 1; i >= 0; i-- {
		batch = append(batch, recs[i])
	}
	later := recs[2].Clone()
	st := form.Stamp{HLC: recs[2].Updated().HLC + 1, Device: "dev-peer"}
	later.Fields["inspector"] = form.FieldValue{Value: json.RawMessage(`"Bea Costa"`), Stamp: st}
	batch = append(batch, later)
	res, err := s.ApplyRecords(ctx, batch, "sync")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.ID != batch[i].ID || r.Status != store.Applied {
			t.Errorf("result %d: %s %s %v, want %s applied", i, r.ID, r.Status, r.Err, batch[i].ID)
		}
	}
	got, err := s.Get(ctx, recs[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if v := string(got.Fields["inspector"].Value); v != `"Bea Costa"` {
		t.Errorf("record sent twice holds inspector %s, want the later copy's", v)
	}
	for _, r := range recs {
		if got, err := s.Get(ctx, r.ID); err != nil || (r.ID != recs[2].ID && got.Rev() != r.Rev()) {
			t.Errorf("record %s: %v", r.ID, err)
		}
	}
}
