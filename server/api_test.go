package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

func TestEnrol(t *testing.T) {
	clk := newClock()
	opts := dirs(t)
	opts.Now = clk.Now
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")

	t.Run("OK", func(t *testing.T) {
		code := ts.code(t, "acme", "ann")
		if code.Fingerprint != ts.Fingerprint() || code.Cert == "" || code.Tenant != "acme" {
			t.Fatalf("code: %+v", code)
		}
		if _, err := wire.ParseEnrollCode(code.String()); err != nil {
			t.Fatalf("the code does not parse: %v", err)
		}
		req := wire.EnrollRequest{Secret: code.Secret, DeviceID: form.NewID(), DeviceName: "tablet 1"}
		var resp wire.EnrollResponse
		a := ts.do(t, "", "POST", "/v1/enroll", req, &resp)
		wantCode(t, "enroll", a, 200, "")
		if resp.User != "ann" || resp.Admin || a.header.Get(wire.HeaderEpoch) != resp.Server.Epoch {
			t.Fatalf("answer %+v, headers %v", resp, a.header)
		}
		// The credential works.
		wantCode(t, "templates", ts.do(t, resp.Token, "GET", "/v1/templates", nil, nil), 200, "")
		// A secret works once.
		req.DeviceID = form.NewID()
		wantCode(t, "replay", ts.do(t, "", "POST", "/v1/enroll", req, nil), 401, wire.CodeUnauthorized)
	})
	t.Run("ErrExpired", func(t *testing.T) {
		code := ts.code(t, "acme", "bob")
		clk.Add(15*time.Minute + time.Second)
		a := ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: code.Secret, DeviceID: form.NewID()}, nil)
		wantCode(t, "expired", a, 401, wire.CodeUnauthorized)
	})
	t.Run("ErrUnknownSecret", func(t *testing.T) {
		a := ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: "guess", DeviceID: form.NewID()}, nil)
		wantCode(t, "unknown", a, 401, wire.CodeUnauthorized)
	})
	t.Run("ErrBadDevice", func(t *testing.T) {
		code := ts.code(t, "acme", "cy")
		a := ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: code.Secret, DeviceID: "has space"}, nil)
		wantCode(t, "bad device id", a, 400, wire.CodeBadRequest)
	})
	t.Run("ErrNoTenant", func(t *testing.T) {
		if _, err := ts.NewEnrolment(context.Background(), "nobody", "ann", false, ""); err == nil {
			t.Fatal("a code for a tenant that does not exist")
		}
	})
	t.Run("ErrNoToken", func(t *testing.T) {
		wantCode(t, "no token", ts.do(t, "", "GET", "/v1/templates", nil, nil), 401, wire.CodeUnauthorized)
		d := ts.enroll(t, "acme", "dee")
		forged := d.token[:len(d.token)-2] + "AA"
		wantCode(t, "forged", ts.do(t, forged, "GET", "/v1/templates", nil, nil), 401, wire.CodeUnauthorized)
		payload, _, _ := strings.Cut(d.token, ".")
		wantCode(t, "unsigned", ts.do(t, payload+".", "GET", "/v1/templates", nil, nil), 401, wire.CodeUnauthorized)
	})
}

