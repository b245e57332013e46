package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
)

// The role matrix (invariant I11): every route of the API is called as every kind of
// caller — no credential, a device, an admin, a revoked admin and device, and a device and an
// admin of another tenant — and answers as its declared role says: 401 without a
// valid credential, 403 for a device on an admin route, the route's own answer for
// those it admits (a 4xx for the deliberately thin bodies some get), never a 5xx, and
// never anything of the other tenant. A route missing from the matrix fails the test.

type roleCall struct {
	path    string
	body    string
	ok      []int // what an admitted caller of acme gets
	otherOK []int // what an admitted caller of globex gets, if not ok
}

func TestRoleMatrix(t *testing.T) {
	ts, _ := blobServer(t)
	ctx := context.Background()
	ts.addTenant(t, "acme")
	ts.addTenant(t, "globex")

	dev := ts.enroll(t, "acme", "al")
	admin := ts.enrollAdmin(t, "acme", "ann")
	revoked := ts.enrollAdmin(t, "acme", "rex")
	revokedDev := ts.enroll(t, "acme", "roy")
	otherDev := ts.enroll(t, "globex", "gil")
	otherAdmin := ts.enrollAdmin(t, "globex", "gus")

	rec := dev.change(form.NewID(), "Acme yard secret", 3)
	if resp, a := dev.push(t, rec); a.code != 200 || resp.Results[0].Status != "applied" {
		t.Fatalf("push: %d %+v %+v", a.code, a.err, resp.Results)
	}
	for _, d := range []*device{revoked, revokedDev} {
		if _, err := ts.RevokeDevice(ctx, "acme", d.id); err != nil {
			t.Fatal(err)
		}
	}
	sha := strings.Repeat("ab", 32)

	calls := map[string]roleCall{
		"POST /v1/enroll":                  {body: `{"secret":"not-a-code","device_id":"` + form.NewID() + `"}`, ok: []int{401}},
		"GET /healthz":                     {ok: []int{200}},
		"GET /readyz":                      {ok: []int{200, 503}}, // 503 names reasons (no backup yet), by design
		"GET /metrics":                     {ok: []int{200}},
		"POST /v1/push":                    {body: `{"changes":[]}`, ok: []int{200}},
		"GET /v1/pull":                     {ok: []int{200}},
		"POST /v1/reconcile":               {body: `{"ranges":[{"from":"","to":"","count":0,"hash":"00000000000000000000000000000000"}]}`, ok: []int{200}},
		"POST /v1/claim":                   {body: `{"ranges":[{"from":"","to":"","count":0,"hash":"00000000000000000000000000000000"}]}`, ok: []int{200}},
		"POST /v1/records":                 {body: `{"ids":["` + rec.Record + `"]}`, ok: []int{200}},
		"GET /v1/templates":                {ok: []int{200}},
		"POST /v1/templates":               {body: `{"templates":[]}`, ok: []int{200}},
		"POST /v1/status":                  {body: `{"pending":0,"dead_letters":0}`, ok: []int{200}},
		"POST /v1/attachments/prepare":     {body: `{"sha256":"` + sha + `","size":3,"type":"image/png"}`, ok: []int{200}},
		"POST /v1/attachments/commit":      {body: `{"sha256":"` + sha + `","size":3}`, ok: []int{409}},
		"GET /v1/attachments/{sha}":        {path: "/v1/attachments/" + sha, ok: []int{404}},
		"GET /v1/admin/search":             {ok: []int{200}},
		"GET /v1/admin/records/{id}":       {path: "/v1/admin/records/" + rec.Record, ok: []int{200}, otherOK: []int{404}},
		"POST /v1/admin/restore":           {body: `{"id":"` + rec.Record + `"}`, ok: []int{200, 409}, otherOK: []int{404}},
		"GET /v1/admin/export":             {ok: []int{200}},
		"GET /v1/admin/audit":              {ok: []int{200}},
		"POST /v1/admin/purge/request":     {body: `{"records":[],"reason":""}`, ok: []int{400}},
		"POST /v1/admin/purge/approve":     {body: `{"id":"` + form.NewID() + `"}`, ok: []int{404}},
		"GET /v1/admin/purge":              {ok: []int{200}},
		"GET /v1/purges":                   {ok: []int{200}},
		"POST /v1/purges":                  {body: `{"notices":[]}`, ok: []int{200}},
		"GET /v1/audit/checkpoint":         {path: "/v1/audit/checkpoint?from=1", ok: []int{200}},
		"POST /v1/audit/device-checkpoint": {body: `{"checkpoint":"","key":""}`, ok: []int{400}},
	}
	roles := server.RouteRoles(ts.Server)
	var patterns []string
	for p, who := range roles {
		if who == "fallback" {
			continue
		}
		patterns = append(patterns, p)
		if _, ok := calls[p]; !ok {
			t.Errorf("route %q (%s) is not in the role matrix: add how to call it", p, who)
		}
	}
	for p := range calls {
		if _, ok := roles[p]; !ok {
			t.Errorf("the matrix calls %q, which is not a route", p)
		}
	}
	slices.Sort(patterns)

	type who struct {
		name    string
		token   string
		other   bool // of globex
		isAdmin bool
		valid   bool
	}
	callers := []who{
		{name: "anyone"},
		{name: "device", token: dev.token, valid: true},
		{name: "admin", token: admin.token, valid: true, isAdmin: true},
		{name: "revoked admin", token: revoked.token},
		{name: "revoked device", token: revokedDev.token},
		{name: "another tenant's device", token: otherDev.token, other: true, valid: true},
		{name: "another tenant's admin", token: otherAdmin.token, other: true, valid: true, isAdmin: true},
	}
	acmeSecrets := []string{rec.Record, "Acme yard secret"}
	for _, p := range patterns {
		c := calls[p]
		method, path, _ := strings.Cut(p, " ")
		if c.path != "" {
			path = c.path
		}
		for _, w := range callers {
			t.Run(p+" as "+w.name, func(t *testing.T) {
				var in any
				if c.body != "" {
					in = []byte(c.body)
				}
				a := ts.do(t, w.token, method, path, in, nil)
				var want []int
				switch role := roles[p]; {
				case role == "anyone":
					want = c.ok
				case !w.valid:
					want = []int{401}
				case role == "admin" && !w.isAdmin:
					want = []int{403}
				case w.other && c.otherOK != nil:
					want = c.otherOK
				default:
					want = c.ok
				}
				if !slices.Contains(want, a.code) {
					t.Fatalf("%s %s as %s: %d %q (%s), want one of %v", method, path, w.name, a.code, a.err.Code, a.err.Message, want)
				}
				if a.code >= 500 && p != "GET /readyz" {
					t.Fatalf("%s %s as %s: %d", method, path, w.name, a.code)
				}
				if w.other {
					all := fmt.Sprint(a.header) + string(a.body)
					for _, s := range acmeSecrets {
						if strings.Contains(all, s) && !strings.Contains(path+c.body, s) {
							t.Fatalf("%s %s as %s: the answer holds acme's %q: %s", method, path, w.name, s, all)
						}
					}
				}
			})
		}
	}
}
