package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

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
	items := s.prepare(recs)
	defer items.wait()
	err := s.applyBatch(ctx, func(tx *bolt.Tx, a *applier) error {
		for i := range recs {
			st, err := a.apply(tx, items.item(i), "", actor, recs[i].Updated().Device)
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
	recs := make([]form.Record, len(changes))
	for i, c := range changes {
		recs[i] = c.AsRecord()
	}
	items := s.prepare(recs)
	defer items.wait()
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
			st, err := a.apply(tx, items.item(i), c.ID, c.Author, c.Device)
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
	// Everything saved is in bbolt now, and this batch may change those records: the
	// writer's unapplied copies would be stale, and the next edit would undo the merge.
	clear(s.dirty)
	nextAudit, lastHash := s.nextAudit, s.lastHash
	a := &applier{s: s}
	err := s.dbUpdate(func(tx *bolt.Tx) error {
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

// incoming is one item of a batch, checked and prepared before the transaction.
type incoming struct {
	rec      form.Record // canonical values, maps of its own
	maxStamp form.HLC
	err      error // why it is rejected
	// Prepared for the common case of a record this replica does not hold yet (a
	// rebuild, a first pull): the record as it will be stored, and its audit diff.
	enc      []byte
	sum      [32]byte
	terms    []string
	title    string
	diff     []form.Diff
	diffJSON []byte
}

// prepared is a batch being checked and encoded on every core, in chunks, while the
// transaction consumes the chunks already done: the work before the database and the
// writes overlap.
type prepared struct {
	items []incoming
	done  []chan struct{} // closed when its chunk is ready
}

const prepareChunk = 32

// prepare starts checking and encoding records. Nothing here touches the database, so
// it starts before the writer is taken.
func (s *Store) prepare(recs []form.Record) *prepared {
	p := &prepared{items: make([]incoming, len(recs))}
	chunks := (len(recs) + prepareChunk - 1) / prepareChunk
	p.done = make([]chan struct{}, chunks)
	for i := range p.done {
		p.done[i] = make(chan struct{})
	}
	var next atomic.Int64
	for w := min(runtime.GOMAXPROCS(0), chunks); w > 0; w-- {
		go func() {
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				for i := c * prepareChunk; i < min((c+1)*prepareChunk, len(recs)); i++ {
					s.prepareOne(&p.items[i], recs[i])
				}
				close(p.done[c])
			}
		}()
	}
	return p
}

// item waits for item i to be ready.
func (p *prepared) item(i int) *incoming {
	<-p.done[i/prepareChunk]
	return &p.items[i]
}

// wait waits for every chunk, so no worker outlives the call.
func (p *prepared) wait() {
	for _, d := range p.done {
		<-d
	}
}

func (s *Store) prepareOne(it *incoming, in form.Record) {
	if it.err = in.CheckShapeForTemplate(); it.err != nil {
		return
	}
	if it.maxStamp, it.err = s.checkStamps(in); it.err != nil {
		return
	}
	tpl, err := s.Template(form.TemplateKey{ID: in.Template, Version: in.Version})
	if err != nil {
		it.err = fmt.Errorf("record %s: %w", in.ID, err)
		return
	}
	vals, err := tpl.Check(in.Values())
	if err != nil {
		it.err = fmt.Errorf("record %s: %w", in.ID, err)
		return
	}
	fields := make(map[string]form.FieldValue, len(in.Fields))
	for id, fv := range in.Fields {
		if v, ok := vals[id]; ok {
			fv.Value = v
		}
		fields[id] = fv
	}
	in.Fields = fields
	it.rec = in
	// Merged into nothing, the record is itself, and every field is a change.
	it.diff = make([]form.Diff, 0, len(fields))
	for id, fv := range fields {
		it.diff = append(it.diff, form.Diff{Field: id, New: fv.Value, Stamp: fv.Stamp})
	}
	slices.SortFunc(it.diff, func(a, b form.Diff) int { return strings.Compare(a.Field, b.Field) })
	it.enc = in.Encode()
	it.sum = sha256.Sum256(it.enc)
	it.terms = recordTerms(&in)
	it.title = s.title(&in)
	it.diffJSON = appendDiffs(make([]byte, 0, len(it.enc)+64*len(it.diff)), it.diff)
}

// apply merges one prepared item. Invalid input is a Rejected result, not an error; an
// error aborts the whole transaction (a storage failure).
func (a *applier) apply(tx *bolt.Tx, it *incoming, changeID, author, device string) (string, error) {
	s := a.s
	if it.err != nil {
		return Rejected, it.err
	}
	in := it.rec
	if tx.Bucket(bucketPurged).Get([]byte(in.ID)) != nil {
		return Rejected, fmt.Errorf("record %s: %w", in.ID, ErrPurged)
	}
	cur, err := getRecord(tx, in.ID)
	if errors.Is(err, ErrNotFound) {
		a.maxClock = max(a.maxClock, it.maxStamp)
		if err := s.putEncoded(tx, &in, it.enc, it.sum, it.terms, it.title, &a.seg); err != nil {
			return "", err
		}
		e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: author, Device: device, Action: ActionApply,
			Record: in.ID, Change: changeID, Diff: it.diff, diffJSON: it.diffJSON, Note: "new record", Prev: s.lastHash}
		if err := a.appendAudit(tx, e); err != nil {
			return "", err
		}
		return Applied, nil
	}
	if err != nil {
		return "", err
	}
	before := cur.Rev()
	changed, lost, err := cur.Merge(in)
	if err != nil {
		return Rejected, err
	}
	// Only what is accepted moves the clock: a rejected item changes nothing.
	a.maxClock = max(a.maxClock, it.maxStamp)
	// A newer stamp on an equal value changes the rev but not the values: compare revs.
	if cur.Rev() == before {
		if err := a.auditLost(tx, in, lost, changeID, author, device); err != nil {
			return "", err
		}
		return Unchanged, nil
	}
	if err := s.putRecord(tx, &cur, &a.seg); err != nil {
		return "", err
	}
	e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: author, Device: device, Action: ActionApply,
		Record: in.ID, Change: changeID, Diff: changed, Prev: s.lastHash}
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
	if err := putAuditEncoded(tx, &e, e.sealEncode()); err != nil {
		return err
	}
	a.s.nextAudit++
	a.s.lastHash = e.Hash
	return nil
}

// checkStamps refuses stamps too far in the future: absorbing them would drag every
// replica's clock along. It returns the greatest stamp.
func (s *Store) checkStamps(in form.Record) (form.HLC, error) {
	var maxStamp form.HLC
	check := func(h form.HLC) error {
		if err := s.clock.Check(h); err != nil {
			return fmt.Errorf("record %s: %w", in.ID, err)
		}
		maxStamp = max(maxStamp, h)
		return nil
	}
	if err := check(in.Created.HLC); err != nil {
		return 0, err
	}
	for _, fv := range in.Fields {
		if err := check(fv.Stamp.HLC); err != nil {
			return 0, err
		}
	}
	return maxStamp, nil
}

// RejectionReason renders a rejected result's error as a single line for a peer.
func RejectionReason(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}
