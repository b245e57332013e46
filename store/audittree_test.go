package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// memTree is an independent Merkle tree over leaf data, as a witness computes it.
type memTree struct{ stored []tlog.Hash }

func (m *memTree) ReadHashes(ix []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ix))
	for i, x := range ix {
		out[i] = m.stored[x]
	}
	return out, nil
}

func (m *memTree) add(n int64, data []byte) {
	hs, err := tlog.StoredHashes(n, data, m)
	if err != nil {
		panic(err)
	}
	m.stored = append(m.stored, hs...)
}

// rawAudit reads the canonical bytes of the audit entries of a closed replica, in
// order.
func rawAudit(t *testing.T, dir string) [][]byte {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out [][]byte
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("audit")).ForEach(func(k, v []byte) error {
			if binary.BigEndian.Uint64(k) != uint64(len(out)+1) {
				return errors.New("audit keys not contiguous")
			}
			canon, err := store.AuditCanonical(v)
			out = append(out, canon)
			return err
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// auditTreeReplica makes a replica whose trail has entries of every writer: saves
// (journal), applied changes (bulk), an event and a purge.
func auditTreeReplica(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, dir, "dev-tree", clk)
	var ids []string
	for i := 0; i < 5; i++ {
		clk.Advance(time.Minute)
		ids = append(ids, mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "n"+string(rune('a'+i)))}).ID)
	}
	other := openReplica(t, t.TempDir(), "dev-other", clk)
	for i := 0; i < 3; i++ {
		clk.Advance(time.Minute)
		mustSave(t, other, store.Edit{Template: inspection, Author: "cy", Values: vals("notes", "remote")})
	}
	mustApplyChanges(t, s, pendingChanges(t, other))
	if err := s.RecordEvent(ctx, "ana", "dev-tree", store.ActionPurgeRequest, "why not", ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(ctx, ids[:1], "bo", "dev-tree", "asked"); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, store.Edit{Record: ids[1], Author: "ana", Values: vals("pressure", 3)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkTreeAPI checks AuditTree, AuditLeafHash and AuditTreeProof of the replica in
// dir against a tree computed apart from its stored audit values.
func checkTreeAPI(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	raw := rawAudit(t, dir)
	var want memTree
	roots := []tlog.Hash{}
	for i, v := range raw {
		want.add(int64(i), v)
		h, err := tlog.TreeHash(int64(i+1), &want)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, h)
	}
	s := openReplica(t, dir, "dev-tree", nil)
	tree, err := s.AuditTree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tree.N != int64(len(raw)) || tree.Hash != roots[len(raw)-1] {
		t.Fatalf("AuditTree %d %v, want %d %v", tree.N, tree.Hash, len(raw), roots[len(raw)-1])
	}
	for i, v := range raw {
		h, err := s.AuditLeafHash(ctx, uint64(i+1))
		if err != nil || h != tlog.RecordHash(v) {
			t.Fatalf("AuditLeafHash(%d) %v %v", i+1, h, err)
		}
	}
	for oldN := int64(1); oldN <= tree.N; oldN++ {
		p, err := s.AuditTreeProof(ctx, oldN, tree.N)
		if err != nil {
			t.Fatalf("AuditTreeProof(%d, %d): %v", oldN, tree.N, err)
		}
		if err := tlog.CheckTree(p, tree.N, tree.Hash, oldN, roots[oldN-1]); err != nil {
			t.Fatalf("proof %d→%d does not check: %v", oldN, tree.N, err)
		}
	}
	if p, err := s.AuditTreeProof(ctx, 0, tree.N); err != nil || len(p) != 0 {
		t.Fatalf("AuditTreeProof(0, N): %v %v", p, err)
	}
	for _, bad := range [][2]int64{{-1, 1}, {2, 1}, {1, tree.N + 1}} {
		if _, err := s.AuditTreeProof(ctx, bad[0], bad[1]); !errors.Is(err, store.ErrBadInput) {
			t.Fatalf("AuditTreeProof(%d, %d): %v, want ErrBadInput", bad[0], bad[1], err)
		}
	}
	for _, seq := range []uint64{0, uint64(tree.N) + 1} {
		if _, err := s.AuditLeafHash(ctx, seq); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("AuditLeafHash(%d): %v, want ErrNotFound", seq, err)
		}
	}
}

// TestAuditTree: the audit trail is a Merkle tree whose leaf i is tlog.RecordHash of
// entry i+1's canonical bytes, with roots and consistency proofs a witness checks.
func TestAuditTree(t *testing.T) {
	dir := t.TempDir()
	auditTreeReplica(t, dir)
	checkTreeAPI(t, dir)
	t.Run("EmptyReplica", func(t *testing.T) {
		s := openReplica(t, t.TempDir(), "dev-empty", nil)
		tree, err := s.AuditTree(context.Background())
		if err != nil || tree.N != 0 || tree.Hash != tlog.Hash(sha256.Sum256(nil)) {
			t.Fatalf("%+v %v", tree, err)
		}
	})
	t.Run("FileWithoutTree", func(t *testing.T) {
		// A file of the previous release has no tree: it is built when it is opened.
		old := t.TempDir()
		copyReplica(t, dir, old)
		db, err := bolt.Open(filepath.Join(old, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			return errors.Join(tx.DeleteBucket([]byte("audittree")), tx.Bucket([]byte("meta")).Delete([]byte("audittree_size")))
		}); err != nil {
			t.Fatal(err)
		}
		db.Close()
		checkTreeAPI(t, old)
	})
}

// TestAuditTreeJournalReplay: entries saved but not applied at a crash enter the tree
// when the journal is replayed, once, with the same root as if applied live.
func TestAuditTreeJournalReplay(t *testing.T) {
	base := t.TempDir()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, base, "dev-tree", clk)
	for i := 0; i < 3; i++ {
		clk.Advance(time.Minute)
		mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "applied")})
	}
	if _, err := s.Count(context.Background()); err != nil { // waits for the applier
		t.Fatal(err)
	}
	release := store.HoldApplier()
	for i := 0; i < 4; i++ {
		clk.Advance(time.Minute)
		mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "journalled only")})
	}
	crashed := t.TempDir()
	for _, f := range []string{store.DBFile, store.JournalFile} {
		b, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(crashed, store.AttachmentsDir), 0o700); err != nil {
		t.Fatal(err)
	}
	release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	live := rawAudit(t, base)
	s2 := openReplica(t, crashed, "dev-tree", clk)
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rawAudit(t, crashed); len(got) != len(live) || len(live) != 7 {
		t.Fatalf("replayed trail has %d entries, live %d", len(got), len(live))
	}
	checkTreeAPI(t, crashed)
	checkTreeAPI(t, base)
}
