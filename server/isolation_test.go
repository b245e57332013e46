package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/azurite"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// The tenant-isolation matrix (invariant I7): a device of tenant A (acme) calls every
// endpoint with what it could know or guess of tenant B (globex) — record IDs,
// cursors, range fingerprints, blob hashes, purge request IDs, device IDs — and gets
// 403/404 or answers that hold nothing of B. Each call is also made
//
//   - with a tenant field in the body (or query) and in headers: refused or ignored;
//   - with A's credential whose tenant claim is changed to B: 401;
//   - for admin routes, by A's non-admin device: 403.
//
// After every row, B's view of its own data is what it was. At the end, the server's
// log holds no credential, enrolment secret, SAS signature or field value.
//
// The checks look for B's secrets in the whole answer (headers too, and the files of
// an export). A string the caller itself sent (a B record ID in the path, say) may come
// back in an error message; that is an echo, not a leak, and is not counted.

// isoDevice is an enrolled device with its credential.
type isoDevice struct {
	*device
	user  string
	admin bool
}

type isoFixture struct {
	ts *testServer
	az *azurite.Server

	a, aUser *isoDevice // acme: an admin, and a device of a user who is not
	b, b2    *isoDevice // globex: an admin (requests a purge), and a plain device

	aIDs         []string // acme's records
	bIDs         []string // globex's records; bIDs[2] is deleted
	bRevs        []string
	bCursor      string
	bWhole       wire.Fingerprint // globex's fingerprint of all its records
	bItemFP      []wire.Fingerprint
	bSHA         string // a blob globex committed
	bSize        int64
	bPurge       string // a pending purge request of globex
	forged       string // acme's admin credential with its tenant claim changed to globex
	enrolSecrets []string
	sasSigs      []string
	secrets      map[string]string // globex's secrets: value → what it is
	logSecrets   map[string]string // what must never reach the log
}

const (
	isoA, isoB  = "acme", "globex"
	isoBTplName = "Globex private form"
)

// isoTemplate is a template only globex has (its name must never reach acme).
var isoTemplate = `{"id":"globex-form","version":1,"name":"` + isoBTplName + `","fields":[{"id":"note","type":"text","label":"Note"}]}`

func (f *isoFixture) enrol(t *testing.T, tenant, user string, admin bool, id string) *isoDevice {
	t.Helper()
	code, err := f.ts.NewEnrolment(context.Background(), tenant, user, admin, f.ts.url)
	if err != nil {
		t.Fatal(err)
	}
	f.enrolSecrets = append(f.enrolSecrets, code.Secret)
	f.logSecrets[code.Secret] = "an enrolment secret"
	f.logSecrets[code.String()] = "an enrolment code"
	if id == "" {
		id = form.NewID()
	}
	var resp wire.EnrollResponse
	a := f.ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: code.Secret, DeviceID: id}, &resp)
	wantCode(t, "enrol "+user, a, 200, "")
	f.logSecrets[resp.Token] = "a credential"
	_, mac, _ := strings.Cut(resp.Token, ".")
	f.logSecrets[mac] = "a credential's signature"
	return &isoDevice{device: &device{ts: f.ts, tenant: tenant, id: id, token: resp.Token}, user: user, admin: admin}
}

