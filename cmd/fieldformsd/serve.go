package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "Run the HTTPS sync server and the local admin socket until SIGTERM or SIGINT.",
		usage:   "--config DIR --data DIR [--addr HOST:PORT] [--blob-endpoint URL --blob-account NAME] [--backup-dir DIR] [--backup-interval 24h]  (account key in $FIELDFORMS_BLOB_KEY)",
		run:     runServe,
	})
}

func runServe(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	addr := fs.String("addr", server.DefaultAddr, "`HOST:PORT` to listen on (HTTPS only)")
	readHeader := fs.Duration("read-header-timeout", 10*time.Second, "how long a client may take to send its request headers")
	rate := fs.Float64("rate", 20, "requests a second each device may make on average (negative: no limit)")
	burst := fs.Int("burst", 100, "requests each device may make at once")
	fs.StringVar(&e.logLevel, "log-level", "info", "`LEVEL` of logs on standard error: debug, info, warn or error")
	// The account key comes from the environment only (see blob.go).
	blobEndpoint := fs.String("blob-endpoint", "", "Azure Blob service `URL` for attachments (https only); the account key is read from $"+server.EnvBlobKey)
	blobAccount := fs.String("blob-account", "", "Azure storage account `NAME` for attachments")
	bf := addBackupFlags(fs, false) // backup.go
	backupEvery := fs.Duration("backup-interval", server.DefaultBackupInterval, "take a backup this often (negative: only `fieldformsd backup now`)")
	backupMaxAge := fs.Duration("backup-max-age", server.DefaultBackupMaxAge, "/readyz fails when the newest good backup is older than this")
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
	if opts.Blob, err = blobOptions(*blobEndpoint, *blobAccount); err != nil {
		return err
	}
	opts.Backup = bf.options(e.dataDir)
	opts.Backup.Interval, opts.Backup.MaxAge = *backupEvery, *backupMaxAge
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
	if opts.Blob != nil {
		log.Info("attachments in Azure Blob Storage", "endpoint", opts.Blob.Endpoint, "account", opts.Blob.Account)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.SweepPurgedBlobs(ctx); err != nil {
				log.Warn("purge: deleting the blobs of earlier purges failed; the next start retries", "err", err)
			}
		}()
	} else {
		log.Warn("no blob storage (--blob-endpoint, --blob-account): attachment calls answer 503")
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.RunBackups(ctx)
	}()
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
	notified := notifySystemd(ctx, s, log)
	wg.Wait()
	cancel() // the servers may have stopped by themselves; either way we are stopping
	notified()
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

// blobOptions are the attachment storage settings of serve: both flags or neither,
// and the key from the environment.
func blobOptions(endpoint, account string) (*server.BlobOptions, error) {
	if endpoint == "" && account == "" {
		return nil, nil
	}
	if endpoint == "" || account == "" {
		return nil, usagef("--blob-endpoint and --blob-account go together")
	}
	key := os.Getenv(server.EnvBlobKey)
	if key == "" {
		return nil, fmt.Errorf("blob storage: set the account key in the environment variable %s", server.EnvBlobKey)
	}
	return &server.BlobOptions{Endpoint: endpoint, Account: account, Key: key}, nil
}
