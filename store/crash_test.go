package store_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// The crash test: a child process saves in a loop and prints what each save returned;
// the parent kills it with SIGKILL at a random moment, reopens the replica and checks
// that every acknowledged save is there and that the outbox and the audit trail agree
// with the records.
//
// make test runs 100 cycles; make crash runs 1,000 (FIELDFORMS_CRASH_CYCLES) and
// prints the figures (FIELDFORMS_CRASH_FIGURES).

const crashDirEnv = "FIELDFORMS_CRASH_DIR"

// ack is the highest notes counter acknowledged for a record.
type ack struct{ n int }

// TestCrashChild is the child's body; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs as the crash test's child process")
	}
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{Device: "dev-crash", LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	if err := s.PutTemplate(ctx, mustTemplate(t)); err != nil {
		fmt.Println("ERR", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	var ids []string
	for n := 1; ; n++ {
		// Mostly new records; some edits and deletes of earlier ones. Each line is
		// printed only after Save returned: an acknowledged save.
		switch {
		case len(ids) > 0 && n%5 == 0:
			id := ids[rng.IntN(len(ids))]
			_, err := s.Save(ctx, store.Edit{Record: id, Author: "crash", Values: form.Values{"notes": json.RawMessage(fmt.Sprintf(`"n=%d"`, n))}})
			if err != nil && !strings.Contains(err.Error(), "deleted") {
				fmt.Println("ERR", err)
				os.Exit(3)
			}
			if err == nil {
				fmt.Fprintf(out, "edit %s %d\n", id, n)
			}
		case len(ids) > 0 && n%17 == 0:
			id := ids[rng.IntN(len(ids))]
			if _, err := s.Delete(ctx, "crash", id); err != nil {
				fmt.Println("ERR", err)
				os.Exit(3)
			}
			fmt.Fprintf(out, "delete %s\n", id)
		default:
			r, err := s.Save(ctx, store.Edit{Template: inspection, Author: "crash", Values: form.Values{
				"site_code": json.RawMessage(fmt.Sprintf(`"S-%05d"`, n%100000)),
				"notes":     json.RawMessage(fmt.Sprintf(`"n=%d"`, n)),
			}})
			if err != nil {
				fmt.Println("ERR", err)
				os.Exit(3)
			}
			ids = append(ids, r.ID)
			fmt.Fprintf(out, "new %s %d\n", r.ID, n)
		}
		out.Flush()
	}
}

func TestCrash(t *testing.T) {
	cycles := 100
	if v := os.Getenv("FIELDFORMS_CRASH_CYCLES"); v != "" {
		var err error
		if cycles, err = strconv.Atoi(v); err != nil {
			t.Fatalf("FIELDFORMS_CRASH_CYCLES=%q: %v", v, err)
		}
	}
	if testing.Short() {
		cycles = 10
	}
	var dir string
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var acked map[string]ack
	var deleted map[string]bool
	kills, lost, total := 0, 0, 0
	for cycle := 0; cycle < cycles; cycle++ {
		// A fresh replica every 50 kills: the checks read everything, and the replica
		// would otherwise grow with every cycle.
		if cycle%50 == 0 {
			dir = t.TempDir()
			acked, deleted = map[string]ack{}, map[string]bool{}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
		}()
		// Kill at a random moment: during start-up and replay as well as mid-save.
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: child ended by itself (%v): %s", cycle, err, strings.Join(lines, "\n"))
		}
		kills++
		for _, l := range lines {
			f := strings.Fields(l)
			switch f[0] {
			case "new", "edit":
				n, _ := strconv.Atoi(f[2])
				if n > acked[f[1]].n {
					acked[f[1]] = ack{n}
				}
				total++
			case "delete":
				deleted[f[1]] = true
				total++
			case "ERR":
				t.Fatalf("cycle %d: child: %s", cycle, l)
			}
		}
		lost += checkReplica(t, dir, acked, deleted)
	}
	if lost > 0 {
		t.Errorf("%d acknowledged saves lost over %d kills", lost, kills)
	}
	t.Logf("%d kills, %d acknowledged saves, %d records", kills, total, len(acked))
	if os.Getenv("FIELDFORMS_CRASH_FIGURES") != "" {
		fmt.Printf("acknowledged_saves_lost %d saves\n", lost)
		fmt.Printf("acknowledged_saves %d saves\n", total)
		fmt.Printf("crash_cycles %d kills\n", kills)
	}
}

// checkReplica reopens the replica after a kill and returns how many acknowledged
// saves are missing. Structural problems fail the test at once.
func checkReplica(t *testing.T, dir string, acked map[string]ack, deleted map[string]bool) int {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	lost := 0
	for id, a := range acked {
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Errorf("acknowledged record %s: %v", id, err)
			lost++
			continue
		}
		// A later save may have reached the disk without being acknowledged, so the
		// counter can only be ahead of what was acknowledged, never behind.
		var notes string
		_ = json.Unmarshal(r.Value("notes"), &notes)
		got, _ := strconv.Atoi(strings.TrimPrefix(notes, "n="))
		if got < a.n {
			t.Errorf("record %s: notes %q, acknowledged n=%d", id, notes, a.n)
			lost++
		}
		if deleted[id] && !r.Deleted() {
			t.Errorf("record %s: acknowledged delete lost", id)
			lost++
		}
	}
	rep, err := s.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after kill: %v %v", err, rep.Problems)
	}
	// The outbox and the audit trail agree with the records: folding a record's
	// outbox changes in order gives the record, and each change has an audit entry.
	pending, err := s.Pending(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	folded := map[string]*form.Record{}
	changes := map[string]bool{}
	for _, it := range pending {
		r := folded[it.Change.Record]
		if r == nil {
			c := it.Change.AsRecord()
			c.Fields = nil
			r = &c
			folded[it.Change.Record] = r
		}
		if _, _, err := r.Merge(it.Change.AsRecord()); err != nil {
			t.Fatal(err)
		}
		changes[it.Change.ID] = true
	}
	if len(folded) != rep.Records {
		t.Fatalf("outbox holds changes for %d records, replica has %d", len(folded), rep.Records)
	}
	for id, r := range folded {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rev() != r.Rev() {
			t.Fatalf("record %s: rev %s, its outbox changes fold to %s", id, got.Rev(), r.Rev())
		}
	}
	audit, err := s.Audit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != len(pending) {
		t.Fatalf("%d audit entries for %d changes", len(audit), len(pending))
	}
	for _, e := range audit {
		if !changes[e.Change] {
			t.Fatalf("audit entry %d names change %s, which is not in the outbox", e.Seq, e.Change)
		}
	}
	return lost
}
