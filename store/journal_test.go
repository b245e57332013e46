package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// countRecordsInDB reads a closed replica's database with bbolt directly.
func countRecordsInDB(t *testing.T, dir string) int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("records")); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestJournalCrash: a process that saves and then exits without closing the replica
// (the applier possibly behind) loses none of the saves it acknowledged (I1).
func TestJournalCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const n = 40
	out, err := runChild(t, "TestJournalCrashChild", 20*time.Second, childEnv+"=crash", "FIELDFORMS_CRASH_DIR="+dir, "FIELDFORMS_CRASH_N="+strconv.Itoa(n))
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "saved "); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) != n {
		t.Fatalf("child acknowledged %d saves, want %d:\n%s", len(ids), n, out)
	}
	t.Logf("%d of %d saves were in bbolt when the child exited", countRecordsInDB(t, dir), n)

	s := openReplica(t, dir, "", nil)
	if s.Device() != "dev-crash" {
		t.Fatalf("device %q", s.Device())
	}
	for i, id := range ids {
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("acknowledged save %d (%s) lost: %v", i, id, err)
		}
		if want := fmt.Sprintf(`"crash record %d"`, i); string(r.Value("notes")) != want {
			t.Fatalf("record %d: notes %s, want %s", i, r.Value("notes"), want)
		}
	}
	rep := mustVerify(t, s)
	if rep.Records != n || rep.AuditEntries != n {
		t.Fatalf("report %+v", rep)
	}
	if c, _ := s.PendingCount(ctx); c != n {
		t.Fatalf("pending %d, want %d", c, n)
	}
	p, err := s.Search(ctx, store.Query{Text: "crash record", Limit: 100})
	if err != nil || p.Total != n {
		t.Fatalf("search after replay: %d %v", p.Total, err)
	}
	// The replica carries on: the next save's numbers follow the replayed ones.
	r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after the crash")})
	h := mustHistory(t, s, r.ID)
	if h[0].Seq != n+1 {
		t.Fatalf("audit seq %d after %d replayed entries", h[0].Seq, n)
	}
	mustVerify(t, s)
}

// TestJournalCrashChild runs in a child process of TestJournalCrash.
func TestJournalCrashChild(t *testing.T) {
	if os.Getenv(childEnv) != "crash" {
		t.Skip("helper process for TestJournalCrash")
	}
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv("FIELDFORMS_CRASH_N"))
	s, err := store.Open(ctx, os.Getenv("FIELDFORMS_CRASH_DIR"), store.Options{Device: "dev-crash"})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
		fmt.Println("template:", err)
		os.Exit(2)
	}
	for i := 0; i < n; i++ {
		r, err := s.Save(ctx, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", fmt.Sprintf("crash record %d", i))})
		if err != nil {
			fmt.Println("save:", err)
			os.Exit(2)
		}
		fmt.Println("saved " + r.ID)
	}
	os.Exit(0) // no Close: the applier may not have caught up
}

// frameRegion is where two snapshots of the journal differ: the frame that one save
// wrote. Bytes past the end of the older snapshot count only when not zero (a journal
// may be grown with zeros ahead of use).
func frameRegion(before, after []byte) (start, end int) {
	start, end = -1, -1
	for i := range after {
		if i < len(before) && before[i] == after[i] || i >= len(before) && after[i] == 0 {
			continue
		}
		if start < 0 {
			start = i
		}
		end = i + 1
	}
	return start, end
}

// tear returns after with the second part of [start, end) as it was before: a frame
// whose write stopped halfway.
func tear(before, after []byte, start, end, keep int) []byte {
	out := append([]byte(nil), after...)
	cut := start + keep
	if len(before) < end {
		return out[:cut] // an appending journal: the file just ends
	}
	copy(out[cut:end], before[cut:end])
	return out
}

