package sync_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
	bolt "go.etcd.io/bbolt"
)

// purge has ids purged by the server's admins: ada requests, bob and cy approve.
func (c *cluster) purge(t *testing.T, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, u := range []string{"ada", "bob", "cy"} {
		code, err := c.srv.NewEnrolment(ctx, tenantName, u, true, c.url())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sync.Enroll(ctx, code, form.NewID(), u, sync.ClientOptions{}); err != nil {
			t.Fatalf("enrol admin %s: %v", u, err)
		}
	}
	out, err := c.srv.RunAdmin(ctx, server.OpPurgeRequest, mustJSON(t, server.PurgeRequestArgs{Tenant: tenantName, User: "ada", Reason: "data subject request", Records: ids}))
	if err != nil {
		t.Fatalf("purge request: %v", err)
	}
	req := out.(wire.PurgeStatus)
	for _, u := range []string{"bob", "cy"} {
		if _, err := c.srv.RunAdmin(ctx, server.OpPurgeApprove, mustJSON(t, server.PurgeApproveArgs{Tenant: tenantName, User: u, ID: req.ID})); err != nil {
			t.Fatalf("purge approval by %s: %v", u, err)
		}
	}
}

// gone checks that a replica holds none of ids, remembers each as purged, has no
// change or dead letter left for them, and refuses to edit them.
func gone(t *testing.T, d *device, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		if _, err := d.st.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s still holds purged record %s (err %v)", d.name, id, err)
		}
		if p, err := d.st.IsPurged(ctx, id); err != nil || !p {
			t.Errorf("%s does not remember %s as purged (%v)", d.name, id, err)
		}
		_, err := d.st.Save(ctx, store.Edit{Record: id, Author: d.name, Values: form.Values{"site": json.RawMessage(`"back"`)}})
		if !errors.Is(err, store.ErrPurged) {
			t.Errorf("%s: editing purged record %s: %v, want %v", d.name, id, err, store.ErrPurged)
		}
	}
	if n, err := d.st.PendingCount(ctx); err != nil || n != 0 {
		t.Errorf("%s: %d changes pending (%v), want 0", d.name, n, err)
	}
	if dl, err := d.st.DeadLetters(ctx); err != nil || len(dl) != 0 {
		t.Errorf("%s: dead letters %+v (%v), want none", d.name, dl, err)
	}
}

// audited checks that a replica's audit trail records the purge of id.
func audited(t *testing.T, st *store.Store, who, id string) {
	t.Helper()
	entries, err := st.Audit(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == store.ActionPurge && e.Record == id {
			return
		}
	}
	t.Errorf("%s: no purge of %s in the audit trail", who, id)
}

// Issue 10, part 4: the data folder is lost (same config). A device that was offline
// during the purge still holds the purged record and edited it since: the rebuilt
// server refuses it, and the device drops its copy and its change.
func TestPurgeStaysPurgedWhenDataIsLost(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	x := a.save(t, "", map[string]string{"site": `"secret"`})
	y := a.save(t, "", map[string]string{"site": `"keep"`})
	a.sync(t)
	b.sync(t)
	c.purge(t, x.ID)
	a.sync(t)
	gone(t, a, x.ID)
	audited(t, a.st, "a", x.ID)

	// b was offline all along and edits the record.
	b.save(t, x.ID, map[string]string{"site": `"edited offline"`})
	c.wipeData(t)
	b.sync(t)
	a.sync(t)
	b.sync(t)

	srv := c.serverRevs(t)
	if _, ok := srv[x.ID]; ok {
		t.Fatalf("the purged record %s is back on the rebuilt server", x.ID)
	}
	if _, ok := srv[y.ID]; !ok || len(srv) != 1 {
		t.Fatalf("the rebuilt server holds %v, want only %s", srv, y.ID)
	}
	gone(t, b, x.ID)
	audited(t, b.st, "b", x.ID)
	// The rebuilt server still lists the purge, from its purge log.
	list, err := c.srv.RunAdmin(context.Background(), server.OpPurgeList, mustJSON(t, server.TenantArgs{Tenant: tenantName}))
	if l, _ := list.([]wire.PurgeStatus); err != nil || len(l) != 1 || !l[0].Logged || l[0].Done == nil || l[0].Records[0] != x.ID || l[0].Requester != "ada" {
		t.Fatalf("purge list after the data folder was lost: %+v %v", list, err)
	}
}

// A tenant's files are replaced by a copy taken before a purge (and before records
// that were made and purged after it): the server carries out every purge again when
// it opens them, and a device that still holds the records cannot push them back.
func TestPurgeStaysPurgedAfterOlderCopy(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	x1 := a.save(t, "", map[string]string{"site": `"before the copy"`})
	a.sync(t)
	tenantDir := filepath.Join(c.opts.DataDir, "tenants", tenantName)
	backup := t.TempDir()
	c.stop()
	copyDir(t, tenantDir, backup)
	c.start()
	x2 := a.save(t, "", map[string]string{"site": `"after the copy"`})
	keep := a.save(t, "", map[string]string{"site": `"keep"`})
	a.sync(t)
	b.sync(t)
	c.purge(t, x1.ID, x2.ID)
	a.sync(t)
	gone(t, a, x1.ID, x2.ID)

	c.stop()
	if err := os.RemoveAll(tenantDir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, tenantDir)
	c.start()
	b.sync(t) // offline during the purge: holds both
	a.sync(t)
	b.sync(t)

	srv := c.serverRevs(t)
	for _, id := range []string{x1.ID, x2.ID} {
		if _, ok := srv[id]; ok {
			t.Errorf("purged record %s is back after the older copy was put in place", id)
		}
	}
	if _, ok := srv[keep.ID]; !ok || len(srv) != 1 {
		t.Fatalf("server holds %v, want only %s", srv, keep.ID)
	}
	gone(t, b, x1.ID, x2.ID)
}

