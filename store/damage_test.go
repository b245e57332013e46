package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// damageBase makes a closed replica of n records, big enough for branch pages, and
// returns its folder and each record's rev.
func damageBase(t *testing.T, n int) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	s := mustOpenDir(t, dir)
	revs := map[string]string{}
	for i := range n {
		r := mustSave(t, s, store.Edit{Template: inspection, Values: complete(fmt.Sprintf("S-%05d", i), "Ana", strings.Repeat("note ", 40)), Author: "ana"})
		revs[r.ID] = r.Rev()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen once so that the journal is emptied: what follows reads the database.
	s2, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, revs
}

// readBack opens the replica and reads every record and runs Verify. It returns
// the revs read, or the first error.
func readBack(dir string) (map[string]string, error) {
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	got := map[string]string{}
	if err := s.ForEach(ctx, func(r form.Record) error { got[r.ID] = r.Rev(); return nil }); err != nil {
		return nil, err
	}
	if _, err := s.List(ctx, 0, 1000); err != nil {
		return nil, err
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		return nil, fmt.Errorf("verify: %s", strings.Join(rep.Problems, "; "))
	}
	return got, nil
}

// checkDamaged requires either every record intact or a one-line error that says
// the database is damaged and names it: never a panic (which would end this test
// binary) and never a silent loss.
func checkDamaged(t *testing.T, name, dir string, want map[string]string) (refused bool) {
	t.Helper()
	got, err := readBack(dir)
	if err != nil {
		msg := err.Error()
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("%s: error on more than one line: %q", name, msg)
		}
		if !strings.HasPrefix(msg, "verify: ") && (!errors.Is(err, store.ErrCorrupt) || !strings.Contains(msg, store.DBFile) && !strings.Contains(msg, store.JournalFile)) {
			t.Errorf("%s: error does not say which file is damaged: %v", name, err)
		}
		return true
	}
	for id, rev := range want {
		if got[id] != rev {
			t.Errorf("%s: opened without error, but record %s has rev %q, want %q", name, id, got[id], rev)
		}
	}
	return false
}

func damagedCopy(t *testing.T, base string, damage func(db string)) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{store.DBFile, store.JournalFile} {
		sparseCopy(t, filepath.Join(base, name), filepath.Join(dir, name))
	}
	db := filepath.Join(dir, store.DBFile)
	// bbolt grows its file ahead of use: what lies past the high-water mark is free.
	if err := os.Truncate(db, highWater(t, db)*4096); err != nil {
		t.Fatal(err)
	}
	damage(db)
	return dir
}

func highWater(t *testing.T, db string) int64 {
	t.Helper()
	f, err := os.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [64]byte
	if _, err := f.ReadAt(b[:], 16+40); err != nil {
		t.Fatal(err)
	}
	pgid := int64(b[0]) | int64(b[1])<<8 | int64(b[2])<<16 | int64(b[3])<<24
	// meta 1 may be the newer one; the larger mark covers both.
	if _, err := f.ReadAt(b[:], 4096+16+40); err == nil {
		if p := int64(b[0]) | int64(b[1])<<8 | int64(b[2])<<16 | int64(b[3])<<24; p > pgid {
			pgid = p
		}
	}
	return pgid
}

func rewrite(t *testing.T, db string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func flipBit(t *testing.T, db string, off int64, bit uint) {
	t.Helper()
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, db, off, []byte{b[off] ^ 1<<bit})
}

