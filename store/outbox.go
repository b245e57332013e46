package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// OutboxItem is a local change waiting to reach the server, in save order.
type OutboxItem struct {
	Seq    uint64      `json:"seq"`
	Change form.Change `json:"change"`
}

// DeadLetter is a change the server refused for good, kept with its reason until a
// person retries or it is fixed.
type DeadLetter struct {
	Seq    uint64      `json:"seq"`
	Change form.Change `json:"change"`
	Reason string      `json:"reason"`
	Time   time.Time   `json:"time"`
}

// Pending returns outbox items in order, at most limit and about maxBytes of
// encoded changes (always at least one item when there is one).
func (s *Store) Pending(ctx context.Context, limit, maxBytes int) ([]OutboxItem, error) {
	var out []OutboxItem
	err := s.view(ctx, func(tx *bolt.Tx) error {
		size := 0
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(out) > 0 && (limit > 0 && len(out) >= limit || maxBytes > 0 && size+len(v) > maxBytes) {
				break
			}
			var ch form.Change
			if err := json.Unmarshal(v, &ch); err != nil {
				return fmt.Errorf("outbox %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, OutboxItem{Seq: binary.BigEndian.Uint64(k), Change: ch})
			size += len(v)
		}
		return nil
	})
	return out, err
}

// PendingCount is the number of changes in the outbox.
func (s *Store) PendingCount(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketOutbox).Stats().KeyN
		return nil
	})
	return n, err
}

// Ack removes acknowledged changes from the outbox. Unknown sequence numbers are
// ignored: an ack may arrive twice.
func (s *Store) Ack(ctx context.Context, seqs ...uint64) error {
	return s.AckState(ctx, nil, seqs...)
}

// AckState is Ack and SetState(kv) in one transaction: a sync records what the
// server acknowledged and where it stands with one commit.
func (s *Store) AckState(ctx context.Context, kv map[string][]byte, seqs ...uint64) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := putState(tx, kv); err != nil {
			return err
		}
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			if b.Get(u64(seq)) == nil {
				continue
			}
			// Remember the highest number acked, so that a replica whose outbox is
			// empty does not number its next change from 1 again after a restart.
			if seq > b.Sequence() {
				if err := b.SetSequence(seq); err != nil {
					return fmt.Errorf("ack %d: %w", seq, err)
				}
			}
			if err := outboxDelete(tx, seq); err != nil {
				return fmt.Errorf("ack %d: %w", seq, err)
			}
		}
		return nil
	})
}

// DeadLetter moves a change from the outbox to the dead-letter list with the reason.
func (s *Store) DeadLetter(ctx context.Context, seq uint64, reason string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		v := ob.Get(u64(seq))
		if v == nil {
			return fmt.Errorf("dead-letter %d: %w", seq, ErrNotFound)
		}
		var ch form.Change
		if err := json.Unmarshal(v, &ch); err != nil {
			return fmt.Errorf("dead-letter %d: %w", seq, err)
		}
		b, err := json.Marshal(DeadLetter{Seq: seq, Change: ch, Reason: reason, Time: s.now().UTC()})
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketDead).Put(u64(seq), b); err != nil {
			return err
		}
		return outboxDelete(tx, seq)
	})
}

// DeadLetters lists refused changes in order.
func (s *Store) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	var out []DeadLetter
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("dead letter %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// Retry puts a dead letter back into the outbox at its original place in the order.
func (s *Store) Retry(ctx context.Context, seq uint64) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketDead)
		v := db.Get(u64(seq))
		if v == nil {
			return fmt.Errorf("retry %d: %w", seq, ErrNotFound)
		}
		var d DeadLetter
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("retry %d: %w", seq, err)
		}
		b, err := json.Marshal(d.Change)
		if err != nil {
			return err
		}
		if err := outboxPut(tx, seq, d.Change.Record, b); err != nil {
			return err
		}
		return db.Delete(u64(seq))
	})
}

// bucketPendingRec counts, per record, its changes in the outbox, so lists can show
// which records are not yet with the server without reading the outbox.
var bucketPendingRec = []byte("pendingrec") // record id → u64 count

// outboxPut adds a change to the outbox and counts it for its record.
func outboxPut(tx *bolt.Tx, seq uint64, record string, encoded []byte) error {
	if err := tx.Bucket(bucketOutbox).Put(u64(seq), encoded); err != nil {
		return err
	}
	return countPending(tx, record, +1)
}

// outboxDelete removes a change from the outbox (acknowledged or refused) and
// uncounts it.
func outboxDelete(tx *bolt.Tx, seq uint64) error {
	b := tx.Bucket(bucketOutbox)
	v := b.Get(u64(seq))
	if v == nil {
		return nil
	}
	var c struct {
		Record string `json:"record"`
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return fmt.Errorf("outbox %d: %w", seq, err)
	}
	if err := b.Delete(u64(seq)); err != nil {
		return err
	}
	return countPending(tx, c.Record, -1)
}

func countPending(tx *bolt.Tx, record string, delta int64) error {
	b := tx.Bucket(bucketPendingRec)
	n := int64(getU64(b, []byte(record))) + delta
	if n <= 0 {
		return b.Delete([]byte(record))
	}
	return b.Put([]byte(record), u64(uint64(n)))
}
