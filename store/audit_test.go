package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

func auditKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// sealAudit computes an entry's hash the way the store does: SHA-256 of its JSON
// with an empty hash and no rev. A forger who knows the scheme can do the same.
func sealAudit(e store.AuditEntry) string {
	e.Hash, e.Rev = "", ""
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// editDB runs fn on the closed replica's database file, as a tamperer with bbolt would.
func editDB(t *testing.T, dir string, fn func(b *bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		if b == nil {
			return errors.New("no audit bucket")
		}
		return fn(b)
	}); err != nil {
		t.Fatal(err)
	}
}

// legacyTrail rewrites a closed replica's trail as the previous release wrote it:
// the entries given (as Audit returns them, new values resolved), one per number,
// as JSON chained by hash, without the audit tree.
func legacyTrail(t *testing.T, dir string, entries []store.AuditEntry) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		prev := ""
		for _, e := range entries {
			e.Rev, e.Prev = "", prev
			e.Hash = sealAudit(e)
			prev = e.Hash
			if err := putEntry(b, e); err != nil {
				return err
			}
		}
		return errors.Join(tx.DeleteBucket([]byte("audittree")), tx.Bucket([]byte("meta")).Delete([]byte("audittree_size")))
	}); err != nil {
		t.Fatal(err)
	}
}

func getEntry(b *bolt.Bucket, seq uint64) (store.AuditEntry, error) {
	var e store.AuditEntry
	v := b.Get(auditKey(seq))
	if v == nil {
		return e, errors.New("no such entry")
	}
	return e, json.Unmarshal(v, &e)
}

func putEntry(b *bolt.Bucket, e store.AuditEntry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(auditKey(e.Seq), v)
}

