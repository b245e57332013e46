package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// File names inside a replica's folder.
const (
	DBFile         = "replica.db"
	JournalFile    = "journal.log"
	AttachmentsDir = "attachments"
)

var (
	bucketMeta        = []byte("meta")
	bucketRecords     = []byte("records")     // record id → canonical record
	bucketRecMeta     = []byte("recmeta")     // record id → recMeta
	bucketByUpdated   = []byte("byupdated")   // updated HLC + record id → doc number
	bucketFeed        = []byte("feed")        // feed seq → record id: records in order of change
	bucketDocs        = []byte("docs")        // doc number → record id (live versions only)
	bucketSegments    = []byte("segments")    // segment seq → index segment
	bucketTemplates   = []byte("templates")   // template id + version → template JSON
	bucketOutbox      = []byte("outbox")      // seq → change (pending)
	bucketDead        = []byte("dead")        // seq → deadLetter
	bucketAudit       = []byte("audit")       // seq → audit entry
	bucketAuditByRec  = []byte("auditbyrec")  // record id + seq → nil
	bucketAttachments = []byte("attachments") // sha256 → attachment state
	bucketApplied     = []byte("applied")     // change id → nil: changes already merged
	bucketState       = []byte("state")       // free keys for the sync engine

	allBuckets = [][]byte{bucketMeta, bucketRecords, bucketRecMeta, bucketByUpdated, bucketFeed,
		bucketDocs, bucketSegments, bucketTemplates, bucketOutbox, bucketDead, bucketAudit,
		bucketAuditByRec, bucketAttachments, bucketApplied, bucketState, bucketPurged, bucketPendingRec, bucketNotices,
		bucketAuditTree}

	metaSchema  = []byte("schema")
	metaDevice  = []byte("device")
	metaApplied = []byte("journal_applied") // last journal LSN applied to bbolt
	// metaClean is present while the database holds every save the journal holds:
	// written by Close after the applier drained (and for a new replica, and by
	// Repair), deleted by the next open's replay transaction. A damaged or missing
	// journal of a clean replica loses nothing.
	metaClean    = []byte("journal_clean")
	metaClock    = []byte("clock") // highest HLC issued, so a clock set back cannot reorder edits
	metaRecCount = []byte("records")
	metaDelCount = []byte("deleted")
)

// schemaVersion 2: record metadata carries a checksum (records.go). A program of
// schema 1 would take those entries for damage; it refuses the replica instead.
// schemaVersion 3: storage v2 (record and audit values in their new layout, the
// audit's Merkle tree). A file of an earlier schema is converted when it is opened
// (upgrade.go).
const schemaVersion = 3

// Options configure a store. The zero value works.
type Options struct {
	// Device is this replica's device ID. When empty, the ID saved in the replica is
	// used, and a new replica makes one.
	Device string
	// LockTimeout bounds the wait for another process's lock on the replica.
	LockTimeout time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Now reads the wall clock; tests inject it.
	Now func() time.Time
	// InitialMmapSize is passed to bbolt; a large value avoids remapping as the file
	// grows. Default 256 MiB.
	InitialMmapSize int
	// DamageAdvice ends the message of a DamageError: what to do about a damaged
	// database. Default DefaultDamageAdvice.
	DamageAdvice string
	// Checkpoint signs checkpoints of the audit tree and keeps the latest apart
	// from the replica (a device: KeyDir; a server: the tenant key). Nil: no
	// checkpoints are signed, and verification checks what the file holds.
	Checkpoint Checkpointer
	// CheckpointEvery bounds how often applied batches are signed; Close always
	// signs. Default 5 s.
	CheckpointEvery time.Duration
}