func newIsoFixture(t *testing.T) *isoFixture {
	ctx := context.Background()
	f := &isoFixture{secrets: map[string]string{}, logSecrets: map[string]string{}}
	f.az = azurite.StartTLS(t)
	opts := dirs(t)
	opts.Blob = &server.BlobOptions{Endpoint: f.az.Endpoint, Account: f.az.Account, Key: f.az.Key, HTTPClient: f.az.HTTPClient()}
	f.ts = startServer(t, opts)
	f.ts.addTenant(t, isoA)
	f.ts.addTenant(t, isoB)
	if _, err := f.ts.AddTemplate(ctx, isoB, json.RawMessage(isoTemplate)); err != nil {
		t.Fatal(err)
	}
	f.a = f.enrol(t, isoA, "acme-ann-admin", true, "")
	f.aUser = f.enrol(t, isoA, "acme-al-user", false, "")
	f.b = f.enrol(t, isoB, "globex-gus-admin", true, "")
	f.b2 = f.enrol(t, isoB, "globex-gil-user", false, "")

	// acme's own records, so its answers are not empty.
	for i := range 2 {
		c := f.a.change(form.NewID(), fmt.Sprintf("Acme yard %d", i+1), i)
		_, a := f.a.push(t, c)
		wantCode(t, "acme push", a, 200, "")
		f.aIDs = append(f.aIDs, c.Record)
		f.logSecrets[fmt.Sprintf("Acme yard %d", i+1)] = "a field value of acme"
	}
	// globex's records; the third is deleted (restorable by globex's admins only).
	var bChanges []form.Change
	for i := range 3 {
		v := fmt.Sprintf("Globex secret yard %d", i+1)
		c := f.b.change(form.NewID(), v, 7)
		if i == 2 {
			c.Fields[form.FieldDeleted] = form.FieldValue{Value: json.RawMessage("true"), Stamp: c.Created}
		}
		bChanges = append(bChanges, c)
		f.bIDs = append(f.bIDs, c.Record)
		f.secrets[v] = "a field value"
		f.logSecrets[v] = "a field value of globex"
	}
	resp, a := f.b.push(t, bChanges...)
	wantCode(t, "globex push", a, 200, "")
	for _, r := range resp.Results {
		if r.Status != wire.StatusApplied {
			t.Fatalf("globex push: %+v", r)
		}
	}
	_, f.bCursor = f.b.pullAll(t, "")
	// globex's revs, and its fingerprints: of everything, and of each record alone.
	var rr wire.ReconcileResponse
	wantCode(t, "globex reconcile", f.b.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: []wire.Fingerprint{{Hash: strings.Repeat("0", 32)}}}, &rr), 200, "")
	if len(rr.Ranges) != 1 || !rr.Ranges[0].Have || len(rr.Ranges[0].Items) != 3 {
		t.Fatalf("globex reconcile: %+v", rr.Ranges)
	}
	var whole [16]byte
	for _, it := range rr.Ranges[0].Items {
		f.bRevs = append(f.bRevs, it.Rev)
		f.secrets[it.Rev] = "a record's rev"
		h := isoItemHash(it.ID, it.Rev)
		for k := range whole {
			whole[k] ^= h[k]
		}
		f.bItemFP = append(f.bItemFP, wire.Fingerprint{Range: wire.Range{From: it.ID, To: it.ID + "0"}, Count: 1, Hash: hex.EncodeToString(h[:])})
	}
	f.bWhole = wire.Fingerprint{Count: 3, Hash: hex.EncodeToString(whole[:])}

	// A blob globex committed.
	data := make([]byte, 100)
	rand.Read(data)
	sum := sha256.Sum256(data)
	f.bSHA, f.bSize = hex.EncodeToString(sum[:]), int64(len(data))
	var pr wire.PrepareAttachmentResponse
	wantCode(t, "globex prepare", f.b.do(t, "POST", "/v1/attachments/prepare", wire.PrepareAttachment{SHA256: f.bSHA, Size: f.bSize, Type: "image/png"}, &pr), 200, "")
	f.noteSAS(pr.UploadURL)
	bb, err := blockblob.NewClientWithNoCredential(pr.UploadURL, &blockblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: f.az.HTTPClient()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bb.UploadBuffer(ctx, data, nil); err != nil {
		t.Fatalf("globex upload: %v", err)
	}
	wantCode(t, "globex commit", f.b.do(t, "POST", "/v1/attachments/commit", wire.CommitAttachment{SHA256: f.bSHA, Size: f.bSize}, nil), 200, "")

	// A pending purge request of globex (one admin; it needs two more to run).
	var ps wire.PurgeStatus
	a = f.b.do(t, "POST", "/v1/admin/purge/request", wire.PurgeRequest{Records: f.bIDs[:1], Reason: "globex test"}, &ps)
	if a.code == 200 {
		f.bPurge = ps.ID
		f.secrets[ps.ID] = "a purge request ID"
	} else if !isNoRoute(a) {
		t.Fatalf("globex purge request: %d %+v", a.code, a.err)
	}

	// A credential of acme that claims globex, with acme's signature.
	payload, mac, _ := strings.Cut(f.a.token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil || claims["t"] != isoA {
		t.Fatalf("credential claims: %v %v", claims, err)
	}
	claims["t"] = isoB
	raw, _ = json.Marshal(claims)
	f.forged = base64.RawURLEncoding.EncodeToString(raw) + "." + mac
	f.logSecrets[f.forged] = "a forged credential"

	for i, id := range f.bIDs {
		f.secrets[id] = fmt.Sprintf("record ID %d", i)
	}
	for _, d := range []*isoDevice{f.b, f.b2} {
		f.secrets[d.id] = "a device ID"
		f.secrets[d.user] = "a user"
		f.secrets[d.token] = "a credential"
	}
	f.secrets[isoB] = "the tenant's name"
	f.secrets[isoBTplName] = "a template"
	f.secrets[f.bSHA] = "a blob hash"
	f.secrets[f.bCursor] = "a cursor"
	f.secrets[a.header.Get(wire.HeaderEpoch)] = "the epoch"
	for _, s := range f.enrolSecrets {
		f.secrets[s] = "an enrolment secret"
	}
	delete(f.secrets, "")
	return f
}

// isoItemHash is store.ItemHash, computed here as a device of another tenant would.
func isoItemHash(id, rev string) [16]byte {
	s := sha256.Sum256([]byte(id + "\x00" + rev))
	var out [16]byte
	copy(out[:], s[:16])
	return out
}

func (f *isoFixture) noteSAS(u string) {
	if p, err := url.Parse(u); err == nil {
		if sig := p.Query().Get("sig"); sig != "" {
			f.sasSigs = append(f.sasSigs, sig)
			f.logSecrets[sig] = "a SAS signature"
			f.logSecrets[url.QueryEscape(sig)] = "a SAS signature"
		}
	}
}

// isNoRoute: the server does not have the endpoint (yet).
func isNoRoute(a answer) bool {
	return a.code == http.StatusNotFound && strings.HasPrefix(a.err.Message, "no endpoint")
}

// bState is globex's view of its own data, as its devices and the registry see it.
func (f *isoFixture) bState(t *testing.T) string {
	t.Helper()
	var out strings.Builder
	var fr wire.FetchResponse
	wantCode(t, "globex fetch", f.b.do(t, "POST", "/v1/records", wire.FetchRequest{IDs: f.bIDs}, &fr), 200, "")
	recs, _ := json.Marshal(fr.Records)
	fmt.Fprintf(&out, "records %s\n", recs)
	var tr wire.TemplatesResponse
	wantCode(t, "globex templates", f.b2.do(t, "GET", "/v1/templates", nil, &tr), 200, "")
	tpls, _ := json.Marshal(tr.Templates)
	fmt.Fprintf(&out, "templates %s\n", tpls)
	var rr wire.ReconcileResponse
	wantCode(t, "globex reconcile", f.b.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: []wire.Fingerprint{{Hash: strings.Repeat("0", 32)}}}, &rr), 200, "")
	items, _ := json.Marshal(rr.Ranges)
	fmt.Fprintf(&out, "items %s\n", items)
	var pr wire.PullResponse
	wantCode(t, "globex pull", f.b.do(t, "GET", "/v1/pull?cursor="+url.QueryEscape(f.bCursor), nil, &pr), 200, "")
	fmt.Fprintf(&out, "new since the cursor %d\n", len(pr.Records))
	devs, err := f.ts.Devices(context.Background(), isoB)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		fmt.Fprintf(&out, "device %s %s admin=%v revoked=%v pending=%d dead=%d\n", d.ID, d.User, d.Admin, d.Revoked != nil, d.Pending, d.DeadLetters)
	}
	a := f.b.do(t, "GET", "/v1/admin/purge", nil, nil)
	if !isNoRoute(a) {
		wantCode(t, "globex purge list", a, 200, "")
		fmt.Fprintf(&out, "purges %s\n", isoStrip(a.body))
	}
	a = f.b2.do(t, "GET", "/v1/attachments/"+f.bSHA, nil, nil)
	fmt.Fprintf(&out, "blob %d\n", a.code)
	return out.String()
}

