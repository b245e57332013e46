package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	bolt "go.etcd.io/bbolt"
)

// listedRecord is a record as `record list --json` prints it.
type listedRecord struct {
	ID      string `json:"id"`
	Rev     string `json:"rev"`
	Deleted bool   `json:"deleted"`
	Status  string `json:"status"`
}

func listedRecords(t *testing.T, data []byte) map[string]listedRecord {
	t.Helper()
	var recs []listedRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatalf("record list --json: %v: %s", err, data)
	}
	out := map[string]listedRecord{}
	for _, r := range recs {
		out[r.ID] = r
	}
	return out
}

func fixtureList(t *testing.T, name string) map[string]listedRecord {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return listedRecords(t, b)
}

// pointAt makes a replica's credential name the server at addr: the fixture's
// server listened on a fixed port, this test's on a free one.
func pointAt(t *testing.T, dir, addr string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.State(ctx, ffsync.KeyCredential)
	if err != nil {
		t.Fatal(err)
	}
	var cred ffsync.Credential
	if err := json.Unmarshal(b, &cred); err != nil {
		t.Fatal(err)
	}
	cred.URL = "https://" + addr
	if b, err = json.Marshal(cred); err != nil {
		t.Fatal(err)
	}
	if err := st.SetState(ctx, map[string][]byte{ffsync.KeyCredential: b}); err != nil {
		t.Fatal(err)
	}
}

var compactLine = regexp.MustCompile(`^replica\.db: [0-9.]+ MiB → [0-9.]+ MiB \(\d+ records, [0-9.]+s\)\n$`)

// A device replica and a server's folders made by the release before storage v2
// (schema 2) open with this one: the replica converts on its first command and
// holds every record with the same rev, its pending changes, dead letter and purge;
// the server converts its tenant file and serves pulls; the old device syncs its
// pending changes to it; both compact.
func TestOpensSchema2ReplicaAndServer(t *testing.T) {
	dir := t.TempDir()
	untar(t, "testdata/replica-schema2.tgz", dir)
	if out := ok(t, dir, "verify"); !strings.Contains(strings.ToLower(out), "ok") {
		t.Fatalf("verify: %s", out)
	}
	want := fixtureList(t, "testdata/replica-schema2.records.json")
	got := listedRecords(t, []byte(ok(t, dir, "record", "list", "--all", "--json")))
	if len(got) != len(want) {
		t.Errorf("%d records, want %d", len(got), len(want))
	}
	for id, w := range want {
		if g := got[id]; g != w {
			t.Errorf("record %s reads %+v, want %+v", id, g, w)
		}
	}
	var st struct {
		Pending int `json:"pending"`
		Dead    []struct {
			Record string `json:"record"`
		} `json:"dead_letters"`
		Purged int `json:"purged"`
	}
	if err := json.Unmarshal([]byte(ok(t, dir, "status", "--json")), &st); err != nil || st.Pending != 2 || len(st.Dead) != 1 || st.Purged != 1 {
		t.Fatalf("status of the converted replica: %+v %v", st, err)
	}
	for id := range want {
		if s := show(t, dir, id); len(s.History) == 0 {
			t.Errorf("record %s has no history", id)
		}
	}

	// The server's folders of the same release.
	root := t.TempDir()
	untar(t, "testdata/server-schema2.tgz", root)
	s := &testServer{t: t, bin: buildServer(t), config: filepath.Join(root, "config"), data: filepath.Join(root, "data"), addr: freeAddr(t)}
	s.serve()
	t.Cleanup(s.stop)
	// A new device pulls what the old server held.
	c := newAgent(t, s, "carol")
	c.syncUntilQuiet()
	onServer := fixtureList(t, "testdata/server-schema2.records.json")
	pulled := listedRecords(t, []byte(ok(t, c.dir, "record", "list", "--all", "--json")))
	for id, w := range onServer {
		if g := pulled[id]; g.Rev != w.Rev || g.Deleted != w.Deleted {
			t.Errorf("pulled record %s reads %+v, want %+v", id, g, w)
		}
	}
	// The old device pushes its pending changes to it.
	pointAt(t, dir, s.addr)
	(&agent{t: t, dir: dir}).syncUntilQuiet()
	if err := json.Unmarshal([]byte(ok(t, dir, "status", "--json")), &st); err != nil || st.Pending != 0 || len(st.Dead) != 1 {
		t.Fatalf("status after the sync: %+v %v", st, err)
	}

	// Compaction: the server's tenant while it runs, the device's replica.
	if out := s.admin("compact", "--tenant", "acme"); !compactLine.MatchString(out) {
		t.Errorf("fieldformsd compact: %q", out)
	}
	c.syncUntilQuiet()
	mine := listedRecords(t, []byte(ok(t, dir, "record", "list", "--all", "--json")))
	theirs := listedRecords(t, []byte(ok(t, c.dir, "record", "list", "--all", "--json")))
	for id, m := range mine {
		if id == st.Dead[0].Record {
			continue // refused by the server: a dead letter
		}
		if theirs[id].Rev != m.Rev {
			t.Errorf("after the sync and compaction, record %s: the server's copy reads %+v, the device's %+v", id, theirs[id], m)
		}
	}
	if out := ok(t, dir, "compact"); !compactLine.MatchString(out) {
		t.Errorf("fieldforms compact: %q", out)
	}
	if out := ok(t, dir, "verify"); !strings.Contains(strings.ToLower(out), "ok") {
		t.Fatalf("verify after compact: %s", out)
	}
	if n := len(listedRecords(t, []byte(ok(t, dir, "record", "list", "--all", "--json")))); n != len(mine) {
		t.Errorf("%d records after compact, want %d", n, len(mine))
	}

	// Refused while the replica is open elsewhere, changing nothing.
	held, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	fails(t, cli(t, dir, "compact"), 1, "in use")
}

