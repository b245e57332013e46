package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

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
	Rev    string // the record's rev after an Applied or Unchanged item
}

// ApplyRecords merges records from another replica (a pull on a device). Each record
// is checked on its own: a bad one is rejected with the reason and the rest apply, all
// in one transaction. actor names who is applying (for the audit trail).
func (s *Store) ApplyRecords(ctx context.Context, recs []form.Record, actor string) ([]Result, error) {
	results := make([]Result, len(recs))
	// Written in ID order, so bbolt's puts walk its pages in order (a pull page comes
	// in change order); a record sent twice keeps its order. Results keep the
	// batch's.
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(recs[a].ID, recs[b].ID) })
	sorted := make([]form.Record, len(recs))
	for k, i := range order {
		sorted[k] = recs[i]
	}
	items := s.prepare(sorted, false)
	defer items.wait()
	err := s.applyBatch(ctx, items, func(tx *bolt.Tx, a *applier) error {
		for k, i := range order {
			st, err := a.apply(tx, items.item(k), "", Attribution{Actor: actor, Device: recs[i].Updated().Device})
			results[i] = Result{ID: recs[i].ID, Status: st, Err: err}
		}
		return nil
	})
	return results, err
}

// ApplyChanges merges changes pushed by devices (on the server), idempotently by
// change ID: a change seen before is a Duplicate and has no second effect. The audit
// trail names each change's Author and Device.
func (s *Store) ApplyChanges(ctx context.Context, changes []form.Change) ([]Result, error) {
	return s.ApplyChangesWith(ctx, changes, ApplyOptions{})
}

// ApplyOptions are what a server adds to applying pushed changes.
type ApplyOptions struct {
	// By names, for each change, who the audit trail records (nil: the changes' own
	// Author and Device).
	By []Attribution
	// CheckSubmitted checks a record that is submitted (and not deleted) after the
	// merge against its template as a device's Save does (required answers,
	// constraints), and rejects the change with the reasons if it fails. Drafts are not
	// checked.
	CheckSubmitted bool
}

// Attribution is who the audit trail names for an applied change when the applier
// knows it better than the change says: a server takes it from the verified
// credential, and keeps what the change claims in Note.
type Attribution struct {
	Actor  string
	Device string
	Note   string // added to the audit entries' notes
}

