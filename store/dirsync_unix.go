//go:build !windows

package store

import (
	"errors"
	"syscall"
)

func isUnsupported(err error) bool { return errors.Is(err, syscall.EINVAL) }
