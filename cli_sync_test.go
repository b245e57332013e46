package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run real processes: fieldformsd serving HTTPS on 127.0.0.1 and
// fieldforms agents, each with its own replica, killed and restarted as in the field.

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
)

// serverBinEnv names a fieldformsd binary to run instead of building this tree's,
// to see a test fail against an earlier release.
const serverBinEnv = "FIELDFORMS_TEST_FIELDFORMSD"

func buildServer(t testing.TB) string {
	t.Helper()
	serverBinOnce.Do(func() {
		if p := os.Getenv(serverBinEnv); p != "" {
			serverBin = p
			return
		}
		serverBin = filepath.Join(filepath.Dir(cliBin), "fieldformsd")
		args := []string{"build", "-o", serverBin}
		if raceBuild {
			args = append(args, "-race")
		}
		out, err := exec.Command("go", append(args, "./cmd/fieldformsd")...).CombinedOutput()
		if err != nil {
			serverBinErr = fmt.Errorf("go build ./cmd/fieldformsd: %v\n%s", err, out)
		}
	})
	if serverBinErr != nil {
		t.Fatal(serverBinErr)
	}
	return serverBin
}

// testServer is a fieldformsd process.
type testServer struct {
	t          testing.TB
	bin        string
	config     string
	data       string
	addr       string
	cmd        *exec.Cmd
	logs       *os.File
	tenantArgs []string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startFieldformsd(t *testing.T) *testServer {
	t.Helper()
	root := t.TempDir()
	s := &testServer{t: t, bin: buildServer(t), config: filepath.Join(root, "config"), data: filepath.Join(root, "data"), addr: freeAddr(t)}
	s.admin("init")
	s.admin("tenant", "add", "acme")
	s.admin("template", "add", "assets/templates/site-inspection.json", "--tenant", "acme")
	s.serve()
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) dirs() []string { return []string{"--config", s.config, "--data", s.data} }

// admin runs a fieldformsd command and returns its standard output.
func (s *testServer) admin(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(s.bin, append(args, s.dirs()...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("fieldformsd %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (s *testServer) serve() {
	s.t.Helper()
	logs, err := os.CreateTemp(s.t.TempDir(), "server-*.log")
	if err != nil {
		s.t.Fatal(err)
	}
	s.logs = logs
	s.cmd = exec.Command(s.bin, append([]string{"serve", "--addr", s.addr, "--rate", "-1"}, s.dirs()...)...)
	s.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	s.cmd.Stdout, s.cmd.Stderr = logs, logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logs.Name())
			s.t.Fatalf("fieldformsd did not listen on %s: %s", s.addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server by its process ID.
func (s *testServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// kill ends the server with SIGKILL.
func (s *testServer) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

func (s *testServer) code(user string) string {
	s.t.Helper()
	return strings.TrimSpace(s.admin("enroll", "--tenant", "acme", "--user", user, "--server-url", "https://"+s.addr))
}

// agent is a device: a replica folder used through the fieldforms binary.
type agent struct {
	t   *testing.T
	dir string
}

func newAgent(t *testing.T, s *testServer, user string) *agent {
	t.Helper()
	a := &agent{t: t, dir: t.TempDir()}
	out := ok(t, a.dir, "enroll", s.code(user), "--name", user)
	if !strings.Contains(out, "enrolled") {
		t.Fatalf("enroll: %q", out)
	}
	return a
}

// syncUntilQuiet runs `sync --once` until it exits 0 (nothing moved).
func (a *agent) syncUntilQuiet() {
	a.t.Helper()
	for i := 0; i < 10; i++ {
		r := cli(a.t, a.dir, "sync", "--once")
		switch r.code {
		case 0:
			return
		case 3:
			continue
		default:
			a.t.Fatalf("sync --once: exit %d: %s", r.code, r.stderr)
		}
	}
	a.t.Fatal("sync --once never came to rest")
}

func (a *agent) ids() map[string]bool {
	a.t.Helper()
	out := ok(a.t, a.dir, "record", "list", "--all", "--limit", "0")
	ids := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			ids[f[0]] = true
		}
	}
	return ids
}

func (a *agent) newRecord(site string) string {
	a.t.Helper()
	return strings.TrimSpace(ok(a.t, a.dir, "record", "new", "--template", "site-inspection", "--json", `{"site_code": "`+site+`"}`))
}

// A scripted session: two devices enrolled from codes, one fills a form, both sync,
// the other has it; status tells the truth.
func TestAgentsSyncThroughARealServer(t *testing.T) {
	s := startFieldformsd(t)
	a, b := newAgent(t, s, "ann"), newAgent(t, s, "bob")
	id := a.newRecord("NW-0001")
	st := ok(t, a.dir, "status")
	if !strings.Contains(st, "pending:      1") || !strings.Contains(st, "ready") {
		t.Fatalf("status before sync:\n%s", st)
	}
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	if !b.ids()[id] {
		t.Fatalf("device b lacks %s", id)
	}
	st = ok(t, a.dir, "status", "--json")
	if !strings.Contains(st, `"pending": 0`) || !strings.Contains(st, `"health": "ready"`) {
		t.Fatalf("status after sync: %s", st)
	}
}

// An agent killed with SIGKILL at random moments in the middle of syncing, again and
// again: in the end the server holds every record exactly once.
func TestAgentKilledMidSync(t *testing.T) {
	s := startFieldformsd(t)
	a, obs := newAgent(t, s, "ann"), newAgent(t, s, "obs")
	want := map[string]bool{}
	for i := 0; i < 60; i++ {
		want[a.newRecord(fmt.Sprintf("SS-%04d", i))] = true
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < 8; round++ {
		cmd := exec.Command(cliBin, "--data", a.dir, "sync", "--once")
		cmd.Env = headlessEnv(t)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// More work between the kills.
		want[a.newRecord(fmt.Sprintf("KK-%03d", round))] = true
	}
	a.syncUntilQuiet()
	obs.syncUntilQuiet()
	got := obs.ids()
	if len(got) != len(want) {
		t.Fatalf("observer has %d records, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("record %s lost", id)
		}
	}
	ok(t, a.dir, "verify")
}

// The server is killed, its data folder deleted, and it starts again with the same
// config: the agents rebuild it with no command beyond their usual sync.
func TestAgentsRebuildAWipedServer(t *testing.T) {
	s := startFieldformsd(t)
	a, b := newAgent(t, s, "ann"), newAgent(t, s, "bob")
	for i := 0; i < 5; i++ {
		a.newRecord(fmt.Sprintf("AA-%03d", i))
		b.newRecord(fmt.Sprintf("BB-%03d", i))
	}
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	a.syncUntilQuiet()
	s.kill()
	if err := os.RemoveAll(s.data); err != nil {
		t.Fatal(err)
	}
	s.serve()
	a.syncUntilQuiet()
	b.syncUntilQuiet()
	c := newAgent(t, s, "carol") // a new device sees the rebuilt server's content
	c.syncUntilQuiet()
	if n := len(c.ids()); n != 10 {
		t.Fatalf("rebuilt server holds %d records, want 10", n)
	}
	_ = context.Background
}
