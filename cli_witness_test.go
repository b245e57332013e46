package main

import (
	"encoding/binary"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// The operator of a real fieldformsd cuts the tail of a tenant's audit trail while
// the server is stopped: `fieldformsd audit --verify` exits 1 naming the entries, and
// a device that synced before says so at its next sync and in its status, and keeps
// syncing its records.
func TestAgentWitnessesACutTrail(t *testing.T) {
	s := startFieldformsd(t)
	a := newAgent(t, s, "ann")
	for _, site := range []string{"NW-0001", "NW-0002", "NW-0003", "NW-0004"} {
		a.newRecord(site)
		a.syncUntilQuiet()
	}
	st := agentStatus(t, a)
	if st.Audit == nil || !st.Audit.OK || st.Audit.Entries < 4 || !strings.Contains(st.Audit.Line, "witnessed up to entry") {
		t.Fatalf("status after syncing: %+v", st.Audit)
	}
	n := st.Audit.Entries
	if out := ok(t, a.dir, "verify"); !strings.Contains(out, "server audit   server's trail witnessed up to entry") {
		t.Fatalf("verify:\n%s", out)
	}
	if out := s.admin("audit", "--tenant", "acme", "--verify"); !strings.Contains(out, "checkpoint signed at size") {
		t.Fatalf("audit --verify: %s", out)
	}

	s.stop()
	cutTrail(t, filepath.Join(s.data, "tenants", "acme", "replica.db"), uint64(n-2))
	code, stdout, stderr := fieldformsd(s, "audit", "--tenant", "acme", "--verify")
	if code != 1 || !strings.Contains(stderr, "were cut") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("audit --verify of a cut trail: exit %d, stderr %q", code, stderr)
	}
	t.Logf("fieldformsd: %s", strings.TrimSpace(stderr))
	_ = stdout

	s.serve()
	r := cli(t, a.dir, "sync", "--once")
	if !strings.Contains(r.stdout, "audit ALARM: the server's audit trail was cut") {
		t.Fatalf("sync --once after the cut: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("fieldforms: %s", r.stdout)
	st = agentStatus(t, a)
	if st.Audit == nil || st.Audit.OK || !strings.Contains(st.Audit.Alarm, "cut") || st.Audit.Entries != n {
		t.Fatalf("status after the cut: %+v", st.Audit)
	}
	if out := ok(t, a.dir, "status"); !strings.Contains(out, "audit:        ALARM: the server's audit trail was cut") {
		t.Fatalf("status:\n%s", out)
	}
	if out := ok(t, a.dir, "verify"); !strings.Contains(out, "server audit   ALARM: the server's audit trail was cut") {
		t.Fatalf("verify:\n%s", out)
	}
	// Saves still reach the server.
	id := a.newRecord("NW-0005")
	a.syncUntilQuiet()
	b := newAgent(t, s, "bob")
	b.syncUntilQuiet()
	if !b.ids()[id] {
		t.Fatal("a record saved after the alarm did not reach the server")
	}
}

func agentStatus(t *testing.T, a *agent) statusReport {
	t.Helper()
	var st statusReport
	if err := json.Unmarshal([]byte(ok(t, a.dir, "status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// fieldformsd runs a command that may fail.
func fieldformsd(s *testServer, args ...string) (int, string, string) {
	cmd := exec.Command(s.bin, append(args, s.dirs()...)...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// cutTrail drops the audit entries after keep from a tenant file, with the tree's
// hashes and size, as an operator with bbolt could.
func cutTrail(t *testing.T, path string, keep uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		drop := func(bucket string, gone func(k []byte) bool) {
			b := tx.Bucket([]byte(bucket))
			var dead [][]byte
			b.ForEach(func(k, _ []byte) error {
				if gone(k) {
					dead = append(dead, append([]byte(nil), k...))
				}
				return nil
			})
			for _, k := range dead {
				b.Delete(k)
			}
		}
		drop("audit", func(k []byte) bool { return binary.BigEndian.Uint64(k) > keep })
		drop("auditbyrec", func(k []byte) bool { return len(k) >= 8 && binary.BigEndian.Uint64(k[len(k)-8:]) > keep })
		drop("audittree", func(k []byte) bool {
			return int64(binary.BigEndian.Uint64(k)) >= tlog.StoredHashCount(int64(keep))
		})
		return tx.Bucket([]byte("meta")).Put([]byte("audittree_size"), binary.BigEndian.AppendUint64(nil, keep))
	})
	if err != nil {
		t.Fatal(err)
	}
}
