package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

const crashChildEnv = "FIELDFORMS_SERVER_CRASH_CHILD"

// TestServerCrash kills a real server process (this test binary serving over TLS on
// 127.0.0.1) at random moments while a device pushes batches; after each restart,
// every change the server acknowledged is there once, as merged.
func TestServerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	cycles, lost := serverCrash(t, 3)
	if lost != 0 {
		t.Fatalf("%d acknowledged changes lost in %d cycles", lost, cycles)
	}
}

// BenchmarkServerCrash is TestServerCrash with more cycles (FIELDFORMS_CRASH_CYCLES,
// 20 unless set), printing its figures.
func BenchmarkServerCrash(b *testing.B) {
	n := 20
	if v := os.Getenv("FIELDFORMS_CRASH_CYCLES"); v != "" {
		fmt.Sscan(v, &n)
	}
	for range b.N {
		cycles, lost := serverCrash(b, n)
		fmt.Printf("server_crash_cycles %d cycles\n", cycles)
		fmt.Printf("server_crash_lost_acked %d changes\n", lost)
		if lost != 0 {
			b.Fatalf("%d acknowledged changes lost", lost)
		}
	}
}

// TestServerCrashChild is the server process TestServerCrash kills: it opens the
// server in the folders it is given and serves until killed.
func TestServerCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("helper process for TestServerCrash")
	}
	ctx := context.Background()
	opts := server.Options{ConfigDir: os.Getenv("FIELDFORMS_CRASH_CONFIG"), DataDir: os.Getenv("FIELDFORMS_CRASH_DATA"), RateLimit: -1}
	s, err := server.Open(ctx, opts)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(2)
	}
	fmt.Println("cert " + base64.StdEncoding.EncodeToString(s.Certificate().Leaf.Raw))
	fmt.Println("addr " + ln.Addr().String())
	if err := s.Serve(ctx, ln); err != nil {
		fmt.Println("serve:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// crashServer is one server process.
type crashServer struct {
	cmd    *exec.Cmd
	url    string
	client *http.Client
}

func startCrashServer(tb testing.TB, opts server.Options) *crashServer {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServerCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1", "FIELDFORMS_CRASH_CONFIG="+opts.ConfigDir, "FIELDFORMS_CRASH_DATA="+opts.DataDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	cs := &crashServer{cmd: cmd}
	tb.Cleanup(func() { cmd.Process.Kill() })
	roots := x509.NewCertPool()
	sc := bufio.NewScanner(out)
	for cs.url == "" && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cert "):
			der, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "cert "))
			if err != nil {
				tb.Fatal(err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				tb.Fatal(err)
			}
			roots.AddCert(c)
		case strings.HasPrefix(line, "addr "):
			cs.url = "https://" + strings.TrimPrefix(line, "addr ")
		default:
			cmd.Process.Kill()
			cmd.Wait()
			tb.Fatalf("server process: %s", line)
		}
	}
	if cs.url == "" {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatal("server process ended before serving")
	}
	go io.Copy(io.Discard, out)
	cs.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	return cs
}

// kill ends the process with SIGKILL: nothing of it runs after.
func (cs *crashServer) kill() {
	cs.cmd.Process.Kill()
	if cs.cmd.ProcessState == nil {
		cs.cmd.Wait()
	}
	cs.client.CloseIdleConnections()
}

// push sends one batch; an error is a batch not acknowledged.
func (cs *crashServer) push(token string, req wire.PushRequest) (wire.PushResponse, error) {
	var resp wire.PushResponse
	body, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	hr, err := http.NewRequest("POST", cs.url+"/v1/push", bytes.NewReader(body))
	if err != nil {
		return resp, err
	}
	hr.Header.Set("Authorization", "Bearer "+token)
	r, err := cs.client.Do(hr)
	if err != nil {
		return resp, err
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return resp, err
	}
	if r.StatusCode != 200 {
		return resp, fmt.Errorf("push: %d %s", r.StatusCode, data)
	}
	return resp, json.Unmarshal(data, &resp)
}