func TestPushPull(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	a, b := ts.enroll(t, "acme", "ann"), ts.enroll(t, "acme", "bob")

	ids := []string{form.NewID(), form.NewID(), form.NewID()}
	resp, ans := a.push(t, a.change(ids[0], "Quay 1", 7), a.change(ids[1], "Quay 2", 8), a.change(ids[2], "Secret yard", 9))
	wantCode(t, "push", ans, 200, "")
	for _, r := range resp.Results {
		if r.Status != wire.StatusApplied {
			t.Fatalf("result %+v", r)
		}
	}
	if resp.Server.AckedThrough != 3 || ans.header.Get(wire.HeaderAckedThrough) != "3" {
		t.Fatalf("acked through %d / %q, want 3", resp.Server.AckedThrough, ans.header.Get(wire.HeaderAckedThrough))
	}

	got, cursor := b.pullAll(t, "")
	if len(got) != 3 {
		t.Fatalf("b pulled %d records, want 3", len(got))
	}
	for i, r := range got {
		if r.ID != ids[i] || string(r.Value("site")) == "" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// b's ledger is its own: nothing pushed yet.
	var pr wire.PullResponse
	ans = b.do(t, "GET", "/v1/pull?cursor="+cursor, nil, &pr)
	if len(pr.Records) != 0 || pr.More || pr.Server.AckedThrough != 0 || ans.header.Get(wire.HeaderEpoch) != resp.Server.Epoch {
		t.Fatalf("second pull: %+v, headers %v", pr, ans.header)
	}

	// b edits a record; a sees the edit after its own cursor.
	_, aCursor := a.pullAll(t, "")
	edit := b.change(ids[1], "Quay 2b", 3)
	edit.CreatedBy, edit.Created = "ann", got[1].Created
	_, ans = b.push(t, edit)
	wantCode(t, "push edit", ans, 200, "")
	recs, _ := a.pullAll(t, aCursor)
	if len(recs) != 1 || recs[0].ID != ids[1] || string(recs[0].Value("site")) != `"Quay 2b"` {
		t.Fatalf("a pulled %+v", recs)
	}

	// Fetch by ID returns what the tenant holds and skips the rest.
	var fr wire.FetchResponse
	wantCode(t, "fetch", a.do(t, "POST", "/v1/records", wire.FetchRequest{IDs: []string{ids[0], form.NewID()}}, &fr), 200, "")
	if len(fr.Records) != 1 || fr.Records[0].ID != ids[0] {
		t.Fatalf("fetch: %+v", fr.Records)
	}

	// Logs never hold a credential or a field value.
	logs := ts.logs.String()
	for _, secret := range []string{a.token, b.token, "Secret yard", "Quay 2b"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log contains %q", secret)
		}
	}
}

func TestPushIdempotent(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	req := wire.PushRequest{Changes: []wire.PushChange{{Seq: 1, Change: d.change(form.NewID(), "A", 1)}}}
	for i, want := range []string{wire.StatusApplied, wire.StatusDuplicate} {
		var resp wire.PushResponse
		wantCode(t, "push", d.do(t, "POST", "/v1/push", req, &resp), 200, "")
		if len(resp.Results) != 1 || resp.Results[0].Status != want || resp.Server.AckedThrough != 1 {
			t.Fatalf("push %d: %+v", i, resp)
		}
	}
	if recs, _ := d.pullAll(t, ""); len(recs) != 1 {
		t.Fatalf("%d records after pushing one twice", len(recs))
	}
}

