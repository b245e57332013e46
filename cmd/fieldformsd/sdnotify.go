package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/fieldforms/fieldforms/server"
)

// notifySystemd tells systemd the server is ready and, when the unit has a watchdog,
// pets it while the server is ready, so a wedged server is restarted (Restart=always,
// WatchdogSec=). Without NOTIFY_SOCKET it does nothing.
func notifySystemd(ctx context.Context, s *server.Server, log *slog.Logger) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	send := func(msg string) {
		conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
		if err != nil {
			log.Warn("systemd notify", "err", err)
			return
		}
		defer conn.Close()
		conn.Write([]byte(msg))
	}
	send("READY=1")
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(time.Duration(usec) * time.Microsecond / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				send("STOPPING=1")
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := s.Ready(rctx); err == nil {
					send("WATCHDOG=1")
				} else {
					log.Warn("not ready; not petting the watchdog", "err", err)
				}
				cancel()
			}
		}
	}()
}
