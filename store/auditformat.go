package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/klauspost/compress/s2"
)

// How audit entries are stored.
//
// An entry's canonical bytes are JSON; its leaf in the audit tree is their
// tlog.RecordHash. Two kinds exist:
//
//   - An entry of an earlier release (and of today's journal frames before they are
//     applied): one record change with full copies of the old and new values, chained
//     by Prev/Hash ("{\"seq\":..."). It still reads and verifies, and its bytes are
//     never re-encoded, so its leaf stays what any checkpoint signed.
//   - An entry by reference ("{\"v\":2,..."): a number, a time and items, one per
//     record change of the batch that wrote it (a save, a pull, a push, a purge).
//     An item names who, which device, the action, the record, the change ID, the
//     record's rev after it, and the changed fields with the value each had BEFORE
//     and the new value's stamp. The new values are not copied: History takes each
//     from the next change of that field, or from the record as it is. A create
//     costs little more than its field names. Values that lost to newer edits
//     (conflict items) keep both sides, since the record never held them.
//
// The stored value is the canonical bytes as they are ('{') or compressed with s2
// behind one byte: auditS2 (any canonical JSON). The leaf covers the canonical bytes,
// never the compression, so an entry converted from one form to the other keeps its
// leaf.
const (
	auditS2 = 0x01
	// auditInline: below this size a value is stored as it is.
	auditInline = 96
)

// v2Entry is an entry by reference as stored.
type v2Entry struct {
	V     int       `json:"v"`
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Items []v2Item  `json:"items"`
}

type v2Item struct {
	Actor  string      `json:"actor"`
	Device string      `json:"device"`
	Action string      `json:"action"`
	Record string      `json:"record,omitempty"`
	Change string      `json:"change,omitempty"`
	Rev    string      `json:"rev,omitempty"`
	Note   string      `json:"note,omitempty"`
	Stamp  *form.Stamp `json:"stamp,omitempty"` // the stamp of every diff that has none
	Diff   []v2Diff    `json:"diff,omitempty"`
}

type v2Diff struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new,omitempty"` // conflict items only
	Stamp *form.Stamp     `json:"stamp,omitempty"`
}

// encodeV2 returns the canonical bytes of an entry by reference holding items (each
// an AuditEntry of one record change; Seq, Time, Prev and Hash are not used), and
// where each item's bytes are.
func encodeV2(seq uint64, t time.Time, items []AuditEntry) ([]byte, []itemSpan) {
	spans := make([]itemSpan, len(items))
	b := make([]byte, 0, 128+160*len(items))
	b = append(b, `{"v":2,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"time":`...)
	tb, err := t.UTC().MarshalJSON()
	if err != nil {
		tb = []byte(`"0001-01-01T00:00:00Z"`)
	}
	b = append(b, tb...)
	b = append(b, `,"items":[`...)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		start := len(b)
		b = appendV2Item(b, &items[i])
		spans[i] = itemSpan{uint32(start), uint32(len(b) - start)}
	}
	return append(b, "]}"...), spans
}

// itemSpan is where an item's bytes are in its entry's canonical bytes. A record's
// history key holds it (8 bytes), so History decodes one item of a batch's entry.
type itemSpan struct{ off, n uint32 }

func (sp itemSpan) value() []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(make([]byte, 0, 8), sp.off), sp.n)
}

// decodeItemAt decodes the item of a stored entry at the span a history key holds;
// ok is false when it is not an item about record (the caller decodes the entry).
func decodeItemAt(v, span []byte, record string) (av auditValue, ok bool) {
	canon, err := auditCanonical(v)
	if err != nil || len(span) != 8 || !bytes.HasPrefix(canon, []byte(`{"v":2,`)) {
		return auditValue{}, false
	}
	off, n := binary.BigEndian.Uint32(span), binary.BigEndian.Uint32(span[4:])
	head := bytes.Index(canon, []byte(`,"items":[`))
	if head < 0 || uint64(off)+uint64(n) > uint64(len(canon)) || int(off) < head {
		return auditValue{}, false
	}
	b := make([]byte, 0, head+int(n)+16)
	b = append(append(append(b, canon[:head]...), `,"items":[`...), canon[off:off+n]...)
	av, err = decodeCanonical(append(b, "]}"...))
	if err != nil || len(av.items) != 1 || av.items[0].Record != record {
		return auditValue{}, false
	}
	return av, true
}

