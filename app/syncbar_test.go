package app

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

func TestSyncBar(t *testing.T) {
	t.Run("FollowsSubscribe", func(t *testing.T) {
		s := newFakeSync(SyncStatus{State: SyncIdle, LastSuccess: mustTime(t, "2026-03-01T11:58:00Z"), Server: "https://forms.example.org"})
		v, q, _ := testMain(t, Deps{Replica: newFakeReplica(t), Sync: s}, tabletSize)
		b := v.bar
		if s.subscribers() != 1 {
			t.Fatalf("%d subscriptions, want 1", s.subscribers())
		}
		if b.state.Text != "Up to date" || b.state.Importance != widget.SuccessImportance || b.last.Text != "Last sync 2 min ago" || b.pending.Visible() {
			t.Fatalf("idle: state %q (%v), last %q, pending shown %v", b.state.Text, b.state.Importance, b.last.Text, b.pending.Visible())
		}

		// The network goes: offline, in plain words, with what waits.
		s.publish(SyncStatus{State: SyncOffline, Message: "server not reachable; your work is saved on this device and will be sent when it is",
			Pending: 3, LastSuccess: mustTime(t, "2026-03-01T09:00:00Z")})
		q.settle(v.env.ui)
		if b.state.Text != "Offline" || b.state.Importance != widget.WarningImportance ||
			b.message.Text != "server not reachable; your work is saved on this device and will be sent when it is" ||
			b.pending.Text != "3 changes waiting to send" || b.last.Text != "Last sync 3 hours ago" {
			t.Fatalf("offline: state %q, message %q, pending %q, last %q", b.state.Text, b.message.Text, b.pending.Text, b.last.Text)
		}
		if b.dead.Visible() || b.progRow.Visible() {
			t.Fatal("offline: dead letters or progress shown")
		}

		// A long first sync: a progress bar.
		s.publish(SyncStatus{State: SyncSyncing, ProgressWhat: "receiving forms", ProgressDone: 2500, Total: 10000})
		q.settle(v.env.ui)
		if !b.progRow.Visible() || b.what.Text != "Receiving forms" || b.progress.Value != 2500 || b.progress.Max != 10000 {
			t.Fatalf("progress: shown %v, %q, %v of %v", b.progRow.Visible(), b.what.Text, b.progress.Value, b.progress.Max)
		}
		if got := b.progress.TextFormatter(); got != "2,500 of 10,000" {
			t.Fatalf("progress text %q", got)
		}
		// Once the pace is known: how fast, and how long is left.
		s.publish(SyncStatus{State: SyncRebuilding, ProgressWhat: "sending records to the server", ProgressDone: 40000, Total: 100000,
			ProgressRate: 8213.4, ProgressLeft: 7300 * time.Millisecond})
		q.settle(v.env.ui)
		if want := "Sending records to the server · 8,213 a second · about 7 s left"; b.what.Text != want {
			t.Fatalf("progress with pace: %q, want %q", b.what.Text, want)
		}
		s.publish(SyncStatus{State: SyncIdle, LastSuccess: mustTime(t, "2026-03-01T12:00:00Z")})
		q.settle(v.env.ui)
		if b.progRow.Visible() || b.last.Text != "Last sync just now" || b.message.Text != "" {
			t.Fatalf("after sync: progress shown %v, last %q, message %q", b.progRow.Visible(), b.last.Text, b.message.Text)
		}
	})

	t.Run("UnsubscribesWhenDone", func(t *testing.T) {
		s := newFakeSync(SyncStatus{State: SyncIdle})
		test.NewTempApp(t)
		ctx, cancel := context.WithCancel(t.Context())
		u, q := testUI(t, ctx)
		newSyncBar(&env{ui: u, d: Deps{Replica: newFakeReplica(t), Sync: s}})
		q.settle(u)
		if s.subscribers() != 1 {
			t.Fatalf("%d subscriptions", s.subscribers())
		}
		cancel()
		for deadline := time.Now().Add(5 * time.Second); s.subscribers() != 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the subscription outlives the window's context")
			}
		}
	})

	t.Run("NotEnrolled", func(t *testing.T) {
		s := newFakeSync(SyncStatus{State: SyncNotEnrolled, Message: "enrol this device to sync"})
		v, _, _ := testMain(t, Deps{Replica: newFakeReplica(t), Sync: s}, portraitSize)
		b := v.bar
		if b.state.Text != "Not enrolled" || b.message.Text != "enrol this device to sync" || b.last.Text != "" {
			t.Fatalf("not enrolled: %q, %q, %q", b.state.Text, b.message.Text, b.last.Text)
		}
	})

	t.Run("StatusAnswerOlderThanUpdate", func(t *testing.T) {
		s := newFakeSync(SyncStatus{State: SyncIdle})
		a := test.NewTempApp(t)
		w := a.NewWindow("")
		t.Cleanup(w.Close)
		e, q, _ := testEnv(t, a, w, Deps{Replica: newFakeReplica(t), Sync: s})
		b := newSyncBar(e)
		// An update from the engine arrives before the first Status answer
		// is taken in: the update, being newer, stays.
		s.publish(SyncStatus{State: SyncError, Message: "certificate changed"})
		q.settle(e.ui)
		if b.state.Text != "Needs attention" || b.message.Text != "certificate changed" {
			t.Fatalf("state %q %q, want the update", b.state.Text, b.message.Text)
		}
	})
}

