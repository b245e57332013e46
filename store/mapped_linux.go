package store

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// releaseMapped drops the process's mapping of size bytes of the database's shared,
// read-only map at addr; the file and the page cache keep them.
func releaseMapped(addr uintptr, size int64) error {
	if addr == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return fmt.Errorf("release mapped pages: %w", errno)
	}
	return nil
}
