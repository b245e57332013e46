package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// bucketFill is how full bbolt fills a bucket's pages before it splits them (its
// FillPercent, 50 % unless named here). Half-full pages suit keys written at random:
// later keys land in the room left. Where keys only grow, that room is never used
// and half the bucket is empty, so those buckets fill their pages: sequence numbers
// (feed, docs, segments, outbox, dead letters, audit) entirely; keys that mostly grow
// (UUIDv7 record and change IDs, which begin with their creation time, and recency
// keys, which begin with the edit's time) to 90 %, leaving room for a record that
// arrives late or a value an edit makes longer. Random keys (attachments by hash,
// templates, purge marks) keep the default.
//
// Measured on the 100,000-record bench set loaded as a device receives it
// (BenchmarkReplica): record pages hold three compressed records instead of two
// (fill 57 % → 85 %), and the metadata, feed, document and record-to-entry buckets
// take about half the pages they did (recmeta 44.6 → 24.2 MiB).
var bucketFill = []struct {
	name []byte
	fill float64
}{
	{bucketFeed, 1.0},
	{bucketDocs, 1.0},
	{bucketSegments, 1.0},
	{bucketOutbox, 1.0},
	{bucketDead, 1.0},
	{bucketAudit, 1.0},
	{bucketRecords, 0.9},
	{bucketRecMeta, 0.9},
	{bucketByUpdated, 0.9},
	{bucketAuditByRec, 0.9},
	{bucketApplied, 0.9},
}

// setFill sets each bucket's fill in a write transaction. bbolt keeps one handle per
// bucket for the transaction, so every later tx.Bucket of it splits pages at this
// fill. A bucket the file lacks (an older schema, mid-upgrade) is skipped.
func setFill(tx *bolt.Tx) {
	if !tx.Writable() {
		return
	}
	for _, b := range bucketFill {
		if bk := tx.Bucket(b.name); bk != nil {
			bk.FillPercent = b.fill
		}
	}
}

// fillOf is the fill named above for the top-level bucket at path.
func fillOf(path [][]byte) (float64, bool) {
	if len(path) != 1 {
		return 0, false
	}
	for _, b := range bucketFill {
		if bytes.Equal(b.name, path[0]) {
			return b.fill, true
		}
	}
	return 0, false
}
