package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// purgeByAdmins has ids of tenant acme purged: ada requests, bob and cy approve (all
// three enrolled as admins here). It returns the request's ID.
func purgeByAdmins(t testing.TB, ts *testServer, ids ...string) string {
	t.Helper()
	ctx := context.Background()
	for _, u := range []string{"ada", "bob", "cy"} {
		ts.enrollAdmin(t, "acme", u)
	}
	out, err := ts.RunAdmin(ctx, server.OpPurgeRequest, mustJSON(t, server.PurgeRequestArgs{Tenant: "acme", User: "ada", Reason: "data subject request", Records: ids}))
	if err != nil {
		t.Fatalf("purge request: %v", err)
	}
	id := out.(wire.PurgeStatus).ID
	for _, u := range []string{"bob", "cy"} {
		if _, err := ts.RunAdmin(ctx, server.OpPurgeApprove, mustJSON(t, server.PurgeApproveArgs{Tenant: "acme", User: u, ID: id})); err != nil {
			t.Fatalf("approval by %s: %v", u, err)
		}
	}
	return id
}

// A restore from a backup taken before a purge carries out the purge again at once,
// for the records the backup holds and for those made after it: a device that was
// offline and still holds one cannot push it back (I10).
func TestRestorePurgesRecordsMadeAfterTheBackup(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, bkOptions(t, nil))
	ts.addTenant(t, "acme")
	a, b := bkEnrol(t, ts, "acme", "anna"), bkEnrol(t, ts, "acme", "ben")
	old := a.save(t, "", "before the backup", 1)
	a.sync(t)
	bkNow(t, ts)
	late := a.save(t, "", "after the backup", 2)
	keep := a.save(t, "", "kept", 3)
	a.sync(t)
	b.sync(t) // ben holds all three, then goes offline
	purgeByAdmins(t, ts, old.ID, late.ID)
	a.sync(t)

	res, err := ts.RestoreTenant(ctx, "acme", "latest", "")
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.PurgesReapplied != 1 {
		t.Errorf("restore %+v: want 1 purge carried out again", res)
	}
	// Ben edits the record made after the backup, then syncs.
	b.save(t, late.ID, "edited offline", 4)
	b.sync(t)
	a.sync(t)
	b.sync(t)
	obs := bkEnrol(t, ts, "acme", "observer")
	srv := bkRevs(t, obs.st)
	for _, id := range []string{old.ID, late.ID} {
		if _, ok := srv[id]; ok {
			t.Errorf("purged record %s is back after the restore", id)
		}
		if _, ok := bkRevs(t, b.st)[id]; ok {
			t.Errorf("ben still holds purged record %s", id)
		}
		if p, _ := b.st.IsPurged(ctx, id); !p {
			t.Errorf("ben does not remember %s as purged", id)
		}
	}
	if _, ok := srv[keep.ID]; !ok || len(srv) != 1 {
		t.Fatalf("the server holds %v; want only %s", srv, keep.ID)
	}
	if dl, _ := b.st.DeadLetters(ctx); len(dl) != 0 {
		t.Fatalf("ben's dead letters: %+v", dl)
	}
}

