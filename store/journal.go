package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// A frame is what one save journals: everything it changes, applied atomically.
type frame struct {
	LSN     uint64        `json:"lsn"`
	Records []form.Record `json:"records,omitempty"`
	Outbox  []OutboxItem  `json:"outbox,omitempty"`
	Audit   []AuditEntry  `json:"audit,omitempty"`
	Clock   form.HLC      `json:"clock"`
}

// journal is an append-only file of frames: u32 length, u32 CRC-32C, payload.
type journal struct {
	f    *os.File
	size int64
	log  *slog.Logger
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const maxFrame = 64 << 20

// openJournal reads every whole frame. A torn or unreadable tail is a save that was
// never acknowledged (its fsync did not return), so it is cut off; a bad frame
// followed by good data is corruption and an error.
func openJournal(path string, log *slog.Logger) (*journal, []*frame, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	var frames []*frame
	off := 0
	for off < len(data) {
		fr, n, ferr := readFrame(data[off:])
		if ferr != nil {
			if off+n < len(data) && hasFrameAfter(data[off+8:]) {
				f.Close()
				return nil, nil, fmt.Errorf("journal %s at byte %d: %w: %v", path, off, ErrCorrupt, ferr)
			}
			log.Warn("journal: dropping a torn entry at the end", "offset", off, "bytes", len(data)-off)
			break
		}
		frames = append(frames, fr)
		off += n
	}
	return &journal{f: f, size: int64(off), log: log}, frames, nil
}

func readFrame(b []byte) (*frame, int, error) {
	if len(b) < 8 {
		return nil, len(b), errors.New("short header")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > maxFrame || 8+n > len(b) {
		return nil, len(b), errors.New("short entry")
	}
	payload := b[8 : 8+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 8 + n, errors.New("checksum mismatch")
	}
	var fr frame
	if err := json.Unmarshal(payload, &fr); err != nil {
		return nil, 8 + n, fmt.Errorf("entry: %w", err)
	}
	return &fr, 8 + n, nil
}

// hasFrameAfter reports whether a valid frame starts anywhere in b: a bad frame that
// is followed by a good one cannot be a torn tail.
func hasFrameAfter(b []byte) bool {
	for i := 0; i+8 <= len(b); i++ {
		if _, _, err := readFrame(b[i:]); err == nil {
			return true
		}
	}
	return false
}

// append writes one frame and fsyncs it. On a failed write the file is cut back, so a
// half-written frame is not followed by later ones.
func (j *journal) append(payload []byte) error {
	buf := make([]byte, 8+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(payload, castagnoli))
	copy(buf[8:], payload)
	if _, err := j.f.WriteAt(buf, j.size); err != nil {
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("journal: write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		_ = j.f.Truncate(j.size)
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.size += int64(len(buf))
	return nil
}

// reset empties the journal once everything in it is applied to bbolt.
func (j *journal) reset() error {
	if j.size == 0 {
		if st, err := j.f.Stat(); err == nil && st.Size() == 0 {
			return nil
		}
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("journal: truncate: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.size = 0
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// journalLimit is the size after which the applier empties the journal at the next
// moment when everything is applied.
const journalLimit = 4 << 20

// applier moves journalled frames into bbolt in batches, in order.
func (s *Store) applier() {
	defer close(s.done)
	backoff := 10 * time.Millisecond
	for {
		s.amu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.acond.Wait()
		}
		if len(s.queue) == 0 && s.closed {
			s.amu.Unlock()
			return
		}
		batch := s.queue
		s.amu.Unlock()

		err := s.db.Update(func(tx *bolt.Tx) error { return s.applyFrames(tx, batch) })
		s.amu.Lock()
		if err != nil {
			// The frames are safe in the journal; reads fail until they are applied.
			s.applyErr = err
			s.acond.Broadcast()
			closed := s.closed
			s.amu.Unlock()
			s.log.Error("applying saves failed; will retry", "err", err)
			if closed {
				return
			}
			time.Sleep(backoff)
			if backoff < 5*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 10 * time.Millisecond
		s.applyErr = nil
		s.queue = s.queue[len(batch):]
		s.applied = batch[len(batch)-1].LSN
		s.acond.Broadcast()
		s.amu.Unlock()
		s.trimJournal()
	}
}

// trimJournal empties a large journal when the applier has caught up. It takes the
// writer, so no save appends meanwhile.
func (s *Store) trimJournal() {
	if !s.wmu.TryLock() {
		return
	}
	defer s.wmu.Unlock()
	s.amu.Lock()
	idle := s.applied == s.written
	s.amu.Unlock()
	if !idle {
		return
	}
	for id, d := range s.dirty {
		if d.lsn <= s.applied {
			delete(s.dirty, id)
		}
	}
	if s.journal.size < journalLimit {
		return
	}
	if err := s.journal.reset(); err != nil {
		s.log.Error("emptying the journal failed", "err", err)
	}
}

// applyFrames writes frames into bbolt: records with their indexes, outbox entries,
// audit entries, and the LSN reached. It is idempotent, as replay needs.
func (s *Store) applyFrames(tx *bolt.Tx, frames []*frame) error {
	var seg segmentBuilder
	var clock form.HLC
	for _, fr := range frames {
		for i := range fr.Records {
			if err := s.putRecord(tx, &fr.Records[i], &seg); err != nil {
				return err
			}
		}
		for _, o := range fr.Outbox {
			b, err := json.Marshal(o.Change)
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if err := tx.Bucket(bucketOutbox).Put(u64(o.Seq), b); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
		for _, e := range fr.Audit {
			if err := putAudit(tx, e); err != nil {
				return err
			}
		}
		if fr.Clock > clock {
			clock = fr.Clock
		}
	}
	if err := writeSegment(tx, &seg); err != nil {
		return err
	}
	m := tx.Bucket(bucketMeta)
	if clock > form.HLC(getU64(m, metaClock)) {
		if err := m.Put(metaClock, u64(uint64(clock))); err != nil {
			return err
		}
	}
	return m.Put(metaApplied, u64(frames[len(frames)-1].LSN))
}

// commitFrame journals a frame and queues it for the applier. The caller holds wmu.
func (s *Store) commitFrame(fr *frame) error {
	fr.LSN = s.nextLSN
	payload, err := json.Marshal(fr)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	if err := s.journal.append(payload); err != nil {
		return err
	}
	s.nextLSN++
	s.amu.Lock()
	s.queue = append(s.queue, fr)
	s.written = fr.LSN
	s.acond.Broadcast()
	s.amu.Unlock()
	return nil
}
