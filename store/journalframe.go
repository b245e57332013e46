package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fieldforms/fieldforms/form"
)

// A merged batch's frame is journalled compactly: its records as the records bucket
// stores them (s2 of the canonical encoding) and its audit entry as the trail stores
// it, rather than as JSON, which costs more to make than the merge itself. A save's
// frame, and every frame of the previous release, is JSON (it starts with '{').
//
//	0x02
//	uvarint n, n bytes: JSON of the frame's other fields (lsn, clock, changes, outbox, audit)
//	uvarint count, then per record: uvarint n, n bytes (the stored value)
//	uvarint seq (0: no audit entry); then uvarint n, n bytes (the entry's canonical
//	bytes), uvarint items, then per item: uvarint n, record ID, uvarint off, uvarint len
const batchFrameV2 = 0x02

// frameHead is what a compact frame keeps as JSON.
type frameHead struct {
	LSN     uint64       `json:"lsn"`
	Clock   form.HLC     `json:"clock"`
	Changes []string     `json:"changes,omitempty"`
	Outbox  []OutboxItem `json:"outbox,omitempty"`
	Audit   []AuditEntry `json:"audit,omitempty"`
}

// encodeFrame is the payload journalled for fr.
func encodeFrame(fr *frame) ([]byte, error) {
	if fr.Batch == nil && len(fr.Changes) == 0 && fr.pre == nil {
		return json.Marshal(fr)
	}
	head, err := json.Marshal(frameHead{LSN: fr.LSN, Clock: fr.Clock, Changes: fr.Changes, Outbox: fr.Outbox, Audit: fr.Audit})
	if err != nil {
		return nil, err
	}
	size := 32 + len(head)
	for i := range fr.Records {
		size += 8 + len(fr.stored(i).stored)
	}
	if b := fr.Batch; b != nil {
		b.encode()
		size += 16 + len(b.canon) + len(b.records)*48
	}
	buf := make([]byte, 0, size)
	buf = append(buf, batchFrameV2)
	buf = binary.AppendUvarint(buf, uint64(len(head)))
	buf = append(buf, head...)
	buf = binary.AppendUvarint(buf, uint64(len(fr.Records)))
	for i := range fr.Records {
		v := fr.pre[i].stored
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		buf = append(buf, v...)
	}
	b := fr.Batch
	if b == nil {
		return binary.AppendUvarint(buf, 0), nil
	}
	buf = binary.AppendUvarint(buf, b.Seq)
	buf = binary.AppendUvarint(buf, uint64(len(b.canon)))
	buf = append(buf, b.canon...)
	buf = binary.AppendUvarint(buf, uint64(len(b.records)))
	for i, r := range b.records {
		buf = binary.AppendUvarint(buf, uint64(len(r)))
		buf = append(buf, r...)
		buf = binary.AppendUvarint(buf, uint64(b.spans[i].off))
		buf = binary.AppendUvarint(buf, uint64(b.spans[i].n))
	}
	return buf, nil
}

// stored is record i's encoding, made now if the merge left none (a record merged
// with what the replica held): the work moves from the applier to the writer, and
// the journal keeps stored bytes either way.
func (fr *frame) stored(i int) *preEncoded {
	for len(fr.pre) < len(fr.Records) {
		fr.pre = append(fr.pre, nil)
	}
	if fr.pre[i] == nil {
		enc := fr.Records[i].Encode()
		fr.pre[i] = &preEncoded{stored: packRecord(enc), sum: sha256.Sum256(enc), noTerms: true}
	}
	return fr.pre[i]
}

// encode makes the entry's canonical bytes, once.
func (b *batchAudit) encode() {
	if b.canon != nil {
		return
	}
	b.canon, b.spans = encodeV2(b.Seq, b.Time, b.Items)
	b.records = make([]string, len(b.Items))
	for i := range b.Items {
		b.records[i] = b.Items[i].Record
	}
}

var errFrame = errors.New("malformed compact frame")

// decodeFrame reads a journalled payload of either layout.
func decodeFrame(p []byte) (*frame, error) {
	if len(p) == 0 || p[0] != batchFrameV2 {
		var fr frame
		if err := json.Unmarshal(p, &fr); err != nil {
			return nil, err
		}
		return &fr, nil
	}
	r := frameReader{b: p[1:]}
	var head frameHead
	if err := json.Unmarshal(r.bytes(), &head); err != nil || r.err != nil {
		return nil, fmt.Errorf("%w: header: %v", errFrame, errors.Join(r.err, err))
	}
	fr := &frame{LSN: head.LSN, Clock: head.Clock, Changes: head.Changes, Outbox: head.Outbox, Audit: head.Audit}
	n := r.count()
	for range n {
		v := r.bytes()
		if r.err != nil {
			break
		}
		enc, err := unpackRecord(v)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", errFrame, len(fr.Records), err)
		}
		rec, err := form.DecodeRecord(enc)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", errFrame, len(fr.Records), err)
		}
		fr.Records = append(fr.Records, rec)
		fr.pre = append(fr.pre, &preEncoded{stored: v, sum: sha256.Sum256(enc), noTerms: true})
	}
	if seq := r.uvarint(); seq != 0 && r.err == nil {
		b := &batchAudit{Seq: seq, canon: r.bytes()}
		items := r.count()
		for range items {
			rec := string(r.bytes())
			off, ln := r.uvarint(), r.uvarint()
			if r.err != nil {
				break
			}
			if off+ln > uint64(len(b.canon)) {
				r.err = errors.New("an audit item lies past its entry")
				break
			}
			b.records = append(b.records, rec)
			b.spans = append(b.spans, itemSpan{off: uint32(off), n: uint32(ln)})
		}
		fr.Batch = b
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errors.New("bytes after its end")
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errFrame, r.err)
	}
	return fr, nil
}

// frameReader reads a compact frame; the first fault sticks in err.
type frameReader struct {
	b   []byte
	err error
}

func (r *frameReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("cut short")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *frameReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errors.New("cut short")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// count reads a count no greater than the bytes left could hold.
func (r *frameReader) count() uint64 {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errors.New("a count past its end")
		return 0
	}
	return n
}
