package store

// A replica's file is rewritten whole in two cases: a file of an earlier schema is
// converted to this one when it is opened (its records and audit entries passed
// through convertRecordValue and convertAuditValue, what the new layout derives
// built by finishUpgrade), and Compact rewrites it without free pages. Both copy
// every bucket in key order into a new file beside replica.db, fsync it and rename
// it over replica.db, then fsync the folder: a kill at any moment leaves either the
// old file whole or the new one whole. A leftover new file (a rewrite that never
// reached its rename) is removed by the next open.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RewriteSuffix names the new file a conversion or a compaction writes beside
// replica.db before renaming it into place.
const RewriteSuffix = ".rewrite"

// rewriteHook, when set, is called at named points of a rewrite: "copying" after
// each transaction that copied part of the file, "synced" when the new file is
// complete and fsynced but not yet renamed, "renamed" when it has replaced
// replica.db but the folder is not yet fsynced nor the file reopened. The kill
// tests stop the process there.
var rewriteHook func(stage string)

func rewriteAt(stage string) {
	if rewriteHook != nil {
		rewriteHook(stage)
	}
}

// rewriteBatch bounds what one write transaction of the new file holds: the copy
// commits after this many bytes of keys and values.
const rewriteBatch = 64 << 20

// rewriteResult is what a rewrite did.
type rewriteResult struct {
	Records int   // keys of the records bucket
	Size    int64 // bytes of the new file
}

// removeRewriteLeftover removes the new file of a rewrite that never reached its
// rename. The caller holds the replica's lock.
func (s *Store) removeRewriteLeftover() error {
	p := s.dbPath() + RewriteSuffix
	err := os.Remove(p)
	switch {
	case err == nil:
		s.log.Warn("removed the unfinished new file of an interrupted upgrade or compaction; the replica is as it was before it", "file", p)
		return nil
	case errors.Is(err, os.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("remove unfinished %s: %w", filepath.Base(p), err)
	}
}

// rewrite copies the database into a new file and puts it in place of the old one;
// s.db is the new file when it returns without error. from is the schema of the
// open file: when it is older than schemaVersion, record and audit values are
// converted and finishUpgrade runs. last runs in the final transaction of the new
// file, after every bucket is copied, with its meta bucket. Nothing may use the
// store meanwhile.
func (s *Store) rewrite(ctx context.Context, from uint32, last func(m *bolt.Bucket) error) (rewriteResult, error) {
	var res rewriteResult
	newPath := s.dbPath() + RewriteSuffix
	if err := os.Remove(newPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, err
	}
	dst, err := bolt.Open(newPath, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType,
		InitialMmapSize: s.bopts.InitialMmapSize})
	if err != nil {
		return res, fmt.Errorf("new file: %w", err)
	}
	fail := func(err error) (rewriteResult, error) {
		dst.Close()
		os.Remove(newPath)
		return rewriteResult{}, err
	}
	c := &copier{ctx: ctx, dst: dst, from: from, convert: from < schemaVersion}
	if c.tx, err = dst.Begin(true); err != nil {
		return fail(fmt.Errorf("new file: %w", err))
	}
	err = s.dbView(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := c.copy(b, [][]byte{name}); err != nil {
				return err
			}
			// Each bucket ends a transaction of the new file: a kill test can stop
			// the copy between two.
			return c.commit()
		})
	})
	if err == nil {
		err = func() error {
			for _, b := range allBuckets {
				if _, err := c.tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			if c.convert {
				if err := finishUpgrade(c.tx, from); err != nil {
					return fmt.Errorf("finish the upgrade from schema %d: %w", from, err)
				}
			}
			if err := last(c.tx.Bucket(bucketMeta)); err != nil {
				return err
			}
			res.Records = c.tx.Bucket(bucketRecords).Stats().KeyN
			err := c.tx.Commit()
			c.tx = nil
			if err != nil {
				return err
			}
			// The size as the last commit left it: a commit allocates the pages it
			// spills, so a size read inside the transaction can be short of them.
			return dst.View(func(tx *bolt.Tx) error {
				res.Size = tx.Size()
				return nil
			})
		}()
	}
	if err != nil {
		if c.tx != nil {
			c.tx.Rollback()
		}
		return fail(err)
	}
	if err := dst.Close(); err != nil {
		os.Remove(newPath)
		return res, fmt.Errorf("new file: %w", err)
	}
	// bbolt grows a file ahead of its pages; the copy needs none of that room.
	if err := syncFile(newPath, res.Size); err != nil {
		os.Remove(newPath)
		return res, fmt.Errorf("new file: %w", err)
	}
	rewriteAt("synced")
	if err := s.db.Close(); err != nil {
		os.Remove(newPath)
		return res, fmt.Errorf("close the old file: %w", err)
	}
	renameErr := os.Rename(newPath, s.dbPath())
	if renameErr == nil {
		rewriteAt("renamed")
		renameErr = syncDir(s.dir)
	}
	// Open again what is now replica.db: the new file, or the old one when the
	// rename failed.
	db, err := openBolt(s.dbPath(), s.bopts)
	if err != nil {
		return res, fmt.Errorf("reopen %s: %w", DBFile, err)
	}
	s.db = db
	if renameErr != nil {
		os.Remove(newPath)
		return res, fmt.Errorf("replace %s: %w", DBFile, renameErr)
	}
	return res, nil
}

