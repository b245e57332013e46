package initstderr

import "syscall"

// saved is a duplicate of the original standard error and pipe the read end of
// the pipe now behind descriptor 2; both -1 when nothing is held.
var saved, pipe = -1, -1

func init() {
	if v, _ := syscall.Getenv("FIELDFORMS_INIT_STDERR"); v == "pass" {
		return
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return
	}
	orig, err := syscall.Dup(2)
	if err != nil { // no standard error to hold back
		syscall.Close(p[0])
		syscall.Close(p[1])
		return
	}
	syscall.CloseOnExec(orig)
	if err := syscall.Dup3(p[1], 2, 0); err != nil {
		syscall.Close(orig)
		syscall.Close(p[0])
		syscall.Close(p[1])
		return
	}
	syscall.Close(p[1])
	saved, pipe = orig, p[0]
}

// Release points standard error back where it was and returns what was written
// to it since the program started. Calls after the first return nil.
func Release() []byte {
	if saved < 0 {
		return nil
	}
	// Descriptor 2 held the pipe's only write end; once it points elsewhere the
	// pipe reads to its end.
	if err := syscall.Dup3(saved, 2, 0); err != nil {
		// Keep the pipe: reading it would wait for ever. Nothing else to do.
		return nil
	}
	syscall.Close(saved)
	saved = -1
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := syscall.Read(pipe, buf)
		if n > 0 {
			out = append(out, buf[:n]...)
		}
		if err == syscall.EINTR {
			continue
		}
		if n <= 0 || err != nil {
			break
		}
	}
	syscall.Close(pipe)
	pipe = -1
	return out
}
