package store_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// The replica fixture was made by the release before storage v2 (schema 2): see
// testdata/README.md at the repository's root.
const schema2Replica = "../testdata/replica-schema2.tgz"

// fixtureRecord is a record as the old program listed it.
type fixtureRecord struct {
	ID      string `json:"id"`
	Rev     string `json:"rev"`
	Deleted bool   `json:"deleted"`
	Status  string `json:"status"`
}

func fixtureRecords(t *testing.T, name string) []fixtureRecord {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var recs []fixtureRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// untarFixture unpacks a .tgz into a new folder and returns it.
func untarFixture(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fileSums are the SHA-256 of every file in a folder, by name (replica.db without
// the zeros that end it).
func fileSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == store.DBFile {
			// On Windows bbolt's open grows the file with zeros to its memory
			// map: room, not content.
			b = bytes.TrimRight(b, "\x00")
		}
		sums[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// syncBuffer is a log destination safe for the store's goroutines.
type logBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newLogBuffer() *logBuffer { return &logBuffer{mu: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.String()
}

// checkUpgraded opens a replica made from the schema-2 fixture and checks that it
// holds what the old program listed, that it verifies, that its history, outbox
// and dead letters read, and that it was converted (upgraded says whether this
// open should do it). It returns the log.
func checkUpgraded(t *testing.T, dir string, upgraded bool) string {
	t.Helper()
	ctx := context.Background()
	logs := newLogBuffer()
	s, err := store.Open(ctx, dir, store.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	if got := strings.Contains(logs.String(), "replica upgraded from schema 2 to 3 in "); got != upgraded {
		t.Errorf("upgrade logged: %v, want %v:\n%s", got, upgraded, logs)
	}
	if upgraded && !strings.Contains(logs.String(), "s (7 records)") {
		t.Errorf("the upgrade line does not count 7 records:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dir, store.DBFile+store.RewriteSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the new file of the upgrade is left beside the replica: %v", err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	want := fixtureRecords(t, "../testdata/replica-schema2.records.json")
	if n, err := s.Count(ctx); err != nil || n != len(want) {
		t.Errorf("count: %d %v, want %d", n, err, len(want))
	}
	for _, w := range want {
		r, err := s.Get(ctx, w.ID)
		if err != nil {
			t.Errorf("record %s: %v", w.ID, err)
			continue
		}
		if r.Rev() != w.Rev || r.Deleted() != w.Deleted {
			t.Errorf("record %s: rev %s deleted %v, want %s %v", w.ID, r.Rev(), r.Deleted(), w.Rev, w.Deleted)
		}
		if h, err := s.History(ctx, w.ID); err != nil || len(h) == 0 {
			t.Errorf("history of %s: %d entries, %v", w.ID, len(h), err)
		}
	}
	if n, err := s.PendingCount(ctx); err != nil || n != 2 {
		t.Errorf("pending: %d %v, want 2", n, err)
	}
	if d, err := s.DeadLetters(ctx); err != nil || len(d) != 1 {
		t.Errorf("dead letters: %v %v, want 1", d, err)
	}
	if n, err := s.PurgedCount(ctx); err != nil || n != 1 {
		t.Errorf("purged: %d %v, want 1", n, err)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n == 0 {
		t.Errorf("audit: %d entries, %v", n, err)
	}
	return logs.String()
}

// A replica of schema 2 is converted when it is opened, and holds the same
// records with the same revs, its outbox, dead letters, purges and audit trail;
// the next open finds schema 3 and converts nothing.
func TestUpgradeSchema2Replica(t *testing.T) {
	dir := untarFixture(t, schema2Replica)
	checkUpgraded(t, dir, true)
	checkUpgraded(t, dir, false)
}

const upgradeJournalEnv = "FIELDFORMS_UPGRADE_JOURNAL" // the replica folder of the child's saves

// TestUpgradeJournalChild saves records that reach the journal but not the
// database (the applier is held), prints their IDs, and kills itself.
func TestUpgradeJournalChild(t *testing.T) {
	dir := os.Getenv(upgradeJournalEnv)
	if dir == "" {
		t.Skip("runs as a child of TestUpgradeReplaysJournalIntoNewFile")
	}
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{Device: "dev-upgrade"})
	if err == nil {
		err = s.PutTemplate(ctx, mustTemplate(t))
	}
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	store.HoldApplier()
	for i := range 20 {
		r, err := s.Save(ctx, store.Edit{Template: inspection, Author: "t", Values: form.Values{
			"site_code": json.RawMessage(fmt.Sprintf(`"S-%05d"`, i))}})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println("saved", r.ID, r.Rev())
	}
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		p.Kill()
	}
	time.Sleep(time.Minute)
}

// Saves a replica of schema 2 holds only in its journal (acknowledged, then the
// process was killed before they reached the database) are replayed into the
// converted file: none is lost, and the journal marks carry over.
func TestUpgradeReplaysJournalIntoNewFile(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpgradeJournalChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), upgradeJournalEnv+"="+dir)
	out, _ := cmd.Output()
	saved := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "saved" {
			saved[f[1]] = f[2]
		}
	}
	if len(saved) != 20 {
		t.Fatalf("the child saved %d records: %s", len(saved), out)
	}
	// The file as the release before would have left it.
	applied := setMeta(t, dir, func(m *bolt.Bucket) error {
		if m.Get([]byte("journal_clean")) != nil {
			return errors.New("the killed replica is marked clean")
		}
		return m.Put([]byte("schema"), []byte{0, 0, 0, 2})
	})
	ctx := context.Background()
	logs := newLogBuffer()
	s, err := store.Open(ctx, dir, store.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !strings.Contains(logs.String(), "replica upgraded from schema 2 to 3") || !strings.Contains(logs.String(), "replaying journal") {
		t.Errorf("open did not upgrade and replay:\n%s", logs)
	}
	for id, rev := range saved {
		r, err := s.Get(ctx, id)
		if err != nil || r.Rev() != rev {
			t.Errorf("saved record %s: rev %s %v, want %s", id, r.Rev(), err, rev)
		}
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Errorf("verify: %+v %v", rep, err)
	}
	s.Close()
	if after := setMeta(t, dir, nil); after != applied+20 {
		t.Errorf("journal_applied %d after the upgrade and replay, want %d", after, applied+20)
	}
}

// setMeta changes a closed replica's meta bucket with fn (when not nil) and
// returns its journal_applied mark.
func setMeta(t *testing.T, dir string, fn func(m *bolt.Bucket) error) uint64 {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var applied uint64
	err = db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte("meta"))
		if fn != nil {
			if err := fn(m); err != nil {
				return err
			}
		}
		if v := m.Get([]byte("journal_applied")); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return applied
}

// A replica that cannot be converted is refused in one line naming what is wrong,
// and its files are left exactly as they were.
func TestUpgradeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"newer schema", func(t *testing.T, dir string) {
			setMeta(t, dir, func(m *bolt.Bucket) error { return m.Put([]byte("schema"), []byte{0, 0, 0, 9}) })
		}, "replica schema 9 is newer than this program (3)"},
		{"schema number cut", func(t *testing.T, dir string) {
			setMeta(t, dir, func(m *bolt.Bucket) error { return m.Put([]byte("schema"), []byte{2}) })
		}, "its schema number is 1 bytes long, not 4"},
		{"records page damaged", func(t *testing.T, dir string) {
			damageBucketPage(t, dir, "records")
		}, "replica.db is damaged: page of kind 0x40 where a branch or leaf page belongs"},
		{"audit page damaged", func(t *testing.T, dir string) {
			damageBucketPage(t, dir, "audit")
		}, "replica.db is damaged: page of kind 0x40 where a branch or leaf page belongs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := untarFixture(t, schema2Replica)
			tc.damage(t, dir)
			before := fileSums(t, dir)
			_, err := store.Open(context.Background(), dir, store.Options{})
			if err == nil {
				t.Fatal("a replica that cannot be converted opened")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line with %q", msg, tc.want)
			}
			if testing.Verbose() {
				t.Log(msg)
			}
			if after := fileSums(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("the refused replica changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// damageBucketPage overwrites the first leaf page of a top-level bucket with a
// page of an unknown type, so reading the bucket fails while opening the file
// does not.
func damageBucketPage(t *testing.T, dir, bucket string) {
	t.Helper()
	path := filepath.Join(dir, store.DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var pgid uint64
	var pageSize int
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil || b.Root() == 0 {
			return fmt.Errorf("bucket %s is inline or missing", bucket)
		}
		pgid, pageSize = uint64(b.Root()), db.Info().PageSize
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 16)
	binary.LittleEndian.PutUint64(page, pgid)
	binary.LittleEndian.PutUint16(page[8:], 0x40) // no such page type
	if _, err := f.WriteAt(page, int64(pgid)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
}

const upgradeKillEnv = "FIELDFORMS_UPGRADE_KILL" // "DIR STAGE N [compact]": the child's work

// TestUpgradeKillChild is the killed child's body: it opens the replica, which
// converts it, and kills itself at the Nth time the conversion reaches STAGE.
func TestUpgradeKillChild(t *testing.T) {
	f := strings.Fields(os.Getenv(upgradeKillEnv))
	if len(f) != 3 && len(f) != 4 {
		t.Skip("runs as the upgrade kill test's child process")
	}
	n, _ := strconv.Atoi(f[2])
	store.SetRewriteHook(func(stage string) {
		if stage != f[1] {
			return
		}
		if n--; n == 0 {
			// Killed as by SIGKILL (TerminateProcess on Windows): no deferred
			// function, no close.
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				p.Kill()
			}
			time.Sleep(time.Minute)
		}
	})
	if len(f) == 4 {
		if _, err := store.Compact(context.Background(), f[0], store.Options{}); err != nil {
			fmt.Println("ERR", err)
			os.Exit(3)
		}
		fmt.Println("NOT KILLED")
		os.Exit(4)
	}
	s, err := store.Open(context.Background(), f[0], store.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	s.Close()
	fmt.Println("NOT KILLED")
	os.Exit(4)
}

// A conversion killed at any point leaves the old file whole or the new one whole:
// the next open converts (or finds it converted), removes what the killed one left
// and holds every record of the fixture with its rev.
func TestUpgradeKilled(t *testing.T) {
	for _, tc := range []struct {
		stage     string
		n         int
		converted bool // the file in place after the kill is the new one
	}{
		{"copying", 1, false},
		{"copying", 6, false},
		{"synced", 1, false},
		{"renamed", 1, true},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.stage, tc.n), func(t *testing.T) {
			dir := untarFixture(t, schema2Replica)
			old := fileSums(t, dir)[store.DBFile]
			cmd := exec.Command(os.Args[0], "-test.run=^TestUpgradeKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", upgradeKillEnv, dir, tc.stage, tc.n))
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || strings.Contains(string(out), "NOT KILLED") || strings.Contains(string(out), "ERR") {
				t.Fatalf("the child was not killed at %s #%d: %v\n%s", tc.stage, tc.n, err, out)
			}
			if got := fileSums(t, dir)[store.DBFile] != old; got != tc.converted {
				t.Errorf("replica.db replaced by the kill: %v, want %v", got, tc.converted)
			}
			_, err = os.Stat(filepath.Join(dir, store.DBFile+store.RewriteSuffix))
			if left := err == nil; left == tc.converted {
				t.Errorf("new file left beside the replica: %v", left)
			}
			checkUpgraded(t, dir, !tc.converted)
		})
	}
}
