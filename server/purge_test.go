package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

const evidence = `{"id":"evidence","version":1,"name":"Evidence",
 "fields":[{"id":"site","type":"text","label":"Site"},
           {"id":"photos","type":"photo","label":"Photos"}]}`

// evidenceChange makes a record of the evidence template with photos.
func (d *device) evidenceChange(site string, photos ...form.Attachment) form.Change {
	st := form.Stamp{HLC: form.NewHLC(time.Now().UnixMilli(), 0), Device: d.id}
	ph, _ := json.Marshal(photos)
	return form.Change{ID: form.NewID(), Record: form.NewID(), Template: "evidence", Version: 1,
		Created: st, CreatedBy: "ann",
		Fields: map[string]form.FieldValue{
			"site":   {Value: json.RawMessage(`"` + site + `"`), Stamp: st},
			"photos": {Value: ph, Stamp: st},
		},
		Author: "ann", Device: d.id}
}

func (d *device) approve(t testing.TB, id string) (wire.PurgeStatus, answer) {
	t.Helper()
	var st wire.PurgeStatus
	a := d.do(t, "POST", "/v1/admin/purge/approve", wire.PurgeApproval{ID: id}, &st)
	return st, a
}

func approvers(st wire.PurgeStatus) []string {
	var out []string
	for _, a := range st.Approvals {
		out = append(out, a.User)
	}
	return out
}

