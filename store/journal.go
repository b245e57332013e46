package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// A frame is what one save or one merged batch journals: everything it changes,
// applied atomically. A merged batch (ApplyChanges, ApplyRecords) carries its merged
// records, the change IDs it applied and its one audit entry; frames of the previous
// release (a save's only) have neither and replay as they did.
type frame struct {
	LSN     uint64        `json:"lsn"`
	Records []form.Record `json:"records,omitempty"`
	Outbox  []OutboxItem  `json:"outbox,omitempty"`
	Audit   []AuditEntry  `json:"audit,omitempty"`
	Clock   form.HLC      `json:"clock"`
	// Changes are the change IDs a merged batch applied.
	Changes []string `json:"changes,omitempty"`
	// Batch is a merged batch's audit entry.
	Batch *batchAudit `json:"batch,omitempty"`
	// State are keys SetState writes (a nil value deletes).
	State map[string][]byte `json:"state,omitempty"`

	// pre holds, for the applier in this process, each record's encoding made while
	// merging (nil for a record to encode again); never journalled.
	pre []*preEncoded
}

// batchAudit is a merged batch's one audit entry, stored by reference (auditformat.go).
type batchAudit struct {
	Seq   uint64       `json:"seq"`
	Time  time.Time    `json:"time"`
	Items []AuditEntry `json:"items"`

	// As the trail stores it (a compact frame journals these, not Items).
	canon   []byte
	spans   []itemSpan
	records []string
}

// preEncoded is a record as putEncoded writes it.
type preEncoded struct {
	stored  []byte
	sum     [32]byte
	terms   []string
	title   string
	noTerms bool // terms and title are still to be made
}

// journal is a file of frames that is reused rather than grown: it is filled with
// zeros ahead of use, so appending a frame overwrites blocks the file already has and
// the fsync needs to flush only the data, not the file system's metadata.
//
//	header (4096 bytes): "FFJ1", u64 generation, u32 CRC-32C of the two
//	frames from 4096:    u32 length, u32 CRC-32C of generation+payload, u64 generation, payload
//
// Emptying the journal bumps the generation; frames of an older generation, left in
// the file, end the log like zeros do.
type journal struct {
	f     *os.File
	gen   uint64
	size  int64 // where the next frame goes
	alloc int64 // bytes of the file that exist (zero-filled beyond size)
	junk  bool  // something other than zeros follows size: reset must start a new generation
	// notice is damage found at open that put no save at stake, for verify.
	notice string
	log    *slog.Logger
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	maxFrame       = 64 << 20
	journalHeader  = 4096
	journalChunk   = 4 << 20
	frameHeaderLen = 16
)

var journalMagic = []byte("FFJ1")