// ApplyChangesWith is ApplyChanges with options.
func (s *Store) ApplyChangesWith(ctx context.Context, changes []form.Change, opts ApplyOptions) ([]Result, error) {
	by := opts.By
	if by != nil && len(by) != len(changes) {
		return nil, fmt.Errorf("apply: %w: %d attributions for %d changes", ErrBadInput, len(by), len(changes))
	}
	results := make([]Result, len(changes))
	recs := make([]form.Record, len(changes))
	for i, c := range changes {
		recs[i] = c.AsRecord()
	}
	items := s.prepare(recs, opts.CheckSubmitted)
	defer items.wait()
	err := s.applyBatch(ctx, items, func(tx *bolt.Tx, a *applier) error {
		a.checkSubmitted = opts.CheckSubmitted
		seen := tx.Bucket(bucketApplied)
		inBatch := map[string]bool{}
		// A change ID is known once journalled: in bbolt, or in a frame the applier has
		// not written yet.
		known := func(id string) bool {
			_, dirty := s.dirtyChanges[id]
			return dirty || seen.Get([]byte(id)) != nil
		}
		for i, c := range changes {
			results[i].ID = c.ID
			if !form.ValidID(c.ID) {
				results[i].Status, results[i].Err = Rejected, fmt.Errorf("change id %q: %w: not a UUID", c.ID, ErrBadInput)
				continue
			}
			if inBatch[c.ID] || known(c.ID) {
				results[i].Status = Duplicate
				continue
			}
			if !form.ValidDevice(c.Device) {
				results[i].Status, results[i].Err = Rejected, fmt.Errorf("change %s: %w: device %q", c.ID, ErrBadInput, c.Device)
				continue
			}
			who := Attribution{Actor: c.Author, Device: c.Device}
			if by != nil {
				who = by[i]
			}
			st, err := a.apply(tx, items.item(i), c.ID, who)
			results[i].Status, results[i].Err, results[i].Rev = st, err, a.rev
			if st == Rejected {
				continue
			}
			inBatch[c.ID] = true
			a.changes = append(a.changes, c.ID)
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

// applier carries a batch's state as it is merged: what its frame will journal.
type applier struct {
	s              *Store
	seg            segmentBuilder // updateBatch's writes to the search index
	maxClock       form.HLC
	checkSubmitted bool         // see ApplyOptions
	audit          []AuditEntry // the batch's record changes: its one audit entry
	records        []form.Record
	pre            []*preEncoded  // for records[i]: its encoding, or nil
	at             map[string]int // record ID → its index in records
	changes        []string       // change IDs applied
	rev            string         // the rev the last item applied left its record at
}

// get is a record's latest state for the batch: merged earlier in the batch, then
// journalled but not yet applied, then bbolt.
func (a *applier) get(tx *bolt.Tx, id string) (form.Record, error) {
	if k, ok := a.at[id]; ok {
		return a.records[k].Clone(), nil
	}
	if d, ok := a.s.dirty[id]; ok {
		return d.rec.Clone(), nil
	}
	return getRecord(tx, id)
}

// put keeps a record's new state for the batch's frame.
func (a *applier) put(r form.Record, pre *preEncoded) {
	if k, ok := a.at[r.ID]; ok {
		a.records[k], a.pre[k] = r, pre
		return
	}
	if a.at == nil {
		a.at = map[string]int{}
	}
	a.at[r.ID] = len(a.records)
	a.records = append(a.records, r)
	a.pre = append(a.pre, pre)
}

// applyBatch merges a batch against the current state (bbolt, and what is
// journalled but not yet applied) in a read transaction, and journals the result as
// one fsynced frame: when it returns nil the batch survives a crash. The applier
// writes it to bbolt in the background; reads wait for it (barrier).
func (s *Store) applyBatch(ctx context.Context, items *prepared, fn func(*bolt.Tx, *applier) error) error {
	timer := applyTimer.Load()
	t := timer.start()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.amu.Lock()
	closed, applyErr := s.closed, s.applyErr
	s.amu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("apply: %w", ErrClosed)
	case applyErr != nil:
		return fmt.Errorf("apply: replica: %w", applyErr)
	}
	if err := s.throttle(ctx); err != nil {
		return err
	}
	t = timer.mark(stageLock, t)
	a := &applier{s: s}
	var clock form.HLC
	err := s.dbView(func(tx *bolt.Tx) error {
		t0 := timer.start()
		if err := fn(tx, a); err != nil {
			return err
		}
		timer.records(items, t0)
		clock = form.HLC(getU64(tx.Bucket(bucketMeta), metaClock))
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if len(a.records) == 0 && len(a.audit) == 0 && len(a.changes) == 0 && a.maxClock <= clock {
		_ = s.clock.Observe(a.maxClock)
		return nil
	}
	t1 := timer.start()
	fr := &frame{Records: a.records, pre: a.pre, Changes: a.changes, Clock: a.maxClock}
	if len(a.audit) > 0 {
		fr.Batch = &batchAudit{Seq: s.nextAudit, Time: s.now().UTC(), Items: a.audit}
	}
	if err := s.commitFrame(fr); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	timer.mark(stageCommit, t1)
	if fr.Batch != nil {
		s.nextAudit++
	}
	for _, r := range fr.Records {
		s.dirty[r.ID] = dirtyRecord{rec: r, lsn: fr.LSN}
	}
	for _, id := range fr.Changes {
		s.dirtyChanges[id] = fr.LSN
	}
	// Later local edits must order after everything merged in.
	_ = s.clock.Observe(a.maxClock)
	return nil
}

// maxUnapplied bounds the records merged batches hold journalled but not yet
// applied: a writer that outruns the applier (a rebuild pushing faster than bbolt
// takes it) waits for it, so the records held in memory for it stay bounded.
var maxUnapplied = 2 * applyRecords

// throttle waits while the journal holds more than maxUnapplied records the applier
// has not written, and forgets the writer's copies of what it has. The caller holds
// wmu, so trimJournal, which would forget them, cannot run meanwhile.
func (s *Store) throttle(ctx context.Context) error {
	s.amu.Lock()
	for s.unappliedRecords() > maxUnapplied && s.applyErr == nil && !s.closed && ctx.Err() == nil {
		s.readers++
		s.wake()
		s.acond.Wait()
		s.readers--
	}
	applied, applyErr, closed := s.applied, s.applyErr, s.closed
	s.amu.Unlock()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case closed:
		return fmt.Errorf("apply: %w", ErrClosed)
	case applyErr != nil:
		return fmt.Errorf("apply: replica: %w", applyErr)
	}
	s.forgetApplied(applied)
	return nil
}

// forgetApplied drops the writer's copies of records and change IDs applied up to
// applied: bbolt holds them, and the writer reads them there now. The caller holds
// wmu.
func (s *Store) forgetApplied(applied uint64) {
	if applied <= s.pruned {
		return
	}
	for id, d := range s.dirty {
		if d.lsn <= applied {
			delete(s.dirty, id)
		}
	}
	for id, lsn := range s.dirtyChanges {
		if lsn <= applied {
			delete(s.dirtyChanges, id)
		}
	}
	s.pruned = applied
}

// unappliedRecords counts the records of the frames waiting for the applier. The
// caller holds amu.
func (s *Store) unappliedRecords() int {
	n := 0
	for _, fr := range s.queue {
		n += len(fr.Records)
	}
	return n
}

// records adds the time since t0 to the transaction's record stage, less the time it
// waited for prepared items.
func (t *stageTimer) records(items *prepared, t0 time.Time) {
	if t == nil {
		return
	}
	var waited time.Duration
	if items != nil {
		waited = items.waited
	}
	t.ns[stageWait].Add(int64(waited))
	t.ns[stageRecords].Add(int64(time.Since(t0) - waited))
}

// updateBatch runs fn in a write transaction of its own once everything journalled
// is applied (purges, audit events), then writes the batch's audit entry and segment.
func (s *Store) updateBatch(ctx context.Context, items *prepared, fn func(*bolt.Tx, *applier) error) error {
	timer := applyTimer.Load()
	t := timer.start()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.barrier(ctx); err != nil {
		return err
	}
	t = timer.mark(stageLock, t)
	var inTx time.Duration
	// Everything journalled is in bbolt now, and this batch may change those records:
	// the writer's unapplied copies would be stale, and the next edit would undo it.
	clear(s.dirty)
	clear(s.dirtyChanges)
	nextAudit, lastHash := s.nextAudit, s.lastHash
	a := &applier{s: s}
	var signed []byte
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		t0 := timer.start()
		defer func() {
			if timer != nil {
				inTx = time.Since(t0)
			}
		}()
		if err := fn(tx, a); err != nil {
			return err
		}
		timer.records(items, t0)
		t1 := timer.start()
		if err := s.appendAuditTx(tx, a.audit...); err != nil {
			return err
		}
		t1 = timer.mark(stageAudit, t1)
		if err := writeSegment(tx, &a.seg); err != nil {
			return err
		}
		t1 = timer.mark(stageSegment, t1)
		defer timer.mark(stageCheckpoint, t1)
		m := tx.Bucket(bucketMeta)
		if a.maxClock > form.HLC(getU64(m, metaClock)) {
			if err := m.Put(metaClock, u64(uint64(a.maxClock))); err != nil {
				return err
			}
		}
		var err error
		signed, err = s.signCheckpoint(ctx, tx, false)
		return err
	})
	if timer != nil {
		timer.ns[stageCommit].Add(int64(time.Since(t) - inTx))
	}
	if err != nil {
		s.nextAudit, s.lastHash = nextAudit, lastHash
		return fmt.Errorf("apply: %w", err)
	}
	s.keepCheckpoint(ctx, signed)
	// Later local edits must order after everything merged in.
	_ = s.clock.Observe(a.maxClock)
	return nil
}

// incoming is one item of a batch, checked and prepared before the transaction.
type incoming struct {
	rec      form.Record // canonical values, maps of its own
	maxStamp form.HLC
	tpl      *form.Template
	err      error // why it is rejected
	// With ApplyOptions.CheckSubmitted: the record's check as it stands alone.
	aloneChecked bool
	aloneErr     error
	// Prepared for the common case of a record this replica does not hold yet (a
	// rebuild, a first pull): the record as it will be stored, and its audit diff.
	enc    []byte
	stored []byte // enc as the records bucket keeps it
	sum    [32]byte
	terms  []string
	title  string
	diff   []form.Diff
}

// prepared is a batch being checked and encoded on every core, in chunks, while the
// transaction consumes the chunks already done: the work before the database and the
// writes overlap.
type prepared struct {
	items  []incoming
	done   []chan struct{} // closed when its chunk is ready
	timer  *stageTimer
	waited time.Duration // the transaction waiting in item, when timed
}

const prepareChunk = 32

// prepare starts checking and encoding records. Nothing here touches the database, so
// it starts before the writer is taken.
func (s *Store) prepare(recs []form.Record, checkSubmitted bool) *prepared {
	p := &prepared{items: make([]incoming, len(recs)), timer: applyTimer.Load()}
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
					s.prepareOne(&p.items[i], recs[i], checkSubmitted, p.timer)
				}
				close(p.done[c])
			}
		}()
	}
	return p
}

