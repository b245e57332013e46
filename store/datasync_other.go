//go:build !linux

package store

import "os"

// datasync flushes a file. Go's Sync uses F_FULLFSYNC on Apple systems and
// FlushFileBuffers on Windows, so the data reaches the disk, not only its cache.
func datasync(f *os.File) error { return f.Sync() }