// openJournal opens the journal of a replica whose database holds every save up to
// applied, and returns the frames it holds beyond that, in order. clean says the
// database holds every save the journal ever held (the replica was closed cleanly,
// or is new), so no damage to the journal can lose one. copyInPlace says the database
// lies in a folder never opened as a replica (a restored backup): a missing journal
// is expected.
//
// A torn frame at the end (a save whose fsync never returned, so never acknowledged)
// is dropped with a warning. Any other damage that may lose a save beyond applied is
// refused with a *JournalDamage naming it; see scanJournal and assessJournal for the
// rules. Damage that loses nothing is logged. A refused journal is left as it was.
func openJournal(path string, log *slog.Logger, now time.Time, applied uint64, clean, copyInPlace bool) (*journal, []*frame, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		if !clean && !copyInPlace {
			return nil, nil, &JournalDamage{Path: path, Offset: -1, What: "is missing and the replica was not closed cleanly",
				Applied: applied, Unknown: true}
		}
		return newJournal(path, 1)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	data, err := readWhole(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	sc := scanJournal(data)
	fd := assessJournal(path, sc, applied)
	if fd.atStake {
		// A clean replica's journal holds nothing the database lacks; when it does
		// (a database older than its journal), the mark does not hold either.
		if !clean || len(fd.replay) > 0 {
			f.Close()
			return nil, nil, fd.damage
		}
		// Every save is in the database: the damage loses nothing. The damaged
		// file is kept for a person to look at.
		f.Close()
		kept, err := setAside(path, now.UTC().Format(stampLayout))
		if err != nil {
			return nil, nil, fmt.Errorf("journal: %w", err)
		}
		notice := fmt.Sprintf("%s (no save was at stake: the replica was closed cleanly); kept as %s, a new journal started",
			fd.damage.describe(), kept)
		log.Warn("journal: "+notice, "file", path, "offset", fd.damage.Offset)
		j, frames, err := newJournal(path, sc.gen+1)
		if j != nil {
			j.notice = notice
		}
		return j, frames, err
	}
	var notice string
	if fd.damage != nil {
		notice = fd.damage.describe() + " (no save at stake: the database holds every save it touches)"
		log.Warn("journal: "+notice, "file", path, "offset", fd.damage.Offset)
	}
	if sc.torn != "" {
		size := "unknown"
		if sc.tornSize >= 0 {
			size = fmt.Sprint(sc.tornSize)
		}
		log.Warn("journal: dropping a torn entry at the end (a save that was never acknowledged)",
			"file", path, "offset", sc.tailOff, "size", size, "what", sc.torn)
	}
	j := &journal{f: f, log: log, alloc: int64(len(data)), gen: sc.gen, size: journalHeader, notice: notice}
	if n := len(sc.frames); n > 0 {
		j.size = int64(sc.frames[n-1].end)
	}
	// Anything but zeros after the last frame: start a new generation even if no
	// frame is read, so the leftovers can never be taken for frames of this one.
	j.junk = sc.torn != "" || len(sc.gaps) > 0 || len(sc.frames) == 0 && sc.tailOff < len(data) && hasAnyData(data[sc.tailOff:min(len(data), sc.tailOff+frameHeaderLen)])
	return j, fd.replay, nil
}

// newJournal makes an empty journal at path, replacing anything there. It is made
// whole beside path and renamed into place, so a crash never leaves a journal.log
// that is half made (which would read as a cut one).
func newJournal(path string, gen uint64) (*journal, []*frame, error) {
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	j := &journal{f: f, log: slog.New(slog.DiscardHandler)}
	if err := j.start(max(gen, 1)); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, nil, err
	}
	// Closed before the rename, which Windows refuses for an open file.
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	if j.f, err = os.OpenFile(path, os.O_RDWR, 0o600); err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	return j, nil, nil
}

var errEndOfLog = errors.New("end of log")

// readFrame reads the frame of generation gen at the start of b. errEndOfLog: zeros
// or a whole frame of an earlier generation, where the log of this one ends.
func readFrame(b []byte, gen uint64) (*frame, int, error) {
	if len(b) < frameHeaderLen {
		return nil, 0, errEndOfLog
	}
	n := int(binary.LittleEndian.Uint32(b))
	g := binary.LittleEndian.Uint64(b[8:16])
	if n == 0 && g == 0 {
		return nil, 0, errEndOfLog
	}
	if g != gen && n <= maxFrame && frameHeaderLen+n <= len(b) &&
		crc32.Checksum(b[8:frameHeaderLen+n], castagnoli) == binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errEndOfLog // a whole frame of an earlier generation
	}
	if n > maxFrame || frameHeaderLen+n > len(b) {
		return nil, 0, errors.New("short entry")
	}
	if crc32.Checksum(b[8:frameHeaderLen+n], castagnoli) != binary.LittleEndian.Uint32(b[4:]) || g != gen {
		return nil, 0, errors.New("checksum mismatch")
	}
	fr, err := decodeFrame(b[frameHeaderLen : frameHeaderLen+n])
	if err != nil {
		return nil, 0, fmt.Errorf("entry: %w", err)
	}
	return fr, frameHeaderLen + n, nil
}

func hasAnyData(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return true
		}
	}
	return false
}

// readWhole reads a file in one buffer of its size: the journal is mostly space
// allocated ahead, and growing a buffer to it step by step cost most of an open.
func readWhole(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	n, err := io.ReadFull(f, data)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil // cut while we read: what was read is the journal
	}
	return data[:n], err
}

// start begins a generation: a new header, durable before any frame of it is written.
func (j *journal) start(gen uint64) error {
	if j.alloc < journalHeader+journalChunk {
		if err := j.grow(journalHeader + journalChunk); err != nil {
			return err
		}
	}
	h := make([]byte, journalHeader)
	copy(h, journalMagic)
	binary.LittleEndian.PutUint64(h[4:], gen)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[4:12], castagnoli))
	if _, err := j.f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("journal: header: %w", err)
	}
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.gen, j.size, j.junk = gen, journalHeader, false
	return nil
}

