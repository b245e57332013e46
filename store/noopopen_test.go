package store_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// fileMark is what a write would change: the bytes and the modification time.
type fileMark struct {
	sum   [32]byte
	mtime time.Time
	size  int64
}

func markOf(t *testing.T, path string) fileMark {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	m := fileMark{sum: sha256.Sum256(b), mtime: fi.ModTime(), size: fi.Size()}
	if runtime.GOOS == "windows" {
		// bbolt sets the database file's length to its map size at every open on
		// Windows (to the same length here), which moves the modification time
		// without changing a byte: only the bytes and the size tell a write there.
		m.mtime = time.Time{}
	}
	return m
}

func replicaMarks(t *testing.T, dir string) map[string]fileMark {
	t.Helper()
	return map[string]fileMark{
		store.DBFile:      markOf(t, filepath.Join(dir, store.DBFile)),
		store.JournalFile: markOf(t, filepath.Join(dir, store.JournalFile)),
	}
}

// TestOpenWritesNothing: opening a replica that was closed cleanly, offering it the
// templates it holds, setting sync state to the values it holds, reading and
// closing it writes neither the database nor the journal; a save after such an
// open is kept as before, across a close and an open.
func TestOpenWritesNothing(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		saves int
	}{
		{"new replica", 0},
		{"replica with records", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := store.Open(ctx, dir, store.Options{Device: "dev-noop"})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
				t.Fatal(err)
			}
			for i := range tc.saves {
				mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "record "+string(rune('a'+i)))})
			}
			if err := s.SetState(ctx, map[string][]byte{"sync/cursor": []byte("c1")}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			before := replicaMarks(t, dir)
			time.Sleep(20 * time.Millisecond) // so a write would show in the modification time too
			for range 2 {
				s, err := store.Open(ctx, dir, store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
					t.Fatal(err)
				}
				if err := s.SetState(ctx, map[string][]byte{"sync/cursor": []byte("c1"), "sync/none": nil}); err != nil {
					t.Fatal(err)
				}
				if n, err := s.Count(ctx); err != nil || n != tc.saves {
					t.Fatalf("count %d, %v; want %d", n, err, tc.saves)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if after := replicaMarks(t, dir); after[store.DBFile] != before[store.DBFile] || after[store.JournalFile] != before[store.JournalFile] {
					t.Fatalf("a no-op open and close wrote the replica:\nbefore %+v\nafter  %+v", before, after)
				}
			}
			// A change of state is written; then a save, kept across a close.
			s, err = store.Open(ctx, dir, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetState(ctx, map[string][]byte{"sync/cursor": []byte("c2")}); err != nil {
				t.Fatal(err)
			}
			r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after a quiet open")})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if after := replicaMarks(t, dir); after[store.DBFile].sum == before[store.DBFile].sum {
				t.Fatal("a save and a state change left the database unchanged")
			}
			s = openReplica(t, dir, "", nil)
			mustGet(t, s, r.ID)
			if v, err := s.State(ctx, "sync/cursor"); err != nil || string(v) != "c2" {
				t.Fatalf("state %q, %v; want c2", v, err)
			}
		})
	}
}

// TestQuietOpenThenKill: a replica opened without writing (it was closed cleanly)
// takes its clean mark away before its first save reaches the journal, so saves
// that a kill leaves in the journal only are replayed at the next open.
func TestQuietOpenThenKill(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	s, err := store.Open(ctx, base, store.Options{Device: "dev-kill"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
		t.Fatal(err)
	}
	first := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "before the kill")})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !cleanMark(t, base) {
		t.Fatal("a replica closed cleanly has no clean mark")
	}
	ids := killAfterSaves(t, base)
	if cleanMark(t, base) {
		t.Fatal("the clean mark stayed while saves were in the journal only")
	}
	s = openReplica(t, base, "", nil)
	for _, id := range append(ids, first.ID) {
		mustGet(t, s, id)
	}
}

// cleanMark reads the replica's clean mark straight from its file.
func cleanMark(t *testing.T, dir string) bool {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var clean bool
	if err := db.View(func(tx *bolt.Tx) error {
		clean = tx.Bucket([]byte("meta")).Get([]byte("journal_clean")) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return clean
}
