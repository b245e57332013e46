package server

// Checking backups by a test restore, and restoring a tenant from one.

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// ErrTenantOffline: the tenant's store is being restored; calls get 503 meanwhile.
var ErrTenantOffline = errors.New("tenant offline while it is restored")

// backupSource is where a backup's files are read from.
type backupSource struct {
	place string
	open  func(ctx context.Context, file string) (io.ReadCloser, error)
}

func localSource(dir string) backupSource {
	return backupSource{place: PlaceLocal, open: func(_ context.Context, file string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, file))
	}}
}

func (b *backups) blobSource(id string) backupSource {
	return backupSource{place: PlaceBlob, open: func(ctx context.Context, file string) (io.ReadCloser, error) {
		resp, err := b.client.DownloadStream(ctx, b.opts.Container, b.blobName(id, file), nil)
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", file, shortBlobErr(err))
		}
		return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: 5}), nil
	}}
}

// locate finds a backup's manifest: in the local folder unless from is "blob", else
// (or when it is not there and from is "") in the container.
func (b *backups) locate(ctx context.Context, id, from string) (backupSource, BackupManifest, error) {
	var none BackupManifest
	if !ValidBackupID(id) {
		return backupSource{}, none, fmt.Errorf("backup %q: not a backup ID (like 20250102T030405Z)", id)
	}
	switch from {
	case "", PlaceLocal, PlaceBlob:
	default:
		return backupSource{}, none, fmt.Errorf("from %q: say local or blob", from)
	}
	if from != PlaceBlob && b.enabled() {
		dir := filepath.Join(b.opts.Dir, id)
		m, err := readManifestFile(filepath.Join(dir, "manifest.json"))
		switch {
		case err == nil && m.ID == id:
			return localSource(dir), m, nil
		case err == nil:
			return backupSource{}, none, fmt.Errorf("backup %s: its manifest names %s", id, m.ID)
		case !errors.Is(err, os.ErrNotExist):
			return backupSource{}, none, fmt.Errorf("backup %s: %w", id, err)
		case from == PlaceLocal:
			return backupSource{}, none, fmt.Errorf("no backup %s in %s", id, b.opts.Dir)
		}
	}
	if b.client == nil {
		if from == PlaceBlob {
			return backupSource{}, none, errors.New("no blob storage configured (--blob-endpoint, --blob-account)")
		}
		return backupSource{}, none, fmt.Errorf("no backup %s in %s", id, b.opts.Dir)
	}
	data, err := b.downloadSmall(ctx, b.blobName(id, "manifest.json"))
	if err != nil {
		if errors.Is(err, errNoSuchBlob) {
			return backupSource{}, none, fmt.Errorf("no backup %s in container %s", id, b.opts.Container)
		}
		return backupSource{}, none, err
	}
	m, err := parseManifest(data)
	if err != nil {
		return backupSource{}, none, fmt.Errorf("backup %s in the container: %w", id, err)
	}
	if m.ID != id {
		return backupSource{}, none, fmt.Errorf("backup %s: its manifest names %s", id, m.ID)
	}
	return b.blobSource(id), m, nil
}

