package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// TestApplyIdempotent: the same changes or records applied twice have one effect.
func TestApplyIdempotent(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	a := openReplica(t, t.TempDir(), "dev-a", clk)
	srv := openReplica(t, t.TempDir(), "server", clk)

	r := mustSave(t, a, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00100", "notes", "first")})
	clk.Advance(time.Minute)
	r = mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "second", "pressure", 3.5)})
	clk.Advance(time.Minute)
	changes := pendingChanges(t, a)
	if len(changes) != 2 {
		t.Fatalf("%d pending changes, want 2", len(changes))
	}

	t.Run("OK", func(t *testing.T) {
		res := mustApplyChanges(t, srv, changes)
		for i, x := range res {
			if x.Status != store.Applied || x.Err != nil || x.ID != changes[i].ID {
				t.Fatalf("change %d: %+v", i, x)
			}
			if ok, err := srv.HasChange(ctx, changes[i].ID); err != nil || !ok {
				t.Fatalf("HasChange %s: %v %v", changes[i].ID, ok, err)
			}
		}
		if got := mustGet(t, srv, r.ID); got.Rev() != r.Rev() {
			t.Fatalf("server rev %s, device rev %s", got.Rev(), r.Rev())
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		before := stateOf(t, srv)
		cur := mustGet(t, srv, r.ID)
		rev := cur.Rev()
		// Twice more: alone, and repeated within one batch.
		for _, batch := range [][]form.Change{changes, {changes[1], changes[0], changes[1]}} {
			res := mustApplyChanges(t, srv, batch)
			for i, x := range res {
				if x.Status != store.Duplicate || x.Err != nil {
					t.Fatalf("change %d applied again: %+v", i, x)
				}
			}
		}
		if after := stateOf(t, srv); !sameState(before, after) {
			t.Fatalf("duplicates changed the replica:\n%+v\n%+v", before, after)
		}
		if cur := mustGet(t, srv, r.ID); cur.Rev() != rev {
			t.Fatalf("rev %s, want %s", cur.Rev(), rev)
		}
		if h := mustHistory(t, srv, r.ID); len(h) != 2 {
			t.Fatalf("%d history entries, want 2: %+v", len(h), h)
		}
	})
	t.Run("DuplicateInOneBatch", func(t *testing.T) {
		other := openReplica(t, t.TempDir(), "server2", clk)
		res := mustApplyChanges(t, other, []form.Change{changes[0], changes[0], changes[1], changes[0]})
		want := []string{store.Applied, store.Duplicate, store.Applied, store.Duplicate}
		for i := range res {
			if res[i].Status != want[i] {
				t.Fatalf("result %d: %+v, want %s", i, res[i], want[i])
			}
		}
		if h := mustHistory(t, other, r.ID); len(h) != 2 {
			t.Fatalf("%d history entries, want 2", len(h))
		}
	})
	t.Run("RecordsUnchanged", func(t *testing.T) {
		dev := openReplica(t, t.TempDir(), "dev-c", clk)
		full := mustGet(t, srv, r.ID)
		for i, want := range []string{store.Applied, store.Unchanged, store.Unchanged} {
			before := stateOf(t, dev)
			res, err := dev.ApplyRecords(ctx, []form.Record{full}, "sync")
			if err != nil || res[0].Status != want {
				t.Fatalf("apply %d: %+v %v, want %s", i, res, err, want)
			}
			if i > 0 {
				if after := stateOf(t, dev); !sameState(before, after) {
					t.Fatalf("applying the same record again changed the replica:\n%+v\n%+v", before, after)
				}
			}
		}
		if got := mustGet(t, dev, r.ID); got.Rev() != r.Rev() {
			t.Fatalf("rev %s, want %s", got.Rev(), r.Rev())
		}
		// Changes already merged through a record are Unchanged, not a second effect.
		res := mustApplyChanges(t, dev, changes)
		for _, x := range res {
			if x.Status != store.Unchanged {
				t.Fatalf("%+v, want unchanged", x)
			}
		}
		// The record's whole state came in once; the older values the changes carry
		// ("first") are at most kept as lost values, never applied.
		h := mustHistory(t, dev, r.ID)
		if len(h) == 0 || h[0].Action != store.ActionApply || h[0].Note != "new record" {
			t.Fatalf("history %+v", h)
		}
		for _, e := range h[1:] {
			if e.Action != store.ActionConflict {
				t.Fatalf("second effect in history: %+v", e)
			}
		}
		if n, _ := dev.PendingCount(ctx); n != 0 {
			t.Fatalf("applied records went to the outbox: %d", n)
		}
		mustVerify(t, dev)
	})
}

