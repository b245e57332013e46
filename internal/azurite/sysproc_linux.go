package azurite

import "syscall"

// sysProcAttr puts Azurite in its own process group, so stopping it reaches
// any children, and has the kernel kill it should the test binary die
// without running its cleanups (a panic or a -timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
