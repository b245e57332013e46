package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// enrollAdmin enrols a device for an admin user.
func (ts *testServer) enrollAdmin(t testing.TB, tenant, user string) *device {
	t.Helper()
	code, err := ts.NewEnrolment(context.Background(), tenant, user, true, ts.url)
	if err != nil {
		t.Fatal(err)
	}
	id := form.NewID()
	var resp wire.EnrollResponse
	if a := ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: code.Secret, DeviceID: id}, &resp); a.code != 200 || !resp.Admin {
		t.Fatalf("enroll admin: %d %+v", a.code, a.err)
	}
	return &device{ts: ts, tenant: tenant, id: id, token: resp.Token}
}

// deleteChange makes a change that deletes a record (a tombstone).
func (d *device) deleteChange(rec form.Record) form.Change {
	st := form.Stamp{HLC: form.NewHLC(time.Now().UnixMilli(), 1), Device: d.id}
	return form.Change{ID: form.NewID(), Record: rec.ID, Template: rec.Template, Version: rec.Version,
		Created: rec.Created, CreatedBy: rec.CreatedBy,
		Fields: map[string]form.FieldValue{form.FieldDeleted: {Value: json.RawMessage("true"), Stamp: st}},
		Author: "ann", Device: d.id}
}

// pushOK pushes changes and fails unless every one applied.
func (d *device) pushOK(t testing.TB, changes ...form.Change) {
	t.Helper()
	resp, a := d.push(t, changes...)
	wantCode(t, "push", a, 200, "")
	for _, r := range resp.Results {
		if r.Status != wire.StatusApplied {
			t.Fatalf("push: %+v", r)
		}
	}
}

func (d *device) search(t testing.TB, q string) wire.SearchResponse {
	t.Helper()
	var resp wire.SearchResponse
	wantCode(t, "search "+q, d.do(t, "GET", "/v1/admin/search?"+q, nil, &resp), 200, "")
	return resp
}

