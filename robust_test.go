package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
)

// The robustness suite, in the spirit of bbolt's and etcd's: it damages copies of a
// real device replica and of a real server's tenant file in every way a disk or a
// person can (bit flips, zeroed pages, cuts, deletion, journal faults) at many
// offsets, runs the real commands and the real server on each, and sorts what
// happened:
//
//   - crash: the program died of a signal, panicked, or the server stopped serving
//     (its other tenants included);
//   - silent loss: it exited 0, but an acknowledged record is missing or changed;
//   - clear refusal: exit 1 and one line on standard error naming the file;
//   - unclear refusal: any other failure (shown in the log, not fatal);
//   - harmless: exit 0 with every record intact.
//
// The journal faults run twice on the device: on a replica closed cleanly, whose
// database holds every save (nothing is at stake), and on a crashed writer's, whose
// acknowledged saves are only in the journal (robust_journal_test.go). There a silent
// loss fails the test, except the loss of the last save to damage confined to its
// frame, which cannot be told from a torn write (I1's exception; counted apart), and
// `fieldforms repair` runs on every refused copy: it must exit 0 and bring back every
// save or name it as lost.
//
// It prints robust_cases, robust_crashes, robust_silent_losses,
// robust_clear_refusals and robust_repair_unreported_losses (`name value unit`,
// among others) and fails on any crash, silent loss or unreported loss. A short run
// (about 60 cases) is part of the normal tests; FIELDFORMS_ROBUST=full (make robust)
// runs hundreds of offsets.

type robustOutcome int

const (
	outcomeHarmless robustOutcome = iota
	outcomeClearRefusal
	outcomeUnclearRefusal
	outcomeSilentLoss
	outcomeCrash
)

func (o robustOutcome) String() string {
	return [...]string{"harmless", "clear refusal", "unclear refusal", "silent loss", "crash"}[o]
}

// damage is one way to damage a copy of a replica folder.
type damage struct {
	name  string
	apply func(t *testing.T, dir string)
}

// robustTally counts outcomes by case.
type robustTally struct {
	cases   int
	by      map[robustOutcome]int
	journal map[robustOutcome]int // of the journal cases (another part of the store)
	// tornLast counts journal cases on a crashed writer where damage confined to the
	// last frame dropped that save as a torn write (I1's one exception).
	tornLast int
	// repairUnreported counts refused cases where `fieldforms repair` failed, or
	// left an acknowledged save missing without naming it as lost.
	repairUnreported int
}

// add counts one case. atStake says acknowledged saves were only in the damaged
// file: a silent loss fails the test. Journal cases on a replica whose database
// holds every save cannot lose one; a silent loss there is only logged.
func (r *robustTally) add(t *testing.T, c string, journal, atStake bool, o robustOutcome, detail string) {
	r.cases++
	r.by[o]++
	if journal {
		r.journal[o]++
	}
	switch o {
	case outcomeCrash, outcomeSilentLoss:
		if journal && !atStake {
			t.Logf("JOURNAL CASE %s: %s: %s", c, o, detail)
		} else {
			t.Errorf("%s: %s: %s", c, o, detail)
		}
	case outcomeUnclearRefusal:
		t.Logf("%s: %s: %s", c, o, detail)
	}
}

func TestRobustDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binaries on tens of damaged copies")
	}
	full := os.Getenv("FIELDFORMS_ROBUST") == "full"
	tally := &robustTally{by: map[robustOutcome]int{}, journal: map[robustOutcome]int{}}

	t.Run("device", func(t *testing.T) { robustDevice(t, full, tally) })
	t.Run("crashed writer", func(t *testing.T) { robustCrashedWriter(t, full, tally) })
	t.Run("server", func(t *testing.T) { robustServer(t, full, tally) })

	fmt.Printf("robust_cases %d cases\n", tally.cases)
	fmt.Printf("robust_crashes %d cases\n", tally.by[outcomeCrash])
	fmt.Printf("robust_silent_losses %d cases\n", tally.by[outcomeSilentLoss])
	fmt.Printf("robust_clear_refusals %d cases\n", tally.by[outcomeClearRefusal])
	fmt.Printf("robust_unclear_refusals %d cases\n", tally.by[outcomeUnclearRefusal])
	fmt.Printf("robust_harmless %d cases\n", tally.by[outcomeHarmless])
	fmt.Printf("robust_journal_crashes %d cases\n", tally.journal[outcomeCrash])
	fmt.Printf("robust_journal_silent_losses %d cases\n", tally.journal[outcomeSilentLoss])
	fmt.Printf("robust_journal_torn_last_drops %d cases\n", tally.tornLast)
	fmt.Printf("robust_repair_unreported_losses %d cases\n", tally.repairUnreported)
}