// TestDamagedDatabaseCutOrZeroed cuts the database at many lengths and zeroes each of
// its pages: bbolt alone maps a cut file and faults (SIGBUS) on the first page past
// its end, and panics on a zeroed page.
func TestDamagedDatabaseCutOrZeroed(t *testing.T) {
	base, want := damageBase(t, 60)
	db := filepath.Join(base, store.DBFile)
	pages := highWater(t, db)
	if pages < 8 {
		t.Fatalf("only %d pages: the test needs branch pages", pages)
	}
	refused := 0
	for p := int64(0); p < pages; p++ {
		name := fmt.Sprintf("page %d zeroed", p)
		dir := damagedCopy(t, base, func(db string) { rewrite(t, db, p*4096, make([]byte, 4096)) })
		if checkDamaged(t, name, dir, want) {
			refused++
		}
	}
	for _, cut := range []int64{0, 100, 4096, 8192 + 17, 3 * 4096, pages * 4096 / 2, pages*4096 - 1} {
		name := fmt.Sprintf("cut to %d bytes", cut)
		dir := damagedCopy(t, base, func(db string) {
			if err := os.Truncate(db, cut); err != nil {
				t.Fatal(err)
			}
		})
		if checkDamaged(t, name, dir, want) {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no damage was refused")
	}
}

// TestDamagedDatabaseHeaderBits flips bits in every page's header (its id, kind,
// count and overflow), where bbolt panics or reads outside its mapping.
func TestDamagedDatabaseHeaderBits(t *testing.T) {
	base, want := damageBase(t, 60)
	pages := highWater(t, filepath.Join(base, store.DBFile))
	flips := []struct {
		off int64
		bit uint
	}{{0, 3}, {8, 0}, {8, 4}, {10, 2}, {11, 7}, {12, 1}, {14, 0}}
	for p := int64(2); p < pages; p++ {
		for i, fb := range flips {
			if (p+int64(i))%3 != 0 { // a third of the flips on each page
				continue
			}
			name := fmt.Sprintf("page %d, header byte %d bit %d", p, fb.off, fb.bit)
			dir := damagedCopy(t, base, func(db string) { flipBit(t, db, p*4096+fb.off, fb.bit) })
			checkDamaged(t, name, dir, want)
		}
	}
}

// TestDatabaseMissingBesideJournal: a replica whose database is gone or empty but
// whose journal is there is damaged, not new.
func TestDatabaseMissingBesideJournal(t *testing.T) {
	base, _ := damageBase(t, 3)
	for _, tc := range []struct {
		name   string
		damage func(db string)
	}{
		{"deleted", func(db string) { os.Remove(db) }},
		{"emptied", func(db string) { os.Truncate(db, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := damagedCopy(t, base, tc.damage)
			s, err := store.Open(context.Background(), dir, store.Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened as a new, empty replica")
			}
			if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), store.DBFile) {
				t.Fatalf("error %v: want ErrDamaged naming %s", err, store.DBFile)
			}
		})
	}
}