// grow zero-fills the file up to at least n bytes and makes the new size durable.
func (j *journal) grow(n int64) error {
	target := (n + journalChunk - 1) / journalChunk * journalChunk
	zeros := make([]byte, 1<<20)
	for off := j.alloc; off < target; off += int64(len(zeros)) {
		if _, err := j.f.WriteAt(zeros[:min(int64(len(zeros)), target-off)], off); err != nil {
			return fmt.Errorf("journal: grow: %w", err)
		}
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.alloc = target
	return nil
}

// append writes one frame and makes it durable.
func (j *journal) append(payload []byte) error {
	buf := make([]byte, frameHeaderLen+len(payload), frameHeaderLen+len(payload)+frameHeaderLen)
	binary.LittleEndian.PutUint32(buf, uint32(len(payload)))
	binary.LittleEndian.PutUint64(buf[8:], j.gen)
	copy(buf[frameHeaderLen:], payload)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], castagnoli))
	// The frame must be followed by zeros (or the end of the file) for the reader to
	// stop there; a leftover frame of an earlier generation stops it too.
	end := j.size + int64(len(buf))
	if end+frameHeaderLen > j.alloc {
		if err := j.grow(end + frameHeaderLen); err != nil {
			return err
		}
	}
	if _, err := j.f.WriteAt(buf, j.size); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	if err := datasync(j.f); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.size = end
	return nil
}

// journalKeep is the size a journal that grew past it (a rebuild's batches) is cut
// back to when it is emptied: every open reads the whole file.
const journalKeep = journalHeader + journalChunk