func TestPurge(t *testing.T) {
	ts, az := blobServer(t)
	ts.addTenant(t, "acme")
	if _, err := ts.AddTemplate(context.Background(), "acme", json.RawMessage(evidence)); err != nil {
		t.Fatal(err)
	}
	ann := ts.enroll(t, "acme", "ann")
	alice := ts.enrollAdmin(t, "acme", "alice")
	bob := ts.enrollAdmin(t, "acme", "bob")
	bob2 := ts.enrollAdmin(t, "acme", "bob") // bob's second device
	carol := ts.enrollAdmin(t, "acme", "carol")
	dave := ts.enrollAdmin(t, "acme", "dave")

	// Two photos: one only on the record to purge, one shared with a record that stays.
	own, shared := randomBytes(t, 700), randomBytes(t, 900)
	ownSHA, sharedSHA := ann.attach(t, az, own), ann.attach(t, az, shared)
	att := func(sha string, n int) form.Attachment {
		return form.Attachment{SHA256: sha, Size: int64(n), Type: "image/jpeg", Name: "p.jpg"}
	}
	victim := ann.evidenceChange("secret site", att(ownSHA, 700), att(sharedSHA, 900))
	keeper := ann.evidenceChange("public site", att(sharedSHA, 900))
	ann.pushOK(t, victim, keeper)
	_, cursor := ann.pullAll(t, "")
	var before wire.AuditResponse
	alice.do(t, "GET", "/v1/admin/audit", nil, &before)
	var hist0 wire.AuditResponse
	alice.do(t, "GET", "/v1/admin/audit?record="+victim.Record, nil, &hist0)

	present := func() bool {
		t.Helper()
		a := alice.do(t, "GET", "/v1/admin/records/"+victim.Record, nil, nil)
		switch a.code {
		case 200:
			return true
		case 410:
			return false
		}
		t.Fatalf("record: %d %+v", a.code, a.err)
		return false
	}

	t.Run("ErrBadRequest", func(t *testing.T) {
		req := func(d *device, ids []string, reason string) answer {
			return d.do(t, "POST", "/v1/admin/purge/request", wire.PurgeRequest{Records: ids, Reason: reason}, nil)
		}
		wantCode(t, "not admin", req(ann, []string{victim.Record}, "x"), 403, wire.CodeForbidden)
		wantCode(t, "no reason", req(alice, []string{victim.Record}, "  "), 400, wire.CodeBadRequest)
		wantCode(t, "no records", req(alice, nil, "x"), 400, wire.CodeBadRequest)
		wantCode(t, "twice", req(alice, []string{victim.Record, victim.Record}, "x"), 400, wire.CodeBadRequest)
		wantCode(t, "unknown", req(alice, []string{form.NewID()}, "x"), 404, wire.CodeNotFound)
		wantCode(t, "bad id", req(alice, []string{"../x"}, "x"), 400, wire.CodeBadRequest)
		_, a := bob.approve(t, form.NewID())
		wantCode(t, "approve unknown", a, 404, wire.CodeNotFound)
		if l := purgeList(t, alice); len(l.Requests) != 0 {
			t.Fatalf("refused requests were kept: %+v", l.Requests)
		}
	})

	var st wire.PurgeStatus
	a := alice.do(t, "POST", "/v1/admin/purge/request", wire.PurgeRequest{Records: []string{victim.Record}, Reason: "GDPR erasure request #42"}, &st)
	wantCode(t, "request", a, 200, "")
	if st.ID == "" || st.Requester != "alice" || st.RequesterDevice != alice.id || len(st.Approvals) != 0 || st.Done != nil {
		t.Fatalf("request: %+v", st)
	}
	reqID := st.ID

	t.Run("ErrRequesterApproves", func(t *testing.T) {
		_, a := alice.approve(t, reqID)
		wantCode(t, "requester approves", a, 403, wire.CodeForbidden)
		if !strings.Contains(a.err.Message, "cannot approve") {
			t.Fatalf("message: %q", a.err.Message)
		}
		if !present() {
			t.Fatal("the requester's approval purged the record")
		}
	})

	t.Run("OneApproval", func(t *testing.T) {
		st, a := bob.approve(t, reqID)
		wantCode(t, "approve", a, 200, "")
		if !slices.Equal(approvers(st), []string{"bob"}) || st.Approvals[0].Device != bob.id || st.Done != nil {
			t.Fatalf("after one approval: %+v", st)
		}
		// The same admin again, and from another device: still one approval.
		st, _ = bob.approve(t, reqID)
		st2, a := bob2.approve(t, reqID)
		wantCode(t, "bob's other device", a, 200, "")
		if len(st.Approvals) != 1 || len(st2.Approvals) != 1 || st2.Done != nil {
			t.Fatalf("a repeated approval counted: %+v / %+v", st, st2)
		}
		if !present() || alice.search(t, "q=secret").Total != 1 {
			t.Fatal("one approval purged the record")
		}
		recs, _ := ann.pullAll(t, cursor)
		if len(recs) != 0 {
			t.Fatalf("pull after one approval: %d records", len(recs))
		}
	})

	t.Run("TwoApprovals", func(t *testing.T) {
		st, a := carol.approve(t, reqID)
		wantCode(t, "second approval", a, 200, "")
		if !slices.Equal(approvers(st), []string{"bob", "carol"}) || st.Done == nil || st.BlobsPending != 0 {
			t.Fatalf("after two approvals: %+v", st)
		}
		// Gone from get, search, fetch.
		if present() {
			t.Fatal("the record is still there")
		}
		if got := alice.search(t, "deleted=all"); got.Total != 1 || got.Items[0].ID != keeper.Record {
			t.Fatalf("search after purge: %+v", got)
		}
		var fr wire.FetchResponse
		ann.do(t, "POST", "/v1/records", wire.FetchRequest{IDs: []string{victim.Record, keeper.Record}}, &fr)
		if len(fr.Records) != 1 || fr.Records[0].ID != keeper.Record {
			t.Fatalf("fetch after purge: %+v", fr.Records)
		}
		// A device's next pull carries the purge.
		var pr wire.PullResponse
		wantCode(t, "pull", ann.do(t, "GET", "/v1/pull?cursor="+cursor, nil, &pr), 200, "")
		if !slices.Equal(pr.Purged, []string{victim.Record}) || len(pr.Records) != 0 {
			t.Fatalf("pull after purge: purged %v, %d records", pr.Purged, len(pr.Records))
		}
		// The record cannot come back from a device.
		resp, _ := ann.push(t, ann.change(victim.Record, "again", 1))
		if resp.Results[0].Status != wire.StatusRejected || resp.Results[0].Code != wire.CodePurged {
			t.Fatalf("push to a purged record: %+v", resp.Results[0])
		}
		// Every audit entry stays; the request, both approvals and the purge itself
		// are added (who, what, why), and the chain holds.
		var after wire.AuditResponse
		alice.do(t, "GET", "/v1/admin/audit?verify=1", nil, &after)
		var actions []string
		for _, e := range after.Entries[len(before.Entries):] {
			actions = append(actions, e.Action)
		}
		if got := strings.Join(actions, ","); got != "purge-request,purge-approve,purge-approve,purge" {
			t.Fatalf("audit entries added: %s", got)
		}
		if len(after.Entries) != len(before.Entries)+4 || after.Verified == nil || !*after.Verified {
			t.Fatalf("audit: %d entries before, %d after, verified %v %s", len(before.Entries), len(after.Entries), after.Verified, after.Problem)
		}
		for i, e := range before.Entries {
			if after.Entries[i].Hash != e.Hash {
				t.Fatalf("audit entry %d changed", e.Seq)
			}
		}
		var hist wire.AuditResponse
		alice.do(t, "GET", "/v1/admin/audit?record="+victim.Record, nil, &hist)
		if len(hist.Entries) != len(hist0.Entries)+4 { // request, two approvals, purge
			t.Fatalf("history: %d entries, want %d", len(hist.Entries), len(hist0.Entries)+4)
		}
		last := hist.Entries[len(hist.Entries)-1]
		if last.Action != "purge" || last.Actor != "carol" || last.Device != carol.id {
			t.Fatalf("purge entry: %+v", last)
		}
		for _, want := range []string{reqID, "alice", "bob", "carol", "GDPR erasure request #42"} {
			if !strings.Contains(last.Note, want) {
				t.Fatalf("purge entry's note %q does not name %q", last.Note, want)
			}
		}
		// The photo only the purged record had is gone from blob storage; the shared
		// one stays.
		if blobExists(t, az, "acme", ownSHA) {
			t.Fatal("the purged record's own attachment is still in blob storage")
		}
		if !blobExists(t, az, "acme", sharedSHA) {
			t.Fatal("a shared attachment was deleted")
		}
		wantCode(t, "get purged attachment", ann.do(t, "GET", "/v1/attachments/"+ownSHA, nil, nil), 404, wire.CodeNotFound)
		wantCode(t, "get shared attachment", ann.do(t, "GET", "/v1/attachments/"+sharedSHA, nil, nil), 200, "")
	})

	t.Run("AfterDone", func(t *testing.T) {
		st, a := carol.approve(t, reqID) // a retry of the final approval
		wantCode(t, "approve again", a, 200, "")
		if len(st.Approvals) != 2 || st.Done == nil {
			t.Fatalf("approve again: %+v", st)
		}
		_, a = dave.approve(t, reqID)
		wantCode(t, "late approval", a, 409, wire.CodeConflict)
		a = alice.do(t, "POST", "/v1/admin/purge/request", wire.PurgeRequest{Records: []string{victim.Record}, Reason: "again"}, nil)
		wantCode(t, "request for a purged record", a, 409, wire.CodePurged)
		l := purgeList(t, dave)
		if len(l.Requests) != 1 || l.Requests[0].ID != reqID || l.Requests[0].Done == nil || l.Requests[0].Reason != "GDPR erasure request #42" {
			t.Fatalf("list: %+v", l)
		}
	})
}

