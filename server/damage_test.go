package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// A tenant whose store file is cut goes offline alone: its calls get 503
// tenant_offline, /readyz stays 200 for the others and names it, /metrics has its
// gauge, the log names it once, backups skip it, and a restore brings it back. With
// bbolt alone the cut file faults (SIGBUS) as it is mapped, killing every tenant.
func TestDamagedTenantOfflineAlone(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	acme := bkTenant(t, ts, 10)
	ts.addTenant(t, "beta")
	beta := ts.enroll(t, "beta", "bo")
	beta.pushOK(t, beta.change(form.NewID(), "beta site", 3))
	backup := bkNow(t, ts)
	ts.stop()

	db := filepath.Join(opts.DataDir, server.TenantsDir, "acme", store.DBFile)
	if err := os.Truncate(db, 3*4096); err != nil {
		t.Fatal(err)
	}
	opts.Create = false
	ts2 := startServer(t, opts)
	if err := ts2.OpenTenants(ctx); err != nil {
		t.Fatalf("open tenants: %v", err)
	}
	acme.ts, beta.ts = ts2, ts2

	for range 3 {
		a := acme.do(t, "GET", "/v1/pull?limit=10", nil, nil)
		wantCode(t, "pull of the damaged tenant", a, 503, wire.CodeTenantOffline)
		if strings.Contains(a.err.Message, db) {
			t.Errorf("the answer tells the device the server's file: %q", a.err.Message)
		}
	}
	var pr wire.PullResponse
	if a := beta.do(t, "GET", "/v1/pull?limit=10", nil, &pr); a.code != 200 || len(pr.Records) != 1 {
		t.Fatalf("pull of the healthy tenant: %d %+v, %d records", a.code, a.err, len(pr.Records))
	}
	if err := ts2.Ready(ctx); err != nil {
		t.Fatalf("Ready (the watchdog's check) fails for a damaged tenant: %v", err)
	}
	a, rd := bkReady(t, ts2)
	if a.code != 200 || len(rd.Offline) != 1 || rd.Offline[0] != "acme" {
		t.Fatalf("readyz: %d %+v", a.code, rd)
	}
	m := ts2.do(t, "", "GET", "/metrics", nil, nil)
	if !strings.Contains(string(m.body), `fieldforms_tenant_offline{tenant="acme"} 1`) {
		t.Fatalf("metrics lack the offline gauge:\n%s", m.body)
	}
	if n := strings.Count(ts2.logs.String(), "tenant offline: its store is damaged"); n != 1 {
		t.Fatalf("the damage is logged %d times, want once:\n%s", n, ts2.logs.String())
	}
	if !strings.Contains(ts2.logs.String(), "tenant=acme") {
		t.Fatalf("the log does not name the tenant:\n%s", ts2.logs.String())
	}
	info, err := ts2.BackupNow(ctx)
	if err != nil {
		t.Fatalf("a backup with a damaged tenant: %v", err)
	}
	if !strings.Contains(ts2.logs.String(), "backup skips a tenant") {
		t.Fatalf("the backup %s did not say it skipped acme", info.ID)
	}

	if _, err := ts2.RestoreTenant(ctx, "acme", backup.ID, ""); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if a := acme.do(t, "GET", "/v1/pull?limit=100", nil, &pr); a.code != 200 && a.code != 409 {
		t.Fatalf("pull after the restore: %d %+v", a.code, a.err)
	}
	if _, rd := bkReady(t, ts2); len(rd.Offline) != 0 {
		t.Fatalf("still offline after the restore: %+v", rd)
	}
}

// A cut registry is refused in one line naming it; bbolt alone faults (SIGBUS) as
// it maps it.
func TestDamagedRegistryRefused(t *testing.T) {
	opts := dirs(t)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	ts.stop()
	path := filepath.Join(opts.DataDir, server.RegistryFile)
	if err := os.Truncate(path, 2*4096+100); err != nil {
		t.Fatal(err)
	}
	s, err := server.Open(context.Background(), opts)
	if err == nil {
		s.Close()
		t.Fatal("a cut registry opened")
	}
	if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q: want one line naming %s", err, path)
	}
}
