package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// crashedReplica is a replica as a crash leaves it, with the records of its saves
// by LSN (recs[0] is save #1) and where each frame of the journal lies.
type crashedReplica struct {
	db, journal []byte
	recs        []form.Record
	frames      map[uint64][2]int // LSN -> [start, end) in the journal
	applied     uint64
}

// Saves #1-#2 are made, the replica closed and opened again (its journal starts a
// new generation over the old frames, which stay in the file), saves #3-#4 applied,
// then saves #5-#8 journalled with the applier held, and the files copied: the
// database holds #1-#4, the journal #3-#8.
func buildCrashed(t *testing.T) crashedReplica {
	t.Helper()
	ctx := context.Background()
	base := t.TempDir()
	s := openReplica(t, base, "dev-jd", nil)
	var cr crashedReplica
	save := func(i int) {
		// Long notes for the first saves: the later, shorter frames end inside them.
		notes := fmt.Sprintf("journal damage record %d", i+1)
		if i < 2 {
			notes += strings.Repeat(" padding", 2000)
		}
		cr.recs = append(cr.recs, mustSave(t, s, store.Edit{Template: inspection, Author: "ana",
			Values: vals("site_code", fmt.Sprintf("S-%05d", i+1), "notes", notes)}))
	}
	save(0)
	save(1)
	s.Close()
	s = openReplica(t, base, "dev-jd", nil)
	save(2)
	save(3)
	if _, err := s.Count(ctx); err != nil { // waits for the applier
		t.Fatal(err)
	}
	release := store.HoldApplier()
	for i := 4; i < 8; i++ {
		save(i)
	}
	var err error
	if cr.db, err = os.ReadFile(filepath.Join(base, store.DBFile)); err != nil {
		t.Fatal(err)
	}
	if cr.journal, err = os.ReadFile(filepath.Join(base, store.JournalFile)); err != nil {
		t.Fatal(err)
	}
	release()
	s.Close()
	cr.applied = 4
	// The journal's frames, end to end from its 4096-byte header: #3 to #8.
	cr.frames = map[uint64][2]int{}
	off := 4096
	for lsn := uint64(3); lsn <= 8; lsn++ {
		n := 16 + int(binary.LittleEndian.Uint32(cr.journal[off:]))
		if !bytes.HasPrefix(cr.journal[off+16:], fmt.Appendf(nil, `{"lsn":%d,`, lsn)) {
			t.Fatalf("no frame of save #%d at byte %d", lsn, off)
		}
		cr.frames[lsn] = [2]int{off, off + n}
		off += n
	}
	return cr
}

