package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// Summary is what lists show of a record, read without decoding the record.
type Summary struct {
	ID       string
	Template string
	Version  int
	Title    string
	Status   string
	Deleted  bool
	Created  time.Time
	Updated  time.Time
	Rev      string
	Pending  bool // has changes in the outbox, not yet acknowledged by the server
}

// recMeta is kept beside each record for lists, search and sync.
type recMeta struct {
	doc       uint32
	updated   form.HLC
	created   form.HLC
	feed      uint64
	deleted   bool
	submitted bool
	rev       [16]byte
	template  string
	version   uint32
	title     string
}

// Record metadata is encoded as version 2: version 1's fields followed by a CRC-32C
// of them, so that a damaged byte (a title, a rev) is refused instead of listed.
// Version 1, without it, is still read.
const (
	recMetaV1 = 1
	recMetaV2 = 2
)

func (m *recMeta) encode() []byte {
	b := make([]byte, 0, 68+len(m.template)+len(m.title))
	b = append(b, recMetaV2)
	b = binary.BigEndian.AppendUint32(b, m.doc)
	b = binary.BigEndian.AppendUint64(b, uint64(m.updated))
	b = binary.BigEndian.AppendUint64(b, uint64(m.created))
	b = binary.BigEndian.AppendUint64(b, m.feed)
	var flags byte
	if m.deleted {
		flags |= 1
	}
	if m.submitted {
		flags |= 2
	}
	b = append(b, flags)
	b = append(b, m.rev[:]...)
	b = binary.BigEndian.AppendUint32(b, m.version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.template)))
	b = append(b, m.template...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.title)))
	b = append(b, m.title...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeMeta(b []byte) (recMeta, error) {
	var m recMeta
	const fixed = 1 + 4 + 8 + 8 + 8 + 1 + 16 + 4
	if len(b) > 0 && b[0] == recMetaV2 {
		if len(b) < fixed+2+4 || crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
			return m, fmt.Errorf("%w: record metadata: checksum mismatch", ErrCorrupt)
		}
		b = b[:len(b)-4]
	} else if len(b) > 0 && b[0] != recMetaV1 {
		return m, fmt.Errorf("%w: record metadata version %d", ErrCorrupt, b[0])
	}
	if len(b) < fixed+2 {
		return m, fmt.Errorf("%w: record metadata", ErrCorrupt)
	}
	m.doc = binary.BigEndian.Uint32(b[1:])
	m.updated = form.HLC(binary.BigEndian.Uint64(b[5:]))
	m.created = form.HLC(binary.BigEndian.Uint64(b[13:]))
	m.feed = binary.BigEndian.Uint64(b[21:])
	m.deleted = b[29]&1 != 0
	m.submitted = b[29]&2 != 0
	copy(m.rev[:], b[30:46])
	m.version = binary.BigEndian.Uint32(b[46:])
	rest := b[fixed:]
	l := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+l+2 {
		return m, fmt.Errorf("%w: record metadata", ErrCorrupt)
	}
	m.template = string(rest[2 : 2+l])
	rest = rest[2+l:]
	t := int(binary.BigEndian.Uint16(rest))
	if len(rest) < 2+t {
		return m, fmt.Errorf("%w: record metadata", ErrCorrupt)
	}
	m.title = string(rest[2 : 2+t])
	return m, nil
}

func (m *recMeta) summary(id string) Summary {
	st := form.StatusDraft
	if m.submitted {
		st = form.StatusSubmitted
	}
	return Summary{ID: id, Template: m.template, Version: int(m.version), Title: m.title, Status: st,
		Deleted: m.deleted, Created: m.created.Time(), Updated: m.updated.Time(), Rev: hex.EncodeToString(m.rev[:])}
}

func byUpdatedKey(h form.HLC, id string) []byte {
	return append(u64(uint64(h)), id...)
}

const maxTitle = 200

