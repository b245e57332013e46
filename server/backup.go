package server

// Backups (promise P3): a hot backup of every tenant store and the registry, every
// BackupOptions.Interval, each file gzip'd with a manifest, written to a local
// folder apart from the data folder and uploaded to an Azure Blob container (the
// second copy). A backup counts as good only once a test restore of it passed (see
// restore.go); backups older than the retention are deleted from both places, but
// never the newest good one.
//
// Layout of backup ID (its UTC time, 20060102T150405Z, "-2" and on when two fall in
// one second):
//
//	local:  BACKUPDIR/ID/manifest.json, state.json, registry.db.gz, tenant-NAME.db.gz
//	blob:   CONTAINER/backups/ID/manifest.json, registry.db.gz, tenant-NAME.db.gz,
//	        state-TIME.json (one new blob per check: nothing is ever overwritten, so
//	        the container may carry an immutability policy)

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	bolt "go.etcd.io/bbolt"

	"github.com/fieldforms/fieldforms/store"
)

// BackupOptions configure backups. With Dir empty there are none: no schedule, and
// readiness does not look at backups.
type BackupOptions struct {
	// Dir is the local backup folder. It must not be inside the data folder, which
	// may be lost; DefaultBackupDir gives a sibling of it.
	Dir string
	// Container is the Azure Blob container of the second copy, in the account of
	// Options.Blob. Default DefaultBackupContainer. Without Options.Blob backups are
	// local only, and readiness says so.
	Container string
	// Interval between scheduled backups (RunBackups). Default 24 h.
	Interval time.Duration
	// Retention: backups older than this are deleted from both places, except the
	// newest good one. Default 90 days.
	Retention time.Duration
	// MaxAge: /readyz fails when the newest good backup is older. Default 26 h.
	MaxAge time.Duration
	// Version is the server version written into manifests; default Version.
	Version string
}

// Defaults of backups.
const (
	DefaultBackupContainer = "fieldforms-backups"
	DefaultBackupInterval  = 24 * time.Hour
	DefaultBackupRetention = 90 * 24 * time.Hour
	DefaultBackupMaxAge    = 26 * time.Hour
	// BackupBlobPrefix is where backups live in their container.
	BackupBlobPrefix = "backups/"
)

// Version is the server's version, set at build time with
// -ldflags "-X github.com/fieldforms/fieldforms/server.Version=1.2.3"; when empty
// the module version or VCS revision the binary was built from is used.
var Version = ""

func serverVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "unknown"
}

// DefaultBackupDir is the default backup folder for a data folder: a sibling of it,
// DATA-backups, so losing the data folder does not lose the backups.
func DefaultBackupDir(dataDir string) string {
	clean := filepath.Clean(dataDir)
	return filepath.Join(filepath.Dir(clean), filepath.Base(clean)+"-backups")
}

// Backup states.
const (
	BackupPending = "pending" // written, not yet test-restored
	BackupGood    = "good"    // a test restore passed
	BackupBad     = "bad"     // a test restore failed; Reason says why
)

// Places of a backup.
const (
	PlaceLocal = "local"
	PlaceBlob  = "blob"
)

// BackupManifest describes one backup. It is written once and never changed.
type BackupManifest struct {
	Format        int          `json:"format"`
	ID            string       `json:"id"`
	Created       time.Time    `json:"created"`
	ServerVersion string       `json:"server_version"`
	Files         []BackupFile `json:"files"`
}