// robustDevice damages copies of a device replica made with `fieldforms record new`
// and runs record list, status and verify on each.
func robustDevice(t *testing.T, full bool, tally *robustTally) {
	base := t.TempDir()
	n := 12
	if full {
		n = 40
	}
	for i := range n {
		ok(t, base, "record", "new", "--template", "site-inspection", "--json", fmt.Sprintf(`{"site_code": "RB-%04d", "inspector": "Robin %d"}`, i, i))
	}
	want := listRevs(t, cli(t, base, "record", "list", "--all", "--limit", "0", "--json"))
	if len(want) != n {
		t.Fatalf("the replica lists %d records, want %d", len(want), n)
	}
	cases := damages(t, filepath.Join(base, store.DBFile), full)
	cases = append(cases, journalDamages(full)...)
	for _, d := range cases {
		dir := t.TempDir()
		robustCopy(t, base, dir)
		d.apply(t, dir)
		worst, detail := outcomeHarmless, ""
		for _, args := range [][]string{
			{"record", "list", "--all", "--limit", "0", "--json"},
			{"status"},
			{"verify"},
		} {
			r := cli(t, dir, args...)
			o, why := classifyRun(r, dir, args[0] == "record", want)
			if o > worst {
				worst, detail = o, fmt.Sprintf("fieldforms %s: %s", strings.Join(args, " "), why)
			}
		}
		tally.add(t, "device: "+d.name, strings.HasPrefix(d.name, "journal"), false, worst, detail)
	}
}

// classifyRun sorts one run of the device binary.
func classifyRun(r cliResult, dir string, isList bool, want map[string]string) (robustOutcome, string) {
	out := r.stdout + r.stderr
	// A recovered panic's text may appear inside a clear refusal ("... is damaged:
	// reading it failed: runtime error: ..."); these are the marks of a crash.
	for _, sign := range []string{"panic:", "goroutine ", "[signal", "SIGBUS", "SIGSEGV", "fatal error:"} {
		if strings.Contains(out, sign) {
			return outcomeCrash, fmt.Sprintf("exit %d, %q in the output: %.300s", r.code, sign, r.stderr)
		}
	}
	if r.code < 0 || r.code >= 128 {
		return outcomeCrash, fmt.Sprintf("killed (exit %d): %.300s", r.code, r.stderr)
	}
	if r.code == 0 {
		if isList {
			got := listRevsOf(r.stdout)
			for id, rev := range want {
				if got[id] != rev {
					return outcomeSilentLoss, fmt.Sprintf("exit 0, record %s listed at rev %q, acknowledged at %q", id, got[id], rev)
				}
			}
		}
		return outcomeHarmless, ""
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code == 1 && len(lines) == 1 && (strings.Contains(lines[0], store.DBFile) || strings.Contains(lines[0], store.JournalFile) || strings.Contains(lines[0], dir)) {
		return outcomeClearRefusal, ""
	}
	return outcomeUnclearRefusal, fmt.Sprintf("exit %d, stderr %q", r.code, r.stderr)
}

// listRevs reads `record list --json`: record ID → rev.
func listRevs(t *testing.T, r cliResult) map[string]string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("record list: exit %d: %s", r.code, r.stderr)
	}
	return listRevsOf(r.stdout)
}

func listRevsOf(s string) map[string]string {
	var list []struct {
		ID  string `json:"id"`
		Rev string `json:"rev"`
	}
	json.Unmarshal([]byte(s), &list)
	out := map[string]string{}
	for _, r := range list {
		out[r.ID] = r.Rev
	}
	return out
}

