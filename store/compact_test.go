package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/store"
)

// Compact gives the file's free room back and keeps every record with its rev,
// the outbox, dead letters and the audit trail; it refuses a folder without a
// replica and a replica another process holds, changing nothing.
func TestCompact(t *testing.T) {
	ctx := context.Background()
	dir := untarFixture(t, schema2Replica)
	checkUpgraded(t, dir, true)
	leaveFreePages(t, dir)
	rep, err := store.Compact(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.After >= rep.Before || rep.Records != 7 {
		t.Errorf("compact: %+v; want a smaller file and 7 records", rep)
	}
	// On Windows bbolt's open grows the file with zeros to its memory map, so the
	// file may be longer than its pages there.
	if st, err := os.Stat(rep.File); err != nil || st.Size() < rep.After || (runtime.GOOS != "windows" && st.Size() != rep.After) {
		t.Errorf("replica.db after compact: %v %v, report says %d", st.Size(), err, rep.After)
	}
	checkUpgraded(t, dir, false)
	// Again: nothing more to give back, and still whole.
	if rep2, err := store.Compact(ctx, dir, store.Options{}); err != nil || rep2.After > rep.After {
		t.Errorf("second compact: %+v %v", rep2, err)
	}
	checkUpgraded(t, dir, false)

	t.Run("no replica", func(t *testing.T) {
		empty := t.TempDir()
		_, err := store.Compact(ctx, empty, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "holds no replica") {
			t.Fatalf("compact of an empty folder: %v", err)
		}
		if ents, _ := os.ReadDir(empty); len(ents) != 0 {
			t.Errorf("compact of an empty folder made %v", ents)
		}
	})
	t.Run("in use", func(t *testing.T) {
		s, err := store.Open(ctx, dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		before := fileSums(t, dir)
		if _, err := store.Compact(ctx, dir, store.Options{LockTimeout: 100e6}); !errors.Is(err, store.ErrInUse) {
			t.Fatalf("compact of a replica in use: %v", err)
		}
		if after := fileSums(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("a refused compact changed the replica")
		}
	})
}

// leaveFreePages grows the replica by 4 MiB of state and deletes it again: the
// file keeps the room as free pages.
func leaveFreePages(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := map[string][]byte{}
	for i := range 64 {
		big[fmt.Sprintf("test/%02d", i)] = make([]byte, 64<<10)
	}
	if err := s.SetState(ctx, big); err != nil {
		t.Fatal(err)
	}
	for k := range big {
		big[k] = nil
	}
	if err := s.SetState(ctx, big); err != nil {
		t.Fatal(err)
	}
}

// A compaction killed while it copies, after its fsync or after its rename leaves
// a replica that opens with every record.
func TestCompactKilled(t *testing.T) {
	for _, tc := range []struct {
		stage    string
		replaced bool
	}{{"copying", false}, {"synced", false}, {"renamed", true}} {
		t.Run(tc.stage, func(t *testing.T) {
			dir := untarFixture(t, schema2Replica)
			checkUpgraded(t, dir, true)
			cmd := exec.Command(os.Args[0], "-test.run=^TestUpgradeKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s 1 compact", upgradeKillEnv, dir, tc.stage))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || strings.Contains(string(out), "NOT KILLED") || strings.Contains(string(out), "ERR") {
				t.Fatalf("the child was not killed at %s: %v\n%s", tc.stage, err, out)
			}
			_, err = os.Stat(filepath.Join(dir, store.DBFile+store.RewriteSuffix))
			if left := err == nil; left == tc.replaced {
				t.Errorf("new file left beside the replica: %v", left)
			}
			checkUpgraded(t, dir, false)
		})
	}
}
