package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/store"
)

// Replication figures with real processes: fieldformsd over HTTPS on 127.0.0.1 and
// fieldforms agents, each with its own replica holding the peer benchmark's documents.
// make bench prints them next to PouchDB's push of the same documents.

func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("FIELDFORMS_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// fillReplica makes a device replica holding the benchmark's records, as a device
// that has synced them before would. A replica that synced the templates keeps the
// server's (with their signatures); one that did not gets them unsigned.
func fillReplica(b *testing.B, dir string, lines [][]byte) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tpls {
		if err := st.PutTemplate(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < len(lines); i += 2000 {
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+2000, len(lines))], []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.ApplyRecords(ctx, recs, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// copyTree copies a replica folder as another device's: same records, its own
// device ID.
func copyTree(b *testing.B, from, to string) {
	b.Helper()
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v: %s", err, out)
	}
	st, err := store.Open(context.Background(), to, store.Options{Device: form.NewID()})
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
}

// countingProxy forwards TCP to the server and counts the bytes both ways, as they
// pass (not when a connection closes, which may come after the count is read).
type countingProxy struct {
	ln    net.Listener
	bytes atomic.Int64
}

// countingWriter adds what it writes to n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}

func newCountingProxy(b *testing.B, target string) *countingProxy {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				var wg sync.WaitGroup
				wg.Add(2)
				cp := func(dst, src net.Conn) {
					io.Copy(countingWriter{dst, &p.bytes}, src)
					dst.Close()
					wg.Done()
				}
				go cp(up, c)
				go cp(c, up)
				wg.Wait()
			}()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return p
}

// runAgent runs a fieldforms command and returns its peak resident memory in MiB:
// all of it (the kernel's high-water mark, VmHWM, read every 50 ms, so a peak
// between two samples counts too; not getrusage's, which carries over the test
// process's own memory from before the exec), and the anonymous part, sampled (the
// heap, without the binary and the replica's memory-mapped database file, whose
// pages the kernel can drop at will and the agent gives back after each batch it
// reads).
func runAgent(b *testing.B, dir string, args ...string) (float64, float64) {
	b.Helper()
	cmd := exec.Command(cliBin, append([]string{"--data", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	peak, peakAnon := 0.0, 0.0
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
				b.Fatalf("fieldforms %s: %v: %s", strings.Join(args, " "), err, stderr.String())
			}
			return peak, peakAnon
		case <-tick.C:
			for _, key := range []string{"VmRSS:", "VmHWM:"} {
				if kb := procStatus(cmd.Process.Pid, key); kb/1024 > peak {
					peak = kb / 1024
				}
			}
			if kb := procStatus(cmd.Process.Pid, "RssAnon:"); kb/1024 > peakAnon {
				peakAnon = kb / 1024
			}
		}
	}
}

func procStatus(pid int, key string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return n
		}
	}
	return 0
}

// medianRun runs fn k times and returns the median time in milliseconds.
func medianRun(b *testing.B, k int, fn func()) float64 {
	b.Helper()
	var ms []float64
	for range k {
		t0 := time.Now()
		fn()
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ms)
	return ms[len(ms)/2]
}