// BackupFile is one gzip'd database in a backup.
type BackupFile struct {
	Name             string `json:"name"` // registry.db.gz or tenant-NAME.db.gz
	Kind             string `json:"kind"` // "registry" or "tenant"
	Tenant           string `json:"tenant,omitempty"`
	Size             int64  `json:"size"`   // of the database, uncompressed
	SHA256           string `json:"sha256"` // of the database, uncompressed
	CompressedSize   int64  `json:"compressed_size"`
	CompressedSHA256 string `json:"compressed_sha256"`
	// A tenant's records (deleted ones included), deleted records, audit entries
	// and epoch, as of the copy; for the registry, its tenants and devices.
	Records      int    `json:"records"`
	Deleted      int    `json:"deleted,omitempty"`
	AuditEntries int    `json:"audit_entries,omitempty"`
	Epoch        string `json:"epoch,omitempty"`
	Tenants      int    `json:"tenants,omitempty"`
	Devices      int    `json:"devices,omitempty"`
	// Checkpoint is a tenant's audit checkpoint signed just before the copy (a
	// signed note, checkpoint.go): the copy's trail must extend it.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// File kinds.
const (
	fileRegistry = "registry"
	fileTenant   = "tenant"
)

// BackupState is the outcome of a backup's latest check.
type BackupState struct {
	State   string    `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Checked time.Time `json:"checked,omitzero"`
	From    string    `json:"from,omitempty"` // the place the checked copy came from
}

// BackupInfo is a backup as `fieldformsd backup list` shows it.
type BackupInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	BackupState
	Places  []string `json:"places"`
	Size    int64    `json:"size"` // compressed bytes of its files
	Tenants []string `json:"tenants"`
	Records int      `json:"records"` // over all tenants
	// BlobError says why the second copy is missing or incomplete.
	BlobError string `json:"blob_error,omitempty"`
	// LocalOnly: there is no blob storage configured for a second copy.
	LocalOnly bool `json:"local_only,omitempty"`
}

func (b BackupInfo) has(place string) bool { return slices.Contains(b.Places, place) }

// backups is the server's side of backups.
type backups struct {
	s      *Server
	opts   BackupOptions
	client *azblob.Client // nil: local only

	mu sync.Mutex // one backup, check, restore or prune at a time

	total, failed atomic.Int64
	lastGood      atomic.Int64 // creation time (unix ns) of the newest good backup; 0: none known
	started       time.Time

	blobMu    sync.Mutex
	blobAt    time.Time
	blobErr   error
	blobKnown bool
}

var backupIDRe = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z(-[0-9]{1,4})?$`)

// ValidBackupID reports whether s is a backup ID.
func ValidBackupID(s string) bool { return backupIDRe.MatchString(s) }

func backupTime(id string) time.Time {
	t, _ := time.Parse("20060102T150405Z", id[:16])
	return t
}

func newBackups(s *Server) (*backups, error) {
	o := s.opts.Backup
	b := &backups{s: s, opts: o, started: s.now()}
	if o.Interval == 0 {
		b.opts.Interval = DefaultBackupInterval
	}
	if o.Retention == 0 {
		b.opts.Retention = DefaultBackupRetention
	}
	if o.MaxAge == 0 {
		b.opts.MaxAge = DefaultBackupMaxAge
	}
	if o.Container == "" {
		b.opts.Container = DefaultBackupContainer
	}
	if o.Version == "" {
		b.opts.Version = serverVersion()
	}
	if o.Dir != "" {
		dir, err := filepath.Abs(o.Dir)
		if err != nil {
			return nil, fmt.Errorf("backup folder: %w", err)
		}
		data, err := filepath.Abs(s.opts.DataDir)
		if err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		if rel, err := filepath.Rel(data, dir); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			return nil, fmt.Errorf("backup folder %s is inside the data folder %s, which may be lost with it; put it beside (default %s)", dir, data, DefaultBackupDir(data))
		}
		b.opts.Dir = dir
	}
	if s.opts.Blob != nil {
		c, err := backupBlobClient(*s.opts.Blob)
		if err != nil {
			return nil, err
		}
		b.client = c
	}
	if b.enabled() {
		b.refreshLocal()
	}
	return b, nil
}

func (b *backups) enabled() bool { return b.opts.Dir != "" }

// backupBlobClient connects to the blob account of attachments, https only, with
// the shared key.
func backupBlobClient(o BlobOptions) (*azblob.Client, error) {
	u, err := url.Parse(o.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("blob storage: endpoint %q is not an https URL; backups never travel in plain text", o.Endpoint)
	}
	cred, err := azblob.NewSharedKeyCredential(o.Account, o.Key)
	if err != nil {
		return nil, fmt.Errorf("blob storage: the account key in %s is not valid base64", EnvBlobKey)
	}
	var co azblob.ClientOptions
	if o.HTTPClient != nil {
		co.Transport = o.HTTPClient
	}
	co.Retry = policy.RetryOptions{MaxRetries: 4, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 10 * time.Second}
	c, err := azblob.NewClientWithSharedKeyCredential(strings.TrimRight(o.Endpoint, "/")+"/", cred, &co)
	if err != nil {
		return nil, fmt.Errorf("blob storage: %w", err)
	}
	return c, nil
}

// shortBlobErr shortens the SDK's many-line errors to status and code.
func shortBlobErr(err error) error {
	var re *azcore.ResponseError
	var ue *url.Error
	switch {
	case errors.As(err, &re):
		return fmt.Errorf("blob storage: %d %s", re.StatusCode, re.ErrorCode)
	case errors.As(err, &ue):
		return ue.Err // the operation and URL say nothing the caller does not know
	}
	return err
}

func blobNotFound(err error) bool {
	var re *azcore.ResponseError
	return bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) ||
		errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// Admin operations of backups.
const (
	OpBackupNow     = "backup.now"
	OpBackupList    = "backup.list"
	OpBackupVerify  = "backup.verify"
	OpBackupRestore = "backup.restore"
	OpBackupPrune   = "backup.prune"
)

// Arguments of backup operations.
type (
	BackupVerifyArgs struct {
		ID   string `json:"id"`
		From string `json:"from,omitempty"` // local, blob, or "" for local when it is there
	}
	RestoreArgs struct {
		Tenant string `json:"tenant"`
		Backup string `json:"backup"`         // an ID or "latest"
		From   string `json:"from,omitempty"` // local, blob, or ""
	}
	PruneResult struct {
		Deleted []string `json:"deleted"`
		Kept    string   `json:"kept,omitempty"` // the newest good backup
	}
)

