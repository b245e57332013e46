package sync_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
)

// TestRepairedDeviceGetsBackWhatServerHolds: a device whose database and journal are
// both lost is repaired from its snapshot; the saves after the snapshot are reported
// as possibly lost, and the next sync reconciles with the server and brings back the
// ones the server holds.
func TestRepairedDeviceGetsBackWhatServerHolds(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	a := c.addDevice("a")
	for i := range 3 {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"early-%d"`, i)})
	}
	if _, err := a.st.Snapshot(ctx, store.SnapshotDir(a.dir), time.Now()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"late-%d"`, i)})
	}
	a.sync(t)
	want := revs(t, a.st)
	if len(want) != 6 {
		t.Fatalf("%d records", len(want))
	}
	a.rep.Stop()
	if err := a.st.Close(); err != nil {
		t.Fatal(err)
	}

	// The database's pages damaged, the journal gone.
	dbPath := filepath.Join(a.dir, store.DBFile)
	data, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i+64 < len(data); i += 4096 {
		copy(data[i:i+64], bytes.Repeat([]byte{0xAB}, 64))
	}
	if err := os.WriteFile(dbPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(a.dir, store.JournalFile)); err != nil {
		t.Fatal(err)
	}
	rep, err := store.Repair(ctx, a.dir, store.RepairOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Database == nil || rep.Database.Snapshot == "" || rep.LostUnknownAfter == nil || !rep.ReconcileDue {
		t.Fatalf("report %+v", rep)
	}

	st, err := store.Open(ctx, a.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, _ := st.Count(ctx); n != 3 {
		t.Fatalf("%d records after the repair, want the snapshot's 3", n)
	}
	r := sync.New(st, sync.Options{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	defer r.Stop()
	srep, err := r.SyncOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !srep.Reconciled {
		t.Error("the sync after a repair did not reconcile")
	}
	if d := compareRevs(revs(t, st), want); d != "" {
		t.Fatalf("after the sync: %s", d)
	}
}
