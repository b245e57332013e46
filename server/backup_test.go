package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/azurite"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
	bolt "go.etcd.io/bbolt"
)

// bkOptions are server folders with a backup folder beside the data folder and, when
// clk is set, that clock.
func bkOptions(t testing.TB, clk *clock) server.Options {
	t.Helper()
	opts := dirs(t)
	opts.Backup = server.BackupOptions{Dir: filepath.Join(filepath.Dir(opts.DataDir), "backups")}
	if clk != nil {
		opts.Now = clk.Now
	}
	return opts
}

// bkTenant adds tenant acme with a device that pushed n records.
func bkTenant(t testing.TB, ts *testServer, n int) *device {
	t.Helper()
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	var cs []form.Change
	for i := range n {
		cs = append(cs, d.change(form.NewID(), fmt.Sprintf("site %d", i), i%10))
	}
	if len(cs) > 0 {
		if _, a := d.push(t, cs...); a.code != 200 {
			t.Fatalf("push: %d %+v", a.code, a.err)
		}
	}
	return d
}

func bkNow(t testing.TB, ts *testServer) server.BackupInfo {
	t.Helper()
	info, err := ts.BackupNow(context.Background())
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return info
}

// bkReady asks /readyz, whose body is JSON with the reasons whatever the status.
func bkReady(t testing.TB, ts *testServer) (answer, server.Readiness) {
	t.Helper()
	a := ts.do(t, "", "GET", "/readyz", nil, nil)
	var rd server.Readiness
	if err := json.Unmarshal(a.body, &rd); err != nil {
		t.Fatalf("readyz: %d %q", a.code, a.body)
	}
	return a, rd
}

func bkIDs(list []server.BackupInfo) []string {
	var out []string
	for _, b := range list {
		out = append(out, b.ID)
	}
	return out
}

