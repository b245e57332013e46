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

func seqsOf(items []store.OutboxItem) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.Seq
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOutbox: pending changes in save order, bounded by count and bytes; acks,
// dead letters and retries.
func TestOutbox(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-out", clk)
	var ids []string
	for i := 0; i < 6; i++ {
		clk.Advance(time.Second)
		r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "record "+string(rune('a'+i)))})
		ids = append(ids, r.ID)
	}
	clk.Advance(time.Second)
	mustSave(t, s, store.Edit{Record: ids[0], Author: "ana", Values: vals("pressure", 2)})
	clk.Advance(time.Second)
	if _, err := s.Delete(ctx, "ana", ids[1]); err != nil {
		t.Fatal(err)
	}
	all := mustPending(t, s)
	if len(all) != 8 {
		t.Fatalf("%d pending, want 8", len(all))
	}
	sizes := make([]int, len(all))
	for i, it := range all {
		if i > 0 && it.Seq <= all[i-1].Seq {
			t.Fatalf("pending out of order: %v", seqsOf(all))
		}
		if !form.ValidID(it.Change.ID) || it.Change.Device != "dev-out" || it.Change.Author != "ana" {
			t.Fatalf("change %+v", it.Change)
		}
		b, _ := json.Marshal(it.Change)
		sizes[i] = len(b)
	}
	for i := 0; i < 6; i++ {
		if all[i].Change.Record != ids[i] || all[i].Change.Created.IsZero() || all[i].Change.CreatedBy != "ana" {
			t.Fatalf("item %d: %+v", i, all[i].Change)
		}
	}
	if c := all[6].Change; c.Record != ids[0] || len(c.Fields) != 1 || string(c.Fields["pressure"].Value) != "2" {
		t.Fatalf("edit change %+v", c)
	}
	if c := all[7].Change; c.Record != ids[1] || string(c.Fields[form.FieldDeleted].Value) != "true" {
		t.Fatalf("delete change %+v", c)
	}
	if n, err := s.PendingCount(ctx); err != nil || n != 8 {
		t.Fatalf("PendingCount %d %v", n, err)
	}

	t.Run("Limits", func(t *testing.T) {
		cases := []struct {
			name            string
			limit, maxBytes int
			want            int
		}{
			{"All", 0, 0, 8},
			{"Limit3", 3, 0, 3},
			{"LimitOverCount", 100, 0, 8},
			{"TinyMaxBytesStillOne", 0, 1, 1},
			{"MaxBytesTwo", 0, sizes[0] + sizes[1], 2},
			{"MaxBytesJustUnderThree", 0, sizes[0] + sizes[1] + sizes[2] - 1, 2},
			{"BothLimitWins", 2, 1 << 20, 2},
			{"BothBytesWin", 5, sizes[0] + sizes[1] + sizes[2], 3},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.Pending(ctx, c.limit, c.maxBytes)
				if err != nil {
					t.Fatal(err)
				}
				if !equalSeqs(seqsOf(got), seqsOf(all[:c.want])) {
					t.Fatalf("got %v, want %v", seqsOf(got), seqsOf(all[:c.want]))
				}
			})
		}
	})

	t.Run("Ack", func(t *testing.T) {
		if err := s.Ack(ctx, all[0].Seq, all[1].Seq); err != nil {
			t.Fatal(err)
		}
		audit := stateOf(t, s).Audit
		for i := 0; i < 2; i++ { // again: acks may arrive twice
			if err := s.Ack(ctx, all[0].Seq, all[1].Seq, 99999); err != nil {
				t.Fatalf("repeated ack: %v", err)
			}
		}
		if err := s.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		got := mustPending(t, s)
		if !equalSeqs(seqsOf(got), seqsOf(all[2:])) {
			t.Fatalf("after ack: %v, want %v", seqsOf(got), seqsOf(all[2:]))
		}
		if st := stateOf(t, s); st.Audit != audit || st.Count != 6 {
			t.Fatalf("ack changed records or audit: %+v", st)
		}
	})

	t.Run("DeadLetter", func(t *testing.T) {
		when := clk.Advance(time.Minute)
		if err := s.DeadLetter(ctx, all[3].Seq, "409: template inspection@1 is retired"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeadLetter(ctx, all[5].Seq, "400: bad value"); err != nil {
			t.Fatal(err)
		}
		got := mustPending(t, s)
		want := []uint64{all[2].Seq, all[4].Seq, all[6].Seq, all[7].Seq}
		if !equalSeqs(seqsOf(got), want) {
			t.Fatalf("pending %v, want %v", seqsOf(got), want)
		}
		if n, _ := s.PendingCount(ctx); n != 4 {
			t.Fatalf("PendingCount %d", n)
		}
		dl, err := s.DeadLetters(ctx)
		if err != nil || len(dl) != 2 {
			t.Fatalf("dead letters %+v %v", dl, err)
		}
		if d := dl[0]; d.Seq != all[3].Seq || d.Reason != "409: template inspection@1 is retired" || d.Change.ID != all[3].Change.ID ||
			!d.Time.Equal(when) || d.Change.Record != ids[3] {
			t.Fatalf("dead letter %+v", d)
		}
		if dl[1].Seq != all[5].Seq || dl[1].Reason != "400: bad value" {
			t.Fatalf("dead letter %+v", dl[1])
		}
	})
	t.Run("ErrNotFound_DeadLetter", func(t *testing.T) {
		for _, seq := range []uint64{all[3].Seq, all[0].Seq, 424242} { // already dead, acked, never issued
			if err := s.DeadLetter(ctx, seq, "x"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("dead-letter %d: %v, want ErrNotFound", seq, err)
			}
		}
	})

	t.Run("Retry", func(t *testing.T) {
		if err := s.Retry(ctx, all[5].Seq); err != nil {
			t.Fatal(err)
		}
		got := mustPending(t, s)
		want := []uint64{all[2].Seq, all[4].Seq, all[5].Seq, all[6].Seq, all[7].Seq}
		if !equalSeqs(seqsOf(got), want) {
			t.Fatalf("pending %v, want %v (back in its place)", seqsOf(got), want)
		}
		if got[2].Change.ID != all[5].Change.ID {
			t.Fatalf("retried change %s, want %s", got[2].Change.ID, all[5].Change.ID)
		}
		dl, _ := s.DeadLetters(ctx)
		if len(dl) != 1 || dl[0].Seq != all[3].Seq {
			t.Fatalf("dead letters %+v", dl)
		}
	})
	t.Run("ErrNotFound_Retry", func(t *testing.T) {
		for _, seq := range []uint64{all[5].Seq, all[2].Seq, 424242} { // retried, pending, never issued
			if err := s.Retry(ctx, seq); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("retry %d: %v, want ErrNotFound", seq, err)
			}
		}
	})

	t.Run("NewSavesAfterEverything", func(t *testing.T) {
		r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "late")})
		got := mustPending(t, s)
		last := got[len(got)-1]
		if last.Change.Record != r.ID || last.Seq <= all[7].Seq {
			t.Fatalf("a new save has seq %d, after %d", last.Seq, all[7].Seq)
		}
	})

	t.Run("SurvivesReopen", func(t *testing.T) {
		before := mustPending(t, s)
		dead, _ := s.DeadLetters(ctx)
		dir := s.Dir()
		s.Close()
		s2 := openReplica(t, dir, "dev-out", clk)
		after := mustPending(t, s2)
		if !equalSeqs(seqsOf(before), seqsOf(after)) {
			t.Fatalf("pending after reopen %v, want %v", seqsOf(after), seqsOf(before))
		}
		dead2, _ := s2.DeadLetters(ctx)
		if len(dead2) != len(dead) || dead2[0].Reason != dead[0].Reason {
			t.Fatalf("dead letters after reopen %+v", dead2)
		}
	})
}

// TestOutboxSeqNeverReused: sequence numbers only grow, even when every change was
// acknowledged and the replica reopened. The server's ledger remembers the highest
// sequence it holds; a reused number would look acknowledged already.
func TestOutboxSeqNeverReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openReplica(t, dir, "dev-seq", nil)
	for i := 0; i < 3; i++ {
		mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "x")})
	}
	p := mustPending(t, s)
	high := p[len(p)-1].Seq
	if err := s.Ack(ctx, seqsOf(p)...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openReplica(t, dir, "dev-seq", nil)
	mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "y")})
	p = mustPending(t, s)
	if len(p) != 1 || p[0].Seq <= high {
		t.Fatalf("after acking through %d and reopening, a new change got seq %v", high, seqsOf(p))
	}
	// And once more with a dead letter that is retried and acked.
	if err := s.DeadLetter(ctx, p[0].Seq, "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, p[0].Seq); err != nil {
		t.Fatal(err)
	}
	high = p[0].Seq
	if err := s.Ack(ctx, high); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openReplica(t, dir, "dev-seq", nil)
	mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "z")})
	if p = mustPending(t, s); len(p) != 1 || p[0].Seq <= high {
		t.Fatalf("seq %v reused after %d", seqsOf(p), high)
	}
}
