//go:build unix

package azurite

import (
	"os"
	"syscall"
)

// terminate asks the process and its group (node may fork) to exit.
func terminate(p *os.Process) { signalGroup(p, syscall.SIGTERM) }

// kill ends the process and its group at once.
func kill(p *os.Process) { signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) {
	// The process leads its own group (Setpgid), so -pid names the group.
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
