package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// Purge notices (I10): every replica keeps the signed notice of each purge it
// learned, beside the purged IDs, so a purge survives a server that lost it: the
// devices hold the notices and the server, which can check their signature, learns
// them again. Replicas of an earlier release have no such bucket; it is made when
// they are opened.

var bucketNotices = []byte("purgenotices") // request ID → form.PurgeNotice JSON

// PurgeResult says what applying a purge notice did here.
type PurgeResult struct {
	New     bool              // the notice was not kept here before
	Removed []string          // records whose data was removed here
	Marked  int               // IDs newly remembered as purged, held here or not
	Orphans []form.Attachment // attachments no record refers to any more, forgotten
}

// ApplyPurgeNotice carries out a purge notice and keeps it: every record it names
// that the replica holds is removed with its index entries, pending changes, dead
// letters and attachments no other record uses; every ID it names is remembered as
// purged, so a record that arrives later is refused; one audit entry an ID records
// it (actor and device: who carries it out here; note: what was done, after
// noteHead). Applying a notice again changes nothing. The caller checks the
// signature where it can (the server); the store checks its shape.
func (s *Store) ApplyPurgeNotice(ctx context.Context, n form.PurgeNotice, actor, device, noteHead string) (PurgeResult, error) {
	var res PurgeResult
	if err := n.Check(); err != nil {
		return res, fmt.Errorf("purge notice: %w: %w", ErrBadInput, err)
	}
	enc, err := json.Marshal(n)
	if err != nil {
		return res, fmt.Errorf("purge notice %s: %w", n.Request, err)
	}
	head := noteHead
	if !strings.Contains(head, n.Request) {
		head = fmt.Sprintf("%s: purge request %s, carried out %s", noteHead, n.Request, n.Time.UTC().Format(time.RFC3339))
	}
	note := func(id string, held bool) string {
		if held {
			return head + "; the record's data was removed here"
		}
		return head + "; not held here, and never to be added"
	}
	err = s.updateBatch(ctx, nil, func(tx *bolt.Tx, a *applier) error {
		b := tx.Bucket(bucketNotices)
		old := b.Get([]byte(n.Request))
		res = PurgeResult{New: old == nil}
		if old != nil && !bytes.Equal(old, enc) {
			var had form.PurgeNotice
			if json.Unmarshal(old, &had) == nil && had.Sig != n.Sig {
				return fmt.Errorf("%w: another notice of that request is kept here, with another signature", ErrBadInput)
			}
		}
		seen := map[string]bool{}
		for _, id := range n.Records {
			if tx.Bucket(bucketPurged).Get([]byte(id)) == nil {
				seen[id] = true
			}
		}
		orphans, removed, err := s.purgeTx(tx, a, n.Records, purgeMark{Actor: actor, Reason: noteHead, Request: n.Request}, device, note, true)
		if err != nil {
			return err
		}
		res.Orphans, res.Removed = orphans, removed
		res.Marked = len(seen)
		// IDs purged before without a notice (a server of an earlier release) now
		// name it.
		purged := tx.Bucket(bucketPurged)
		for _, id := range n.Records {
			var m purgeMark
			if v := purged.Get([]byte(id)); v != nil && json.Unmarshal(v, &m) == nil && m.Request == "" {
				m.Request = n.Request
				enc, _ := json.Marshal(m)
				if err := purged.Put([]byte(id), enc); err != nil {
					return err
				}
			}
		}
		if old == nil {
			return b.Put([]byte(n.Request), enc)
		}
		return nil
	})
	if err != nil {
		return PurgeResult{}, fmt.Errorf("purge notice %s: %w", n.Request, err)
	}
	s.removeAttachmentFiles(res.Orphans)
	return res, nil
}

// PurgeNotices returns the purge notices kept here, in request order (the IDs are
// UUIDv7: the order they were made), after the request ID after, at most limit
// (all when limit <= 0).
func (s *Store) PurgeNotices(ctx context.Context, after string, limit int) ([]form.PurgeNotice, error) {
	var out []form.PurgeNotice
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketNotices).Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var n form.PurgeNotice
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("purge notice %q: %w", k, err)
			}
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("purge notices: %w", err)
	}
	return out, nil
}

// PurgeNoticesOf returns the notices kept here that purged any of ids, each once.
func (s *Store) PurgeNoticesOf(ctx context.Context, ids []string) ([]form.PurgeNotice, error) {
	var out []form.PurgeNotice
	err := s.view(ctx, func(tx *bolt.Tx) error {
		purged, notices := tx.Bucket(bucketPurged), tx.Bucket(bucketNotices)
		var reqs []string
		for _, id := range ids {
			var m purgeMark
			if v := purged.Get([]byte(id)); v != nil && json.Unmarshal(v, &m) == nil && m.Request != "" && !slices.Contains(reqs, m.Request) {
				reqs = append(reqs, m.Request)
			}
		}
		slices.Sort(reqs)
		for _, r := range reqs {
			v := notices.Get([]byte(r))
			if v == nil {
				continue
			}
			var n form.PurgeNotice
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("purge notice %q: %w", r, err)
			}
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("purge notices: %w", err)
	}
	return out, nil
}

// PurgedAmong returns which of ids were purged here.
func (s *Store) PurgedAmong(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPurged)
		for _, id := range ids {
			if b.Get([]byte(id)) != nil {
				out[id] = true
			}
		}
		return nil
	})
	return out, err
}

// PurgedCount is how many record IDs were purged here.
func (s *Store) PurgedCount(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketPurged).Stats().KeyN
		return nil
	})
	return n, err
}
