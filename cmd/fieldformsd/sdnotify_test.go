package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeNotify is a systemd notify socket: a unixgram socket in a temporary folder.
type fakeNotify struct {
	t    *testing.T
	conn *net.UnixConn
}

func newFakeNotify(t *testing.T) *fakeNotify {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &fakeNotify{t: t, conn: conn}
}

// next returns the next message, or "" when none comes within d.
func (f *fakeNotify) next(d time.Duration) string {
	f.conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	n, err := f.conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		f.t.Fatal(err)
	}
	return string(buf[:n])
}

// expect waits up to d for a message with the prefix, skipping others.
func (f *fakeNotify) expect(prefix string, d time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if m := f.next(time.Until(deadline)); strings.HasPrefix(m, prefix) {
			return
		}
	}
	f.t.Fatalf("no %s within %s", prefix, d)
}

func TestWatchdogPetsOnlyWhileHealthy(t *testing.T) {
	sock := newFakeNotify(t)
	t.Setenv("WATCHDOG_USEC", "100000") // 100 ms: pets every 50 ms
	t.Setenv("WATCHDOG_PID", "")
	var sick atomic.Bool
	healthy := func(context.Context) error {
		if sick.Load() {
			return errors.New("tenant acme: store closed")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	n := newSDNotifier(log)
	if n == nil {
		t.Fatal("NOTIFY_SOCKET not read")
	}
	if got := watchdogInterval(); got != 50*time.Millisecond {
		t.Fatalf("interval %s, want half of WATCHDOG_USEC", got)
	}
	n.send("READY=1")
	done := make(chan struct{})
	go func() {
		n.watchdog(ctx, watchdogInterval(), healthy)
		n.send("STOPPING=1")
		close(done)
	}()
	if m := sock.next(2 * time.Second); m != "READY=1" {
		t.Fatalf("first message %q, want READY=1", m)
	}
	for range 3 {
		sock.expect("WATCHDOG=1", 2*time.Second)
	}

	sick.Store(true)
	sock.expect("STATUS=unhealthy: tenant acme: store closed", 2*time.Second)
	// Nothing more while unhealthy: several intervals pass without a keep-alive.
	if m := sock.next(400 * time.Millisecond); m != "" {
		t.Fatalf("sent %q while unhealthy", m)
	}

	sick.Store(false)
	sock.expect("STATUS=serving", 2*time.Second)
	sock.expect("WATCHDOG=1", 2*time.Second)

	cancel()
	<-done
	sock.expect("STOPPING=1", 2*time.Second)
}

func TestWatchdogOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if newSDNotifier(slog.New(slog.DiscardHandler)) != nil {
		t.Fatal("a notifier without NOTIFY_SOCKET")
	}
	t.Setenv("WATCHDOG_USEC", "")
	if watchdogInterval() != 0 {
		t.Fatal("a watchdog without WATCHDOG_USEC")
	}
	t.Setenv("WATCHDOG_USEC", "30000000")
	t.Setenv("WATCHDOG_PID", "1")
	if watchdogInterval() != 0 {
		t.Fatal("petting the watchdog of another process")
	}
}