// item waits for item i to be ready.
func (p *prepared) item(i int) *incoming {
	if p.timer == nil {
		<-p.done[i/prepareChunk]
		return &p.items[i]
	}
	select {
	case <-p.done[i/prepareChunk]:
	default:
		t0 := time.Now()
		<-p.done[i/prepareChunk]
		p.waited += time.Since(t0)
	}
	return &p.items[i]
}

// wait waits for every chunk, so no worker outlives the call.
func (p *prepared) wait() {
	for _, d := range p.done {
		<-d
	}
}

func (s *Store) prepareOne(it *incoming, in form.Record, checkSubmitted bool, timer *stageTimer) {
	t := timer.start()
	if it.err = in.CheckShapeForTemplate(); it.err != nil {
		return
	}
	if it.maxStamp, it.err = s.checkStamps(in); it.err != nil {
		return
	}
	t = timer.mark(stageShape, t)
	tpl, err := s.Template(form.TemplateKey{ID: in.Template, Version: in.Version})
	if err != nil {
		it.err = fmt.Errorf("record %s: %w", in.ID, err)
		return
	}
	it.tpl = tpl
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
	t = timer.mark(stageTemplate, t)
	if checkSubmitted {
		// The check of the record as it stands alone, for the common case of a record
		// the store lacks, done here on every core rather than in the transaction.
		it.aloneErr = checkSubmittedRecord(s, tpl, in, "")
		it.aloneChecked = true
		t = timer.mark(stageSubmitted, t)
	}
	// Merged into nothing, the record is itself, and every field is a change.
	it.diff = make([]form.Diff, 0, len(fields))
	for id, fv := range fields {
		it.diff = append(it.diff, form.Diff{Field: id, New: fv.Value, Stamp: fv.Stamp})
	}
	slices.SortFunc(it.diff, func(a, b form.Diff) int { return strings.Compare(a.Field, b.Field) })
	t = timer.mark(stageDiff, t)
	it.enc = in.Encode()
	it.sum = sha256.Sum256(it.enc)
	t = timer.mark(stageEncode, t)
	it.stored = packRecord(it.enc)
	t = timer.mark(stageCompress, t)
	it.terms = recordTerms(&in)
	t = timer.mark(stageTerms, t)
	// vals are the record's values (Check returns every one it was given, canonical):
	// what s.title would look up and gather again.
	it.title = titleOf(tpl, vals)
	timer.mark(stageTitle, t)
}