// TestAuditTamper: altering, dropping or replacing an audit entry in the database file
// is caught by VerifyAudit, which names the entry and what happened to it (I6).
func TestAuditTamper(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	// One replica with a known trail, copied for each case.
	base := t.TempDir()
	s := openReplica(t, base, "dev-audit", clk)
	var ids []string
	for i := 0; i < 4; i++ {
		clk.Advance(time.Minute)
		r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "entry "+string(rune('a'+i)))})
		ids = append(ids, r.ID)
	}
	clk.Advance(time.Minute)
	mustSave(t, s, store.Edit{Record: ids[0], Author: "bo", Values: vals("pressure", 9)})
	if _, err := s.Delete(ctx, "bo", ids[1]); err != nil {
		t.Fatal(err)
	}
	// Entries applied from another replica are chained the same way.
	other := openReplica(t, t.TempDir(), "dev-other", clk)
	clk.Advance(time.Minute)
	mustSave(t, other, store.Edit{Template: inspection, Author: "cy", Values: vals("notes", "remote")})
	mustApplyChanges(t, s, pendingChanges(t, other))
	const total = 7
	n, err := s.VerifyAudit(ctx)
	if err != nil || n != total {
		t.Fatalf("VerifyAudit: %d %v, want %d nil", n, err, total)
	}
	all, err := s.Audit(ctx, 0, 0)
	if err != nil || len(all) != total {
		t.Fatalf("Audit: %d %v", len(all), err)
	}
	s.Close()
	// The trail as the previous release wrote it: JSON entries with full copies,
	// chained by hash, and no tree (the open below builds it).
	legacyTrail(t, base, all)
	s = openReplica(t, base, "dev-audit", clk)
	all, err = s.Audit(ctx, 0, 0)
	if err != nil || len(all) != total {
		t.Fatalf("Audit: %d %v", len(all), err)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.Hash != sealAudit(e) || i > 0 && e.Prev != all[i-1].Hash || i == 0 && e.Prev != "" {
			t.Fatalf("entry %d not chained as documented: %+v", i, e)
		}
	}
	if page, _ := s.Audit(ctx, 2, 3); len(page) != 3 || page[0].Seq != 3 || page[2].Seq != 5 {
		t.Fatalf("Audit(2, 3): %+v", page)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != total {
		t.Fatalf("VerifyAudit of the previous release's trail: %d %v", n, err)
	}
	s.Close()

	cases := []struct {
		name   string
		tamper func(b *bolt.Bucket) error
		seq    uint64
		what   string
	}{
		{name: "ErrAltered_Content", seq: 3, what: "altered", tamper: func(b *bolt.Bucket) error {
			e, err := getEntry(b, 3)
			if err != nil {
				return err
			}
			e.Actor = "mallory"
			return putEntry(b, e)
		}},
		{name: "ErrAltered_Diff", seq: 5, what: "altered", tamper: func(b *bolt.Bucket) error {
			e, err := getEntry(b, 5)
			if err != nil {
				return err
			}
			e.Diff[0].New = json.RawMessage("1")
			return putEntry(b, e)
		}},
		{name: "ErrAltered_RawBytes", seq: 2, what: "altered", tamper: func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get(auditKey(2))...)
			i := strings.Index(string(v), `"ana"`)
			copy(v[i:], `"eve"`)
			return b.Put(auditKey(2), v)
		}},
		{name: "ErrAltered_Renumbered", seq: 4, what: "altered", tamper: func(b *bolt.Bucket) error {
			e, err := getEntry(b, 4)
			if err != nil {
				return err
			}
			e.Seq = 40
			e.Hash = sealAudit(e)
			v, _ := json.Marshal(e)
			return b.Put(auditKey(4), v)
		}},
		{name: "ErrUnreadable", seq: 6, what: "unreadable", tamper: func(b *bolt.Bucket) error {
			return b.Put(auditKey(6), []byte("{not json"))
		}},
		{name: "ErrMissing_Middle", seq: 4, what: "missing", tamper: func(b *bolt.Bucket) error {
			return b.Delete(auditKey(4))
		}},
		{name: "ErrMissing_First", seq: 1, what: "missing", tamper: func(b *bolt.Bucket) error {
			return b.Delete(auditKey(1))
		}},
		{name: "ErrMissing_Several", seq: 3, what: "missing", tamper: func(b *bolt.Bucket) error {
			return errors.Join(b.Delete(auditKey(3)), b.Delete(auditKey(4)), b.Delete(auditKey(5)))
		}},
		{name: "ErrInserted_WrongPrev", seq: 4, what: "inserted", tamper: func(b *bolt.Bucket) error {
			e, err := getEntry(b, 4)
			if err != nil {
				return err
			}
			e.Actor = "mallory"
			e.Prev = strings.Repeat("0", 64)
			e.Hash = sealAudit(e)
			return putEntry(b, e)
		}},
		{name: "ErrInserted_FirstWithPrev", seq: 1, what: "inserted", tamper: func(b *bolt.Bucket) error {
			e, err := getEntry(b, 1)
			if err != nil {
				return err
			}
			e.Prev = strings.Repeat("1", 64)
			e.Hash = sealAudit(e)
			return putEntry(b, e)
		}},
		{name: "ErrAltered_ResealedRightPrev", seq: 3, what: "altered", tamper: func(b *bolt.Bucket) error {
			// Entry 3 rewritten and re-sealed on its true predecessor: it is consistent
			// by itself and the next entry no longer follows it, but its leaf in the
			// audit tree names it.
			e, err := getEntry(b, 3)
			if err != nil {
				return err
			}
			e.Actor = "mallory"
			e.Hash = sealAudit(e)
			return putEntry(b, e)
		}},
		{name: "ErrInserted_Shifted", seq: 3, what: "inserted", tamper: func(b *bolt.Bucket) error {
			// Drop entry 3 and move the rest down, re-sealing each with its new number
			// but keeping the original chain links.
			for seq := uint64(3); seq < total; seq++ {
				e, err := getEntry(b, seq+1)
				if err != nil {
					return err
				}
				e.Seq = seq
				e.Hash = sealAudit(e)
				if err := putEntry(b, e); err != nil {
					return err
				}
			}
			return b.Delete(auditKey(total))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			copyReplica(t, base, dir)
			editDB(t, dir, c.tamper)
			s := openReplica(t, dir, "dev-audit", clk)
			_, err := s.VerifyAudit(ctx)
			var p *store.AuditProblem
			if !errors.As(err, &p) {
				t.Fatalf("VerifyAudit: %v, want an *AuditProblem", err)
			}
			if p.Seq != c.seq || p.What != c.what {
				t.Fatalf("problem %+v, want %s at %d", p, c.what, c.seq)
			}
			if !strings.Contains(err.Error(), c.what) || p.Msg == "" {
				t.Fatalf("message %q", err)
			}
			rep, err := s.Verify(ctx)
			if err != nil || rep.OK() {
				t.Fatalf("Verify does not report the broken chain: %+v %v", rep, err)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		copyReplica(t, base, dir)
		// An untouched copy, read and rewritten byte for byte, verifies.
		editDB(t, dir, func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get(auditKey(3))...)
			return b.Put(auditKey(3), v)
		})
		s := openReplica(t, dir, "dev-audit", clk)
		n, err := s.VerifyAudit(ctx)
		if err != nil || n != total {
			t.Fatalf("VerifyAudit %d %v, want %d nil", n, err, total)
		}
		// The chain continues across a reopen.
		clk.Advance(time.Minute)
		mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after reopen")})
		if n, err := s.VerifyAudit(ctx); err != nil || n != total+1 {
			t.Fatalf("VerifyAudit after a save %d %v", n, err)
		}
		if rep := mustVerify(t, s); rep.AuditEntries != total+1 || rep.Records != 6 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("OK_Empty", func(t *testing.T) {
		s := openReplica(t, t.TempDir(), "dev-empty", nil)
		if n, err := s.VerifyAudit(ctx); err != nil || n != 0 {
			t.Fatalf("%d %v", n, err)
		}
	})
}

