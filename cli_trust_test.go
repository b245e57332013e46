package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Trust with real processes (issue 10, items 3, 6 and 7): only an admin publishes a
// template, the server's audit names the credential rather than what a device says,
// and the server checks a submitted record and the bound of a pull itself.

// newAdminAgent is a device enrolled for an admin of the tenant.
func newAdminAgent(t *testing.T, s *testServer, user string) *agent {
	t.Helper()
	code := strings.TrimSpace(s.admin("enroll", "--tenant", "acme", "--user", user, "--admin", "--server-url", "https://"+s.addr))
	a := &agent{t: t, dir: t.TempDir()}
	if out := ok(t, a.dir, "enroll", code, "--name", user); !strings.Contains(out, "enrolled") {
		t.Fatalf("enroll: %q", out)
	}
	return a
}

// device is the agent's device ID, as its status tells it.
func (a *agent) device() string {
	a.t.Helper()
	var st struct {
		Device string `json:"device"`
	}
	if err := json.Unmarshal([]byte(ok(a.t, a.dir, "status", "--json")), &st); err != nil || st.Device == "" {
		a.t.Fatalf("status --json: %v %+v", err, st)
	}
	return st.Device
}

// hasTemplate reports whether the agent's replica holds a version of the template.
func (a *agent) hasTemplate(id string) bool {
	a.t.Helper()
	for line := range strings.Lines(ok(a.t, a.dir, "templates")) {
		if f, _, _ := strings.Cut(line, "\t"); f == id {
			return true
		}
	}
	return false
}

// templateJSON is the newest version of a template the agent's replica holds, as
// the device would send it.
func (a *agent) templateJSON(id string) json.RawMessage {
	a.t.Helper()
	st, err := store.Open(context.Background(), a.dir, store.Options{})
	if err != nil {
		a.t.Fatal(err)
	}
	defer st.Close()
	var out json.RawMessage
	for _, tpl := range st.Templates() {
		if tpl.ID == id {
			out = tpl.Encode()
		}
	}
	if out == nil {
		a.t.Fatalf("no template %s on %s's device", id, a.dir)
	}
	return out
}

// client is an HTTPS client of the real server with the agent's own credential,
// read from its replica while no command runs on it: it sends what the fieldforms
// commands would not.
func (a *agent) client() (*ffsync.Client, ffsync.Credential) {
	a.t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, a.dir, store.Options{})
	if err != nil {
		a.t.Fatal(err)
	}
	defer st.Close()
	cred, err := ffsync.LoadCredential(ctx, st)
	if err != nil {
		a.t.Fatal(err)
	}
	c, err := ffsync.NewClient(cred, ffsync.ClientOptions{Timeout: 30 * time.Second})
	if err != nil {
		a.t.Fatal(err)
	}
	return c, cred
}

// audit is the server's history of one record, from fieldformsd audit.
func (s *testServer) audit(record string) []wire.AuditEntry {
	s.t.Helper()
	var resp wire.AuditResponse
	out := s.admin("audit", "--tenant", "acme", "--record", record, "--json")
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp.Entries) == 0 {
		s.t.Fatalf("audit of %s: %v\n%s", record, err, out)
	}
	return resp.Entries
}