// sparseCopy copies a file, writing only its blocks that are not all zeros: the
// journal and the database are mostly space allocated ahead.
func sparseCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(to, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zero := make([]byte, 4096)
	for off := 0; off < len(b); off += 4096 {
		blk := b[off:min(off+4096, len(b))]
		if bytes.Equal(blk, zero[:len(blk)]) {
			continue
		}
		if _, err := f.WriteAt(blk, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		t.Fatal(err)
	}
}

// SalvageDB copies what a damaged database still holds into a new replica: all of
// it from a sound file, and from a file with zeroed pages everything else, naming
// what it lost.
func TestSalvageDB(t *testing.T) {
	ctx := context.Background()
	base, want := damageBase(t, 60)
	pages := highWater(t, filepath.Join(base, store.DBFile))
	for _, tc := range []struct {
		name   string
		damage func(db string)
	}{
		{"sound", func(string) {}},
		{"the root page zeroed", func(db string) { rewrite(t, db, rootPage(t, db)*4096, make([]byte, 4096)) }},
		{"a third of the pages zeroed", func(db string) {
			for p := int64(2); p < pages; p += 3 {
				rewrite(t, db, p*4096, make([]byte, 4096))
			}
		}},
		{"cut in half", func(db string) { os.Truncate(db, pages/2*4096) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := damagedCopy(t, base, tc.damage)
			into := t.TempDir()
			rep, err := store.SalvageDB(ctx, filepath.Join(dir, store.DBFile), into, store.Options{})
			if err != nil {
				t.Fatalf("salvage: %v", err)
			}
			s, err := store.Open(ctx, into, store.Options{})
			if err != nil {
				t.Fatalf("open the salvaged replica: %v", err)
			}
			defer s.Close()
			if rep.Device != "" && s.Device() != rep.Device || tc.name == "sound" && rep.Device != "dev-test" {
				t.Errorf("device %q (report %q), want dev-test", s.Device(), rep.Device)
			}
			got := 0
			err = s.ForEach(ctx, func(r form.Record) error {
				got++
				if want[r.ID] != r.Rev() {
					t.Errorf("salvaged record %s has rev %s, want %s", r.ID, r.Rev(), want[r.ID])
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != rep.Records {
				t.Errorf("the report says %d records, the replica holds %d", rep.Records, got)
			}
			if tc.name == "sound" {
				if got != len(want) || !rep.OK() || rep.Outbox != len(want) || rep.AuditEntries < len(want) {
					t.Fatalf("from a sound file: %d of %d records, report %+v", got, len(want), rep)
				}
				if v := mustVerify(t, s); !v.OK() {
					t.Fatalf("the salvaged replica does not verify: %v", v.Problems)
				}
				return
			}
			if rep.OK() {
				t.Fatalf("damage, yet nothing reported lost: %+v", rep)
			}
			if got < len(want)/2 && tc.name == "the root page zeroed" {
				t.Fatalf("nothing salvaged from a file with one page zeroed: %+v", rep)
			}
			t.Logf("%s: %d of %d records salvaged; lost: %d lines, the first: %s", tc.name, got, len(want), len(rep.Lost), rep.Lost[0])
		})
	}
}

// rootPage is the root bucket's page in the newer meta page.
func rootPage(t *testing.T, db string) int64 {
	t.Helper()
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	le := func(off int) uint64 {
		var v uint64
		for i := 7; i >= 0; i-- {
			v = v<<8 | uint64(b[off+i])
		}
		return v
	}
	meta := 16
	if le(4096+16+48) > le(16+48) {
		meta = 4096 + 16
	}
	return int64(le(meta + 16))
}

// Damage met while the replica is open (pages overwritten under it) is an error,
// and from then on the store writes nothing: a save fails rather than write into a
// damaged file.
func TestDamageFoundWhileOpenStopsWrites(t *testing.T) {
	ctx := context.Background()
	base, _ := damageBase(t, 60)
	db := filepath.Join(base, store.DBFile)
	pages, root := highWater(t, db), rootPage(t, db)
	s, err := store.Open(ctx, base, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	orig, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	orig = orig[:pages*4096]
	for p := int64(2); p < pages; p++ {
		if p != root {
			rewrite(t, db, p*4096, make([]byte, 4096))
		}
	}
	err = s.ForEach(ctx, func(form.Record) error { return nil })
	if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), store.DBFile) {
		t.Fatalf("reading zeroed pages: %v, want ErrDamaged naming the file", err)
	}
	if s.Damaged() == nil {
		t.Fatal("the store does not remember the damage")
	}
	// Even with the pages back as they were, nothing more is written.
	rewrite(t, db, 0, orig)
	if err := s.SetState(ctx, map[string][]byte{"k": []byte("v")}); !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("a write into a damaged replica: %v, want ErrDamaged", err)
	}
	_, err = s.Save(ctx, store.Edit{Template: inspection, Values: complete("S-99999", "Ana", "after"), Author: "ana"})
	if !errors.Is(err, store.ErrDamaged) {
		t.Fatalf("a save into a damaged replica: %v, want ErrDamaged", err)
	}
}

// A flipped bit in a record's metadata (its rev, here) is refused by a list instead
// of listed: the metadata carries a checksum.
func TestDamagedRecordMetadataRefused(t *testing.T) {
	ctx := context.Background()
	base, want := damageBase(t, 20)
	var id, rev string
	for id, rev = range want {
		break
	}
	raw, err := hex.DecodeString(rev)
	if err != nil {
		t.Fatal(err)
	}
	dir := damagedCopy(t, base, func(db string) {
		b, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		// Every copy (pages bbolt freed may hold earlier ones), so the live one is hit.
		n := 0
		for off := 0; ; n++ {
			i := bytes.Index(b[off:], raw)
			if i < 0 {
				break
			}
			rewrite(t, db, int64(off+i+3), []byte{b[off+i+3] ^ 0x10})
			off += i + len(raw)
		}
		if n == 0 {
			t.Fatalf("rev of %s not found in the file", id)
		}
	})
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.List(ctx, 0, 100)
	if err == nil {
		for _, it := range page.Items {
			if it.ID == id && it.Rev != rev {
				t.Fatalf("record %s listed at rev %s, saved at %s", id, it.Rev, rev)
			}
		}
		t.Fatalf("the damage went unseen: %d items", len(page.Items))
	}
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), store.DBFile) {
		t.Fatalf("list: %v, want ErrCorrupt naming the file", err)
	}
}

