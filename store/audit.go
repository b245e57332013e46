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
	"slices"
	"strconv"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// Audit actions.
const (
	ActionCreate   = "create"
	ActionEdit     = "edit"
	ActionSubmit   = "submit"
	ActionDelete   = "delete"
	ActionRestore  = "restore"
	ActionApply    = "apply"    // a remote change merged in
	ActionConflict = "conflict" // a remote value lost to a newer local one
	ActionPurge    = "purge"
	ActionRestamp  = "restamp"  // stamps of unsent changes replaced (Restamp)
	ActionRollback = "rollback" // the replica was put back to a snapshot (RestoreSnapshot)
)

// AuditEntry is one record change of the append-only audit trail: who, when, which
// device, which fields from what to what. Entries by reference (auditformat.go) hold
// a batch's changes under one Seq and have no Prev and Hash: the audit tree covers
// them. An entry of an earlier release has them: Hash covers every other field but
// Rev, and the previous entry's hash.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Device string    `json:"device"`
	Action string    `json:"action"`
	Record string    `json:"record,omitempty"`
	Change string    `json:"change,omitempty"`
	// Rev is the record's rev after the change: a record whose value differs from
	// the rev its latest entry records was changed outside the trail. Entries of
	// earlier releases have none. Rev is covered by the tree, not by Hash.
	Rev  string      `json:"rev,omitempty"`
	Diff []form.Diff `json:"diff,omitempty"`
	Note string      `json:"note,omitempty"`
	Prev string      `json:"prev"`
	Hash string      `json:"hash"`

	diffJSON []byte // Diff already encoded, when prepared ahead
}

// seal sets the entry's hash from its content and the previous hash.
func (e *AuditEntry) seal() {
	e.Hash = e.computeHash()
}

func (e AuditEntry) computeHash() string {
	e.Hash, e.Rev = "", ""
	sum := sha256.Sum256(e.encode(make([]byte, 0, 512)))
	return hex.EncodeToString(sum[:])
}

// encode appends the entry as json.Marshal writes it, without reflection: audit
// entries are written for every applied record, so this is on the bulk path.
func (e *AuditEntry) encode(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"time":`...)
	tb, err := e.Time.MarshalJSON()
	if err != nil {
		tb = []byte(`"0001-01-01T00:00:00Z"`)
	}
	b = append(b, tb...)
	b = append(b, `,"actor":`...)
	b = form.AppendString(b, e.Actor)
	b = append(b, `,"device":`...)
	b = form.AppendString(b, e.Device)
	b = append(b, `,"action":`...)
	b = form.AppendString(b, e.Action)
	if e.Record != "" {
		b = append(b, `,"record":`...)
		b = form.AppendString(b, e.Record)
	}
	if e.Change != "" {
		b = append(b, `,"change":`...)
		b = form.AppendString(b, e.Change)
	}
	if e.Rev != "" {
		b = append(b, `,"rev":`...)
		b = form.AppendString(b, e.Rev)
	}
	if len(e.Diff) > 0 {
		b = append(b, `,"diff":`...)
		if e.diffJSON != nil {
			b = append(b, e.diffJSON...)
		} else {
			b = appendDiffs(b, e.Diff)
		}
	}
	if e.Note != "" {
		b = append(b, `,"note":`...)
		b = form.AppendString(b, e.Note)
	}
	b = append(b, `,"prev":`...)
	b = form.AppendString(b, e.Prev)
	b = append(b, `,"hash":`...)
	b = form.AppendString(b, e.Hash)
	return append(b, '}')
}

// appendDiffs appends a diff list as json.Marshal writes it.
func appendDiffs(b []byte, diffs []form.Diff) []byte {
	b = append(b, '[')
	for i, d := range diffs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = form.AppendString(b, d.Field)
		if len(d.Old) > 0 {
			b = append(b, `,"old":`...)
			b = form.AppendRaw(b, d.Old)
		}
		b = append(b, `,"new":`...)
		b = form.AppendRaw(b, d.New)
		b = append(b, `,"stamp":`...)
		b = form.AppendStamp(b, d.Stamp)
		b = append(b, '}')
	}
	return append(b, ']')
}

// sealEncode sets the entry's hash and returns its encoding, encoding it once: the
// hash is the last key, so the hash of the entry with an empty hash is spliced in.
func (e *AuditEntry) sealEncode() []byte {
	if e.Rev != "" {
		e.Hash = e.computeHash()
		return e.encode(make([]byte, 0, 512+len(e.diffJSON)))
	}
	e.Hash = ""
	b := e.encode(make([]byte, 0, 512+len(e.diffJSON)))
	sum := sha256.Sum256(b)
	e.Hash = hex.EncodeToString(sum[:])
	b = append(b[:len(b)-2], e.Hash...) // drop `"}` of `"hash":""}`
	return append(b, `"}`...)
}

