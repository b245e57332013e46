package server_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/sync/wire"
)

// Publishing a template is for admins (issue: "any device can publish a template").
// A device that is not an admin's may only return a template version the tenant
// signed, which is how a server rebuilt with an empty data folder gets its templates
// back; an unsigned, altered or other tenant's template is refused alone, with a
// reason that names it.
func TestTemplatePublishing(t *testing.T) {
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	ts.addTenant(t, "globex")
	dev := ts.enroll(t, "acme", "al")
	admin := ts.enrollAdmin(t, "acme", "ann")
	other := ts.enrollAdmin(t, "globex", "gus")

	noRules := `{"id":"inspection","version":2,"name":"Inspection","fields":[{"id":"site","type":"text","label":"Site"}]}`
	var pr wire.TemplatesPushResponse
	wantCode(t, "device push", dev.do(t, "POST", "/v1/templates", wire.TemplatesPush{Templates: []json.RawMessage{json.RawMessage(noRules)}}, &pr), 200, "")
	if r := pr.Results[0]; r.Status != wire.StatusRejected || r.Code != wire.CodeForbidden || !strings.Contains(r.Message, "admin") || !strings.Contains(r.Message, "inspection version 2") {
		t.Fatalf("a device that is not an admin's published a template: %+v", r)
	}
	forged := wire.TemplatesPush{Templates: []json.RawMessage{json.RawMessage(noRules)}, Signatures: []string{strings.Repeat("A", 43)}}
	wantCode(t, "forged", dev.do(t, "POST", "/v1/templates", forged, &pr), 200, "")
	if r := pr.Results[0]; r.Status != wire.StatusRejected || r.Code != wire.CodeForbidden || !strings.Contains(r.Message, "signature") {
		t.Fatalf("a forged signature was accepted: %+v", r)
	}
	bad := wire.TemplatesPush{Templates: []json.RawMessage{json.RawMessage(noRules)}, Signatures: []string{"a", "b"}}
	wantCode(t, "signature count", dev.do(t, "POST", "/v1/templates", bad, nil), 400, wire.CodeBadRequest)

	// An admin's device publishes; every template comes back signed.
	wantCode(t, "admin push", admin.do(t, "POST", "/v1/templates", wire.TemplatesPush{Templates: []json.RawMessage{json.RawMessage(noRules)}}, &pr), 200, "")
	if r := pr.Results[0]; r.Status != wire.StatusApplied {
		t.Fatalf("admin publish: %+v", r)
	}
	var tr, otherTr wire.TemplatesResponse
	wantCode(t, "list", dev.do(t, "GET", "/v1/templates", nil, &tr), 200, "")
	if len(tr.Templates) != 2 || len(tr.Signatures) != 2 || tr.Signatures[0] == "" || tr.Signatures[1] == "" {
		t.Fatalf("templates %d, signatures %q", len(tr.Templates), tr.Signatures)
	}
	wantCode(t, "globex list", other.do(t, "GET", "/v1/templates", nil, &otherTr), 200, "")
	if otherTr.Signatures[0] == tr.Signatures[0] {
		t.Fatal("the same template has the same signature in two tenants")
	}

	// The server loses its data folder; the device gives the templates back.
	ts.stop()
	if err := os.RemoveAll(opts.DataDir); err != nil {
		t.Fatal(err)
	}
	ts2 := startServer(t, opts)
	dev.ts = ts2
	var empty wire.TemplatesResponse
	if dev.do(t, "GET", "/v1/templates", nil, &empty); len(empty.Templates) != 0 {
		t.Fatalf("rebuilt server has %d templates", len(empty.Templates))
	}
	altered := strings.Replace(string(tr.Templates[0]), `"Inspection"`, `"Inspection (altered)"`, 1)
	if altered == string(tr.Templates[0]) {
		t.Fatal("test template not altered")
	}
	back := wire.TemplatesPush{
		Templates:  []json.RawMessage{json.RawMessage(altered), tr.Templates[0], tr.Templates[1], tr.Templates[1]},
		Signatures: []string{tr.Signatures[0], otherTr.Signatures[0], tr.Signatures[1], ""},
	}
	wantCode(t, "give back", dev.do(t, "POST", "/v1/templates", back, &pr), 200, "")
	want := []string{wire.StatusRejected, wire.StatusRejected, wire.StatusApplied, wire.StatusRejected}
	for i, w := range want {
		if r := pr.Results[i]; r.Status != w || w == wire.StatusRejected && r.Code != wire.CodeForbidden {
			t.Errorf("templates[%d]: %+v, want %s", i, r, w)
		}
	}
	// Another tenant's signature of the same template does not pass; the tenant's does.
	wantCode(t, "give back", dev.do(t, "POST", "/v1/templates", wire.TemplatesPush{Templates: tr.Templates, Signatures: tr.Signatures}, &pr), 200, "")
	var after wire.TemplatesResponse
	dev.do(t, "GET", "/v1/templates", nil, &after)
	if len(after.Templates) != 2 || string(after.Templates[0]) != string(tr.Templates[0]) || after.Signatures[1] != tr.Signatures[1] {
		t.Fatalf("after the give-back: %s, signatures %q", after.Templates, after.Signatures)
	}
}
