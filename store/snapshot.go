package store

// Hot backups with what they hold, and a device's daily snapshots of its replica.

import (
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BackupStats describes a hot backup: what the copy holds, read in the same
// transaction that wrote it, so a later check of the copy can compare.
type BackupStats struct {
	Bytes        int64             // of the database file written
	Records      int               // records, deleted ones included (as Count)
	Deleted      int               // of which deleted
	AuditEntries int               // audit entries (the last one's sequence number)
	State        map[string]string // the state keys asked for; missing keys are absent
}

// BackupWithStats is Backup that also reports what the copy holds: the record and
// audit counts and the values of the given state keys, read in the transaction
// that wrote the copy.
func (s *Store) BackupWithStats(ctx context.Context, w io.Writer, stateKeys ...string) (BackupStats, error) {
	st := BackupStats{State: map[string]string{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st.Records = int(getU64(meta, metaRecCount))
		st.Deleted = int(getU64(meta, metaDelCount))
		st.AuditEntries = int(lastKey(tx.Bucket(bucketAudit)))
		for _, k := range stateKeys {
			if v := tx.Bucket(bucketState).Get([]byte(k)); v != nil {
				st.State[k] = string(v)
			}
		}
		var err error
		st.Bytes, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	return st, nil
}

// Snapshots: a device keeps one gzip'd hot backup of its replica a day, for
// SnapshotDays days, in the replica's folder under SnapshotsDir, named
// replica-YYYY-MM-DD.db.gz. A snapshot restores a replica that was damaged on this
// device (RestoreSnapshot); what it lacks and the server holds comes back with the
// next pull.
const (
	SnapshotsDir   = "snapshots"
	SnapshotDays   = 7
	snapshotPrefix = "replica-"
	snapshotSuffix = ".db.gz"
	snapshotDay    = "2006-01-02"
)

// SnapshotDir is where the snapshots of the replica in replicaDir live.
func SnapshotDir(replicaDir string) string { return filepath.Join(replicaDir, SnapshotsDir) }

// SnapshotInfo is one snapshot file.
type SnapshotInfo struct {
	Name string    `json:"name"`
	Path string    `json:"path"`
	Day  time.Time `json:"day"` // midnight UTC of the day in its name
	Size int64     `json:"size"`
}

func snapshotName(day time.Time) string {
	return snapshotPrefix + day.Format(snapshotDay) + snapshotSuffix
}

func parseSnapshotName(name string) (time.Time, bool) {
	d, ok := strings.CutPrefix(name, snapshotPrefix)
	if !ok {
		return time.Time{}, false
	}
	if d, ok = strings.CutSuffix(d, snapshotSuffix); !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(snapshotDay, d)
	return t, err == nil
}

// Snapshot writes today's snapshot of the replica into dir (made if missing):
// a hot backup (every acknowledged save in it) gzip'd, fsynced, then renamed into
// place, so a snapshot file is whole or absent. When today's exists it is kept and
// nothing is written. Snapshots older than SnapshotDays days are then deleted.
// now's date, in now's location, names the day. It returns today's file.
func (s *Store) Snapshot(ctx context.Context, dir string, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	path := filepath.Join(dir, snapshotName(now))
	if _, err := os.Stat(path); err == nil {
		return path, pruneSnapshots(dir, now)
	}
	f, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(tmp)
		return "", fmt.Errorf("snapshot: %w", err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if _, err := s.Backup(ctx, zw); err != nil {
		return fail(err)
	}
	if err := zw.Close(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", fmt.Errorf("snapshot: %w", err)
	}
	s.log.Info("snapshot written", "file", path)
	return path, pruneSnapshots(dir, now)
}

// pruneSnapshots deletes snapshots of days before the last SnapshotDays (today
// included), and partial files a crash left.
func pruneSnapshots(dir string, now time.Time) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	oldest := today.AddDate(0, 0, -(SnapshotDays - 1))
	var errs []error
	for _, e := range ents {
		name := e.Name()
		day, ok := parseSnapshotName(name)
		stalePartial := strings.HasPrefix(name, ".partial-")
		if stalePartial {
			if info, err := e.Info(); err != nil || now.Sub(info.ModTime()) < time.Hour {
				continue // perhaps being written right now
			}
		}
		if stalePartial || ok && day.Before(oldest) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("snapshots: delete old ones: %w", errors.Join(errs...))
	}
	return nil
}

// ListSnapshots lists the snapshots in dir, newest first. A missing dir has none.
func ListSnapshots(dir string) ([]SnapshotInfo, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	var out []SnapshotInfo
	for _, e := range ents {
		day, ok := parseSnapshotName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, SnapshotInfo{Name: e.Name(), Path: filepath.Join(dir, e.Name()), Day: day, Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b SnapshotInfo) int { return b.Day.Compare(a.Day) })
	return out, nil
}

// BeforeRestoreSuffix is added to the replica's files RestoreSnapshot replaces.
const BeforeRestoreSuffix = ".before-restore"

// RestoreSnapshot replaces the replica in replicaDir, which must not be open, with a
// snapshot. The snapshot is first unpacked beside the replica, opened and checked
// (bbolt's page check, the audit chain, records against their indexes); only a
// clean one replaces replica.db. The file it replaces is kept as
// replica.db.before-restore (and the journal as journal.log.before-restore): the
// journal belongs to the replaced file and is not replayed into the snapshot.
//
// When the replaced file can still be read, the restored replica keeps numbering
// its outbox and its clock after it, so no change number is used twice. Saves made
// after the snapshot are lost on this device unless the server has them: the next
// sync pulls them back.
//
// It fails with ErrInUse while another process has the replica open.
func RestoreSnapshot(snapshotFile, replicaDir string) error {
	dbPath := filepath.Join(replicaDir, DBFile)
	old, err := inspectOld(dbPath)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(replicaDir, ".restore-")
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := gunzipFile(snapshotFile, filepath.Join(tmp, DBFile)); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", filepath.Base(snapshotFile), err)
	}
	if err := checkReplica(tmp, old); err != nil {
		return fmt.Errorf("restore snapshot %s: %w", filepath.Base(snapshotFile), err)
	}
	// Swap: the replaced files are kept, the journal is not carried over.
	for _, name := range []string{DBFile, JournalFile} {
		p := filepath.Join(replicaDir, name)
		if err := os.Rename(p, p+BeforeRestoreSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore snapshot: keep the old %s: %w", name, err)
		}
	}
	if err := os.Rename(filepath.Join(tmp, DBFile), dbPath); err != nil {
		// Put the old file back rather than leave no replica.
		os.Rename(dbPath+BeforeRestoreSuffix, dbPath)
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := syncDir(replicaDir); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	return nil
}

// MarkJournalDiscarded records in the closed database at dbPath that it is to be
// opened without the journal it was made with: a backup or snapshot copy put in
// place, which holds every save it has (a hot backup is taken after the journal is
// applied), and whose journal is deliberately set aside. Without the mark, Open
// refuses a replica whose journal is missing (saves may be at stake).
func MarkJournalDiscarded(dbPath string) error {
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%s: %w", filepath.Dir(dbPath), ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("mark journal discarded: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(metaClean, []byte{1})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mark journal discarded: %w", err)
	}
	return nil
}

// oldReplica is what the replaced file says, when it can still be read.
type oldReplica struct {
	readable bool
	device   string
	outbox   uint64 // highest outbox number used
	clock    []byte
}

// inspectOld checks nobody holds the replica and reads what must carry over. A file
// bbolt cannot open (the damage being repaired) is no error.
func inspectOld(dbPath string) (o oldReplica, err error) {
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	defer func() {
		if p := recover(); p != nil { // a damaged file can make bbolt panic
			o, err = oldReplica{}, nil
		}
	}()
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: 500 * time.Millisecond, ReadOnly: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return o, fmt.Errorf("restore snapshot: %s: %w", filepath.Dir(dbPath), ErrInUse)
	}
	if err != nil {
		return o, nil
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		m, out, dead := tx.Bucket(bucketMeta), tx.Bucket(bucketOutbox), tx.Bucket(bucketDead)
		if m == nil || out == nil || dead == nil {
			return nil
		}
		o.readable = true
		o.device = string(m.Get(metaDevice))
		o.outbox = max(lastKey(out, dead), out.Sequence())
		o.clock = slices.Clone(m.Get(metaClock))
		return nil
	})
	return o, nil
}

