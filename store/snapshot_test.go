package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func snapSave(t *testing.T, s *store.Store, site string) form.Record {
	t.Helper()
	r, err := s.Save(context.Background(), store.Edit{Template: inspection, Author: "ana",
		Values: form.Values{"site_code": []byte(`"` + site + `"`)}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBackupWithStats(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	r := snapSave(t, s, "S-00001")
	snapSave(t, s, "S-00002")
	if _, err := s.Delete(ctx, "ana", r.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, map[string][]byte{"epoch": []byte("e1")}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	st, err := s.BackupWithStats(ctx, &buf, "epoch", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2 || st.Deleted != 1 || st.AuditEntries != 3 || st.State["epoch"] != "e1" || len(st.State) != 1 || st.Bytes != int64(buf.Len()) {
		t.Fatalf("stats %+v (%d bytes written)", st, buf.Len())
	}
}

func TestSnapshotDailyAndKept7Days(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	snapSave(t, s, "S-00001")
	dir := filepath.Join(t.TempDir(), "snapshots")
	day := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	first, err := s.Snapshot(ctx, dir, day)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(first) != "replica-2025-03-01.db.gz" {
		t.Fatalf("name %s", first)
	}
	before, _ := os.Stat(first)
	snapSave(t, s, "S-00002")
	// The same day again: kept as it is.
	again, err := s.Snapshot(ctx, dir, day.Add(5*time.Hour))
	if err != nil || again != first {
		t.Fatalf("second snapshot of the day: %s %v", again, err)
	}
	if after, _ := os.Stat(first); !after.ModTime().Equal(before.ModTime()) || after.Size() != before.Size() {
		t.Fatal("today's snapshot was rewritten")
	}
	for i := 1; i <= 9; i++ {
		if _, err := s.Snapshot(ctx, dir, day.AddDate(0, 0, i)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := store.ListSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != store.SnapshotDays {
		t.Fatalf("%d snapshots kept, want %d: %+v", len(list), store.SnapshotDays, list)
	}
	if list[0].Name != "replica-2025-03-10.db.gz" || list[len(list)-1].Name != "replica-2025-03-04.db.gz" || list[0].Size == 0 {
		t.Fatalf("kept %s … %s", list[0].Name, list[len(list)-1].Name)
	}
	if none, err := store.ListSnapshots(filepath.Join(dir, "nope")); err != nil || len(none) != 0 {
		t.Fatalf("missing folder: %v %v", none, err)
	}
}

func TestRestoreSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, dir, store.Options{Device: "dev-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
		t.Fatal(err)
	}
	kept := snapSave(t, s, "S-00001")
	snapDir := store.SnapshotDir(dir)
	snap, err := s.Snapshot(ctx, snapDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	later := snapSave(t, s, "S-00002")
	snapSave(t, s, "S-00003")
	pendingBefore, _ := s.Pending(ctx, 100, 1<<20)
	lastSeq := pendingBefore[len(pendingBefore)-1].Seq

	// Refused while the replica is open.
	if err := store.RestoreSnapshot(snap, dir); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("restore into an open replica: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A damaged snapshot is refused and the replica stays as it was.
	bad := filepath.Join(t.TempDir(), "replica-2000-01-01.db.gz")
	data, _ := os.ReadFile(snap)
	os.WriteFile(bad, data[:len(data)/2], 0o600)
	if err := store.RestoreSnapshot(bad, dir); err == nil {
		t.Fatal("a truncated snapshot was restored")
	}
	if _, err := os.Stat(filepath.Join(dir, store.DBFile+store.BeforeRestoreSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed restore moved the replica")
	}

	// Restore over a sound replica: the snapshot's records, and new changes are
	// numbered after every change the replaced replica made, so none reuses a number
	// the server may hold.
	if err := store.RestoreSnapshot(snap, dir); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, store.DBFile)
	if _, err := os.Stat(db + store.BeforeRestoreSuffix); err != nil {
		t.Fatalf("the replaced file was not kept: %v", err)
	}
	s2, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Device() != "dev-test" {
		t.Fatalf("device %s", s2.Device())
	}
	if _, err := s2.Get(ctx, kept.ID); err != nil {
		t.Fatalf("record of the snapshot: %v", err)
	}
	if _, err := s2.Get(ctx, later.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record saved after the snapshot: %v", err)
	}
	snapSave(t, s2, "S-00004")
	p, _ := s2.Pending(ctx, 100, 1<<20)
	if got := p[len(p)-1].Seq; got <= lastSeq {
		t.Fatalf("new change numbered %d, the old replica had used %d", got, lastSeq)
	}
	s2.Close()

	// Damage the replica's pages, then restore.
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(2 * 4096); off < 64*4096; off += 4096 {
		f.WriteAt(bytes.Repeat([]byte{0xAB}, 512), off)
	}
	f.Close()
	if err := store.CheckDB(db); err == nil {
		t.Fatal("CheckDB found nothing wrong with damaged pages")
	}
	if err := store.RestoreSnapshot(snap, dir); err != nil {
		t.Fatal(err)
	}
	s3, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.Get(ctx, kept.ID); err != nil {
		t.Fatalf("record of the snapshot: %v", err)
	}
	rep, err := s3.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