// syncFile cuts the file to size when it is longer, and fsyncs it.
func syncFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && size > 0 && st.Size() > size {
		if err := f.Truncate(size); err != nil {
			return err
		}
	}
	return f.Sync()
}

// copier writes buckets into the new file in key order, in transactions of at most
// rewriteBatch bytes.
type copier struct {
	ctx     context.Context
	dst     *bolt.DB
	tx      *bolt.Tx
	bytes   int
	from    uint32
	convert bool
}

// bucket returns the bucket at path in the current transaction, made if missing.
func (c *copier) bucket(path [][]byte) (*bolt.Bucket, error) {
	b, err := c.tx.CreateBucketIfNotExists(path[0])
	for _, name := range path[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists(name)
	}
	if err != nil {
		return nil, err
	}
	// Copied in key order, a bucket fills its pages as far as later writes allow:
	// its own fill (fill.go), or 90 % for one whose keys arrive at random later.
	b.FillPercent = 0.9
	if fill, ok := fillOf(path); ok {
		b.FillPercent = fill
	}
	return b, nil
}

func (c *copier) commit() error {
	if err := c.tx.Commit(); err != nil {
		c.tx = nil
		return err
	}
	rewriteAt("copying")
	var err error
	c.tx, err = c.dst.Begin(true)
	c.bytes = 0
	return err
}

// copy copies src, its sequence and its nested buckets, to path.
func (c *copier) copy(src *bolt.Bucket, path [][]byte) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	dst, err := c.bucket(path)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", path[len(path)-1], err)
	}
	if err := dst.SetSequence(src.Sequence()); err != nil {
		return err
	}
	top := ""
	if len(path) == 1 {
		top = string(path[0])
	}
	cur := src.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v == nil {
			if sub := src.Bucket(k); sub != nil {
				if err := c.copy(sub, append(path[:len(path):len(path)], bytes.Clone(k))); err != nil {
					return err
				}
				if dst, err = c.bucket(path); err != nil {
					return err
				}
				continue
			}
		}
		if c.convert {
			switch top {
			case string(bucketRecords):
				if v, err = convertRecordValue(c.from, k, v); err != nil {
					return fmt.Errorf("convert record %s: %w", k, err)
				}
			case string(bucketAudit):
				if v, err = convertAuditValue(c.from, k, v); err != nil {
					return fmt.Errorf("convert audit entry %d: %w", seqOf(k), err)
				}
			}
		}
		// bbolt keeps references to the key and value until the commit: copy them
		// out of the source's mapping.
		if err := dst.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
			return fmt.Errorf("bucket %s: %w", top, err)
		}
		if c.bytes += len(k) + len(v); c.bytes >= rewriteBatch {
			if err := c.commit(); err != nil {
				return err
			}
			if err := c.ctx.Err(); err != nil {
				return err
			}
			if dst, err = c.bucket(path); err != nil {
				return err
			}
		}
	}
	return nil
}

// upgrade converts the open file, of schema from, to schemaVersion.
func (s *Store) upgrade(ctx context.Context, from uint32, device string) error {
	start := time.Now()
	res, err := s.rewrite(ctx, from, func(m *bolt.Bucket) error {
		if err := m.Put(metaSchema, u32(schemaVersion)); err != nil {
			return err
		}
		return m.Put(metaDevice, []byte(device))
	})
	if err != nil {
		return err
	}
	s.log.Info(fmt.Sprintf("replica upgraded from schema %d to %d in %.1fs (%d records)", from, schemaVersion,
		time.Since(start).Seconds(), res.Records), "file", s.dbPath())
	return nil
}

// seqOf reads an 8-byte sequence key, or 0.
func seqOf(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}
