package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// The robustness suite's journal cases on a crashed writer: a replica whose
// acknowledged saves are only in the journal (the applier had not written them to
// replica.db when the process was killed), so that every fault of the journal puts
// them at stake. A silent loss there is a broken promise (I1), and `fieldforms
// repair` must bring every save back or name it as lost.

// robustChildEnv makes the test binary the crashed writer (robustWriterChild)
// instead of running tests; TestMain checks it first.
const robustChildEnv = "FIELDFORMS_ROBUST_WRITER"

// robustWriterChild opens the replica in $FIELDFORMS_ROBUST_WRITER, copies its
// database (replica.db as it is before any save, consistent: a bbolt read
// transaction) to $FIELDFORMS_ROBUST_SNAP, makes $FIELDFORMS_ROBUST_SAVES saves,
// printing "saved ID" as each is acknowledged, then "held", and waits to be killed.
// The parent puts the copy back in place of replica.db: the database as the killed
// process would have left it had its applier not yet run, which it may not for
// 20 ms after a save (and not at all on a stalled disk).
func robustWriterChild() int {
	ctx := context.Background()
	fail := func(what string, err error) int {
		fmt.Printf("%s: %v\n", what, err)
		return 2
	}
	n, err := strconv.Atoi(os.Getenv("FIELDFORMS_ROBUST_SAVES"))
	if err != nil {
		return fail("saves", err)
	}
	s, err := store.Open(ctx, os.Getenv(robustChildEnv), store.Options{})
	if err != nil {
		return fail("open", err)
	}
	f, err := os.Create(os.Getenv("FIELDFORMS_ROBUST_SNAP"))
	if err != nil {
		return fail("snapshot", err)
	}
	if _, err := s.Backup(ctx, f); err != nil {
		return fail("snapshot", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fail("snapshot", err)
	}
	for i := range n {
		r, err := s.Save(ctx, store.Edit{
			Template: form.TemplateKey{ID: "site-inspection"},
			Author:   "robin",
			Values: form.Values{
				"site_code": json.RawMessage(fmt.Sprintf(`"JR-%04d"`, i)),
				"inspector": json.RawMessage(fmt.Sprintf(`"Jo %d"`, i)),
			},
		})
		if err != nil {
			return fail("save", err)
		}
		fmt.Println("saved " + r.ID)
	}
	fmt.Println("held")
	select {}
}

// journalFrame is where one frame of a journal lies, and what it holds.
type journalFrame struct {
	off, end int64  // the frame header's offset; the offset after its payload
	lsn      uint64 // the save's sequence number
	record   string // the record the save wrote
}

// crashedWriter is a replica folder left by a writer killed with saves that are
// only in its journal.
type crashedWriter struct {
	dir    string
	want   map[string]string // every record the replica holds → rev
	frames []journalFrame    // the journal's frames: the saves only it holds
}

// lost says which saves are missing from got, by LSN.
func (c *crashedWriter) lost(got map[string]string) []journalFrame {
	var out []journalFrame
	for _, f := range c.frames {
		if got[f.record] != c.want[f.record] {
			out = append(out, f)
		}
	}
	return out
}

// makeCrashedWriter makes a replica with two records saved (and applied) by the
// binary, then runs the writer child on it, which acknowledges n more saves, kills
// it with SIGKILL, and puts back the database it copied before its saves.
func makeCrashedWriter(t *testing.T, n int) *crashedWriter {
	t.Helper()
	base := t.TempDir()
	for i := range 2 {
		ok(t, base, "record", "new", "--template", "site-inspection", "--json", fmt.Sprintf(`{"site_code": "CW-%04d", "inspector": "Cam %d"}`, i, i))
	}
	snap := filepath.Join(t.TempDir(), "before-saves.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), robustChildEnv+"="+base, "FIELDFORMS_ROBUST_SNAP="+snap,
		fmt.Sprintf("FIELDFORMS_ROBUST_SAVES=%d", n), "GORACE=atexit_sleep_ms=0")
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
		id, found := strings.CutPrefix(sc.Text(), "saved ")
		if !found {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("writer: %s", sc.Text())
		}
		ids = append(ids, id)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if len(ids) != n {
		t.Fatalf("the writer acknowledged %d saves, want %d", len(ids), n)
	}
	if err := os.Rename(snap, filepath.Join(base, store.DBFile)); err != nil {
		t.Fatal(err)
	}
	// A writer takes the clean mark its open left in the database away (one commit)
	// before its first save goes into the journal; the copy was made before that.
	unmarkClean(t, filepath.Join(base, store.DBFile))

	c := &crashedWriter{dir: base, frames: readJournalFrames(t, filepath.Join(base, store.JournalFile))}
	if len(c.frames) != n {
		t.Fatalf("the journal holds %d frames, want the %d saves", len(c.frames), n)
	}
	for i, f := range c.frames {
		if f.record != ids[i] {
			t.Fatalf("journal frame %d (save #%d) wrote record %q, the writer acknowledged %q", i, f.lsn, f.record, ids[i])
		}
	}
	// The saves are only in the journal: without it they are not in the database.
	gone := t.TempDir()
	robustCopy(t, base, gone)
	os.Remove(filepath.Join(gone, store.JournalFile))
	if _, err := store.Repair(context.Background(), gone, store.RepairOptions{}); err != nil {
		t.Fatalf("repair without the journal: %v", err)
	}
	without := listRevs(t, cli(t, gone, "record", "list", "--all", "--limit", "0", "--json"))
	for _, id := range ids {
		if _, found := without[id]; found {
			t.Fatalf("record %s is in replica.db: the base is not a crashed writer's", id)
		}
	}
	// And with it, the replica opens with every save.
	whole := t.TempDir()
	robustCopy(t, base, whole)
	c.want = listRevs(t, cli(t, whole, "record", "list", "--all", "--limit", "0", "--json"))
	if len(c.want) != n+2 || len(c.lost(c.want)) > 0 {
		t.Fatalf("the crashed writer's replica lists %d records, want %d with every save", len(c.want), n+2)
	}
	return c
}

// readJournalFrames reads the frames of a sound journal, from its header to the
// first zeroed frame header.
func readJournalFrames(t *testing.T, path string) []journalFrame {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var out []journalFrame
	for off := 4096; off+16 <= len(b); {
		n := int(le.Uint32(b[off:]))
		if n == 0 {
			break
		}
		var fr struct {
			LSN     uint64 `json:"lsn"`
			Records []struct {
				ID string `json:"id"`
			} `json:"records"`
		}
		if off+16+n > len(b) || json.Unmarshal(b[off+16:off+16+n], &fr) != nil || len(fr.Records) != 1 {
			t.Fatalf("%s: no frame of one record at byte %d", path, off)
		}
		out = append(out, journalFrame{off: int64(off), end: int64(off + 16 + n), lsn: fr.LSN, record: fr.Records[0].ID})
		off += 16 + n
	}
	return out
}

// journalCase is a fault of a crashed writer's journal. tornLast marks damage
// confined to the last frame, which cannot be told from a torn last write (a save
// never acknowledged): losing that one save is the exception I1 allows.
type journalCase struct {
	damage
	tornLast bool
}

// crashedJournalDamages are the faults tried on a crashed writer's journal.
func crashedJournalDamages(frames []journalFrame, full bool) []journalCase {
	const name = "journal.log (saves only in it): "
	jf := func(dir string) string { return filepath.Join(dir, store.JournalFile) }
	cut := func(what string, size int64) journalCase {
		return journalCase{damage: damage{name + what, func(t *testing.T, dir string) {
			if err := os.Truncate(jf(dir), size); err != nil {
				t.Fatal(err)
			}
		}}}
	}
	flip := func(off int64, bit uint, last bool) journalCase {
		return journalCase{damage: damage{fmt.Sprintf("%sbit %d flipped at offset %d", name, bit, off), func(t *testing.T, dir string) {
			b := readAt(t, jf(dir), off, 1)
			writeAt(t, jf(dir), off, []byte{b[0] ^ 1<<bit})
		}}, tornLast: last}
	}
	zeroHeader := func(what string, i int) journalCase {
		return journalCase{damage: damage{fmt.Sprintf("%s%s frame's header zeroed (save #%d)", name, what, frames[i].lsn), func(t *testing.T, dir string) {
			writeAt(t, jf(dir), frames[i].off, make([]byte, 16))
		}}, tornLast: i == len(frames)-1}
	}
	last := len(frames) - 1
	mid := frames[len(frames)/2]
	out := []journalCase{
		cut("cut to its header", 4096),
		cut("cut to nothing", 0),
		cut(fmt.Sprintf("cut inside the frame of save #%d", mid.lsn), (mid.off+mid.end)/2),
		cut(fmt.Sprintf("cut at the frame boundary after save #%d", mid.lsn), mid.end),
		zeroHeader("first", 0),
		zeroHeader("middle", len(frames)/2),
		flip((mid.off+16+mid.end)/2, 3, false),
		flip(frames[0].off+16+7, 0, false),
		flip((frames[last].off+16+frames[last].end)/2, 5, true),
		{damage: damage{name + "deleted", func(t *testing.T, dir string) {
			if err := os.Remove(jf(dir)); err != nil {
				t.Fatal(err)
			}
		}}},
	}
	// The middle save's LSN made its predecessor's, with a valid checksum: a frame
	// that reads well but breaks the sequence.
	if prev := frames[len(frames)/2-1]; len(fmt.Sprint(prev.lsn)) == len(fmt.Sprint(mid.lsn)) {
		out = append(out, journalCase{damage: damage{fmt.Sprintf("%sthe frame of save #%d relabelled #%d, checksum valid", name, mid.lsn, prev.lsn), func(t *testing.T, dir string) {
			p := jf(dir)
			b := readAt(t, p, mid.off, int(mid.end-mid.off))
			from, to := fmt.Sprintf(`{"lsn":%d,`, mid.lsn), fmt.Sprintf(`{"lsn":%d,`, prev.lsn)
			if !strings.HasPrefix(string(b[16:]), from) {
				t.Fatalf("the frame at byte %d does not start %s", mid.off, from)
			}
			copy(b[16:], to)
			binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crc32.MakeTable(crc32.Castagnoli)))
			writeAt(t, p, mid.off, b)
		}}})
	}
	if !full {
		return out
	}
	rnd := rand.New(rand.NewPCG(11, 11))
	for i, f := range frames {
		isLast := i == last
		out = append(out, zeroHeader("a", i), cut(fmt.Sprintf("cut at the frame boundary after save #%d", f.lsn), f.end))
		// Every byte of the header once, then payload bytes at random.
		for k := range int64(16) {
			out = append(out, flip(f.off+k, uint(rnd.IntN(8)), isLast))
		}
		for range 12 {
			out = append(out, flip(f.off+16+rnd.Int64N(f.end-f.off-16), uint(rnd.IntN(8)), isLast))
		}
		for range 4 {
			out = append(out, cut(fmt.Sprintf("cut inside the frame of save #%d", f.lsn), f.off+1+rnd.Int64N(f.end-f.off-1)))
		}
	}
	for _, off := range []int64{0, 3, 4, 11, 12, 15, 100} {
		out = append(out, flip(off, uint(rnd.IntN(8)), false)) // the journal's header
	}
	return out
}

