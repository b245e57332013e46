package sync

import "time"

// PushFigures returns what the rebuilds in this process measured (push.go) and sets
// them to zero.
func PushFigures() (read, waitAnswer, waitRead time.Duration, batches int) {
	return time.Duration(pushFigures.read.Swap(0)), time.Duration(pushFigures.waitAnswer.Swap(0)),
		time.Duration(pushFigures.waitRead.Swap(0)), int(pushFigures.batches.Swap(0))
}

// SetPlainToLoopback sets whether request bodies to a server on this machine go
// uncompressed, and returns the setting it replaces.
func SetPlainToLoopback(plain bool) bool {
	old := sendPlainToLoopback
	sendPlainToLoopback = plain
	return old
}
