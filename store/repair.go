package store

// Repair: recover a replica that Open refuses, and say exactly what could not be
// recovered.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// KeyReconcileDue is the state key that makes the sync engine reconcile the whole
// replica with the server at the next sync: it fetches what the server holds and the
// replica lacks, and sends what the replica holds and the server lacks.
const KeyReconcileDue = "sync/reconcile"

// DamagedSuffix, followed by a UTC time stamp, names a damaged file Repair set aside:
// journal.log.damaged-20260102T150405Z. Such files are kept, never deleted.
const DamagedSuffix = ".damaged-"

const stampLayout = "20060102T150405Z"

// RepairOptions configure Repair. The zero value works.
type RepairOptions struct {
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Now reads the wall clock (the stamp of files set aside); tests inject it.
	Now func() time.Time
	// LockTimeout bounds the wait for another process's lock on the replica.
	LockTimeout time.Duration
	// RecoverDatabase replaces a replica.db that cannot be read (damage is what is
	// wrong with it) by a sound one in dir, keeping the damaged file, and says what
	// it did. The journal has already been set aside; Repair applies its valid
	// frames to whatever database this leaves. nil: RecoverDamagedDatabase.
	RecoverDatabase func(ctx context.Context, dir string, damage error) (DatabaseRecovery, error)
}

// DatabaseRecovery is what was done about a damaged replica.db.
type DatabaseRecovery struct {
	// Kept is where the damaged file now is.
	Kept string `json:"kept"`
	// Snapshot is the snapshot file restored, if one was.
	Snapshot string `json:"snapshot,omitempty"`
	// Salvaged counts records read back from the damaged file, if a salvage ran.
	Salvaged int `json:"salvaged,omitempty"`
	// Unreadable says, one line each, what the salvage could not read from the
	// damaged file (a record there comes back from the snapshot or the server, if
	// either holds it).
	Unreadable []string `json:"unreadable,omitempty"`
}

// LostSaves is a run of saves Repair could not recover, with the records the
// recovered saves on either side of it touched, to help find what is missing.
type LostSaves struct {
	LSNRange
	RecordsBefore []string `json:"records_before,omitempty"`
	RecordsAfter  []string `json:"records_after,omitempty"`
}

// RepairReport says what Repair found and did.
type RepairReport struct {
	Dir string `json:"dir"`
	// Repaired is false when nothing was at stake and nothing was changed.
	Repaired bool `json:"repaired"`
	// JournalDamage is what was wrong with the journal, if anything.
	JournalDamage string `json:"journal_damage,omitempty"`
	// JournalKept is where the damaged journal was set aside.
	JournalKept string `json:"journal_kept,omitempty"`
	// DatabaseDamage is what was wrong with replica.db, if anything, and Database
	// what was done about it.
	DatabaseDamage string            `json:"database_damage,omitempty"`
	Database       *DatabaseRecovery `json:"database,omitempty"`
	// Applied: the database held saves #1 to #Applied (before the journal's).
	Applied uint64 `json:"applied"`
	// Recovered are the saves replayed from the journal's valid frames.
	Recovered      []LSNRange `json:"recovered,omitempty"`
	RecoveredSaves int        `json:"recovered_saves"`
	// Lost are the saves that no valid frame held.
	Lost []LostSaves `json:"lost,omitempty"`
	// LostUnknownAfter, when set, says saves after #LostUnknownAfter may have been
	// lost too (the journal was cut or missing): how many is unknown.
	LostUnknownAfter *uint64 `json:"lost_unknown_after,omitempty"`
	// ReconcileDue: the next sync reconciles with the server and fetches what it
	// holds (lost saves that had reached it come back).
	ReconcileDue bool `json:"reconcile_due"`
}

// LostCount is the number of saves known lost.
func (r RepairReport) LostCount() int {
	n := 0
	for _, l := range r.Lost {
		n += int(l.Last - l.First + 1)
	}
	return n
}

