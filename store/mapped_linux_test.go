package store_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// mappedKB is how much of the file at path this process holds resident through its
// memory maps (the Rss of its lines in /proc/self/smaps), in KiB.
func mappedKB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && !strings.HasSuffix(fs[0], ":") && strings.Contains(fs[0], "-") {
			in = len(fs) >= 6 && fs[5] == path
			continue
		}
		if in && len(fs) >= 2 && fs[0] == "Rss:" {
			n, _ := strconv.Atoi(fs[1])
			kb += n
		}
	}
	return kb
}

// bulkRecords makes n records of the test template whose notes do not compress.
func bulkRecords(n int, rng *rand.Rand) []form.Record {
	at := form.NewHLC(time.Now().UnixMilli(), 0)
	st := form.Stamp{HLC: at, Device: "dev-other"}
	out := make([]form.Record, n)
	for i := range out {
		noise := make([]byte, 1500)
		for j := range noise {
			noise[j] = byte(rng.Uint32())
		}
		notes, _ := json.Marshal(hex.EncodeToString(noise))
		out[i] = form.Record{ID: form.NewID(), Template: "inspection", Version: 1, Created: st, CreatedBy: "ann",
			Fields: map[string]form.FieldValue{
				"site_code": {Value: json.RawMessage(fmt.Sprintf(`"S-%05d"`, i)), Stamp: st},
				"inspector": {Value: json.RawMessage(`"Ann"`), Stamp: st},
				"notes":     {Value: notes, Stamp: st},
			}}
	}
	return out
}

// A walk over every record leaves the file's pages resident in the process;
// ReleaseMapped gives them back, and every record still reads as it was, while
// saves and reads go on beside it.
func TestReleaseMappedDropsReadPages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpenDir(t, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3 {
		if _, err := s.ApplyRecords(ctx, bulkRecords(1000, rng), "sync"); err != nil {
			t.Fatal(err)
		}
	}
	path, err := filepath.EvalSymlinks(filepath.Join(dir, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]string{}
	if err := s.ForEach(ctx, func(r form.Record) error { revs[r.ID] = r.Rev(); return nil }); err != nil {
		t.Fatal(err)
	}
	before := mappedKB(t, path)
	if before < 4<<10 {
		t.Fatalf("reading 3,000 records of 3 KB left %d KiB of the file resident; the test needs more to measure", before)
	}
	if err := s.ReleaseMapped(); err != nil {
		t.Fatal(err)
	}
	if after := mappedKB(t, path); after > before/20 {
		t.Fatalf("after ReleaseMapped %d KiB of the file stay resident, %d before", after, before)
	}

	// Beside saves, reads and releases, nothing changes but what was saved.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.ReleaseMapped(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 20 {
		if _, err := s.ApplyRecords(ctx, bulkRecords(50, rng), "sync"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, store.Edit{Template: inspection, Author: "ann", Values: form.Values{"site_code": json.RawMessage(fmt.Sprintf(`"S-%05d"`, 90000+i)), "inspector": json.RawMessage(`"Ann"`)}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	n := 0
	if err := s.ForEach(ctx, func(r form.Record) error {
		if want, ok := revs[r.ID]; ok && r.Rev() != want {
			t.Errorf("record %s: rev %s after releases, %s before", r.ID, r.Rev(), want)
		}
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := 3000 + 20*50 + 20; n != want {
		t.Fatalf("%d records, want %d", n, want)
	}
	if rep, err := s.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
}
