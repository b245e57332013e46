package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/store"
)

func TestCLISnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "replica")
	kept := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "site-inspection", "--json", `{"site_code": "SE-0001"}`))

	if out := ok(t, dir, "snapshot", "list"); strings.TrimSpace(out) != "NAME\tDAY\tSIZE" && !strings.HasPrefix(out, "NAME") || strings.Count(out, "\n") != 1 {
		t.Fatalf("snapshot list with none: %q", out)
	}
	path := strings.TrimSpace(ok(t, dir, "snapshot", "take"))
	if filepath.Dir(path) != store.SnapshotDir(dir) || !strings.HasPrefix(filepath.Base(path), "replica-") {
		t.Fatalf("snapshot take printed %q", path)
	}
	if again := strings.TrimSpace(ok(t, dir, "snapshot", "take")); again != path {
		t.Fatalf("a second snapshot the same day: %q", again)
	}
	var list []store.SnapshotInfo
	if err := json.Unmarshal([]byte(ok(t, dir, "snapshot", "list", "--json")), &list); err != nil || len(list) != 1 || list[0].Path != path {
		t.Fatalf("snapshot list --json: %+v %v", list, err)
	}
	later := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "site-inspection", "--json", `{"site_code": "SE-0002"}`))

	// Refused while the replica is open elsewhere; nothing changes.
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fails(t, cli(t, dir, "snapshot", "restore", "latest"), 1, "in use")
	st.Close()
	fails(t, cli(t, dir, "snapshot", "restore", "replica-1999-01-01.db.gz"), 2, "no snapshot")

	// Damage the replica, then restore it.
	db := filepath.Join(dir, store.DBFile)
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i+64 < len(data); i += 4096 {
		copy(data[i:i+64], strings.Repeat("\xAB", 64))
	}
	os.WriteFile(db, data, 0o600)
	if out := ok(t, dir, "snapshot", "restore", list[0].Day.Format("2006-01-02")); !strings.Contains(out, "restored from "+list[0].Name) {
		t.Fatalf("snapshot restore: %q", out)
	}
	if _, err := os.Stat(db + store.BeforeRestoreSuffix); err != nil {
		t.Fatal("the replaced database was not kept")
	}
	out := ok(t, dir, "record", "list")
	if !strings.Contains(out, kept) || strings.Contains(out, later) {
		t.Fatalf("after the restore, record list:\n%s", out)
	}
	if out := ok(t, dir, "verify"); out == "" {
		t.Fatal("verify printed nothing")
	}
}
