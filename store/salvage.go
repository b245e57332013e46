package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// SalvageReport says what SalvageDB copied out of a damaged database and what it
// could not read.
type SalvageReport struct {
	Device       string // the replica's device ID, when it could be read
	Records      int    // records copied
	Templates    int    // template versions copied
	AuditEntries int    // audit entries copied
	Outbox       int    // pending changes copied
	// Lost says, one line each, what could not be read: damaged pages (and so the
	// entries they held), and entries that could not be decoded.
	Lost []string
}

// OK reports whether everything could be read.
func (r SalvageReport) OK() bool { return len(r.Lost) == 0 }

// SalvageDB copies everything it can still read from the damaged database file
// damagedPath into a new replica in intoDir: records, templates, audit entries,
// pending changes and dead letters, the sync engine's state (enrolment, cursors)
// and purge marks, with the damaged replica's device ID. It reads the file with
// plain reads, page by page, checking every page before it uses it, and goes on
// past a damaged page to the next; the report names what it could not read.
//
// intoDir must not hold a replica. The new replica is closed when SalvageDB
// returns; its audit chain shows a gap where entries were lost (Verify names it).
// It fails only when nothing can be read (no valid meta page) or the new replica
// cannot be written.
func SalvageDB(ctx context.Context, damagedPath, intoDir string, opts Options) (SalvageReport, error) {
	var rep SalvageReport
	if _, err := os.Stat(filepath.Join(intoDir, DBFile)); err == nil {
		return rep, fmt.Errorf("salvage: %s already holds a replica", intoDir)
	}
	f, err := os.Open(damagedPath)
	if err != nil {
		return rep, fmt.Errorf("salvage: %w", err)
	}
	defer f.Close()
	b := &boltFile{path: damagedPath, f: f, visited: map[uint64]bool{}}
	if err := b.readMetas(); err != nil {
		return rep, fmt.Errorf("salvage: nothing can be read: %w", err)
	}
	// What each top-level bucket still holds, copied out of the page buffers.
	found := map[string][]kv{}
	seqs := map[string]uint64{} // top-level buckets' sequences
	err = guarded(damagedPath, "", func() error {
		b.walk(func(path []string, e kv) {
			if len(path) == 0 {
				if e.bucket && len(e.value) >= 16 {
					seqs[string(e.key)] = le.Uint64(e.value[8:])
				}
				return
			}
			if e.bucket {
				return
			}
			found[path[0]] = append(found[path[0]], kv{key: e.key, value: e.value})
		}, func(err error) { rep.Lost = append(rep.Lost, err.Error()) })
		return nil
	})
	if err != nil {
		rep.Lost = append(rep.Lost, err.Error())
	}
	if len(rep.Lost) > 0 {
		// Parts of the tree are out of reach: look at every other page for leaves
		// holding records, templates and the device ID.
		if err := guarded(damagedPath, "", func() error { b.scan(found); return nil }); err != nil {
			rep.Lost = append(rep.Lost, err.Error())
		}
	}
	for _, e := range found[string(bucketMeta)] {
		if string(e.key) == string(metaDevice) && form.ValidDevice(string(e.value)) {
			rep.Device = string(e.value)
		}
	}
	if opts.Device == "" {
		opts.Device = rep.Device
	}
	if opts.Device == "" {
		rep.Lost = append(rep.Lost, "the replica's device ID: not found, the salvaged replica gets a new one (give Options.Device to keep the old one)")
	}
	s, err := Open(ctx, intoDir, opts)
	if err != nil {
		return rep, fmt.Errorf("salvage: %w", err)
	}
	err = s.salvageInto(ctx, found, seqs[string(bucketOutbox)], &rep)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("salvage: %w", err)
	}
	return rep, nil
}

