package store_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// TestJournalPreviousRelease opens a replica whose journal the previous release
// wrote (three saves journalled, none applied: testdata/journal-v1) and finds every
// save, searchable, its audit verifying; a push merges into them.
func TestJournalPreviousRelease(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, file := range map[string]string{"db.gz": store.DBFile, "journal.gz": store.JournalFile} {
		f, err := os.Open(filepath.Join("testdata", "journal-v1", name))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if file == store.JournalFile {
			b = append(b, make([]byte, 1<<20)...) // kept without the zeros that follow its frames
		}
		if err := os.WriteFile(filepath.Join(dir, file), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	clk := newFakeClock(clockEpoch.Add(time.Hour))
	s := openReplica(t, dir, "dev-old", clk)
	p, err := s.Search(ctx, store.Query{Text: "previous release record", Limit: 10})
	if err != nil || p.Total != 3 {
		t.Fatalf("search: %d %v, want the 3 journalled saves", p.Total, err)
	}
	rep := mustVerify(t, s)
	if rep.Records != 3 || rep.AuditEntries != 3 {
		t.Fatalf("report %+v, want 3 records and 3 audit entries", rep)
	}
	// A push onto a replayed record merges with it.
	id := p.Items[0].ID
	stamp := form.Stamp{HLC: form.NewHLC(clk.Now().UnixMilli(), 0), Device: "dev-b"}
	cur := mustGet(t, s, id)
	ch := form.Change{ID: form.NewID(), Record: id, Template: cur.Template, Version: cur.Version, Created: cur.Created,
		CreatedBy: cur.CreatedBy, Author: "bob", Device: "dev-b",
		Fields: map[string]form.FieldValue{"notes": {Value: []byte(`"merged after replay"`), Stamp: stamp}}}
	if res := mustApplyChanges(t, s, []form.Change{ch}); res[0].Status != store.Applied {
		t.Fatalf("push: %+v", res[0])
	}
	if got := mustGet(t, s, id); string(got.Value("notes")) != `"merged after replay"` {
		t.Fatalf("notes %s", got.Value("notes"))
	}
	mustVerify(t, s)
}

// TestPushJournalled: a pushed batch is acknowledged once journalled. While the
// applier is held, duplicates of it are known, a later change to the same record
// merges with its journalled state, a bad change is rejected; a crash then (the
// database without the batches, the journal with them) replays them: the same revs,
// change IDs known, one audit entry a batch, verifying.
func TestPushJournalled(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	dev := openReplica(t, t.TempDir(), "dev-a", clk)
	var ids []string
	for i := range 20 {
		clk.Advance(time.Second)
		r := mustSave(t, dev, store.Edit{Template: inspection, Author: "ana",
			Values: vals("site_code", fmt.Sprintf("S-%05d", i), "notes", fmt.Sprintf("pushed record %d", i))})
		ids = append(ids, r.ID)
	}
	first := pendingChanges(t, dev)
	clk.Advance(time.Minute)
	edit := mustSave(t, dev, store.Edit{Record: ids[3], Author: "ana", Values: vals("notes", "pushed record 3 edited")})
	all := pendingChanges(t, dev)
	second := all[len(first):]

	base := t.TempDir()
	srv := openReplica(t, base, "server", clk)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	db0 := read(filepath.Join(base, store.DBFile))
	release := store.HoldApplier()
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	bad := second[0]
	bad.ID = "not-a-uuid"
	tests := []struct {
		name  string
		batch []form.Change
		want  []string
	}{
		{"new", first, repeat(store.Applied, len(first))},
		{"again", first[:5], repeat(store.Duplicate, 5)},
		{"edit of a journalled record", append([]form.Change{bad}, second...), []string{store.Rejected, store.Applied}},
		{"edit again", second, []string{store.Duplicate}},
	}
	for _, tc := range tests {
		res := mustApplyChanges(t, srv, tc.batch)
		for i, r := range res {
			if r.Status != tc.want[i] {
				t.Fatalf("%s: result %d: %+v, want %s", tc.name, i, r, tc.want[i])
			}
		}
	}
	if err := srv.SetState(ctx, map[string][]byte{"ledger:dev-a": []byte("21")}); err != nil {
		t.Fatal(err)
	}
	journal := read(filepath.Join(base, store.JournalFile))
	released = true
	release()
	check := func(t *testing.T, s *store.Store) {
		t.Helper()
		for i, id := range ids {
			want := mustGet(t, dev, id)
			if got := mustGet(t, s, id); got.Rev() != want.Rev() {
				t.Fatalf("record %d: rev %s, want %s", i, got.Rev(), want.Rev())
			}
		}
		if got := mustGet(t, s, ids[3]); got.Rev() != edit.Rev() {
			t.Fatalf("edited record: rev %s, want %s", got.Rev(), edit.Rev())
		}
		for _, c := range all {
			if ok, err := s.HasChange(ctx, c.ID); err != nil || !ok {
				t.Fatalf("change %s not known: %v %v", c.ID, ok, err)
			}
		}
		rep := mustVerify(t, s)
		if rep.Records != len(ids) || rep.AuditEntries != 2 {
			t.Fatalf("report %+v, want %d records, 2 audit entries (one a batch)", rep, len(ids))
		}
		if h := mustHistory(t, s, ids[3]); len(h) != 2 {
			t.Fatalf("%d history entries for the edited record, want 2", len(h))
		}
		p, err := s.Search(ctx, store.Query{Text: "edited", Limit: 10})
		if err != nil || p.Total != 1 {
			t.Fatalf("search: %d %v", p.Total, err)
		}
		if v, err := s.State(ctx, "ledger:dev-a"); err != nil || string(v) != "21" {
			t.Fatalf("state %q %v, want the journalled 21", v, err)
		}
		if res := mustApplyChanges(t, s, all); res[0].Status != store.Duplicate || res[len(res)-1].Status != store.Duplicate {
			t.Fatalf("a replayed change applied again: %+v", res)
		}
	}
	check(t, srv)
	// The crash: the database as it was before the pushes, the journal with them.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, store.DBFile), db0, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, store.JournalFile), journal, 0o600); err != nil {
		t.Fatal(err)
	}
	check(t, openReplica(t, dir, "server", clk))
	// The batches' frames are compact: their records are not JSON.
	if bytes.Contains(journal, []byte(`"records":`)) {
		t.Fatal("a pushed batch's records are in the journal as JSON")
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestPushWaitsForApplier: a writer that outruns the applier waits once the journal
// holds more records than the bound, instead of holding ever more of them in memory;
// it goes on when the applier catches up.
func TestPushWaitsForApplier(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	dev := openReplica(t, t.TempDir(), "dev-a", clk)
	for i := range 30 {
		clk.Advance(time.Second)
		mustSave(t, dev, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", fmt.Sprintf("S-%05d", i))})
	}
	changes := pendingChanges(t, dev)
	srv := openReplica(t, t.TempDir(), "server", clk)
	defer store.SetMaxUnapplied(15)()
	release := store.HoldApplier()
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	// Two batches of 10 fit under the bound of 15 only up to the first: the second
	// is journalled (10 held), the third waits.
	mustApplyChanges(t, srv, changes[:10])
	mustApplyChanges(t, srv, changes[10:20])
	done := make(chan []store.Result, 1)
	go func() {
		res, err := srv.ApplyChanges(ctx, changes[20:])
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case <-done:
		t.Fatal("a batch went into the journal past the bound while the applier was held")
	case <-time.After(300 * time.Millisecond):
	}
	release()
	released = true
	res := <-done
	for _, r := range res {
		if r.Status != store.Applied {
			t.Fatalf("after the applier caught up: %+v", r)
		}
	}
	if n, err := srv.Count(ctx); err != nil || n != 30 {
		t.Fatalf("server holds %d records (%v), want 30", n, err)
	}
}

// TestCloseEmptiesLargeJournal: a journal that grew past its limit while the applier
// never caught up (a rebuild's batches) is emptied and cut back at close, so the next
// open does not read it all; every record is there after it.
func TestCloseEmptiesLargeJournal(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	dev := openReplica(t, t.TempDir(), "dev-a", clk)
	rng := rand.New(rand.NewPCG(1, 2))
	rnd := make([]byte, 4000) // hex of random bytes: about half of it stays compressed
	for i := range 3000 {
		clk.Advance(time.Second)
		for k := range rnd {
			rnd[k] = "0123456789abcdef"[rng.IntN(16)]
		}
		mustSave(t, dev, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", fmt.Sprintf("S-%05d", i), "notes", string(rnd))})
	}
	changes := pendingChanges(t, dev)
	dir := t.TempDir()
	srv := openReplica(t, dir, "server", clk)
	release := store.HoldApplier()
	for i := 0; i < len(changes); i += 100 {
		mustApplyChanges(t, srv, changes[i:min(i+100, len(changes))])
	}
	jpath := filepath.Join(dir, store.JournalFile)
	held, err := os.Stat(jpath)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if held.Size() <= 8<<20 || after.Size() > 5<<20 {
		t.Fatalf("journal: %d bytes while the applier was held, %d after close; want more than 8 MiB, then at most 5", held.Size(), after.Size())
	}
	srv = openReplica(t, dir, "", clk)
	if n, err := srv.Count(ctx); err != nil || n != len(changes) {
		t.Fatalf("after reopening: %d records (%v), want %d", n, err, len(changes))
	}
	mustVerify(t, srv)
}