func auditByRecKey(record string, seq uint64) []byte {
	return append([]byte(record+"\x00"), u64(seq)...)
}

// putAudit writes an audit entry of a journal frame (one record change) as an entry
// by reference. The same frame makes the same bytes, so a replay is idempotent.
func putAudit(tx *bolt.Tx, e AuditEntry) error {
	canon, spans := encodeV2(e.Seq, e.Time, []AuditEntry{e})
	return putAuditStored(tx, e.Seq, storeAuditValue(canon), canon, []string{e.Record}, spans)
}

// putAuditStored writes entry seq, stored as v with canonical bytes canon, into the
// trail, its tree and the histories of records (with where each record's item is,
// when spans are known and the record has one item).
func putAuditStored(tx *bolt.Tx, seq uint64, v, canon []byte, records []string, spans []itemSpan) error {
	if err := tx.Bucket(bucketAudit).Put(u64(seq), v); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := treeAdd(tx, seq, canon); err != nil {
		return err
	}
	byRec := tx.Bucket(bucketAuditByRec)
	// How often each record appears in the entry (a batch of a thousand records has a
	// thousand items: no search of the list for each).
	count := make(map[string]int, len(records))
	for _, r := range records {
		count[r]++
	}
	for i, r := range records {
		n := count[r]
		if r == "" || n == 0 {
			continue // no record, or its link is written
		}
		count[r] = 0
		var at []byte
		if spans != nil && n == 1 {
			at = spans[i].value()
		}
		if err := byRec.Put(auditByRecKey(r, seq), at); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// appendAuditTx writes the next audit entry, one entry by reference holding items
// (one per record change), in tx. The caller holds the writer and puts nextAudit back
// if tx fails.
func (s *Store) appendAuditTx(tx *bolt.Tx, items ...AuditEntry) error {
	if len(items) == 0 {
		return nil
	}
	seq := s.nextAudit
	canon, spans := encodeV2(seq, s.now(), items)
	records := make([]string, len(items))
	for i := range items {
		records[i] = items[i].Record
	}
	if err := putAuditStored(tx, seq, storeAuditValue(canon), canon, records, spans); err != nil {
		return err
	}
	s.nextAudit++
	return nil
}

// History returns a record's audit entries, oldest first: who, when, which device and
// which fields changed from what to what, including remote values that lost (action
// "conflict": Old is the value that lost, New the one kept). Entries are stored by
// reference: a change's new value is the value the field had before its next
// change, or has now. After a purge those of the last changes are gone (null).
func (s *Store) History(ctx context.Context, record string) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = historyTx(tx, record, nil)
		return err
	})
	return out, err
}

// historyTx reads record's history; cache (may be nil) keeps entries decoded by
// earlier calls, which a batch's entry shares with many records.
func historyTx(tx *bolt.Tx, record string, cache map[uint64]auditValue) ([]AuditEntry, error) {
	var out []AuditEntry
	var full []bool
	prefix := []byte(record + "\x00")
	c := tx.Bucket(bucketAuditByRec).Cursor()
	audit := tx.Bucket(bucketAudit)
	for k, at := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && bytes.HasPrefix(k, prefix); k, at = c.Next() {
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		v := audit.Get(k[len(prefix):])
		if v == nil {
			return nil, fmt.Errorf("history %s: %w: audit entry %d missing", record, ErrCorrupt, seq)
		}
		av, ok := cache[seq]
		if !ok && cache == nil && len(at) == 8 {
			av, ok = decodeItemAt(v, at, record)
		}
		if !ok {
			var err error
			if cache == nil {
				av, err = decodeAuditFor(v, record)
			} else {
				av, err = decodeAudit(v)
			}
			if err != nil {
				return nil, fmt.Errorf("history %s: audit entry %d: %w", record, seq, err)
			}
			if cache != nil {
				cache[seq] = av
			}
		}
		for i, e := range av.items {
			if e.Record == record {
				out = append(out, e)
				full = append(full, av.full[i])
			}
		}
	}
	// The new values, from the newest change back: each change's new value is what
	// the field held before the next change, or holds now.
	cur := map[string]json.RawMessage{}
	if r, err := getRecord(tx, record); err == nil {
		for id, fv := range r.Fields {
			cur[id] = fv.Value
		}
	}
	for i := len(out) - 1; i >= 0; i-- {
		e := &out[i]
		if e.Action == ActionConflict {
			continue // the record kept its values
		}
		diffs := slices.Clone(e.Diff)
		for j := range diffs {
			d := &diffs[j]
			if !full[i] {
				d.New = cur[d.Field]
			}
			if len(d.Old) > 0 {
				cur[d.Field] = d.Old
			} else {
				delete(cur, d.Field)
			}
		}
		e.Diff = diffs
	}
	return out, nil
}