// exchange pushes each store's pending changes into the other and acks them.
func exchange(t *testing.T, a, b *store.Store) {
	t.Helper()
	ctx := context.Background()
	pa, pb := mustPending(t, a), mustPending(t, b)
	for _, x := range []struct {
		to    *store.Store
		items []store.OutboxItem
		from  *store.Store
	}{{b, pa, a}, {a, pb, b}} {
		var chs []form.Change
		var seqs []uint64
		for _, it := range x.items {
			chs = append(chs, it.Change)
			seqs = append(seqs, it.Seq)
		}
		for i, r := range mustApplyChanges(t, x.to, chs) {
			if r.Status == store.Rejected {
				t.Fatalf("change %d rejected: %v", i, r.Err)
			}
		}
		if err := x.from.Ack(ctx, seqs...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConcurrentEdits: two devices edit the same record offline and exchange their
// outboxes both ways; they converge, and the losing value stays in the history.
func TestConcurrentEdits(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	a := openReplica(t, t.TempDir(), "dev-a", clk)
	b := openReplica(t, t.TempDir(), "dev-b", clk)

	r := mustSave(t, a, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00200", "notes", "original")})
	exchange(t, a, b)
	if ra, rb := mustGet(t, a, r.ID), mustGet(t, b, r.ID); ra.Rev() != rb.Rev() {
		t.Fatalf("after the first exchange: %s vs %s", ra.Rev(), rb.Rev())
	}

	t.Run("SameField", func(t *testing.T) {
		clk.Advance(time.Minute)
		mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "from a")})
		clk.Advance(time.Minute) // b's edit is later: it wins
		mustSave(t, b, store.Edit{Record: r.ID, Author: "bo", Values: vals("notes", "from b")})
		exchange(t, a, b)
		ra, rb := mustGet(t, a, r.ID), mustGet(t, b, r.ID)
		if ra.Rev() != rb.Rev() {
			t.Fatalf("revs differ: %s vs %s\n%s\n%s", ra.Rev(), rb.Rev(), ra.Encode(), rb.Encode())
		}
		if got := string(ra.Value("notes")); got != `"from b"` {
			t.Fatalf("notes %s, want the later edit", got)
		}
		// On a, the loser was overwritten by an apply: its diff has the old value.
		ha := mustHistory(t, a, r.ID)
		last := ha[len(ha)-1]
		if last.Action != store.ActionApply || last.Actor != "bo" || last.Device != "dev-b" ||
			len(last.Diff) != 1 || last.Diff[0].Field != "notes" || string(last.Diff[0].Old) != `"from a"` || string(last.Diff[0].New) != `"from b"` {
			t.Fatalf("a's last history entry %+v", last)
		}
		// On b, the incoming value lost: a conflict entry keeps it.
		hb := mustHistory(t, b, r.ID)
		last = hb[len(hb)-1]
		if last.Action != store.ActionConflict || last.Device != "dev-a" || len(last.Diff) != 1 ||
			last.Diff[0].Field != "notes" || string(last.Diff[0].Old) != `"from a"` || string(last.Diff[0].New) != `"from b"` {
			t.Fatalf("b's last history entry %+v", last)
		}
	})

	t.Run("SameFieldSameTime", func(t *testing.T) {
		// The same HLC on both: the device ID breaks the tie, the same way on both.
		clk.Advance(time.Minute)
		mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("pressure", 1)})
		mustSave(t, b, store.Edit{Record: r.ID, Author: "bo", Values: vals("pressure", 2)})
		exchange(t, a, b)
		ra, rb := mustGet(t, a, r.ID), mustGet(t, b, r.ID)
		if ra.Rev() != rb.Rev() || string(ra.Value("pressure")) != "2" {
			t.Fatalf("revs %s %s, pressure %s (want dev-b's 2)", ra.Rev(), rb.Rev(), ra.Value("pressure"))
		}
		ha := mustHistory(t, a, r.ID)
		if last := ha[len(ha)-1]; last.Action != store.ActionApply || string(last.Diff[0].Old) != "1" {
			t.Fatalf("a: %+v", last)
		}
		hb := mustHistory(t, b, r.ID)
		if last := hb[len(hb)-1]; last.Action != store.ActionConflict || string(last.Diff[0].Old) != "1" {
			t.Fatalf("b: %+v", last)
		}
	})

	t.Run("DifferentFields", func(t *testing.T) {
		clk.Advance(time.Minute)
		mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("inspector", "Ana Lima")})
		clk.Advance(time.Minute)
		mustSave(t, b, store.Edit{Record: r.ID, Author: "bo", Values: vals("visited", "2025-02-27")})
		exchange(t, a, b)
		ra, rb := mustGet(t, a, r.ID), mustGet(t, b, r.ID)
		if ra.Rev() != rb.Rev() {
			t.Fatalf("revs differ")
		}
		if string(ra.Value("inspector")) != `"Ana Lima"` || string(ra.Value("visited")) != `"2025-02-27"` {
			t.Fatalf("both edits must be kept: %s", ra.Encode())
		}
		for _, s := range []*store.Store{a, b} {
			for _, e := range mustHistory(t, s, r.ID) {
				if e.Action == store.ActionConflict && e.Diff[0].Field != "notes" && e.Diff[0].Field != "pressure" {
					t.Fatalf("conflict on %s: %+v", s.Device(), e)
				}
			}
		}
	})

	t.Run("DeleteAgainstEdit", func(t *testing.T) {
		clk.Advance(time.Minute)
		mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "edited while b deletes")})
		clk.Advance(time.Minute)
		if _, err := b.Delete(ctx, "bo", r.ID); err != nil {
			t.Fatal(err)
		}
		exchange(t, a, b)
		ra, rb := mustGet(t, a, r.ID), mustGet(t, b, r.ID)
		if ra.Rev() != rb.Rev() || !ra.Deleted() || string(ra.Value("notes")) != `"edited while b deletes"` {
			t.Fatalf("a %s\nb %s", ra.Encode(), rb.Encode())
		}
		// a can no longer edit it; it can restore it.
		if _, err := a.Save(ctx, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "x")}); !errors.Is(err, store.ErrDeleted) {
			t.Fatalf("edit of a record deleted remotely: %v", err)
		}
		clk.Advance(time.Minute)
		if _, err := a.Restore(ctx, "ana", r.ID); err != nil {
			t.Fatal(err)
		}
		exchange(t, a, b)
		if rb := mustGet(t, b, r.ID); rb.Deleted() || rb.Rev() != revOf(t, a, r.ID) {
			t.Fatalf("restore did not sync: %s", rb.Encode())
		}
	})

	for _, s := range []*store.Store{a, b} {
		mustVerify(t, s)
	}
}

