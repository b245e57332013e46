package store

// Every use of bbolt goes through guard: bbolt panics on a page it does not expect,
// and reading a page of a file cut after it was mapped is a memory fault (SIGBUS);
// either would end the program. Under guard both become a DamageError, and the store
// writes nothing more to the file.

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// guarded runs fn with memory faults turned into panics for this goroutine, and
// turns a panic into a *DamageError about file. bbolt's View and Update roll their
// transaction back when fn panics, so no lock stays held.
func guarded(file, advice string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &DamageError{File: file, What: fmt.Sprintf("reading it failed: %v", p), Advice: advice}
		}
	}()
	return fn()
}

// openBolt opens the database under guard: bbolt reads the freelist while it opens.
func openBolt(path string, opts Options) (db *bolt.DB, err error) {
	err = guarded(path, opts.DamageAdvice, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:         opts.LockTimeout,
			InitialMmapSize: opts.InitialMmapSize,
			FreelistType:    bolt.FreelistMapType,
		})
		return err
	})
	return db, err
}

func (s *Store) dbPath() string { return filepath.Join(s.dir, DBFile) }

// guard runs fn under guarded and remembers damage it meets.
func (s *Store) guard(fn func() error) error {
	err := guarded(s.dbPath(), s.advice, fn)
	var d *DamageError
	if err != nil && errors.Is(err, ErrCorrupt) && !errors.As(err, &d) {
		// Something read from the file is not what the store writes: say which file.
		return &DamageError{File: s.dbPath(), What: err.Error(), Advice: s.advice}
	}
	if errors.As(err, &d) && d.File == s.dbPath() {
		if s.damaged.CompareAndSwap(nil, d) {
			s.log.Error("database damaged; the replica takes no more writes", "file", d.File, "err", d.Error())
		}
	}
	return err
}

// Damaged returns the damage the store has met, or nil: after it, every write fails.
func (s *Store) Damaged() error {
	if d := s.damaged.Load(); d != nil {
		return d
	}
	return nil
}

// dbView runs a read transaction under guard.
func (s *Store) dbView(fn func(*bolt.Tx) error) error {
	return s.guard(func() error { return s.db.View(fn) })
}

// dbUpdate runs a write transaction under guard, unless the file is known damaged,
// with each bucket's pages filled as its keys allow (fill.go).
func (s *Store) dbUpdate(fn func(*bolt.Tx) error) error {
	if d := s.damaged.Load(); d != nil {
		return d
	}
	return s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			setFill(tx)
			return fn(tx)
		})
	})
}