// TestHistoryByReference: entries keep a change's old values and take the new ones
// from the next change or the record; History reads the same over entries of the
// previous release (full copies) followed by entries by reference and a batch, and
// after a purge the changes before the last keep their values.
func TestHistoryByReference(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	dir := t.TempDir()
	s := openReplica(t, dir, "dev-ref", clk)
	clk.Advance(time.Minute)
	r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "a")})
	clk.Advance(time.Minute)
	mustSave(t, s, store.Edit{Record: r.ID, Author: "ana", Values: vals("notes", "b")})
	old, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	legacyTrail(t, dir, old)
	s = openReplica(t, dir, "dev-ref", clk)
	clk.Advance(time.Minute)
	mustSave(t, s, store.Edit{Record: r.ID, Author: "bo", Values: vals("notes", "c", "pressure", 2)})
	// Another replica edits it and makes a record: one pull, one entry.
	other := openReplica(t, t.TempDir(), "dev-ref2", clk)
	mustApplyChanges(t, other, pendingChanges(t, s))
	clk.Advance(time.Minute)
	mustSave(t, other, store.Edit{Record: r.ID, Author: "cy", Values: vals("notes", "d")})
	mustSave(t, other, store.Edit{Template: inspection, Author: "cy", Values: vals("notes", "other")})
	recs, _, err := other.Feed(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyRecords(ctx, recs, "sync"); err != nil {
		t.Fatal(err)
	}
	want := []struct{ old, new string }{{"", `"a"`}, {`"a"`, `"b"`}, {`"b"`, `"c"`}, {`"c"`, `"d"`}}
	check := func(h []store.AuditEntry, last string) {
		t.Helper()
		if len(h) != len(want) {
			t.Fatalf("%d entries: %+v", len(h), h)
		}
		for i, w := range want {
			d, ok := diffOf(h[i], "notes")
			if i == len(want)-1 {
				w.new = last
			}
			if !ok || string(d.Old) != w.old || string(d.New) != w.new {
				t.Fatalf("entry %d (%s): notes %s → %s, want %s → %s", i, h[i].Action, d.Old, d.New, w.old, w.new)
			}
		}
		// pressure changed last in entry 3: its value now is its new value, gone
		// with a purge.
		pressure := map[string]string{`"d"`: "2", "": ""}[last]
		if d, ok := diffOf(h[2], "pressure"); !ok || d.Old != nil || string(d.New) != pressure || h[2].Actor != "bo" {
			t.Fatalf("entry 2: %+v", h[2])
		}
	}
	h := mustHistory(t, s, r.ID)
	check(h, `"d"`)
	if h[0].Hash == "" || h[2].Hash != "" || h[3].Actor != "sync" {
		t.Fatalf("entries: %+v", h)
	}
	all, err := s.Audit(ctx, 0, 0)
	if err != nil || len(all) != 5 || all[3].Seq != all[4].Seq {
		t.Fatalf("Audit: %d items %v", len(all), err)
	}
	// A page holds whole entries: the pull's two records come together.
	if page, err := s.Audit(ctx, 3, 1); err != nil || len(page) != 2 || page[0].Seq != 4 || page[1].Seq != 4 {
		t.Fatalf("Audit(3, 1): %+v %v", page, err)
	}
	if d, _ := diffOf(all[3], "notes"); all[3].Record == r.ID && string(d.New) != `"d"` {
		t.Fatalf("Audit resolves new values differently: %+v", all[3])
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 4 {
		t.Fatalf("VerifyAudit %d %v", n, err)
	}
	if _, err := s.Purge(ctx, []string{r.ID}, "admin", "dev-ref", "asked"); err != nil {
		t.Fatal(err)
	}
	h = mustHistory(t, s, r.ID)
	if len(h) != 5 || h[4].Action != store.ActionPurge {
		t.Fatalf("history after purge: %+v", h)
	}
	check(h[:4], "")
	if n, err := s.VerifyAudit(ctx); err != nil || n != 5 {
		t.Fatalf("VerifyAudit after a purge %d %v", n, err)
	}
}