// TestApplyThenLocalEdit: a remote change merged into a record that this device saved
// a moment before must survive the device's next edit of the record: the next local
// save must start from the merged state, not from the state it saved last.
func TestApplyThenLocalEdit(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	for i := 0; i < 5; i++ {
		a := openReplica(t, t.TempDir(), "dev-a", clk)
		b := openReplica(t, t.TempDir(), "dev-b", clk)
		r := mustSave(t, a, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00300")})
		mustApplyChanges(t, b, pendingChanges(t, a))
		clk.Advance(time.Second)
		mustSave(t, b, store.Edit{Record: r.ID, Author: "bo", Values: vals("inspector", "Bo Berg")})

		clk.Advance(time.Second)
		mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "one")})
		// Right after the save, while a's applier may still hold it.
		res := mustApplyChanges(t, a, pendingChanges(t, b))
		if res[0].Status != store.Applied {
			t.Fatalf("%+v", res)
		}
		clk.Advance(time.Second)
		got := mustSave(t, a, store.Edit{Record: r.ID, Author: "ana", Values: vals("pressure", 2)})
		if string(got.Value("inspector")) != `"Bo Berg"` {
			t.Fatalf("round %d: the save returned a record without b's change: %s", i, got.Encode())
		}
		if stored := mustGet(t, a, r.ID); string(stored.Value("inspector")) != `"Bo Berg"` {
			t.Fatalf("round %d: b's change was lost by a's next save: %s", i, stored.Encode())
		}
		a.Close()
		b.Close()
		_ = ctx
	}
}