// isoStrip drops the "server" part of an answer (its time changes).
func isoStrip(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return string(body)
	}
	delete(m, "server")
	b, _ := json.Marshal(m)
	return string(b)
}

// isoCall is one row of the matrix.
type isoCall struct {
	name         string
	method, path string
	body         func(t *testing.T, f *isoFixture) any // nil: none; called afresh for each call
	noAuth       bool                                  // enrolment, health and metrics
	admin        bool                                  // needs an admin's credential
	want         []int                                 // acceptable statuses for acme's admin
	check        func(t *testing.T, f *isoFixture, a answer)
}

func decodeAnswer[T any](t *testing.T, a answer) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer: %v: %.200s", err, a.body)
	}
	return v
}

// isoRows lists every endpoint. Calls that write to acme's own tenant come last: after
// them acme holds records with globex's record IDs (its own, with its own values).
func isoRows() []isoCall {
	fixed := func(v any) func(*testing.T, *isoFixture) any { return func(*testing.T, *isoFixture) any { return v } }
	ok := []int{200}
	return []isoCall{
		{name: "pull/globex cursor", method: "GET", path: "/v1/pull?cursor={bCursor}", want: []int{403}},
		{name: "pull/from the start", method: "GET", path: "/v1/pull", want: ok, check: func(t *testing.T, f *isoFixture, a answer) {
			pr := decodeAnswer[wire.PullResponse](t, a)
			if len(pr.Records) != len(f.aIDs) {
				t.Errorf("acme pulled %d records, holds %d", len(pr.Records), len(f.aIDs))
			}
		}},
		{name: "reconcile/globex fingerprint", method: "POST", path: "/v1/reconcile", want: ok,
			body: func(t *testing.T, f *isoFixture) any {
				return wire.ReconcileRequest{Ranges: []wire.Fingerprint{f.bWhole}}
			},
			check: func(t *testing.T, f *isoFixture, a answer) {
				rr := decodeAnswer[wire.ReconcileResponse](t, a)
				if len(rr.Ranges) != 1 || rr.Ranges[0].Equal || !rr.Ranges[0].Have || len(rr.Ranges[0].Items) != len(f.aIDs) {
					t.Errorf("answer %+v: want acme's %d items", rr.Ranges, len(f.aIDs))
				}
			}},
		{name: "reconcile/globex records one by one", method: "POST", path: "/v1/reconcile", want: ok,
			body: func(t *testing.T, f *isoFixture) any { return wire.ReconcileRequest{Ranges: f.bItemFP} },
			check: func(t *testing.T, f *isoFixture, a answer) {
				for _, r := range decodeAnswer[wire.ReconcileResponse](t, a).Ranges {
					if r.Equal || !r.Have || len(r.Items) != 0 {
						t.Errorf("range %+v: acme holds nothing there", r)
					}
				}
			}},
		{name: "records/globex IDs", method: "POST", path: "/v1/records", want: ok,
			body: func(t *testing.T, f *isoFixture) any { return wire.FetchRequest{IDs: f.bIDs} },
			check: func(t *testing.T, f *isoFixture, a answer) {
				if n := len(decodeAnswer[wire.FetchResponse](t, a).Records); n != 0 {
					t.Errorf("fetched %d records of globex", n)
				}
			}},
		{name: "templates/list", method: "GET", path: "/v1/templates", want: ok},
		{name: "status", method: "POST", path: "/v1/status", want: ok, body: fixed(wire.DeviceStatus{Pending: 5, DeadLetters: 1})},
		{name: "attachments/get globex blob", method: "GET", path: "/v1/attachments/{bSHA}", want: []int{404}},
		{name: "attachments/prepare globex blob", method: "POST", path: "/v1/attachments/prepare", want: ok,
			body: func(t *testing.T, f *isoFixture) any {
				return wire.PrepareAttachment{SHA256: f.bSHA, Size: f.bSize, Type: "image/png"}
			},
			check: func(t *testing.T, f *isoFixture, a answer) {
				p := decodeAnswer[wire.PrepareAttachmentResponse](t, a)
				f.noteSAS(p.UploadURL)
				if p.Exists || !strings.Contains(p.UploadURL, "/ff-"+isoA+"/") {
					t.Errorf("prepare: exists %v, URL %q; want an upload to acme's own container", p.Exists, strings.Split(p.UploadURL, "?")[0])
				}
			}},
		{name: "attachments/commit globex blob", method: "POST", path: "/v1/attachments/commit", want: []int{409},
			body: func(t *testing.T, f *isoFixture) any { return wire.CommitAttachment{SHA256: f.bSHA, Size: f.bSize} }},
		{name: "admin/search globex values", method: "GET", path: "/v1/admin/search?q=Globex&deleted=all", admin: true, want: ok,
			check: func(t *testing.T, f *isoFixture, a answer) {
				if sr := decodeAnswer[wire.SearchResponse](t, a); sr.Total != 0 || len(sr.Items) != 0 {
					t.Errorf("search found %d", sr.Total)
				}
			}},
		{name: "admin/search everything", method: "GET", path: "/v1/admin/search?deleted=all&limit=100", admin: true, want: ok,
			check: func(t *testing.T, f *isoFixture, a answer) {
				if sr := decodeAnswer[wire.SearchResponse](t, a); sr.Total != len(f.aIDs) {
					t.Errorf("search found %d, acme holds %d", sr.Total, len(f.aIDs))
				}
			}},
		{name: "admin/record globex", method: "GET", path: "/v1/admin/records/{bID0}", admin: true, want: []int{404}},
		{name: "admin/record globex deleted", method: "GET", path: "/v1/admin/records/{bID2}", admin: true, want: []int{404}},
		{name: "admin/restore globex deleted", method: "POST", path: "/v1/admin/restore", admin: true, want: []int{404},
			body: func(t *testing.T, f *isoFixture) any { return wire.RestoreRequest{ID: f.bIDs[2]} }},
		{name: "admin/audit globex record", method: "GET", path: "/v1/admin/audit?record={bID0}", admin: true, want: []int{200, 404},
			check: func(t *testing.T, f *isoFixture, a answer) {
				if a.code == 200 && len(decodeAnswer[wire.AuditResponse](t, a).Entries) != 0 {
					t.Error("audit entries for globex's record")
				}
			}},
		{name: "admin/audit everything", method: "GET", path: "/v1/admin/audit?verify=1", admin: true, want: ok},
		{name: "admin/export", method: "GET", path: "/v1/admin/export", admin: true, want: ok,
			check: func(t *testing.T, f *isoFixture, a answer) {
				if ct := a.header.Get("Content-Type"); ct != "application/zip" {
					t.Errorf("export: Content-Type %q", ct)
				}
			}},
		{name: "admin/purge request globex records", method: "POST", path: "/v1/admin/purge/request", admin: true, want: []int{404},
			body: func(t *testing.T, f *isoFixture) any {
				return wire.PurgeRequest{Records: f.bIDs, Reason: "isolation test"}
			}},
		{name: "admin/purge approve globex request", method: "POST", path: "/v1/admin/purge/approve", admin: true, want: []int{404},
			body: func(t *testing.T, f *isoFixture) any {
				if f.bPurge == "" {
					return wire.PurgeApproval{ID: form.NewID()}
				}
				return wire.PurgeApproval{ID: f.bPurge}
			}},
		{name: "admin/purge list", method: "GET", path: "/v1/admin/purge", admin: true, want: ok},
		{name: "healthz", method: "GET", path: "/healthz", noAuth: true, want: ok},
		{name: "readyz", method: "GET", path: "/readyz", noAuth: true, want: ok},
		{name: "metrics", method: "GET", path: "/metrics", noAuth: true, want: ok},
		// Writes, each to acme's own tenant only.
		{name: "enroll/globex device ID", method: "POST", path: "/v1/enroll", noAuth: true, want: ok,
			body: func(t *testing.T, f *isoFixture) any {
				code, err := f.ts.NewEnrolment(context.Background(), isoA, "acme-ann-admin", false, f.ts.url)
				if err != nil {
					t.Fatal(err)
				}
				f.logSecrets[code.Secret] = "an enrolment secret"
				return wire.EnrollRequest{Secret: code.Secret, DeviceID: f.b.id}
			},
			check: func(t *testing.T, f *isoFixture, a answer) {
				er := decodeAnswer[wire.EnrollResponse](t, a)
				f.logSecrets[er.Token] = "a credential"
				if er.Tenant != isoA {
					t.Errorf("enrolled into %q", er.Tenant)
				}
			}},
		{name: "push/globex record IDs", method: "POST", path: "/v1/push", want: ok,
			body: func(t *testing.T, f *isoFixture) any {
				req := wire.PushRequest{}
				for _, id := range f.bIDs {
					f.a.seq++
					req.Changes = append(req.Changes, wire.PushChange{Seq: f.a.seq, Change: f.a.change(id, "Acme overwrite", 1)})
				}
				return req
			},
			check: func(t *testing.T, f *isoFixture, a answer) {
				for _, r := range decodeAnswer[wire.PushResponse](t, a).Results {
					if r.Status == wire.StatusRejected {
						t.Errorf("acme's change of its own copy refused: %+v", r)
					}
				}
			}},
		{name: "push/as a globex device", method: "POST", path: "/v1/push", want: ok,
			body: func(t *testing.T, f *isoFixture) any {
				c := f.b.change(f.bIDs[0], "Acme posing as globex", 1)
				f.a.seq++
				return wire.PushRequest{Changes: []wire.PushChange{{Seq: f.a.seq, Change: c}}}
			},
			check: func(t *testing.T, f *isoFixture, a answer) {
				if r := decodeAnswer[wire.PushResponse](t, a).Results; len(r) != 1 || r[0].Code != wire.CodeForbidden {
					t.Errorf("a change made by another tenant's device: %+v", r)
				}
			}},
		{name: "templates/push globex template ID", method: "POST", path: "/v1/templates", want: ok,
			body: fixed(wire.TemplatesPush{Templates: []json.RawMessage{json.RawMessage(strings.Replace(isoTemplate, isoBTplName, "Acme form", 1))}})},
	}
}

