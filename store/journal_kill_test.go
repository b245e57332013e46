package store_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/store"
)

// TestJournalKillChild saves with the applier held, so that none of its saves is in
// the database, says so, and waits to be killed.
func TestJournalKillChild(t *testing.T) {
	if os.Getenv(childEnv) != "kill" {
		t.Skip("helper process for TestJournalKill")
	}
	ctx := context.Background()
	s, err := store.Open(ctx, os.Getenv("FIELDFORMS_KILL_DIR"), store.Options{Device: "dev-kill"})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
		fmt.Println("template:", err)
		os.Exit(2)
	}
	store.HoldApplier()
	for i := range 6 {
		r, err := s.Save(ctx, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", fmt.Sprintf("kill record %d", i+1))})
		if err != nil {
			fmt.Println("save:", err)
			os.Exit(2)
		}
		fmt.Println("saved " + r.ID)
	}
	fmt.Println("held")
	select {}
}

// TestJournalKill: a process killed with SIGKILL while six acknowledged saves are in
// the journal only. The replica opens with all six; with one frame's header zeroed
// it is refused, naming the damage and the six saves at stake, and Repair recovers
// the other five and names the one it could not.
func TestJournalKill(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	ids := killAfterSaves(t, base)
	if n := countRecordsInDB(t, base); n != 0 {
		t.Fatalf("%d saves applied before the kill, want none", n)
	}

	t.Run("OK_Replay", func(t *testing.T) {
		dir := t.TempDir()
		copyReplica(t, base, dir)
		s := openReplica(t, dir, "", nil)
		for _, id := range ids {
			mustGet(t, s, id)
		}
	})
	t.Run("ZeroedHeader", func(t *testing.T) {
		dir := t.TempDir()
		copyReplica(t, base, dir)
		jpath := filepath.Join(dir, store.JournalFile)
		j, err := os.ReadFile(jpath)
		if err != nil {
			t.Fatal(err)
		}
		off := 4096
		for range 2 {
			off += 16 + int(binary.LittleEndian.Uint32(j[off:]))
		}
		clear(j[off : off+16]) // save #3's frame header
		if err := os.WriteFile(jpath, j, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = store.Open(ctx, dir, store.Options{})
		want := fmt.Sprintf("journal %s at byte %d: zeroed frame header, with valid frames after it", jpath, off)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "6 saves at stake (#1-#6), 1 of them unreadable (#3)") {
			t.Fatalf("open: %v", err)
		}
		rep, err := store.Repair(ctx, dir, store.RepairOptions{})
		if err != nil || rep.RecoveredSaves != 5 || len(rep.Lost) != 1 || rep.Lost[0].LSNRange != (store.LSNRange{First: 3, Last: 3}) ||
			!slices.Equal(rep.Lost[0].RecordsBefore, ids[1:2]) || !slices.Equal(rep.Lost[0].RecordsAfter, ids[3:4]) {
			t.Fatalf("repair: %+v %v", rep, err)
		}
		s := openReplica(t, dir, "", nil)
		for i, id := range ids {
			if _, err := s.Get(ctx, id); (err == nil) != (i != 2) {
				t.Errorf("record of save #%d: %v", i+1, err)
			}
		}
	})
}

// killAfterSaves runs TestJournalKillChild on the replica in base, which makes six
// saves and holds them unapplied, kills it with SIGKILL once it has acknowledged
// them, and returns their record IDs.
func killAfterSaves(t *testing.T, base string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKillChild$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), childEnv+"=kill", "FIELDFORMS_KILL_DIR="+base)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "held" {
		id, ok := strings.CutPrefix(sc.Text(), "saved ")
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child: %s", sc.Text())
		}
		ids = append(ids, id)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if len(ids) != 6 {
		t.Fatalf("child acknowledged %d saves", len(ids))
	}
	return ids
}
