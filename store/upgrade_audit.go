package store

import bolt "go.etcd.io/bbolt"

// convertAuditValue returns an audit entry of a file of schema `from` as the
// current layout stores it. The storage-v2 audit work replaces this body.
func convertAuditValue(from uint32, seq, v []byte) ([]byte, error) {
	_, _ = from, seq
	return v, nil
}

// finishUpgrade runs in the transaction that completes a converted file, after
// every bucket was copied: what the new layout derives from the old data (the
// audit's Merkle tree) is built here. The storage-v2 audit work fills it.
func finishUpgrade(tx *bolt.Tx, from uint32) error {
	_ = from
	return ensureTree(tx)
}
