package store_test

import (
	"context"
	"testing"

	"github.com/fieldforms/fieldforms/store"
)

// Lists say which records have changes the server has not acknowledged yet.
func TestSearchShowsPendingRecords(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	recs := saveN(t, s, 3)
	pending := func() map[string]bool {
		t.Helper()
		p, err := s.Search(ctx, store.Query{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, it := range p.Items {
			out[it.ID] = it.Pending
		}
		return out
	}
	for id, p := range pending() {
		if !p {
			t.Fatalf("record %s not shown as pending after a save", id)
		}
	}
	items, err := s.Pending(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Acknowledge the first record's change, refuse the second's: neither is pending.
	var first, second uint64
	for _, it := range items {
		switch it.Change.Record {
		case recs[0].ID:
			first = it.Seq
		case recs[1].ID:
			second = it.Seq
		}
	}
	if err := s.Ack(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, second, "refused"); err != nil {
		t.Fatal(err)
	}
	got := pending()
	if got[recs[0].ID] || got[recs[1].ID] || !got[recs[2].ID] {
		t.Fatalf("pending after ack and dead letter: %v", got)
	}
	// A retried change is pending again, and the counts agree with the outbox.
	if err := s.Retry(ctx, second); err != nil {
		t.Fatal(err)
	}
	if !pending()[recs[1].ID] {
		t.Fatal("retried change not pending")
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}