func TestDeadLetters(t *testing.T) {
	s := newFakeSync(SyncStatus{State: SyncError, DeadLetters: 2, Message: "2 change(s) refused by the server"})
	s.dead = []DeadLetter{
		{Seq: 7, Record: "0190d1f0-aaaa-7000-8000-000000000001", Reason: "template site-inspection@9 unknown", Time: mustTime(t, "2026-03-01T10:00:00Z")},
		{Seq: 9, Record: "0190d1f0-bbbb-7000-8000-000000000002", Reason: "value of field \"site_code\" refused", Time: mustTime(t, "2026-03-01T10:05:00Z")},
	}
	s.retryErr[9] = errors.New("not found")
	v, q, _ := testMain(t, Deps{Replica: newFakeReplica(t), Sync: s}, tabletSize)
	b := v.bar
	if !b.dead.Visible() || b.dead.Text != "2 refused" {
		t.Fatalf("dead-letter button: shown %v, %q", b.dead.Visible(), b.dead.Text)
	}
	test.Tap(b.dead)
	q.settle(v.env.ui)
	l := b.deadList
	if l == nil || len(l.items) != 2 {
		t.Fatal("the dead-letter list did not open with its items")
	}
	texts := overlayTexts(v.env.w)
	for _, want := range []string{"Changes the server refused", "Form 0190d1f0 · 2026-03-01 10:00", "template site-inspection@9 unknown"} {
		if !containsText(texts, want) {
			t.Fatalf("dialog lacks %q: %q", want, texts)
		}
	}

	// Retry one: it leaves the list.
	rows := deadRows(l)
	test.Tap(rows[0].retry)
	q.settle(v.env.ui)
	if len(l.items) != 1 || l.items[0].Seq != 9 || s.callCount("RetryDeadLetter") != 1 {
		t.Fatalf("after retry: items %+v", l.items)
	}
	// A retry that fails says why, and the item stays.
	rows = deadRows(l)
	test.Tap(rows[0].retry)
	q.settle(v.env.ui)
	if len(l.items) != 1 || deadRows(l)[0].reason.Text != "Retry failed: not found" {
		t.Fatalf("failed retry: items %d, reason %q", len(l.items), deadRows(l)[0].reason.Text)
	}
	s.mu.Lock()
	delete(s.retryErr, 9)
	s.mu.Unlock()
	test.Tap(deadRows(l)[0].retry)
	q.settle(v.env.ui)
	if len(l.items) != 0 || !l.message.Visible() {
		t.Fatalf("after the last retry: items %d, message %q", len(l.items), l.message.Text)
	}

	// The engine's next status hides the button.
	s.publish(SyncStatus{State: SyncIdle})
	q.settle(v.env.ui)
	if b.dead.Visible() {
		t.Fatal("the dead-letter button stays with none left")
	}
	tapOverlayButton(t, v.env.w, "Close")
	if b.deadList != nil {
		t.Fatal("the closed dialog still gets updates")
	}
}

// deadRows returns the dead-letter rows on screen, top to bottom.
func deadRows(l *deadLetterList) []*deadLetterRow {
	var rows []*deadLetterRow
	walkShown(l.list, func(o fyne.CanvasObject) {
		if r, ok := o.(*deadLetterRow); ok && r.title.Text != "" {
			rows = append(rows, r)
		}
	})
	slices.SortFunc(rows, func(a, b *deadLetterRow) int { return int(a.Position().Y - b.Position().Y) })
	return rows
}

func TestAgo(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-20 * time.Second), "just now"},
		{now.Add(-90 * time.Second), "1 min ago"},
		{now.Add(-2 * time.Minute), "2 min ago"},
		{now.Add(-59 * time.Minute), "59 min ago"},
		{now.Add(-61 * time.Minute), "1 hour ago"},
		{now.Add(-5 * time.Hour), "5 hours ago"},
		{now.Add(-50 * time.Hour), "on 2026-02-27"},
	} {
		if got := ago(now, tt.t); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", now.Sub(tt.t), got, tt.want)
		}
	}
}

func TestPace(t *testing.T) {
	for _, c := range []struct {
		rate float64
		left time.Duration
		want string
	}{
		{0, time.Minute, ""},
		{950.4, 0, " · 950 a second"},
		{12000, 400 * time.Millisecond, " · 12,000 a second · about 1 s left"},
		{3000, 150 * time.Second, " · 3,000 a second · about 3 min left"},
		{20, 3*time.Hour + 20*time.Minute, " · 20 a second · about 3 h 20 min left"},
	} {
		if got := pace(c.rate, c.left); got != c.want {
			t.Errorf("pace(%v, %v) = %q, want %q", c.rate, c.left, got, c.want)
		}
	}
}