// putRecord writes a record's new state with its metadata and index entries.
func (s *Store) putRecord(tx *bolt.Tx, r *form.Record, seg *segmentBuilder) error {
	enc := r.Encode()
	return s.putEncoded(tx, r, packRecord(enc), sha256.Sum256(enc), recordTerms(r), s.title(r), seg)
}

// title is the record's title for lists, from its template.
func (s *Store) title(r *form.Record) string {
	t, err := s.Template(form.TemplateKey{ID: r.Template, Version: r.Version})
	if err != nil {
		return ""
	}
	return titleOf(t, r.Values())
}

// titleOf is the title of a record of template t with these values.
func titleOf(t *form.Template, values form.Values) string {
	title := t.RecordTitle(values)
	if len(title) > maxTitle {
		title = strings.ToValidUTF8(title[:maxTitle], "") + "…"
	}
	return title
}

// putEncoded is putRecord with the stored value (packRecord of the canonical
// encoding), the encoding's hash, its terms and its title computed ahead. The record
// counts change in seg and are written with the segment.
func (s *Store) putEncoded(tx *bolt.Tx, r *form.Record, stored []byte, sum [32]byte, terms []string, title string, seg *segmentBuilder) error {
	recs := tx.Bucket(bucketRecords)
	metas := tx.Bucket(bucketRecMeta)
	byUpd := tx.Bucket(bucketByUpdated)
	feed := tx.Bucket(bucketFeed)
	docs := tx.Bucket(bucketDocs)
	id := []byte(r.ID)
	wasDeleted := false
	if old := metas.Get(id); old != nil {
		om, err := decodeMeta(old)
		if err != nil {
			return fmt.Errorf("record %s: %w", r.ID, err)
		}
		if err := errors.Join(byUpd.Delete(byUpdatedKey(om.updated, r.ID)), feed.Delete(u64(om.feed)), docs.Delete(u32(om.doc))); err != nil {
			return fmt.Errorf("record %s: %w", r.ID, err)
		}
		wasDeleted = om.deleted
	} else {
		seg.records++
	}
	if del := r.Deleted(); del != wasDeleted {
		if del {
			seg.deleted++
		} else {
			seg.deleted--
		}
	}
	doc, err := docs.NextSequence()
	if err != nil {
		return err
	}
	fseq, err := feed.NextSequence()
	if err != nil {
		return err
	}
	m := recMeta{doc: uint32(doc), updated: r.Updated().HLC, created: r.Created.HLC, feed: fseq,
		deleted: r.Deleted(), submitted: r.Status() == form.StatusSubmitted,
		template: r.Template, version: uint32(r.Version)}
	copy(m.rev[:], sum[:16])
	m.title = title
	if err := errors.Join(
		recs.Put(id, stored),
		metas.Put(id, m.encode()),
		byUpd.Put(byUpdatedKey(m.updated, r.ID), u32(m.doc)),
		feed.Put(u64(fseq), id),
		docs.Put(u32(m.doc), id),
	); err != nil {
		return fmt.Errorf("record %s: %w", r.ID, err)
	}
	seg.add(m.doc, terms)
	return nil
}

// Edit is one local save: a new record (Record empty) or an edit of one.
type Edit struct {
	Record   string           // the record to edit; empty creates a record
	Template form.TemplateKey // for a new record; Version 0 means the latest
	Values   form.Values      // fields to set; null clears
	Status   string           // "" keeps the status; draft or submitted
	Author   string           // the user making the edit
}

