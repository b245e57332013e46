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
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.Hash != sealAudit(e) || i > 0 && e.Prev != all[i-1].Hash || i == 0 && e.Prev != "" {
			t.Fatalf("entry %d not chained as documented: %+v", i, e)
		}
	}
	if page, _ := s.Audit(ctx, 2, 3); len(page) != 3 || page[0].Seq != 3 || page[2].Seq != 5 {
		t.Fatalf("Audit(2, 3): %+v", page)
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
