package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// The audit trail is the leaf sequence of a Merkle tree (RFC 6962, as Go's checksum
// database and Certificate Transparency build it): leaf i is the audit entry with
// sequence number i+1, and its hash is tlog.RecordHash of the entry's canonical
// bytes (auditformat.go), whatever the compression of the stored value. The hashes tlog stores
// (tlog.StoredHashes) are kept in bucket "audittree" under their stored hash index,
// written in the transaction that writes the entries, and the tree's size in meta.
var (
	bucketAuditTree = []byte("audittree") // stored hash index → 32-byte hash
	metaTreeSize    = []byte("audittree_size")
)

// treeReader reads stored hashes in a transaction, copying them out.
type treeReader struct{ b *bolt.Bucket }

func (r treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, ix := range indexes {
		v := r.b.Get(u64(uint64(ix)))
		if len(v) != tlog.HashSize {
			return nil, fmt.Errorf("audit tree: %w: stored hash %d missing", ErrCorrupt, ix)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// treeSize is the number of leaves in the audit tree.
func treeSize(tx *bolt.Tx) int64 {
	return int64(getU64(tx.Bucket(bucketMeta), metaTreeSize))
}

// treeAdd puts the audit entry seq, encoded as canon, into the tree. It is
// idempotent (a leaf already in the tree is left alone, as journal replay needs) and
// catches up on entries the tree lacks (a file written before the tree existed)
// from the audit bucket first; when an earlier entry is missing, the tree stays
// where it is and verification names the gap.
func treeAdd(tx *bolt.Tx, seq uint64, canon []byte) error {
	n := treeSize(tx)
	if seq <= uint64(n) {
		return nil
	}
	if seq > uint64(n)+1 {
		var err error
		if n, err = treeCatchUp(tx, seq-1); err != nil {
			return err
		}
		if seq != uint64(n)+1 {
			return nil
		}
	}
	return treeAppend(tx, n, canon)
}

// treeAppend adds leaf n (entry n+1) with the given canonical bytes.
func treeAppend(tx *bolt.Tx, n int64, canon []byte) error {
	b := tx.Bucket(bucketAuditTree)
	hashes, err := tlog.StoredHashes(n, canon, treeReader{b})
	if err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	ix := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		if err := b.Put(u64(uint64(ix+int64(i))), h[:]); err != nil {
			return fmt.Errorf("audit tree: %w", err)
		}
	}
	if err := tx.Bucket(bucketMeta).Put(metaTreeSize, u64(uint64(n+1))); err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	return nil
}

// treeCatchUp adds to the tree the entries of the audit bucket that follow its last
// leaf without a gap, up to entry upTo (0: all), and returns the new size.
func treeCatchUp(tx *bolt.Tx, upTo uint64) (int64, error) {
	n := treeSize(tx)
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.Seek(u64(uint64(n) + 1)); k != nil && (upTo == 0 || uint64(n) < upTo); k, v = c.Next() {
		if len(k) != 8 || binary.BigEndian.Uint64(k) != uint64(n)+1 {
			break
		}
		canon, err := auditCanonical(v)
		if err != nil {
			return n, fmt.Errorf("audit tree: entry %d: %w", n+1, err)
		}
		if err := treeAppend(tx, n, canon); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// treeCaughtUp reports whether the tree bucket exists and holds every audit entry
// in sequence, so ensureTree would write nothing.
func treeCaughtUp(tx *bolt.Tx) bool {
	if tx.Bucket(bucketAuditTree) == nil {
		return false
	}
	n := treeSize(tx)
	k, _ := tx.Bucket(bucketAudit).Cursor().Seek(u64(uint64(n) + 1))
	return len(k) != 8 || binary.BigEndian.Uint64(k) != uint64(n)+1
}

// ensureTree makes the tree bucket and brings the tree up to the audit trail: for a
// file written before the tree existed, or by a program that did not keep it.
func ensureTree(tx *bolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bucketAuditTree); err != nil {
		return fmt.Errorf("audit tree: %w", err)
	}
	_, err := treeCatchUp(tx, 0)
	return err
}

// AuditTree returns the audit trail's Merkle tree: N, the number of audit entries in
// the tree, and its root hash. Leaf i is the entry with sequence number i+1.
func (s *Store) AuditTree(ctx context.Context) (tlog.Tree, error) {
	var t tlog.Tree
	err := s.view(ctx, func(tx *bolt.Tx) error {
		t.N = treeSize(tx)
		h, err := tlog.TreeHash(t.N, treeReader{tx.Bucket(bucketAuditTree)})
		if err != nil {
			return err
		}
		t.Hash = h
		return nil
	})
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("audit tree: %w", err)
	}
	return t, nil
}

// AuditTreeProof returns the proof that the audit tree of size newN contains the tree
// of size oldN as a prefix (tlog.CheckTree checks it). With oldN 0 the proof is empty:
// every tree extends the empty one.
func (s *Store) AuditTreeProof(ctx context.Context, oldN, newN int64) (tlog.TreeProof, error) {
	var p tlog.TreeProof
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n := treeSize(tx)
		if oldN < 0 || oldN > newN || newN > n {
			return fmt.Errorf("%w: proof from %d to %d entries of a trail of %d", ErrBadInput, oldN, newN, n)
		}
		if oldN == 0 {
			p = tlog.TreeProof{}
			return nil
		}
		var err error
		p, err = tlog.ProveTree(newN, oldN, treeReader{tx.Bucket(bucketAuditTree)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("audit tree proof: %w", err)
	}
	return p, nil
}

// AuditLeafHash returns the leaf hash of audit entry seq as the tree holds it.
func (s *Store) AuditLeafHash(ctx context.Context, seq uint64) (tlog.Hash, error) {
	var h tlog.Hash
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n := treeSize(tx)
		if seq < 1 || seq > uint64(n) {
			return fmt.Errorf("%w: audit entry %d: the tree holds entries 1 to %d", ErrNotFound, seq, n)
		}
		hs, err := treeReader{tx.Bucket(bucketAuditTree)}.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(seq-1))})
		if err != nil {
			return err
		}
		h = hs[0]
		return nil
	})
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("audit leaf hash: %w", err)
	}
	return h, nil
}