// apply merges one prepared item. Invalid input is a Rejected result, not an error; an
// error aborts the whole transaction (a storage failure).
func (a *applier) apply(tx *bolt.Tx, it *incoming, changeID string, who Attribution) (string, error) {
	s := a.s
	a.rev = ""
	if it.err != nil {
		return Rejected, it.err
	}
	in := it.rec
	if tx.Bucket(bucketPurged).Get([]byte(in.ID)) != nil {
		return Rejected, fmt.Errorf("record %s: %w", in.ID, ErrPurged)
	}
	cur, err := a.get(tx, in.ID)
	if errors.Is(err, ErrNotFound) {
		check := it.aloneErr
		if !it.aloneChecked {
			check = a.check(it, in, who)
		}
		if a.checkSubmitted && check != nil {
			return Rejected, check
		}
		a.maxClock = max(a.maxClock, it.maxStamp)
		a.put(in, &preEncoded{stored: it.stored, sum: it.sum, terms: it.terms, title: it.title})
		e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: who.Actor, Device: who.Device, Action: ActionApply,
			Record: in.ID, Change: changeID, Rev: hex.EncodeToString(it.sum[:16]), Diff: it.diff, Note: joinNote("new record", who.Note), Prev: s.lastHash}
		if err := a.appendAudit(tx, e); err != nil {
			return "", err
		}
		a.rev = hex.EncodeToString(it.sum[:16])
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
	if err := a.check(it, cur, who); err != nil {
		return Rejected, err
	}
	// Only what is accepted moves the clock: a rejected item changes nothing.
	a.maxClock = max(a.maxClock, it.maxStamp)
	// A newer stamp on an equal value changes the rev but not the values: compare revs.
	after := cur.Rev()
	a.rev = after
	if after == before {
		if err := a.auditLost(tx, in, lost, changeID, after, who); err != nil {
			return "", err
		}
		return Unchanged, nil
	}
	a.put(cur, nil)
	e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: who.Actor, Device: who.Device, Action: ActionApply,
		Record: in.ID, Change: changeID, Rev: after, Diff: changed, Note: who.Note, Prev: s.lastHash}
	if err := a.appendAudit(tx, e); err != nil {
		return "", err
	}
	if err := a.auditLost(tx, in, lost, changeID, after, who); err != nil {
		return "", err
	}
	return Applied, nil
}