// decodeAuditValue decodes a stored audit value's first item.
func decodeAuditValue(v []byte) (AuditEntry, error) {
	av, err := decodeAudit(v)
	if err != nil {
		return AuditEntry{}, err
	}
	if len(av.items) == 0 {
		return AuditEntry{Seq: av.seq}, nil
	}
	return av.items[0], nil
}

// lastAuditHash is the chain hash a new entry links to after the stored entry v:
// an entry of an earlier release's chain names its own; an entry by reference (the
// tree holds the trail together) has none. An entry of a batch lists a thousand
// records' changes, so one by reference is only checked to be JSON, not decoded.
func lastAuditHash(v []byte) (string, error) {
	canon, err := auditCanonical(v)
	if err != nil {
		return "", err
	}
	if bytes.HasPrefix(canon, []byte(`{"v":2,`)) {
		if !json.Valid(canon) {
			return "", errors.New("an audit entry that is not JSON")
		}
		return "", nil
	}
	e, err := decodeAuditValue(v)
	return e.Hash, err
}

// AuditProblem describes the first place the audit trail breaks.
type AuditProblem struct {
	Seq uint64 // the entry at fault (or the first missing number)
	// What: "altered", "inserted", "missing", "unreadable" (an entry); "cut" (the
	// trail ends below its tree or a signed checkpoint); "rewritten" (the tree differs
	// from a signed checkpoint); "checkpoint" (a checkpoint's signature does not
	// verify); "index" (a record's history lists another record's entry, or misses
	// one); "record" (a record differs from the rev its latest entry records).
	What string
	Msg  string
}

func (p *AuditProblem) Error() string {
	switch p.What {
	case "cut":
		return "audit cut: " + p.Msg
	case "rewritten":
		return "audit rewritten: " + p.Msg
	case "checkpoint":
		return "checkpoint signature invalid: " + p.Msg
	case "index":
		return "audit index: " + p.Msg
	case "record":
		return "record changed outside the audit trail: " + p.Msg
	}
	return fmt.Sprintf("audit entry %d %s: %s", p.Seq, p.What, p.Msg)
}

// VerifyAudit checks the whole audit trail and returns the first problem as an
// *AuditProblem, or nil with the number of entries checked: every entry decodes, is
// numbered in sequence and hashes to its leaf; the tree's stored hashes are those of
// the leaves; the signed checkpoints (the replica's and the one kept apart) verify,
// and the tree at each one's size has its root; each record's history lists only its
// own entries; and each record's rev is the one its latest entry records.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	n := 0
	var problem *AuditProblem
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, problem, err = s.verifyAudit(ctx, tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("verify audit: %w", err)
	}
	if problem != nil {
		return n, problem
	}
	return n, nil
}

// verifyAudit returns the number of entries checked and the first problem found;
// err is a failure to check.
func (s *Store) verifyAudit(ctx context.Context, tx *bolt.Tx) (int, *AuditProblem, error) {
	n, latest, mentioned, problem := verifyTrail(tx)
	if problem != nil {
		return n, problem, nil
	}
	if p := s.verifyCheckpoints(ctx, tx, int64(n)); p != nil {
		return n, p, nil
	}
	if p := verifyIndex(tx, mentioned); p != nil {
		return n, p, nil
	}
	// Each live record is what its latest entry says it became.
	c := tx.Bucket(bucketRecords).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		want, ok := latest[string(k)]
		if !ok || want.rev == "" {
			continue // an entry of an earlier release, which records no rev
		}
		r, err := decodeStored(tx, k, v)
		if err != nil {
			return n, &AuditProblem{Seq: want.seq, What: "record", Msg: fmt.Sprintf("record %s: %v", k, err)}, nil
		}
		if got := r.Rev(); got != want.rev {
			return n, &AuditProblem{Seq: want.seq, What: "record", Msg: fmt.Sprintf("record %s has rev %s but its latest audit entry %d records rev %s", k, got, want.seq, want.rev)}, nil
		}
	}
	return n, nil, nil
}