// isoDo calls the API with a token, an optional body and extra headers.
func isoDo(t *testing.T, ts *testServer, token, method, path string, body []byte, hdr map[string]string) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: resp.StatusCode, header: resp.Header, body: data}
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(data, &a.err); err != nil {
			t.Errorf("%s %s: %d with a body that is not a JSON error: %.200q", method, path, resp.StatusCode, data)
		}
	}
	return a
}

// withTenant adds a tenant field naming globex to a JSON object body.
func withTenant(t *testing.T, body []byte) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m["tenant"] = json.RawMessage(`"` + isoB + `"`)
	out, _ := json.Marshal(m)
	return out
}

// answerText is everything an answer says: headers, and the body (an export's files
// unpacked).
func answerText(t *testing.T, a answer) string {
	var b strings.Builder
	for k, vs := range a.header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
	}
	if zr, err := zip.NewReader(bytes.NewReader(a.body), int64(len(a.body))); err == nil {
		for _, zf := range zr.File {
			b.WriteString(zf.Name + "\n")
			rc, err := zf.Open()
			if err != nil {
				t.Fatalf("export: %s: %v", zf.Name, err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("export: %s: %v", zf.Name, err)
			}
			b.Write(data)
		}
		return b.String()
	}
	b.Write(a.body)
	return b.String()
}