// A damaged byte inside a record's value: the record's bytes no longer hash to the
// rev its metadata holds, so reading it is refused rather than showing (or sending
// on) a value nobody saved.
func TestDamagedRecordValueRefused(t *testing.T) {
	ctx := context.Background()
	base, want := damageBase(t, 20)
	// The record that holds S-00007, as stored: its compressed value.
	var id string
	s0 := mustOpenDir(t, base)
	if err := s0.ForEach(ctx, func(r form.Record) error {
		if e := r.Encode(); bytes.Contains(e, []byte(`"S-00007"`)) {
			id = r.ID
		}
		return nil
	}); err != nil || id == "" {
		t.Fatalf("record S-00007: %v", err)
	}
	s0.Close()
	stored := storedValue(t, filepath.Join(base, store.DBFile), "records", id)
	dir := damagedCopy(t, base, func(db string) {
		b, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		// Every copy of it (pages bbolt freed may hold earlier ones), so the live
		// one is hit.
		at := len(stored) / 2
		n := 0
		for off := 0; ; {
			i := bytes.Index(b[off:], stored)
			if i < 0 {
				break
			}
			rewrite(t, db, int64(off+i+at), []byte{stored[at] ^ 0x20})
			off += i + len(stored)
			n++
		}
		if n == 0 {
			t.Fatal("the record's bytes are not in the file")
		}
	})
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refused := 0
	for id := range want {
		r, err := s.Get(ctx, id)
		switch {
		case err == nil && r.Rev() != want[id]:
			t.Errorf("record %s read at rev %s, saved at %s", id, r.Rev(), want[id])
		case err != nil && (!errors.Is(err, store.ErrCorrupt) || strings.ContainsAny(err.Error(), "\n\r") || !strings.Contains(err.Error(), id)):
			t.Errorf("get %s: %v, want one line naming the record, matching ErrCorrupt", id, err)
		case err != nil:
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d records refused, want the damaged one", refused)
	}
	if err := s.ForEach(ctx, func(form.Record) error { return nil }); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("for each: %v, want ErrCorrupt", err)
	}
}

// storedValue reads one value of a closed replica's database with bbolt directly.
func storedValue(t *testing.T, db, bucket, key string) []byte {
	t.Helper()
	bdb, err := bolt.Open(db, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v []byte
	if err := bdb.View(func(tx *bolt.Tx) error {
		v = append([]byte(nil), tx.Bucket([]byte(bucket)).Get([]byte(key))...)
		return nil
	}); err != nil || len(v) == 0 {
		t.Fatalf("%s %s: %v, %d bytes", bucket, key, err, len(v))
	}
	return v
}

// TestDamagedBranchCountWithZerosPast: a branch page whose element count is too
// large, in a file with zeros past its pages (bbolt grows files ahead of use, and on
// Windows to its whole memory map), is refused at open in one line. bbolt would
// read children from the zeros and descend until memory ran out, a fatal error.
func TestDamagedBranchCountWithZerosPast(t *testing.T) {
	base, want := damageBase(t, 300)
	db := filepath.Join(base, store.DBFile)
	pages := highWater(t, db)
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for p := int64(2); p < pages; p++ {
		// Every page marked as a branch; free ones (earlier versions) are harmless.
		if h := raw[p*4096:]; binary.LittleEndian.Uint64(h) != uint64(p) || binary.LittleEndian.Uint16(h[8:]) != 0x01 {
			continue
		}
		for _, bit := range []uint{7, 6} {
			name := fmt.Sprintf("branch page %d, count bit %d", p, 8+bit)
			dir := damagedCopy(t, base, func(db string) { flipBit(t, db, p*4096+11, bit) })
			if err := os.Truncate(filepath.Join(dir, store.DBFile), 64<<20); err != nil {
				t.Fatal(err)
			}
			if checkDamaged(t, name, dir, want) {
				refused++
			}
		}
	}
	if refused == 0 {
		t.Fatal("no branch page in use was damaged: the test checked nothing")
	}
}
