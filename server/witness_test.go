package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The tenant's audit trail as an operator with the files could change it while the
// server is down, and what a device that witnessed it before says at its next sync.

func wtDBPath(opts server.Options, tenant string) string {
	return filepath.Join(opts.DataDir, server.TenantsDir, tenant, store.DBFile)
}

func wtEditDB(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5e9})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func be64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// wtCut drops every audit entry after keep, thoroughly: the entries, the record
// index, the tree's stored hashes and its size, so the store's own checks agree.
func wtCut(t *testing.T, path string, keep uint64) {
	t.Helper()
	wtEditDB(t, path, func(tx *bolt.Tx) error { return wtCutTx(tx, keep) })
}

func wtCutTx(tx *bolt.Tx, keep uint64) error {
	drop := func(bucket string, gone func(k []byte) bool) {
		b := tx.Bucket([]byte(bucket))
		var dead [][]byte
		b.ForEach(func(k, _ []byte) error {
			if gone(k) {
				dead = append(dead, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range dead {
			b.Delete(k)
		}
	}
	drop("audit", func(k []byte) bool { return binary.BigEndian.Uint64(k) > keep })
	drop("auditbyrec", func(k []byte) bool { return len(k) >= 8 && binary.BigEndian.Uint64(k[len(k)-8:]) > keep })
	drop("audittree", func(k []byte) bool {
		return int64(binary.BigEndian.Uint64(k)) >= tlog.StoredHashCount(int64(keep))
	})
	return tx.Bucket([]byte("meta")).Put([]byte("audittree_size"), be64(keep))
}

// wtRepoint gives a device the address of a server started again.
func wtRepoint(t *testing.T, d *bkDevice, ts *testServer) {
	t.Helper()
	ctx := context.Background()
	cred, err := ffsync.LoadCredential(ctx, d.st)
	if err != nil {
		t.Fatal(err)
	}
	cred.URL = ts.url
	if err := ffsync.SaveCredential(ctx, d.st, cred); err != nil {
		t.Fatal(err)
	}
	d.rep.ResetSession()
}

func wtSync(t *testing.T, d *bkDevice) ffsync.Report {
	t.Helper()
	rep, err := d.rep.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("%s sync: %v", d.name, err)
	}
	return rep
}

// wtAudit runs what `fieldformsd audit --verify` runs, on the stopped server's folders.
func wtAudit(t *testing.T, opts server.Options, tenant string) wire.AuditResponse {
	t.Helper()
	var resp wire.AuditResponse
	opts.Create = false
	err := server.Admin(context.Background(), opts, server.OpAudit, server.AuditArgs{Tenant: tenant, Verify: true, Limit: 1}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestWitness(t *testing.T) {
	cases := []struct {
		name string
		// change runs on the stopped server's folders; n is the trail's size the
		// device witnessed.
		change func(t *testing.T, opts server.Options, n uint64)
		// alarm: what the device's alarm says (none: no alarm); verify: what
		// audit --verify's problem says, given the trail's size then (none: verified).
		alarm  func(n uint64) []string
		verify func(n uint64, tree int64) []string
	}{
		{name: "untouched"},
		{
			name:   "tail cut",
			change: func(t *testing.T, opts server.Options, n uint64) { wtCut(t, wtDBPath(opts, "acme"), n-3) },
			alarm: func(n uint64) []string {
				return []string{"was cut", fmt.Sprintf("holds %d entries, and signed %d", n-3, n)}
			},
			verify: func(n uint64, tree int64) []string {
				return []string{fmt.Sprintf("entries %d to %d were cut", tree+1, n)}
			},
		},
		{
			// Entries after the cut rewritten by the store itself, so every chain
			// hash and the tree are recomputed and the store's own check passes.
			name: "rewritten with recomputed hashes",
			change: func(t *testing.T, opts server.Options, n uint64) {
				wtCut(t, wtDBPath(opts, "acme"), n-2)
				st, err := store.Open(context.Background(), filepath.Dir(wtDBPath(opts, "acme")), store.Options{})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if err := st.RecordEvent(context.Background(), "mallory", "fieldformsd", store.ActionPurgeRequest, fmt.Sprintf("forged %d", i)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := st.VerifyAudit(context.Background()); err != nil {
					t.Fatalf("the rewritten trail does not pass the store's own check: %v", err)
				}
				st.Close()
			},
			alarm: func(n uint64) []string {
				return []string{"was rewritten", fmt.Sprintf("its first %d entries are not those this device saw (it now holds %d", n, n+1)}
			},
			verify: func(n uint64, tree int64) []string {
				return []string{fmt.Sprintf("the first %d audit entries are not those of the checkpoint the server signed", n)}
			},
		},
		{
			name: "file of an epoch the server never made",
			change: func(t *testing.T, opts server.Options, n uint64) {
				wtEditDB(t, wtDBPath(opts, "acme"), func(tx *bolt.Tx) error {
					b := make([]byte, 16)
					rand.Read(b)
					return tx.Bucket([]byte("state")).Put([]byte("epoch"), []byte(hex.EncodeToString(b)))
				})
			},
			alarm: func(uint64) []string { return []string{"will not vouch", "which this server never made"} },
			verify: func(uint64, int64) []string {
				return []string{"which this server never made", "replaced outside `fieldformsd restore`"}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := bkOptions(t, nil)
			ts := startServer(t, opts)
			ts.addTenant(t, "acme")
			d := bkEnrol(t, ts, "acme", "anna")
			var rep ffsync.Report
			for i := range 4 { // a sync each, so at least 4 entries however they batch
				d.save(t, "", fmt.Sprintf("site %d", i), i)
				rep = wtSync(t, d)
			}
			if rep.AuditAlarm != "" || rep.AuditEntries < 4 {
				t.Fatalf("first sync: %+v", rep)
			}
			n := uint64(rep.AuditEntries)
			ts.stop()
			if c.change != nil {
				c.change(t, opts, n)
			}
			ts = startServer(t, opts)
			wtRepoint(t, d, ts)
			rep = wtSync(t, d) // records keep syncing whatever the trail says
			w, err := ffsync.AuditWitness(context.Background(), d.st)
			if err != nil {
				t.Fatal(err)
			}
			if c.alarm == nil {
				if rep.AuditAlarm != "" || w.Alarm != nil || w.Size < int64(n) {
					t.Fatalf("untouched trail: %+v, kept %+v", rep, w)
				}
			} else {
				t.Logf("device: %s", rep.AuditAlarm)
				for _, want := range c.alarm(n) {
					if !strings.Contains(rep.AuditAlarm, want) {
						t.Errorf("device's alarm %q lacks %q", rep.AuditAlarm, want)
					}
				}
				if w.Alarm == nil || w.Alarm.Message != rep.AuditAlarm || w.Size != int64(n) {
					t.Errorf("kept %+v; want the alarm, and the checkpoint at %d kept as evidence", w, n)
				}
				if st := d.rep.Status(); st.State != ffsync.StateError || !strings.Contains(st.Message, "audit trail") {
					t.Errorf("status %+v", st)
				}
				// A record saved now still reaches the server.
				d.save(t, "", "after the alarm", 1)
				if rep := wtSync(t, d); rep.Pushed != 1 || rep.AuditAlarm == "" {
					t.Errorf("sync after the alarm: %+v", rep)
				}
			}
			ts.stop()
			res := wtAudit(t, opts, "acme")
			if c.verify == nil {
				if res.Verified == nil || !*res.Verified || res.CheckpointSize < int64(n) {
					t.Fatalf("audit --verify: %+v", res)
				}
				return
			}
			t.Logf("server: %s", res.Problem)
			if res.Verified == nil || *res.Verified {
				t.Fatalf("audit --verify passed a changed trail: %+v", res)
			}
			for _, want := range c.verify(n, res.TreeSize) {
				if !strings.Contains(res.Problem, want) {
					t.Errorf("audit --verify's problem %q lacks %q", res.Problem, want)
				}
			}
		})
	}
}

// A checkpoint signed with another key is refused, and the checkpoint the device had
// stays.
func TestWitnessForgedCheckpoint(t *testing.T) {
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d := bkEnrol(t, ts, "acme", "anna")
	d.save(t, "", "site", 1)
	first := wtSync(t, d)
	if first.AuditAlarm != "" || first.AuditEntries == 0 {
		t.Fatalf("first sync: %+v", first)
	}
	d.save(t, "", "site 2", 2)
	skey, _, err := note.GenerateKey(rand.Reader, wire.CheckpointKeyName("acme"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	cred, _ := ffsync.LoadCredential(context.Background(), d.st)
	cfg, err := ffsync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.rep = ffsync.New(d.st, ffsync.Options{Client: ffsync.ClientOptions{Transport: forge{base: &http.Transport{TLSClientConfig: cfg}, signer: signer}}})
	rep := wtSync(t, d)
	if !strings.Contains(rep.AuditAlarm, "not signed with the tenant's checkpoint key") || rep.Pushed != 1 {
		t.Fatalf("forged checkpoint: %+v", rep)
	}
	w, _ := ffsync.AuditWitness(context.Background(), d.st)
	if w.Size != first.AuditEntries || w.Alarm == nil {
		t.Fatalf("kept %+v; want the checkpoint at %d and the alarm", w, first.AuditEntries)
	}
}

// forge replaces the server's checkpoint with one of the same text signed with
// another key of the same name.
type forge struct {
	base   http.RoundTripper
	signer note.Signer
}

func (f forge) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.base.RoundTrip(r)
	if err != nil || r.URL.Path != "/v1/audit/checkpoint" || resp.StatusCode != 200 {
		return resp, err
	}
	var cr wire.CheckpointResponse
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &cr); err != nil {
		return nil, err
	}
	text, _, _ := strings.Cut(cr.Checkpoint, "\n\n")
	signed, err := note.Sign(&note.Note{Text: text + "\n"}, f.signer)
	if err != nil {
		return nil, err
	}
	cr.Checkpoint = string(signed)
	b, _ = json.Marshal(cr)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	resp.Header.Del("Content-Encoding")
	return resp, nil
}

// A restore from a backup starts a new chain: reported as a restore, not as tampering.
func TestWitnessRestoreIsNotTampering(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	d := bkEnrol(t, ts, "acme", "anna")
	d.save(t, "", "before the backup", 1)
	wtSync(t, d)
	if bk := bkNow(t, ts); bk.State != server.BackupGood {
		t.Fatalf("backup %+v", bk)
	}
	for i := range 3 {
		d.save(t, "", fmt.Sprintf("after the backup %d", i), i)
	}
	before := wtSync(t, d)
	if _, err := ts.RestoreTenant(ctx, "acme", "latest", ""); err != nil {
		t.Fatal(err)
	}
	rep := wtSync(t, d)
	if rep.AuditAlarm != "" || !strings.Contains(rep.AuditRestore, "restored") {
		t.Fatalf("after the restore: %+v", rep)
	}
	t.Logf("device: %s", rep.AuditRestore)
	w, _ := ffsync.AuditWitness(ctx, d.st)
	if w.Alarm != nil || w.Size < before.AuditEntries-3 {
		t.Fatalf("witness after the restore: %+v", w)
	}
	ts.stop()
	if res := wtAudit(t, opts, "acme"); res.Verified == nil || !*res.Verified {
		t.Fatalf("audit --verify after a restore: %+v", res)
	}
}

// A backup records the checkpoint signed before its copy; its check proves the copy
// extends it, and refuses a checkpoint signed with another key.
func TestWitnessBackupCheckpoint(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	d := bkTenant(t, ts, 0)
	for i := range 4 {
		d.pushOK(t, d.change(form.NewID(), fmt.Sprintf("site %d", i), i))
	}
	fileOf := func(m *server.BackupManifest) *server.BackupFile {
		for i := range m.Files {
			if m.Files[i].Tenant == "acme" {
				return &m.Files[i]
			}
		}
		t.Fatal("no tenant file in the manifest")
		return nil
	}
	skey, _, _ := note.GenerateKey(rand.Reader, wire.CheckpointKeyName("acme"))
	forger, _ := note.NewSigner(skey)
	cases := []struct {
		name, want string
		fn         func([]byte) []byte
		fixm       func(*server.BackupManifest)
	}{
		{name: "good"},
		{name: "the copy's trail cut under matching hashes and counts", want: "entries 2 to",
			fn: func(b []byte) []byte {
				return bkEditDB(t, b, func(tx *bolt.Tx) error { return wtCutTx(tx, 1) })
			},
			fixm: func(m *server.BackupManifest) { fileOf(m).AuditEntries = 1 }},
		{name: "a checkpoint signed with another key", want: "not signed with the tenant's checkpoint key",
			fixm: func(m *server.BackupManifest) {
				f := fileOf(m)
				text, _, _ := strings.Cut(f.Checkpoint, "\n\n")
				signed, _ := note.Sign(&note.Note{Text: text + "\n"}, forger)
				f.Checkpoint = string(signed)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := bkNow(t, ts)
			dir := filepath.Join(opts.Backup.Dir, info.ID)
			var m server.BackupManifest
			data, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			text, _, _ := strings.Cut(fileOf(&m).Checkpoint, "\n\n")
			cp, err := wire.ParseCheckpoint(text + "\n")
			if err != nil || cp.Tree.N < 4 || cp.Epoch != fileOf(&m).Epoch {
				t.Fatalf("manifest's checkpoint %q: %+v %v", fileOf(&m).Checkpoint, cp, err)
			}
			file := fileOf(&m).Name
			fixm := func(m *server.BackupManifest) {
				if c.fixm != nil {
					c.fixm(m)
				}
				data, _ := os.ReadFile(filepath.Join(dir, file))
				f := fileOf(m)
				sum := sha256.Sum256(data)
				f.CompressedSize, f.CompressedSHA256 = int64(len(data)), hex.EncodeToString(sum[:])
				zr, _ := gzip.NewReader(bytes.NewReader(data))
				raw, _ := io.ReadAll(zr)
				rs := sha256.Sum256(raw)
				f.Size, f.SHA256 = int64(len(raw)), hex.EncodeToString(rs[:])
			}
			tamper(t, dir, file, c.fn, fixm)
			got, err := ts.VerifyBackup(ctx, info.ID, "")
			if c.want == "" {
				if err != nil || got.State != server.BackupGood {
					t.Fatalf("verify: %+v %v", got, err)
				}
				return
			}
			t.Logf("reason: %s", got.Reason)
			if err == nil || got.State != server.BackupBad || !strings.Contains(got.Reason, c.want) {
				t.Fatalf("verify: %+v, %v; want bad saying %q", got.BackupState, err, c.want)
			}
		})
	}
}

// A device sends its own signed checkpoints and the server keeps the latest: a cut of
// the device's trail — its replica, and the checkpoints kept in it and apart, edited
// as a thief with the tablet could — is caught by the server.
func TestWitnessDeviceCheckpoint(t *testing.T) {
	ctx := context.Background()
	opts := bkOptions(t, nil)
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	keys := store.KeyDir{Dir: t.TempDir()}
	dir := filepath.Join(t.TempDir(), "anna")
	d := &bkDevice{name: "anna"}
	open := func() {
		t.Helper()
		st, err := store.Open(ctx, dir, store.Options{Checkpoint: keys})
		if err != nil {
			t.Fatal(err)
		}
		d.st = st
		d.rep = ffsync.New(st, ffsync.Options{DeviceCheckpoints: ffsync.KeyDirCheckpoints{KeyDir: keys}})
	}
	reopen := func() { // Close signs the tree
		t.Helper()
		if err := d.st.Close(); err != nil {
			t.Fatal(err)
		}
		open()
	}
	open()
	t.Cleanup(func() { d.st.Close() })
	code, err := ts.NewEnrolment(ctx, "acme", "anna", false, ts.url)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ffsync.Enroll(ctx, code, d.st.Device(), "anna", ffsync.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ffsync.SaveCredential(ctx, d.st, cred); err != nil {
		t.Fatal(err)
	}
	wtSync(t, d) // the templates
	kept := func() server.Device {
		t.Helper()
		devs, err := ts.Devices(ctx, "acme")
		if err != nil || len(devs) != 1 {
			t.Fatalf("devices %+v %v", devs, err)
		}
		return devs[0]
	}
	for round, n := range []int{4, 2} {
		for i := range n {
			d.save(t, "", fmt.Sprintf("site %d.%d", round, i), i)
		}
		reopen()
		if rep := wtSync(t, d); rep.DeviceAuditProblem != "" {
			t.Fatalf("round %d: %+v", round, rep)
		}
		if k := kept(); k.AuditCheckpoint < int64(4+2*round) || k.AuditProblem != "" {
			t.Fatalf("round %d: the server keeps %+v", round, k)
		}
	}
	before := kept().AuditCheckpoint

	d.st.Close()
	path := filepath.Join(dir, store.DBFile)
	wtCut(t, path, 2)
	wtEditDB(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("checkpoint")) })
	if err := os.Remove(filepath.Join(keys.Dir, d.st.Device(), "checkpoint")); err != nil {
		t.Fatal(err)
	}
	open()
	d.save(t, "", "after the cut", 1)
	reopen()
	rep := wtSync(t, d)
	t.Logf("server: %s", rep.DeviceAuditProblem)
	want := fmt.Sprintf("the device's audit trail was cut or rolled back: it signs 3 entries, and signed %d before", before)
	if rep.DeviceAuditProblem != want || rep.Pushed != 1 {
		t.Fatalf("after the cut: %+v; want %q", rep, want)
	}
	if k := kept(); k.AuditProblem != want {
		t.Fatalf("the server keeps %+v", k)
	}
	if !strings.Contains(ts.logs.String(), "a device's audit trail does not match") {
		t.Fatal("no log line")
	}
}
