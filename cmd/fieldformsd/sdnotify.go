package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/server"
)

// notifySystemd tells systemd the server is ready and, when the unit has a watchdog
// (WatchdogSec=, deploy/fieldformsd.service), pets it at half its interval while
// the server is healthy (server.Ready: the registry and every open tenant store
// answer), so a wedged server is killed and restarted (Restart=always). Backups
// and blob storage do not count here: a restart would not mend them and would cut
// devices off; /readyz reports them. Without NOTIFY_SOCKET it does nothing.
//
// It returns a function that waits until STOPPING=1 is sent (once ctx ends), which the
// caller runs before exiting so the message is not lost with the process.
func notifySystemd(ctx context.Context, s *server.Server, log *slog.Logger) (wait func()) {
	n := newSDNotifier(log)
	if n == nil {
		return func() {}
	}
	n.send("READY=1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if every := watchdogInterval(); every > 0 {
			n.watchdog(ctx, every, s.Ready)
		} else {
			<-ctx.Done()
		}
		n.send("STOPPING=1")
	}()
	return func() { <-done }
}

// sdNotifier sends sd_notify messages to the socket NOTIFY_SOCKET names.
type sdNotifier struct {
	addr *net.UnixAddr
	log  *slog.Logger
}

func newSDNotifier(log *slog.Logger) *sdNotifier {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	// "@name" is an abstract socket; Go's net package maps the '@' itself.
	return &sdNotifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}, log: log}
}

func (n *sdNotifier) send(msg string) {
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		n.log.Warn("systemd notify", "err", err)
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		n.log.Warn("systemd notify", "err", err)
	}
}

// watchdogInterval is half of WATCHDOG_USEC (systemd's advice), or 0 when the unit
// has no watchdog or it is meant for another process (WATCHDOG_PID).
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// watchdog sends WATCHDOG=1 every interval while healthy answers nil, until ctx
// ends. While it does not, it sends none (systemd then restarts the service once
// the watchdog time passes) and says why in STATUS=.
func (n *sdNotifier) watchdog(ctx context.Context, every time.Duration, healthy func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	sick := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, max(every/2, time.Millisecond))
		err := healthy(hctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			if sick {
				n.log.Info("healthy again; petting the watchdog")
				n.send("STATUS=serving")
				sick = false
			}
			n.send("WATCHDOG=1")
		case !sick:
			n.log.Error("not healthy; not petting the watchdog, systemd restarts the server unless it recovers", "err", err)
			n.send("STATUS=unhealthy: " + strings.Join(strings.Fields(err.Error()), " "))
			sick = true
		}
	}
}