// Save validates an edit, then journals the new record state, its outbox change and
// its audit entry as one durable write. When it returns nil, the save survives a
// crash. Invalid input returns an error wrapping form.ErrInvalidValue,
// ErrUnknownTemplate, ErrNotFound, ErrDeleted or ErrBadInput, and writes nothing. An
// edit that changes nothing returns the record as it is.
func (s *Store) Save(ctx context.Context, e Edit) (form.Record, error) {
	if err := ctx.Err(); err != nil {
		return form.Record{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return form.Record{}, fmt.Errorf("save: %w", ErrClosed)
	}

	var cur form.Record
	var tpl *form.Template
	var err error
	isNew := e.Record == ""
	if isNew {
		if e.Template.Version == 0 {
			tpl, err = s.LatestTemplate(e.Template.ID)
		} else {
			tpl, err = s.Template(e.Template)
		}
		if err != nil {
			return form.Record{}, fmt.Errorf("save: %w", err)
		}
		cur = form.Record{ID: form.NewID(), Template: tpl.ID, Version: tpl.Version}
	} else {
		if cur, err = s.current(e.Record); err != nil {
			return form.Record{}, fmt.Errorf("save %s: %w", e.Record, err)
		}
		if cur.Deleted() {
			return form.Record{}, fmt.Errorf("save %s: %w; restore it first", e.Record, ErrDeleted)
		}
		if tpl, err = s.Template(form.TemplateKey{ID: cur.Template, Version: cur.Version}); err != nil {
			return form.Record{}, fmt.Errorf("save %s: %w", e.Record, err)
		}
	}
	if e.Status != "" && e.Status != form.StatusDraft && e.Status != form.StatusSubmitted {
		return form.Record{}, fmt.Errorf("save: status %q: %w: want %q or %q", e.Status, ErrBadInput, form.StatusDraft, form.StatusSubmitted)
	}
	if len(e.Author) > 256 {
		return form.Record{}, fmt.Errorf("save: author: %w: longer than 256 bytes", ErrBadInput)
	}
	set, fm, err := s.applyEdit(tpl, cur, e, isNew)
	if err != nil {
		return form.Record{}, fmt.Errorf("save: %w", err)
	}
	if err := s.checkAttachmentsKnown(tpl, set); err != nil {
		return form.Record{}, fmt.Errorf("save: %w", err)
	}
	if len(set) > 0 && fm != nil {
		fm.Finish()
		set = fm.Changes()
	}
	action := ActionEdit
	switch {
	case isNew:
		action = ActionCreate
		if e.Status == "" {
			e.Status = form.StatusDraft
		}
	case e.Status == form.StatusSubmitted && cur.Status() != form.StatusSubmitted:
		action = ActionSubmit
	}
	if e.Status != "" && (isNew || e.Status != cur.Status()) {
		set[form.FieldStatus] = json.RawMessage(`"` + e.Status + `"`)
	}
	return s.commitEdit(ctx, cur, tpl, set, e.Author, action, isNew)
}

// Delete marks a record deleted. The tombstone syncs like any edit; nothing is lost.
func (s *Store) Delete(ctx context.Context, author, id string) (form.Record, error) {
	return s.setDeleted(ctx, author, id, true)
}

// Restore brings back a deleted record as it was.
func (s *Store) Restore(ctx context.Context, author, id string) (form.Record, error) {
	return s.setDeleted(ctx, author, id, false)
}

func (s *Store) setDeleted(ctx context.Context, author, id string, del bool) (form.Record, error) {
	if err := ctx.Err(); err != nil {
		return form.Record{}, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	verb := map[bool]string{true: "delete", false: "restore"}[del]
	if s.isClosed() {
		return form.Record{}, fmt.Errorf("%s %s: %w", verb, id, ErrClosed)
	}
	if len(author) > 256 {
		// As for Save: a peer refuses a change with a longer author.
		return form.Record{}, fmt.Errorf("%s %s: author: %w: longer than 256 bytes", verb, id, ErrBadInput)
	}
	cur, err := s.current(id)
	if err != nil {
		return form.Record{}, fmt.Errorf("%s %s: %w", verb, id, err)
	}
	if cur.Deleted() == del {
		return cur, nil
	}
	action := ActionRestore
	if del {
		action = ActionDelete
	}
	set := map[string]json.RawMessage{form.FieldDeleted: json.RawMessage(fmt.Sprint(del))}
	return s.commitEdit(ctx, cur, nil, set, author, action, false)
}

// commitEdit stamps the changed fields, merges them and journals the result. The
// caller holds wmu.
func (s *Store) commitEdit(ctx context.Context, cur form.Record, tpl *form.Template, set map[string]json.RawMessage, author, action string, isNew bool) (form.Record, error) {
	if len(set) == 0 {
		return cur, nil
	}
	stamp := form.Stamp{HLC: s.clock.Now(), Device: s.device}
	ch := form.Change{ID: form.NewID(), Record: cur.ID, Template: cur.Template, Version: cur.Version,
		Created: cur.Created, CreatedBy: cur.CreatedBy, Fields: map[string]form.FieldValue{},
		Author: author, Device: s.device}
	if isNew {
		ch.Created, ch.CreatedBy = stamp, author
	}
	for id, v := range set {
		ch.Fields[id] = form.FieldValue{Value: v, Stamp: stamp}
	}
	next := cur.Clone()
	if isNew {
		next.Created, next.CreatedBy = stamp, author
	}
	changed, _, err := next.Merge(ch.AsRecord())
	if err != nil {
		return form.Record{}, fmt.Errorf("save %s: %w", cur.ID, err)
	}
	if tpl != nil && next.Status() == form.StatusSubmitted && !next.Deleted() {
		if err := tpl.NewForm(next.Values(), s.formContext(cur.ID, author)).Check(); err != nil {
			return form.Record{}, fmt.Errorf("submit %s: %w", cur.ID, err)
		}
	}
	entry := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: author, Device: s.device, Action: action,
		Record: cur.ID, Change: ch.ID, Diff: changed, Prev: s.lastHash}
	entry.seal()
	fr := &frame{Records: []form.Record{next}, Outbox: []OutboxItem{{Seq: s.nextOut, Change: ch}},
		Audit: []AuditEntry{entry}, Clock: stamp.HLC}
	if err := ctx.Err(); err != nil {
		return form.Record{}, err
	}
	if err := s.commitFrame(fr); err != nil {
		return form.Record{}, fmt.Errorf("save %s: %w", cur.ID, err)
	}
	s.nextAudit++
	s.nextOut++
	s.lastHash = entry.Hash
	s.dirty[next.ID] = dirtyRecord{rec: next, lsn: fr.LSN}
	return next.Clone(), nil
}

// applyEdit returns the values an edit changes. For a template that computes
// values, the form engine applies the edit with what follows from it (a new
// record's metadata and defaults, repeat counts, calculations) and is returned for
// the end stamp; for one that does not, the edit's checked values that differ are
// the change, without the engine's cost on the save path.
func (s *Store) applyEdit(tpl *form.Template, cur form.Record, e Edit, isNew bool) (map[string]json.RawMessage, *form.Form, error) {
	if tpl.Computes() {
		fm := tpl.NewForm(cur.Values(), s.formContext(cur.ID, e.Author))
		if isNew {
			fm.Start()
		}
		if err := fm.SetAll(e.Values); err != nil {
			return nil, nil, err
		}
		return fm.Changes(), fm, nil
	}
	vals, err := tpl.Check(e.Values)
	if err != nil {
		return nil, nil, err
	}
	set := map[string]json.RawMessage{}
	for id, v := range vals {
		old, had := cur.Fields[id]
		if !had && bytes.Equal(v, []byte("null")) {
			continue // clearing a field that was never set changes nothing
		}
		if !bytes.Equal(old.Value, v) {
			set[id] = v
		}
	}
	return set, nil, nil
}

// formContext is what the form engine reads on this replica.
func (s *Store) formContext(record, author string) form.Context {
	return form.Context{Now: s.now, Device: s.device, User: author, Record: record}
}

// isClosed reports whether Close has begun. The caller holds wmu, which Close takes.
func (s *Store) isClosed() bool {
	s.amu.Lock()
	defer s.amu.Unlock()
	return s.closed
}

// current is the latest state of a record for the writer: saved but unapplied states
// first, then bbolt. The caller holds wmu.
func (s *Store) current(id string) (form.Record, error) {
	if d, ok := s.dirty[id]; ok {
		return d.rec.Clone(), nil
	}
	var r form.Record
	err := s.dbView(func(tx *bolt.Tx) error {
		var err error
		r, err = getRecord(tx, id)
		if errors.Is(err, ErrNotFound) && tx.Bucket(bucketPurged).Get([]byte(id)) != nil {
			return fmt.Errorf("record %s: %w; it cannot be edited, deleted or restored", id, ErrPurged)
		}
		return err
	})
	return r, err
}

func getRecord(tx *bolt.Tx, id string) (form.Record, error) {
	v := tx.Bucket(bucketRecords).Get([]byte(id))
	if v == nil {
		return form.Record{}, fmt.Errorf("record %s: %w", id, ErrNotFound)
	}
	return decodeStored(tx, []byte(id), v)
}

// decodeStored decodes a record as stored, after decompressing it and checking its
// canonical bytes against the rev its metadata holds (the hash of exactly those
// bytes), so a damaged byte in a value is refused instead of shown, exported or sent.
func decodeStored(tx *bolt.Tx, id, v []byte) (form.Record, error) {
	m, err := decodeMeta(tx.Bucket(bucketRecMeta).Get(id))
	if err != nil {
		return form.Record{}, fmt.Errorf("record %s: %w", id, err)
	}
	if v, err = unpackRecord(v); err != nil {
		return form.Record{}, fmt.Errorf("record %s: %w", id, err)
	}
	if sum := sha256.Sum256(v); !bytes.Equal(sum[:len(m.rev)], m.rev[:]) {
		return form.Record{}, fmt.Errorf("record %s: %w: its bytes do not match its rev %x", id, ErrCorrupt, m.rev)
	}
	r, err := form.DecodeRecord(v)
	if err != nil {
		return form.Record{}, fmt.Errorf("record %s: %w: %v", id, ErrCorrupt, err)
	}
	return r, nil
}

// Get returns a record, deleted or not.
func (s *Store) Get(ctx context.Context, id string) (form.Record, error) {
	var r form.Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = getRecord(tx, id)
		return err
	})
	return r, err
}

