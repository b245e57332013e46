//go:build !unix

package azurite

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to set where there are no process groups.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate ends the process; without Unix signals there is no gentler way.
func terminate(p *os.Process) { _ = p.Kill() }

// kill ends the process.
func kill(p *os.Process) { _ = p.Kill() }