// The decision is in the config folder once the purge ran, signed; pull answers carry
// the notice; the audit keeps every step.
func TestPurgeLogWritten(t *testing.T) {
	ctx := context.Background()
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	x := d.change(form.NewID(), "secret", 1)
	d.pushOK(t, x, d.change(form.NewID(), "kept", 2))
	logDir := filepath.Join(opts.ConfigDir, "purges", "acme")

	for _, u := range []string{"ada", "bob", "cy"} {
		ts.enrollAdmin(t, "acme", u)
	}
	out, err := ts.RunAdmin(ctx, server.OpPurgeRequest, mustJSON(t, server.PurgeRequestArgs{Tenant: "acme", User: "ada", Reason: "erasure #7", Records: []string{x.Record}}))
	if err != nil {
		t.Fatal(err)
	}
	req := out.(wire.PurgeStatus).ID
	if _, err := ts.RunAdmin(ctx, server.OpPurgeApprove, mustJSON(t, server.PurgeApproveArgs{Tenant: "acme", User: "bob", ID: req})); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(logDir, "*.json")); len(files) != 0 {
		t.Fatalf("a purge with one approval is logged: %v", files)
	}
	if _, err := ts.RunAdmin(ctx, server.OpPurgeApprove, mustJSON(t, server.PurgeApproveArgs{Tenant: "acme", User: "cy", ID: req})); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(logDir, req+".json"))
	if err != nil {
		t.Fatalf("no purge decision in the config folder: %v", err)
	}
	var dec struct {
		Notice    form.PurgeNotice `json:"notice"`
		Requester string           `json:"requester"`
		Approvers []string         `json:"approvers"`
		Reason    string           `json:"reason"`
		Sig       string           `json:"sig"`
	}
	if err := json.Unmarshal(raw, &dec); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(opts.ConfigDir, "keys", "acme.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Notice.Verify("acme", key); err != nil || dec.Requester != "ada" || !slices.Equal(dec.Approvers, []string{"bob", "cy"}) ||
		dec.Reason != "erasure #7" || dec.Sig == "" || !slices.Equal(dec.Notice.Records, []string{x.Record}) {
		t.Fatalf("decision %+v: %v", dec, err)
	}

	var resp wire.PullResponse
	d.do(t, "GET", "/v1/pull", nil, &resp)
	if !slices.Contains(resp.Purged, x.Record) || len(resp.Notices) != 1 || resp.Notices[0].Verify("acme", key) != nil {
		t.Fatalf("pull: purged %v, notices %+v", resp.Purged, resp.Notices)
	}
	var page wire.PurgeNotices
	if a := d.do(t, "GET", "/v1/purges", nil, &page); a.code != 200 || len(page.Notices) != 1 || page.Notices[0].Request != req {
		t.Fatalf("GET /v1/purges: %d %+v", a.code, page)
	}

	var audit wire.AuditResponse
	ts.enrollAdmin(t, "acme", "auditor").do(t, "GET", "/v1/admin/audit?record="+x.Record, nil, &audit)
	var actions []string
	for _, e := range audit.Entries {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{store.ActionPurgeRequest, store.ActionPurgeApprove, store.ActionPurge} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit of the purged record lacks %s: %v", want, actions)
		}
	}
}

// A notice sent by a device is taken only when the tenant key signed it.
func TestPurgeNoticeFromADevice(t *testing.T) {
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	x := d.change(form.NewID(), "secret", 1)
	d.pushOK(t, x)
	key, err := os.ReadFile(filepath.Join(opts.ConfigDir, "keys", "acme.key"))
	if err != nil {
		t.Fatal(err)
	}
	good := form.PurgeNotice{Tenant: "acme", Request: form.NewID(), Time: time.Now(), Records: []string{x.Record}}
	good.Sign(key)
	other := good
	other.Sign(make([]byte, 32))
	tampered := good
	tampered.Records = []string{form.NewID()}
	elsewhere := good
	elsewhere.Tenant = "beta"
	elsewhere.Sign(key)
	for _, tc := range []struct {
		name string
		n    form.PurgeNotice
		want string
	}{
		{"another key", other, "does not verify"},
		{"records changed", tampered, "does not verify"},
		{"another tenant", elsewhere, `made for tenant "beta"`},
		{"no signature", form.PurgeNotice{Tenant: "acme", Request: good.Request, Time: good.Time, Records: good.Records}, "not signed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp wire.PurgeNoticesResponse
			if a := d.do(t, "POST", "/v1/purges", wire.PurgeNoticesPush{Notices: []form.PurgeNotice{tc.n}}, &resp); a.code != 200 {
				t.Fatalf("%d %+v", a.code, a.err)
			}
			if len(resp.Results) != 1 || resp.Results[0].Status != wire.StatusRejected || !strings.Contains(resp.Results[0].Message, tc.want) {
				t.Fatalf("results %+v, want rejected: %s", resp.Results, tc.want)
			}
			if recs, _ := d.pullAll(t, ""); len(recs) != 1 {
				t.Fatalf("a refused notice changed the records: %d", len(recs))
			}
			if files, _ := filepath.Glob(filepath.Join(opts.ConfigDir, "purges", "acme", "*.json")); len(files) != 0 {
				t.Fatalf("a refused notice was logged: %v", files)
			}
		})
	}
	t.Run("ErrBadRequest", func(t *testing.T) {
		many := make([]form.PurgeNotice, 101)
		for i := range many {
			many[i] = good
		}
		for _, tc := range []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"after not an ID", "GET", "/v1/purges?after=../x", nil, 400, wire.CodeBadRequest},
			{"limit zero", "GET", "/v1/purges?limit=0", nil, 400, wire.CodeBadRequest},
			{"unknown parameter", "GET", "/v1/purges?since=1", nil, 400, wire.CodeBadRequest},
			{"not JSON", "POST", "/v1/purges", []byte(`{"notices":[`), 400, wire.CodeBadRequest},
			{"too many", "POST", "/v1/purges", wire.PurgeNoticesPush{Notices: many}, 413, wire.CodeTooLarge},
		} {
			wantCode(t, tc.name, d.do(t, tc.method, tc.path, tc.body, nil), tc.status, tc.code)
		}
		if recs, _ := d.pullAll(t, ""); len(recs) != 1 {
			t.Fatalf("bad requests changed the records: %d", len(recs))
		}
	})
	var resp wire.PurgeNoticesResponse
	d.do(t, "POST", "/v1/purges", wire.PurgeNoticesPush{Notices: []form.PurgeNotice{good}}, &resp)
	if len(resp.Results) != 1 || resp.Results[0].Status != wire.StatusApplied {
		t.Fatalf("a signed notice: %+v", resp.Results)
	}
	if recs, _ := d.pullAll(t, ""); len(recs) != 0 {
		t.Fatalf("the record is still served after its signed notice: %d", len(recs))
	}
	res, _ := d.push(t, d.change(x.Record, "back", 2))
	if len(res.Results) != 1 || res.Results[0].Code != wire.CodePurged {
		t.Fatalf("push of a purged record: %+v", res.Results)
	}
}