// Summary returns what lists show of a record, without decoding the record.
func (s *Store) Summary(ctx context.Context, id string) (Summary, error) {
	var sum Summary
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecMeta).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("record %s: %w", id, ErrNotFound)
		}
		m, err := decodeMeta(v)
		sum = m.summary(id)
		return err
	})
	return sum, err
}

// Count is the number of records, deleted ones included.
func (s *Store) Count(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n = int(getU64(tx.Bucket(bucketMeta), metaRecCount))
		return nil
	})
	return n, err
}

// ForEach calls fn for every record in ID order, in one read transaction. For export
// and reconciliation; not for the UI's hot path.
func (s *Store) ForEach(ctx context.Context, fn func(form.Record) error) error {
	return s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			r, err := decodeStored(tx, k, v)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordRev is a record's ID and rev, for reconciliation.
type RecordRev struct {
	ID  string
	Rev string
}

// Revs returns (ID, rev) of records with from <= ID < to ("" means open), in ID order.
func (s *Store) Revs(ctx context.Context, from, to string) ([]RecordRev, error) {
	var out []RecordRev
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecMeta).Cursor()
		var k, v []byte
		if from == "" {
			k, v = c.First()
		} else {
			k, v = c.Seek([]byte(from))
		}
		for ; k != nil && (to == "" || string(k) < to); k, v = c.Next() {
			m, err := decodeMeta(v)
			if err != nil {
				return err
			}
			out = append(out, RecordRev{ID: string(k), Rev: hex.EncodeToString(m.rev[:])})
		}
		return nil
	})
	return out, err
}

// Feed returns records changed after the feed position since, in change order, at
// most limit entries, and the position of the last one returned (since when none).
// Purges in that span are skipped; FeedPage reports them.
func (s *Store) Feed(ctx context.Context, since uint64, limit int) ([]form.Record, uint64, error) {
	p, err := s.FeedPage(ctx, since, limit)
	return p.Records, p.Last, err
}