func (s *Store) salvageInto(ctx context.Context, found map[string][]kv, outSeq uint64, rep *SalvageReport) error {
	lost := func(format string, a ...any) { rep.Lost = append(rep.Lost, fmt.Sprintf(format, a...)) }
	for _, e := range found[string(bucketTemplates)] {
		t, err := form.ParseTemplate(e.value)
		if err == nil {
			if _, terr := s.Template(t.Key()); terr == nil {
				continue // found twice (a scanned page)
			}
		}
		if err == nil {
			err = s.PutTemplate(ctx, t)
		}
		if err != nil {
			lost("template %q: %v", e.key, err)
			continue
		}
		rep.Templates++
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		var seg segmentBuilder
		// A record found twice (a page the tree lost, and a stale copy on a page
		// since freed) is kept at its latest version.
		latest := map[string]form.Record{}
		var order []string
		for _, e := range found[string(bucketRecords)] {
			r, err := decodeRecordValue(e.value)
			if err != nil || r.ID != string(e.key) {
				lost("record %s: cannot be decoded", e.key)
				continue
			}
			old, seen := latest[r.ID]
			if !seen {
				order = append(order, r.ID)
			}
			if !seen || old.Updated().HLC < r.Updated().HLC {
				latest[r.ID] = r
			}
		}
		for _, id := range order {
			r := latest[id]
			if err := s.putRecord(tx, &r, &seg); err != nil {
				return err
			}
			rep.Records++
		}
		if err := writeSegment(tx, &seg); err != nil {
			return err
		}
		for _, e := range found[string(bucketAudit)] {
			if len(e.key) != 8 {
				lost("audit entry %x: cannot be decoded", e.key)
				continue
			}
			canon, err := auditCanonical(e.value)
			var av auditValue
			if err == nil {
				av, err = decodeCanonical(canon)
			}
			if err != nil || av.seq != binary.BigEndian.Uint64(e.key) {
				lost("audit entry %x: cannot be decoded", e.key)
				continue
			}
			records := make([]string, len(av.items))
			for i := range av.items {
				records[i] = av.items[i].Record
			}
			if err := putAuditStored(tx, av.seq, e.value, canon, records, nil); err != nil {
				return err
			}
			rep.AuditEntries++
		}
		maxOut := outSeq
		for _, e := range found[string(bucketOutbox)] {
			var c struct {
				Record string `json:"record"`
			}
			if len(e.key) != 8 || json.Unmarshal(e.value, &c) != nil || c.Record == "" {
				lost("pending change %x: cannot be decoded", e.key)
				continue
			}
			if err := outboxPut(tx, binary.BigEndian.Uint64(e.key), c.Record, e.value); err != nil {
				return err
			}
			maxOut = max(maxOut, binary.BigEndian.Uint64(e.key))
			rep.Outbox++
		}
		for _, name := range [][]byte{bucketDead, bucketState, bucketPurged} {
			for _, e := range found[string(name)] {
				if len(e.key) == 0 {
					continue
				}
				if err := tx.Bucket(name).Put(e.key, e.value); err != nil {
					return err
				}
				if string(name) == string(bucketDead) && len(e.key) == 8 {
					maxOut = max(maxOut, binary.BigEndian.Uint64(e.key))
				}
			}
		}
		// Change numbers are never reused, even those whose entries were lost.
		out := tx.Bucket(bucketOutbox)
		if maxOut > out.Sequence() {
			if err := out.SetSequence(maxOut); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		for _, e := range found[string(bucketMeta)] {
			if string(e.key) == string(metaApplied) && len(e.value) == 8 {
				// The saves the damaged file held: the journal's later ones follow.
				if err := m.Put(metaApplied, e.value); err != nil {
					return err
				}
			}
			if string(e.key) == string(metaClock) && len(e.value) == 8 {
				if binary.BigEndian.Uint64(e.value) > getU64(m, metaClock) {
					if err := m.Put(metaClock, e.value); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// scan reads every page below the high-water mark that the walk did not reach and
// adds to found the entries of leaf pages that decode as records or templates, and
// the device ID. Freed pages hold older copies too: salvageInto keeps the latest.
func (b *boltFile) scan(found map[string][]kv) {
	end := uint64(b.size / b.psize)
	if b.meta.pgid < end {
		end = b.meta.pgid
	}
	for id := uint64(2); id < end; id++ {
		if b.visited[id] {
			continue
		}
		var hdr [boltPageHeader]byte
		if _, err := b.f.ReadAt(hdr[:], int64(id)*b.psize); err != nil || le.Uint64(hdr[0:]) != id || le.Uint16(hdr[8:]) != boltLeafFlag {
			continue
		}
		overflow := uint64(le.Uint32(hdr[12:]))
		if id+overflow >= end {
			continue
		}
		p := make([]byte, int64(overflow+1)*b.psize)
		if _, err := b.f.ReadAt(p, int64(id)*b.psize); err != nil {
			continue
		}
		_, entries, _, err := b.node(p, b.at(id))
		if err != nil {
			continue
		}
		for len(entries) > 0 {
			e := entries[0]
			entries = entries[1:]
			switch {
			case e.bucket:
				// An inline bucket (the meta bucket, often) lies inside the value.
				if len(e.value) > 16 && le.Uint64(e.value) == 0 {
					if _, inner, _, err := b.node(e.value[16:], b.at(id)); err == nil {
						entries = append(entries, inner...)
					}
				}
			case string(e.key) == string(metaDevice) && form.ValidDevice(string(e.value)):
				found[string(bucketMeta)] = append(found[string(bucketMeta)], e)
			case len(e.value) > 0 && e.value[0] == recValueS2 && len(e.key) > 8:
				if r, err := decodeRecordValue(e.value); err == nil && r.ID == string(e.key) {
					found[string(bucketRecords)] = append(found[string(bucketRecords)], e)
				}
			case len(e.value) > 0 && e.value[0] == '{' && len(e.key) > 8:
				if r, err := form.DecodeRecord(e.value); err == nil && r.ID == string(e.key) {
					found[string(bucketRecords)] = append(found[string(bucketRecords)], e)
				} else if t, err := form.ParseTemplate(e.value); err == nil && t.ID != "" {
					found[string(bucketTemplates)] = append(found[string(bucketTemplates)], e)
				}
			}
		}
	}
}