// A device that is not an admin's imports a form and syncs: the server refuses the
// template (forbidden), the sync says so, and no other device and no admin gets it.
// The same form imported on an admin's device is published and reaches the others.
func TestAgentCannotPublishTemplate(t *testing.T) {
	s := startFieldformsd(t)
	ann, bob, ada := newAgent(t, s, "ann"), newAgent(t, s, "bob"), newAdminAgent(t, s, "ada")
	xml := filepath.Join(t.TempDir(), "clinic.xml")
	if err := os.WriteFile(xml, []byte(`<?xml version="1.0"?>
<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml">
  <h:head><h:title>Clinic visit</h:title><model>
    <instance><data id="clinic_visit" version="1"><age/></data></instance>
    <bind nodeset="/data/age" type="int" constraint=". &lt; 120"/>
  </model></h:head>
  <h:body><input ref="/data/age"><label>Age</label></input></h:body>
</h:html>`), 0o600); err != nil {
		t.Fatal(err)
	}
	out := ok(t, ann.dir, "template", "import", xml)
	if !strings.Contains(out, "added as version 1") || !strings.Contains(out, "It stays on this device: only an admin's device publishes") {
		t.Fatalf("template import on ann's device:\n%s", out)
	}
	// Ann's device does not offer it; sent anyway with her credential, the real
	// server refuses it, that template alone.
	c, _ := ann.client()
	tpl := ann.templateJSON("clinic_visit")
	var resp wire.TemplatesPushResponse
	if _, err := c.Do(context.Background(), http.MethodPost, "/v1/templates", nil, wire.TemplatesPush{Templates: []json.RawMessage{tpl}}, &resp); err != nil {
		t.Fatalf("push ann's template with her credential: %v", err)
	}
	if len(resp.Results) != 1 || resp.Results[0].Status != wire.StatusRejected || resp.Results[0].Code != "forbidden" {
		t.Fatalf("the server's answer to ann's template: %+v", resp.Results)
	}
	r := cli(t, ann.dir, "sync", "--once")
	if r.code != 0 && r.code != 3 {
		t.Fatalf("ann's sync: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "not published") {
		t.Errorf("ann's device offered templates no admin signed:\n%s", r.stdout)
	}
	ann.syncUntilQuiet()
	bob.syncUntilQuiet()
	ada.syncUntilQuiet()
	for name, a := range map[string]*agent{"bob": bob, "ada": ada} {
		if a.hasTemplate("clinic_visit") {
			t.Fatalf("%s got the template a device that is not an admin's imported", name)
		}
		if !a.hasTemplate("site-inspection") {
			t.Fatalf("%s lacks the template fieldformsd template add published", name)
		}
	}
	if !ann.hasTemplate("clinic_visit") {
		t.Fatal("ann's device lost its own import")
	}

	// An admin's device publishes the same form: it reaches bob.
	if out := ok(t, ada.dir, "template", "import", xml); !strings.Contains(out, "added as version 1") {
		t.Fatalf("template import on ada's device:\n%s", out)
	}
	ada.syncUntilQuiet()
	bob.syncUntilQuiet()
	if !bob.hasTemplate("clinic_visit") {
		t.Fatal("the template an admin's device published did not reach bob")
	}
}

// The server's audit names the user and device of the credential: a device that says
// someone else made its record is recorded as itself, the claim kept in the note.
// After the server loses its data folder, the records ann's device gives back for bob
// read "restored from ann's device; made by bob on bob's device".
func TestAgentsAuditNamesTheCredential(t *testing.T) {
	s := startFieldformsd(t)
	ann, bob := newAgent(t, s, "ann"), newAgent(t, s, "bob")
	annDev, bobDev := ann.device(), bob.device()
	lie := strings.TrimSpace(ok(t, ann.dir, "record", "new", "--template", "site-inspection", "--json", `{"site_code": "LI-001"}`, "--author", "mallory"))
	x := ann.newRecord("AN-001")
	y := bob.newRecord("BO-001")
	ann.syncUntilQuiet()
	// An edit pushed as a change, not given back by the first sync's reconcile.
	ok(t, ann.dir, "record", "edit", lie, "--json", `{"site_code": "LI-002"}`, "--author", "mallory")
	ann.syncUntilQuiet()
	bob.syncUntilQuiet()
	ann.syncUntilQuiet()
	if !ann.ids()[y] {
		t.Fatalf("ann lacks bob's record %s", y)
	}

	for _, c := range []struct {
		name, record, user, device string
		notes                      []string // each in the note of some entry
	}{
		{"claimed creator and author", lie, "ann", annDev, []string{`claimed creator "mallory"`, `claimed author "mallory"`}},
		{"ann's own record", x, "ann", annDev, nil},
		{"bob's own record", y, "bob", bobDev, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			notes := ""
			for _, e := range s.audit(c.record) {
				if e.Actor != c.user || e.Device != c.device {
					t.Errorf("audit of %s names %q on device %s, want %q on %s (note %q)", c.record, e.Actor, e.Device, c.user, c.device, e.Note)
				}
				notes += e.Note + "\n"
			}
			for _, n := range c.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("audit of %s: no note holds %q:\n%s", c.record, n, notes)
				}
			}
			if c.notes == nil && strings.Contains(notes, "claimed") {
				t.Errorf("audit of %s: nothing was claimed:\n%s", c.record, notes)
			}
		})
	}

	// The data folder is lost; ann's device alone gives everything back.
	s.kill()
	if err := os.RemoveAll(s.data); err != nil {
		t.Fatal(err)
	}
	s.serve()
	ann.syncUntilQuiet()
	e := s.audit(y)[0]
	want := "restored from device " + annDev + "; made by " + strconv.Quote("bob") + " on device " + bobDev
	if e.Actor != "ann" || e.Device != annDev || !strings.Contains(e.Note, want) {
		t.Fatalf("audit of bob's record given back by ann: %q on device %s, note %q; want ann on %s, note holding %q", e.Actor, e.Device, e.Note, annDev, want)
	}
	if e := s.audit(x)[0]; e.Actor != "ann" || e.Device != annDev || strings.Contains(e.Note, "restored from") {
		t.Fatalf("audit of ann's own record given back: %q on device %s, note %q", e.Actor, e.Device, e.Note)
	}
}

