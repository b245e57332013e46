package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "Run the HTTPS sync server and the local admin socket until SIGTERM or SIGINT.",
		usage:   "--config DIR --data DIR [--addr HOST:PORT]",
		run:     runServe,
	})
}

func runServe(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", server.DefaultAddr, "`HOST:PORT` to listen on (HTTPS only)")
	readHeader := fs.Duration("read-header-timeout", 10*time.Second, "how long a client may take to send its request headers")
	rate := fs.Float64("rate", 20, "requests a second each device may make on average (negative: no limit)")
	burst := fs.Int("burst", 100, "requests each device may make at once")
	fs.StringVar(&e.logLevel, "log-level", "info", "`LEVEL` of logs on standard error: debug, info, warn or error")
	// Accepted for the attachments feature (see DESIGN.md); the key comes from the
	// environment.
	fs.String("blob-endpoint", "", "Azure Blob `URL` for attachments")
	fs.String("blob-account", "", "Azure storage account `NAME` for attachments")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	opts := e.options()
	opts.Create = true
	opts.ReadHeaderTimeout = *readHeader
	opts.RateLimit, opts.RateBurst = *rate, *burst
	s, err := server.Open(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	log := opts.Logger
	if err := s.OpenTenants(ctx); err != nil {
		log.Error("some tenant stores did not open; their devices get 503 until they do", "err", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(e.stdout, "certificate SHA-256 fingerprint: %s\nlistening on https://%s\n", s.Fingerprint(), ln.Addr())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.ServeAdmin(ctx); err != nil {
			errs <- err
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.Serve(ctx, ln); err != nil {
			errs <- err
			cancel()
		}
	}()
	notifySystemd(ctx, s, log)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := s.Close(); err != nil {
		all = append(all, err)
	}
	if len(all) == 0 {
		log.Info("shut down cleanly")
	}
	return errors.Join(all...)
}