// check is the test restore that makes a backup good: every file is unpacked into
// a temporary folder, its sizes and SHA-256 (packed and unpacked) match the
// manifest, it opens, bbolt's page check and the store's own check are clean, its
// counts and epoch match the manifest and its audit chain verifies (store.Verify
// checks the chain as VerifyAudit does).
func (b *backups) check(ctx context.Context, m BackupManifest, src backupSource) (st BackupState) {
	st = BackupState{State: BackupGood, Checked: b.s.now().UTC(), From: src.place}
	var problems []string
	defer func() {
		if len(problems) > 0 {
			st.State, st.Reason = BackupBad, strings.Join(problems, "; ")
			b.s.log.Error("backup check failed", "backup", m.ID, "from", src.place, "reason", st.Reason)
		}
	}()
	root := b.opts.Dir
	if root == "" {
		root = os.TempDir()
	}
	tmp, err := os.MkdirTemp(root, ".check-")
	if err != nil {
		problems = append(problems, err.Error())
		return st
	}
	defer os.RemoveAll(tmp)
	hasRegistry := false
	for i, f := range m.Files {
		hasRegistry = hasRegistry || f.Kind == fileRegistry
		dir := filepath.Join(tmp, fmt.Sprint(i))
		if f.Kind == fileTenant && f.Checkpoint != "" {
			if err := b.s.checkSignedCheckpoint(f.Tenant, f.Epoch, f.Checkpoint); err != nil {
				problems = append(problems, f.Name+": "+err.Error())
			}
		}
		if err := checkFile(ctx, src, f, dir); err != nil {
			problems = append(problems, f.Name+": "+err.Error())
		}
		os.RemoveAll(dir) // one unpacked file at a time
		if ctx.Err() != nil {
			problems = append(problems, "check interrupted: "+ctx.Err().Error())
			return st
		}
	}
	if !hasRegistry {
		problems = append(problems, "no registry in the backup")
	}
	return st
}

// safely runs a check of a database that may be damaged: bbolt trusts its pages,
// and a damaged one can make it panic or fault on the memory map; that is a failed
// check, not a crash of the server.
func safely(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("damaged database: %v", p)
		}
	}()
	return fn()
}

func checkFile(ctx context.Context, src backupSource, f BackupFile, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	db := filepath.Join(dir, store.DBFile)
	if err := unpack(ctx, src, f, db); err != nil {
		return err
	}
	switch f.Kind {
	case fileTenant:
		return safely(func() error { return checkTenantCopy(ctx, dir, f, "") })
	case fileRegistry:
		return safely(func() error { return checkRegistryCopy(db, f) })
	}
	return fmt.Errorf("unknown kind %q", f.Kind)
}

