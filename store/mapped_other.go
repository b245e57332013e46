//go:build !linux

package store

// releaseMapped does nothing here: the system keeps a mapped file's clean pages or
// drops them as memory requires.
func releaseMapped(addr uintptr, size int64) error { return nil }