// robustCrashedWriter runs every journal fault on a crashed writer's replica, and
// `fieldforms repair` on each the commands refuse.
func robustCrashedWriter(t *testing.T, full bool, tally *robustTally) {
	n := 6
	if full {
		n = 12
	}
	c := makeCrashedWriter(t, n)
	lastSave := c.frames[len(c.frames)-1]
	for _, d := range crashedJournalDamages(c.frames, full) {
		dir := t.TempDir()
		robustCopy(t, c.dir, dir)
		d.apply(t, dir)
		worst, detail := outcomeHarmless, ""
		torn := false
		for _, args := range [][]string{
			{"record", "list", "--all", "--limit", "0", "--json"},
			{"status"},
			{"verify"},
		} {
			r := cli(t, dir, args...)
			o, why := classifyRun(r, dir, args[0] == "record", c.want)
			if o == outcomeSilentLoss && d.tornLast {
				if l := c.lost(listRevsOf(r.stdout)); len(l) == 1 && l[0] == lastSave {
					o, torn = outcomeHarmless, true // the torn last write I1 allows
				}
			}
			if o > worst {
				worst, detail = o, fmt.Sprintf("fieldforms %s: %s", strings.Join(args, " "), why)
			}
		}
		if torn {
			tally.tornLast++
			t.Logf("device: %s: the last save dropped as a torn write", d.name)
		}
		tally.add(t, "device: "+d.name, true, true, worst, detail)
		if worst == outcomeClearRefusal || worst == outcomeUnclearRefusal {
			if why := robustRepair(t, dir, c); why != "" {
				tally.repairUnreported++
				t.Errorf("device: %s: fieldforms repair: %s", d.name, why)
			}
		}
	}
}

