package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
)

const lockMsg = "replica in use by another process"

// TestLock: a second Open of a replica that is open fails quickly with ErrInUse instead
// of waiting for ever, both from this process (bbolt's flock is per open file, so a
// second open conflicts even here) and from another process.
func TestLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := openReplica(t, dir, "dev-lock", nil)
	r := mustSave(t, first, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "held")})

	t.Run("ErrInUse_SameProcess", func(t *testing.T) {
		start := time.Now()
		s, err := store.Open(ctx, dir, store.Options{LockTimeout: 200 * time.Millisecond})
		took := time.Since(start)
		if err == nil {
			s.Close()
			t.Fatal("a second open of an open replica succeeded")
		}
		if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), lockMsg) {
			t.Fatalf("got %v, want ErrInUse", err)
		}
		if took > 2*time.Second || took < 100*time.Millisecond {
			t.Fatalf("failed after %s, want about the 200ms lock timeout", took)
		}
	})

	t.Run("ErrInUse_OtherProcess", func(t *testing.T) {
		start := time.Now()
		out, err := runChild(t, "TestLockChild", 10*time.Second, childEnv+"=lock", "FIELDFORMS_LOCK_DIR="+dir)
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		if !strings.Contains(out, "ErrInUse: true") || !strings.Contains(out, lockMsg) {
			t.Fatalf("child said %q", out)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("took %s", took)
		}
	})

	// The first holder is undisturbed, and once it closes the replica opens.
	if got := mustGet(t, first, r.ID); got.Rev() != r.Rev() {
		t.Fatal("first store disturbed")
	}
	first.Close()
	t.Run("OK_AfterClose", func(t *testing.T) {
		s, err := store.Open(ctx, dir, store.Options{LockTimeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := mustGet(t, s, r.ID); got.Rev() != r.Rev() {
			t.Fatal("record lost")
		}
	})
	t.Run("OK_DefaultTimeoutBounded", func(t *testing.T) {
		held := openReplica(t, t.TempDir(), "dev-lock2", nil)
		start := time.Now()
		s, err := store.Open(ctx, held.Dir(), store.Options{})
		if err == nil {
			s.Close()
			t.Fatal("second open succeeded")
		}
		if !errors.Is(err, store.ErrInUse) || time.Since(start) > 5*time.Second {
			t.Fatalf("%v after %s", err, time.Since(start))
		}
	})
}

// TestLockChild runs in a child process of TestLock: it tries to open the replica its
// parent holds and reports what happened on standard output.
func TestLockChild(t *testing.T) {
	if os.Getenv(childEnv) != "lock" {
		t.Skip("helper process for TestLock")
	}
	start := time.Now()
	s, err := store.Open(context.Background(), os.Getenv("FIELDFORMS_LOCK_DIR"), store.Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		s.Close()
	}
	fmt.Printf("ErrInUse: %v\nerr: %v\ntook: %s\n", errors.Is(err, store.ErrInUse), err, time.Since(start))
}
