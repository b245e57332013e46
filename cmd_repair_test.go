package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/store"
)

// TestCLIRepair: a replica whose journal holds saves its database lacks, with one
// save between them nowhere and the file cut short, is refused by every command with
// one line naming the damage; `fieldforms repair` recovers what the journal holds,
// names what it could not recover, and the replica opens again.
func TestCLIRepair(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "replica")
	dbPath, jPath := filepath.Join(dir, store.DBFile), filepath.Join(dir, store.JournalFile)
	var ids []string
	var oldDB []byte
	for i := range 5 {
		ids = append(ids, strings.TrimSpace(ok(t, dir, "record", "new", "--template", "site-inspection", "--json", fmt.Sprintf(`{"site_code": "SE-%04d"}`, i+1))))
		if i == 2 {
			var err error
			if oldDB, err = os.ReadFile(dbPath); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The database as it was three saves in, the journal as the last command left
	// it (its last save only), cut right after that save's frame.
	journal, err := os.ReadFile(jPath)
	if err != nil {
		t.Fatal(err)
	}
	end := 4096 + 16 + int(binary.LittleEndian.Uint32(journal[4096:]))
	if !strings.Contains(string(journal[4096+16:end]), ids[4]) {
		t.Fatalf("the journal's first frame is not the last save's")
	}
	if err := os.WriteFile(dbPath, oldDB, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jPath, journal[:end], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"record", "list"}, {"verify"}, {"status"}} {
		fails(t, cli(t, dir, args...), 1, "journal "+jPath+" at byte 4096", "2 saves at stake", "1 of them unreadable",
			"how many is unknown", "run 'fieldforms repair'")
	}
	if b, _ := os.ReadFile(jPath); len(b) != end {
		t.Fatal("a refused command changed the journal")
	}

	out := ok(t, dir, "repair")
	for _, want := range []string{"damaged: " + jPath + " at byte 4096", "kept as " + jPath + store.DamagedSuffix,
		"recovered      1 save from the journal", "not recovered  #", "the save after it changed " + ids[4],
		"not recovered  any save after #", "lost           1 save on this device", "brings back what it holds", "result         repaired"} {
		if !strings.Contains(out, want) {
			t.Errorf("repair: no %q in\n%s", want, out)
		}
	}
	list := ok(t, dir, "record", "list")
	for i, id := range ids {
		if strings.Contains(list, id) != (i != 3) {
			t.Errorf("after the repair, record %d (%s) listed: %v\n%s", i, id, i != 3, list)
		}
	}
	kept, _ := filepath.Glob(jPath + store.DamagedSuffix + "*")
	if len(kept) != 1 {
		t.Errorf("damaged journals kept: %v", kept)
	}
	var rep store.RepairReport
	if err := json.Unmarshal([]byte(ok(t, dir, "repair", "--json")), &rep); err != nil || rep.Repaired {
		t.Errorf("a second repair: %+v %v", rep, err)
	}
	fails(t, cli(t, dir, "repair", "extra"), 2, "repair")

	// Refused while the replica is open elsewhere.
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fails(t, cli(t, dir, "repair"), 1, "in use")
}

// TestCLIVerifyJournalNotice: damage to the journal of a replica closed cleanly loses
// nothing; verify says what it was and where the damaged file is kept.
func TestCLIVerifyJournalNotice(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "replica")
	id := strings.TrimSpace(ok(t, dir, "record", "new", "--template", "site-inspection", "--json", `{"site_code": "SE-0001"}`))
	jPath := filepath.Join(dir, store.JournalFile)
	if err := os.WriteFile(jPath, []byte("not a journal"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := ok(t, dir, "verify")
	if !strings.Contains(out, "journal        "+jPath+" is cut to 13 bytes") || !strings.Contains(out, "no save was at stake") ||
		!strings.Contains(out, "result         ok") {
		t.Errorf("verify:\n%s", out)
	}
	if !strings.Contains(ok(t, dir, "record", "list"), id) {
		t.Error("record lost")
	}
}
