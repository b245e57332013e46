package store

import bolt "go.etcd.io/bbolt"

// convertAuditValue returns an audit entry of a file of schema `from` as the
// current layout stores it: an entry of an earlier release (JSON, '{') is compressed
// as it is, so its canonical bytes, and its leaf in the audit tree, stay what any
// checkpoint signed; anything else is already of the current layout.
func convertAuditValue(from uint32, seq, v []byte) ([]byte, error) {
	_, _ = from, seq
	if len(v) > 0 && v[0] == '{' {
		return storeAuditValue(v), nil
	}
	return v, nil
}

// finishUpgrade runs in the transaction that completes a converted file, after
// every bucket was copied: the audit's Merkle tree is built over the entries the
// tree does not hold yet.
func finishUpgrade(tx *bolt.Tx, from uint32) error {
	_ = from
	return ensureTree(tx)
}