// Repair recovers the replica in dir, which must not be open (ErrInUse otherwise):
//
//   - a replica.db that cannot be read is replaced through opts.RecoverDatabase (by
//     default the newest snapshot), the damaged file kept;
//   - a damaged or missing journal is set aside (kept as journal.log.damaged-STAMP),
//     every valid frame in it, anywhere in the file and past any damage, that the
//     database lacks is applied in LSN order, and the saves that no frame holds are
//     reported, with the records around them;
//   - a full reconcile with the server is made due, so what the server holds comes
//     back at the next sync.
//
// It then opens and closes the replica to prove it opens. A replica with nothing at
// stake is left as it is (the report says Repaired false).
func Repair(ctx context.Context, dir string, opts RepairOptions) (RepairReport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if opts.RecoverDatabase == nil {
		opts.RecoverDatabase = RecoverDamagedDatabase
	}
	rep := RepairReport{Dir: dir}
	dbPath, jPath := filepath.Join(dir, DBFile), filepath.Join(dir, JournalFile)
	if _, err := os.Stat(dbPath); err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}
	stamp := opts.Now().UTC().Format(stampLayout)
	journalSrc := jPath
	if err := CheckDB(dbPath); err != nil {
		if errors.Is(err, ErrInUse) {
			return rep, fmt.Errorf("repair %s: %w", dir, ErrInUse)
		}
		rep.DatabaseDamage = err.Error()
		rep.Repaired = true
		// The journal goes aside first: its frames are applied to what replaces
		// the database.
		kept, err := setAside(jPath, stamp)
		if err != nil {
			return rep, fmt.Errorf("repair %s: %w", dir, err)
		}
		if kept != "" {
			rep.JournalKept, journalSrc = kept, kept
		}
		rec, rerr := opts.RecoverDatabase(ctx, dir, err)
		if rerr != nil {
			if kept != "" {
				// Leave the journal where a later repair looks for it.
				if mv := os.Rename(kept, jPath); mv == nil {
					rep.JournalKept = ""
				}
			}
			return rep, fmt.Errorf("repair %s: %s is damaged (%v) and could not be recovered: %w", dir, DBFile, err, rerr)
		}
		rep.Database = &rec
		opts.Logger.Warn("repair: replica.db replaced", "damage", err, "kept", rec.Kept, "snapshot", rec.Snapshot)
	}

	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: opts.LockTimeout, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, bolt.ErrTimeout) {
		return rep, fmt.Errorf("repair %s: %w", dir, ErrInUse)
	}
	if err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	var clean bool
	if err := db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return fmt.Errorf("%w: %s has no meta bucket", ErrCorrupt, DBFile)
		}
		rep.Applied, clean = getU64(m, metaApplied), m.Get(metaClean) != nil
		return nil
	}); err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}

	// What does the journal hold beyond the database?
	var fd journalFindings
	data, err := os.ReadFile(journalSrc)
	switch {
	case errors.Is(err, os.ErrNotExist):
		_, aerr := os.Stat(filepath.Join(dir, AttachmentsDir))
		switch {
		case rep.Database != nil:
			// A restored snapshot and no journal: whatever was saved after the
			// snapshot is gone from this device.
			fd.damage = &JournalDamage{Path: jPath, Offset: -1, What: "is missing", Applied: rep.Applied, Unknown: true}
		case !clean && aerr == nil:
			fd.damage = &JournalDamage{Path: jPath, Offset: -1, What: "is missing and the replica was not closed cleanly",
				Applied: rep.Applied, Unknown: true}
			fd.atStake = true
		}
	case err != nil:
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	default:
		fd = assessJournal(jPath, scanJournal(data), rep.Applied)
	}
	if fd.damage != nil {
		rep.JournalDamage = fd.damage.describe()
	}
	if rep.Database == nil && (!fd.atStake || clean && len(fd.replay) == 0) {
		// Open takes it from here: nothing is at stake.
		return rep, nil
	}
	rep.Repaired = true
	if journalSrc == jPath {
		kept, err := setAside(jPath, stamp)
		if err != nil {
			return rep, fmt.Errorf("repair %s: %w", dir, err)
		}
		rep.JournalKept = kept
	}
	if d := fd.damage; d != nil {
		rep.Recovered = d.Readable
		rep.RecoveredSaves = countRanges(d.Readable)
		byLSN := map[uint64]*frame{}
		for _, f := range fd.replay {
			byLSN[f.LSN] = f
		}
		for _, r := range d.Unreadable {
			rep.Lost = append(rep.Lost, LostSaves{LSNRange: r,
				RecordsBefore: recordsOf(byLSN[r.First-1]), RecordsAfter: recordsOf(byLSN[r.Last+1])})
		}
		if d.Unknown {
			last := rep.Applied
			for _, r := range d.Readable {
				last = max(last, r.Last)
			}
			rep.LostUnknownAfter = &last
		}
	} else {
		rep.RecoveredSaves = len(fd.replay)
		if n := len(fd.replay); n > 0 {
			rep.Recovered = []LSNRange{{fd.replay[0].LSN, fd.replay[n-1].LSN}}
		}
	}

	// Apply the recovered frames, mark the database as holding every save (its
	// journal is set aside), and make a reconcile due.
	s := &Store{dir: dir, db: db, log: opts.Logger, now: opts.Now, templates: map[form.TemplateKey]*form.Template{}}
	if err := s.loadTemplates(); err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if len(fd.replay) > 0 {
			if err := s.applyFrames(tx, fd.replay); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(metaClean, []byte{1}); err != nil {
			return err
		}
		return tx.Bucket(bucketState).Put([]byte(KeyReconcileDue), []byte("1"))
	})
	if err != nil {
		return rep, fmt.Errorf("repair %s: apply recovered saves: %w", dir, err)
	}
	rep.ReconcileDue = true
	err = db.Close()
	db = nil
	if err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}
	opts.Logger.Info("repair: journal recovered", "recovered", rep.RecoveredSaves, "lost", rep.LostCount(), "kept", rep.JournalKept)

	st, err := Open(ctx, dir, Options{LockTimeout: opts.LockTimeout, Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		return rep, fmt.Errorf("repair %s: the replica still does not open: %w", dir, err)
	}
	if err := st.Close(); err != nil {
		return rep, fmt.Errorf("repair %s: %w", dir, err)
	}
	return rep, nil
}