// TestClockSkew: a change stamped further ahead than form.MaxClockSkew is refused
// whole, and nothing of it is applied, not even to the clock.
func TestClockSkew(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-a", clk)
	existing := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00400", "notes", "keep me")})
	clk.Advance(time.Minute)
	now := clk.Now()
	at := func(d time.Duration) form.Stamp {
		return form.Stamp{HLC: form.NewHLC(now.Add(d).UnixMilli(), 0), Device: "dev-z"}
	}
	newRec := func(created, field form.Stamp) form.Change {
		return form.Change{ID: form.NewID(), Record: form.NewID(), Template: "inspection", Version: 1,
			Created: created, CreatedBy: "zed", Author: "zed", Device: "dev-z",
			Fields: map[string]form.FieldValue{"notes": {Value: json.RawMessage(`"from the future"`), Stamp: field}}}
	}
	editOf := func(field form.Stamp) form.Change {
		return form.Change{ID: form.NewID(), Record: existing.ID, Template: "inspection", Version: 1,
			Created: existing.Created, CreatedBy: existing.CreatedBy, Author: "zed", Device: "dev-z",
			Fields: map[string]form.FieldValue{"notes": {Value: json.RawMessage(`"overwritten"`), Stamp: field},
				"pressure": {Value: json.RawMessage(`7`), Stamp: at(0)}}}
	}
	cases := []struct {
		name string
		ch   form.Change
	}{
		{"ErrClockSkew_FieldStamp", newRec(at(0), at(form.MaxClockSkew+time.Minute))},
		{"ErrClockSkew_CreatedStamp", newRec(at(form.MaxClockSkew+time.Minute), at(0))},
		{"ErrClockSkew_EditOfExisting", editOf(at(form.MaxClockSkew + time.Hour))},
		{"ErrClockSkew_FarFuture", newRec(at(0), at(100*365*24*time.Hour))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := stateOf(t, s)
			rev := revOf(t, s, existing.ID)
			res := mustApplyChanges(t, s, []form.Change{c.ch})
			if res[0].Status != store.Rejected || !errors.Is(res[0].Err, form.ErrClockSkew) {
				t.Fatalf("got %+v, want rejected with ErrClockSkew", res[0])
			}
			recRes, err := s.ApplyRecords(ctx, []form.Record{c.ch.AsRecord()}, "sync")
			if err != nil || recRes[0].Status != store.Rejected || !errors.Is(recRes[0].Err, form.ErrClockSkew) {
				t.Fatalf("ApplyRecords: got %+v %v", recRes, err)
			}
			if after := stateOf(t, s); !sameState(before, after) {
				t.Fatalf("a skewed change changed the replica:\n%+v\n%+v", before, after)
			}
			if got := revOf(t, s, existing.ID); got != rev {
				t.Fatalf("existing record changed")
			}
			if seen, _ := s.HasChange(ctx, c.ch.ID); seen {
				t.Fatalf("a refused change is marked applied")
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		// Just inside the bound: applied, and later local edits order after it.
		ch := newRec(at(0), at(form.MaxClockSkew-time.Minute))
		res := mustApplyChanges(t, s, []form.Change{ch})
		if res[0].Status != store.Applied {
			t.Fatalf("%+v", res[0])
		}
		local := mustSave(t, s, store.Edit{Record: ch.Record, Author: "ana", Values: vals("notes", "mine")})
		if string(local.Value("notes")) != `"mine"` || local.Fields["notes"].Stamp.Compare(ch.Fields["notes"].Stamp) <= 0 {
			t.Fatalf("a local edit after a future stamp must win: %s", local.Encode())
		}
	})
	t.Run("OK_ClockSurvivesReopen", func(t *testing.T) {
		// The clock moved past the applied stamp; a reopened replica remembers that.
		dir := s.Dir()
		last := mustGet(t, s, existing.ID)
		_ = last
		s.Close()
		s2 := openReplica(t, dir, "dev-a", clk)
		r := mustSave(t, s2, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after reopen")})
		if r.Updated().HLC.Time().Before(now.Add(form.MaxClockSkew - time.Minute)) {
			t.Fatalf("the clock went back on reopen: %s", r.Updated().HLC.Time())
		}
	})
}

// TestApplyRecordsMerge: pulled records merge per field with local edits.
func TestApplyRecordsMerge(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	srv := openReplica(t, t.TempDir(), "server", clk)
	dev := openReplica(t, t.TempDir(), "dev-a", clk)
	r := mustSave(t, srv, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00500", "notes", "v1")})
	if res, err := dev.ApplyRecords(ctx, []form.Record{r}, "pull"); err != nil || res[0].Status != store.Applied {
		t.Fatalf("%+v %v", res, err)
	}
	clk.Advance(time.Minute)
	local := mustSave(t, dev, store.Edit{Record: r.ID, Author: "bo", Values: vals("pressure", 4)})
	clk.Advance(time.Minute)
	remote := mustSave(t, srv, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "v2")})
	res, err := dev.ApplyRecords(ctx, []form.Record{remote}, "pull")
	if err != nil || res[0].Status != store.Applied {
		t.Fatalf("%+v %v", res, err)
	}
	got := mustGet(t, dev, r.ID)
	if string(got.Value("notes")) != `"v2"` || string(got.Value("pressure")) != "4" {
		t.Fatalf("merged %s", got.Encode())
	}
	if got.Rev() == remote.Rev() || got.Rev() == local.Rev() {
		t.Fatalf("merged record should differ from both sides")
	}
	h := mustHistory(t, dev, r.ID)
	last := h[len(h)-1]
	if last.Action != store.ActionApply || last.Actor != "pull" || len(last.Diff) != 1 || last.Diff[0].Field != "notes" ||
		!bytes.Equal(last.Diff[0].Old, []byte(`"v1"`)) {
		t.Fatalf("history %+v", last)
	}
	// The search index follows merged values.
	p, err := dev.Search(ctx, store.Query{Text: "v2"})
	if err != nil || p.Total != 1 {
		t.Fatalf("%+v %v", p, err)
	}
	p, _ = dev.Search(ctx, store.Query{Text: "v1 "})
	if p.Total != 0 {
		t.Fatalf("old value still found: %+v", p)
	}
}

// TestApplyMergeMismatch: a change that claims another template for an existing record
// is refused, and the record stays as it was.
func TestApplyMergeMismatch(t *testing.T) {
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-mm", clk)
	putMeter(t, s)
	r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "mine")})
	clk.Advance(time.Minute)
	st := form.Stamp{HLC: form.NewHLC(clk.Now().UnixMilli(), 0), Device: "dev-x"}
	ch := form.Change{ID: form.NewID(), Record: r.ID, Template: "meter", Version: 1, Created: r.Created, CreatedBy: r.CreatedBy,
		Author: "x", Device: "dev-x", Fields: map[string]form.FieldValue{form.FieldDeleted: {Value: json.RawMessage("true"), Stamp: st}}}
	before := stateOf(t, s)
	res := mustApplyChanges(t, s, []form.Change{ch})
	if res[0].Status != store.Rejected || !errors.Is(res[0].Err, form.ErrMergeMismatch) {
		t.Fatalf("got %+v, want rejected with ErrMergeMismatch", res[0])
	}
	if after := stateOf(t, s); !sameState(before, after) {
		t.Fatalf("changed:\n%+v\n%+v", before, after)
	}
}

