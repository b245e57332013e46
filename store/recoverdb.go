package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// RecoverDamagedDatabase is the default RepairOptions.RecoverDatabase. It copies
// what the damaged replica.db still holds into a new database (SalvageDB), then
// merges in, field by field, the records and templates of the newest snapshot that
// opens, so a record on a page that could not be read comes back as the snapshot
// held it. The damaged file is kept as replica.db.damaged-STAMP. When nothing can be
// read from the damaged file, the newest snapshot is restored instead
// (RestoreNewestSnapshot). What the server holds comes back with the reconcile that
// Repair makes due.
func RecoverDamagedDatabase(ctx context.Context, dir string, damage error) (DatabaseRecovery, error) {
	dbPath := filepath.Join(dir, DBFile)
	tmp, err := os.MkdirTemp(dir, ".salvage-")
	if err != nil {
		return DatabaseRecovery{}, fmt.Errorf("salvage: %w", err)
	}
	defer os.RemoveAll(tmp)
	rep, err := SalvageDB(ctx, dbPath, tmp, Options{})
	if err != nil {
		// Nothing readable: the snapshot is all there is.
		rec, serr := RestoreNewestSnapshot(ctx, dir, damage)
		if serr != nil {
			return rec, fmt.Errorf("%w; and %w", err, serr)
		}
		return rec, nil
	}
	rec := DatabaseRecovery{Salvaged: rep.Records, Unreadable: rep.Lost}
	snap, err := mergeNewestSnapshot(ctx, dir, tmp)
	if err != nil {
		return rec, err
	}
	rec.Snapshot = snap
	// Swap: the damaged file is kept beside the new one.
	kept, err := setAside(dbPath, time.Now().UTC().Format(stampLayout))
	if err != nil {
		return rec, fmt.Errorf("salvage: keep the damaged %s: %w", DBFile, err)
	}
	if err := os.Rename(filepath.Join(tmp, DBFile), dbPath); err != nil {
		os.Rename(kept, dbPath)
		return rec, fmt.Errorf("salvage: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return rec, fmt.Errorf("salvage: %w", err)
	}
	rec.Kept = kept
	return rec, nil
}

// mergeNewestSnapshot merges the templates and records of the newest snapshot that
// opens into the replica in into, and returns its file ("" when there is none).
func mergeNewestSnapshot(ctx context.Context, dir, into string) (file string, err error) {
	list, err := ListSnapshots(SnapshotDir(dir))
	if err != nil || len(list) == 0 {
		return "", nil
	}
	dst, err := Open(ctx, into, Options{})
	if err != nil {
		return "", fmt.Errorf("salvage: %w", err)
	}
	defer dst.Close()
	// dst journals what it merges, and its applier moves the journal mark: the mark
	// that counts is the damaged replica's, for its journal's saves still to replay.
	var mark []byte
	if err := dst.dbView(func(tx *bolt.Tx) error {
		mark = bytes.Clone(tx.Bucket(bucketMeta).Get(metaApplied))
		return nil
	}); err != nil {
		return "", fmt.Errorf("salvage: %w", err)
	}
	defer func() {
		e := dst.update(ctx, func(tx *bolt.Tx) error {
			if mark == nil {
				return tx.Bucket(bucketMeta).Delete(metaApplied)
			}
			return tx.Bucket(bucketMeta).Put(metaApplied, mark)
		})
		if e != nil && err == nil {
			file, err = "", fmt.Errorf("salvage: %w", e)
		}
	}()
	for _, sn := range list {
		snapDir, err := os.MkdirTemp(dir, ".snapshot-")
		if err != nil {
			return "", fmt.Errorf("salvage: %w", err)
		}
		err = mergeSnapshot(ctx, sn.Path, snapDir, dst)
		os.RemoveAll(snapDir)
		if err == nil {
			return sn.Path, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
	}
	return "", nil
}

func mergeSnapshot(ctx context.Context, file, snapDir string, dst *Store) error {
	if err := gunzipFile(file, filepath.Join(snapDir, DBFile)); err != nil {
		return err
	}
	src, err := Open(ctx, snapDir, Options{})
	if err != nil {
		return err
	}
	defer src.Close()
	// The sync engine's state the salvage could not read (the enrolment, above all).
	missing := map[string][]byte{}
	err = src.view(ctx, func(stx *bolt.Tx) error {
		return dst.view(ctx, func(dtx *bolt.Tx) error {
			have := dtx.Bucket(bucketState)
			return stx.Bucket(bucketState).ForEach(func(k, v []byte) error {
				if have.Get(k) == nil {
					missing[string(k)] = bytes.Clone(v)
				}
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := dst.SetState(ctx, missing); err != nil {
			return err
		}
	}
	notices, err := src.PurgeNotices(ctx, "", 0)
	if err != nil {
		return err
	}
	for _, n := range notices {
		if _, err := dst.ApplyPurgeNotice(ctx, n, "repair", dst.Device(), "from the snapshot"); err != nil {
			return err
		}
	}
	for _, t := range src.Templates() {
		if _, err := dst.Template(t.Key()); err == nil {
			continue
		}
		if err := dst.PutTemplate(ctx, t); err != nil && !errors.Is(err, ErrBadInput) {
			return err
		}
	}
	var batch []form.Record
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := dst.ApplyRecords(ctx, batch, "repair")
		batch = batch[:0]
		return err
	}
	if err := src.ForEach(ctx, func(r form.Record) error {
		batch = append(batch, r)
		if len(batch) == 500 {
			return flush()
		}
		return nil
	}); err != nil {
		return err
	}
	return flush()
}
