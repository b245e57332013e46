package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// ErrPurged: the record was permanently deleted and cannot come back.
var ErrPurged = errors.New("record permanently deleted")

var bucketPurged = []byte("purged") // record id → purgeMark

type purgeMark struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason"`
	Request string    `json:"request,omitempty"` // the purge notice that purged it, when known
}

// feed values of purged records start with this byte, which no record ID does.
const purgedMark = '-'

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Purge permanently deletes records: their data, index entries, pending changes and
// the attachments no other record refers to. Every audit entry stays, and one more
// records the purge. The IDs are remembered so the records cannot come back from a
// replica that still holds them. It returns the attachments that are now referenced
// by no record, for the caller to delete from blob storage. IDs already purged are
// skipped; an unknown ID is ErrNotFound and nothing is purged.
//
// Whether a purge is allowed (requests and approvals) is the caller's business.
func (s *Store) Purge(ctx context.Context, ids []string, actor, device, reason string) ([]form.Attachment, error) {
	var orphans []form.Attachment
	err := s.updateBatch(ctx, nil, func(tx *bolt.Tx, a *applier) error {
		var err error
		orphans, _, err = s.purgeTx(tx, a, ids, purgeMark{Actor: actor, Reason: reason}, device, func(string, bool) string { return reason }, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.removeAttachmentFiles(orphans)
	return orphans, nil
}

// purgeTx purges ids in a transaction: each record held is removed, each ID is
// remembered as purged with mark, its pending changes are dropped and an audit entry
// (note(id, held)) is added. IDs already purged are skipped. With unheldOK an ID the
// replica does not hold is remembered too (a purge notice: the record may arrive
// later); without, it is ErrNotFound. It returns the attachments no record refers to
// any more, forgotten here, and the IDs whose data it removed.
func (s *Store) purgeTx(tx *bolt.Tx, a *applier, ids []string, mark purgeMark, device string, note func(id string, held bool) string, unheldOK bool) ([]form.Attachment, []string, error) {
	purged := tx.Bucket(bucketPurged)
	refs := map[string]form.Attachment{}
	type item struct {
		id   string
		held bool
	}
	var todo []item
	for _, id := range ids {
		if purged.Get([]byte(id)) != nil || slices.ContainsFunc(todo, func(it item) bool { return it.id == id }) {
			continue
		}
		r, err := getRecord(tx, id)
		if errors.Is(err, ErrNotFound) && unheldOK {
			todo = append(todo, item{id, false})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("purge %s: %w", id, err)
		}
		todo = append(todo, item{id, true})
		if tpl, err := s.Template(form.TemplateKey{ID: r.Template, Version: r.Version}); err == nil {
			for fid, fv := range r.Fields {
				for _, at := range attachmentsOf(tpl, fid, fv.Value) {
					refs[at.SHA256] = at
				}
			}
		}
	}
	var removed []string
	for _, it := range todo {
		if it.held {
			if err := s.removeRecord(tx, it.id); err != nil {
				return nil, nil, fmt.Errorf("purge %s: %w", it.id, err)
			}
			removed = append(removed, it.id)
		} else {
			// Not held here: still a feed entry, so replicas that hold it learn of it.
			feed := tx.Bucket(bucketFeed)
			seq, err := feed.NextSequence()
			if err != nil {
				return nil, nil, err
			}
			if err := feed.Put(u64(seq), append([]byte{purgedMark}, it.id...)); err != nil {
				return nil, nil, err
			}
		}
		m := mark
		m.Time = s.now().UTC()
		enc, _ := json.Marshal(m)
		if err := purged.Put([]byte(it.id), enc); err != nil {
			return nil, nil, err
		}
		if err := dropPending(tx, it.id); err != nil {
			return nil, nil, err
		}
		e := AuditEntry{Actor: mark.Actor, Device: device, Action: ActionPurge, Record: it.id, Note: note(it.id, it.held)}
		if err := a.appendAudit(tx, e); err != nil {
			return nil, nil, err
		}
	}
	if len(refs) == 0 {
		return nil, removed, nil
	}
	// An attachment is content-addressed and may be shared: keep it while any other
	// record refers to it. Purges are rare, so a scan of the raw records will do.
	c := tx.Bucket(bucketRecords).Cursor()
	for k, v := c.First(); k != nil && len(refs) > 0; k, v = c.Next() {
		v, err := unpackRecord(v)
		if err != nil {
			// A record that cannot be read may refer to any of them: keep them all.
			s.log.Warn("purge: a record does not decode; its attachments are kept", "record", string(k), "err", err)
			clear(refs)
			break
		}
		for sha := range refs {
			if bytes.Contains(v, []byte(sha)) {
				delete(refs, sha)
			}
		}
	}
	var orphans []form.Attachment
	atts := tx.Bucket(bucketAttachments)
	for _, sha := range slices.Sorted(maps.Keys(refs)) {
		if err := atts.Delete([]byte(sha)); err != nil {
			return nil, nil, err
		}
		orphans = append(orphans, refs[sha])
	}
	return orphans, removed, nil
}

// removeAttachmentFiles deletes the local bytes of attachments a purge forgot.
func (s *Store) removeAttachmentFiles(orphans []form.Attachment) {
	for _, at := range orphans {
		if err := os.Remove(s.AttachmentPath(at.SHA256)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("purge: removing an attachment file failed", "err", err)
		}
	}
}

// removeRecord deletes a record, its metadata and its index entries, and leaves a
// purge entry in the feed so replicas learn of it.
func (s *Store) removeRecord(tx *bolt.Tx, id string) error {
	metas := tx.Bucket(bucketRecMeta)
	old := metas.Get([]byte(id))
	if old == nil {
		return ErrNotFound
	}
	om, err := decodeMeta(old)
	if err != nil {
		return err
	}
	feed := tx.Bucket(bucketFeed)
	meta := tx.Bucket(bucketMeta)
	if err := errors.Join(
		tx.Bucket(bucketRecords).Delete([]byte(id)),
		metas.Delete([]byte(id)),
		tx.Bucket(bucketByUpdated).Delete(byUpdatedKey(om.updated, id)),
		feed.Delete(u64(om.feed)),
		tx.Bucket(bucketDocs).Delete(u32(om.doc)),
		meta.Put(metaRecCount, u64(getU64(meta, metaRecCount)-1)),
	); err != nil {
		return err
	}
	if om.deleted {
		if err := meta.Put(metaDelCount, u64(getU64(meta, metaDelCount)-1)); err != nil {
			return err
		}
	}
	seq, err := feed.NextSequence()
	if err != nil {
		return err
	}
	return feed.Put(u64(seq), append([]byte{purgedMark}, id...))
}

// dropPending removes a purged record's changes from the outbox and dead letters:
// they would only be refused.
func dropPending(tx *bolt.Tx, id string) error {
	if err := tx.Bucket(bucketPendingRec).Delete([]byte(id)); err != nil {
		return err
	}
	for _, name := range [][]byte{bucketOutbox, bucketDead} {
		b := tx.Bucket(name)
		var keys [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte(`"`+id+`"`)) {
				var c struct {
					Record string `json:"record"`
					Change struct {
						Record string `json:"record"`
					} `json:"change"`
				}
				if json.Unmarshal(v, &c) == nil && (c.Record == id || c.Change.Record == id) {
					keys = append(keys, append([]byte(nil), k...))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// IsPurged reports whether a record was permanently deleted here.
func (s *Store) IsPurged(ctx context.Context, id string) (bool, error) {
	found := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketPurged).Get([]byte(id)) != nil
		return nil
	})
	return found, err
}

// FeedPage is a page of the change feed.
type FeedPage struct {
	Records []form.Record
	Purged  []string // record IDs permanently deleted
	Last    uint64   // the position of the last entry returned (since when none)
}

// FeedPage returns what changed after position since, in order: records and purges,
// at most limit entries.
func (s *Store) FeedPage(ctx context.Context, since uint64, limit int) (FeedPage, error) {
	p := FeedPage{Last: since}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketFeed).Cursor()
		n := 0
		for k, v := c.Seek(u64(since + 1)); k != nil && (limit <= 0 || n < limit); k, v = c.Next() {
			if len(v) > 0 && v[0] == purgedMark {
				p.Purged = append(p.Purged, string(v[1:]))
			} else {
				r, err := getRecord(tx, string(v))
				if err != nil {
					return err
				}
				p.Records = append(p.Records, r)
			}
			p.Last = binary.BigEndian.Uint64(k)
			n++
		}
		return nil
	})
	return p, err
}

// FeedHead is the position of the newest feed entry.
func (s *Store) FeedHead(ctx context.Context) (uint64, error) {
	var head uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketFeed).Cursor().Last(); len(k) == 8 {
			head = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return head, err
}

// FeedRevs is FeedPage with each changed record's ID and rev instead of the record.
func (s *Store) FeedRevs(ctx context.Context, since uint64, limit int) ([]RecordRev, []string, uint64, error) {
	var revs []RecordRev
	var purged []string
	last := since
	err := s.view(ctx, func(tx *bolt.Tx) error {
		metas := tx.Bucket(bucketRecMeta)
		c := tx.Bucket(bucketFeed).Cursor()
		n := 0
		for k, v := c.Seek(u64(since + 1)); k != nil && (limit <= 0 || n < limit); k, v = c.Next() {
			if len(v) > 0 && v[0] == purgedMark {
				purged = append(purged, string(v[1:]))
			} else {
				m, err := decodeMeta(metas.Get(v))
				if err != nil {
					return fmt.Errorf("feed %s: %w", v, err)
				}
				revs = append(revs, RecordRev{ID: string(v), Rev: hex.EncodeToString(m.rev[:])})
			}
			last = binary.BigEndian.Uint64(k)
			n++
		}
		return nil
	})
	return revs, purged, last, err
}

// RevOf returns a record's rev, or "" when the replica lacks it.
func (s *Store) RevOf(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	err := s.view(ctx, func(tx *bolt.Tx) error {
		metas := tx.Bucket(bucketRecMeta)
		for _, id := range ids {
			if v := metas.Get([]byte(id)); v != nil {
				m, err := decodeMeta(v)
				if err != nil {
					return err
				}
				out[id] = hex.EncodeToString(m.rev[:])
			}
		}
		return nil
	})
	return out, err
}