// Store is an open replica. It is safe for concurrent use.
type Store struct {
	dir    string
	db     *bolt.DB
	bopts  Options // what the database was opened with, to open it again after a rewrite
	log    *slog.Logger
	clock  *form.Clock
	device string
	now    func() time.Time

	// The writer: saves are serialised here, appended to the journal and queued for
	// the applier. Direct transactions also hold it, after the queue has drained.
	wmu     sync.Mutex
	journal *journal
	nextLSN uint64
	// cleanKept: the open found the replica clean with nothing to replay and left
	// its clean mark and its journal as they were, writing nothing; the first
	// journalled save starts the journal afresh and takes the mark away first
	// (markUnclean), and a Close with no save in between writes nothing either.
	cleanKept bool
	nextOut   uint64
	nextAudit uint64
	lastHash  string
	dirty     map[string]dirtyRecord // records saved but not yet applied
	// Change IDs of merged batches journalled but not yet applied, with their LSN:
	// duplicates as much as those in bucketApplied.
	dirtyChanges map[string]uint64
	pruned       uint64 // the LSN applied when dirty and dirtyChanges were last pruned
	savedHLC     form.HLC

	// The applier.
	amu      sync.Mutex
	acond    *sync.Cond
	queue    []*frame
	written  uint64
	applied  uint64
	applyErr error
	closed   bool
	readers  int           // reads waiting for the applier
	urgent   chan struct{} // wakes the applier for a waiting read
	done     chan struct{}

	tmu          sync.RWMutex
	templates    map[form.TemplateKey]*form.Template
	templatesTag string // cached TemplatesTag; "" when it must be computed

	// damaged is set once bbolt has failed on damage (a panic or a memory fault
	// caught by guard); from then on nothing is written to the file.
	damaged atomic.Pointer[DamageError]
	advice  string

	closeOnce sync.Once

	cps checkpoints
}

type dirtyRecord struct {
	rec form.Record
	lsn uint64
}

// Open opens or creates the replica in dir, applies what the journal holds beyond the
// database, and starts the applier.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InitialMmapSize == 0 {
		opts.InitialMmapSize = 256 << 20
	}
	// A database alone in a folder never opened as a replica (no attachments
	// folder yet) is a copy put in place, a restored backup: it has no journal.
	_, aerr := os.Stat(filepath.Join(dir, AttachmentsDir))
	copyInPlace := errors.Is(aerr, os.ErrNotExist)
	if opts.DamageAdvice == "" {
		opts.DamageAdvice = DefaultDamageAdvice
	}
	if err := os.MkdirAll(filepath.Join(dir, AttachmentsDir), 0o700); err != nil {
		return nil, fmt.Errorf("open replica: %w", err)
	}
	// bbolt maps the file and trusts it: a cut file makes it read past the end of
	// the mapping (SIGBUS). Check it first, with plain reads.
	if err := checkDBFile(dir, opts.DamageAdvice); err != nil {
		return nil, fmt.Errorf("open replica: %w", err)
	}
	db, err := openBolt(filepath.Join(dir, DBFile), opts)
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open replica %s: %w", dir, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open replica %s: %w", dir, err)
	}
	s := &Store{
		dir: dir, db: db, bopts: opts, log: opts.Logger, now: opts.Now, advice: opts.DamageAdvice,
		clock:        form.NewClock(opts.Now),
		dirty:        map[string]dirtyRecord{},
		dirtyChanges: map[string]uint64{},
		templates:    map[form.TemplateKey]*form.Template{},
		done:         make(chan struct{}),
		urgent:       make(chan struct{}, 1),
		cps:          checkpoints{cp: opts.Checkpoint, every: opts.CheckpointEvery},
	}
	if s.cps.every == 0 {
		s.cps.every = 5 * time.Second
	}
	s.acond = sync.NewCond(&s.amu)
	if err := s.init(ctx, opts.Device, copyInPlace); err != nil {
		s.db.Close() // a rewrite may have opened the database again
		return nil, err
	}
	go s.applier()
	return s, nil
}

