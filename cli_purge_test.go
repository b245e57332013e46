package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

var purgeReqRe = regexp.MustCompile(`purge request ([0-9a-f-]{36}) recorded`)

// A purge with real processes: admins purge a record with fieldformsd; the device
// that syncs drops it and says so; the data folder is lost; a device that was offline
// and edited the record meanwhile cannot bring it back, and drops its copy (I10).
func TestAgentsPurgeStaysPurged(t *testing.T) {
	s := startFieldformsd(t)
	a, b := newAgent(t, s, "ann"), newAgent(t, s, "bob")
	x := a.newRecord("SE-001")
	y := a.newRecord("KE-001")
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	if !b.ids()[x] {
		t.Fatalf("bob lacks %s before the purge", x)
	}
	for _, u := range []string{"ada", "bea", "cy"} {
		code := strings.TrimSpace(s.admin("enroll", "--tenant", "acme", "--user", u, "--admin", "--server-url", "https://"+s.addr))
		ok(t, t.TempDir(), "enroll", code, "--name", u)
	}
	m := purgeReqRe.FindStringSubmatch(s.admin("purge", "request", x, "--tenant", "acme", "--user", "ada", "--reason", "erasure request"))
	if m == nil {
		t.Fatal("purge request printed no request ID")
	}
	s.admin("purge", "approve", m[1], "--tenant", "acme", "--user", "bea")
	s.admin("purge", "approve", m[1], "--tenant", "acme", "--user", "cy")

	a.syncUntilQuiet()
	if a.ids()[x] || !a.ids()[y] {
		t.Fatalf("ann holds %v after the purge", a.ids())
	}
	fails(t, cli(t, a.dir, "record", "show", x), 1, "permanently deleted")
	fails(t, cli(t, a.dir, "record", "edit", x, "--json", `{"site_code": "BA-001"}`), 1, "permanently deleted")
	var st struct {
		Purged  int `json:"purged"`
		Pending int `json:"pending"`
	}
	if err := json.Unmarshal([]byte(ok(t, a.dir, "status", "--json")), &st); err != nil || st.Purged != 1 || st.Pending != 0 {
		t.Fatalf("status: %+v %v", st, err)
	}

	// Bob was offline: he edits the record, then the server loses its data folder.
	ok(t, b.dir, "record", "edit", x, "--json", `{"site_code": "ED-001"}`)
	s.kill()
	if err := os.RemoveAll(s.data); err != nil {
		t.Fatal(err)
	}
	s.serve()
	b.syncUntilQuiet()
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	c := newAgent(t, s, "carol")
	c.syncUntilQuiet()
	if ids := c.ids(); ids[x] || !ids[y] || len(ids) != 1 {
		t.Fatalf("the rebuilt server holds %v; want only %s, never the purged %s", ids, y, x)
	}
	if b.ids()[x] {
		t.Fatalf("bob still holds the purged record %s", x)
	}
	fails(t, cli(t, b.dir, "record", "show", x), 1, "permanently deleted")
	if err := json.Unmarshal([]byte(ok(t, b.dir, "status", "--json")), &st); err != nil || st.Purged != 1 || st.Pending != 0 {
		t.Fatalf("bob's status: %+v %v", st, err)
	}
}