// TestConcurrentUse: saves, reads, applies and outbox work from many goroutines at once
// (run with -race) leave a consistent replica with every save in it.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := openReplica(t, t.TempDir(), "dev-conc", nil)
	other := openReplica(t, t.TempDir(), "dev-other", nil)
	var remote []form.Change
	for i := 0; i < 20; i++ {
		mustSave(t, other, store.Edit{Template: inspection, Author: "o", Values: vals("notes", fmt.Sprintf("remote %d", i))})
	}
	remote = pendingChanges(t, other)

	const writers, perWriter = 4, 15
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				r, err := s.Save(ctx, store.Edit{Template: inspection, Author: "w", Values: vals("notes", fmt.Sprintf("writer %d save %d", w, i))})
				if err == nil {
					_, err = s.Save(ctx, store.Edit{Record: r.ID, Author: "w", Values: vals("pressure", i)})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if _, err := s.Search(ctx, store.Query{Text: "writer"}); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < len(remote); i += 4 {
			if _, err := s.ApplyChanges(ctx, remote[i:i+4]); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 10; i++ {
			p, err := s.Pending(ctx, 3, 0)
			if err == nil && len(p) > 0 {
				err = s.Ack(ctx, p[0].Seq)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := mustVerify(t, s)
	if rep.Records != writers*perWriter+len(remote) || rep.AuditEntries != 2*writers*perWriter+(len(remote)+3)/4 { // a batch of 4 is one entry
		t.Fatalf("report %+v", rep)
	}
	p, err := s.Search(ctx, store.Query{Text: "writer", Limit: store.MaxPage})
	if err != nil || p.Total != writers*perWriter {
		t.Fatalf("search: %d %v", p.Total, err)
	}
	for _, it := range p.Items {
		r := mustGet(t, s, it.ID)
		if r.Value("pressure") == nil {
			t.Fatalf("record %s lost its second save: %s", it.ID, r.Encode())
		}
	}
}
