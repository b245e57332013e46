package server

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// A store that stops answering makes the server unhealthy (the watchdog stops) and
// unready, naming the tenant; a tenant being restored is refused, not reopened.
func TestReadyNamesUnusableStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, Options{ConfigDir: filepath.Join(root, "config"), DataDir: filepath.Join(root, "data"),
		Create: true, Logger: slog.New(slog.DiscardHandler), Backup: BackupOptions{Dir: filepath.Join(root, "backups")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, n := range []string{"acme", "globex"} {
		if _, err := s.AddTenant(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("ready: %v", err)
	}
	if r := s.Readiness(ctx); r.Status != "ready" || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "local only") {
		t.Fatalf("readiness %+v", r)
	}
	tn, _ := s.tenants.peek("globex")
	tn.st.Close() // unusable from now on
	err = s.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "tenant globex") {
		t.Fatalf("ready with a closed store: %v", err)
	}
	if r := s.Readiness(ctx); r.Status != "unavailable" || len(r.Reasons) != 1 || r.Reasons[0] != "1 stores do not answer (the server log names them)" {
		t.Fatalf("readiness %+v", r)
	}
	s.tenants.closeTenant("globex")

	if !s.tenants.setOffline("acme", true) || s.tenants.setOffline("acme", true) {
		t.Fatal("offline twice")
	}
	if _, err := s.tenant(ctx, "acme"); !errors.Is(err, ErrTenantOffline) {
		t.Fatalf("an offline tenant: %v", err)
	}
	if r := s.Readiness(ctx); !strings.Contains(strings.Join(r.Reasons, ";"), "1 tenants offline") {
		t.Fatalf("readiness %+v", r)
	}
	s.tenants.setOffline("acme", false)
	if _, err := s.tenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
}

// The backup folder must not be inside the data folder.
func TestBackupDirOutsideData(t *testing.T) {
	root := t.TempDir()
	_, err := Open(context.Background(), Options{ConfigDir: filepath.Join(root, "config"), DataDir: filepath.Join(root, "data"),
		Create: true, Backup: BackupOptions{Dir: filepath.Join(root, "data", "backups")}})
	if err == nil || !strings.Contains(err.Error(), "inside the data folder") {
		t.Fatalf("backups inside the data folder: %v", err)
	}
	if got := DefaultBackupDir("/var/lib/fieldforms/data/"); got != "/var/lib/fieldforms/data-backups" {
		t.Fatalf("default %s", got)
	}
}