// A damaged purge log is reported, naming the file, and the tenant is not served
// without its purges: nothing is changed.
func TestPurgeLogDamaged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, raw []byte)
		want   string
	}{
		{"not JSON", func(t *testing.T, path string, raw []byte) { os.WriteFile(path, raw[:len(raw)/2], 0o600) }, "damaged"},
		{"record removed", func(t *testing.T, path string, raw []byte) {
			var m map[string]any
			json.Unmarshal(raw, &m)
			m["notice"].(map[string]any)["records"] = []string{form.NewID()}
			b, _ := json.Marshal(m)
			os.WriteFile(path, b, 0o600)
		}, "does not verify"},
		{"reason changed", func(t *testing.T, path string, raw []byte) {
			os.WriteFile(path, []byte(strings.Replace(string(raw), "data subject request", "nothing to see", 1)), 0o600)
		}, "decision's signature does not verify"},
		{"renamed", func(t *testing.T, path string, raw []byte) {
			os.Rename(path, filepath.Join(filepath.Dir(path), form.NewID()+".json"))
		}, "holds request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			opts := dirs(t)
			ts := startServer(t, opts)
			ts.addTenant(t, "acme")
			d := ts.enroll(t, "acme", "ann")
			x, y := d.change(form.NewID(), "secret", 1), d.change(form.NewID(), "kept", 2)
			d.pushOK(t, x, y)
			req := purgeByAdmins(t, ts, x.Record)
			ts.stop()
			path := filepath.Join(opts.ConfigDir, "purges", "acme", req+".json")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, path, raw)
			if err := os.RemoveAll(opts.DataDir); err != nil {
				t.Fatal(err)
			}
			ts2 := startServer(t, opts)
			ts2.addTenant(t, "beta") // the server itself still runs
			_, err = ts2.RunAdmin(ctx, server.OpPurgeRequest, mustJSON(t, server.PurgeRequestArgs{Tenant: "acme", User: "ada", Reason: "x", Records: []string{y.Record}}))
			if err == nil || !strings.Contains(err.Error(), "purge log "+filepath.Dir(path)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("opening the tenant with a damaged purge log: %v; want the file named and %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(opts.DataDir, "tenants", "acme", store.DBFile)); err == nil {
				if n := strings.Count(ts2.logs.String(), "purge carried out"); n != 0 {
					t.Fatalf("purges carried out from a damaged log: %d", n)
				}
			}
		})
	}
}

// Purges carried out by an earlier release live in the registry only: the server
// writes them to the purge log when it opens the tenant.
func TestPurgeLogFromRegistry(t *testing.T) {
	ctx := context.Background()
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	x := d.change(form.NewID(), "secret", 1)
	d.pushOK(t, x)
	req := purgeByAdmins(t, ts, x.Record)
	ts.stop()
	logDir := filepath.Join(opts.ConfigDir, "purges")
	if err := os.RemoveAll(logDir); err != nil {
		t.Fatal(err)
	}
	ts2 := startServer(t, opts)
	if _, err := ts2.RunAdmin(ctx, server.OpPurgeList, mustJSON(t, server.TenantArgs{Tenant: "acme"})); err != nil {
		t.Fatal(err)
	}
	d.ts = ts2
	d.pullAll(t, "") // opens the tenant
	raw, err := os.ReadFile(filepath.Join(logDir, "acme", req+".json"))
	if err != nil || !strings.Contains(string(raw), `"source": "registry"`) {
		t.Fatalf("purge log from the registry: %q %v", raw, err)
	}
}