func init() {
	RegisterAdminOp(OpBackupNow, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		if err := decodeArgs(raw, &struct{}{}); err != nil {
			return nil, err
		}
		return s.BackupNow(ctx)
	})
	RegisterAdminOp(OpBackupList, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		if err := decodeArgs(raw, &struct{}{}); err != nil {
			return nil, err
		}
		return s.ListBackups(ctx)
	})
	RegisterAdminOp(OpBackupVerify, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a BackupVerifyArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		return s.VerifyBackup(ctx, a.ID, a.From)
	})
	RegisterAdminOp(OpBackupRestore, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a RestoreArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		return s.RestoreTenant(ctx, a.Tenant, a.Backup, a.From)
	})
	RegisterAdminOp(OpBackupPrune, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		if err := decodeArgs(raw, &struct{}{}); err != nil {
			return nil, err
		}
		return s.PruneBackups(ctx)
	})
}

var (
	errNoBackups  = errors.New("backups are not configured (no backup folder)")
	errNoSuchBlob = errors.New("no such blob")
)

// BackupNow takes a backup of every tenant and the registry, checks it by a test
// restore, uploads it as the second copy and then applies the retention. The
// backup is returned even when it turned out bad, with the error.
func (s *Server) BackupNow(ctx context.Context) (BackupInfo, error) {
	b := s.bk
	if !b.enabled() {
		return BackupInfo{}, errNoBackups
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	info, err := b.create(ctx)
	if err != nil {
		if ctx.Err() != nil {
			s.log.Info("backup interrupted", "backup", info.ID, "err", err)
			return info, err
		}
		b.failed.Add(1)
		s.log.Error("backup failed", "backup", info.ID, "err", err)
		return info, err
	}
	s.log.Info("backup done", "backup", info.ID, "state", info.State, "places", strings.Join(info.Places, ","), "bytes", info.Size, "blob_error", info.BlobError)
	if _, err := b.prune(ctx); err != nil {
		s.log.Warn("backup retention", "err", err)
	}
	return info, nil
}

// create writes, checks and uploads one backup. The caller holds b.mu.
func (b *backups) create(ctx context.Context) (BackupInfo, error) {
	b.total.Add(1)
	now := b.s.now().UTC()
	if err := os.MkdirAll(b.opts.Dir, 0o700); err != nil {
		return BackupInfo{}, fmt.Errorf("backup folder: %w", err)
	}
	id, final, err := b.reserve(now)
	if err != nil {
		return BackupInfo{}, err
	}
	info := BackupInfo{ID: id, Created: now}
	partial := filepath.Join(b.opts.Dir, "."+id+".partial")
	if err := os.Mkdir(partial, 0o700); err != nil {
		os.Remove(final)
		return info, fmt.Errorf("backup: %w", err)
	}
	m, err := b.write(ctx, id, now, partial)
	if err != nil {
		os.RemoveAll(partial)
		os.Remove(final)
		return info, err
	}
	// The reserved name is an empty folder; the written one takes its place whole.
	if err := os.Remove(final); err != nil {
		os.RemoveAll(partial)
		return info, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(partial, final); err != nil {
		os.RemoveAll(partial)
		return info, fmt.Errorf("backup: %w", err)
	}
	if err := fsyncDir(b.opts.Dir); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	info = infoOf(m, BackupState{State: BackupPending}, PlaceLocal)

	st := b.check(ctx, m, localSource(final))
	if err := writeJSONFile(filepath.Join(final, "state.json"), st); err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	info.BackupState = st
	if st.State == BackupGood {
		b.noteGood(m.Created)
	}
	if b.client == nil {
		info.LocalOnly = true
	} else if err := b.upload(ctx, final, m, st); err != nil {
		info.BlobError = err.Error()
		b.s.log.Error("backup: second copy not uploaded; the next backup tries again", "backup", id, "err", err)
	} else {
		info.Places = append(info.Places, PlaceBlob)
	}
	if st.State != BackupGood {
		return info, fmt.Errorf("backup %s is bad: %s", id, st.Reason)
	}
	if b.client != nil {
		b.uploadMissing(ctx, id)
	}
	return info, nil
}

// reserve makes the backup's folder name, unique among local backups: an empty
// folder that the written backup replaces.
func (b *backups) reserve(now time.Time) (id, dir string, err error) {
	base := now.Format("20060102T150405Z")
	for i := 1; i < 1000; i++ {
		id = base
		if i > 1 {
			id = fmt.Sprintf("%s-%d", base, i)
		}
		dir = filepath.Join(b.opts.Dir, id)
		err = os.Mkdir(dir, 0o700)
		if err == nil {
			return id, dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("backup: %w", err)
		}
	}
	return "", "", fmt.Errorf("backup: no free name for %s", base)
}

// write makes the backup's files and manifest in dir, fsynced.
func (b *backups) write(ctx context.Context, id string, now time.Time, dir string) (BackupManifest, error) {
	m := BackupManifest{Format: 1, ID: id, Created: now, ServerVersion: b.opts.Version}
	names, err := b.s.id.tenants()
	if err != nil {
		return m, err
	}
	for _, name := range names {
		t, err := b.s.tenant(ctx, name)
		if errors.Is(err, ErrTenantDamaged) {
			// Its older backups are what it will be restored from; this one goes on
			// without it.
			b.s.log.Warn("backup skips a tenant that is offline because its data is damaged", "backup", id, "tenant", name)
			continue
		}
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		f := BackupFile{Name: "tenant-" + name + ".db.gz", Kind: fileTenant, Tenant: name}
		// The trail's latest signed checkpoint, taken before the copy: the copy's
		// trail extends it (the trail only grows), which the check proves.
		signed, ws, err := b.s.signCheckpoint(ctx, t)
		switch {
		case err == nil:
			f.Checkpoint = signed
			if ws.problem != "" {
				b.s.log.Error("backup of a tenant whose audit trail does not match the checkpoint the server signed", "backup", id, "tenant", name, "problem", ws.problem)
			}
		default:
			b.s.log.Error("backup without a signed audit checkpoint", "backup", id, "tenant", name, "err", err)
		}
		err = writeGzip(ctx, filepath.Join(dir, f.Name), &f, func(w io.Writer) error {
			st, err := t.st.BackupWithStats(ctx, w, stateEpoch)
			f.Records, f.Deleted, f.AuditEntries, f.Epoch = st.Records, st.Deleted, st.AuditEntries, st.State[stateEpoch]
			return err
		})
		if err != nil {
			return m, fmt.Errorf("backup of tenant %s: %w", name, err)
		}
		m.Files = append(m.Files, f)
	}
	f := BackupFile{Name: "registry.db.gz", Kind: fileRegistry}
	if err := b.s.act.flush(); err != nil {
		b.s.log.Warn("backup: device activity not written before the registry copy", "err", err)
	}
	err = writeGzip(ctx, filepath.Join(dir, f.Name), &f, func(w io.Writer) error {
		return b.s.reg.db.View(func(tx *bolt.Tx) error {
			f.Tenants = tx.Bucket(bucketTenants).Stats().KeyN
			f.Devices = tx.Bucket(bucketDevices).Stats().KeyN
			f.Records = f.Devices
			_, err := tx.WriteTo(w)
			return err
		})
	})
	if err != nil {
		return m, fmt.Errorf("backup of the registry: %w", err)
	}
	m.Files = append(m.Files, f)
	if err := writeJSONFile(filepath.Join(dir, "manifest.json"), m); err != nil {
		return m, err
	}
	return m, fsyncDir(dir)
}

// writeGzip writes what fill writes, gzip'd, to path (fsynced), and records sizes
// and hashes of both forms in f.
func writeGzip(ctx context.Context, path string, f *BackupFile, fill func(io.Writer) error) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	zc := &hashCounter{h: sha256.New()}
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(out, zc), gzip.BestSpeed)
	uc := &hashCounter{h: sha256.New()}
	if err := fill(&ctxWriter{ctx: ctx, w: io.MultiWriter(zw, uc)}); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	f.Size, f.SHA256 = uc.n, hex.EncodeToString(uc.h.Sum(nil))
	f.CompressedSize, f.CompressedSHA256 = zc.n, hex.EncodeToString(zc.h.Sum(nil))
	return out.Close()
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

// ctxWriter stops a long copy when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func writeJSONFile(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// fsyncDir fsyncs a folder so renames in it are durable, where the system allows.
func fsyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil // folders cannot be synced here
		}
		return err
	}
	return nil
}