// reset empties the journal once everything in it is applied to bbolt, and gives
// back the room a large one took.
func (j *journal) reset() error {
	if j.size == journalHeader && !j.junk && j.alloc <= journalKeep {
		return nil
	}
	if err := j.start(j.gen + 1); err != nil {
		return err
	}
	if j.alloc <= journalKeep {
		return nil
	}
	// What follows the header is of an older generation, applied: the file may end
	// anywhere after it.
	if err := j.f.Truncate(journalKeep); err != nil {
		return fmt.Errorf("journal: shrink: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	j.alloc = journalKeep
	return nil
}

func (j *journal) close() error { return j.f.Close() }

// journalLimit is the size after which the applier empties the journal at the next
// moment when everything is applied.
const journalLimit = 2 << 20

// The applier waits up to applyDelay to gather up to applyBatch saves per commit.
const (
	applyDelay = 20 * time.Millisecond
	applyBatch = 512
	// applyRecords bounds the records one transaction of the applier writes.
	applyRecords = 20000
)

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
		// Gather saves for a moment unless someone waits to read: fewer, larger
		// commits leave the disk to the saves' own fsyncs.
		if !s.closed && s.readers == 0 && len(s.queue) < applyBatch {
			s.amu.Unlock()
			t := time.NewTimer(applyDelay)
			select {
			case <-s.urgent:
			case <-t.C:
			}
			t.Stop()
			s.amu.Lock()
		}
		batch := s.queue
		// Merged batches bring many records a frame: a transaction takes frames up to
		// applyRecords records (at least one frame).
		for n, recs := 0, 0; n < len(batch); n++ {
			if recs += len(batch[n].Records); recs > applyRecords && n > 0 {
				batch = batch[:n]
				break
			}
		}
		s.amu.Unlock()

		if hold := applyHold.Load(); hold != nil {
			(*hold)()
		}
		var signed []byte
		err := s.dbUpdate(func(tx *bolt.Tx) error {
			if err := s.applyFrames(tx, batch); err != nil {
				return err
			}
			var err error
			signed, err = s.signCheckpoint(context.Background(), tx, false)
			return err
		})
		if err == nil {
			s.keepCheckpoint(context.Background(), signed)
		}
		s.amu.Lock()
		if err != nil {
			// The frames are safe in the journal; reads fail until they are applied.
			s.applyErr = err
			s.acond.Broadcast()
			closed := s.closed
			if errors.Is(err, ErrDamaged) {
				// Nothing more is written to a damaged file: wait for Close.
				for !s.closed {
					s.acond.Wait()
				}
				s.amu.Unlock()
				return
			}
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

// trimJournal forgets the writer's copies of what is applied and empties a large
// journal when the applier has caught up. It takes the writer, so no save appends
// meanwhile.
func (s *Store) trimJournal() {
	if !s.wmu.TryLock() {
		return
	}
	defer s.wmu.Unlock()
	s.amu.Lock()
	applied := s.applied
	idle := applied == s.written
	s.amu.Unlock()
	s.forgetApplied(applied)
	if !idle || s.journal.size < journalLimit {
		return
	}
	if err := s.journal.reset(); err != nil {
		s.log.Error("emptying the journal failed", "err", err)
	}
}

// applyFrames writes frames into bbolt: records with their indexes, outbox entries,
// audit entries, applied change IDs and the LSN reached, in one search segment. The
// records of all the frames are written once each (a record's last state, in the
// order of the frames, as the change feed lists them), a frame's in key order so a
// batch walks bbolt's pages in order. It is idempotent, as replay needs.
func (s *Store) applyFrames(tx *bolt.Tx, frames []*frame) error {
	var seg segmentBuilder
	var clock form.HLC
	type put struct {
		rec *form.Record
		pre *preEncoded
	}
	// A record is written once, at its last state, where the feed puts its last
	// change; a frame's records in key order.
	last := map[string]int{}
	for fi, fr := range frames {
		for i := range fr.Records {
			last[fr.Records[i].ID] = fi
		}
	}
	var puts []put
	for fi, fr := range frames {
		puts = puts[:0]
		for i := range fr.Records {
			p := put{rec: &fr.Records[i]}
			if last[p.rec.ID] != fi {
				continue
			}
			if i < len(fr.pre) {
				p.pre = fr.pre[i]
			}
			puts = append(puts, p)
		}
		slices.SortStableFunc(puts, func(a, b put) int { return strings.Compare(a.rec.ID, b.rec.ID) })
		for k, p := range puts {
			if k+1 < len(puts) && puts[k+1].rec.ID == p.rec.ID {
				continue // a frame's own later state of the record follows
			}
			var err error
			if pe := p.pre; pe != nil {
				if pe.noTerms {
					pe.terms, pe.title, pe.noTerms = recordTerms(p.rec), s.title(p.rec), false
				}
				err = s.putEncoded(tx, p.rec, pe.stored, pe.sum, pe.terms, pe.title, &seg)
			} else {
				err = s.putRecord(tx, p.rec, &seg)
			}
			if err != nil {
				return err
			}
		}
	}
	seen := tx.Bucket(bucketApplied)
	for _, fr := range frames {
		for _, o := range fr.Outbox {
			b, err := json.Marshal(o.Change)
			if err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
			if err := outboxPut(tx, o.Seq, o.Change.Record, b); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
		for _, e := range fr.Audit {
			// The rev the save made, from the frame: the same on every replay.
			for i := range fr.Records {
				if e.Rev == "" && len(e.Diff) > 0 && fr.Records[i].ID == e.Record {
					e.Rev = fr.Records[i].Rev()
				}
			}
			if err := putAudit(tx, e); err != nil {
				return err
			}
		}
		if b := fr.Batch; b != nil && (len(b.Items) > 0 || b.canon != nil) {
			b.encode()
			if err := putAuditStored(tx, b.Seq, storeAuditValue(b.canon), b.canon, b.records, b.spans); err != nil {
				return err
			}
		}
		for _, id := range fr.Changes {
			if err := seen.Put([]byte(id), nil); err != nil {
				return fmt.Errorf("applied changes: %w", err)
			}
		}
		for k, v := range fr.State {
			var err error
			if v == nil {
				err = tx.Bucket(bucketState).Delete([]byte(k))
			} else {
				err = tx.Bucket(bucketState).Put([]byte(k), v)
			}
			if err != nil {
				return fmt.Errorf("set state %q: %w", k, err)
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
	if d := s.damaged.Load(); d != nil {
		return d
	}
	fr.LSN = s.nextLSN
	payload, err := encodeFrame(fr)
	if err != nil {
		return fmt.Errorf("journal: encode: %w", err)
	}
	if err := s.markUnclean(); err != nil {
		return err
	}
	t0 := time.Now()
	err = s.journal.append(payload)
	if probeAppend != nil {
		probeAppend(time.Since(t0))
	}
	if err != nil {
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

var probeAppend func(time.Duration)

// applyHold, when set (by tests), is called before the applier writes a batch: a
// test holds saves unapplied, as a crash would leave them, by blocking in it.
var applyHold atomic.Pointer[func()]
