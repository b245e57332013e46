package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// openSigned opens the replica in dir with a device key and checkpoints under keys.
func openSigned(tb testing.TB, dir, keys, device string, clk *fakeClock) *store.Store {
	tb.Helper()
	opts := store.Options{Device: device, Checkpoint: store.KeyDir{Dir: keys}}
	if clk != nil {
		opts.Now = clk.Now
	}
	s, err := store.Open(context.Background(), dir, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.PutTemplate(context.Background(), mustTemplate(tb)); err != nil {
		tb.Fatalf("put template: %v", err)
	}
	return s
}

// copyTree copies a folder's files.
func copyTree(tb testing.TB, from, to string) {
	tb.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// rawUpdate runs fn on a closed replica's database, as a tamperer with bbolt would.
func rawUpdate(tb testing.TB, dir string, fn func(tx *bolt.Tx) error) {
	tb.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		tb.Fatal(err)
	}
}

// reencode rewrites entries from..last as a tamperer who knows the format: each is
// decoded, changed and encoded again.
func reencode(tx *bolt.Tx, from uint64, change func(*store.AuditEntry)) error {
	b := tx.Bucket([]byte("audit"))
	var entries []store.AuditEntry
	c := b.Cursor()
	for k, v := c.Seek(auditKey(from)); k != nil; k, v = c.Next() {
		e, err := store.AuditDecode(v)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		change(&e)
		if err := b.Put(auditKey(e.Seq), store.AuditEncode(e)); err != nil {
			return err
		}
	}
	return nil
}

// dropTree removes the audit tree, which the next open rebuilds from the entries.
func dropTree(tx *bolt.Tx) error {
	return errors.Join(tx.DeleteBucket([]byte("audittree")), tx.Bucket([]byte("meta")).Delete([]byte("audittree_size")))
}

// TestAuditTamperEvident: each way of tampering with a replica's audit trail, even
// with the format, the chain and the tree recomputed, is caught by VerifyAudit and
// Verify, which name it; after a cut, numbers are not reused (I6).
func TestAuditTamperEvident(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	base, keys := t.TempDir(), t.TempDir()
	s := openSigned(t, base, keys, "dev-tamper", clk)
	var ids []string
	save := func(notes string) {
		clk.Advance(time.Minute)
		ids = append(ids, mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", notes)}).ID)
	}
	save("one")
	save("two")
	save("three")
	s.Close()
	// An older copy of the replica, as a backup of it holds.
	older := t.TempDir()
	copyReplica(t, base, older)
	s = openSigned(t, base, keys, "dev-tamper", clk)
	save("four")
	clk.Advance(time.Minute)
	mustSave(t, s, store.Edit{Record: ids[0], Author: "bo", Values: vals("pressure", 7)})
	other := openSigned(t, t.TempDir(), t.TempDir(), "dev-other", clk)
	clk.Advance(time.Minute)
	mustSave(t, other, store.Edit{Template: inspection, Author: "cy", Values: vals("notes", "remote")})
	mustSave(t, other, store.Edit{Template: inspection, Author: "cy", Values: vals("notes", "remote 2")})
	mustApplyChanges(t, s, pendingChanges(t, other))
	const total = 6 // the two applied changes are one entry
	if n, err := s.VerifyAudit(ctx); err != nil || n != total {
		t.Fatalf("VerifyAudit: %d %v, want %d nil", n, err, total)
	}
	s.Close()
	other.Close()
	otherCheckpoint := func() []byte {
		var cp []byte
		db, err := bolt.Open(filepath.Join(other.Dir(), store.DBFile), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		_ = db.View(func(tx *bolt.Tx) error {
			cp = append([]byte(nil), tx.Bucket([]byte("meta")).Get([]byte("checkpoint"))...)
			return nil
		})
		if len(cp) == 0 {
			t.Fatal("the other replica signed no checkpoint")
		}
		return cp
	}()

	cases := []struct {
		name string
		// tamper changes the copy in dir; keysDir holds the copy of the keys.
		tamper func(t *testing.T, dir, keysDir string)
		want   string // the start of the problem's line
		seq    uint64
	}{
		{name: "ChangeEntry", want: "audit entry 2 altered: its bytes do not hash to its leaf", seq: 2, tamper: func(t *testing.T, dir, _ string) {
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				return reencode(tx, 2, func(e *store.AuditEntry) {
					if e.Seq == 2 {
						e.Actor = "eve"
					}
				})
			})
		}},
		{name: "DeleteEntry", want: "audit entry 4 missing", seq: 4, tamper: func(t *testing.T, dir, _ string) {
			rawUpdate(t, dir, func(tx *bolt.Tx) error { return tx.Bucket([]byte("audit")).Delete(auditKey(4)) })
		}},
		{name: "CutTail", want: "audit cut: the trail ends at entry 4 but its tree holds 6", seq: 5, tamper: func(t *testing.T, dir, _ string) {
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("audit"))
				return errors.Join(b.Delete(auditKey(5)), b.Delete(auditKey(6)))
			})
		}},
		{name: "CutTailAndTree", want: "audit cut: the trail ends at entry 4 but the checkpoint kept apart is signed at 6", seq: 5, tamper: func(t *testing.T, dir, _ string) {
			// The tree rebuilt over what is left and the replica's checkpoint gone: only
			// the checkpoint kept apart knows.
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("audit"))
				return errors.Join(b.Delete(auditKey(5)), b.Delete(auditKey(6)), dropTree(tx),
					tx.Bucket([]byte("meta")).Delete([]byte("checkpoint")))
			})
		}},
		{name: "RewriteRecomputed", want: "audit rewritten: the trail's first 6 entries are not those the replica's checkpoint signs", seq: 1, tamper: func(t *testing.T, dir, _ string) {
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				err := reencode(tx, 3, func(e *store.AuditEntry) {
					if e.Seq == 3 {
						e.Actor = "mallory"
					}
				})
				return errors.Join(err, dropTree(tx))
			})
		}},
		{name: "ReorderTwo", want: "audit rewritten:", seq: 1, tamper: func(t *testing.T, dir, _ string) {
			// Entries 3 and 4 swap places, renumbered, the chain and tree recomputed.
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("audit"))
				e3, err3 := store.AuditDecode(b.Get(auditKey(3)))
				e4, err4 := store.AuditDecode(b.Get(auditKey(4)))
				if err := errors.Join(err3, err4); err != nil {
					return err
				}
				e3.Seq, e4.Seq = 4, 3
				if err := errors.Join(b.Put(auditKey(4), store.AuditEncode(e3)), b.Put(auditKey(3), store.AuditEncode(e4))); err != nil {
					return err
				}
				byRec := tx.Bucket([]byte("auditbyrec"))
				err := errors.Join(byRec.Delete(byRecKey(e3.Record, 3)), byRec.Delete(byRecKey(e4.Record, 4)),
					byRec.Put(byRecKey(e3.Record, 4), nil), byRec.Put(byRecKey(e4.Record, 3), nil))
				return errors.Join(err, dropTree(tx))
			})
		}},
		{name: "SwapCheckpoint", want: "checkpoint signature invalid: the replica's checkpoint", tamper: func(t *testing.T, dir, _ string) {
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("checkpoint"), otherCheckpoint)
			})
		}},
		{name: "SwapCheckpointKeptApart", want: "checkpoint signature invalid: the checkpoint kept apart", tamper: func(t *testing.T, _, keysDir string) {
			if err := os.WriteFile(filepath.Join(keysDir, "dev-tamper", "checkpoint"), otherCheckpoint, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "RollBackFile", want: "audit cut: the trail ends at entry 3 but the checkpoint kept apart is signed at 6", seq: 4, tamper: func(t *testing.T, dir, _ string) {
			for _, f := range []string{store.DBFile, store.JournalFile} {
				b, err := os.ReadFile(filepath.Join(older, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "HistoryPointsElsewhere", want: "audit index: record", tamper: func(t *testing.T, dir, _ string) {
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("auditbyrec")).Put(byRecKey(ids[1], 1), nil)
			})
		}},
		{name: "RecordValueRolledBack", want: "record changed outside the audit trail: record " + ids[0], tamper: func(t *testing.T, dir, _ string) {
			// Record 1 and its metadata put back as they were before its edit: the
			// file is consistent, but the trail says the record moved on.
			var val, meta []byte
			db, err := bolt.Open(filepath.Join(older, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			_ = db.View(func(tx *bolt.Tx) error {
				val = append([]byte(nil), tx.Bucket([]byte("records")).Get([]byte(ids[0]))...)
				meta = append([]byte(nil), tx.Bucket([]byte("recmeta")).Get([]byte(ids[0]))...)
				return nil
			})
			db.Close()
			rawUpdate(t, dir, func(tx *bolt.Tx) error {
				return errors.Join(tx.Bucket([]byte("records")).Put([]byte(ids[0]), val),
					tx.Bucket([]byte("recmeta")).Put([]byte(ids[0]), meta))
			})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, kd := t.TempDir(), t.TempDir()
			copyReplica(t, base, dir)
			copyTree(t, keys, kd)
			c.tamper(t, dir, kd)
			s := openSigned(t, dir, kd, "dev-tamper", clk)
			_, err := s.VerifyAudit(ctx)
			var p *store.AuditProblem
			if !errors.As(err, &p) {
				t.Fatalf("VerifyAudit: %v, want an *AuditProblem", err)
			}
			if !strings.HasPrefix(err.Error(), c.want) || c.seq != 0 && p.Seq != c.seq {
				t.Fatalf("VerifyAudit: %q (entry %d), want %q (entry %d)", err, p.Seq, c.want, c.seq)
			}
			rep, err := s.Verify(ctx)
			if err != nil || rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
				t.Fatalf("Verify does not name it: %+v %v", rep.Problems, err)
			}
		})
	}

	t.Run("NoReuseAfterCut", func(t *testing.T) {
		dir, kd := t.TempDir(), t.TempDir()
		copyReplica(t, base, dir)
		copyTree(t, keys, kd)
		rawUpdate(t, dir, func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("audit"))
			return errors.Join(b.Delete(auditKey(5)), b.Delete(auditKey(6)), dropTree(tx),
				tx.Bucket([]byte("meta")).Delete([]byte("checkpoint")))
		})
		s := openSigned(t, dir, kd, "dev-tamper", clk)
		clk.Advance(time.Minute)
		r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after the cut")})
		h := mustHistory(t, s, r.ID)
		if len(h) != 1 || h[0].Seq != total+1 || h[0].Record != r.ID {
			t.Fatalf("the save after a cut got entry %+v, want number %d", h, total+1)
		}
		_, err := s.VerifyAudit(ctx)
		if err == nil || !strings.HasPrefix(err.Error(), "audit entry 5 missing") {
			t.Fatalf("VerifyAudit after the cut and a save: %v", err)
		}
		s.Close()
		// The cut is not hidden by the checkpoints signed afterwards.
		s = openSigned(t, dir, kd, "dev-tamper", clk)
		if _, err := s.VerifyAudit(ctx); err == nil || !strings.HasPrefix(err.Error(), "audit entry 5 missing") {
			t.Fatalf("VerifyAudit after reopening: %v", err)
		}
	})

	t.Run("Untouched", func(t *testing.T) {
		dir, kd := t.TempDir(), t.TempDir()
		copyReplica(t, base, dir)
		copyTree(t, keys, kd)
		s := openSigned(t, dir, kd, "dev-tamper", clk)
		if n, err := s.VerifyAudit(ctx); err != nil || n != total {
			t.Fatalf("VerifyAudit %d %v", n, err)
		}
		clk.Advance(time.Minute)
		mustSave(t, s, store.Edit{Record: ids[2], Author: "ana", Values: vals("pressure", 1)})
		s.Close()
		s = openSigned(t, dir, kd, "dev-tamper", clk)
		if n, err := s.VerifyAudit(ctx); err != nil || n != total+1 {
			t.Fatalf("VerifyAudit after a save and a reopen %d %v", n, err)
		}
		if rep := mustVerify(t, s); !rep.OK() {
			t.Fatalf("Verify: %v", rep.Problems)
		}
	})
}