// A schema-2 replica whose records page is damaged is refused by every command in
// one line that names the file and says to repair, changing nothing; repair then
// salvages every record into a replica of this release.
func TestDamagedSchema2Replica(t *testing.T) {
	dir := t.TempDir()
	untar(t, "testdata/replica-schema2.tgz", dir)
	db := filepath.Join(dir, store.DBFile)
	b, err := bolt.Open(db, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var pgid uint64
	err = b.View(func(tx *bolt.Tx) error { pgid = uint64(tx.Bucket([]byte("records")).Root()); return nil })
	pageSize := b.Info().PageSize
	b.Close()
	if err != nil || pgid == 0 {
		t.Fatalf("records bucket root: %d %v", pgid, err)
	}
	page := make([]byte, 16)
	binary.LittleEndian.PutUint64(page, pgid)
	binary.LittleEndian.PutUint16(page[8:], 0x40) // no such page type
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(page, int64(pgid)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sums := func() string {
		out := ""
		for _, name := range []string{store.DBFile, store.JournalFile} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintf("%s %x\n", name, sha256.Sum256(b))
		}
		return out
	}
	before := sums()
	for _, args := range [][]string{{"verify"}, {"record", "list"}, {"compact"}} {
		fails(t, cli(t, dir, args...), 1, db, "is damaged", "page 30", "fieldforms repair")
	}
	if after := sums(); after != before {
		t.Errorf("the refused replica changed:\n%s\n%s", before, after)
	}
	if _, err := os.Stat(db + store.RewriteSuffix); err == nil {
		t.Error("a refused upgrade left its new file")
	}
	if out := ok(t, dir, "repair"); !strings.Contains(out, "7 records salvaged") {
		t.Fatalf("repair: %s", out)
	}
	want := fixtureList(t, "testdata/replica-schema2.records.json")
	got := listedRecords(t, []byte(ok(t, dir, "record", "list", "--all", "--json")))
	for id, w := range want {
		if got[id].Rev != w.Rev {
			t.Errorf("record %s after repair: %+v, want %+v", id, got[id], w)
		}
	}
}
