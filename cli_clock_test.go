package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
)

// syncWithClock opens an agent's replica in this process with its wall clock
// ahead by the given amount, optionally saves a new record, and syncs once.
func syncWithClock(t *testing.T, dir string, ahead time.Duration, site string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{Now: func() time.Time { return time.Now().Add(ahead) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if site != "" {
		if _, err := st.Save(ctx, store.Edit{Template: form.TemplateKey{ID: "site-inspection"}, Author: "ann",
			Values: form.Values{"site_code": json.RawMessage(`"` + site + `"`)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ffsync.New(st, ffsync.Options{}).SyncOnce(ctx); err != nil {
		t.Fatalf("sync with the clock %s ahead: %v", ahead, err)
	}
}

// `fieldforms status` tells of a clock that ran ahead: the changes held for it while
// it is wrong, and once it is right, that they were stamped anew and sent.
func TestStatusTellsOfAClockThatRanAhead(t *testing.T) {
	s := startFieldformsd(t)
	a := newAgent(t, s, "ann")
	syncWithClock(t, a.dir, 48*time.Hour, "NW-0048")

	var rep statusReport
	if err := json.Unmarshal([]byte(ok(t, a.dir, "status", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Clock == nil || rep.Clock.Held != 1 || rep.Clock.OffsetSeconds < 47*3600 ||
		!strings.Contains(rep.Clock.Message, "48 h ahead") || !strings.Contains(rep.Clock.Message, "1 change(s) held") {
		t.Fatalf("status --json while the clock is ahead: %+v", rep.Clock)
	}
	if txt := ok(t, a.dir, "status"); !strings.Contains(txt, "clock:        this device's clock is 48 h ahead of the server's") {
		t.Fatalf("status while the clock is ahead:\n%s", txt)
	}

	syncWithClock(t, a.dir, 0, "")
	rep = statusReport{}
	if err := json.Unmarshal([]byte(ok(t, a.dir, "status", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Pending != 0 || len(rep.DeadLetters) != 0 || rep.Clock == nil || rep.Clock.Held != 0 || rep.Clock.Restamped != 1 ||
		!strings.Contains(rep.Clock.Message, "1 change(s) re-stamped after the clock was corrected at") {
		t.Fatalf("status --json after the clock was set right: %+v, clock %+v", rep, rep.Clock)
	}
	b := newAgent(t, s, "bob")
	b.syncUntilQuiet()
	if got := strings.Join(b.ids2(), " "); !strings.Contains(got, "NW-0048") {
		t.Fatalf("another device lacks the record made while the clock was ahead: %s", got)
	}
}

// ids2 lists the agent's records as their list lines.
func (a *agent) ids2() []string {
	a.t.Helper()
	return strings.Split(strings.TrimSpace(ok(a.t, a.dir, "record", "list", "--all", "--limit", "0")), "\n")
}