// check refuses a record that is submitted after the merge but does not pass its
// template's check, as a device's Save refuses to submit it, when asked to.
func (a *applier) check(it *incoming, merged form.Record, who Attribution) error {
	if !a.checkSubmitted {
		return nil
	}
	return checkSubmittedRecord(a.s, it.tpl, merged, who.Actor)
}

// checkSubmittedRecord checks one record that is submitted and not deleted against its
// template; others pass.
func checkSubmittedRecord(s *Store, tpl *form.Template, rec form.Record, actor string) error {
	// A template without required answers or constraints passes every record: no
	// form to build.
	if tpl == nil || rec.Status() != form.StatusSubmitted || rec.Deleted() || !tpl.CanRefuse() {
		return nil
	}
	if err := tpl.NewForm(rec.Values(), s.formContext(rec.ID, actor)).Check(); err != nil {
		return fmt.Errorf("submitted record %s: %w", rec.ID, err)
	}
	return nil
}

// auditLost keeps incoming values that lost to newer local ones in the history.
// rev is the record's rev, which the conflict leaves as it is.
func (a *applier) auditLost(tx *bolt.Tx, in form.Record, lost []form.Diff, changeID, rev string, who Attribution) error {
	if len(lost) == 0 {
		return nil
	}
	s := a.s
	e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: who.Actor, Device: who.Device, Action: ActionConflict,
		Record: in.ID, Change: changeID, Rev: rev, Diff: lost, Note: joinNote("incoming values lost to newer edits (old = lost value, new = kept value)", who.Note), Prev: s.lastHash}
	return a.appendAudit(tx, e)
}

func joinNote(a, b string) string {
	switch {
	case b == "":
		return a
	case a == "":
		return b
	}
	return a + "; " + b
}

// appendAudit adds a record change to the batch's audit entry: a batch is one entry,
// written when it ends.
func (a *applier) appendAudit(tx *bolt.Tx, e AuditEntry) error {
	a.audit = append(a.audit, e)
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
