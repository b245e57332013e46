package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes a file's data, and its size only when that changed: enough for a
// journal whose blocks exist before frames are written into them.
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
