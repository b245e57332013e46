package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// skewReason is how a replica records a change refused for clock skew.
const skewReason = "clock_skew"

func isSkew(d store.DeadLetter) bool { return strings.HasPrefix(d.Reason, skewReason) }

// pushTo sends a replica's outbox to a peer as a server would take it: applied changes
// leave the outbox, refused ones become dead letters with the reason. It returns the
// refusals.
func pushTo(t *testing.T, dev, srv *store.Store) []error {
	t.Helper()
	ctx := context.Background()
	items := mustPending(t, dev)
	chs := make([]form.Change, len(items))
	for i, it := range items {
		chs[i] = it.Change
	}
	var refused []error
	for i, r := range mustApplyChanges(t, srv, chs) {
		switch r.Status {
		case store.Rejected:
			refused = append(refused, r.Err)
			reason := "invalid: " + r.Err.Error()
			if strings.Contains(r.Err.Error(), "clock skew") {
				reason = skewReason + ": " + r.Err.Error()
			}
			if err := dev.DeadLetter(ctx, items[i].Seq, reason); err != nil {
				t.Fatal(err)
			}
		default:
			if err := dev.Ack(ctx, items[i].Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	return refused
}

// skewedReplica builds the state of issue 10.5 on a device: a record accepted while
// the clock was right; then, with the clock 48 h ahead, an edit of it and a new
// record, both refused; then, with the clock right again, another edit, refused too
// because its stamp must follow the skewed ones. A peer's edit of the same record,
// accepted by the server after the skewed one was made, is pulled in between.
func skewedReplica(t *testing.T, dir string, clk, srvClk *fakeClock) (dev, srv *store.Store, r1, r2 string) {
	t.Helper()
	ctx := context.Background()
	dev = openReplica(t, dir, "dev-ahead", clk)
	srv = openReplica(t, t.TempDir(), "dev-server", srvClk)
	r1 = mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00001", "Ann", "first")}).ID
	if refused := pushTo(t, dev, srv); len(refused) != 0 {
		t.Fatalf("a change made with the right clock was refused: %v", refused)
	}
	clk.Advance(48 * time.Hour)
	mustSave(t, dev, store.Edit{Record: r1, Author: "ann", Values: vals("notes", "skewed")})
	r2 = mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00002", "Ann", "new while ahead")}).ID
	if refused := pushTo(t, dev, srv); len(refused) != 2 {
		t.Fatalf("refusals of changes stamped 48 h ahead: %v", refused)
	}
	// A peer edits r1 on the server; the device pulls it: its own, later-looking notes
	// win locally, the peer's inspector is taken.
	srvClk.Advance(time.Minute)
	clk.Set(srvClk.Now())
	peer := mustGet(t, srv, r1)
	at := form.Stamp{HLC: srv.Clock().Now(), Device: "dev-peer"}
	peer.Fields["inspector"] = form.FieldValue{Value: json.RawMessage(`"Pia"`), Stamp: at}
	peer.Fields["notes"] = form.FieldValue{Value: json.RawMessage(`"peer"`), Stamp: at}
	if res, err := srv.ApplyRecords(ctx, []form.Record{peer}, "test"); err != nil || res[0].Status != store.Applied {
		t.Fatalf("peer edit on the server: %+v %v", res, err)
	}
	if res, err := dev.ApplyRecords(ctx, []form.Record{mustGet(t, srv, r1)}, "sync"); err != nil || res[0].Status != store.Applied {
		t.Fatalf("pull of the peer edit: %+v %v", res, err)
	}
	// The clock is right again, and the next edit is refused all the same: the bug.
	mustSave(t, dev, store.Edit{Record: r1, Author: "ann", Values: vals("notes", "after the fix")})
	refused := pushTo(t, dev, srv)
	if len(refused) != 1 || !strings.Contains(refused[0].Error(), "clock skew") {
		t.Fatalf("an edit made after the clock was set right: refusals %v, want one for clock skew", refused)
	}
	return dev, srv, r1, r2
}

func TestRestampHealsAClockThatRanAhead(t *testing.T) {
	ctx := context.Background()
	clk, srvClk := newFakeClock(clockEpoch), newFakeClock(clockEpoch)
	dir := t.TempDir()
	dev, srv, r1, r2 := skewedReplica(t, dir, clk, srvClk)
	if dead, _ := dev.DeadLetters(ctx); len(dead) != 3 {
		t.Fatalf("dead letters before the heal: %d, want 3", len(dead))
	}
	srvClockBefore := srv.Clock().Last()

	res, err := dev.Restamp(ctx, isSkew)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requeued != 3 || res.Changes != 3 || res.Records != 2 || !res.Rewound || res.Dropped != 0 {
		t.Fatalf("restamp: %+v, want 3 changes requeued, 2 records, nothing dropped, clock rewound", res)
	}
	limit := form.NewHLC(clk.Now().Add(time.Second).UnixMilli(), 0)
	if res.Clock >= limit || dev.Clock().Last() >= limit {
		t.Fatalf("clock after the heal %s (in memory %s), want about %s", res.Clock.Time(), dev.Clock().Last().Time(), clk.Now())
	}
	// The latest local value still wins locally; the peer's accepted edit is kept.
	got := mustGet(t, dev, r1)
	if v := string(got.Fields["notes"].Value); v != `"after the fix"` {
		t.Fatalf("notes after the heal: %s", v)
	}
	if v := string(got.Fields["inspector"].Value); v != `"Pia"` || got.Fields["inspector"].Stamp.Device != "dev-peer" {
		t.Fatalf("the peer's accepted edit was touched: %+v", got.Fields["inspector"])
	}
	if got.Fields["notes"].Stamp.Compare(got.Fields["inspector"].Stamp) <= 0 {
		t.Fatalf("the re-stamped edit orders before the peer's: %+v", got.Fields)
	}
	mustVerify(t, dev)
	if dead, _ := dev.DeadLetters(ctx); len(dead) != 0 {
		t.Fatalf("dead letters after the heal: %+v", dead)
	}

	// Everything reaches the server now, which took none of the future into its clock.
	if refused := pushTo(t, dev, srv); len(refused) != 0 {
		t.Fatalf("after the heal the server refused: %v", refused)
	}
	if n := len(mustPending(t, dev)); n != 0 {
		t.Fatalf("%d changes still pending", n)
	}
	for _, id := range []string{r1, r2} {
		if a, b := revOf(t, srv, id), revOf(t, dev, id); a != b {
			t.Fatalf("record %s: server and device differ", id)
		}
	}
	if v := string(mustGet(t, srv, r1).Fields["notes"].Value); v != `"after the fix"` {
		t.Fatalf("notes on the server: %s", v)
	}
	if c := srv.Clock().Last(); c >= form.NewHLC(srvClk.Now().Add(time.Second).UnixMilli(), 0) {
		t.Fatalf("the server's clock moved to %s (was %s, now %s)", c.Time(), srvClockBefore.Time(), srvClk.Now())
	}
	if n, _ := srv.Count(ctx); n != 2 {
		t.Fatalf("server holds %d records, want 2", n)
	}

	// Again: nothing left in the future, nothing changes.
	before := stateOf(t, dev)
	if res, err := dev.Restamp(ctx, isSkew); err != nil || res.Stamps != 0 || res.Changes != 0 || res.Rewound {
		t.Fatalf("second restamp: %+v %v", res, err)
	}
	if !sameState(before, stateOf(t, dev)) {
		t.Fatal("a second restamp changed the replica")
	}
	// The lowered clock is what the replica reopens with.
	dev.Close()
	dev = openReplica(t, dir, "dev-ahead", clk)
	r := mustSave(t, dev, store.Edit{Record: r2, Author: "ann", Values: vals("notes", "next day")})
	if h := r.Fields["notes"].Stamp.HLC; h >= limit {
		t.Fatalf("a save after reopening is stamped %s, want about %s", h.Time(), clk.Now())
	}
}

// A replica whose clock is right has nothing to heal: Restamp leaves it alone.
func TestRestampNothingInTheFuture(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	dev := openReplica(t, t.TempDir(), "dev-ok", clk)
	mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00001", "Ann", "x")})
	p := mustPending(t, dev)
	if err := dev.DeadLetter(ctx, p[0].Seq, skewReason+": test"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	before := stateOf(t, dev)
	res, err := dev.Restamp(ctx, nil)
	if err != nil || res.Stamps != 0 || res.Changes != 0 || res.Rewound {
		t.Fatalf("restamp: %+v %v", res, err)
	}
	if !sameState(before, stateOf(t, dev)) {
		t.Fatal("restamp changed a replica with nothing in the future")
	}
}

const restampCrashEnv = "FIELDFORMS_RESTAMP_CRASH"

// TestRestampCrashChild is the crash test's child: it heals the replica it is given
// and kills itself with SIGKILL inside the transaction, at the step named.
func TestRestampCrashChild(t *testing.T) {
	spec := os.Getenv(restampCrashEnv)
	if spec == "" {
		t.Skip("runs as TestRestampCrash's child process")
	}
	var dir, step string
	var ms int64
	if _, err := fmt.Sscanf(spec, "%s %s %d", &dir, &step, &ms); err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	clk := newFakeClock(time.UnixMilli(ms))
	s, err := store.Open(context.Background(), dir, store.Options{Device: "dev-ahead", Now: clk.Now, LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	store.SetRestampFault(func(at string) error {
		if at == step {
			// SIGKILL on Unix, TerminateProcess on Windows.
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Kill()
			}
			select {}
		}
		return nil
	})
	_, err = s.Restamp(context.Background(), isSkew)
	fmt.Println("ERR restamp returned", err)
	os.Exit(3)
}

// A heal killed in the middle leaves the replica as it was, and the next heal does it.
func TestRestampCrash(t *testing.T) {
	for _, step := range []string{"records", "changes"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			clk, srvClk := newFakeClock(clockEpoch), newFakeClock(clockEpoch)
			dir := t.TempDir()
			dev, srv, r1, _ := skewedReplica(t, dir, clk, srvClk)
			before := stateOf(t, dev)
			deadBefore, _ := dev.DeadLetters(ctx)
			clockBefore := dev.Clock().Last()
			dev.Close()

			out, err := runChild(t, "TestRestampCrashChild", time.Minute,
				fmt.Sprintf("%s=%s %s %d", restampCrashEnv, dir, step, clk.Now().UnixMilli()))
			// Killed: by SIGKILL on Unix; on Windows TerminateProcess ends it with
			// status 1, and it printed nothing (its other ends print ERR).
			killed := err != nil && (strings.Contains(err.Error(), "killed") ||
				runtime.GOOS == "windows" && strings.Contains(err.Error(), "exit status 1") && !strings.Contains(out, "ERR"))
			if !killed {
				t.Fatalf("the child was not killed inside the heal: %v\n%s", err, out)
			}

			dev = openReplica(t, dir, "dev-ahead", clk)
			if !sameState(before, stateOf(t, dev)) {
				t.Fatal("a heal killed half-way changed the replica")
			}
			deadAfter, _ := dev.DeadLetters(ctx)
			if fmt.Sprint(deadAfter) != fmt.Sprint(deadBefore) {
				t.Fatalf("dead letters changed by a killed heal:\n%+v\n%+v", deadBefore, deadAfter)
			}
			if c := dev.Clock().Last(); c != clockBefore {
				t.Fatalf("clock after a killed heal %s, want %s", c, clockBefore)
			}
			if res, err := dev.Restamp(ctx, isSkew); err != nil || res.Requeued != 3 {
				t.Fatalf("heal after the crash: %+v %v", res, err)
			}
			if refused := pushTo(t, dev, srv); len(refused) != 0 {
				t.Fatalf("after the heal the server refused: %v", refused)
			}
			if v := string(mustGet(t, srv, r1).Fields["notes"].Value); v != `"after the fix"` {
				t.Fatalf("notes on the server: %s", v)
			}
			mustVerify(t, dev)
		})
	}
}

// A held edit that already lost, on the device, to an edit someone accepted keeps
// losing: it is left out of the re-stamped change rather than given a stamp that
// would win, and the clock goes back no further than that accepted edit.
func TestRestampKeepsALostEditLosing(t *testing.T) {
	ctx := context.Background()
	clk, srvClk := newFakeClock(clockEpoch), newFakeClock(clockEpoch)
	dev := openReplica(t, t.TempDir(), "dev-ahead", clk)
	srv := openReplica(t, t.TempDir(), "dev-server", srvClk)
	id := mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00001", "Ann", "first")}).ID
	if refused := pushTo(t, dev, srv); len(refused) != 0 {
		t.Fatal(refused)
	}
	clk.Advance(30 * time.Hour)
	mustSave(t, dev, store.Edit{Record: id, Author: "ann", Values: vals("notes", "held")})
	if refused := pushTo(t, dev, srv); len(refused) != 1 {
		t.Fatalf("refusals: %v", refused)
	}
	// Later, a peer whose clock is 23 h ahead of the server's edits the same field;
	// the server accepts it, and its stamp is above the held one.
	srvClk.Advance(12 * time.Hour)
	peer := mustGet(t, srv, id)
	peerStamp := form.Stamp{HLC: form.NewHLC(srvClk.Now().Add(23*time.Hour).UnixMilli(), 0), Device: "dev-peer"}
	peer.Fields["notes"] = form.FieldValue{Value: json.RawMessage(`"peer"`), Stamp: peerStamp}
	if res, err := srv.ApplyRecords(ctx, []form.Record{peer}, "test"); err != nil || res[0].Status != store.Applied {
		t.Fatalf("peer edit on the server: %+v %v", res, err)
	}
	if res, err := dev.ApplyRecords(ctx, []form.Record{mustGet(t, srv, id)}, "sync"); err != nil || res[0].Status != store.Applied {
		t.Fatalf("pull of the peer edit: %+v %v", res, err)
	}
	clk.Set(srvClk.Now())
	res, err := dev.Restamp(ctx, isSkew)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dropped != 1 || res.Changes != 1 || res.Clock != peerStamp.HLC {
		t.Fatalf("restamp: %+v, want the lost field dropped and the clock at the peer's stamp %s", res, peerStamp.HLC)
	}
	if dead, _ := dev.DeadLetters(ctx); len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
	if n := len(mustPending(t, dev)); n != 0 {
		t.Fatalf("%d changes pending; the held change had nothing left to send", n)
	}
	if v := string(mustGet(t, dev, id).Fields["notes"].Value); v != `"peer"` {
		t.Fatalf("notes on the device: %s, want the peer's", v)
	}
	if r := mustSave(t, dev, store.Edit{Record: id, Author: "ann", Values: vals("notes", "mine, later")}); r.Fields["notes"].Stamp.Compare(peerStamp) <= 0 {
		t.Fatal("a later local edit orders before the accepted one")
	}
	mustVerify(t, dev)
}

// A replica reopened after its clock was set back by more than the skew bound still
// orders new edits after the ones made while it ran ahead: its own past is restored,
// not refused as a remote's clock skew, so the latest edit wins until a heal.
func TestReopenAfterClockSetBackKeepsOrder(t *testing.T) {
	clk := newFakeClock(clockEpoch.Add(48 * time.Hour))
	dir := t.TempDir()
	dev := openReplica(t, dir, "dev-ahead", clk)
	id := mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00001", "Ann", "while ahead")}).ID
	dev.Close()
	clk.Set(clockEpoch)
	dev = openReplica(t, dir, "dev-ahead", clk)
	mustSave(t, dev, store.Edit{Record: id, Author: "ann", Values: vals("notes", "after the clock was set back")})
	if v := string(mustGet(t, dev, id).Fields["notes"].Value); v != `"after the clock was set back"` {
		t.Fatalf("notes after reopening with the clock set back: %s, want the latest edit", v)
	}
}

// A change refused for skew whose stamps are not in the future (the server's clock
// was behind) goes back into the outbox as it was; the clock does not go back, so no
// stamp is issued twice.
func TestRestampRequeuesWithoutRewinding(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	dev := openReplica(t, t.TempDir(), "dev-ok", clk)
	r := mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00001", "Ann", "x")})
	// A second save in the same millisecond: the clock's counter moves past 0.
	mustSave(t, dev, store.Edit{Template: inspection, Author: "ann", Values: complete("S-00002", "Ann", "y")})
	p := mustPending(t, dev)
	if err := dev.Ack(ctx, p[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := dev.DeadLetter(ctx, p[0].Seq, skewReason+": the server's clock was behind"); err != nil {
		t.Fatal(err)
	}
	last := dev.Clock().Last()
	res, err := dev.Restamp(ctx, isSkew)
	if err != nil || res.Requeued != 1 || res.Stamps != 0 || res.Rewound {
		t.Fatalf("restamp: %+v %v", res, err)
	}
	if got := pendingChanges(t, dev); len(got) != 1 || got[0].ID != p[0].Change.ID || fmt.Sprint(got[0]) != fmt.Sprint(p[0].Change) {
		t.Fatalf("requeued change: %+v, want %+v", got, p[0].Change)
	}
	if next := dev.Clock().Now(); next <= last || next <= r.Updated().HLC {
		t.Fatalf("next stamp %s, want after %s", next, last)
	}
}
