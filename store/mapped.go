package store

import (
	bolt "go.etcd.io/bbolt"
)

// ReleaseMapped hands back to the kernel the pages of the replica's database this
// process has read through its memory map. bbolt reads by mapping the file, and a
// page once read stays in the process's resident memory (counted as file-backed)
// until the kernel needs it; a rebuild, a reseed, an export or a search over every
// record reads most of the file once, and its resident memory would grow to the
// file's size. After ReleaseMapped the pages stay in the kernel's page cache, shared
// and clean, and the next read maps them again without going to the disk.
//
// It changes nothing in the file and is safe at any moment, beside reads and
// writes: it runs in a read transaction, so bbolt cannot move its map meanwhile, and
// the map is shared and read-only, so a page dropped from it reads back as the file
// holds it. On Linux it is madvise(MADV_DONTNEED) over the map; elsewhere it does
// nothing.
func (s *Store) ReleaseMapped() error {
	return s.dbView(func(tx *bolt.Tx) error {
		return releaseMapped(s.db.Info().Data, tx.Size())
	})
}

// releaseInTx is ReleaseMapped within a read transaction a long read is under way
// in, between two of its steps; the pages it still needs are mapped again as read.
func (s *Store) releaseInTx(tx *bolt.Tx) {
	if err := releaseMapped(s.db.Info().Data, tx.Size()); err != nil {
		s.log.Debug("replica pages not released", "err", err)
	}
}