func ids(items []wire.Summary) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestAdminAPI(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	ts.addTenant(t, "globex")
	ann := ts.enroll(t, "acme", "ann")
	alice := ts.enrollAdmin(t, "acme", "alice")
	gadmin := ts.enrollAdmin(t, "globex", "gus")

	c1, c2, c3 := ann.change(form.NewID(), "north gate", 3), ann.change(form.NewID(), "south yard", 5), ann.change(form.NewID(), "east wing", 7)
	ann.pushOK(t, c1, c2, c3)
	ann.pushOK(t, ann.deleteChange(c2.AsRecord()))
	_, cursor := ann.pullAll(t, "")

	t.Run("ErrNotAdmin", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/admin/search"}, {"GET", "/v1/admin/records/" + c1.Record},
			{"POST", "/v1/admin/restore"}, {"GET", "/v1/admin/export"}, {"GET", "/v1/admin/audit?verify=1"},
			{"POST", "/v1/admin/purge/request"}, {"POST", "/v1/admin/purge/approve"}, {"GET", "/v1/admin/purge"},
		} {
			a := ann.do(t, c.method, c.path, []byte(`{}`), nil)
			wantCode(t, c.method+" "+c.path, a, 403, wire.CodeForbidden)
			if !strings.Contains(a.err.Message, "admin") {
				t.Errorf("%s: message %q", c.path, a.err.Message)
			}
			wantCode(t, "no token", ts.do(t, "", c.method, c.path, []byte(`{}`), nil), 401, wire.CodeUnauthorized)
		}
	})

	t.Run("Search", func(t *testing.T) {
		if got := alice.search(t, ""); got.Total != 2 || !slices.Equal(ids(got.Items), sorted(c1.Record, c3.Record)) {
			t.Fatalf("live: %+v", got)
		}
		if got := alice.search(t, "deleted=deleted"); got.Total != 1 || got.Items[0].ID != c2.Record || !got.Items[0].Deleted {
			t.Fatalf("deleted: %+v", got)
		}
		if got := alice.search(t, "deleted=all"); got.Total != 3 {
			t.Fatalf("all: %+v", got)
		}
		if got := alice.search(t, "deleted=all&q=south"); got.Total != 1 || got.Items[0].ID != c2.Record {
			t.Fatalf("text among deleted: %+v", got)
		}
		if got := alice.search(t, "q=south"); got.Total != 0 {
			t.Fatalf("a deleted record in a live search: %+v", got)
		}
		if got := alice.search(t, "template=inspection&status=submitted&limit=1"); got.Total != 2 || len(got.Items) != 1 {
			t.Fatalf("template, status, limit: %+v", got)
		}
		from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		to := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if got := alice.search(t, "deleted=all&from="+from+"&to="+to); got.Total != 3 {
			t.Fatalf("from/to: %+v", got)
		}
		if got := alice.search(t, "to=2001-01-01"); got.Total != 0 {
			t.Fatalf("to in the past: %+v", got)
		}
		if got := gadmin.search(t, "deleted=all"); got.Total != 0 {
			t.Fatalf("another tenant's admin sees records: %+v", got)
		}
		for _, q := range []string{"deleted=maybe", "status=done", "limit=0", "limit=5000", "from=yesterday", "tenant=globex", "offset=-1"} {
			wantCode(t, q, alice.do(t, "GET", "/v1/admin/search?"+q, nil, nil), 400, wire.CodeBadRequest)
		}
	})

	t.Run("Record", func(t *testing.T) {
		var rr wire.RecordResponse
		wantCode(t, "record", alice.do(t, "GET", "/v1/admin/records/"+c2.Record, nil, &rr), 200, "")
		if rr.Record.ID != c2.Record || !rr.Record.Deleted() || len(rr.History) != 2 || rr.Server.Epoch == "" {
			t.Fatalf("record: %+v", rr)
		}
		wantCode(t, "unknown", alice.do(t, "GET", "/v1/admin/records/"+form.NewID(), nil, nil), 404, wire.CodeNotFound)
		wantCode(t, "bad id", alice.do(t, "GET", "/v1/admin/records/nope", nil, nil), 400, wire.CodeBadRequest)
		wantCode(t, "other tenant", gadmin.do(t, "GET", "/v1/admin/records/"+c1.Record, nil, nil), 404, wire.CodeNotFound)
	})

	t.Run("Restore", func(t *testing.T) {
		wantCode(t, "other tenant", gadmin.do(t, "POST", "/v1/admin/restore", wire.RestoreRequest{ID: c2.Record}, nil), 404, wire.CodeNotFound)
		var rr wire.RecordResponse
		wantCode(t, "restore", alice.do(t, "POST", "/v1/admin/restore", wire.RestoreRequest{ID: c2.Record}, &rr), 200, "")
		if rr.Record.Deleted() || len(rr.History) != 3 {
			t.Fatalf("restore: deleted=%v history=%d", rr.Record.Deleted(), len(rr.History))
		}
		last := rr.History[len(rr.History)-1]
		if last.Actor != "alice" || last.Device != alice.id || len(last.Diff) != 1 || last.Diff[0].Field != form.FieldDeleted || string(last.Diff[0].New) != "false" {
			t.Fatalf("history of the restore: %+v", last)
		}
		// Restoring a live record changes nothing.
		wantCode(t, "again", alice.do(t, "POST", "/v1/admin/restore", wire.RestoreRequest{ID: c2.Record}, &rr), 200, "")
		if len(rr.History) != 3 {
			t.Fatalf("a second restore added history: %d", len(rr.History))
		}
		if got := alice.search(t, ""); got.Total != 3 {
			t.Fatalf("live after restore: %+v", got)
		}
		// Devices get the restore through pull.
		recs, _ := ann.pullAll(t, cursor)
		if len(recs) != 1 || recs[0].ID != c2.Record || recs[0].Deleted() {
			t.Fatalf("pull after restore: %+v", recs)
		}
		wantCode(t, "bad body", alice.do(t, "POST", "/v1/admin/restore", []byte(`{"id":1}`), nil), 400, wire.CodeBadRequest)
	})

	t.Run("Export", func(t *testing.T) {
		a := alice.do(t, "GET", "/v1/admin/export", nil, nil)
		wantCode(t, "export", a, 200, "")
		if a.header.Get("Content-Type") != "application/zip" || a.header.Get(wire.HeaderEpoch) == "" {
			t.Fatalf("headers: %v", a.header)
		}
		zr, err := zip.NewReader(bytes.NewReader(a.body), int64(len(a.body)))
		if err != nil {
			t.Fatalf("not a ZIP: %v", err)
		}
		f, err := zr.Open("records.json")
		if err != nil {
			t.Fatalf("records.json: %v", err)
		}
		data, _ := io.ReadAll(f)
		var recs []form.Record
		if err := json.Unmarshal(data, &recs); err != nil || len(recs) != 3 {
			t.Fatalf("records.json: %d records, %v", len(recs), err)
		}
		// Another tenant's export holds none of these.
		a = gadmin.do(t, "GET", "/v1/admin/export", nil, nil)
		if bytes.Contains(a.body, []byte(c1.Record)) {
			t.Fatal("another tenant's export holds acme's records")
		}
	})

	t.Run("Audit", func(t *testing.T) {
		var ar wire.AuditResponse
		wantCode(t, "audit", alice.do(t, "GET", "/v1/admin/audit?verify=1", nil, &ar), 200, "")
		if ar.Verified == nil || !*ar.Verified || ar.Problem != "" || ar.Checked != 3 || len(ar.Entries) != 5 { // 5 changes in 3 entries: a push is one
			t.Fatalf("audit: verified=%v checked=%d entries=%d problem=%q", ar.Verified, ar.Checked, len(ar.Entries), ar.Problem)
		}
		for i := 1; i < len(ar.Entries); i++ {
			if ar.Entries[i].Seq < ar.Entries[i-1].Seq {
				t.Fatalf("entry %d out of order", i)
			}
		}
		var page wire.AuditResponse
		alice.do(t, "GET", "/v1/admin/audit?after=1&limit=1", nil, &page)
		if len(page.Entries) != 1 || page.Entries[0].Seq != 2 || page.Verified != nil {
			t.Fatalf("page: %+v", page)
		}
		var hist wire.AuditResponse
		alice.do(t, "GET", "/v1/admin/audit?record="+c2.Record, nil, &hist)
		if len(hist.Entries) != 3 {
			t.Fatalf("history of one record: %d entries", len(hist.Entries))
		}
		for _, q := range []string{"verify=yes", "limit=0", "after=-1", "record=x", "other=1"} {
			wantCode(t, q, alice.do(t, "GET", "/v1/admin/audit?"+q, nil, nil), 400, wire.CodeBadRequest)
		}
		var other wire.AuditResponse
		gadmin.do(t, "GET", "/v1/admin/audit", nil, &other)
		if len(other.Entries) != 0 {
			t.Fatalf("another tenant's audit shows %d entries", len(other.Entries))
		}
	})
}