func infoOf(m BackupManifest, st BackupState, places ...string) BackupInfo {
	info := BackupInfo{ID: m.ID, Created: m.Created, BackupState: st, Places: places, Tenants: []string{}}
	for _, f := range m.Files {
		info.Size += f.CompressedSize
		if f.Kind == fileTenant {
			info.Tenants = append(info.Tenants, f.Tenant)
			info.Records += f.Records
		}
	}
	return info
}

func (b *backups) noteGood(created time.Time) {
	for {
		cur := b.lastGood.Load()
		if created.UnixNano() <= cur || b.lastGood.CompareAndSwap(cur, created.UnixNano()) {
			return
		}
	}
}

// lastGoodTime is the creation time of the newest good backup known, or zero.
func (b *backups) lastGoodTime() time.Time {
	if n := b.lastGood.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// refreshLocal learns the newest good local backup.
func (b *backups) refreshLocal() {
	for _, info := range b.listLocal() {
		if info.State == BackupGood {
			b.noteGood(info.Created)
		}
	}
}

// ----- the blob copy -----

func (b *backups) blobName(id, file string) string { return BackupBlobPrefix + id + "/" + file }

// upload copies a local backup to the container: its files, then its manifest,
// then its state. The manifest last: a backup without one in the container is an
// incomplete upload.
func (b *backups) upload(ctx context.Context, dir string, m BackupManifest, st BackupState) error {
	if _, err := b.client.CreateContainer(ctx, b.opts.Container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create container %s: %w", b.opts.Container, shortBlobErr(err))
	}
	for _, f := range m.Files {
		if err := b.uploadFile(ctx, filepath.Join(dir, f.Name), b.blobName(m.ID, f.Name)); err != nil {
			return err
		}
	}
	if err := b.uploadFile(ctx, filepath.Join(dir, "manifest.json"), b.blobName(m.ID, "manifest.json")); err != nil {
		return err
	}
	return b.putBlobState(ctx, m.ID, st)
}

func (b *backups) uploadFile(ctx context.Context, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = b.client.UploadFile(ctx, b.opts.Container, name, f, &azblob.UploadFileOptions{BlockSize: 8 << 20, Concurrency: 4})
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, shortBlobErr(err))
	}
	return nil
}

