package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// Outcome of applying one remote record or change.
const (
	Applied   = "applied"   // merged in and something changed
	Unchanged = "unchanged" // merged in; this replica already held it all
	Duplicate = "duplicate" // a change ID already applied
	Rejected  = "rejected"  // refused; Err says why
)

// Result is the outcome for one item of a batch.
type Result struct {
	ID     string // record ID, or change ID for ApplyChanges
	Status string
	Err    error
}

// ApplyRecords merges records from another replica (a pull on a device). Each record
// is checked on its own: a bad one is rejected with the reason and the rest apply, all
// in one transaction. actor names who is applying (for the audit trail).
func (s *Store) ApplyRecords(ctx context.Context, recs []form.Record, actor string) ([]Result, error) {
	results := make([]Result, len(recs))
	err := s.applyBatch(ctx, func(tx *bolt.Tx, a *applier) error {
		for i := range recs {
			st, err := a.apply(tx, recs[i], "", actor, recs[i].Updated().Device)
			results[i] = Result{ID: recs[i].ID, Status: st, Err: err}
		}
		return nil
	})
	return results, err
}

// ApplyChanges merges changes pushed by devices (on the server), idempotently by
// change ID: a change seen before is a Duplicate and has no second effect.
func (s *Store) ApplyChanges(ctx context.Context, changes []form.Change) ([]Result, error) {
	results := make([]Result, len(changes))
	err := s.applyBatch(ctx, func(tx *bolt.Tx, a *applier) error {
		seen := tx.Bucket(bucketApplied)
		inBatch := map[string]bool{}
		for i, c := range changes {
			results[i].ID = c.ID
			if !form.ValidID(c.ID) {
				results[i].Status, results[i].Err = Rejected, fmt.Errorf("change id %q: %w: not a UUID", c.ID, ErrBadInput)
				continue
			}
			if inBatch[c.ID] || seen.Get([]byte(c.ID)) != nil {
				results[i].Status = Duplicate
				continue
			}
			if !form.ValidDevice(c.Device) {
				results[i].Status, results[i].Err = Rejected, fmt.Errorf("change %s: %w: device %q", c.ID, ErrBadInput, c.Device)
				continue
			}
			st, err := a.apply(tx, c.AsRecord(), c.ID, c.Author, c.Device)
			results[i].Status, results[i].Err = st, err
			if st == Rejected {
				continue
			}
			inBatch[c.ID] = true
			if err := seen.Put([]byte(c.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	return results, err
}

// HasChange reports whether a change ID was already applied.
func (s *Store) HasChange(ctx context.Context, id string) (bool, error) {
	found := false
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketApplied).Get([]byte(id)) != nil
		return nil
	})
	return found, err
}

// applier carries a batch's state: the index segment being built, and the audit chain
// and clock positions to restore if the transaction fails.
type applier struct {
	s        *Store
	seg      segmentBuilder
	maxClock form.HLC
}

func (s *Store) applyBatch(ctx context.Context, fn func(*bolt.Tx, *applier) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.barrier(ctx); err != nil {
		return err
	}
	nextAudit, lastHash := s.nextAudit, s.lastHash
	a := &applier{s: s}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx, a); err != nil {
			return err
		}
		if err := writeSegment(tx, &a.seg); err != nil {
			return err
		}
		m := tx.Bucket(bucketMeta)
		if a.maxClock > form.HLC(getU64(m, metaClock)) {
			return m.Put(metaClock, u64(uint64(a.maxClock)))
		}
		return nil
	})
	if err != nil {
		s.nextAudit, s.lastHash = nextAudit, lastHash
		return fmt.Errorf("apply: %w", err)
	}
	// Later local edits must order after everything merged in.
	_ = s.clock.Observe(a.maxClock)
	return nil
}

// apply validates and merges one incoming record. Invalid input is a Rejected result,
// not an error; an error aborts the whole transaction (a storage failure).
func (a *applier) apply(tx *bolt.Tx, in form.Record, changeID, author, device string) (string, error) {
	s := a.s
	if err := in.CheckShape(); err != nil {
		return Rejected, err
	}
	if err := a.checkStamps(in); err != nil {
		return Rejected, err
	}
	tpl, err := s.Template(form.TemplateKey{ID: in.Template, Version: in.Version})
	if err != nil {
		return Rejected, fmt.Errorf("record %s: %w", in.ID, err)
	}
	vals, err := tpl.Check(in.Values())
	if err != nil {
		return Rejected, fmt.Errorf("record %s: %w", in.ID, err)
	}
	in = in.Clone()
	for id, v := range vals {
		fv := in.Fields[id]
		fv.Value = v
		in.Fields[id] = fv
	}
	cur, err := getRecord(tx, in.ID)
	isNew := errors.Is(err, ErrNotFound)
	switch {
	case isNew:
		cur = form.Record{ID: in.ID, Template: in.Template, Version: in.Version, Created: in.Created, CreatedBy: in.CreatedBy}
	case err != nil:
		return "", err
	}
	before := ""
	if !isNew {
		before = cur.Rev()
	}
	changed, lost, err := cur.Merge(in)
	if err != nil {
		return Rejected, err
	}
	if !isNew && cur.Rev() == before {
		if err := a.auditLost(tx, in, lost, changeID, author, device); err != nil {
			return "", err
		}
		return Unchanged, nil
	}
	if err := s.putRecord(tx, &cur, &a.seg); err != nil {
		return "", err
	}
	note := ""
	if isNew {
		note = "new record"
	}
	e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: author, Device: device, Action: ActionApply,
		Record: in.ID, Change: changeID, Diff: changed, Note: note, Prev: s.lastHash}
	if err := a.appendAudit(tx, e); err != nil {
		return "", err
	}
	if err := a.auditLost(tx, in, lost, changeID, author, device); err != nil {
		return "", err
	}
	return Applied, nil
}

// auditLost keeps incoming values that lost to newer local ones in the history.
func (a *applier) auditLost(tx *bolt.Tx, in form.Record, lost []form.Diff, changeID, author, device string) error {
	if len(lost) == 0 {
		return nil
	}
	s := a.s
	e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: author, Device: device, Action: ActionConflict,
		Record: in.ID, Change: changeID, Diff: lost, Note: "incoming values lost to newer edits (old = lost value, new = kept value)", Prev: s.lastHash}
	return a.appendAudit(tx, e)
}

func (a *applier) appendAudit(tx *bolt.Tx, e AuditEntry) error {
	e.seal()
	if err := putAudit(tx, e); err != nil {
		return err
	}
	a.s.nextAudit++
	a.s.lastHash = e.Hash
	return nil
}

// checkStamps refuses stamps too far in the future: absorbing them would drag every
// replica's clock along.
func (a *applier) checkStamps(in form.Record) error {
	check := func(h form.HLC) error {
		if err := a.s.clock.Check(h); err != nil {
			return fmt.Errorf("record %s: %w", in.ID, err)
		}
		if h > a.maxClock {
			a.maxClock = h
		}
		return nil
	}
	if err := check(in.Created.HLC); err != nil {
		return err
	}
	for _, fv := range in.Fields {
		if err := check(fv.Stamp.HLC); err != nil {
			return err
		}
	}
	return nil
}

// RejectionReason renders a rejected result's error as a single line for a peer.
func RejectionReason(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