// The server checks what a device's own check would have stopped: a submitted record
// without a required answer, pushed over HTTPS with a real device's credential, is
// rejected naming the record and the field, and is not kept; a pull above the limit's
// bound is refused with 400.
func TestAgentSubmittedRecordChecked(t *testing.T) {
	s := startFieldformsd(t)
	ann, bob := newAgent(t, s, "ann"), newAgent(t, s, "bob")
	c, cred := ann.client()
	ctx := context.Background()

	st := form.Stamp{HLC: form.NewHLC(time.Now().UnixMilli(), 0), Device: cred.DeviceID}
	rec := form.NewID()
	ch := form.Change{ID: form.NewID(), Record: rec, Template: "site-inspection", Version: 1, Created: st, CreatedBy: "ann",
		Fields: map[string]form.FieldValue{
			"inspector":      {Value: json.RawMessage(`"Ann Example"`), Stamp: st},
			form.FieldStatus: {Value: json.RawMessage(`"submitted"`), Stamp: st},
		},
		Author: "ann", Device: cred.DeviceID}
	var resp wire.PushResponse
	if _, err := c.Do(ctx, http.MethodPost, "/v1/push", nil, wire.PushRequest{Changes: []wire.PushChange{{Seq: 1, Change: ch}}}, &resp); err != nil {
		t.Fatalf("push: %v", err)
	}
	if len(resp.Results) != 1 {
		t.Fatalf("push answered %+v", resp.Results)
	}
	if r := resp.Results[0]; r.Status != wire.StatusRejected || r.Code != wire.CodeInvalid || !strings.Contains(r.Message, rec) || !strings.Contains(r.Message, "site_code") {
		t.Errorf("a submitted record without its site code: %+v; want rejected, code invalid, naming %s and site_code", r, rec)
	}
	bob.syncUntilQuiet()
	if bob.ids()[rec] {
		t.Errorf("the server kept the incomplete record %s and gave it to bob", rec)
	}

	for _, p := range []struct {
		limit string
		code  int
	}{
		{"5000", http.StatusOK},
		{"5001", http.StatusBadRequest},
		{"1000000", http.StatusBadRequest},
	} {
		var pull wire.PullResponse
		_, err := c.Do(ctx, http.MethodGet, "/v1/pull", url.Values{"limit": {p.limit}}, nil, &pull)
		var apiErr *ffsync.APIError
		switch {
		case p.code == http.StatusOK && err != nil:
			t.Errorf("pull?limit=%s: %v", p.limit, err)
		case p.code != http.StatusOK && (!errors.As(err, &apiErr) || apiErr.Status != p.code || !strings.Contains(apiErr.Message, "5000")):
			t.Errorf("pull?limit=%s: %v; want %d naming the bound 5000", p.limit, err, p.code)
		}
	}
}
