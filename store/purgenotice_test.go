package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func notice(ids ...string) form.PurgeNotice {
	n := form.PurgeNotice{Tenant: "acme", Request: form.NewID(), Time: time.Now(), Records: ids}
	n.Sign([]byte("0123456789abcdef0123456789abcdef"))
	return n
}

// A purge notice removes the records held, remembers every ID (held or not), drops
// their pending changes and dead letters, keeps the notice, adds audit entries and
// removes nothing else; applying it again changes nothing.
func TestApplyPurgeNotice(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	recs := saveN(t, s, 3)
	later := form.NewID() // a record this replica never held
	pending, _ := s.Pending(ctx, 0, 0)
	if err := s.DeadLetter(ctx, pending[1].Seq, "refused"); err != nil { // recs[1]'s change
		t.Fatal(err)
	}
	auditBefore, _ := s.Audit(ctx, 0, 0)
	n := notice(recs[0].ID, recs[1].ID, later)

	res, err := s.ApplyPurgeNotice(ctx, n, "sync", "dev-test", "purge notice from the server")
	if err != nil {
		t.Fatal(err)
	}
	if !res.New || len(res.Removed) != 2 || res.Marked != 3 {
		t.Fatalf("result %+v", res)
	}
	if c, _ := s.Count(ctx); c != 1 {
		t.Fatalf("%d records left, want 1", c)
	}
	for _, id := range n.Records {
		if p, _ := s.IsPurged(ctx, id); !p {
			t.Errorf("%s not remembered as purged", id)
		}
	}
	if left, _ := s.Pending(ctx, 0, 0); len(left) != 1 || left[0].Change.Record != recs[2].ID {
		t.Fatalf("pending after the notice: %+v", left)
	}
	if dl, _ := s.DeadLetters(ctx); len(dl) != 0 {
		t.Fatalf("dead letters after the notice: %+v", dl)
	}
	if kept, _ := s.PurgeNotices(ctx, "", 0); len(kept) != 1 || kept[0].Sig != n.Sig {
		t.Fatalf("notices kept: %+v", kept)
	}
	if of, _ := s.PurgeNoticesOf(ctx, []string{later, recs[2].ID}); len(of) != 1 || of[0].Request != n.Request {
		t.Fatalf("notices of: %+v", of)
	}
	after, _ := s.Audit(ctx, 0, 0)
	if len(after) != len(auditBefore)+3 {
		t.Fatalf("audit: %d entries after, %d before; want 3 more", len(after), len(auditBefore))
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// The record made elsewhere cannot arrive, nor can an edit be made here.
	late := recs[2].Clone()
	late.ID = later
	if r, err := s.ApplyRecords(ctx, []form.Record{late}, "sync"); err != nil || r[0].Status != store.Rejected || !errors.Is(r[0].Err, store.ErrPurged) {
		t.Fatalf("a purged ID arriving: %+v %v", r, err)
	}
	if _, err := s.Save(ctx, store.Edit{Record: recs[0].ID, Author: "x", Values: form.Values{"notes": json.RawMessage(`"back"`)}}); !errors.Is(err, store.ErrPurged) {
		t.Fatalf("editing a purged record: %v", err)
	}
	// Again: nothing changes.
	res, err = s.ApplyPurgeNotice(ctx, n, "sync", "dev-test", "again")
	if err != nil || res.New || len(res.Removed) != 0 || res.Marked != 0 {
		t.Fatalf("applied twice: %+v %v", res, err)
	}
	if again, _ := s.Audit(ctx, 0, 0); len(again) != len(after) {
		t.Fatalf("applied twice: %d audit entries, want %d", len(again), len(after))
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}

// A malformed notice, or another notice of a request kept already, is refused with
// what is wrong and changes nothing.
func TestApplyPurgeNoticeRefused(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	recs := saveN(t, s, 2)
	kept := notice(recs[1].ID)
	if _, err := s.ApplyPurgeNotice(ctx, kept, "sync", "dev-test", "first"); err != nil {
		t.Fatal(err)
	}
	other := notice(recs[0].ID)
	other.Request = kept.Request
	for _, tc := range []struct {
		name string
		edit func(n *form.PurgeNotice)
		want string
	}{
		{"no records", func(n *form.PurgeNotice) { n.Records = nil }, "no records"},
		{"bad ID", func(n *form.PurgeNotice) { n.Records = []string{"../etc"} }, `records[0] "../etc" is not a UUID`},
		{"twice", func(n *form.PurgeNotice) { n.Records = []string{recs[0].ID, recs[0].ID} }, "named twice"},
		{"no signature", func(n *form.PurgeNotice) { n.Sig = "" }, "not signed"},
		{"bad request", func(n *form.PurgeNotice) { n.Request = "x" }, `request "x" is not a UUID`},
		{"no time", func(n *form.PurgeNotice) { n.Time = time.Time{} }, "no time"},
		{"another notice of a kept request", func(n *form.PurgeNotice) { *n = other }, "another notice of that request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := notice(recs[0].ID)
			tc.edit(&n)
			auditBefore, _ := s.Audit(ctx, 0, 0)
			_, err := s.ApplyPurgeNotice(ctx, n, "sync", "dev-test", "x")
			if !errors.Is(err, store.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrBadInput and %q", err, tc.want)
			}
			if c, _ := s.Count(ctx); c != 1 {
				t.Fatalf("a refused notice removed records: %d left", c)
			}
			if a, _ := s.Audit(ctx, 0, 0); len(a) != len(auditBefore) {
				t.Fatal("a refused notice wrote audit entries")
			}
			if p, _ := s.IsPurged(ctx, recs[0].ID); p {
				t.Fatal("a refused notice marked a record purged")
			}
		})
	}
}