// serverCount stops the server and counts the tenant's records in its files.
func serverCount(b *testing.B, s *testServer) int {
	b.Helper()
	s.stop()
	st, err := store.Open(context.Background(), filepath.Join(s.data, "tenants", "acme"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n, err := st.Count(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkRebuild measures the product's headline path: devices of workers (not
// admins) that synced with the server before, holding its templates as an admin
// signed them, rebuild it after its data folder was lost (same config), with no
// command beyond their usual sync.
func BenchmarkRebuild(b *testing.B) {
	n := benchN()
	lines, err := benchdata.LoadLines(n)
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	s := startBenchServer(b)
	master := filepath.Join(root, "master")
	enrollAgent(b, s, master, "master")
	runAgent(b, master, "sync", "--once") // the templates, with the tenant's signatures
	fillReplica(b, master, lines)
	lines = nil
	// One device rebuilds an empty server: its first sync finds the server empty and
	// sends everything.
	{
		s.wipe()
		dev := filepath.Join(root, "dev1")
		copyTree(b, master, dev)
		enrollAgent(b, s, dev, "dev1")
		t0 := time.Now()
		rss, anon := runAgent(b, dev, "sync", "--once")
		el := time.Since(t0)
		fmt.Printf("rebuild_100k_s %.4g s\n", el.Seconds())
		fmt.Printf("agent_rss_rebuild_mb %.4g MiB\n", rss)
		fmt.Printf("agent_rss_anon_rebuild_mb %.4g MiB\n", anon)
		fmt.Printf("agent_rss_rebuild_budget_mb %d MiB\n", 150) // issue 11
		if got := serverCount(b, s); got != n {
			b.Fatalf("server holds %d records after the rebuild, want %d", got, n)
		}
		s.serve()

		// 1 % changed on the device, then one sync: time and bytes on the wire.
		ctx := context.Background()
		st, err := store.Open(ctx, dev, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		revs, err := st.Revs(ctx, "", "")
		if err != nil {
			b.Fatal(err)
		}
		changed := 0
		for i := 0; i < len(revs); i += 100 {
			r, err := st.Save(ctx, store.Edit{Record: revs[i].ID, Author: "bench", Values: form.Values{"status": []byte(`"closed"`), "summary": []byte(fmt.Sprintf(`"edited %d"`, i))}})
			if err != nil {
				b.Fatal(err)
			}
			changed += len(r.Encode())
		}
		st.Close()
		proxy := newCountingProxy(b, s.addr)
		setAgentURL(b, dev, "https://"+proxy.ln.Addr().String())
		t0 = time.Now()
		runAgent(b, dev, "sync", "--once")
		el = time.Since(t0)
		fmt.Printf("incr_1pct_ms %.4g ms\n", float64(el.Microseconds())/1000)
		fmt.Printf("incr_1pct_bytes_ratio %.4g x\n", float64(proxy.bytes.Load())/float64(changed))

		// Nothing new: a `sync --once` process from start to exit, the median of
		// seven; beside it, a process that only opens the replica (`templates`),
		// the floor any command pays (start-up, package init, the replica's open).
		setAgentURL(b, dev, "https://"+s.addr)
		fmt.Printf("noop_synconce_process_ms %.4g ms\n", medianRun(b, 7, func() { runAgent(b, dev, "sync", "--once") }))
		fmt.Printf("noop_process_floor_ms %.4g ms\n", medianRun(b, 7, func() { runAgent(b, dev, "templates") }))
	}

	// Five devices holding the same records rebuild an empty server at once.
	{
		s.wipe()
		var devs []string
		for i := 0; i < 5; i++ {
			dev := filepath.Join(root, fmt.Sprintf("five%d", i))
			copyTree(b, master, dev)
			enrollAgent(b, s, dev, fmt.Sprintf("five%d", i))
			devs = append(devs, dev)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(devs))
		t0 := time.Now()
		for _, dev := range devs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(cliBin, "--data", dev, "sync", "--once")
				if out, err := cmd.CombinedOutput(); err != nil && cmd.ProcessState.ExitCode() != 3 {
					errs <- fmt.Errorf("%s: %v: %s", dev, err, out)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		fmt.Printf("rebuild_5dev_100k_s %.4g s\n", time.Since(t0).Seconds())
		if got := serverCount(b, s); got != n {
			b.Fatalf("server holds %d records after five devices rebuilt it, want exactly %d", got, n)
		}
	}
}

// startBenchServer starts fieldformsd with a tenant, the benchmark's templates
// published by an admin, and no rate limit.
func startBenchServer(b *testing.B) *testServer {
	b.Helper()
	root := b.TempDir()
	s := &testServer{t: b, bin: buildServer(b), config: filepath.Join(root, "config"), data: filepath.Join(root, "data"), addr: freeAddr(b)}
	s.admin("init")
	s.admin("tenant", "add", "acme")
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	for i, t := range tpls {
		f := filepath.Join(root, fmt.Sprintf("template-%d.json", i))
		if err := os.WriteFile(f, t.Encode(), 0o600); err != nil {
			b.Fatal(err)
		}
		s.admin("template", "add", f, "--tenant", "acme")
	}
	s.serve()
	b.Cleanup(s.stop)
	return s
}

func enrollAgent(b *testing.B, s *testServer, dir, name string) {
	b.Helper()
	code := strings.TrimSpace(s.admin("enroll", "--tenant", "acme", "--user", name, "--server-url", "https://"+s.addr))
	cmd := exec.Command(cliBin, "--data", dir, "enroll", code, "--name", name)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("enroll: %v: %s", err, out)
	}
}

// setAgentURL points an enrolled replica at another address (a proxy) of the server.
func setAgentURL(b *testing.B, dir, url string) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	raw, err := st.State(ctx, credentialStateKey)
	if err != nil {
		b.Fatal(err)
	}
	var cred map[string]any
	if err := json.Unmarshal(raw, &cred); err != nil {
		b.Fatal(err)
	}
	cred["url"] = url
	out, _ := json.Marshal(cred)
	if err := st.SetState(ctx, map[string][]byte{credentialStateKey: out}); err != nil {
		b.Fatal(err)
	}
}

// wipe stops the server, deletes its data folder and starts it again with the same
// config: a server rebuilt empty after its disk was lost.
func (s *testServer) wipe() {
	s.t.Helper()
	s.stop()
	if err := os.RemoveAll(s.data); err != nil {
		s.t.Fatal(err)
	}
	s.serve()
}