func (s *Store) init(ctx context.Context, device string, copyInPlace bool) error {
	if err := s.removeRewriteLeftover(); err != nil {
		return fmt.Errorf("open replica: %w", err)
	}
	var applied uint64
	var clean bool
	// from is the schema of a replica made by an earlier release: it is converted
	// below, after its journal has been checked, into a new file; the old file is
	// not written before.
	var from uint32
	// Read first and write only what is missing: a replica refused below (a damaged
	// journal) is left exactly as it was.
	var sv [4]byte
	binary.BigEndian.PutUint32(sv[:], schemaVersion)
	needWrite := false
	err := s.dbView(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil && m.Get(metaDevice) != nil {
			if v := m.Get(metaSchema); v != nil {
				if len(v) != 4 {
					return fmt.Errorf("%w: its schema number is %d bytes long, not 4", ErrCorrupt, len(v))
				}
				if n := binary.BigEndian.Uint32(v); n > schemaVersion {
					return fmt.Errorf("replica schema %d is newer than this program (%d)", n, schemaVersion)
				} else if n < schemaVersion {
					from = n
					if device == "" {
						device = string(m.Get(metaDevice))
					}
					applied, clean = getU64(m, metaApplied), m.Get(metaClean) != nil
					return nil
				}
			}
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				needWrite = true
				return nil
			}
		}
		m := tx.Bucket(bucketMeta)
		if v := m.Get(metaSchema); v != nil && binary.BigEndian.Uint32(v) > schemaVersion {
			return fmt.Errorf("replica schema %d is newer than this program (%d)", binary.BigEndian.Uint32(v), schemaVersion)
		}
		saved := string(m.Get(metaDevice))
		needWrite = string(m.Get(metaSchema)) != string(sv[:]) || saved == "" || device != "" && device != saved
		if !needWrite {
			device = saved
			applied, clean = getU64(m, metaApplied), m.Get(metaClean) != nil
		}
		return nil
	})
	if err == nil && from != 0 && !form.ValidDevice(device) {
		err = fmt.Errorf("device id %q: %w", device, ErrBadInput)
	}
	if err == nil && needWrite && from == 0 {
		err = s.dbUpdate(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			m := tx.Bucket(bucketMeta)
			if v := m.Get(metaSchema); v != nil && binary.BigEndian.Uint32(v) > schemaVersion {
				return fmt.Errorf("replica schema %d is newer than this program (%d)", binary.BigEndian.Uint32(v), schemaVersion)
			}
			if err := m.Put(metaSchema, sv[:]); err != nil {
				return err
			}
			saved := string(m.Get(metaDevice))
			switch {
			case device == "" && saved == "":
				device = form.NewID()
			case device == "":
				device = saved
			}
			if !form.ValidDevice(device) {
				return fmt.Errorf("device id %q: %w", device, ErrBadInput)
			}
			if saved == "" && m.Get(metaApplied) == nil {
				// A new replica: no journal has held anything yet.
				if err := m.Put(metaClean, []byte{1}); err != nil {
					return err
				}
			}
			applied, clean = getU64(m, metaApplied), m.Get(metaClean) != nil
			return m.Put(metaDevice, []byte(device))
		})
	}
	if err != nil {
		return fmt.Errorf("open replica: %w", err)
	}
	s.device = device
	j, frames, err := openJournal(filepath.Join(s.dir, JournalFile), s.log, s.now(), applied, clean, copyInPlace)
	if jd := (*JournalDamage)(nil); errors.As(err, &jd) && s.advice != DefaultDamageAdvice {
		jd.Advice = s.advice
	}
	if err != nil {
		return fmt.Errorf("open replica %s: %w", s.dir, err)
	}
	s.journal = j
	// The journal is whole: convert a file of an earlier schema. The new file
	// carries the old one's journal marks, so the journal replays into it below
	// exactly as it would have into the old one.
	if from != 0 {
		if err := s.upgrade(ctx, from, device); err != nil {
			j.close()
			return fmt.Errorf("open replica %s: upgrade from schema %d: %w", s.dir, from, err)
		}
	}
	if err := s.loadTemplates(); err != nil {
		j.close()
		return err
	}
	// A clean replica with nothing to replay and its audit tree whole is left as it
	// is: opening it writes nothing. The clean mark goes with the first save.
	if clean {
		var whole bool
		err = s.dbView(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			whole = m.Get(metaClean) != nil && getU64(m, metaApplied) == applied && treeCaughtUp(tx)
			for _, f := range frames {
				whole = whole && f.LSN <= applied
			}
			return nil
		})
		if err != nil {
			j.close()
			return fmt.Errorf("open replica: %w", err)
		}
		// A damaged meta page (bbolt uses the other) is written afresh by the
		// commits of an open, as before: only a whole file is left as it is.
		s.cleanKept = whole && metasValid(s.dbPath())
	}
	// Apply what the journal holds beyond the database, then start it afresh. From
	// here the journal may hold saves the database lacks: the replica is not clean.
	if !s.cleanKept {
		err = s.dbUpdate(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if err := m.Delete(metaClean); err != nil {
				return err
			}
			applied = getU64(m, metaApplied)
			// A file written before the audit tree existed gets it here, once.
			if err := ensureTree(tx); err != nil {
				return err
			}
			var todo []*frame
			for _, f := range frames {
				if f.LSN > applied {
					todo = append(todo, f)
				}
			}
			if len(todo) == 0 {
				return nil
			}
			s.log.Info("replaying journal", "entries", len(todo))
			if err := s.applyFrames(tx, todo); err != nil {
				return err
			}
			applied = todo[len(todo)-1].LSN
			return nil
		})
	}
	if err != nil {
		j.close()
		return fmt.Errorf("open replica: replay journal: %w", err)
	}
	if !s.cleanKept {
		if err := j.reset(); err != nil {
			j.close()
			return fmt.Errorf("open replica: %w", err)
		}
	}
	s.nextLSN, s.written, s.applied = applied+1, applied, applied
	mark, err := s.openCheckpoints(ctx)
	if err != nil {
		return fmt.Errorf("open replica: %w", err)
	}
	return s.dbView(func(tx *bolt.Tx) error {
		// The outbox's sequence is the highest number acked: numbers are never reused.
		s.nextOut = max(lastKey(tx.Bucket(bucketOutbox), tx.Bucket(bucketDead)), tx.Bucket(bucketOutbox).Sequence()) + 1
		// Nor are audit numbers: after a cut, the next entry follows the highest number
		// the tree or a signed checkpoint has seen, and verification names the cut.
		s.nextAudit = max(lastKey(tx.Bucket(bucketAudit)), uint64(treeSize(tx)), uint64(mark)) + 1
		if _, v := tx.Bucket(bucketAudit).Cursor().Last(); v != nil {
			hash, err := lastAuditHash(v)
			if err != nil {
				return fmt.Errorf("open replica: %w", &DamageError{File: s.dbPath(),
					What: fmt.Sprintf("its last audit entry does not decode (%v)", err), Advice: s.advice})
			}
			s.lastHash = hash
		}
		if v := tx.Bucket(bucketMeta).Get(metaClock); v != nil {
			// This replica's own highest stamp, even one issued while the clock ran
			// ahead: only Restamp may take the clock back.
			s.clock.Restore(form.HLC(binary.BigEndian.Uint64(v)))
		}
		return nil
	})
}

