package store_test

import (
	"context"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func TestSaveGetSearch(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	r, err := s.Save(ctx, store.Edit{Template: inspection, Author: "ana",
		Values: form.Values{"site_code": []byte(`"S-00042"`), "inspector": []byte(`"Ana Lima"`), "notes": []byte(`"valve leaking near the north pump"`)}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev() != r.Rev() {
		t.Fatalf("rev %s, want %s", got.Rev(), r.Rev())
	}
	for _, q := range []string{"valve", "north pu", "s 00042", "ana"} {
		p, err := s.Search(ctx, store.Query{Text: q})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 1 || len(p.Items) != 1 || p.Items[0].ID != r.ID || p.Items[0].Title != "S-00042 · Ana Lima" {
			t.Fatalf("search %q: %+v", q, p)
		}
	}
	if _, err := s.Delete(ctx, "ana", r.ID); err != nil {
		t.Fatal(err)
	}
	p, _ := s.Search(ctx, store.Query{Text: "valve"})
	if p.Total != 0 {
		t.Fatalf("deleted record found among live: %+v", p)
	}
	p, _ = s.Search(ctx, store.Query{Text: "valve", Deleted: store.DeletedOnly})
	if p.Total != 1 {
		t.Fatalf("deleted record not found: %+v", p)
	}
	h, err := s.History(ctx, r.ID)
	if err != nil || len(h) != 2 || h[1].Action != store.ActionDelete {
		t.Fatalf("history %+v %v", h, err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify %+v %v", rep, err)
	}
	n, _ := s.PendingCount(ctx)
	if n != 2 {
		t.Fatalf("pending %d", n)
	}
}