// putBlobState records a check's outcome as a new blob; the newest one counts.
func (b *backups) putBlobState(ctx context.Context, id string, st BackupState) error {
	data, _ := json.Marshal(st)
	at := st.Checked
	if at.IsZero() {
		at = b.s.now()
	}
	name := b.blobName(id, "state-"+at.UTC().Format("20060102T150405.000000000Z")+".json")
	if _, err := b.client.UploadBuffer(ctx, b.opts.Container, name, data, nil); err != nil {
		return fmt.Errorf("upload %s: %w", name, shortBlobErr(err))
	}
	return nil
}

// uploadMissing uploads the good local backups (other than except) the container
// lacks: those whose upload failed earlier.
func (b *backups) uploadMissing(ctx context.Context, except string) {
	remote, err := b.listBlob(ctx)
	if err != nil {
		return
	}
	for _, info := range b.listLocal() {
		if info.ID == except || info.State != BackupGood {
			continue
		}
		if r, ok := remote[info.ID]; ok && r.manifest {
			continue
		}
		dir := filepath.Join(b.opts.Dir, info.ID)
		m, err := readManifestFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			continue
		}
		if err := b.upload(ctx, dir, m, info.BackupState); err != nil {
			b.s.log.Warn("backup: earlier backup still not uploaded", "backup", info.ID, "err", err)
			return
		}
		b.s.log.Info("backup: earlier backup uploaded", "backup", info.ID)
	}
}

// blobBackup is what the container holds of one backup.
type blobBackup struct {
	manifest bool
	state    string // name of the newest state blob
	size     int64
	blobs    []string
}

// listBlob lists the backups in the container by ID.
func (b *backups) listBlob(ctx context.Context) (map[string]*blobBackup, error) {
	out := map[string]*blobBackup{}
	prefix := BackupBlobPrefix
	pager := b.client.NewListBlobsFlatPager(b.opts.Container, &azblob.ListBlobsFlatOptions{Prefix: &prefix})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if blobNotFound(err) {
			return out, nil // no container yet
		}
		if err != nil {
			return nil, fmt.Errorf("list backups in %s: %w", b.opts.Container, shortBlobErr(err))
		}
		for _, it := range page.Segment.BlobItems {
			if it.Name == nil {
				continue
			}
			id, file, ok := strings.Cut(strings.TrimPrefix(*it.Name, BackupBlobPrefix), "/")
			if !ok || !ValidBackupID(id) {
				continue
			}
			bb := out[id]
			if bb == nil {
				bb = &blobBackup{}
				out[id] = bb
			}
			bb.blobs = append(bb.blobs, *it.Name)
			switch {
			case file == "manifest.json":
				bb.manifest = true
			case strings.HasPrefix(file, "state-") && strings.HasSuffix(file, ".json"):
				if *it.Name > bb.state {
					bb.state = *it.Name
				}
			case strings.HasSuffix(file, ".db.gz"):
				if it.Properties != nil && it.Properties.ContentLength != nil {
					bb.size += *it.Properties.ContentLength
				}
			}
		}
	}
	return out, nil
}

func (b *backups) downloadSmall(ctx context.Context, name string) ([]byte, error) {
	resp, err := b.client.DownloadStream(ctx, b.opts.Container, name, nil)
	if blobNotFound(err) {
		return nil, fmt.Errorf("download %s: %w", name, errNoSuchBlob)
	}
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", name, shortBlobErr(err))
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// deleteBlobBackup deletes every blob of a backup.
func (b *backups) deleteBlobBackup(ctx context.Context, bb *blobBackup) error {
	var errs []error
	for _, name := range bb.blobs {
		if _, err := b.client.DeleteBlob(ctx, b.opts.Container, name, nil); err != nil && !blobNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", name, shortBlobErr(err)))
		}
	}
	return errors.Join(errs...)
}

// blobReachable checks the container's account answers, at most every 30 s.
func (b *backups) blobReachable(ctx context.Context) error {
	if b.client == nil {
		return nil
	}
	b.blobMu.Lock()
	defer b.blobMu.Unlock()
	if b.blobKnown && time.Since(b.blobAt) < 30*time.Second {
		return b.blobErr
	}
	cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	// One try: a health check must answer quickly, and the next one tries again.
	cctx = policy.WithRetryOptions(cctx, policy.RetryOptions{MaxRetries: -1, TryTimeout: 3 * time.Second})
	_, err := b.client.ServiceClient().NewContainerClient(b.opts.Container).GetProperties(cctx, &container.GetPropertiesOptions{})
	if blobNotFound(err) {
		err = nil // the account answers; the container comes with the first upload
	}
	if err != nil {
		err = shortBlobErr(err)
	}
	b.blobErr, b.blobAt, b.blobKnown = err, time.Now(), true
	return err
}

