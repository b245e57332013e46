package main

import (
	"os"
	"syscall"
)

// peakRSSMB is the highest resident memory a finished process had, as the kernel
// counted it (getrusage's ru_maxrss), in MiB; 0 when unknown.
func peakRSSMB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024
	}
	return 0
}