// CheckDB checks a bbolt file that may be damaged (a backup, a snapshot) without
// crashing on it: it opens the file read only and reads every page of every bucket
// in this goroutine, where a panic or a memory fault a damaged page causes is caught
// and returned as ErrCorrupt, and only then runs bbolt's own consistency check
// (which runs in a goroutine of its own, where nothing could catch one).
func CheckDB(path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	// Plain reads first: a cut file would make bbolt's mapping fault, and a damaged
	// page would make bbolt's check panic in a goroutine nothing can recover.
	if problems := checkPages(path, "", 10); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Error()
		}
		return fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(msgs, "; "))
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("%s: %w", path, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("%w: does not open: %v", ErrCorrupt, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var walk func(b *bolt.Bucket) error
		walk = func(b *bolt.Bucket) error {
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v == nil {
					if nb := b.Bucket(k); nb != nil {
						if err := walk(nb); err != nil {
							return err
						}
					}
				}
			}
			return nil
		}
		err := tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
			if len(problems) >= 10 {
				break
			}
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: database check: %s", ErrCorrupt, strings.Join(problems, "; "))
		}
		return nil
	})
}

// checkReplica opens the unpacked snapshot in dir, checks it and carries the old
// replica's numbering over.
func checkReplica(dir string, old oldReplica) error {
	ctx := context.Background()
	if err := CheckDB(filepath.Join(dir, DBFile)); err != nil {
		return err
	}
	if err := MarkJournalDiscarded(filepath.Join(dir, DBFile)); err != nil {
		return err
	}
	st, err := Open(ctx, dir, Options{LockTimeout: time.Second})
	if err != nil {
		return fmt.Errorf("does not open: %w", err)
	}
	rep, err := st.Verify(ctx)
	if err == nil && !rep.OK() {
		err = fmt.Errorf("%w: %s", ErrCorrupt, strings.Join(rep.Problems, "; "))
	}
	if err == nil && old.readable && old.device != "" && st.Device() != old.device {
		err = fmt.Errorf("it is of device %s, the replica of device %s", st.Device(), old.device)
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !old.readable {
		return nil
	}
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		out := tx.Bucket(bucketOutbox)
		if old.outbox > out.Sequence() {
			if err := out.SetSequence(old.outbox); err != nil {
				return err
			}
		}
		m := tx.Bucket(bucketMeta)
		// The trail goes back to the snapshot's: the next open says so in the trail
		// instead of taking it for a cut (checkpoint.go).
		if err := m.Put(metaRestored, []byte{1}); err != nil {
			return err
		}
		if len(old.clock) == 8 {
			if cur := m.Get(metaClock); len(cur) != 8 || binary.BigEndian.Uint64(old.clock) > binary.BigEndian.Uint64(cur) {
				return m.Put(metaClock, old.clock)
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// gunzipFile unpacks a gzip file to dst, fsynced.
func gunzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return fmt.Errorf("not a gzip file: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, zr); err != nil {
		out.Close()
		return fmt.Errorf("unpack: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