// describe is the damage in one line, without the advice to repair.
func (d *JournalDamage) describe() string {
	where := d.Path
	if d.Offset >= 0 {
		where = fmt.Sprintf("%s at byte %d:", d.Path, d.Offset)
	}
	return fmt.Sprintf("%s %s", where, d.What)
}

func recordsOf(f *frame) []string {
	if f == nil {
		return nil
	}
	ids := make([]string, len(f.Records))
	for i, r := range f.Records {
		ids[i] = r.ID
	}
	return ids
}

// setAside renames path to path.damaged-STAMP and makes that durable; "" when
// there is no file.
func setAside(path, stamp string) (string, error) {
	kept := path + DamagedSuffix + stamp
	for i := 2; ; i++ {
		if _, err := os.Lstat(kept); errors.Is(err, os.ErrNotExist) {
			break
		}
		kept = fmt.Sprintf("%s%s%s-%d", path, DamagedSuffix, stamp, i)
	}
	if err := os.Rename(path, kept); errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("keep the damaged %s: %w", filepath.Base(path), err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	return kept, nil
}

// RestoreNewestSnapshot is the default RepairOptions.RecoverDatabase: it restores
// the newest snapshot that checks out (RestoreSnapshot), the damaged file kept as
// replica.db.before-restore.
func RestoreNewestSnapshot(ctx context.Context, dir string, damage error) (DatabaseRecovery, error) {
	list, err := ListSnapshots(SnapshotDir(dir))
	if err != nil {
		return DatabaseRecovery{}, err
	}
	if len(list) == 0 {
		return DatabaseRecovery{}, errors.New("there is no snapshot to restore")
	}
	var errs []error
	for _, s := range list {
		if err := ctx.Err(); err != nil {
			return DatabaseRecovery{}, err
		}
		err := RestoreSnapshot(s.Path, dir)
		if err == nil {
			return DatabaseRecovery{Kept: filepath.Join(dir, DBFile+BeforeRestoreSuffix), Snapshot: s.Path}, nil
		}
		if errors.Is(err, ErrInUse) {
			return DatabaseRecovery{}, err
		}
		errs = append(errs, err)
	}
	return DatabaseRecovery{}, fmt.Errorf("no snapshot restores: %w", errors.Join(errs...))
}
