package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

var compactLine = regexp.MustCompile(`^replica\.db: ([0-9.]+) MiB → ([0-9.]+) MiB \(5 records, [0-9.]+s\)\n$`)

// compact on the folders of a stopped server of the release before storage v2:
// the tenant file is converted, rewritten smaller, and the command refuses a
// missing or unknown tenant in one line.
func TestCompactStoppedServer(t *testing.T) {
	root := t.TempDir()
	// The fixture is a .tgz; tar reads it on every system these tests run on.
	if out, err := exec.Command("tar", "xzf", filepath.Join("..", "..", "testdata", "server-schema2.tgz"), "-C", root).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	cfg, data := "--config="+filepath.Join(root, "config"), "--data="+filepath.Join(root, "data")
	db := filepath.Join(root, "data", "tenants", "acme", "replica.db")
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "compact", "--tenant", "acme", cfg, data)
	if !compactLine.MatchString(out) {
		t.Fatalf("compact: %q", out)
	}
	after, err := os.Stat(db)
	if err != nil || after.Size() >= before.Size() {
		t.Fatalf("replica.db %d bytes after compact (%v), %d before", after.Size(), err, before.Size())
	}
	if out := mustRun(t, "compact", "--tenant", "acme", cfg, data); !compactLine.MatchString(out) {
		t.Fatalf("second compact: %q", out)
	}
	oneLineError(t, fieldformsd(t, "compact", cfg, data), "--tenant")
	oneLineError(t, fieldformsd(t, "compact", "--tenant", "nobody", cfg, data), "nobody")
}