func byRecKey(record string, seq uint64) []byte {
	k := append([]byte(record), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

// TestAuditRestoreSnapshot: a replica put back to a snapshot by the user is a roll-back
// the trail records, not a cut: it verifies, and the trail says what was given up.
func TestAuditRestoreSnapshot(t *testing.T) {
	ctx := context.Background()
	dir, keys := t.TempDir(), t.TempDir()
	s := openSigned(t, dir, keys, "dev-snap", nil)
	mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "kept")})
	snap, err := s.Snapshot(ctx, t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "given up")})
	s.Close()
	if err := store.RestoreSnapshot(snap, dir); err != nil {
		t.Fatal(err)
	}
	s = openSigned(t, dir, keys, "dev-snap", nil)
	if n, err := s.VerifyAudit(ctx); err != nil || n != 2 {
		t.Fatalf("VerifyAudit after a restore: %d %v", n, err)
	}
	all, err := s.Audit(ctx, 0, 0)
	if err != nil || len(all) != 2 || all[1].Action != store.ActionRollback || !strings.Contains(all[1].Note, "from 2 entries") {
		t.Fatalf("trail after a restore: %+v %v", all, err)
	}
	mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after")})
	s.Close()
	s = openSigned(t, dir, keys, "dev-snap", nil)
	if n, err := s.VerifyAudit(ctx); err != nil || n != 3 {
		t.Fatalf("VerifyAudit after a save: %d %v", n, err)
	}
}
