package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
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
)

// AuditEntry is one line of the append-only audit trail. Hash covers every other field
// and the previous entry's hash, so altering, inserting or dropping an entry breaks
// the chain.
type AuditEntry struct {
	Seq    uint64      `json:"seq"`
	Time   time.Time   `json:"time"`
	Actor  string      `json:"actor"`
	Device string      `json:"device"`
	Action string      `json:"action"`
	Record string      `json:"record,omitempty"`
	Change string      `json:"change,omitempty"`
	Diff   []form.Diff `json:"diff,omitempty"`
	Note   string      `json:"note,omitempty"`
	Prev   string      `json:"prev"`
	Hash   string      `json:"hash"`

	diffJSON []byte // Diff already encoded, when prepared ahead
}

// seal sets the entry's hash from its content and the previous hash.
func (e *AuditEntry) seal() {
	e.Hash = e.computeHash()
}

func (e AuditEntry) computeHash() string {
	e.Hash = ""
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

func putAudit(tx *bolt.Tx, e AuditEntry) error {
	return putAuditEncoded(tx, &e, e.encode(make([]byte, 0, 512)))
}

func putAuditEncoded(tx *bolt.Tx, e *AuditEntry, b []byte) error {
	if err := tx.Bucket(bucketAudit).Put(u64(e.Seq), b); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := treeAdd(tx, e.Seq, b); err != nil {
		return err
	}
	if e.Record != "" {
		if err := tx.Bucket(bucketAuditByRec).Put(auditByRecKey(e.Record, e.Seq), nil); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// History returns a record's audit entries, oldest first: who, when, which device and
// which fields changed from what to what, including remote values that lost.
func (s *Store) History(ctx context.Context, record string) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := []byte(record + "\x00")
		c := tx.Bucket(bucketAuditByRec).Cursor()
		audit := tx.Bucket(bucketAudit)
		for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
			v := audit.Get(k[len(prefix):])
			if v == nil {
				return fmt.Errorf("history %s: %w: audit entry %d missing", record, ErrCorrupt, binary.BigEndian.Uint64(k[len(prefix):]))
			}
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("history %s: %w", record, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// AuditProblem describes the first place the chain breaks.
type AuditProblem struct {
	Seq  uint64 // the entry at fault (or the first missing number)
	What string // "altered", "inserted", "missing", "unreadable"
	Msg  string
}

func (p *AuditProblem) Error() string {
	return fmt.Sprintf("audit entry %d %s: %s", p.Seq, p.What, p.Msg)
}

// VerifyAudit walks the whole chain and returns the first altered, inserted or missing
// entry as an *AuditProblem, or nil with the number of entries checked.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	n := 0
	var problem error
	err := s.view(ctx, func(tx *bolt.Tx) error {
		n, problem = verifyChain(tx)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, problem
}

func verifyChain(tx *bolt.Tx) (int, error) {
	prev := ""
	want := uint64(1)
	n := 0
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		var e AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return n, &AuditProblem{Seq: seq, What: "unreadable", Msg: err.Error()}
		}
		switch {
		case e.Seq != seq:
			return n, &AuditProblem{Seq: seq, What: "altered", Msg: fmt.Sprintf("stored under %d but numbered %d", seq, e.Seq)}
		case e.Hash != e.computeHash():
			return n, &AuditProblem{Seq: seq, What: "altered", Msg: "content does not match its hash"}
		case seq > want:
			return n, &AuditProblem{Seq: want, What: "missing", Msg: fmt.Sprintf("entries %d to %d are gone", want, seq-1)}
		case e.Prev != prev:
			// In sequence and self-consistent but not chained to its predecessor: it was
			// put in place of, or between, the original entries.
			return n, &AuditProblem{Seq: seq, What: "inserted", Msg: "does not follow the previous entry's hash"}
		}
		prev = e.Hash
		want = seq + 1
		n++
	}
	return n, nil
}

// Audit returns audit entries with Seq > after, oldest first, at most limit.
func (s *Store) Audit(ctx context.Context, after uint64, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Actions of events recorded with RecordEvent.
const (
	ActionPurgeRequest = "purge-request"
	ActionPurgeApprove = "purge-approve"
)

// RecordEvent appends an entry for something that happened to records without
// changing them (a purge requested or approved): one entry per record, or one with
// no record when records is empty.
func (s *Store) RecordEvent(ctx context.Context, actor, device, action, note string, records ...string) error {
	if len(records) == 0 {
		records = []string{""}
	}
	return s.applyBatch(ctx, func(tx *bolt.Tx, a *applier) error {
		for _, id := range records {
			e := AuditEntry{Seq: s.nextAudit, Time: s.now().UTC(), Actor: actor, Device: device, Action: action,
				Record: id, Note: note, Prev: s.lastHash}
			if err := a.appendAudit(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}