func TestPushRejections(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")

	good := d.change(form.NewID(), "Good", 5)
	invalid := d.change(form.NewID(), "Bad", 99) // score max is 10
	unknown := d.change(form.NewID(), "Unknown", 1)
	unknown.Template = "nosuch"
	skew := d.change(form.NewID(), "Future", 1)
	future := form.Stamp{HLC: form.NewHLC(time.Now().Add(48*time.Hour).UnixMilli(), 0), Device: d.id}
	skew.Created = future
	for k, fv := range skew.Fields {
		fv.Stamp = future
		skew.Fields[k] = fv
	}
	other := d.change(form.NewID(), "Other", 1)
	other.Device = "someone-else"
	good2 := d.change(form.NewID(), "Good too", 6)

	body := wire.PushRequest{Changes: []wire.PushChange{
		{Seq: 10, Change: good}, {Seq: 11, Change: invalid}, {Seq: 12, Change: unknown},
		{Seq: 13, Change: skew}, {Seq: 14, Change: good}, {Seq: 15, Change: other}, {Seq: 16, Change: good2},
	}}
	raw, _ := json.Marshal(body)
	// One change that is not a change at all, with the highest sequence.
	raw = bytes.Replace(raw, []byte(`]}`), []byte(`,{"seq":17,"change":{"id":"x","nonsense":true}}]}`), 1)
	var resp wire.PushResponse
	wantCode(t, "push", d.do(t, "POST", "/v1/push", raw, &resp), 200, "")
	want := []struct{ status, code string }{
		{wire.StatusApplied, ""}, {wire.StatusRejected, wire.CodeInvalid}, {wire.StatusRejected, wire.CodeUnknownTemplate},
		{wire.StatusRejected, wire.CodeClockSkew}, {wire.StatusRejected, wire.CodeDuplicate}, {wire.StatusRejected, wire.CodeForbidden},
		{wire.StatusApplied, ""}, {wire.StatusRejected, wire.CodeBadRequest},
	}
	if len(resp.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(resp.Results), len(want))
	}
	for i, w := range want {
		r := resp.Results[i]
		if r.Status != w.status || r.Code != w.code || r.Seq != uint64(10+i) || (w.status == wire.StatusRejected && r.Message == "") {
			t.Errorf("result %d: %+v, want %s %s", i, r, w.status, w.code)
		}
	}
	if resp.Results[7].ID != "x" {
		t.Errorf("the malformed change is not named: %+v", resp.Results[7])
	}
	// Rejected changes count as received: they will not come again.
	if resp.Server.AckedThrough != 17 {
		t.Fatalf("acked through %d, want 17", resp.Server.AckedThrough)
	}
	recs, _ := d.pullAll(t, "")
	if len(recs) != 2 {
		t.Fatalf("%d records stored, want the 2 good ones", len(recs))
	}
}

func TestBadRequests(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	for name, c := range map[string]struct {
		body    string
		message string
	}{
		"ErrUnknownField": {`{"changes":[],"tenant":"other"}`, `unknown field "tenant"`},
		"ErrTrailing":     {`{"changes":[]} {}`, "after the JSON value"},
		"ErrType":         {`{"changes":{"seq":1}}`, "changes: expected"},
		"ErrSyntax":       {`{"changes":[`, "ends early"},
		"ErrEmpty":        {``, "empty"},
	} {
		t.Run(name, func(t *testing.T) {
			a := d.do(t, "POST", "/v1/push", []byte(c.body), nil)
			wantCode(t, name, a, 400, wire.CodeBadRequest)
			if !strings.Contains(a.err.Message, c.message) {
				t.Fatalf("message %q does not say %q", a.err.Message, c.message)
			}
		})
	}
	t.Run("ErrLimit", func(t *testing.T) {
		wantCode(t, "limit", d.do(t, "GET", "/v1/pull?limit=abc", nil, nil), 400, wire.CodeBadRequest)
		over := d.do(t, "GET", "/v1/pull?limit="+itoa(wire.MaxPullRecords+1), nil, nil)
		wantCode(t, "limit over the maximum", over, 400, wire.CodeBadRequest)
		if !strings.Contains(over.err.Message, itoa(wire.MaxPullRecords)) {
			t.Fatalf("message %q does not name the bound %d", over.err.Message, wire.MaxPullRecords)
		}
		if a := d.do(t, "GET", "/v1/pull?limit="+itoa(wire.MaxPullRecords), nil, nil); a.code != 200 {
			t.Fatalf("limit at the maximum: %d %+v", a.code, a.err)
		}
		wantCode(t, "cursor", d.do(t, "GET", "/v1/pull?cursor=***", nil, nil), 400, wire.CodeBadRequest)
	})
	t.Run("ErrNoEndpoint", func(t *testing.T) {
		wantCode(t, "unknown path", d.do(t, "GET", "/v1/nothing", nil, nil), 404, wire.CodeNotFound)
		a := d.do(t, "DELETE", "/v1/templates", nil, nil)
		wantCode(t, "wrong method", a, 405, wire.CodeBadRequest)
		if a.header.Get("Allow") != "GET, POST" {
			t.Fatalf("Allow %q", a.header.Get("Allow"))
		}
	})
}