// TestJournalReplay takes the replica apart the way a crash can leave it: a database
// that never received the journalled saves, a journal whose last write was torn, a
// journal damaged in the middle.
func TestJournalReplay(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	base := t.TempDir()
	s := openReplica(t, base, "dev-j", clk)
	journalPath := filepath.Join(base, store.JournalFile)
	dbPath := filepath.Join(base, store.DBFile)
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	db0 := read(dbPath) // templates only: no save applied
	snaps := [][]byte{read(journalPath)}
	var recs []form.Record
	for i := 0; i < 4; i++ {
		clk.Advance(time.Minute)
		recs = append(recs, mustSave(t, s, store.Edit{Template: inspection, Author: "ana",
			Values: vals("site_code", fmt.Sprintf("S-0090%d", i), "notes", fmt.Sprintf("journal record number %d", i))}))
		snaps = append(snaps, read(journalPath)) // the save returned: its frame is on disk
	}
	s.Close()
	dbAll := read(dbPath)
	regions := make([][2]int, len(recs))
	for i := range recs {
		st, en := frameRegion(snaps[i], snaps[i+1])
		if st < 0 || en-st < 64 {
			t.Fatalf("save %d wrote no frame to the journal (%d..%d)", i, st, en)
		}
		if i > 0 && st < regions[i-1][1] {
			t.Fatalf("frame %d at %d overlaps frame %d ending at %d", i, st, i-1, regions[i-1][1])
		}
		regions[i] = [2]int{st, en}
	}
	full := snaps[len(snaps)-1]

	// replica builds a replica folder from a database and a journal.
	replica := func(t *testing.T, db, journal []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, store.DBFile), db, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, store.JournalFile), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	expect := func(t *testing.T, s *store.Store, present int) {
		t.Helper()
		for i, r := range recs {
			got, err := s.Get(ctx, r.ID)
			switch {
			case i < present && err != nil:
				t.Fatalf("record %d lost: %v", i, err)
			case i < present && got.Rev() != r.Rev():
				t.Fatalf("record %d: rev %s, want %s", i, got.Rev(), r.Rev())
			case i >= present && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("record %d of a torn save is there: %v", i, err)
			}
		}
		rep := mustVerify(t, s)
		if rep.Records != present || rep.AuditEntries != present {
			t.Fatalf("report %+v, want %d records", rep, present)
		}
		if n, _ := s.PendingCount(ctx); n != present {
			t.Fatalf("pending %d, want %d", n, present)
		}
		p, err := s.Search(ctx, store.Query{Text: "journal record"})
		if err != nil || p.Total != present {
			t.Fatalf("search: %d %v, want %d", p.Total, err, present)
		}
	}
	// reuse checks that a replica opened from a repaired journal keeps working: saves,
	// and a clean reopen.
	reuse := func(t *testing.T, dir string, s *store.Store, present int) {
		t.Helper()
		clk.Advance(time.Minute)
		extra := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "journal record extra")})
		s.Close()
		s2 := openReplica(t, dir, "dev-j", clk)
		if _, err := s2.Get(ctx, extra.ID); err != nil {
			t.Fatalf("save after recovery lost: %v", err)
		}
		rep := mustVerify(t, s2)
		if rep.Records != present+1 {
			t.Fatalf("report %+v", rep)
		}
	}

	t.Run("OK_ReplayUnapplied", func(t *testing.T) {
		dir := replica(t, db0, full)
		s := openReplica(t, dir, "dev-j", clk)
		expect(t, s, 4)
		reuse(t, dir, s, 4)
	})
	t.Run("OK_ReplayPartlyApplied", func(t *testing.T) {
		// The database holds everything; replaying again must not double anything.
		dir := replica(t, dbAll, full)
		s := openReplica(t, dir, "dev-j", clk)
		expect(t, s, 4)
	})
	for _, keep := range []int{1, 12, -1} {
		name := fmt.Sprintf("OK_TornTail%d", keep)
		t.Run(name, func(t *testing.T) {
			r := regions[3]
			k := keep
			if k < 0 {
				k = (r[1] - r[0]) / 2
			}
			dir := replica(t, db0, tear(snaps[3], full, r[0], r[1], k))
			s := openReplica(t, dir, "dev-j", clk)
			expect(t, s, 3)
			reuse(t, dir, s, 3)
		})
	}
	t.Run("OK_GarbageAppended", func(t *testing.T) {
		r := regions[1]
		j := append(append([]byte(nil), full...), full[r[0]:r[0]+(r[1]-r[0])/2]...)
		j = append(j, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3)
		dir := replica(t, db0, j)
		s := openReplica(t, dir, "dev-j", clk)
		expect(t, s, 4)
		reuse(t, dir, s, 4)
	})
	corrupt := []struct {
		name string
		db   []byte
		at   func() int
	}{
		{"ErrCorrupt_MiddleFramePayload", db0, func() int { return (regions[1][0] + regions[1][1]) / 2 }},
		{"ErrCorrupt_MiddleFrameChecksum", db0, func() int { return regions[1][0] + 5 }},
		{"ErrCorrupt_MiddleFrameLength", db0, func() int { return regions[1][0] + 1 }},
		{"ErrCorrupt_FirstFrame", db0, func() int { return regions[0][1] - 3 }},
	}
	t.Run("OK_DamageInAppliedFrames", func(t *testing.T) {
		// Every save is in the database: damage to frames it holds loses nothing.
		j := append([]byte(nil), full...)
		j[(regions[2][0]+regions[2][1])/2] ^= 0x55
		dir := replica(t, dbAll, j)
		s := openReplica(t, dir, "dev-j", clk)
		expect(t, s, 4)
		reuse(t, dir, s, 4)
	})
	for _, c := range corrupt {
		t.Run(c.name, func(t *testing.T) {
			j := append([]byte(nil), full...)
			j[c.at()] ^= 0x55
			dir := replica(t, c.db, j)
			s, err := store.Open(ctx, dir, store.Options{Device: "dev-j"})
			if err == nil {
				s.Close()
				t.Fatal("a journal damaged in the middle opened")
			}
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			// The evidence stays for a person to look at.
			if got, _ := os.ReadFile(filepath.Join(dir, store.JournalFile)); !bytes.Equal(got, j) {
				t.Fatal("a failed open changed the journal")
			}
		})
	}
}

// TestJournalLong: many saves, more than the journal's trimming threshold, survive a
// close and reopen, and the journal does not keep growing.
func TestJournalLong(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openReplica(t, dir, "dev-long", nil)
	big := strings.Repeat("lorem ipsum dolor sit amet ", 2200) // ~60 KB a save
	var ids []string
	for i := 0; i < 40; i++ {
		r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", fmt.Sprintf("long %d %s", i, big))})
		ids = append(ids, r.ID)
		if i%10 == 9 {
			if _, err := s.Count(ctx); err != nil { // a read: lets the applier catch up and trim
				t.Fatal(err)
			}
		}
	}
	s.Close()
	st, err := os.Stat(filepath.Join(dir, store.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 16<<20 {
		t.Errorf("journal is %d bytes after 40 saves of 60 KB", st.Size())
	}
	s = openReplica(t, dir, "dev-long", nil)
	for i, id := range ids {
		r, err := s.Get(ctx, id)
		if err != nil || !strings.HasPrefix(string(r.Value("notes")), fmt.Sprintf(`"long %d `, i)) {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	mustVerify(t, s)
}
