//go:build windows

package store

// Windows cannot fsync a folder; NTFS journals the rename itself.
func isUnsupported(error) bool { return true }
