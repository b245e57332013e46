package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func saveN(t *testing.T, s *store.Store, n int) []form.Record {
	t.Helper()
	var out []form.Record
	for i := 0; i < n; i++ {
		r, err := s.Save(context.Background(), store.Edit{Template: inspection, Author: "ana",
			Values: form.Values{"site_code": []byte(fmt.Sprintf(`"S-%05d"`, i))}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// Two replicas that differ in a few records: fingerprints agree on ranges without a
// difference and disagree on the others, and splitting narrows down to them.
func TestFingerprintsFindDifferences(t *testing.T) {
	ctx := context.Background()
	a, b := mustOpen(t), mustOpen(t)
	recs := saveN(t, a, 300)
	if _, err := b.ApplyRecords(ctx, recs, "sync"); err != nil {
		t.Fatal(err)
	}
	all := store.Range{}
	fa, _ := a.Fingerprints(ctx, []store.Range{all})
	fb, _ := b.Fingerprints(ctx, []store.Range{all})
	if fa[0] != fb[0] || fa[0].Count != 300 {
		t.Fatalf("equal replicas: %+v vs %+v", fa[0], fb[0])
	}
	// b gets one edit; a gets one record b lacks.
	if _, err := b.Save(ctx, store.Edit{Record: recs[100].ID, Author: "bo", Values: form.Values{"notes": []byte(`"changed"`)}}); err != nil {
		t.Fatal(err)
	}
	extra := saveN(t, a, 1)[0]
	diff := map[string]bool{recs[100].ID: true, extra.ID: true}

	// Split a's view until the ranges are small, keep those whose fingerprints differ.
	pending := []store.Range{all}
	found := map[string]bool{}
	for round := 0; len(pending) > 0; round++ {
		if round > 10 {
			t.Fatal("did not converge")
		}
		var next []store.Range
		for _, r := range pending {
			fa, _ := a.Fingerprints(ctx, []store.Range{r})
			fb, _ := b.Fingerprints(ctx, []store.Range{r})
			if fa[0] == fb[0] {
				continue
			}
			if fa[0].Count <= 4 {
				ra, _ := a.Revs(ctx, r.From, r.To)
				rb, _ := b.Revs(ctx, r.From, r.To)
				revs := map[string]string{}
				for _, x := range rb {
					revs[x.ID] = x.Rev
				}
				for _, x := range ra {
					if revs[x.ID] != x.Rev {
						found[x.ID] = true
					}
				}
				continue
			}
			parts, err := a.SplitRange(ctx, r, 8)
			if err != nil {
				t.Fatal(err)
			}
			if parts[0].From != r.From || parts[len(parts)-1].To != r.To {
				t.Fatalf("split of %+v does not cover it: %+v", r, parts)
			}
			n := 0
			for i, p := range parts {
				n += p.Count
				if i > 0 && p.From != parts[i-1].To {
					t.Fatalf("split leaves a gap: %+v", parts)
				}
				next = append(next, p.Range)
			}
			if n != fa[0].Count {
				t.Fatalf("split counts %d, range has %d", n, fa[0].Count)
			}
		}
		pending = next
	}
	if len(found) != len(diff) {
		t.Fatalf("found %v, want %v", found, diff)
	}
	for id := range diff {
		if !found[id] {
			t.Fatalf("missed %s", id)
		}
	}
	got, err := a.GetMany(ctx, []string{extra.ID, "00000000-0000-0000-0000-000000000000", recs[0].ID})
	if err != nil || len(got) != 2 || got[0].ID != extra.ID {
		t.Fatalf("GetMany: %v %d", err, len(got))
	}
}

func TestPurge(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	recs := saveN(t, s, 3)
	head0, _ := s.FeedHead(ctx)
	auditBefore, _ := s.Audit(ctx, 0, 0)
	if _, err := s.Purge(ctx, []string{recs[0].ID, "00000000-0000-0000-0000-000000000000"}, "admin", "server", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if n, _ := s.Count(ctx); n != 3 {
		t.Fatalf("a failed purge removed something: %d records", n)
	}
	if _, err := s.Purge(ctx, []string{recs[0].ID}, "admin", "server", "GDPR request 42"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, recs[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged record still there: %v", err)
	}
	if n, _ := s.Count(ctx); n != 2 {
		t.Fatalf("count %d after purge", n)
	}
	p, _ := s.Search(ctx, store.Query{Text: "S-00000", Deleted: store.LiveAndDeleted})
	if p.Total != 0 {
		t.Fatalf("purged record found by search: %+v", p)
	}
	page, err := s.FeedPage(ctx, head0, 0)
	if err != nil || len(page.Purged) != 1 || page.Purged[0] != recs[0].ID {
		t.Fatalf("feed after purge: %+v %v", page, err)
	}
	// Every audit entry stays, and one more says what happened.
	after, _ := s.Audit(ctx, 0, 0)
	if len(after) != len(auditBefore)+1 || after[len(after)-1].Action != store.ActionPurge || after[len(after)-1].Note != "GDPR request 42" {
		t.Fatalf("audit after purge: %d entries, last %+v", len(after), after[len(after)-1])
	}
	if _, err := s.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	// Its pending changes are gone, and it cannot come back from another replica.
	pending, _ := s.Pending(ctx, 0, 0)
	for _, it := range pending {
		if it.Change.Record == recs[0].ID {
			t.Fatal("purged record's change still in the outbox")
		}
	}
	res, err := s.ApplyRecords(ctx, []form.Record{recs[0]}, "sync")
	if err != nil || res[0].Status != store.Rejected || !errors.Is(res[0].Err, store.ErrPurged) {
		t.Fatalf("re-applying a purged record: %+v %v", res, err)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}