// leaks reports globex's secrets in an answer that the request did not itself carry.
func (f *isoFixture) leaks(t *testing.T, what string, request string, a answer) {
	t.Helper()
	text := answerText(t, a)
	for s, is := range f.secrets {
		if !strings.Contains(request, s) && strings.Contains(text, s) {
			t.Errorf("%s: the answer (%d) holds globex's %s %q", what, a.code, is, s)
		}
	}
}

func TestTenantIsolationMatrix(t *testing.T) {
	f := newIsoFixture(t)
	before := f.bState(t)
	var skipped []string
	for _, row := range isoRows() {
		t.Run(row.name, func(t *testing.T) {
			path := strings.NewReplacer("{bCursor}", url.QueryEscape(f.bCursor), "{bSHA}", f.bSHA,
				"{bID0}", f.bIDs[0], "{bID2}", f.bIDs[2]).Replace(row.path)
			body := func() []byte {
				if row.body == nil {
					return nil
				}
				b, err := json.Marshal(row.body(t, f))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			call := func(what, token, path string, body []byte, hdr map[string]string, want []int) answer {
				t.Helper()
				a := isoDo(t, f.ts, token, row.method, path, body, hdr)
				if isNoRoute(a) {
					skipped = append(skipped, row.method+" "+row.path)
					t.Skipf("%s %s: no such route on this server yet", row.method, row.path)
				}
				if !slices.Contains(want, a.code) {
					t.Errorf("%s: %d %s (%s); want %v", what, a.code, a.err.Code, a.err.Message, want)
				}
				f.leaks(t, what, path+"\n"+string(body), a)
				return a
			}
			token := f.a.token
			if row.noAuth {
				token = ""
			}
			a := call("acme's call", token, path, body(), nil, row.want)
			if row.check != nil && slices.Contains(row.want, a.code) && a.code < 300 {
				row.check(t, f, a)
			}
			// A tenant named by the client is refused or ignored, in the body, the
			// query or a header.
			hdr := map[string]string{"Fieldforms-Tenant": isoB, "X-Tenant": isoB, "Tenant": isoB}
			if a := call("with tenant headers", token, path, body(), hdr, row.want); row.check != nil && slices.Contains(row.want, a.code) && a.code < 300 {
				row.check(t, f, a)
			}
			also400 := append([]int{400}, row.want...)
			if b := body(); b != nil {
				a := call("with a tenant field", token, path, withTenant(t, b), nil, also400)
				if a.code != 400 && row.check != nil && a.code < 300 {
					row.check(t, f, a)
				}
			} else {
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				call("with a tenant parameter", token, path+sep+"tenant="+isoB, nil, nil, also400)
			}
			if !row.noAuth {
				a := call("credential claiming globex", f.forged, path, body(), nil, []int{401})
				wantCode(t, "forged credential", a, 401, wire.CodeUnauthorized)
			}
			if row.admin {
				a := call("not an admin", f.aUser.token, path, body(), nil, []int{403})
				wantCode(t, "not an admin", a, 403, wire.CodeForbidden)
			}
			if after := f.bState(t); after != before {
				t.Fatalf("globex's data changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if len(skipped) > 0 {
		t.Logf("routes not there yet, skipped: %v", skipped)
	}

	// The log: no credential, enrolment secret, SAS signature or field value. Stopping
	// the server first waits for the handlers, which log each request as they end.
	f.ts.stop()
	logs := f.ts.logs.String()
	if len(logs) == 0 {
		t.Fatal("the server logged nothing; the check below would prove nothing")
	}
	for s, is := range f.logSecrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the server's log holds %s", is)
		}
	}
}