func appendV2Item(b []byte, e *AuditEntry) []byte {
	b = append(b, `{"actor":`...)
	b = form.AppendString(b, e.Actor)
	b = append(b, `,"device":`...)
	b = form.AppendString(b, e.Device)
	b = append(b, `,"action":`...)
	b = form.AppendString(b, e.Action)
	for _, kv := range [...]struct{ k, v string }{{"record", e.Record}, {"change", e.Change}, {"rev", e.Rev}, {"note", e.Note}} {
		if kv.v != "" {
			b = append(b, `,"`...)
			b = append(b, kv.k...)
			b = append(b, `":`...)
			b = form.AppendString(b, kv.v)
		}
	}
	if len(e.Diff) == 0 {
		return append(b, '}')
	}
	// The stamp most diffs share (a save stamps every field alike) is written once.
	common := e.Diff[0].Stamp
	b = append(b, `,"stamp":`...)
	b = form.AppendStamp(b, common)
	full := e.Action == ActionConflict
	b = append(b, `,"diff":[`...)
	for i, d := range e.Diff {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = form.AppendString(b, d.Field)
		if len(d.Old) > 0 {
			b = append(b, `,"old":`...)
			b = form.AppendRaw(b, d.Old)
		}
		if full {
			b = append(b, `,"new":`...)
			b = form.AppendRaw(b, d.New)
		}
		if d.Stamp != common {
			b = append(b, `,"stamp":`...)
			b = form.AppendStamp(b, d.Stamp)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// storeAuditValue is the value stored for an entry's canonical bytes.
func storeAuditValue(canon []byte) []byte {
	if len(canon) < auditInline {
		return canon
	}
	enc := s2.EncodeBetter(nil, canon)
	if len(enc)+1 >= len(canon) {
		return canon
	}
	return append([]byte{auditS2}, enc...)
}

// auditCanonical returns the bytes an audit entry's leaf hash covers, from its
// stored value.
func auditCanonical(v []byte) ([]byte, error) {
	switch {
	case len(v) > 0 && v[0] == '{':
		return v, nil
	case len(v) > 1 && v[0] == auditS2:
		n, err := s2.DecodedLen(v[1:])
		if err != nil || n > 64<<20 {
			return nil, fmt.Errorf("a compressed audit entry that does not decode (%v)", err)
		}
		out, err := s2.Decode(make([]byte, n), v[1:])
		if err != nil {
			return nil, fmt.Errorf("a compressed audit entry that does not decode (%w)", err)
		}
		if len(out) == 0 || out[0] != '{' {
			return nil, errors.New("a compressed audit entry that holds no entry")
		}
		return out, nil
	}
	return nil, fmt.Errorf("an audit value of unknown form (%d bytes)", len(v))
}

// auditValue is a stored entry decoded: its items, one per record change, with Seq
// and Time set, and whether it is an entry of an earlier release (one item, chained
// by Prev/Hash).
type auditValue struct {
	seq    uint64
	legacy bool
	items  []AuditEntry
	full   []bool // per item: Diff holds the new values (else they are by reference)
}

// decodeAudit decodes a stored audit value.
func decodeAudit(v []byte) (auditValue, error) {
	canon, err := auditCanonical(v)
	if err != nil {
		return auditValue{}, err
	}
	return decodeCanonical(canon)
}

func decodeCanonical(canon []byte) (auditValue, error) {
	if !bytes.HasPrefix(canon, []byte(`{"v":`)) {
		var e AuditEntry
		if err := json.Unmarshal(canon, &e); err != nil {
			return auditValue{}, err
		}
		return auditValue{seq: e.Seq, legacy: true, items: []AuditEntry{e}, full: []bool{true}}, nil
	}
	var v2 v2Entry
	if err := json.Unmarshal(canon, &v2); err != nil {
		return auditValue{}, err
	}
	if v2.V != 2 {
		return auditValue{}, fmt.Errorf("an audit entry of version %d, newer than this program", v2.V)
	}
	out := auditValue{seq: v2.Seq, items: make([]AuditEntry, len(v2.Items)), full: make([]bool, len(v2.Items))}
	for i, it := range v2.Items {
		e := AuditEntry{Seq: v2.Seq, Time: v2.Time, Actor: it.Actor, Device: it.Device, Action: it.Action,
			Record: it.Record, Change: it.Change, Rev: it.Rev, Note: it.Note}
		out.full[i] = it.Action == ActionConflict
		for _, d := range it.Diff {
			st := d.Stamp
			if st == nil {
				st = it.Stamp
			}
			if st == nil {
				return auditValue{}, fmt.Errorf("item %d: field %q has no stamp", i, d.Field)
			}
			e.Diff = append(e.Diff, form.Diff{Field: d.Field, Old: d.Old, New: d.New, Stamp: *st})
		}
		out.items[i] = e
	}
	return out, nil
}

// decodeAuditFor decodes only the items of a stored entry that are about record: an
// entry of a batch holds a thousand records' changes, and a history needs one.
func decodeAuditFor(v []byte, record string) (auditValue, error) {
	canon, err := auditCanonical(v)
	if err != nil {
		return auditValue{}, err
	}
	if !bytes.HasPrefix(canon, []byte(`{"v":`)) {
		return decodeCanonical(canon)
	}
	var lazy struct {
		V     int               `json:"v"`
		Seq   uint64            `json:"seq"`
		Time  time.Time         `json:"time"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(canon, &lazy); err != nil {
		return auditValue{}, err
	}
	if lazy.V != 2 {
		return auditValue{}, fmt.Errorf("an audit entry of version %d, newer than this program", lazy.V)
	}
	needle := form.AppendString([]byte(`"record":`), record)
	kept := make([]json.RawMessage, 0, 1)
	for _, it := range lazy.Items {
		if bytes.Contains(it, needle) {
			kept = append(kept, it)
		}
	}
	// The few items kept are decoded as a whole entry is (a value may hold the needle
	// by chance: the decoded items are filtered by record).
	b := append([]byte(`{"v":2,"seq":`), strconv.AppendUint(nil, lazy.Seq, 10)...)
	tb, _ := lazy.Time.MarshalJSON()
	b = append(append(append(b, `,"time":`...), tb...), `,"items":[`...)
	for i, it := range kept {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	av, err := decodeCanonical(append(b, "]}"...))
	if err != nil {
		return auditValue{}, err
	}
	out := auditValue{seq: av.seq}
	for i, e := range av.items {
		if e.Record == record {
			out.items = append(out.items, e)
			out.full = append(out.full, av.full[i])
		}
	}
	return out, nil
}

// mentions reports whether the entry has an item about record.
func (a *auditValue) mentions(record string) bool {
	for _, e := range a.items {
		if e.Record == record {
			return true
		}
	}
	return false
}