type revAt struct {
	seq uint64
	rev string
}

// verifyTrail walks the entries and the tree. It returns the number of entries, the
// rev each record's latest entry records, the history keys the entries call for, and
// the first problem.
func verifyTrail(tx *bolt.Tx) (int, map[string]revAt, map[string]struct{}, *AuditProblem) {
	latest := map[string]revAt{}
	mentioned := map[string]struct{}{}
	prev, prevLegacy := "", true
	want := uint64(1)
	n := 0
	tree := treeReader{tx.Bucket(bucketAuditTree)}
	size := treeSize(tx)
	byRec := tx.Bucket(bucketAuditByRec)
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 {
			return n, latest, mentioned, &AuditProblem{Seq: want, What: "unreadable", Msg: fmt.Sprintf("a key of %d bytes among the entries", len(k))}
		}
		seq := binary.BigEndian.Uint64(k)
		if seq > want {
			return n, latest, mentioned, &AuditProblem{Seq: want, What: "missing", Msg: gone(want, seq-1)}
		}
		canon, err := auditCanonical(v)
		if err != nil {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "unreadable", Msg: err.Error()}
		}
		av, err := decodeCanonical(canon)
		if err != nil {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "unreadable", Msg: err.Error()}
		}
		if av.seq != seq {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "altered", Msg: fmt.Sprintf("stored under %d but numbered %d", seq, av.seq)}
		}
		if av.legacy {
			// An entry of an earlier release is chained to the one before it.
			e := av.items[0]
			switch {
			case e.Hash != e.computeHash():
				return n, latest, mentioned, &AuditProblem{Seq: seq, What: "altered", Msg: "content does not match its hash"}
			case prevLegacy && e.Prev != prev:
				// In sequence and self-consistent but not chained to its predecessor:
				// it was put in place of, or between, the original entries.
				return n, latest, mentioned, &AuditProblem{Seq: seq, What: "inserted", Msg: "does not follow the previous entry's hash"}
			}
			prev = e.Hash
		}
		prevLegacy = av.legacy
		if int64(seq) > size {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "missing", Msg: fmt.Sprintf("not in the audit tree, which ends at entry %d", size)}
		}
		// The leaf, and every stored hash it completes, as the leaves make them.
		hashes, err := tlog.StoredHashes(int64(seq-1), canon, tree)
		if err != nil {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "altered", Msg: fmt.Sprintf("the tree over it cannot be read (%v)", err)}
		}
		stored, err := tree.ReadHashes(storedRange(int64(seq-1), len(hashes)))
		if err != nil {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "altered", Msg: fmt.Sprintf("the tree over it cannot be read (%v)", err)}
		}
		if stored[0] != hashes[0] {
			return n, latest, mentioned, &AuditProblem{Seq: seq, What: "altered", Msg: "its bytes do not hash to its leaf in the audit tree"}
		}
		for i := 1; i < len(hashes); i++ {
			if stored[i] != hashes[i] {
				return n, latest, mentioned, &AuditProblem{Seq: seq, What: "altered", Msg: "the audit tree's hashes over it were changed"}
			}
		}
		for _, e := range av.items {
			if e.Record == "" {
				continue
			}
			key := auditByRecKey(e.Record, seq)
			mentioned[string(key)] = struct{}{}
			if !bucketHas(byRec, key) {
				return n, latest, mentioned, &AuditProblem{Seq: seq, What: "index", Msg: fmt.Sprintf("audit entry %d is about record %s but missing from its history", seq, e.Record)}
			}
			if e.Rev != "" || len(e.Diff) > 0 && e.Action != ActionConflict {
				latest[e.Record] = revAt{seq, e.Rev}
			}
		}
		want = seq + 1
		n++
	}
	if size > int64(n) {
		return n, latest, mentioned, &AuditProblem{Seq: uint64(n) + 1, What: "cut", Msg: fmt.Sprintf("the trail ends at entry %d but its tree holds %d entries", n, size)}
	}
	return n, latest, mentioned, nil
}

// storedRange is the stored hash indexes StoredHashes returns for leaf n.
func storedRange(n int64, count int) []int64 {
	ix := tlog.StoredHashIndex(0, n)
	out := make([]int64, count)
	for i := range out {
		out[i] = ix + int64(i)
	}
	return out
}