// ----- listing -----

func readManifestFile(path string) (BackupManifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return BackupManifest{}, err
	}
	return parseManifest(data)
}

func parseManifest(data []byte) (BackupManifest, error) {
	var m BackupManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != 1 || !ValidBackupID(m.ID) {
		return m, fmt.Errorf("manifest: format %d, ID %q: not a backup this server knows", m.Format, m.ID)
	}
	for _, f := range m.Files {
		if f.Name != filepath.Base(f.Name) || !strings.HasSuffix(f.Name, ".db.gz") || strings.HasPrefix(f.Name, ".") {
			return m, fmt.Errorf("manifest: file name %q", f.Name)
		}
	}
	return m, nil
}

// listLocal lists the backups in the local folder, newest first.
func (b *backups) listLocal() []BackupInfo {
	ents, err := os.ReadDir(b.opts.Dir)
	if err != nil {
		return nil
	}
	var out []BackupInfo
	for _, e := range ents {
		if !e.IsDir() || !ValidBackupID(e.Name()) {
			continue
		}
		dir := filepath.Join(b.opts.Dir, e.Name())
		m, err := readManifestFile(filepath.Join(dir, "manifest.json"))
		if err != nil {
			continue // being written, or not ours
		}
		st := BackupState{State: BackupPending}
		if data, err := os.ReadFile(filepath.Join(dir, "state.json")); err == nil {
			json.Unmarshal(data, &st)
		}
		out = append(out, infoOf(m, st, PlaceLocal))
	}
	slices.SortFunc(out, func(a, b BackupInfo) int { return strings.Compare(b.ID, a.ID) })
	return out
}

// list merges the local and blob listings, newest first. A blob listing that fails
// is returned as the error, with the local list.
func (b *backups) list(ctx context.Context) ([]BackupInfo, map[string]*blobBackup, error) {
	local := b.listLocal()
	if b.client == nil {
		for i := range local {
			local[i].LocalOnly = true
		}
		return local, nil, nil
	}
	remote, err := b.listBlob(ctx)
	if err != nil {
		return local, nil, err
	}
	byID := map[string]int{}
	out := local
	for i, info := range out {
		byID[info.ID] = i
	}
	for id, bb := range remote {
		if i, ok := byID[id]; ok {
			if bb.manifest {
				out[i].Places = append(out[i].Places, PlaceBlob)
			} else {
				out[i].BlobError = "incomplete upload"
			}
			continue
		}
		info := BackupInfo{ID: id, Created: backupTime(id), Places: []string{PlaceBlob}, Size: bb.size, Tenants: []string{}, BackupState: BackupState{State: BackupPending}}
		if !bb.manifest {
			info.BlobError = "incomplete upload: no manifest"
		} else if data, err := b.downloadSmall(ctx, b.blobName(id, "manifest.json")); err == nil {
			if m, err := parseManifest(data); err == nil {
				info = infoOf(m, info.BackupState, PlaceBlob)
			}
		}
		if bb.state != "" {
			if data, err := b.downloadSmall(ctx, bb.state); err == nil {
				json.Unmarshal(data, &info.BackupState)
			}
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b BackupInfo) int { return strings.Compare(b.ID, a.ID) })
	return out, remote, nil
}

// ListBackups lists every backup, local and in the container, newest first.
func (s *Server) ListBackups(ctx context.Context) ([]BackupInfo, error) {
	b := s.bk
	if !b.enabled() && b.client == nil {
		return nil, errNoBackups
	}
	out, _, err := b.list(ctx)
	if err != nil {
		// Show the local ones all the same, saying the container could not be read.
		s.log.Warn("backups: cannot list the container", "err", err)
		for i := range out {
			out[i].BlobError = "container not listed: " + err.Error()
		}
	}
	for _, info := range out {
		if info.State == BackupGood {
			b.noteGood(info.Created)
		}
	}
	if out == nil {
		out = []BackupInfo{}
	}
	return out, nil
}

// ----- retention -----

// PruneBackups applies the retention now.
func (s *Server) PruneBackups(ctx context.Context) (PruneResult, error) {
	b := s.bk
	if !b.enabled() {
		return PruneResult{}, errNoBackups
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.prune(ctx)
}

// prune deletes backups older than the retention from both places, keeping the
// newest good backup whatever its age. When the container cannot be listed nothing
// is deleted: which backup is the newest good one is not known for sure.
func (b *backups) prune(ctx context.Context) (PruneResult, error) {
	var res PruneResult
	all, remote, err := b.list(ctx)
	if err != nil {
		return res, err
	}
	for _, info := range all {
		if info.State == BackupGood {
			res.Kept = info.ID
			break
		}
	}
	cutoff := b.s.now().Add(-b.opts.Retention)
	var errs []error
	for _, info := range all {
		if info.ID == res.Kept || !info.Created.Before(cutoff) {
			continue
		}
		if info.has(PlaceLocal) {
			if err := os.RemoveAll(filepath.Join(b.opts.Dir, info.ID)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if bb := remote[info.ID]; bb != nil {
			if err := b.deleteBlobBackup(ctx, bb); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		res.Deleted = append(res.Deleted, info.ID)
		b.s.log.Info("backup deleted by the retention", "backup", info.ID, "created", info.Created)
	}
	// Partial folders a crash left behind.
	if ents, err := os.ReadDir(b.opts.Dir); err == nil {
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".partial") || strings.HasPrefix(n, ".check-")) {
				if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
					os.RemoveAll(filepath.Join(b.opts.Dir, n))
				}
			}
		}
	}
	if res.Deleted == nil {
		res.Deleted = []string{}
	}
	return res, errors.Join(errs...)
}