func purgeList(t testing.TB, d *device) wire.PurgeList {
	t.Helper()
	var l wire.PurgeList
	wantCode(t, "purge list", d.do(t, "GET", "/v1/admin/purge", nil, &l), 200, "")
	return l
}

// TestPurgeOffline runs a purge through the admin operations the command line uses,
// with no server running and no blob storage: the blob deletion waits for a server
// with blob storage.
func TestPurgeOffline(t *testing.T) {
	ts, az := blobServer(t)
	ts.addTenant(t, "acme")
	if _, err := ts.AddTemplate(context.Background(), "acme", json.RawMessage(evidence)); err != nil {
		t.Fatal(err)
	}
	ann := ts.enroll(t, "acme", "ann")
	for _, u := range []string{"alice", "bob", "carol"} {
		ts.enrollAdmin(t, "acme", u)
	}
	photo := randomBytes(t, 333)
	sha := ann.attach(t, az, photo)
	victim := ann.evidenceChange("x", form.Attachment{SHA256: sha, Size: 333, Type: "image/png"})
	ann.pushOK(t, victim)
	ts.stop()

	ctx := context.Background()
	opts := ts.opts
	opts.Blob, opts.Create = nil, false
	admin := func(op string, args, out any) error { return server.Admin(ctx, opts, op, args, out) }

	var st wire.PurgeStatus
	if err := admin(server.OpPurgeRequest, server.PurgeRequestArgs{Tenant: "acme", User: "mallory", Reason: "r", Records: []string{victim.Record}}, &st); err == nil || !strings.Contains(err.Error(), "not an admin") {
		t.Fatalf("request by a user who is no admin: %v", err)
	}
	if err := admin(server.OpPurgeRequest, server.PurgeRequestArgs{Tenant: "acme", User: "alice", Reason: "wrong tenant data", Records: []string{victim.Record}}, &st); err != nil {
		t.Fatal(err)
	}
	if st.RequesterDevice != server.CLIDevice {
		t.Fatalf("request: %+v", st)
	}
	err := admin(server.OpPurgeApprove, server.PurgeApproveArgs{Tenant: "acme", User: "alice", ID: st.ID}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot approve") || strings.HasPrefix(err.Error(), "forbidden") {
		t.Fatalf("requester approves: %v", err)
	}
	for _, u := range []string{"bob", "bob", "carol"} {
		if err := admin(server.OpPurgeApprove, server.PurgeApproveArgs{Tenant: "acme", User: u, ID: st.ID}, &st); err != nil {
			t.Fatalf("approve by %s: %v", u, err)
		}
	}
	if st.Done == nil || len(st.Approvals) != 2 || st.BlobsPending != 1 {
		t.Fatalf("after approvals offline: %+v", st)
	}
	var audit wire.AuditResponse
	if err := admin(server.OpAudit, server.AuditArgs{Tenant: "acme", Record: victim.Record, Verify: true}, &audit); err != nil {
		t.Fatal(err)
	}
	if audit.Verified == nil || !*audit.Verified || audit.Entries[len(audit.Entries)-1].Action != "purge" || audit.Entries[len(audit.Entries)-1].Device != server.CLIDevice {
		t.Fatalf("audit after an offline purge: %+v", audit)
	}
	if !blobExists(t, az, "acme", sha) {
		t.Fatal("the blob went without blob storage?")
	}

	// A server with blob storage deletes it.
	opts.Blob = ts.opts.Blob
	s, err := server.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SweepPurgedBlobs(ctx); err != nil {
		t.Fatal(err)
	}
	if blobExists(t, az, "acme", sha) {
		t.Fatal("the sweep left the purged blob")
	}
	var list []wire.PurgeStatus
	raw, _ := json.Marshal(server.TenantArgs{Tenant: "acme"})
	res, err := s.RunAdmin(ctx, server.OpPurgeList, raw)
	if err != nil {
		t.Fatal(err)
	}
	list = res.([]wire.PurgeStatus)
	if len(list) != 1 || list[0].BlobsPending != 0 {
		t.Fatalf("list after the sweep: %+v", list)
	}
}