// verifyCheckpoints checks the replica's checkpoint and the one kept apart against a
// trail of n entries whose tree was checked.
func (s *Store) verifyCheckpoints(ctx context.Context, tx *bolt.Tx, n int64) *AuditProblem {
	cp := s.cps.cp
	if cp == nil {
		return nil
	}
	apart, err := cp.Latest(ctx, s.device)
	if err != nil {
		return &AuditProblem{What: "checkpoint", Msg: fmt.Sprintf("the checkpoint kept apart cannot be read: %v", err)}
	}
	copies := []struct {
		where  string
		signed []byte
	}{{"the replica's checkpoint", tx.Bucket(bucketMeta).Get(metaCheckpoint)}, {"the checkpoint kept apart", apart}}
	for _, c := range copies {
		if len(c.signed) == 0 {
			continue
		}
		t, err := cp.Verify(ctx, s.device, c.signed)
		if errors.Is(err, ErrNoCheckpointKey) {
			// Checked where the key is kept; here it cannot be, which is no sign of
			// tampering.
			continue
		}
		if err != nil {
			return &AuditProblem{What: "checkpoint", Msg: fmt.Sprintf("%s: %v", c.where, err)}
		}
		if t.N > n {
			return &AuditProblem{Seq: uint64(n) + 1, What: "cut", Msg: fmt.Sprintf("the trail ends at entry %d but %s is signed at %d", n, c.where, t.N)}
		}
		h, err := tlog.TreeHash(t.N, treeReader{tx.Bucket(bucketAuditTree)})
		if err != nil || h != t.Hash {
			return &AuditProblem{Seq: 1, What: "rewritten", Msg: fmt.Sprintf("the trail's first %d entries are not those %s signs", t.N, c.where)}
		}
	}
	return nil
}

// verifyIndex checks that each record's history lists only entries about that
// record, mentioned holding the keys the entries call for (verifyTrail checks that
// it lists every one).
func verifyIndex(tx *bolt.Tx, mentioned map[string]struct{}) *AuditProblem {
	c := tx.Bucket(bucketAuditByRec).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) < 9 || k[len(k)-9] != 0 {
			return &AuditProblem{What: "index", Msg: fmt.Sprintf("a malformed key %q", k)}
		}
		if _, ok := mentioned[string(k)]; !ok {
			rec, seq := string(k[:len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:])
			return &AuditProblem{Seq: seq, What: "index", Msg: fmt.Sprintf("record %s lists audit entry %d, which is not about it", rec, seq)}
		}
	}
	return nil
}

// bucketHas reports whether key is in b (values may be empty).
func bucketHas(b *bolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return k != nil && string(k) == string(key)
}

// Audit returns the items of the audit entries with Seq > after, oldest first, with
// new values as History gives them: an entry of a batch holds an item per record
// change, each an AuditEntry with the entry's Seq. It stops at the first entry that
// brings the items to limit or more (limit <= 0: all), so a page holds whole entries
// and the next page starts after the last Seq.
func (s *Store) Audit(ctx context.Context, after uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = auditItems(tx, after, limit)
		return err
	})
	return out, err
}

func auditItems(tx *bolt.Tx, after uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := func() error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			av, err := decodeAudit(v)
			if err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			out = append(out, av.items...)
		}
		// New values by reference come from each record's history.
		hist := map[string][]AuditEntry{}
		cache := map[uint64]auditValue{}
		for i := range out {
			r := out[i].Record
			if r == "" || len(out[i].Diff) == 0 {
				continue
			}
			h, ok := hist[r]
			if !ok {
				var err error
				if h, err = historyTx(tx, r, cache); err != nil {
					return err
				}
			}
			for len(h) > 0 && h[0].Seq < out[i].Seq {
				h = h[1:]
			}
			if len(h) > 0 && h[0].Seq == out[i].Seq {
				out[i].Diff = h[0].Diff
				h = h[1:]
			}
			hist[r] = h
		}
		return nil
	}()
	return out, err
}

// Actions of events recorded with RecordEvent.
const (
	ActionPurgeRequest = "purge-request"
	ActionPurgeApprove = "purge-approve"
)

// RecordEvent appends an entry for something that happened to records without
// changing them (a purge requested or approved): one entry, with an item per record,
// or one with no record when records is empty.
func (s *Store) RecordEvent(ctx context.Context, actor, device, action, note string, records ...string) error {
	if len(records) == 0 {
		records = []string{""}
	}
	return s.updateBatch(ctx, nil, func(tx *bolt.Tx, a *applier) error {
		for _, id := range records {
			e := AuditEntry{Time: s.now().UTC(), Actor: actor, Device: device, Action: action, Record: id, Note: note}
			if err := a.appendAudit(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

func gone(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("entry %d is gone", from)
	}
	return fmt.Sprintf("entries %d to %d are gone", from, to)
}