// serverCrash runs cycles of: start the server process, push batches (new records
// and edits of acknowledged ones) until it is killed at a random moment, push again
// the batch it was answering. It returns the cycles run and the acknowledged changes
// that were then missing, not as merged, or applied twice.
func serverCrash(tb testing.TB, cycles int) (int, int) {
	tb.Helper()
	ctx := context.Background()
	opts := dirs(tb)
	ts := startServer(tb, opts)
	ts.addTenant(tb, "acme")
	d := ts.enroll(tb, "acme", "ann")
	ts.stop()

	// The mirror merges every acknowledged batch in order, as the server does.
	mirror, err := store.Open(ctx, tb.TempDir(), store.Options{Device: "mirror"})
	if err != nil {
		tb.Fatal(err)
	}
	defer mirror.Close()
	tpl, err := form.ParseTemplate([]byte(inspection))
	if err != nil {
		tb.Fatal(err)
	}
	if err := mirror.PutTemplate(ctx, tpl); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 12))
	var acked []string   // change IDs acknowledged
	var records []string // record IDs created by acknowledged changes
	created := map[string]form.Change{}
	var pending *wire.PushRequest // the batch in flight when the server died
	ack := func(req *wire.PushRequest, resp wire.PushResponse) {
		if len(resp.Results) != len(req.Changes) {
			tb.Fatalf("%d results for %d changes", len(resp.Results), len(req.Changes))
		}
		chs := make([]form.Change, len(req.Changes))
		for i, pc := range req.Changes {
			if st := resp.Results[i].Status; st != wire.StatusApplied && st != wire.StatusDuplicate {
				tb.Fatalf("change %d: %+v", i, resp.Results[i])
			}
			chs[i] = pc.Change
			acked = append(acked, pc.Change.ID)
		}
		if _, err := mirror.ApplyChanges(ctx, chs); err != nil {
			tb.Fatal(err)
		}
		for _, c := range chs {
			if _, ok := created[c.Record]; !ok {
				created[c.Record] = c
				records = append(records, c.Record)
			}
		}
	}
	next := func() *wire.PushRequest {
		req := &wire.PushRequest{}
		for i := range 50 {
			var c form.Change
			if i%5 == 4 && len(records) > 0 {
				id := records[rng.IntN(len(records))]
				c = d.change(id, fmt.Sprintf("edit %d", len(acked)+i), rng.IntN(11))
				c.Created, c.CreatedBy = created[id].Created, created[id].CreatedBy
			} else {
				c = d.change(form.NewID(), fmt.Sprintf("site %d", len(acked)+i), rng.IntN(11))
			}
			d.seq++
			req.Changes = append(req.Changes, wire.PushChange{Seq: d.seq, Change: c})
		}
		return req
	}
	// resend pushes the batch a kill left unanswered again, to a restarted server.
	resend := func(cs *crashServer) {
		if pending == nil {
			return
		}
		resp, err := cs.push(d.token, *pending)
		if err != nil {
			cs.kill()
			tb.Fatalf("push again after restart: %v", err)
		}
		ack(pending, resp)
		pending = nil
	}
	for range cycles {
		cs := startCrashServer(tb, opts)
		resend(cs)
		killAt := time.Duration(50+rng.IntN(400)) * time.Millisecond
		done := make(chan struct{})
		go func() {
			time.Sleep(killAt)
			cs.kill()
			close(done)
		}()
		for {
			req := next()
			resp, err := cs.push(d.token, *req)
			if err != nil {
				pending = req
				break
			}
			ack(req, resp)
		}
		<-done
	}
	// A last start: the batch in flight is pushed again, and the server closes.
	cs := startCrashServer(tb, opts)
	resend(cs)
	cs.kill()

	st, err := store.Open(ctx, filepath.Join(opts.DataDir, server.TenantsDir, "acme"), store.Options{})
	if err != nil {
		tb.Fatalf("open the tenant's store: %v", err)
	}
	defer st.Close()
	lost := 0
	for _, id := range acked {
		if ok, err := st.HasChange(ctx, id); err != nil || !ok {
			tb.Errorf("acknowledged change %s unknown: %v", id, err)
			lost++
		}
	}
	want, err := mirror.Revs(ctx, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	got, err := st.Revs(ctx, "", "")
	if err != nil {
		tb.Fatal(err)
	}
	have := map[string]string{}
	for _, r := range got {
		have[r.ID] = r.Rev
	}
	for _, r := range want {
		if have[r.ID] != r.Rev {
			tb.Errorf("record %s: rev %q, want %q as merged", r.ID, have[r.ID], r.Rev)
			lost++
		}
	}
	items, err := st.Audit(ctx, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range items {
		if e.Action == store.ActionApply {
			seen[e.Change]++
		}
	}
	for _, id := range acked {
		if seen[id] != 1 {
			tb.Errorf("acknowledged change %s has %d audit items, want 1", id, seen[id])
			lost++
		}
	}
	if rep, err := st.Verify(ctx); err != nil || !rep.OK() {
		tb.Fatalf("verify: %+v %v", rep, err)
	}
	if len(acked) == 0 {
		tb.Fatal("no batch was acknowledged")
	}
	return cycles, lost
}