// damages are the ways to damage the database file db (a path inside the base
// folder; each damage applies to the same name in a copy).
func damages(t *testing.T, db string, full bool) []damage {
	t.Helper()
	rel := filepath.Base(db)
	pages, psize := boltPages(t, db)
	size := pages * psize
	rnd := rand.New(rand.NewPCG(10, 10))
	var out []damage
	nFlips, nZero, nCut := 14, 8, 8
	if full {
		nFlips, nZero, nCut = 300, int(pages), 80
	}
	// Bit flips: in the meta pages' fields, in page headers, and anywhere.
	flips := []int64{16 + 0, 16 + 8, 16 + 16, 16 + 32, 16 + 40, 16 + 56, psize + 16 + 16, psize + 16 + 40}
	for len(flips) < nFlips {
		p := 2 + rnd.Int64N(pages-2)
		if rnd.IntN(2) == 0 {
			flips = append(flips, p*psize+rnd.Int64N(16)) // a page header
		} else {
			flips = append(flips, p*psize+rnd.Int64N(psize))
		}
	}
	for i, off := range flips {
		bit := uint(rnd.IntN(8))
		if i < 8 {
			bit = 1
		}
		out = append(out, damage{fmt.Sprintf("%s: bit %d flipped at offset %d", rel, bit, off), func(t *testing.T, dir string) {
			p := filepath.Join(dir, rel)
			b := readAt(t, p, off, 1)
			writeAt(t, p, off, []byte{b[0] ^ 1<<bit})
		}})
	}
	// Zeroed pages: both meta pages, then pages spread over the file.
	zero := []int64{0, 1}
	for i := int64(0); int64(len(zero)) < int64(nZero) && i < pages-2; i++ {
		zero = append(zero, 2+i*(pages-2)/max(1, int64(nZero)-2))
	}
	for _, p := range zero {
		out = append(out, damage{fmt.Sprintf("%s: page %d zeroed", rel, p), func(t *testing.T, dir string) {
			writeAt(t, filepath.Join(dir, rel), p*psize, make([]byte, psize))
		}})
	}
	// Cuts at lengths from nothing to one byte short.
	cuts := []int64{0, 1, psize, 2*psize - 1, 2 * psize, size - 1}
	for len(cuts) < nCut {
		cuts = append(cuts, rnd.Int64N(size))
	}
	for _, c := range cuts {
		out = append(out, damage{fmt.Sprintf("%s: cut to %d bytes", rel, c), func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, rel), c); err != nil {
				t.Fatal(err)
			}
		}})
	}
	out = append(out, damage{rel + ": deleted", func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, rel)); err != nil {
			t.Fatal(err)
		}
	}})
	return out
}

// journalDamages are faults of the journal; their names start with "journal".
func journalDamages(full bool) []damage {
	const hdr = 4096 // the journal's header; frames follow
	out := []damage{
		{"journal.log: cut to its header", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, store.JournalFile), hdr) }},
		{"journal.log: cut to nothing", func(t *testing.T, dir string) { os.Truncate(filepath.Join(dir, store.JournalFile), 0) }},
		{"journal.log: first frame header zeroed", func(t *testing.T, dir string) {
			writeAt(t, filepath.Join(dir, store.JournalFile), hdr, make([]byte, 8))
		}},
		{"journal.log: deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, store.JournalFile)) }},
	}
	if full {
		for _, off := range []int64{0, 4, 100, hdr + 3, hdr + 9} {
			out = append(out, damage{fmt.Sprintf("journal.log: bit flipped at offset %d", off), func(t *testing.T, dir string) {
				p := filepath.Join(dir, store.JournalFile)
				b := readAt(t, p, off, 1)
				writeAt(t, p, off, []byte{b[0] ^ 4})
			}})
		}
	}
	return out
}

