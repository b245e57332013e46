package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CompactReport is what Compact did.
type CompactReport struct {
	File     string        `json:"file"`   // the replica's database
	Before   int64         `json:"before"` // its size in bytes before
	After    int64         `json:"after"`  // and after
	Records  int           `json:"records"`
	Duration time.Duration `json:"duration_ns"`
}

// Compact rewrites the replica in dir without free pages: bbolt never gives the
// pages of deleted or rewritten data back to the file system, so a replica stays
// as large as it ever was. The replica is opened (its journal applied, a file of an
// earlier schema converted), copied in key order into a new file beside it, which
// is fsynced and renamed over replica.db, as a conversion is: a kill at any moment
// leaves the old file or the new one, whole.
//
// It fails with ErrInUse while another process has the replica open, and refuses a
// folder without a replica.
func Compact(ctx context.Context, dir string, opts Options) (CompactReport, error) {
	rep := CompactReport{File: filepath.Join(dir, DBFile)}
	_, err := os.Stat(rep.File)
	if errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("compact: %s holds no replica (no %s)", dir, DBFile)
	}
	if err != nil {
		return rep, fmt.Errorf("compact: %w", err)
	}
	start := time.Now()
	s, err := Open(ctx, dir, opts)
	if err != nil {
		return rep, fmt.Errorf("compact: %w", err)
	}
	// Sizes are of the pages the file holds up to its high-water mark, not of the
	// file: on Windows bbolt grows the file to its whole memory map.
	err = s.dbView(func(tx *bolt.Tx) error {
		rep.Before = tx.Size()
		return nil
	})
	var res rewriteResult
	if err == nil {
		res, err = s.compact(ctx)
	}
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return rep, fmt.Errorf("compact %s: %w", rep.File, err)
	}
	rep.Records, rep.Duration, rep.After = res.Records, time.Since(start), res.Size
	s.log.Info("replica compacted", "file", rep.File, "before", rep.Before, "after", rep.After, "records", rep.Records)
	return rep, nil
}

// compact rewrites the open file, with every save applied and the writer held.
func (s *Store) compact(ctx context.Context) (rewriteResult, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.barrier(ctx); err != nil {
		return rewriteResult{}, err
	}
	if d := s.damaged.Load(); d != nil {
		return rewriteResult{}, d
	}
	return s.rewrite(ctx, schemaVersion, func(*bolt.Bucket) error { return nil })
}
