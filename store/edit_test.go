package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func diffOf(e store.AuditEntry, field string) (form.Diff, bool) {
	for _, d := range e.Diff {
		if d.Field == field {
			return d, true
		}
	}
	return form.Diff{}, false
}

// TestEditLifecycle: create, edit, submit, delete, restore, each in the history with
// who, when, which device and which fields from what to what.
func TestEditLifecycle(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-life", clk)

	t0 := clk.Now()
	r := mustSave(t, s, store.Edit{Template: form.TemplateKey{ID: "inspection"}, Author: "ana",
		Values: vals("site_code", "S-00700", "notes", "pump  hums")})
	if !form.ValidID(r.ID) || r.Template != "inspection" || r.Version != 1 || r.CreatedBy != "ana" ||
		r.Created.Device != "dev-life" || !r.Created.HLC.Time().Equal(t0) || r.Status() != form.StatusDraft || r.Deleted() {
		t.Fatalf("new record %s", r.Encode())
	}
	if got := mustGet(t, s, r.ID); got.Rev() != r.Rev() {
		t.Fatalf("stored %s, returned %s", got.Encode(), r.Encode())
	}

	t1 := clk.Advance(time.Hour)
	r = mustSave(t, s, store.Edit{Record: r.ID, Author: "bo", Values: form.Values{"notes": json.RawMessage(`"pump fixed"`), "pressure": json.RawMessage("2.50")}})
	if string(r.Value("pressure")) != "2.5" {
		t.Fatalf("pressure stored as %s, want canonical 2.5", r.Value("pressure"))
	}

	t2 := clk.Advance(time.Hour)
	r = mustSave(t, s, store.Edit{Record: r.ID, Author: "cy", Status: form.StatusSubmitted,
		Values: vals("inspector", "Cy Dorn", "ok", true)})
	if r.Status() != form.StatusSubmitted {
		t.Fatalf("status %s", r.Status())
	}
	sum, err := s.Summary(ctx, r.ID)
	if err != nil || sum.Status != form.StatusSubmitted || sum.Title != "S-00700 · Cy Dorn" || !sum.Updated.Equal(t2) ||
		!sum.Created.Equal(t0) || sum.Rev != r.Rev() || sum.Deleted {
		t.Fatalf("summary %+v %v", sum, err)
	}

	t.Run("OK_NoOpEdit", func(t *testing.T) {
		before := stateOf(t, s)
		clk.Advance(time.Minute)
		for _, e := range []store.Edit{
			{Record: r.ID, Author: "dee", Values: vals("notes", "pump fixed")},
			{Record: r.ID, Author: "dee", Values: vals("pressure", 2.5, "inspector", "Cy Dorn")},
			{Record: r.ID, Author: "dee", Values: form.Values{"pressure": json.RawMessage("2.500")}}, // the same number written otherwise
			{Record: r.ID, Author: "dee", Values: form.Values{"visited": json.RawMessage("null")}},   // clearing what was never set
			{Record: r.ID, Author: "dee", Status: form.StatusSubmitted},
			{Record: r.ID, Author: "dee"},
		} {
			got, err := s.Save(ctx, e)
			if err != nil {
				t.Fatalf("%+v: %v", e, err)
			}
			if got.Rev() != r.Rev() {
				t.Fatalf("no-op edit %+v changed the record", e)
			}
		}
		if _, err := s.Restore(ctx, "dee", r.ID); err != nil { // restoring a live record
			t.Fatal(err)
		}
		if after := stateOf(t, s); !sameState(before, after) {
			t.Fatalf("no-op edits wrote:\n%+v\n%+v", before, after)
		}
	})

	t.Run("History", func(t *testing.T) {
		h := mustHistory(t, s, r.ID)
		if len(h) != 3 {
			t.Fatalf("%d entries: %+v", len(h), h)
		}
		want := []struct {
			action, actor string
			at            time.Time
		}{{store.ActionCreate, "ana", t0}, {store.ActionEdit, "bo", t1}, {store.ActionSubmit, "cy", t2}}
		for i, w := range want {
			e := h[i]
			if e.Action != w.action || e.Actor != w.actor || e.Device != "dev-life" || !e.Time.Equal(w.at) || e.Record != r.ID || !form.ValidID(e.Change) {
				t.Errorf("entry %d: %+v, want %s by %s at %s", i, e, w.action, w.actor, w.at)
			}
			if i > 0 && e.Seq <= h[i-1].Seq {
				t.Errorf("entry %d out of order: %+v", i, e)
			}
		}
		if d, ok := diffOf(h[0], "notes"); !ok || d.Old != nil || string(d.New) != `"pump  hums"` {
			t.Errorf("create diff %+v", h[0].Diff)
		}
		if d, ok := diffOf(h[1], "notes"); !ok || string(d.Old) != `"pump  hums"` || string(d.New) != `"pump fixed"` || d.Stamp.Device != "dev-life" {
			t.Errorf("edit diff notes %+v", h[1].Diff)
		}
		if d, ok := diffOf(h[1], "pressure"); !ok || d.Old != nil || string(d.New) != "2.5" {
			t.Errorf("edit diff pressure %+v", h[1].Diff)
		}
		if len(h[1].Diff) != 2 {
			t.Errorf("edit diff has unchanged fields: %+v", h[1].Diff)
		}
		if d, ok := diffOf(h[2], form.FieldStatus); !ok || string(d.Old) != `"draft"` || string(d.New) != `"submitted"` {
			t.Errorf("submit diff %+v", h[2].Diff)
		}
		// The outbox holds the same three changes.
		var mine []form.Change
		for _, c := range pendingChanges(t, s) {
			if c.Record == r.ID {
				mine = append(mine, c)
			}
		}
		if len(mine) != 3 {
			t.Fatalf("%d changes in the outbox", len(mine))
		}
		for i := range mine {
			if mine[i].ID != h[i].Change {
				t.Errorf("change %d: outbox %s, audit %s", i, mine[i].ID, h[i].Change)
			}
		}
		if len(mine[1].Fields) != 2 {
			t.Errorf("an edit's change carries only the edited fields: %+v", mine[1].Fields)
		}
	})

	other := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00701", "notes", "pump spare parts")})

	t.Run("DeleteRestore", func(t *testing.T) {
		t3 := clk.Advance(time.Hour)
		before := stateOf(t, s)
		del, err := s.Delete(ctx, "eve", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !del.Deleted() || string(del.Value("notes")) != `"pump fixed"` || del.Status() != form.StatusSubmitted {
			t.Fatalf("a deleted record keeps its values: %s", del.Encode())
		}
		got := mustGet(t, s, r.ID)
		if !got.Deleted() || got.Rev() != del.Rev() {
			t.Fatalf("get after delete: %s", got.Encode())
		}
		after := stateOf(t, s)
		if after.Count != before.Count || after.Live != before.Live-1 || after.Deleted != before.Deleted+1 || after.All != before.All ||
			after.Pending != before.Pending+1 || after.Audit != before.Audit+1 {
			t.Fatalf("delete: before %+v after %+v", before, after)
		}
		// Deleting again is a no-op.
		if again, err := s.Delete(ctx, "eve", r.ID); err != nil || again.Rev() != del.Rev() {
			t.Fatalf("second delete: %v", err)
		}
		if st := stateOf(t, s); !sameState(after, st) {
			t.Fatalf("a second delete wrote")
		}

		search := func(text string, d store.DeletedFilter) []string {
			p, err := s.Search(ctx, store.Query{Text: text, Deleted: d})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range p.Items {
				ids = append(ids, it.ID)
				if d == store.DeletedOnly && !it.Deleted || d == store.LiveOnly && it.Deleted {
					t.Errorf("search %q %v: summary %+v", text, d, it)
				}
			}
			if p.Total != len(ids) {
				t.Fatalf("total %d, %d items", p.Total, len(ids))
			}
			return ids
		}
		for _, c := range []struct {
			text string
			d    store.DeletedFilter
			want []string
		}{
			{"pump", store.LiveOnly, []string{other.ID}},
			{"pump", store.DeletedOnly, []string{r.ID}},
			{"pump", store.LiveAndDeleted, []string{r.ID, other.ID}}, // r changed last
			{"", store.DeletedOnly, []string{r.ID}},
			{"fixed", store.LiveOnly, nil},
			{"fixed", store.DeletedOnly, []string{r.ID}},
		} {
			got := search(c.text, c.d)
			if len(got) != len(c.want) {
				t.Fatalf("search %q %v: %v, want %v", c.text, c.d, got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("search %q %v: %v, want %v", c.text, c.d, got, c.want)
				}
			}
		}

		t4 := clk.Advance(time.Hour)
		res, err := s.Restore(ctx, "fay", r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.Deleted() || string(res.Value("notes")) != `"pump fixed"` || string(res.Value("inspector")) != `"Cy Dorn"` || res.Status() != form.StatusSubmitted {
			t.Fatalf("restored %s", res.Encode())
		}
		for k, fv := range r.Fields {
			if string(res.Fields[k].Value) != string(fv.Value) {
				t.Errorf("field %s: restored %s, before delete %s", k, res.Fields[k].Value, fv.Value)
			}
		}
		if got := search("fixed", store.LiveOnly); len(got) != 1 || got[0] != r.ID {
			t.Fatalf("restored record not found: %v", got)
		}
		if got := search("fixed", store.DeletedOnly); len(got) != 0 {
			t.Fatalf("restored record still deleted: %v", got)
		}
		h := mustHistory(t, s, r.ID)
		del1, res1 := h[len(h)-2], h[len(h)-1]
		if del1.Action != store.ActionDelete || del1.Actor != "eve" || !del1.Time.Equal(t3) || del1.Device != "dev-life" {
			t.Fatalf("delete entry %+v", del1)
		}
		if d, ok := diffOf(del1, form.FieldDeleted); !ok || string(d.New) != "true" {
			t.Fatalf("delete diff %+v", del1.Diff)
		}
		if res1.Action != store.ActionRestore || res1.Actor != "fay" || !res1.Time.Equal(t4) {
			t.Fatalf("restore entry %+v", res1)
		}
		if d, ok := diffOf(res1, form.FieldDeleted); !ok || string(d.Old) != "true" || string(d.New) != "false" {
			t.Fatalf("restore diff %+v", res1.Diff)
		}
		// Edits work again.
		clk.Advance(time.Minute)
		mustSave(t, s, store.Edit{Record: r.ID, Author: "fay", Values: vals("notes", "pump fixed again")})
		mustVerify(t, s)
	})

	t.Run("ClearField", func(t *testing.T) {
		clk.Advance(time.Minute)
		got := mustSave(t, s, store.Edit{Record: other.ID, Author: "ana", Values: form.Values{"notes": json.RawMessage("null")}})
		if v := got.Value("notes"); string(v) != "null" {
			t.Fatalf("cleared notes %s", v)
		}
		p, _ := s.Search(ctx, store.Query{Text: "spare"})
		if p.Total != 0 {
			t.Fatalf("a cleared value is still found: %+v", p)
		}
		h := mustHistory(t, s, other.ID)
		if d, ok := diffOf(h[len(h)-1], "notes"); !ok || string(d.Old) != `"pump spare parts"` || string(d.New) != "null" {
			t.Fatalf("clear diff %+v", h[len(h)-1].Diff)
		}
	})

	t.Run("SubmittedStaysComplete", func(t *testing.T) {
		// A submitted record cannot lose a required answer; a draft can.
		clk.Advance(time.Minute)
		_, err := s.Save(ctx, store.Edit{Record: r.ID, Author: "ana", Values: vals("ok", false)})
		if !errors.Is(err, form.ErrInvalidValue) {
			t.Fatalf("making fault required on a submitted record: %v", err)
		}
		mustSave(t, s, store.Edit{Record: r.ID, Author: "ana", Values: vals("ok", false, "fault", "seal worn")})
		back := mustSave(t, s, store.Edit{Record: r.ID, Author: "ana", Status: form.StatusDraft, Values: vals("inspector", nil)})
		if back.Status() != form.StatusDraft || string(back.Value("inspector")) != "null" {
			t.Fatalf("back to draft %s", back.Encode())
		}
	})

	t.Run("SurvivesReopen", func(t *testing.T) {
		want := mustGet(t, s, r.ID)
		h := mustHistory(t, s, r.ID)
		dir := s.Dir()
		s.Close()
		for name, err := range map[string]error{
			"get": func() error { _, err := s.Get(ctx, r.ID); return err }(),
			"new": func() error { _, err := s.Save(ctx, store.Edit{Template: inspection, Author: "a"}); return err }(),
			"edit": func() error {
				_, err := s.Save(ctx, store.Edit{Record: r.ID, Author: "a", Values: vals("notes", "x")})
				return err
			}(),
			"delete":  func() error { _, err := s.Delete(ctx, "a", r.ID); return err }(),
			"restore": func() error { _, err := s.Restore(ctx, "a", r.ID); return err }(),
			"apply":   func() error { _, err := s.ApplyRecords(ctx, []form.Record{r}, "x"); return err }(),
			"search":  func() error { _, err := s.Search(ctx, store.Query{}); return err }(),
			"ack":     s.Ack(ctx, 1),
		} {
			if !errors.Is(err, store.ErrClosed) {
				t.Errorf("%s after close: %v, want ErrClosed", name, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		s2 := openReplica(t, dir, "", clk)
		if s2.Device() != "dev-life" {
			t.Fatalf("device %q after reopening without one", s2.Device())
		}
		if got := mustGet(t, s2, r.ID); got.Rev() != want.Rev() {
			t.Fatalf("after reopen %s, want %s", got.Encode(), want.Encode())
		}
		if h2 := mustHistory(t, s2, r.ID); len(h2) != len(h) {
			t.Fatalf("history %d entries after reopen, %d before", len(h2), len(h))
		}
		clk.Advance(time.Minute)
		mustSave(t, s2, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "after reopen")})
		mustVerify(t, s2)
	})
}

// TestNoOpClearOfAbsentField: clearing a field that was never set changes nothing, so it
// writes nothing either.
func TestNoOpClearOfAbsentField(t *testing.T) {
	s := openReplica(t, t.TempDir(), "dev-null", nil)
	r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-00800")})
	before := stateOf(t, s)
	got := mustSave(t, s, store.Edit{Record: r.ID, Author: "ana", Values: form.Values{"notes": json.RawMessage("null")}})
	after := stateOf(t, s)
	if got.Rev() != r.Rev() || !sameState(before, after) {
		t.Fatalf("clearing an absent field wrote an edit: %s", got.Encode())
	}
	// A new record does not store nulls for the fields left empty either.
	n := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: form.Values{"site_code": json.RawMessage(`"S-00801"`), "notes": json.RawMessage("null")}})
	if _, ok := n.Fields["notes"]; ok {
		t.Fatalf("new record stores a null: %s", n.Encode())
	}
}

// TestFeedRevsState: the change feed lists records in order of change, each once at its
// latest position; Revs lists (ID, rev) ranges; State keeps the sync engine's keys.
func TestFeedRevsState(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-feed", clk)
	var ids []string
	for i := 0; i < 5; i++ {
		clk.Advance(time.Second)
		ids = append(ids, mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "feed")}).ID)
	}
	clk.Advance(time.Second)
	mustSave(t, s, store.Edit{Record: ids[1], Author: "ana", Values: vals("notes", "feed again")})
	t.Run("Feed", func(t *testing.T) {
		recs, last, err := s.Feed(ctx, 0, 0)
		if err != nil || len(recs) != 5 {
			t.Fatalf("feed %d %v", len(recs), err)
		}
		want := []string{ids[0], ids[2], ids[3], ids[4], ids[1]}
		for i, r := range recs {
			if r.ID != want[i] {
				t.Fatalf("feed order %d: %s, want %s", i, r.ID, want[i])
			}
		}
		page, pos, err := s.Feed(ctx, 0, 2)
		if err != nil || len(page) != 2 || page[1].ID != ids[2] {
			t.Fatalf("first page %v", err)
		}
		rest, end, err := s.Feed(ctx, pos, 0)
		if err != nil || len(rest) != 3 || end != last || rest[2].ID != ids[1] {
			t.Fatalf("rest %d %d %d %v", len(rest), end, last, err)
		}
		if none, same, err := s.Feed(ctx, last, 10); err != nil || len(none) != 0 || same != last {
			t.Fatalf("after the end: %d %d %v", len(none), same, err)
		}
		clk.Advance(time.Second)
		if _, err := s.Delete(ctx, "ana", ids[0]); err != nil {
			t.Fatal(err)
		}
		if more, _, _ := s.Feed(ctx, last, 10); len(more) != 1 || more[0].ID != ids[0] || !more[0].Deleted() {
			t.Fatalf("a delete is a change in the feed: %+v", more)
		}
	})
	t.Run("Revs", func(t *testing.T) {
		all, err := s.Revs(ctx, "", "")
		if err != nil || len(all) != 5 {
			t.Fatalf("%d %v", len(all), err)
		}
		for i, rr := range all {
			if i > 0 && rr.ID <= all[i-1].ID {
				t.Fatal("revs not in ID order")
			}
			if rr.Rev != revOf(t, s, rr.ID) {
				t.Fatalf("rev of %s", rr.ID)
			}
		}
		mid, err := s.Revs(ctx, all[1].ID, all[3].ID)
		if err != nil || len(mid) != 2 || mid[0] != all[1] || mid[1] != all[2] {
			t.Fatalf("range: %+v %v", mid, err)
		}
	})
	t.Run("State", func(t *testing.T) {
		if v, err := s.State(ctx, "cursor"); err != nil || v != nil {
			t.Fatalf("%q %v", v, err)
		}
		if err := s.SetState(ctx, map[string][]byte{"cursor": []byte("c1"), "epoch": []byte("e1")}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetState(ctx, map[string][]byte{"cursor": nil}); err != nil {
			t.Fatal(err)
		}
		c, _ := s.State(ctx, "cursor")
		e, _ := s.State(ctx, "epoch")
		if c != nil || string(e) != "e1" {
			t.Fatalf("cursor %q epoch %q", c, e)
		}
	})
}