// unpack gunzips one file of a backup to dst, fsynced, checking sizes and hashes.
func unpack(ctx context.Context, src backupSource, f BackupFile, dst string) error {
	rc, err := src.open(ctx, f.Name)
	if err != nil {
		return err
	}
	defer rc.Close()
	zc := &hashCounter{h: sha256.New()}
	packed := io.TeeReader(rc, zc)
	zr, err := gzip.NewReader(packed)
	if err != nil {
		return fmt.Errorf("not gzip: %w", err)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	uc := &hashCounter{h: sha256.New()}
	if _, err := io.Copy(&ctxWriter{ctx: ctx, w: io.MultiWriter(out, uc)}, zr); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if _, err := io.Copy(io.Discard, packed); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	switch {
	case zc.n != f.CompressedSize:
		return fmt.Errorf("%d bytes packed, the manifest says %d", zc.n, f.CompressedSize)
	case hex.EncodeToString(zc.h.Sum(nil)) != f.CompressedSHA256:
		return errors.New("SHA-256 of the packed file differs from the manifest")
	case uc.n != f.Size:
		return fmt.Errorf("%d bytes unpacked, the manifest says %d", uc.n, f.Size)
	case hex.EncodeToString(uc.h.Sum(nil)) != f.SHA256:
		return errors.New("SHA-256 of the unpacked file differs from the manifest")
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// checkTenantCopy opens an unpacked tenant store and checks it against the
// manifest. With newEpoch set it then gives the store that epoch (a restore).
func checkTenantCopy(ctx context.Context, dir string, f BackupFile, newEpoch string) error {
	return checkTenantCopyThen(ctx, dir, f, newEpoch, nil)
}

// checkTenantCopyThen is checkTenantCopy that, for a restore, runs then on the
// checked store before it is closed.
func checkTenantCopyThen(ctx context.Context, dir string, f BackupFile, newEpoch string, then func(*store.Store) error) error {
	// bbolt's page check first, read only: the store writes to the file it opens.
	if err := boltCheck(filepath.Join(dir, store.DBFile), nil); err != nil {
		return err
	}
	st, err := store.Open(ctx, dir, store.Options{LockTimeout: time.Second})
	if err != nil {
		return fmt.Errorf("does not open: %w", err)
	}
	closed := false
	defer func() {
		if !closed { // a panic on a damaged page: release the files at least
			func() { defer func() { recover() }(); st.Close() }()
		}
	}()
	err = func() error {
		rep, err := st.Verify(ctx)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		if !rep.OK() {
			return fmt.Errorf("check: %s", strings.Join(rep.Problems, "; "))
		}
		n, err := st.Count(ctx)
		if err != nil {
			return err
		}
		if n != f.Records || rep.Records != f.Records {
			return fmt.Errorf("%d records, the manifest says %d", n, f.Records)
		}
		// Verify walked the audit chain as VerifyAudit does (a broken chain is one of
		// its problems); its count is of the entries that chain.
		if rep.AuditEntries != f.AuditEntries {
			return fmt.Errorf("%d audit entries, the manifest says %d", rep.AuditEntries, f.AuditEntries)
		}
		epoch, err := st.State(ctx, stateEpoch)
		if err != nil {
			return err
		}
		if string(epoch) != f.Epoch {
			return fmt.Errorf("epoch %q, the manifest says %q", epoch, f.Epoch)
		}
		if f.Checkpoint != "" {
			if err := checkCopyAgainstCheckpoint(ctx, st, f.Checkpoint); err != nil {
				return err
			}
		}
		if newEpoch != "" {
			if err := st.SetState(ctx, map[string][]byte{stateEpoch: []byte(newEpoch)}); err != nil {
				return err
			}
		}
		if then != nil {
			return then(st)
		}
		return nil
	}()
	closed = true
	if cerr := st.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}

// boltCheck checks a database that may be damaged (store.CheckDB), then, when it is
// clean, runs more in a read-only transaction.
func boltCheck(path string, more func(*bolt.Tx) error) error {
	if err := store.CheckDB(path); err != nil {
		return err
	}
	if more == nil {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("does not open: %w", err)
	}
	defer db.Close()
	return db.View(more)
}

func checkRegistryCopy(path string, f BackupFile) error {
	return boltCheck(path, func(tx *bolt.Tx) error {
		tb, db := tx.Bucket(bucketTenants), tx.Bucket(bucketDevices)
		if tb == nil || db == nil {
			return errors.New("not a registry")
		}
		if n := tb.Stats().KeyN; n != f.Tenants {
			return fmt.Errorf("%d tenants, the manifest says %d", n, f.Tenants)
		}
		if n := db.Stats().KeyN; n != f.Devices {
			return fmt.Errorf("%d devices, the manifest says %d", n, f.Devices)
		}
		return nil
	})
}

// VerifyBackup checks a backup again by a test restore, from the local copy or
// (from "blob") the copy in the container, and records the outcome there.
func (s *Server) VerifyBackup(ctx context.Context, id, from string) (BackupInfo, error) {
	b := s.bk
	b.mu.Lock()
	defer b.mu.Unlock()
	src, m, err := b.locate(ctx, id, from)
	if err != nil {
		return BackupInfo{}, err
	}
	st := b.check(ctx, m, src)
	info := infoOf(m, st, src.place)
	var err2 error
	if src.place == PlaceLocal {
		err2 = writeJSONFile(filepath.Join(b.opts.Dir, id, "state.json"), st)
	} else {
		err2 = b.putBlobState(ctx, id, st)
	}
	if err2 != nil {
		s.log.Warn("backup: cannot record the check", "backup", id, "err", err2)
	}
	if st.State == BackupGood {
		b.noteGood(m.Created)
		return info, nil
	}
	return info, fmt.Errorf("backup %s is bad: %s", id, st.Reason)
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	Tenant  string    `json:"tenant"`
	Backup  string    `json:"backup"`
	From    string    `json:"from"`
	Created time.Time `json:"created"` // of the backup
	Records int       `json:"records"`
	// The epoch the tenant had, the backup's, and the new one devices now see.
	OldEpoch    string `json:"old_epoch,omitempty"`
	BackupEpoch string `json:"backup_epoch"`
	NewEpoch    string `json:"new_epoch"`
	// Kept is the replaced database, kept beside the restored one.
	Kept string `json:"kept,omitempty"`
	// PurgesReapplied counts purges carried out after the backup was taken, done
	// again on the restored store so that purged records do not come back.
	PurgesReapplied int `json:"purges_reapplied,omitempty"`
}

// reapplyPurges carries out again, on a restored store, every purge of the server's
// purge log (purgelog.go) that the store does not hold: a backup taken before a purge
// still holds its records, and restoring it must not bring them back (I10). Records
// the backup does not hold (created after it) are remembered as purged all the same,
// so a device that still holds one cannot push it back. The attachments they alone
// used are forgotten, as the purge did; their blobs were deleted by it.
func (s *Server) reapplyPurges(ctx context.Context, st *store.Store, tenantName, backupID string) (int, error) {
	return s.applyPurgeLogN(ctx, tenantName, st, "carried out again after the restore of backup "+backupID)
}

// RestoreTenant replaces a tenant's store with its copy in a backup (an ID, or
// "latest": the newest good backup holding the tenant). The copy is unpacked and
// checked beside the data first; then the tenant is taken offline (its calls get
// 503), its store closed, the files swapped (the old database is kept as
// replica.db.before-restore), and it comes back online with a NEW epoch, so every
// device reconciles and pushes back what it wrote after the backup.
//
// It works the same in a running server (through the admin socket) and on the
// folders of a stopped one.
func (s *Server) RestoreTenant(ctx context.Context, tenantName, backupID, from string) (RestoreResult, error) {
	var res RestoreResult
	if _, err := s.id.tenantKey(tenantName); err != nil {
		return res, err
	}
	b := s.bk
	if !b.enabled() && b.client == nil {
		return res, errNoBackups
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if backupID == "" || backupID == "latest" {
		id, err := b.latestGood(ctx, tenantName, from)
		if err != nil {
			return res, err
		}
		backupID = id
	}
	src, m, err := b.locate(ctx, backupID, from)
	if err != nil {
		return res, err
	}
	i := slices.IndexFunc(m.Files, func(f BackupFile) bool { return f.Kind == fileTenant && f.Tenant == tenantName })
	if i < 0 {
		return res, fmt.Errorf("backup %s holds no tenant %s", backupID, tenantName)
	}
	f := m.Files[i]
	res = RestoreResult{Tenant: tenantName, Backup: backupID, From: src.place, Created: m.Created, Records: f.Records, BackupEpoch: f.Epoch}
	if err := os.MkdirAll(s.opts.DataDir, 0o700); err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp(s.opts.DataDir, ".restore-"+tenantName+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	if err := unpack(ctx, src, f, filepath.Join(tmp, store.DBFile)); err != nil {
		return res, fmt.Errorf("backup %s, %s: %w", backupID, f.Name, err)
	}
	if res.NewEpoch, err = randomHex(16); err != nil {
		return res, err
	}
	if err := s.epochMadeHere(tenantName, res.NewEpoch, "restore from backup "+backupID); err != nil {
		return res, err
	}
	reapply := func(st *store.Store) error {
		n, err := s.reapplyPurges(ctx, st, tenantName, backupID)
		res.PurgesReapplied = n
		return err
	}
	if err := safely(func() error { return checkTenantCopyThen(ctx, tmp, f, res.NewEpoch, reapply) }); err != nil {
		return res, fmt.Errorf("backup %s, %s: %w", backupID, f.Name, err)
	}

	// The swap, with the tenant offline.
	if !s.tenants.setOffline(tenantName, true) {
		return res, fmt.Errorf("tenant %s: a restore is already running", tenantName)
	}
	defer s.tenants.setOffline(tenantName, false)
	if t, ok := s.tenants.peek(tenantName); ok {
		res.OldEpoch = t.epoch
	}
	if err := s.tenants.closeTenant(tenantName); err != nil {
		return res, fmt.Errorf("tenant %s: close its store: %w", tenantName, err)
	}
	dir := s.tenants.dirOf(tenantName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	dbPath := filepath.Join(dir, store.DBFile)
	if res.OldEpoch == "" {
		res.OldEpoch = epochOfClosed(ctx, dir)
	}
	if _, err := os.Stat(dbPath); err == nil {
		res.Kept = dbPath + store.BeforeRestoreSuffix
	}
	for _, name := range []string{store.DBFile, store.JournalFile} {
		p := filepath.Join(dir, name)
		if err := os.Rename(p, p+store.BeforeRestoreSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("tenant %s: keep the old %s: %w", tenantName, name, err)
		}
	}
	if err := os.Rename(filepath.Join(tmp, store.DBFile), dbPath); err != nil {
		os.Rename(dbPath+store.BeforeRestoreSuffix, dbPath)
		return res, fmt.Errorf("tenant %s: %w", tenantName, err)
	}
	if err := fsyncDir(dir); err != nil {
		return res, err
	}
	s.tenants.setOffline(tenantName, false)
	t, err := s.tenant(ctx, tenantName)
	if err != nil {
		return res, fmt.Errorf("tenant %s: the restored store does not open: %w", tenantName, err)
	}
	if t.epoch != res.NewEpoch {
		return res, fmt.Errorf("tenant %s: epoch %s after the restore, want %s", tenantName, t.epoch, res.NewEpoch)
	}
	s.log.Warn("tenant restored from a backup; devices reconcile and push back what it lacks",
		"tenant", tenantName, "backup", backupID, "from", src.place, "records", f.Records, "old_epoch", res.OldEpoch, "new_epoch", res.NewEpoch)
	return res, nil
}

// epochOfClosed reads the epoch of a tenant store that is not open, or "".
func epochOfClosed(ctx context.Context, dir string) string {
	path := filepath.Join(dir, store.DBFile)
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	// The store being replaced may be damaged (the reason for the restore): check
	// it before bbolt maps it, and read it under safely.
	if store.CheckFile(path) != nil {
		return ""
	}
	var epoch string
	safely(func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			if bk := tx.Bucket([]byte("state")); bk != nil {
				epoch = string(bk.Get([]byte(stateEpoch)))
			}
			return nil
		})
	})
	return epoch
}

// latestGood is the newest good backup holding the tenant, in the place asked for.
func (b *backups) latestGood(ctx context.Context, tenantName, from string) (string, error) {
	var all []BackupInfo
	var err error
	switch from {
	case PlaceLocal:
		all = b.listLocal()
	case "", PlaceBlob:
		if all, _, err = b.list(ctx); err != nil && from == PlaceBlob {
			return "", err
		}
	default:
		return "", fmt.Errorf("from %q: say local or blob", from)
	}
	for _, info := range all {
		if info.State == BackupGood && slices.Contains(info.Tenants, tenantName) && (from == "" || info.has(from)) {
			return info.ID, nil
		}
	}
	where := "any place"
	if from != "" {
		where = from
	}
	return "", fmt.Errorf("no good backup of tenant %s in %s", tenantName, where)
}

// setOffline takes a tenant offline (its store is not opened while it is) or back
// online. Taking it offline fails when it already is.
func (ts *tenants) setOffline(name string, off bool) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.offline == nil {
		ts.offline = map[string]bool{}
	}
	if off && ts.offline[name] {
		return false
	}
	if off {
		ts.offline[name] = true
	} else {
		delete(ts.offline, name)
	}
	return true
}

// peek returns a tenant's store if it is open.
func (ts *tenants) peek(name string) (*tenant, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.open[name]
	return t, ok
}

func (ts *tenants) offlineNames() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []string
	for n := range ts.offline {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