func TestTooLarge(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	t.Run("ErrBody", func(t *testing.T) {
		big := append([]byte(`{"changes":[],"x":"`), bytes.Repeat([]byte("a"), wire.MaxBodyBytes)...)
		wantCode(t, "big body", d.do(t, "POST", "/v1/push", append(big, `"}`...), nil), 413, wire.CodeTooLarge)
	})
	t.Run("ErrGzipBomb", func(t *testing.T) {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write([]byte(`{"changes":[],"x":"`))
		zw.Write(bytes.Repeat([]byte("a"), wire.MaxBodyBytes+10))
		zw.Close()
		req, _ := http.NewRequest("POST", ts.url+"/v1/push", &buf)
		req.Header.Set("Authorization", "Bearer "+d.token)
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("gzip bomb: %d, want 413", resp.StatusCode)
		}
	})
	t.Run("ErrBatch", func(t *testing.T) {
		var b strings.Builder
		b.WriteString(`{"changes":[`)
		for i := 0; i <= wire.MaxPushChanges; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"seq":%d,"change":{}}`, i+1)
		}
		b.WriteString(`]}`)
		wantCode(t, "big batch", d.do(t, "POST", "/v1/push", []byte(b.String()), nil), 413, wire.CodeTooLarge)
		// Nothing of it was taken.
		var pr wire.PullResponse
		d.do(t, "GET", "/v1/pull", nil, &pr)
		if pr.Server.AckedThrough != 0 {
			t.Fatalf("acked through %d after a refused batch", pr.Server.AckedThrough)
		}
	})
}

func TestGzip(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	var changes []wire.PushChange
	for i := range 50 {
		changes = append(changes, wire.PushChange{Seq: uint64(i + 1), Change: d.change(form.NewID(), "Site "+strconv.Itoa(i), i%10)})
	}
	raw, _ := json.Marshal(wire.PushRequest{Changes: changes})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	req, _ := http.NewRequest("POST", ts.url+"/v1/push", &buf)
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := ts.client.Do(req) // the transport asks for gzip and inflates the answer
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr wire.PushResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("gzip push: %d %v", resp.StatusCode, err)
	}
	if !resp.Uncompressed {
		t.Fatal("the answer was not compressed")
	}
	if len(pr.Results) != 50 || pr.Results[49].Status != wire.StatusApplied {
		t.Fatalf("results: %+v", pr.Results[len(pr.Results)-1])
	}
}

func TestTemplates(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enrollAdmin(t, "acme", "ann") // publishing is for admins: TestTemplatePublishing
	var tr wire.TemplatesResponse
	wantCode(t, "list", d.do(t, "GET", "/v1/templates", nil, &tr), 200, "")
	if len(tr.Templates) != 1 {
		t.Fatalf("%d templates", len(tr.Templates))
	}
	v2 := strings.Replace(inspection, `"version":1`, `"version":2`, 1)
	conflict := strings.Replace(inspection, `"Inspection"`, `"Renamed"`, 1)
	push := wire.TemplatesPush{Templates: []json.RawMessage{json.RawMessage(inspection), json.RawMessage(v2),
		json.RawMessage(conflict), json.RawMessage(`{"id":"x","version":1,"fields":[{"id":"a","type":"nope"}]}`)}}
	var pr wire.TemplatesPushResponse
	wantCode(t, "push", d.do(t, "POST", "/v1/templates", push, &pr), 200, "")
	want := []struct{ status, code string }{{wire.StatusUnchanged, ""}, {wire.StatusApplied, ""},
		{wire.StatusRejected, wire.CodeConflict}, {wire.StatusRejected, wire.CodeInvalid}}
	for i, w := range want {
		if r := pr.Results[i]; r.Status != w.status || r.Code != w.code {
			t.Errorf("template %d: %+v, want %s %s", i, r, w.status, w.code)
		}
	}
	d.do(t, "GET", "/v1/templates", nil, &tr)
	if len(tr.Templates) != 2 {
		t.Fatalf("%d templates after the push, want 2", len(tr.Templates))
	}
}

func TestStatusAndDevices(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	wantCode(t, "status", d.do(t, "POST", "/v1/status", wire.DeviceStatus{Pending: 7, DeadLetters: 2}, nil), 200, "")
	wantCode(t, "bad status", d.do(t, "POST", "/v1/status", wire.DeviceStatus{Pending: -1}, nil), 400, wire.CodeBadRequest)
	devs, err := ts.Devices(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].ID != d.id || devs[0].Pending != 7 || devs[0].DeadLetters != 2 || devs[0].LastSeen.IsZero() {
		t.Fatalf("devices: %+v", devs)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	d.push(t, d.change(form.NewID(), "A", 1))
	wantCode(t, "healthz", ts.do(t, "", "GET", "/healthz", nil, nil), 200, "")
	wantCode(t, "readyz", ts.do(t, "", "GET", "/readyz", nil, nil), 200, "")
	a := ts.do(t, "", "GET", "/metrics", nil, nil)
	wantCode(t, "metrics", a, 200, "")
	for _, want := range []string{
		`fieldforms_http_requests_total{route="POST /v1/push",code="200"} 1`,
		`fieldforms_http_request_duration_seconds_bucket{route="POST /v1/push",code="200",le="+Inf"} 1`,
		"fieldforms_pushes_total 1", "fieldforms_devices 1", "fieldforms_tenants 1", "fieldforms_ready 1",
	} {
		if !bytes.Contains(a.body, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if bytes.Contains(a.body, []byte("acme")) || bytes.Contains(a.body, []byte(d.id)) {
		t.Error("metrics name a tenant or a device")
	}
}

func TestDataFolderLost(t *testing.T) {
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	gone := ts.enroll(t, "acme", "bob")
	d.push(t, d.change(form.NewID(), "A", 1), d.change(form.NewID(), "B", 2))
	_, cursor := d.pullAll(t, "")
	var before wire.PullResponse
	d.do(t, "GET", "/v1/pull", nil, &before)
	ts.stop()

	// Revoke bob while no server runs, through the same admin path the CLI uses.
	var rev server.Device
	if err := server.Admin(context.Background(), opts, server.OpDeviceRevoke, server.DeviceArgs{Tenant: "acme", Device: gone.id}, &rev); err != nil || rev.Revoked == nil {
		t.Fatalf("offline revoke: %+v, %v", rev, err)
	}
	if err := os.RemoveAll(opts.DataDir); err != nil {
		t.Fatal(err)
	}

	ts2 := startServer(t, opts)
	d.ts, gone.ts = ts2, ts2
	var after wire.PullResponse
	a := d.do(t, "GET", "/v1/pull", nil, &after)
	wantCode(t, "first call after the data folder was lost", a, 200, "")
	if after.Server.Epoch == before.Server.Epoch || after.Server.Epoch == "" || len(after.Records) != 0 || after.Server.AckedThrough != 0 {
		t.Fatalf("after loss: epoch %q (was %q), %d records, acked %d", after.Server.Epoch, before.Server.Epoch, len(after.Records), after.Server.AckedThrough)
	}
	wantCode(t, "old cursor", d.do(t, "GET", "/v1/pull?cursor="+cursor, nil, nil), 409, wire.CodeEpochChanged)
	wantCode(t, "revoked device after loss", gone.do(t, "GET", "/v1/pull", nil, nil), 401, wire.CodeUnauthorized)
	devs, err := ts2.Devices(context.Background(), "acme")
	if err != nil || len(devs) != 1 || devs[0].ID != d.id || devs[0].Reregistered == nil || devs[0].User != "ann" {
		t.Fatalf("devices after loss: %+v, %v", devs, err)
	}
	// The device pushes its data back.
	_, a = d.push(t, d.change(form.NewID(), "C", 3))
	wantCode(t, "push after loss", a, 200, "")
}

func TestRevoke(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d, other := ts.enroll(t, "acme", "ann"), ts.enroll(t, "acme", "bob")
	if _, err := ts.RevokeDevice(context.Background(), "acme", d.id); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "revoked", d.do(t, "GET", "/v1/templates", nil, nil), 401, wire.CodeUnauthorized)
	wantCode(t, "other device", other.do(t, "GET", "/v1/templates", nil, nil), 200, "")
	// Enrolling the device again gives it a credential that works; the old stays refused.
	code := ts.code(t, "acme", "ann")
	var resp wire.EnrollResponse
	wantCode(t, "enrol again", ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: code.Secret, DeviceID: d.id}, &resp), 200, "")
	wantCode(t, "new credential", ts.do(t, resp.Token, "GET", "/v1/templates", nil, nil), 200, "")
	wantCode(t, "old credential", d.do(t, "GET", "/v1/templates", nil, nil), 401, wire.CodeUnauthorized)
}

func TestTenantIsolation(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	ts.addTenant(t, "globex")
	a, b := ts.enroll(t, "acme", "ann"), ts.enroll(t, "globex", "gus")
	secretID := form.NewID()
	b.push(t, b.change(secretID, "Globex secret", 1))
	_, bCursor := b.pullAll(t, "")

	var fr wire.FetchResponse
	wantCode(t, "fetch B's record", a.do(t, "POST", "/v1/records", wire.FetchRequest{IDs: []string{secretID}}, &fr), 200, "")
	if len(fr.Records) != 0 {
		t.Fatal("a device of acme read a record of globex")
	}
	wantCode(t, "B's cursor", a.do(t, "GET", "/v1/pull?cursor="+bCursor, nil, nil), 403, wire.CodeForbidden)
	if recs, _ := a.pullAll(t, ""); len(recs) != 0 {
		t.Fatalf("acme pulled %d records of globex", len(recs))
	}
	// Changing B's record from A only touches A's tenant.
	edit := a.change(secretID, "overwritten", 9)
	a.push(t, edit)
	var bf wire.FetchResponse
	b.do(t, "POST", "/v1/records", wire.FetchRequest{IDs: []string{secretID}}, &bf)
	if len(bf.Records) != 1 || string(bf.Records[0].Value("site")) != `"Globex secret"` {
		t.Fatalf("globex's record changed: %+v", bf.Records)
	}
	// A client-sent tenant is not taken: there is no such field.
	wantCode(t, "tenant field", a.do(t, "POST", "/v1/records", []byte(`{"ids":[],"tenant":"globex"}`), nil), 400, wire.CodeBadRequest)
	var ar wire.ReconcileResponse
	a.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: []wire.Fingerprint{{Hash: strings.Repeat("0", 32)}}}, &ar)
	if len(ar.Ranges) != 1 || len(ar.Ranges[0].Items) != 1 || ar.Ranges[0].Items[0].ID != secretID {
		// acme holds only the record it pushed itself (the same ID, acme's own copy).
		t.Fatalf("reconcile: %+v", ar.Ranges)
	}
}

func TestRateLimit(t *testing.T) {
	clk := newClock()
	opts := dirs(t)
	opts.Now, opts.RateLimit, opts.RateBurst = clk.Now, 1, 3
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d, other := ts.enroll(t, "acme", "ann"), ts.enroll(t, "acme", "bob")
	for i := range 3 {
		wantCode(t, "within the burst "+strconv.Itoa(i), d.do(t, "GET", "/v1/templates", nil, nil), 200, "")
	}
	a := d.do(t, "GET", "/v1/templates", nil, nil)
	wantCode(t, "over the limit", a, 429, wire.CodeRateLimited)
	if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", a.header.Get("Retry-After"))
	}
	wantCode(t, "another device", other.do(t, "GET", "/v1/templates", nil, nil), 200, "")
	clk.Add(2 * time.Second)
	wantCode(t, "after waiting", d.do(t, "GET", "/v1/templates", nil, nil), 200, "")
}