func TestBackupLocalOnly(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	d := bkTenant(t, ts, 25)
	ts.AddTenant(ctx, "globex")

	info := bkNow(t, ts)
	if info.State != server.BackupGood || !slices.Equal(info.Places, []string{server.PlaceLocal}) || !info.LocalOnly ||
		info.Records != 25 || !slices.Equal(info.Tenants, []string{"acme", "globex"}) || info.From != server.PlaceLocal {
		t.Fatalf("backup %+v", info)
	}
	dir := filepath.Join(opts.Backup.Dir, info.ID)
	var m server.BackupManifest
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil || json.Unmarshal(data, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	if len(m.Files) != 3 || m.ServerVersion == "" || !m.Created.Equal(info.Created) {
		t.Fatalf("manifest %+v", m)
	}
	for _, f := range m.Files {
		packed, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(packed)
		zr, err := gzip.NewReader(bytes.NewReader(packed))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(zr)
		rawSum := sha256.Sum256(raw)
		if int64(len(packed)) != f.CompressedSize || hex.EncodeToString(sum[:]) != f.CompressedSHA256 ||
			int64(len(raw)) != f.Size || hex.EncodeToString(rawSum[:]) != f.SHA256 || f.Size <= f.CompressedSize {
			t.Fatalf("%s: sizes or hashes differ from the manifest %+v", f.Name, f)
		}
		switch f.Name {
		case "tenant-acme.db.gz":
			if f.Records != 25 || f.AuditEntries != 1 || len(f.Epoch) != 32 { // one push: one entry
				t.Fatalf("acme %+v", f)
			}
		case "registry.db.gz":
			if f.Tenants != 2 || f.Devices != 1 {
				t.Fatalf("registry %+v", f)
			}
		}
	}

	// Readiness: ready, saying the backups are local only; metrics tell the age.
	if a, rd := bkReady(t, ts); a.code != 200 || len(rd.Warnings) != 1 || !strings.Contains(rd.Warnings[0], "local only") || rd.LastGoodBackup == nil {
		t.Fatalf("readyz %d %s", a.code, a.body)
	}
	if a := d.do(t, "POST", "/v1/status", map[string]any{"pending": 3, "dead_letters": 1, "oldest_unsent": time.Now().Add(-time.Hour)}, nil); a.code != 200 {
		t.Fatalf("status: %d", a.code)
	}
	a := ts.do(t, "", "GET", "/metrics", nil, nil)
	for _, want := range []string{"fieldforms_backups_total 1\n", "fieldforms_backups_failed_total 0\n", "fieldforms_backup_local_only 1\n",
		"fieldforms_backup_last_good_age_seconds ",
		"fieldforms_device_queue_pending 3\n", "fieldforms_device_queue_pending_max 3\n", "fieldforms_device_dead_letters 1\n",
		"fieldforms_devices_reporting 1\n", `fieldforms_devices_by_last_sync{age="1h"} 1`, "fieldforms_device_oldest_unsent_age_seconds 3"} {
		if !strings.Contains(string(a.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(a.body), "acme") || strings.Contains(string(a.body), d.id) {
		t.Error("metrics name a tenant or a device")
	}

	list, err := ts.ListBackups(ctx)
	if err != nil || len(list) != 1 || list[0].ID != info.ID || list[0].State != server.BackupGood || list[0].Size != info.Size {
		t.Fatalf("list %+v %v", list, err)
	}
	if _, err := ts.VerifyBackup(ctx, info.ID, server.PlaceBlob); err == nil || !strings.Contains(err.Error(), "no blob storage") {
		t.Fatalf("verify from blob without blob storage: %v", err)
	}
}

// tamper rewrites one file of a local backup with fn, and the manifest with fixm.
func tamper(t *testing.T, dir, file string, fn func([]byte) []byte, fixm func(*server.BackupManifest)) {
	t.Helper()
	if fn != nil {
		p := filepath.Join(dir, file)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fn(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if fixm != nil {
		p := filepath.Join(dir, "manifest.json")
		var m server.BackupManifest
		data, _ := os.ReadFile(p)
		json.Unmarshal(data, &m)
		fixm(&m)
		data, _ = json.Marshal(m)
		os.WriteFile(p, data, 0o600)
	}
}

func regzip(t *testing.T, packed []byte, fn func([]byte)) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	fn(raw)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}

// bkEditDB changes a gzip'd database with fn and returns it gzip'd again.
func bkEditDB(t *testing.T, packed []byte, fn func(*bolt.Tx) error) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	p := filepath.Join(t.TempDir(), "edit.db")
	os.WriteFile(p, raw, 0o600)
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, _ = os.ReadFile(p)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}

func TestBackupCheckFindsDamage(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	bkTenant(t, ts, 200)
	fileOf := func(m *server.BackupManifest, name string) *server.BackupFile {
		for i := range m.Files {
			if m.Files[i].Name == name {
				return &m.Files[i]
			}
		}
		t.Fatalf("no %s", name)
		return nil
	}
	cases := []struct {
		name, want string
		file       string
		fn         func([]byte) []byte
		fixm       func(*server.BackupManifest)
	}{
		{name: "a flipped byte", file: "tenant-acme.db.gz", want: "tenant-acme.db.gz:",
			fn: func(b []byte) []byte { b[len(b)/2] ^= 0x55; return b }},
		{name: "a truncated file", file: "registry.db.gz", want: "registry.db.gz:",
			fn: func(b []byte) []byte { return b[:len(b)/2] }},
		{name: "a count the copy does not hold", want: "the manifest says 201",
			fixm: func(m *server.BackupManifest) { fileOf(m, "tenant-acme.db.gz").Records = 201 }},
		{name: "an epoch the copy does not hold", want: "epoch",
			fixm: func(m *server.BackupManifest) { fileOf(m, "tenant-acme.db.gz").Epoch = strings.Repeat("0", 32) }},
		{name: "an altered audit entry under matching hashes", want: "audit entry 1 altered", file: "tenant-acme.db.gz",
			fn: func(b []byte) []byte {
				return bkEditDB(t, b, func(tx *bolt.Tx) error {
					au := tx.Bucket([]byte("audit"))
					k, v := au.Cursor().First()
					return au.Put(k, bytes.Replace(v, []byte(`"ann"`), []byte(`"eve"`), 1))
				})
			}},
		{name: "damaged pages under matching hashes", want: "tenant-acme.db.gz:", file: "tenant-acme.db.gz",
			fn: func(b []byte) []byte {
				return regzip(t, b, func(raw []byte) {
					for i := 2 * 4096; i < len(raw) && i < 40*4096; i += 4096 {
						copy(raw[i+16:i+200], bytes.Repeat([]byte{0xEE}, 184))
					}
				})
			},
			fixm: nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := bkNow(t, ts)
			dir := filepath.Join(opts.Backup.Dir, info.ID)
			fixm := c.fixm
			if strings.HasSuffix(c.name, "under matching hashes") {
				// The hashes follow the damage, so only the database check can tell.
				fixm = func(m *server.BackupManifest) {
					data, _ := os.ReadFile(filepath.Join(dir, c.file))
					f := fileOf(m, c.file)
					sum := sha256.Sum256(data)
					f.CompressedSize, f.CompressedSHA256 = int64(len(data)), hex.EncodeToString(sum[:])
					zr, _ := gzip.NewReader(bytes.NewReader(data))
					raw, _ := io.ReadAll(zr)
					rs := sha256.Sum256(raw)
					f.Size, f.SHA256 = int64(len(raw)), hex.EncodeToString(rs[:])
				}
			}
			tamper(t, dir, c.file, c.fn, fixm)
			got, err := ts.VerifyBackup(ctx, info.ID, "")
			if err == nil || got.State != server.BackupBad || !strings.Contains(got.Reason, c.want) {
				t.Fatalf("verify: %+v, %v; want bad saying %q", got.BackupState, err, c.want)
			}
			list, _ := ts.ListBackups(ctx)
			if i := slices.IndexFunc(list, func(b server.BackupInfo) bool { return b.ID == info.ID }); i < 0 || list[i].State != server.BackupBad || list[i].Reason == "" {
				t.Fatalf("list after a bad check: %+v", list)
			}
			t.Logf("reason: %s", got.Reason)
			// A tenant is restored from its own file, checked again first.
			_, err = ts.RestoreTenant(ctx, "acme", info.ID, "")
			if c.file == "registry.db.gz" {
				if err != nil {
					t.Fatalf("restore from a backup whose registry copy is damaged: %v", err)
				}
			} else if err == nil {
				t.Fatal("restored from a damaged copy")
			}
		})
	}
}

// Retention on an injected clock: backups older than 90 days go, from both places,
// except the newest good one.
func TestBackupRetention(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	opts := bkOptions(t, clk)
	ts := startServer(t, opts)
	bkTenant(t, ts, 3)
	start := clk.Now()
	var all []string
	for day := 0; day <= 120; day += 10 {
		all = append(all, bkNow(t, ts).ID) // each backup applies the retention
		if day < 120 {
			clk.Add(10 * 24 * time.Hour)
		}
	}
	list, err := ts.ListBackups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cutoff := clk.Now().Add(-server.DefaultBackupRetention)
	for _, b := range list {
		if b.Created.Before(cutoff) {
			t.Fatalf("backup %s of %s kept after 90 days", b.ID, b.Created)
		}
	}
	if want := all[3:]; !slices.Equal(bkIDs(list), reverse(want)) {
		t.Fatalf("kept %v, want %v (start %s)", bkIDs(list), want, start)
	}

	// Long after: only the newest good backup is left, and readiness says it is old.
	clk.Add(200 * 24 * time.Hour)
	if a, rd := bkReady(t, ts); a.code != 503 || len(rd.Reasons) != 1 || !strings.Contains(rd.Reasons[0], "newest good backup") {
		t.Fatalf("readyz with an old backup: %d %s", a.code, a.body)
	}
	res, err := ts.PruneBackups(ctx)
	if err != nil || res.Kept != all[len(all)-1] || len(res.Deleted) != len(all)-4 {
		t.Fatalf("prune %+v %v", res, err)
	}
	list, _ = ts.ListBackups(ctx)
	if len(list) != 1 || list[0].ID != all[len(all)-1] {
		t.Fatalf("left %v", bkIDs(list))
	}

	// A newer backup that turned out bad does not protect itself, nor push out the
	// newest good one.
	good := bkNow(t, ts).ID // and the old one goes: this one is good and newer
	clk.Add(time.Hour)
	bad := bkNow(t, ts).ID
	tamper(t, filepath.Join(opts.Backup.Dir, bad), "tenant-acme.db.gz", func(b []byte) []byte { return b[:10] }, nil)
	if _, err := ts.VerifyBackup(ctx, bad, ""); err == nil {
		t.Fatal("a truncated backup checked good")
	}
	clk.Add(100 * 24 * time.Hour)
	res, err = ts.PruneBackups(ctx)
	if err != nil || res.Kept != good || !slices.Equal(res.Deleted, []string{bad}) {
		t.Fatalf("prune %+v %v; want %s kept, %s deleted", res, err, good, bad)
	}
}

func reverse(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// The second copy in Azure Blob Storage (Azurite): uploaded with each backup, listed,
// checked and restored from when the local copy is gone, and deleted by the
// retention.
func TestBackupBlobCopy(t *testing.T) {
	ctx := context.Background()
	az := azurite.StartTLS(t)
	clk := newClock()
	opts := bkOptions(t, clk)
	opts.Blob = &server.BlobOptions{Endpoint: az.Endpoint, Account: az.Account, Key: az.Key, HTTPClient: az.HTTPClient()}
	ts := startServer(t, opts)
	bkTenant(t, ts, 30)

	first := bkNow(t, ts)
	if first.State != server.BackupGood || !slices.Equal(first.Places, []string{server.PlaceLocal, server.PlaceBlob}) || first.BlobError != "" || first.LocalOnly {
		t.Fatalf("backup %+v", first)
	}
	if a, rd := bkReady(t, ts); a.code != 200 || len(rd.Warnings) != 0 {
		t.Fatalf("readyz %d %s", a.code, a.body)
	}
	if a := ts.do(t, "", "GET", "/metrics", nil, nil); !strings.Contains(string(a.body), "fieldforms_blob_reachable 1\n") || !strings.Contains(string(a.body), "fieldforms_backup_local_only 0\n") {
		t.Fatalf("metrics: %s", a.body)
	}

	// The local copy is lost: the blob copy is listed, checked and restored from.
	if err := os.RemoveAll(filepath.Join(opts.Backup.Dir, first.ID)); err != nil {
		t.Fatal(err)
	}
	list, err := ts.ListBackups(ctx)
	if err != nil || len(list) != 1 || !slices.Equal(list[0].Places, []string{server.PlaceBlob}) || list[0].State != server.BackupGood ||
		list[0].Size != first.Size || list[0].Records != 30 {
		t.Fatalf("list %+v %v", list, err)
	}
	if _, err := ts.VerifyBackup(ctx, first.ID, server.PlaceLocal); err == nil {
		t.Fatal("verified a local copy that is gone")
	}
	checked, err := ts.VerifyBackup(ctx, first.ID, server.PlaceBlob)
	if err != nil || checked.State != server.BackupGood || checked.From != server.PlaceBlob {
		t.Fatalf("verify from blob: %+v %v", checked, err)
	}
	res, err := ts.RestoreTenant(ctx, "acme", "latest", server.PlaceBlob)
	if err != nil || res.Backup != first.ID || res.From != server.PlaceBlob || res.Records != 30 || res.NewEpoch == res.OldEpoch || res.NewEpoch == res.BackupEpoch {
		t.Fatalf("restore from blob: %+v %v", res, err)
	}

	// 100 days later a new backup deletes the old one from the container too.
	clk.Add(100 * 24 * time.Hour)
	second := bkNow(t, ts)
	c := az.Client(t)
	prefix := server.BackupBlobPrefix
	pager := c.NewListBlobsFlatPager(server.DefaultBackupContainer, &azblob.ListBlobsFlatOptions{Prefix: &prefix})
	var names []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Segment.BlobItems {
			names = append(names, *it.Name)
		}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, prefix+second.ID+"/") {
			t.Fatalf("blob %s left after the retention (blobs: %v)", n, names)
		}
	}
	// tenant-acme.db.gz, registry.db.gz, manifest.json and one state blob.
	if len(names) != 4 {
		t.Fatalf("blobs of the new backup: %v", names)
	}
}

// Blob storage that does not answer: backups stay local and say why, /readyz fails.
func TestBackupBlobUnreachable(t *testing.T) {
	opts := bkOptions(t, nil)
	opts.Blob = &server.BlobOptions{Endpoint: "https://127.0.0.1:9/devstoreaccount1", Account: azurite.Account, Key: azurite.Key}
	opts.Backup.Container = "ff-backups"
	ts := startServer(t, opts)
	bkTenant(t, ts, 2)
	if a, rd := bkReady(t, ts); a.code != 503 || len(rd.Reasons) != 1 || !strings.Contains(rd.Reasons[0], "blob storage unreachable: dial tcp") {
		t.Fatalf("readyz %d %s", a.code, a.body)
	}
	if a := ts.do(t, "", "GET", "/metrics", nil, nil); !strings.Contains(string(a.body), "fieldforms_blob_reachable 0\n") {
		t.Fatalf("metrics: %s", a.body)
	}
	// The backup is good locally and says why its second copy is missing (one try
	// here, to keep the test short).
	ctx := policy.WithRetryOptions(context.Background(), policy.RetryOptions{MaxRetries: -1})
	info, err := ts.BackupNow(ctx)
	if err != nil || info.State != server.BackupGood || !slices.Equal(info.Places, []string{server.PlaceLocal}) || !strings.Contains(info.BlobError, "connection refused") {
		t.Fatalf("backup with blob storage down: %+v %v", info, err)
	}
	list, err := ts.ListBackups(ctx)
	if err != nil || len(list) != 1 || !strings.Contains(list[0].BlobError, "container not listed") {
		t.Fatalf("list with blob storage down: %+v %v", list, err)
	}
}

// The scheduler takes a backup at once when there is none, then one each interval.
func TestBackupSchedule(t *testing.T) {
	opts := bkOptions(t, nil)
	opts.Backup.Interval = 300 * time.Millisecond
	ts := startServer(t, opts)
	bkTenant(t, ts, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ts.RunBackups(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, _ := ts.ListBackups(context.Background())
		if len(list) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backups after 10 s at an interval of 300 ms", len(list))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
}

// ----- restore, end to end -----

// bkDevice is a device with its own replica, enrolled and syncing with the sync
// package, as the app does.
type bkDevice struct {
	name string
	st   *store.Store
	rep  *ffsync.Replicator
}

func bkEnrol(t testing.TB, ts *testServer, tenant, name string) *bkDevice {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), name), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	code, err := ts.NewEnrolment(ctx, tenant, name, false, ts.url)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ffsync.Enroll(ctx, code, st.Device(), name, ffsync.ClientOptions{})
	if err != nil {
		t.Fatalf("enrol %s: %v", name, err)
	}
	if err := ffsync.SaveCredential(ctx, st, cred); err != nil {
		t.Fatal(err)
	}
	d := &bkDevice{name: name, st: st, rep: ffsync.New(st, ffsync.Options{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})}
	d.sync(t)
	return d
}

func (d *bkDevice) sync(t testing.TB) {
	t.Helper()
	if _, err := d.rep.SyncOnce(context.Background()); err != nil {
		t.Fatalf("%s sync: %v", d.name, err)
	}
}

func (d *bkDevice) save(t testing.TB, id, site string, score int) form.Record {
	t.Helper()
	e := store.Edit{Record: id, Author: d.name,
		Values: form.Values{"site": json.RawMessage(fmt.Sprintf("%q", site)), "score": json.RawMessage(fmt.Sprint(score))}}
	if id == "" {
		e.Template = form.TemplateKey{ID: "inspection", Version: 1}
	}
	r, err := d.st.Save(context.Background(), e)
	if err != nil {
		t.Fatalf("%s save: %v", d.name, err)
	}
	return r
}

func bkRevs(t testing.TB, st *store.Store) map[string]string {
	t.Helper()
	rr, err := st.Revs(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rr {
		out[r.ID] = r.Rev
	}
	return out
}

// restoreGap runs the scenario of issue 6: two devices save and sync; a backup is
// taken; they keep saving, editing and deleting (some of it synced, some not yet);
// the tenant is restored from the backup while the server runs; the devices sync
// again. It returns how many records (ID and rev) that any device holds the server
// lacks afterwards, and the restore's result.
func restoreGap(t testing.TB, before, after int) (int, server.RestoreResult) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	a, b := bkEnrol(t, ts, "acme", "anna"), bkEnrol(t, ts, "acme", "ben")
	var early []form.Record
	for i := range before {
		early = append(early, a.save(t, "", fmt.Sprintf("a-before-%d", i), i%10))
		early = append(early, b.save(t, "", fmt.Sprintf("b-before-%d", i), i%10))
	}
	a.sync(t)
	b.sync(t)
	a.sync(t)

	backup := bkNow(t, ts)
	if backup.State != server.BackupGood {
		t.Fatalf("backup %+v", backup)
	}

	// After the backup: new records, edits and a delete of older ones, synced.
	for i := range after {
		a.save(t, "", fmt.Sprintf("a-after-%d", i), i%10)
		b.save(t, "", fmt.Sprintf("b-after-%d", i), i%10)
	}
	a.save(t, early[1].ID, "edited by anna after the backup", 9)
	b.save(t, early[0].ID, "edited by ben after the backup", 8)
	if _, err := a.st.Delete(ctx, "anna", early[2].ID); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	b.sync(t)
	a.sync(t)
	// And some not synced before the restore.
	for i := range 3 {
		b.save(t, "", fmt.Sprintf("b-unsent-%d", i), i)
	}

	res, err := ts.RestoreTenant(ctx, "acme", "latest", "")
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Backup != backup.ID || res.NewEpoch == res.OldEpoch || res.OldEpoch == "" {
		t.Fatalf("restore %+v", res)
	}

	// The devices keep working: they notice the new epoch, reconcile and push back.
	a.save(t, "", "a-after-restore", 1)
	for range 3 {
		a.sync(t)
		b.sync(t)
	}
	obs := bkEnrol(t, ts, "acme", "observer")
	srv := bkRevs(t, obs.st)
	lost := 0
	for _, d := range []*bkDevice{a, b} {
		for id, rev := range bkRevs(t, d.st) {
			if srv[id] != rev {
				lost++
				t.Logf("%s holds %s at %s, the server at %q", d.name, id, rev, srv[id])
			}
		}
	}
	if want := 2*before + 2*after + 3 + 1; len(srv) != want {
		t.Errorf("the server holds %d records, want %d", len(srv), want)
	}
	return lost, res
}

func TestRestoreEndToEnd(t *testing.T) {
	if lost, _ := restoreGap(t, 20, 15); lost != 0 {
		t.Fatalf("%d records lost by the restore", lost)
	}
}

// Restoring with no server running: the same operation on the folders.
func TestRestoreOffline(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	bkTenant(t, ts, 12)
	info := bkNow(t, ts)
	d := ts.enroll(t, "acme", "ben")
	d.pushOK(t, d.change(form.NewID(), "after", 1))
	ts.stop()

	opts.Create = false
	var res server.RestoreResult
	if err := server.Admin(ctx, opts, server.OpBackupRestore, server.RestoreArgs{Tenant: "acme", Backup: info.ID}, &res); err != nil {
		t.Fatal(err)
	}
	if res.Records != 12 || res.OldEpoch == "" || res.NewEpoch == res.OldEpoch || res.Kept == "" {
		t.Fatalf("restore %+v", res)
	}
	if _, err := os.Stat(res.Kept); err != nil {
		t.Fatalf("replaced database not kept: %v", err)
	}
	var tenants []server.TenantInfo
	ts2 := startServer(t, opts)
	tenants, _ = ts2.ListTenants(ctx)
	if len(tenants) != 1 {
		t.Fatalf("tenants %+v", tenants)
	}
	info2, err := ts2.BackupNow(ctx)
	if err != nil || info2.Records != 12 {
		t.Fatalf("backup after the restore: %+v %v", info2, err)
	}
	if _, err := ts2.RestoreTenant(ctx, "nobody", "latest", ""); err == nil {
		t.Fatal("restored a tenant that does not exist")
	}
	if _, err := ts2.RestoreTenant(ctx, "acme", "20200101T000000Z", ""); err == nil || !strings.Contains(err.Error(), "no backup") {
		t.Fatalf("restore of a missing backup: %v", err)
	}
}

// A purge carried out after a backup stays done when the backup is restored: the
// purged records do not come back (I5).
func TestRestoreKeepsLaterPurges(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, bkOptions(t, nil))
	d := bkTenant(t, ts, 0)
	keep, gone := form.NewID(), form.NewID()
	d.pushOK(t, d.change(keep, "keep", 1), d.change(gone, "secret", 2))
	for _, u := range []string{"ada", "bob", "cy"} {
		ts.enrollAdmin(t, "acme", u)
	}
	info := bkNow(t, ts)

	var req wire.PurgeStatus
	if _, err := ts.RunAdmin(ctx, server.OpPurgeRequest, mustJSON(t, server.PurgeRequestArgs{Tenant: "acme", User: "ada", Reason: "data subject request", Records: []string{gone}})); err != nil {
		t.Fatal(err)
	}
	list, err := ts.RunAdmin(ctx, server.OpPurgeList, mustJSON(t, server.TenantArgs{Tenant: "acme"}))
	if err != nil {
		t.Fatal(err)
	}
	req = list.([]wire.PurgeStatus)[0]
	for _, u := range []string{"bob", "cy"} {
		if _, err := ts.RunAdmin(ctx, server.OpPurgeApprove, mustJSON(t, server.PurgeApproveArgs{Tenant: "acme", User: u, ID: req.ID})); err != nil {
			t.Fatal(err)
		}
	}

	res, err := ts.RestoreTenant(ctx, "acme", info.ID, "")
	if err != nil || res.PurgesReapplied != 1 {
		t.Fatalf("restore %+v %v", res, err)
	}
	recs, _ := d.pullAll(t, "")
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if !slices.Contains(ids, keep) || slices.Contains(ids, gone) {
		t.Fatalf("after the restore the server holds %v; want %s and not the purged %s", ids, keep, gone)
	}
	if a := d.do(t, "GET", "/v1/admin/records/"+gone, nil, nil); a.code == 200 {
		t.Fatal("the purged record is back")
	}
}

func mustJSON(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