// ----- schedule -----

// RunBackups takes a backup every BackupOptions.Interval until ctx ends: the first
// at once when the newest good backup is older than the interval (or there is
// none). After a failure it tries again within the hour. Without a backup folder it
// returns at once.
func (s *Server) RunBackups(ctx context.Context) {
	b := s.bk
	if !b.enabled() || b.opts.Interval < 0 {
		return
	}
	if b.client != nil {
		if _, err := s.ListBackups(ctx); err != nil {
			s.log.Warn("backups: cannot list the second copies", "err", err)
		}
	}
	wait := time.Duration(0)
	if last := b.lastGoodTime(); !last.IsZero() {
		if age := s.now().Sub(last); age < b.opts.Interval {
			wait = b.opts.Interval - age
		}
	}
	s.log.Info("backups scheduled", "dir", b.opts.Dir, "every", b.opts.Interval, "next_in", wait.Round(time.Second), "second_copy", b.client != nil)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := b.opts.Interval
		if _, err := s.BackupNow(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			next = min(next, time.Hour)
		}
		t.Reset(next)
	}
}

// ----- health -----

// Readiness is what /readyz answers.
type Readiness struct {
	Status   string   `json:"status"` // "ready" or "unavailable"
	Reasons  []string `json:"reasons,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// LastGoodBackup is the creation time of the newest good backup, when backups
	// are on and one is known.
	LastGoodBackup *time.Time `json:"last_good_backup,omitempty"`
	// Offline names the tenants offline because their store is damaged. The server
	// stays ready for the others: a restart would not mend a damaged file.
	Offline []string `json:"offline_tenants,omitempty"`
}

// Readiness says whether the server is fit to serve and be relied on: every store
// usable, a good backup younger than BackupOptions.MaxAge (when backups are on), and
// blob storage answering (when configured).
func (s *Server) Readiness(ctx context.Context) Readiness {
	r := Readiness{Status: "ready"}
	// /readyz names no tenant: the log does.
	if probs := s.storeProblems(ctx); len(probs) > 0 {
		s.log.Warn("stores not ready", "problems", errors.Join(probs...).Error())
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d stores do not answer (the server log names them)", len(probs)))
	}
	for name := range s.tenants.damagedNames() {
		r.Offline = append(r.Offline, name)
	}
	if len(r.Offline) > 0 {
		slices.Sort(r.Offline)
		r.Warnings = append(r.Warnings, fmt.Sprintf("tenants offline, their data damaged: %s; restore each from a backup (fieldformsd restore --tenant NAME --backup latest)", strings.Join(r.Offline, ", ")))
	}
	if off := s.tenants.offlineNames(); len(off) > 0 {
		s.log.Info("tenants offline for a restore", "tenants", strings.Join(off, ","))
		r.Reasons = append(r.Reasons, fmt.Sprintf("%d tenants offline while they are restored", len(off)))
	}
	b := s.bk
	if b.enabled() {
		now := s.now()
		if last := b.lastGoodTime(); !last.IsZero() {
			r.LastGoodBackup = &last
			if age := now.Sub(last); age > b.opts.MaxAge {
				r.Reasons = append(r.Reasons, fmt.Sprintf("the newest good backup (%s) is %s old, more than %s", last.Format(time.RFC3339), age.Round(time.Minute), b.opts.MaxAge))
			}
		} else if up := now.Sub(b.started); up > b.opts.MaxAge {
			r.Reasons = append(r.Reasons, fmt.Sprintf("no good backup in the %s since the server started", up.Round(time.Minute)))
		}
		if b.client == nil {
			r.Warnings = append(r.Warnings, "backups are local only: no blob storage is configured for the second copy")
		}
	}
	if err := b.blobReachable(ctx); err != nil {
		r.Reasons = append(r.Reasons, "blob storage unreachable: "+err.Error())
	}
	if len(r.Reasons) > 0 {
		r.Status = "unavailable"
	}
	return r
}

// storeProblems checks the registry and every open tenant store (Ready).
func (s *Server) storeProblems(ctx context.Context) []error {
	if s.closing.Load() {
		return []error{errors.New("shutting down")}
	}
	var errs []error
	if err := s.reg.check(); err != nil {
		errs = append(errs, err)
	}
	s.tenants.each(func(t *tenant) error {
		_, err := t.st.State(ctx, stateEpoch)
		if errors.Is(err, store.ErrDamaged) {
			// A damaged tenant goes offline alone; the server stays up for the others.
			s.tenants.markDamaged(t.name, err)
			return nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.name, err))
		}
		return nil
	})
	return errs
}

// writeMoreMetrics adds backups, blob storage, purges and devices to /metrics.
func (s *Server) writeMoreMetrics(w io.Writer) {
	var buf bytes.Buffer
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(&buf, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, promFloat(v))
	}
	counter := func(name, help string, v int64) {
		fmt.Fprintf(&buf, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	b := s.bk
	if b.enabled() {
		counter("fieldforms_backups_total", "Backups attempted since the server started.", b.total.Load())
		counter("fieldforms_backups_failed_total", "Backups that failed or were bad since the server started.", b.failed.Load())
		age := math.Inf(1)
		if last := b.lastGoodTime(); !last.IsZero() {
			age = s.now().Sub(last).Seconds()
		}
		gauge("fieldforms_backup_last_good_age_seconds", "Age of the newest good (test-restored) backup; +Inf when there is none.", age)
		local := 0.0
		if b.client == nil {
			local = 1
		}
		gauge("fieldforms_backup_local_only", "1 when backups have no second copy in blob storage.", local)
	}
	if b.client != nil {
		up := 1.0
		if b.blobReachable(context.Background()) != nil {
			up = 0
		}
		gauge("fieldforms_blob_reachable", "1 when blob storage answers.", up)
	}
	if n, ok := s.pendingPurges(); ok {
		gauge("fieldforms_purge_requests_pending", "Purge requests waiting for approvals.", float64(n))
	}
	s.writeDeviceMetrics(&buf)
	w.Write(buf.Bytes())
}

func promFloat(v float64) string {
	switch {
	case v > 1e308:
		return "+Inf"
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// pendingPurges counts purge requests not carried out yet, when the registry keeps
// purges.
func (s *Server) pendingPurges() (int, bool) {
	n, ok := 0, false
	s.reg.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketPurges)
		if bk == nil {
			return nil
		}
		ok = true
		return bk.ForEach(func(_, v []byte) error {
			var e struct {
				Status struct {
					Done *time.Time `json:"done"`
				} `json:"status"`
			}
			if json.Unmarshal(v, &e) == nil && e.Status.Done == nil {
				n++
			}
			return nil
		})
	})
	return n, ok
}

// writeDeviceMetrics writes what the devices' last syncs and queue reports add up
// to. /metrics names no tenant and no device: `fieldformsd device list` shows each
// device (through the admin socket).
func (s *Server) writeDeviceMetrics(w io.Writer) {
	if err := s.act.flush(); err != nil {
		return
	}
	now := s.now()
	ages := []struct {
		label string
		max   time.Duration
	}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"older", -1}}
	bySync := map[string]int{"never": 0}
	for _, a := range ages {
		bySync[a.label] = 0
	}
	var pending, dead, pendingMax, reporting int
	var oldestUnsent, oldestSync time.Duration
	s.reg.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(_, v []byte) error {
			var d Device
			if json.Unmarshal(v, &d) != nil || d.Revoked != nil {
				return nil
			}
			if d.LastSync.IsZero() {
				bySync["never"]++
			} else {
				age := now.Sub(d.LastSync)
				oldestSync = max(oldestSync, age)
				for _, a := range ages {
					if a.max < 0 || age <= a.max {
						bySync[a.label]++
						break
					}
				}
			}
			if !d.StatusAt.IsZero() {
				reporting++
				pending += d.Pending
				dead += d.DeadLetters
				pendingMax = max(pendingMax, d.Pending)
				if d.OldestUnsent != nil {
					oldestUnsent = max(oldestUnsent, now.Sub(*d.OldestUnsent))
				}
			}
			return nil
		})
	})
	fmt.Fprintf(w, "# HELP fieldforms_devices_by_last_sync Active devices by the age of their last push or pull.\n# TYPE fieldforms_devices_by_last_sync gauge\n")
	for _, l := range []string{"1h", "24h", "7d", "older", "never"} {
		fmt.Fprintf(w, "fieldforms_devices_by_last_sync{age=%q} %d\n", l, bySync[l])
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, promFloat(v))
	}
	gauge("fieldforms_device_last_sync_max_age_seconds", "The oldest last sync among active devices that ever synced.", oldestSync.Seconds())
	gauge("fieldforms_devices_reporting", "Active devices that reported their queue (POST /v1/status).", float64(reporting))
	gauge("fieldforms_device_queue_pending", "Changes waiting on devices to be sent, as they last reported, summed.", float64(pending))
	gauge("fieldforms_device_queue_pending_max", "The longest queue of changes waiting on one device, as last reported.", float64(pendingMax))
	gauge("fieldforms_device_dead_letters", "Changes the server refused, kept on devices, as they last reported, summed.", float64(dead))
	gauge("fieldforms_device_oldest_unsent_age_seconds", "Age of the oldest change waiting on any device, as last reported.", oldestUnsent.Seconds())
}