// The config folder's purge log is lost as well as the data (a config restored from
// a copy older than the purge, with the same tenant key): a device that holds the
// signed notice gives it back to the server, which refuses the record from then on.
func TestPurgeNoticeGivenBackByADevice(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	x := a.save(t, "", map[string]string{"site": `"secret"`})
	a.save(t, "", map[string]string{"site": `"keep"`})
	a.sync(t)
	b.sync(t)
	c.purge(t, x.ID)
	a.sync(t)
	notices, err := a.st.PurgeNotices(context.Background(), "", 0)
	if err != nil || len(notices) != 1 || notices[0].Records[0] != x.ID || notices[0].Sig == "" {
		t.Fatalf("device a keeps notices %+v (%v), want the signed notice of %s", notices, err, x.ID)
	}

	c.stop()
	if err := os.RemoveAll(filepath.Join(c.opts.ConfigDir, "purges")); err != nil {
		t.Fatal(err)
	}
	c.wipeData(t)
	a.sync(t) // reconciles: gives its notice back
	b.sync(t) // offline during the purge: its copy is refused
	srv := c.serverRevs(t)
	if _, ok := srv[x.ID]; ok || len(srv) != 1 {
		t.Fatalf("server holds %v; the purged %s must not be back", srv, x.ID)
	}
	gone(t, b, x.ID)
	logged, _ := filepath.Glob(filepath.Join(c.opts.ConfigDir, "purges", tenantName, "*.json"))
	if len(logged) != 1 {
		t.Fatalf("purge log after a device gave the notice back: %v", logged)
	}
}

// A device offline during a purge edits the record, then syncs with the same server:
// its change is refused as purged, and the device drops the record and the change
// instead of keeping a dead letter; it keeps the notice from the pull that follows.
func TestPurgeRefusesAnOfflineEdit(t *testing.T) {
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	x := a.save(t, "", map[string]string{"site": `"secret"`})
	a.sync(t)
	b.sync(t)
	c.purge(t, x.ID)
	b.save(t, x.ID, map[string]string{"site": `"edited offline"`})
	if rep := b.sync(t); rep.DeadLettered != 0 || rep.Purged == 0 {
		t.Fatalf("b's sync: %+v", rep)
	}
	gone(t, b, x.ID)
	audited(t, b.st, "b", x.ID)
	if n, err := b.st.PurgeNotices(context.Background(), "", 0); err != nil || len(n) != 1 {
		t.Fatalf("b keeps notices %+v (%v), want 1", n, err)
	}
	if srv := c.serverRevs(t); len(srv) != 0 {
		t.Fatalf("server holds %v after the purge", srv)
	}
}

// pushedChanges reads the server's count of changes received in pushes.
func (c *cluster) pushedChanges(t *testing.T) int {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(c.srv.Certificate().Leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(c.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "fieldforms_push_changes_total "); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("metric %q", line)
			}
			return n
		}
	}
	t.Fatal("no fieldforms_push_changes_total in /metrics")
	return 0
}

// A change to a purged record left in a replica's outbox (a replica written by an
// earlier release, or damaged) is dropped unsent: the purged data never goes out.
func TestPurgedChangeNeverSent(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	a, b := c.addDevice("a"), c.addDevice("b")
	x := a.save(t, "", map[string]string{"site": `"secret"`})
	a.sync(t)
	b.sync(t)
	b.save(t, x.ID, map[string]string{"site": `"edited offline"`})
	stale, err := b.st.Pending(ctx, 0, 0)
	if err != nil || len(stale) != 1 {
		t.Fatalf("b's outbox: %+v %v", stale, err)
	}
	c.purge(t, x.ID)
	b.sync(t)
	gone(t, b, x.ID)

	// Put the change back in the outbox, behind the store's back.
	if err := b.st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(b.dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		v, err := json.Marshal(stale[0].Change)
		if err != nil {
			return err
		}
		return tx.Bucket([]byte("outbox")).Put(binary.BigEndian.AppendUint64(nil, stale[0].Seq+1000), v)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if b.st, err = store.Open(ctx, b.dir, store.Options{}); err != nil {
		t.Fatal(err)
	}
	b.rep = sync.New(b.st, sync.Options{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if n, _ := b.st.PendingCount(ctx); n != 1 {
		t.Fatalf("stale change not in the outbox: %d pending", n)
	}

	before := c.pushedChanges(t)
	b.sync(t)
	if after := c.pushedChanges(t); after != before {
		t.Fatalf("the server received %d change(s) from b; a change to a purged record was sent", after-before)
	}
	if n, _ := b.st.PendingCount(ctx); n != 0 {
		t.Fatalf("%d changes still pending", n)
	}
}