func (cr crashedReplica) write(t *testing.T, journal []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, store.AttachmentsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, store.DBFile), cr.db, 0o600); err != nil {
		t.Fatal(err)
	}
	if journal != nil {
		if err := os.WriteFile(filepath.Join(dir, store.JournalFile), journal, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// expectSaves checks that exactly the records of the saves in want are in the replica.
func (cr crashedReplica) expectSaves(t *testing.T, dir string, want []uint64) {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	for i, r := range cr.recs {
		lsn := uint64(i + 1)
		got, err := s.Get(ctx, r.ID)
		switch {
		case slices.Contains(want, lsn) && err != nil:
			t.Errorf("save #%d lost: %v", lsn, err)
		case slices.Contains(want, lsn) && got.Rev() != r.Rev():
			t.Errorf("save #%d: rev %s, want %s", lsn, got.Rev(), r.Rev())
		case !slices.Contains(want, lsn) && !errors.Is(err, store.ErrNotFound):
			t.Errorf("save #%d is there, want it lost (%v)", lsn, err)
		}
	}
	if n, err := s.Count(ctx); err != nil || n != len(want) {
		t.Errorf("count %d %v, want %d", n, err, len(want))
	}
}

func lsns(from, to uint64) []uint64 {
	var out []uint64
	for l := from; l <= to; l++ {
		out = append(out, l)
	}
	return out
}

// TestJournalDamage: every way the journal can be damaged is told apart from a torn
// last write. Damage that may lose an acknowledged save is refused with one line
// saying what, where and how many saves are at stake, and changes nothing; Repair
// then recovers every valid frame and reports exactly the saves it could not.
func TestJournalDamage(t *testing.T) {
	ctx := context.Background()
	cr := buildCrashed(t)
	f := cr.frames
	clone := func() []byte { return slices.Clone(cr.journal) }
	zero := func(b []byte) {
		for i := range b {
			b[i] = 0
		}
	}
	cases := []struct {
		name   string
		damage func() []byte // the journal to write; nil: none
		// For a refused journal: what the one line says, the saves at stake, and
		// what Repair recovers and reports lost.
		want      []string
		atStake   int
		recovered []uint64
		lost      []store.LSNRange
		unknown   bool // saves after the last recovered one may be lost
		// For a journal that opens: the saves present.
		opens []uint64
	}{
		{name: "Missing", damage: func() []byte { return nil },
			want:    []string{"journal.log is missing and the replica was not closed cleanly", "saves after #4 are at stake (how many is unknown)"},
			unknown: true},
		{name: "TruncatedToZero", damage: func() []byte { return []byte{} },
			want:    []string{"is empty (cut to 0 bytes)", "saves after #4 are at stake"},
			unknown: true},
		{name: "TruncatedAtFrameBoundary", damage: func() []byte { return clone()[:f[6][1]] },
			want:    []string{fmt.Sprintf("at byte %d: the file ends right after a frame", f[6][1]), "2 saves at stake (#5-#6), and any saved after #6"},
			atStake: 2, recovered: lsns(5, 6), unknown: true},
		{name: "TruncatedInsideFrame", damage: func() []byte { return clone()[:f[7][0]+40] },
			want:    []string{fmt.Sprintf("at byte %d: the frame at byte %d runs", f[7][0], f[7][0]), "cut short", "2 saves at stake (#5-#6), and any saved after #6"},
			atStake: 2, recovered: lsns(5, 6), unknown: true},
		{name: "TruncatedInsideHeader", damage: func() []byte { return clone()[:f[8][0]+7] },
			want:    []string{fmt.Sprintf("at byte %d: the file ends 7 bytes after the last frame", f[8][0]), "cut short", "3 saves at stake (#5-#7)"},
			atStake: 3, recovered: lsns(5, 7), unknown: true},
		{name: "ZeroedHeaderWithFramesAfter", damage: func() []byte { j := clone(); zero(j[f[6][0] : f[6][0]+16]); return j },
			want:    []string{fmt.Sprintf("at byte %d: zeroed frame header, with valid frames after it (the next at byte %d)", f[6][0], f[7][0]), "4 saves at stake (#5-#8), 1 of them unreadable (#6)"},
			atStake: 4, recovered: []uint64{5, 7, 8}, lost: []store.LSNRange{{First: 6, Last: 6}}},
		{name: "CorruptPayloadWithFramesAfter", damage: func() []byte { j := clone(); j[f[5][0]+40] ^= 0x20; return j },
			want:    []string{fmt.Sprintf("at byte %d: corrupt frame (checksum mismatch), with valid frames after it", f[5][0]), "4 saves at stake (#5-#8), 1 of them unreadable (#5)"},
			atStake: 4, recovered: lsns(6, 8), lost: []store.LSNRange{{First: 5, Last: 5}}},
		{name: "ZeroedFramesWithFramesAfter", damage: func() []byte { j := clone(); zero(j[f[5][0]:f[7][1]]); return j },
			want:    []string{fmt.Sprintf("at byte %d: zeroed frame header, with valid frames after it (the next at byte %d)", f[5][0], f[8][0]), "4 saves at stake (#5-#8), 3 of them unreadable (#5-#7)"},
			atStake: 4, recovered: []uint64{8}, lost: []store.LSNRange{{First: 5, Last: 7}}},
		{name: "SequenceDoesNotFollow", damage: func() []byte {
			// Save #6's frame taken out, the frames after it moved up.
			j := clone()
			rest := slices.Clone(j[f[7][0]:f[8][1]])
			copy(j[f[6][0]:], rest)
			zero(j[f[6][0]+len(rest) : f[8][1]])
			return j
		},
			want:    []string{fmt.Sprintf("at byte %d: save #7 follows save #5 (the sequence does not follow)", f[6][0]), "4 saves at stake (#5-#8), 1 of them unreadable (#6)"},
			atStake: 4, recovered: []uint64{5, 7, 8}, lost: []store.LSNRange{{First: 6, Last: 6}}},
		{name: "BeginsTooLate", damage: func() []byte {
			// The frames of #3-#5 gone from the start, the rest moved up.
			j := clone()
			rest := slices.Clone(j[f[6][0]:f[8][1]])
			copy(j[f[3][0]:], rest)
			zero(j[f[3][0]+len(rest) : f[8][1]])
			return j
		},
			want:    []string{fmt.Sprintf("at byte %d: the journal begins at save #6 but the database holds saves only up to #4", f[3][0]), "4 saves at stake (#5-#8), 1 of them unreadable (#5)"},
			atStake: 4, recovered: lsns(6, 8), lost: []store.LSNRange{{First: 5, Last: 5}}},
		{name: "UnreadableHeader", damage: func() []byte { j := clone(); j[5] ^= 0xff; return j },
			want:    []string{"journal.log at byte 0: unreadable header", "4 saves at stake (#5-#8), and any saved after #8"},
			atStake: 4, recovered: lsns(5, 8), unknown: true},

		// What loses no acknowledged save opens.
		{name: "OK_Crash", damage: clone, opens: lsns(1, 8)},
		{name: "OK_TornLastFrame", damage: func() []byte { j := clone(); zero(j[(f[8][0]+f[8][1])/2 : f[8][1]]); return j }, opens: lsns(1, 7)},
		{name: "OK_TornLastFrameHeader", damage: func() []byte { j := clone(); zero(j[f[8][0] : f[8][0]+16]); return j }, opens: lsns(1, 7)},
		{name: "OK_DamageInAppliedFrames", damage: func() []byte { j := clone(); j[f[4][0]+40] ^= 0x20; zero(j[f[3][0] : f[3][0]+16]); return j }, opens: lsns(1, 8)},
		{name: "OK_OldGenerationLeftovers", damage: func() []byte {
			// The file as the crash left it past the last frame: leftovers of the
			// first generation, which the frames of #3-#8 only partly overwrote.
			j := clone()
			if !bytes.Contains(j[f[8][1]:], []byte(`{"lsn":`)) {
				t.Fatal("no leftovers of the first generation after the last frame")
			}
			return j
		}, opens: lsns(1, 8)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := c.damage()
			dir := cr.write(t, j)
			jpath := filepath.Join(dir, store.JournalFile)
			s, err := store.Open(ctx, dir, store.Options{})
			if c.opens != nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				s.Close()
				cr.expectSaves(t, dir, c.opens)
				rep, err := store.Repair(ctx, dir, store.RepairOptions{})
				if err != nil || rep.Repaired {
					t.Fatalf("repair of a sound replica: %+v %v", rep, err)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("a damaged journal opened")
			}
			if !errors.Is(err, store.ErrJournalDamaged) || !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("error %v is not ErrJournalDamaged and ErrCorrupt", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, jpath) || !strings.HasSuffix(msg, "run 'fieldforms repair'") {
				t.Errorf("refusal %q: want one line naming %s and ending with the advice to repair", msg, jpath)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("refusal %q does not say %q", msg, w)
				}
			}
			var jd *store.JournalDamage
			if !errors.As(err, &jd) || jd.AtStake() != c.atStake || jd.Unknown != c.unknown {
				t.Errorf("damage %+v: want %d saves at stake, unknown %v", jd, c.atStake, c.unknown)
			}
			// The refused journal and the database are as they were.
			if got, _ := os.ReadFile(jpath); !bytes.Equal(got, j) {
				t.Error("a refused open changed the journal")
			}
			if got, _ := os.ReadFile(filepath.Join(dir, store.DBFile)); !bytes.Equal(got, cr.db) {
				t.Error("a refused open changed the database")
			}
			if _, err := store.Open(ctx, dir, store.Options{}); !errors.Is(err, store.ErrJournalDamaged) {
				t.Fatalf("second open: %v", err)
			}

			now := time.Date(2026, 12, 3, 14, 5, 6, 0, time.UTC)
			rep, err := store.Repair(ctx, dir, store.RepairOptions{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("repair: %v", err)
			}
			var got []uint64
			for _, r := range rep.Recovered {
				got = append(got, lsns(r.First, r.Last)...)
			}
			if !rep.Repaired || !slices.Equal(got, c.recovered) || rep.RecoveredSaves != len(c.recovered) || rep.Applied != cr.applied {
				t.Errorf("report %+v: want saves %v recovered after #%d", rep, c.recovered, cr.applied)
			}
			var lost []store.LSNRange
			for _, l := range rep.Lost {
				lost = append(lost, l.LSNRange)
				// The records of the recovered saves around the gap are named.
				if slices.Contains(c.recovered, l.First-1) && !slices.Equal(l.RecordsBefore, []string{cr.recs[l.First-2].ID}) ||
					slices.Contains(c.recovered, l.Last+1) && !slices.Equal(l.RecordsAfter, []string{cr.recs[l.Last].ID}) {
					t.Errorf("lost %+v: records around it not named", l)
				}
			}
			if !slices.Equal(lost, c.lost) {
				t.Errorf("lost %v, want %v", lost, c.lost)
			}
			if (rep.LostUnknownAfter != nil) != c.unknown {
				t.Errorf("lost after unknown: %v, want %v", rep.LostUnknownAfter, c.unknown)
			}
			if !rep.ReconcileDue || rep.JournalDamage == "" {
				t.Errorf("report %+v: want the damage and a reconcile due", rep)
			}
			if j != nil {
				kept := jpath + store.DamagedSuffix + "20261203T140506Z"
				if rep.JournalKept != kept {
					t.Errorf("journal kept as %q, want %q", rep.JournalKept, kept)
				}
				if b, _ := os.ReadFile(kept); !bytes.Equal(b, j) {
					t.Error("the damaged journal was not kept as it was")
				}
			}
			cr.expectSaves(t, dir, append(lsns(1, cr.applied), c.recovered...))
			db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.View(func(tx *bolt.Tx) error {
				if v := tx.Bucket([]byte("state")).Get([]byte(store.KeyReconcileDue)); string(v) != "1" {
					t.Errorf("reconcile due: %q", v)
				}
				return nil
			})
		})
	}
}

// TestJournalDamageCleanReplica: a replica closed cleanly holds every save in its
// database, so a missing or damaged journal loses nothing: it opens, with a new
// journal.
func TestJournalDamageCleanReplica(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	s := openReplica(t, base, "dev-clean", nil)
	var ids []string
	for i := range 3 {
		ids = append(ids, mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", fmt.Sprintf("clean %d", i))}).ID)
	}
	s.Close()
	jpath := filepath.Join(base, store.JournalFile)
	full, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		journal []byte
	}{
		{"Missing", nil},
		{"Empty", []byte{}},
		{"Cut", full[:4096+30]},
		{"Garbage", bytes.Repeat([]byte{0xAB}, 9000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyReplica(t, base, dir)
			p := filepath.Join(dir, store.JournalFile)
			if c.journal == nil {
				os.Remove(p)
			} else if err := os.WriteFile(p, c.journal, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := store.Open(ctx, dir, store.Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			for _, id := range ids {
				if _, err := s.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			kept, _ := filepath.Glob(p + store.DamagedSuffix + "*")
			if n := s.JournalNotice(); c.journal != nil && (!strings.Contains(n, "no save was at stake") || len(kept) != 1) {
				t.Errorf("notice %q, kept %v", n, kept)
			}
			r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after")})
			s.Close()
			// The new journal carries on.
			s = openReplica(t, dir, "", nil)
			mustGet(t, s, r.ID)
		})
	}
}

// TestJournalDamageOlderDatabase: a database older than its journal (put back from a
// copy) is refused even though it was closed cleanly: the journal holds saves it
// lacks, and one between them is nowhere.
func TestJournalDamageOlderDatabase(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	var recs []form.Record
	var oldDB []byte
	for i := range 4 {
		s := openReplica(t, base, "dev-old", nil)
		recs = append(recs, mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", fmt.Sprintf("older %d", i))}))
		s.Close()
		if i == 1 {
			b, err := os.ReadFile(filepath.Join(base, store.DBFile))
			if err != nil {
				t.Fatal(err)
			}
			oldDB = b
		}
	}
	if err := os.WriteFile(filepath.Join(base, store.DBFile), oldDB, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := store.Open(ctx, base, store.Options{})
	if !errors.Is(err, store.ErrJournalDamaged) || !strings.Contains(err.Error(), "the journal begins at save #4 but the database holds saves only up to #2") ||
		!strings.Contains(err.Error(), "2 saves at stake (#3-#4), 1 of them unreadable (#3)") {
		t.Fatalf("open: %v", err)
	}
	rep, err := store.Repair(ctx, base, store.RepairOptions{})
	if err != nil || rep.RecoveredSaves != 1 || len(rep.Lost) != 1 || rep.Lost[0].LSNRange != (store.LSNRange{First: 3, Last: 3}) ||
		!slices.Equal(rep.Lost[0].RecordsAfter, []string{recs[3].ID}) {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	s := openReplica(t, base, "", nil)
	for i, r := range recs {
		if _, err := s.Get(ctx, r.ID); (err == nil) != (i != 2) {
			t.Errorf("record %d: %v", i, err)
		}
	}
}

// TestRepairDamagedDatabase: a replica.db that cannot be read is replaced by the
// newest snapshot, and the journal's saves after the snapshot are applied to it.
func TestRepairDamagedDatabase(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	s := openReplica(t, base, "dev-db", nil)
	var recs []form.Record
	save := func(i int) {
		recs = append(recs, mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", fmt.Sprintf("db damage %d", i))}))
	}
	save(0)
	save(1)
	if _, err := s.Snapshot(ctx, store.SnapshotDir(base), time.Now()); err != nil {
		t.Fatal(err)
	}
	release := store.HoldApplier()
	save(2)
	save(3)
	dir := t.TempDir()
	copyReplica(t, base, dir)
	release()
	s.Close()

	// Damage the database's pages.
	dbPath := filepath.Join(dir, store.DBFile)
	data, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i+64 < len(data); i += 4096 {
		copy(data[i:i+64], bytes.Repeat([]byte{0xAB}, 64))
	}
	if err := os.WriteFile(dbPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Repair(ctx, dir, store.RepairOptions{})
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	// Nothing is readable past the meta pages: the salvage holds no save, the
	// snapshot is merged in and every frame of the journal is replayed.
	if !rep.Repaired || rep.DatabaseDamage == "" || rep.Database == nil || rep.Database.Snapshot == "" ||
		rep.RecoveredSaves != 4 || len(rep.Lost) != 0 || rep.LostUnknownAfter != nil || rep.JournalKept == "" {
		t.Fatalf("report %+v", rep)
	}
	if b, err := os.ReadFile(rep.Database.Kept); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the damaged database was not kept: %v", err)
	}
	s = openReplica(t, dir, "", nil)
	for i, r := range recs {
		if got := mustGet(t, s, r.ID); got.Rev() != r.Rev() {
			t.Errorf("record %d: rev %s, want %s", i, got.Rev(), r.Rev())
		}
	}

	// With nothing readable (both meta pages damaged too) and no snapshot, the one
	// line says so and the journal stays kept.
	os.RemoveAll(store.SnapshotDir(base))
	s2 := openReplica(t, base, "", nil)
	s2.Close()
	copy(data[0:64], bytes.Repeat([]byte{0xAB}, 64))
	copy(data[4096:4096+64], bytes.Repeat([]byte{0xAB}, 64))
	if err := os.WriteFile(filepath.Join(base, store.DBFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.Repair(ctx, base, store.RepairOptions{})
	if err == nil || !strings.Contains(err.Error(), "there is no snapshot to restore") {
		t.Fatalf("repair without a snapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, store.JournalFile)); err != nil {
		t.Fatalf("the journal is not back in place after a failed repair: %v", err)
	}
}
