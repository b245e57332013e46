package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// Range is a half-open range of record IDs [From, To); "" leaves that end open.
type Range struct {
	From, To string
}

func (r Range) contains(id string) bool {
	return id >= r.From && (r.To == "" || id < r.To)
}

// Fingerprint summarises the records in a range: how many, and the XOR of a hash of
// each (ID, rev). Two replicas with equal fingerprints for a range almost surely hold
// the same versions of the same records there.
type Fingerprint struct {
	Range
	Count int
	Hash  [16]byte
}

// HashHex renders the hash as hex.
func (f Fingerprint) HashHex() string { return hex.EncodeToString(f.Hash[:]) }

// ItemHash is one record's contribution to a fingerprint: the first 16 bytes of
// SHA-256 of its ID, a zero byte and its rev (hex).
func ItemHash(id, rev string) [16]byte {
	h := sha256.New()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(rev))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (f *Fingerprint) add(id string, rev [16]byte) {
	var hexRev [32]byte
	hex.Encode(hexRev[:], rev[:])
	h := ItemHash(id, string(hexRev[:]))
	for i := range f.Hash {
		f.Hash[i] ^= h[i]
	}
	f.Count++
}

// Fingerprints computes the fingerprint of each range.
func (s *Store) Fingerprints(ctx context.Context, ranges []Range) ([]Fingerprint, error) {
	out := make([]Fingerprint, len(ranges))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for i, r := range ranges {
			out[i].Range = r
			if err := eachInRange(tx, r, func(id string, m recMeta) {
				out[i].add(id, m.rev)
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// SplitRange divides r into at most parts consecutive ranges holding about the same
// number of records, and fingerprints each. The ranges cover r exactly.
func (s *Store) SplitRange(ctx context.Context, r Range, parts int) ([]Fingerprint, error) {
	if parts < 1 {
		return nil, fmt.Errorf("split range: %w: %d parts", ErrBadInput, parts)
	}
	var out []Fingerprint
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n := 0
		if err := eachInRange(tx, r, func(string, recMeta) { n++ }); err != nil {
			return err
		}
		per := (n + parts - 1) / parts
		if per == 0 {
			per = 1
		}
		cur := Fingerprint{Range: Range{From: r.From}}
		err := eachInRange(tx, r, func(id string, m recMeta) {
			if cur.Count == per {
				cur.To = id
				out = append(out, cur)
				cur = Fingerprint{Range: Range{From: id}}
			}
			cur.add(id, m.rev)
		})
		cur.To = r.To
		out = append(out, cur)
		return err
	})
	return out, err
}

func eachInRange(tx *bolt.Tx, r Range, fn func(id string, m recMeta)) error {
	c := tx.Bucket(bucketRecMeta).Cursor()
	var k, v []byte
	if r.From == "" {
		k, v = c.First()
	} else {
		k, v = c.Seek([]byte(r.From))
	}
	for ; k != nil && (r.To == "" || string(k) < r.To); k, v = c.Next() {
		m, err := decodeMeta(v)
		if err != nil {
			return fmt.Errorf("record %s: %w", k, err)
		}
		fn(string(k), m)
	}
	return nil
}

// GetMany returns the records with these IDs that the replica holds, in the order
// asked; IDs it lacks are skipped.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]form.Record, error) {
	out := make([]form.Record, 0, len(ids))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for _, id := range ids {
			r, err := getRecord(tx, id)
			if err == nil {
				out = append(out, r)
			} else if !isNotFound(err) {
				return err
			}
		}
		return nil
	})
	return out, err
}
