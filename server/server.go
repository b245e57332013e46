package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a server. ConfigDir and DataDir are required; the rest have
// defaults.
type Options struct {
	ConfigDir string // identity: TLS certificate and key, tenant keys, revocation list
	DataDir   string // registry and tenant stores; may be lost and rebuilt from devices
	// Create makes a missing identity (a self-signed certificate) and data folder, as
	// init and serve do; admin commands leave it false and fail on a folder that was
	// never initialised.
	Create bool

	Logger *slog.Logger
	Now    func() time.Time // the clock; tests inject it

	// HTTP server timeouts. Defaults: 10 s for headers, 5 min to read a request,
	// 5 min to write an answer, 2 min idle.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// RateLimit is the sustained number of requests a second each device (or, for calls
	// without a credential, each address) may make, and RateBurst how many it may make
	// at once. Defaults 20 and 100; a negative RateLimit turns the limit off.
	RateLimit float64
	RateBurst int

	// EnrolTTL is how long an enrolment code stays valid. Default 15 minutes.
	EnrolTTL time.Duration
	// LockTimeout bounds the wait for another process's lock on the registry or a
	// tenant store. Default 1 s.
	LockTimeout time.Duration
	// ActivityFlush is how often devices' last-seen times are written. Default 10 s.
	ActivityFlush time.Duration

	// ClaimLease is how long a rebuilding device's lease on a range it is sending
	// lasts after its last request (share.go). Default 30 s.
	ClaimLease time.Duration

	// Blob is where attachments live (Azure Blob Storage); nil: attachment calls
	// answer 503 unavailable. See blob.go and attachments.go.
	Blob *BlobOptions

	// Backup configures backups (backup.go); with Backup.Dir empty there are none.
	Backup BackupOptions
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 10*time.Second)
	def(&o.ReadTimeout, 5*time.Minute)
	def(&o.WriteTimeout, 5*time.Minute)
	def(&o.IdleTimeout, 2*time.Minute)
	def(&o.EnrolTTL, 15*time.Minute)
	def(&o.LockTimeout, time.Second)
	def(&o.ActivityFlush, 10*time.Second)
	def(&o.ClaimLease, 30*time.Second)
	if o.RateLimit == 0 {
		o.RateLimit = 20
	}
	if o.RateBurst == 0 {
		o.RateBurst = 100
	}
}

// Server is an open server: its identity, registry and tenant stores. Open one with
// [Open]; serve HTTPS with [Server.Serve] and admin commands with [Server.ServeAdmin].
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	id      *identity
	reg     *registry
	tenants *tenants
	limit   *limiter
	metrics *metrics
	act     *activity
	leases  leases // ranges rebuilding devices are sending (share.go)

	blob       *blobStore // nil without blob storage (attachments.go)
	containers sync.Map   // tenant → true once its blob container is known to exist
	purgeMu    sync.Mutex // one purge step at a time (purge.go)
	witnessMu  sync.Mutex // the config's checkpoint records (checkpoint.go)
	witnesses  map[string]witnessRecord
	devCheckMu sync.Mutex // devices' checkpoints (devicecheckpoint.go)
	bk         *backups   // backups and restores (backup.go, restore.go)

	addr    atomic.Pointer[string] // where Serve listens, once it does
	closing atomic.Bool

	bg        sync.WaitGroup
	stopBg    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens a server's config and data folders. It takes the registry's lock: one
// server (or one offline admin command) at a time per data folder.
func Open(ctx context.Context, opts Options) (*Server, error) {
	opts.defaults()
	if opts.DataDir == "" {
		return nil, errors.New("data folder: no path given")
	}
	// Without Create, a missing identity is an error; a missing data folder is not: a
	// lost one is rebuilt, as long as the identity is there.
	id, err := loadIdentity(opts.ConfigDir, opts.Create, opts.Now())
	if err != nil {
		return nil, err
	}
	reg, err := openRegistry(opts.DataDir, opts.LockTimeout)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts: opts, log: opts.Logger, now: opts.Now, id: id, reg: reg,
		tenants: newTenants(opts.DataDir, opts.Logger, opts.Now, opts.LockTimeout),
		limit:   newLimiter(opts.RateLimit, opts.RateBurst, opts.Now),
		metrics: newMetrics(),
		stopBg:  make(chan struct{}),
	}
	s.act = newActivity(s)
	s.leases.m = map[string][]rangeLease{}
	s.tenants.onOpen = s.applyPurgeLog
	s.tenants.onNewEpoch = s.epochMadeHere
	s.tenants.onReady = s.witnessAtOpen
	if opts.Blob != nil {
		if s.blob, err = newBlobStore(*opts.Blob, id.tenantKey); err != nil {
			reg.close()
			return nil, err
		}
	}
	if s.bk, err = newBackups(s); err != nil {
		reg.close()
		return nil, err
	}
	s.bg.Add(1)
	go s.flushLoop()
	return s, nil
}

// Fingerprint is the hex SHA-256 of the server certificate's DER encoding, which
// enrolment codes carry so devices can pin it.
func (s *Server) Fingerprint() string { return s.id.fingerprint }

// Certificate is the server's TLS certificate.
func (s *Server) Certificate() tls.Certificate { return s.id.cert }

// TLSConfig is the server's TLS configuration: its certificate, TLS 1.2 or later.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.id.cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// HTTPServer is an http.Server for the API with every timeout set and TLS configured.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Serve answers HTTPS on ln until ctx is done, then shuts down gracefully: it stops
// accepting, lets calls in flight finish (up to 30 s) and returns. It never serves
// plain text: ln is wrapped in TLS here. The caller closes the server after.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	if err := s.id.saveSettings(settings{Addr: addr}); err != nil {
		s.log.Warn("cannot record the listening address in the config folder", "err", err)
	}
	hs := s.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, hs.TLSConfig)) }()
	s.log.Info("serving", "addr", addr, "fingerprint", s.id.fingerprint)
	s.witnessOpenTenants(ctx)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.closing.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	s.log.Info("stopped serving", "addr", addr)
	return err
}

// Addr is the address Serve listens on, or "".
func (s *Server) Addr() string {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// OpenTenants opens every tenant's store, so readiness reflects them all and the
// first calls do not wait for it. serve calls it at start.
func (s *Server) OpenTenants(ctx context.Context) error {
	names, err := s.id.tenants()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		// A damaged tenant is offline alone, and logged once by tenants.markDamaged.
		if _, err := s.tenant(ctx, n); err != nil && !errors.Is(err, ErrTenantDamaged) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tenant returns an existing tenant's store, recording the tenant in the registry
// when a lost data folder forgot it.
func (s *Server) tenant(ctx context.Context, name string) (*tenant, error) {
	if _, err := s.id.tenantKey(name); err != nil {
		return nil, err
	}
	if _, err := s.reg.ensureTenant(name, s.now()); err != nil {
		return nil, err
	}
	return s.tenants.get(ctx, name)
}

// Ready reports whether the registry and every open tenant store answer.
func (s *Server) Ready(ctx context.Context) error {
	return errors.Join(s.storeProblems(ctx)...)
}

// Close writes pending device activity and closes the stores and the registry. It is
// safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.stopBg)
		s.bg.Wait()
		errs := []error{s.act.flush(), s.tenants.close(), s.reg.close()}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) flushLoop() {
	defer s.bg.Done()
	t := time.NewTicker(s.opts.ActivityFlush)
	defer t.Stop()
	for {
		select {
		case <-s.stopBg:
			return
		case <-t.C:
			if err := s.act.flush(); err != nil {
				s.log.Warn("cannot record device activity", "err", err)
			}
		}
	}
}