// Close stops the applier after it has applied every save, and closes the files. It
// is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.amu.Lock()
		s.closed = true
		s.acond.Broadcast()
		s.wake()
		s.amu.Unlock()
		<-s.done
		if s.applyErr == nil && s.applied == s.written && !s.cleanKept {
			// Every save is in the database: say so, for the next open.
			var signed []byte
			if e := s.dbUpdate(func(tx *bolt.Tx) error {
				var err error
				if signed, err = s.signCheckpoint(context.Background(), tx, true); err != nil {
					return err
				}
				return tx.Bucket(bucketMeta).Put(metaClean, []byte{1})
			}); e != nil {
				err = fmt.Errorf("close replica: %w", e)
			} else {
				s.keepCheckpoint(context.Background(), signed)
				// A journal the applier never caught up with while it ran (a rebuild's
				// batches) is emptied as trimJournal would have, so the next open does
				// not read it all; a small one keeps the last saves, which tell an older
				// database put back in place.
				if s.journal.size >= journalLimit {
					if e := s.journal.reset(); e != nil {
						err = fmt.Errorf("close replica: %w", e)
					}
				}
			}
		}
		if e := s.journal.close(); e != nil && err == nil {
			err = e
		}
		if e := s.closeDB(); e != nil && err == nil {
			err = e
		}
	})
	return err
}

// metasValid reports whether both of the file's meta pages are valid.
func metasValid(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	m0, err := readMeta(f, 0)
	if err != nil || !validPageSize(m0.pageSize) {
		return false
	}
	_, err = readMeta(f, int64(m0.pageSize))
	return err == nil
}

// markUnclean takes away the clean mark an open left on disk, before the first save
// goes into the journal: from then the journal may hold saves the database lacks.
// The caller holds wmu.
func (s *Store) markUnclean() error {
	if !s.cleanKept {
		return nil
	}
	// The journal starts afresh first: what it held is in the database.
	if err := s.journal.reset(); err != nil {
		return err
	}
	if err := s.dbUpdate(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaClean) }); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	s.cleanKept = false
	return nil
}

// JournalNotice is damage to the journal that Open found and that put no save at
// stake (every save it touched was in the database), in one line; "" when none.
func (s *Store) JournalNotice() string { return s.journal.notice }

// closeDB closes bbolt. After damage it waits a moment at most: a write
// transaction that panicked while rolling back leaves bbolt's writer lock held, and
// its Close would wait for ever; the file is then left to the process's end.
func (s *Store) closeDB() error {
	if s.damaged.Load() == nil {
		return s.db.Close()
	}
	done := make(chan error, 1)
	go func() { done <- s.db.Close() }()
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		s.log.Warn("the damaged database did not close; it stays open until the program ends", "file", s.dbPath())
		return nil
	}
}