// robustRepair runs `fieldforms repair` on a refused replica and says what is
// wrong, if anything: it must exit 0, and every acknowledged save must be back or
// named as lost in its report.
func robustRepair(t *testing.T, dir string, c *crashedWriter) string {
	r := cli(t, dir, "repair", "--json")
	if r.code != 0 {
		return fmt.Sprintf("exit %d: %q", r.code, r.stderr)
	}
	var rep store.RepairReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		return fmt.Sprintf("report: %v: %q", err, r.stdout)
	}
	l := cli(t, dir, "record", "list", "--all", "--limit", "0", "--json")
	if l.code != 0 {
		return fmt.Sprintf("after it, record list: exit %d: %q", l.code, l.stderr)
	}
	reported := func(lsn uint64) bool {
		if rep.LostUnknownAfter != nil && lsn > *rep.LostUnknownAfter {
			return true
		}
		for _, r := range rep.Lost {
			if r.First <= lsn && lsn <= r.Last {
				return true
			}
		}
		return false
	}
	var unreported []string
	for _, f := range c.lost(listRevsOf(l.stdout)) {
		if !reported(f.lsn) {
			unreported = append(unreported, fmt.Sprintf("save #%d (record %s)", f.lsn, f.record))
		}
	}
	if len(unreported) > 0 {
		return fmt.Sprintf("exit 0, but %s missing and not in its report %s", strings.Join(unreported, ", "), strings.Join(strings.Fields(r.stdout), " "))
	}
	return ""
}

// unmarkClean deletes the mark a clean close or a quiet open leaves in a replica's
// database ("the database holds every save the journal ever held"), as a writer's
// first save does before it journals anything.
func unmarkClean(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte("meta"))
		if m == nil {
			return errors.New("no meta bucket")
		}
		return m.Delete([]byte("journal_clean"))
	}); err != nil {
		t.Fatal(err)
	}
}