// robustServer damages copies of a server's data folder in tenant acme's store and
// runs `fieldformsd serve` on each: it must keep serving tenant beta, answer
// /readyz, and never die.
func robustServer(t *testing.T, full bool, tally *robustTally) {
	s := startFieldformsd(t)
	s.admin("tenant", "add", "beta")
	s.admin("template", "add", "assets/templates/site-inspection.json", "--tenant", "beta")
	a := newAgent(t, s, "ann")
	b := &agent{t: t, dir: t.TempDir()}
	code := strings.TrimSpace(s.admin("enroll", "--tenant", "beta", "--user", "bo", "--server-url", "https://"+s.addr))
	ok(t, b.dir, "enroll", code, "--name", "bo")
	for i := range 6 {
		a.newRecord(fmt.Sprintf("AC-%04d", i))
	}
	b.newRecord("BE-0001")
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	s.stop()

	tenantDB := filepath.Join(s.data, "tenants", "acme", store.DBFile)
	all := damages(t, tenantDB, full)
	// A sample: a server start is slower than a command.
	every := 5
	if full {
		every = 3
	}
	var cases []damage
	for i, d := range all {
		if i%every == 0 || strings.Contains(d.name, "deleted") {
			cases = append(cases, d)
		}
	}
	cases = append(cases, damage{"journal.log: deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, store.JournalFile)) }})

	baseData, baseA, baseB := s.data, a.dir, b.dir
	for _, d := range cases {
		data := t.TempDir()
		robustCopy(t, baseData, data)
		d.apply(t, filepath.Join(data, "tenants", "acme"))
		a.dir, b.dir = t.TempDir(), t.TempDir()
		robustCopy(t, baseA, a.dir)
		robustCopy(t, baseB, b.dir)
		o, detail := robustServeOnce(t, s, data, a, b)
		tally.add(t, "server: tenant acme's "+d.name, strings.HasPrefix(d.name, "journal"), false, o, detail)
	}
}

// robustServeOnce starts fieldformsd on data, asks /readyz, syncs the healthy
// tenant's device and the damaged one's, and stops it.
func robustServeOnce(t *testing.T, s *testServer, data string, a, b *agent) (robustOutcome, string) {
	logs, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd := exec.Command(s.bin, "serve", "--addr", s.addr, "--rate", "-1", "--config", s.config, "--data", data)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	serverLog := func() string { b, _ := os.ReadFile(logs.Name()); return string(b) }
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			return outcomeCrash, fmt.Sprintf("fieldformsd serve ended at start (%v): %.400s", err, serverLog())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return outcomeCrash, "fieldformsd serve never listened: " + serverLog()
		}
		time.Sleep(50 * time.Millisecond)
	}
	worst, detail := outcomeHarmless, ""
	note := func(o robustOutcome, d string) {
		if o > worst {
			worst, detail = o, d
		}
	}
	// /readyz: no credential; the server's certificate is its own (self-signed).
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := client.Get("https://" + s.addr + "/readyz"); err != nil {
		note(outcomeCrash, "/readyz: "+err.Error())
	} else {
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	// The healthy tenant is served whatever happened to the other.
	if r := cli(t, b.dir, "sync", "--once"); r.code != 0 && r.code != 3 {
		note(outcomeCrash, fmt.Sprintf("tenant beta not served: sync exit %d: %s", r.code, r.stderr))
	}
	r := cli(t, a.dir, "sync", "--once")
	switch {
	case r.code == 0 || r.code == 3:
	case r.code == 1 && strings.Count(strings.TrimSpace(r.stderr), "\n") == 0:
		note(outcomeClearRefusal, "")
	default:
		note(outcomeUnclearRefusal, fmt.Sprintf("tenant acme's device: sync exit %d: %q", r.code, r.stderr))
	}
	select {
	case err := <-exited:
		return outcomeCrash, fmt.Sprintf("fieldformsd serve died (%v): %.400s", err, serverLog())
	default:
	}
	stop()
	for _, sign := range []string{"panic:", "SIGBUS", "SIGSEGV", "fatal error"} {
		if strings.Contains(serverLog(), sign) {
			return outcomeCrash, fmt.Sprintf("%q in the server log: %.400s", sign, serverLog())
		}
	}
	if worst == outcomeHarmless && r.code != 0 && r.code != 3 {
		worst = outcomeClearRefusal
	}
	return worst, detail
}

// boltPages reads a bbolt file's high-water mark and page size from its newer
// valid meta page.
func boltPages(t *testing.T, path string) (pages, psize int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	var txid uint64
	for _, off := range []int64{0, 4096} {
		m := b[off+16:]
		if le.Uint32(m) != 0xED0CDAED {
			continue
		}
		if tx := le.Uint64(m[48:]); pages == 0 || tx > txid {
			txid, pages, psize = tx, int64(le.Uint64(m[40:])), int64(le.Uint32(m[8:]))
		}
	}
	if pages < 4 || psize != 4096 {
		t.Fatalf("%s: %d pages of %d bytes", path, pages, psize)
	}
	return pages, psize
}

func readAt(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// robustCopy copies a folder, writing only the blocks of each file that are not all
// zeros (bbolt and the journal allocate ahead).
func robustCopy(t *testing.T, from, to string) {
	t.Helper()
	zero := make([]byte, 4096)
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer f.Close()
		for off := 0; off < len(b); off += 4096 {
			blk := b[off:min(off+4096, len(b))]
			if !bytes.Equal(blk, zero[:len(blk)]) {
				if _, err := f.WriteAt(blk, int64(off)); err != nil {
					return err
				}
			}
		}
		return f.Truncate(int64(len(b)))
	})
	if err != nil {
		t.Fatal(err)
	}
}
