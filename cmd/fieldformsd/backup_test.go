package main_test

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestBackupAndRestoreCommands(t *testing.T) {
	root := t.TempDir()
	cfg, data := "--config="+root+"/config", "--data="+root+"/data"
	mustRun(t, "init", cfg, data)
	mustRun(t, "tenant", "add", "acme", cfg, data)

	// No server: the commands work on the folders; backups go beside the data folder.
	out := mustRun(t, "backup", "now", cfg, data)
	m := regexp.MustCompile(`^backup (\S+) good: .*, 1 tenants, 0 records, in local \(local only\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup now: %q", out)
	}
	id := m[1]
	if _, err := os.Stat(filepath.Join(root, "data-backups", id, "manifest.json")); err != nil {
		t.Fatalf("backup not in the default folder: %v", err)
	}
	out = mustRun(t, "backup", "list", cfg, data)
	if !strings.HasPrefix(out, "ID ") || !regexp.MustCompile(id+` +good +\S+ \S+ \(local\) +local \(local only\)`).MatchString(out) {
		t.Fatalf("backup list:\n%s", out)
	}
	if out := mustRun(t, "backup", "verify", id, cfg, data); !strings.Contains(out, "backup "+id+" is good") {
		t.Fatalf("backup verify: %q", out)
	}
	if out := mustRun(t, "restore", "--tenant", "acme", "--backup", "latest", cfg, data); !strings.Contains(out, "tenant acme restored from backup "+id) {
		t.Fatalf("restore: %q", out)
	}
	oneLineError(t, fieldformsd(t, "backup", "verify", "20200101T000000Z", cfg, data), "no backup 20200101T000000Z")
	oneLineError(t, fieldformsd(t, "backup", "verify", "../etc", cfg, data), "not a backup ID")
	oneLineError(t, fieldformsd(t, "restore", "--backup", "latest", cfg, data), "--tenant")
	oneLineError(t, fieldformsd(t, "restore", "--tenant", "acme", cfg, data), "--backup")
	oneLineError(t, fieldformsd(t, "backup", "now", "--backup-dir", root+"/data/b", cfg, data), "inside the data folder")
	oneLineError(t, fieldformsd(t, "backup", "now", "--blob-endpoint", "https://x", cfg, data), "go together")

	// A server under a fake systemd: READY=1, keep-alives while healthy, and the
	// commands go through its admin socket.
	sockPath := filepath.Join(t.TempDir(), "notify.sock")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	srv := exec.Command(bin, "serve", cfg, data, "--addr", "127.0.0.1:0", "--backup-interval", "-1s")
	srv.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=200000")
	stdout, _ := srv.StdoutPipe()
	log := &lockedBuffer{}
	srv.Stderr = log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if srv.ProcessState == nil {
			srv.Process.Kill()
		}
	}()
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
	}()
	next := func(d time.Duration) string {
		sock.SetReadDeadline(time.Now().Add(d))
		buf := make([]byte, 512)
		n, err := sock.Read(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
	if msg := next(20 * time.Second); msg != "READY=1" {
		t.Fatalf("first notification %q; log: %s", msg, log.String())
	}
	if msg := next(5 * time.Second); msg != "WATCHDOG=1" {
		t.Fatalf("no keep-alive: %q; log: %s", msg, log.String())
	}

	out = mustRun(t, "backup", "now", cfg, data)
	if !strings.Contains(out, " good: ") {
		t.Fatalf("backup now through the server: %q", out)
	}
	if out := mustRun(t, "restore", "--tenant", "acme", "--backup", "latest", cfg, data); !strings.Contains(out, "tenant acme restored") {
		t.Fatalf("restore through the server: %q", out)
	}
	if out := mustRun(t, "backup", "list", "--json", cfg, data); strings.Count(out, `"state": "good"`) != 2 {
		t.Fatalf("backup list --json: %s", out)
	}
	if out := mustRun(t, "device", "list", "--tenant", "acme", cfg, data); !strings.Contains(out, "OLDEST UNSENT") {
		t.Fatalf("device list: %q", out)
	}

	srv.Process.Signal(syscall.SIGTERM)
	for {
		msg := next(20 * time.Second)
		if msg == "STOPPING=1" {
			break
		}
		// A health check slower than its 100 ms budget on a loaded machine says
		// STATUS=unhealthy and later STATUS=serving: not what this waits for.
		if msg != "WATCHDOG=1" && !strings.HasPrefix(msg, "STATUS=") {
			t.Fatalf("got %q waiting for STOPPING=1; log: %s", msg, log.String())
		}
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("serve: %v; log: %s", err, log.String())
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes into it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
