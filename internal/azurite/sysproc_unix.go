//go:build unix && !linux

package azurite

import "syscall"

// sysProcAttr puts Azurite in its own process group, so stopping it reaches
// any children.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