// Device is the device ID this replica stamps its edits with.
func (s *Store) Device() string { return s.device }

// Dir is the replica's folder.
func (s *Store) Dir() string { return s.dir }

// Clock is the replica's hybrid logical clock.
func (s *Store) Clock() *form.Clock { return s.clock }

// view runs fn in a read transaction after every acknowledged save is applied.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := s.barrier(ctx); err != nil {
		return err
	}
	return s.dbView(fn)
}

// update runs fn in a write transaction of its own, after the journal has drained and
// with the writer held, so it sees and orders after every save.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.barrier(ctx); err != nil {
		return err
	}
	return s.dbUpdate(fn)
}

// barrier waits until everything journalled so far is in bbolt.
func (s *Store) barrier(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.amu.Lock()
	defer s.amu.Unlock()
	target := s.written
	if s.applied < target {
		s.readers++
		s.wake()
		for s.applied < target && s.applyErr == nil && !s.closed {
			s.acond.Wait()
		}
		s.readers--
	}
	switch {
	case s.applyErr != nil:
		return fmt.Errorf("replica: %w", s.applyErr)
	case s.closed:
		return ErrClosed
	}
	return nil
}

// wake tells the applier not to wait for more saves.
func (s *Store) wake() {
	select {
	case s.urgent <- struct{}{}:
	default:
	}
}

// State reads a key the sync engine keeps in the replica; nil when absent.
func (s *Store) State(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketState).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// SetState writes keys for the sync engine at once; a nil value deletes. Keys that
// already hold their values are not written again: when none changes, nothing is
// written at all. When saves wait for the applier, the keys are journalled as one
// fsynced frame behind them (a server's ledger moves with every push, which thus
// waits for no write to bbolt), and reads wait for them to be applied; otherwise
// they are written to bbolt in one transaction.
func (s *Store) SetState(ctx context.Context, kv map[string][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(kv) == 0 {
		return nil
	}
	st := make(map[string][]byte, len(kv))
	for k, v := range kv {
		if k == "" || len(k) > bolt.MaxKeySize {
			return fmt.Errorf("set state: %w: a key of %d bytes", ErrBadInput, len(k))
		}
		if v != nil {
			v = append(make([]byte, 0, len(v)), v...)
		}
		st[k] = v
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.amu.Lock()
	closed, applyErr, caughtUp := s.closed, s.applyErr, s.applied == s.written
	s.amu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("set state: %w", ErrClosed)
	case applyErr != nil:
		return fmt.Errorf("set state: replica: %w", applyErr)
	}
	if caughtUp {
		// Everything journalled is in bbolt (and the writer, held, adds nothing): what
		// bbolt holds is the state, and a write straight to bbolt comes after every
		// save. A device's sync state is written so, in one commit and not twice
		// (journal, then bbolt); a server busy with pushes journals its ledger instead
		// of waiting for the applier.
		same := true
		if err := s.dbView(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketState)
			for k, v := range st {
				if old := b.Get([]byte(k)); (v == nil) != (old == nil) || !bytes.Equal(old, v) {
					same = false
					return nil
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("set state: %w", err)
		}
		if same {
			return nil
		}
		if err := s.dbUpdate(func(tx *bolt.Tx) error { return putState(tx, st) }); err != nil {
			return fmt.Errorf("set state: %w", err)
		}
		return nil
	}
	if err := s.commitFrame(&frame{State: st}); err != nil {
		return fmt.Errorf("set state: %w", err)
	}
	return nil
}

// putState writes state keys in tx; a nil value deletes.
func putState(tx *bolt.Tx, kv map[string][]byte) error {
	b := tx.Bucket(bucketState)
	for k, v := range kv {
		var err error
		if v == nil {
			err = b.Delete([]byte(k))
		} else {
			err = b.Put([]byte(k), v)
		}
		if err != nil {
			return fmt.Errorf("set state %q: %w", k, err)
		}
	}
	return nil
}

func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func u32(n uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return b[:]
}

func getU64(b *bolt.Bucket, key []byte) uint64 {
	if v := b.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// lastKey is the largest 8-byte key across the buckets.
func lastKey(bs ...*bolt.Bucket) uint64 {
	var max uint64
	for _, b := range bs {
		if k, _ := b.Cursor().Last(); len(k) == 8 {
			if n := binary.BigEndian.Uint64(k); n > max {
				max = n
			}
		}
	}
	return max
}
