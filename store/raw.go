package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Canonical is one record's canonical encoding (form.Record.Encode), as read by
// CanonicalMany without decoding it.
type Canonical struct {
	ID    string
	Bytes []byte
}

// CanonicalMany returns the canonical encodings of the records with the given IDs
// that the replica holds, deleted or not, in the order of ids; IDs it lacks are left
// out. Nothing is decoded: each value is decompressed (either stored layout) and its
// bytes checked against the rev its metadata holds, so a damaged value is refused
// with ErrCorrupt, as GetMany refuses it. The bytes are copies that outlive the read
// transaction: the caller may give the replica's pages back (ReleaseMapped) as soon
// as it returns.
func (s *Store) CanonicalMany(ctx context.Context, ids []string) ([]Canonical, error) {
	out := make([]Canonical, 0, len(ids))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		recs, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketRecMeta)
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			key := []byte(id)
			v := recs.Get(key)
			if v == nil {
				continue
			}
			m, err := decodeMeta(meta.Get(key))
			if err != nil {
				return fmt.Errorf("record %s: %w", id, err)
			}
			enc, err := unpackRecord(v)
			if err != nil {
				return fmt.Errorf("record %s: %w", id, err)
			}
			if sum := sha256.Sum256(enc); !bytes.Equal(sum[:len(m.rev)], m.rev[:]) {
				return fmt.Errorf("record %s: %w: its bytes do not match its rev %x", id, ErrCorrupt, m.rev)
			}
			if &enc[0] == &v[0] {
				// The old layout is the mapped value itself: copy it out of the map.
				enc = bytes.Clone(enc)
			}
			out = append(out, Canonical{ID: id, Bytes: enc})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	return out, nil
}
