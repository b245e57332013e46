package main_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// serving is a `fieldformsd serve` process.
type serving struct {
	addr string
	log  *bytes.Buffer
	stop func()
}

func serve(t *testing.T, args ...string) *serving {
	t.Helper()
	srv := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &bytes.Buffer{}
	srv.Stderr = log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	s := &serving{log: log}
	for s.addr == "" && lines.Scan() {
		if m := regexp.MustCompile(`listening on https://(\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			s.addr = m[1]
		}
	}
	if s.addr == "" {
		srv.Process.Kill()
		srv.Wait()
		t.Fatalf("serve printed no address; log: %s", log.String())
	}
	exited := make(chan error, 1)
	go func() {
		for lines.Scan() {
		}
		exited <- srv.Wait()
	}()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		srv.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve exited: %v; log: %s", err, log.String())
			}
		case <-time.After(20 * time.Second):
			srv.Process.Kill()
			t.Error("serve did not stop on SIGTERM")
		}
	}
	t.Cleanup(s.stop)
	return s
}

// apiClient is a device of the test: an enrolled credential over HTTPS.
type apiClient struct {
	t     *testing.T
	http  *http.Client
	url   string
	id    string
	token string
	seq   uint64
}

func enrollDevice(t *testing.T, code string) *apiClient {
	t.Helper()
	c, err := wire.ParseEnrollCode(code)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := base64.StdEncoding.DecodeString(c.Cert)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	t.Cleanup(hc.CloseIdleConnections)
	d := &apiClient{t: t, http: hc, url: c.URL, id: form.NewID()}
	var er wire.EnrollResponse
	if code := d.call("POST", "/v1/enroll", wire.EnrollRequest{Secret: c.Secret, DeviceID: d.id}, &er); code != 200 {
		t.Fatalf("enroll: %d", code)
	}
	d.token = er.Token
	return d
}

func (d *apiClient) call(method, path string, in, out any) int {
	d.t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(method, d.url+path, bytes.NewReader(body))
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			d.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// newRecord pushes a new record and returns its ID.
func (d *apiClient) newRecord(site string) string {
	d.t.Helper()
	st := form.Stamp{HLC: form.NewHLC(time.Now().UnixMilli(), 0), Device: d.id}
	ch := form.Change{ID: form.NewID(), Record: form.NewID(), Template: "inspection", Version: 1, Created: st, CreatedBy: "ann",
		Fields: map[string]form.FieldValue{"site": {Value: json.RawMessage(`"` + site + `"`), Stamp: st}}, Author: "ann", Device: d.id}
	d.seq++
	var resp wire.PushResponse
	if code := d.call("POST", "/v1/push", wire.PushRequest{Changes: []wire.PushChange{{Seq: d.seq, Change: ch}}}, &resp); code != 200 || resp.Results[0].Status != wire.StatusApplied {
		d.t.Fatalf("push: %d %+v", code, resp.Results)
	}
	return ch.Record
}

var reqIDRe = regexp.MustCompile(`purge request ([0-9a-f-]{36}) recorded`)

func TestPurgeAndAudit(t *testing.T) {
	root := t.TempDir()
	cfg, data := "--config="+root+"/config", "--data="+root+"/data"
	mustRun(t, "init", cfg, data)
	mustRun(t, "tenant", "add", "acme", cfg, data)
	tpl := filepath.Join(root, "inspection.json")
	os.WriteFile(tpl, []byte(`{"id":"inspection","version":1,"name":"Inspection","fields":[{"id":"site","type":"text","label":"Site"}]}`), 0o600)
	mustRun(t, "template", "add", tpl, "--tenant", "acme", cfg, data)

	srv := serve(t, cfg, data)
	ann := enrollDevice(t, mustRun(t, "enroll", "--tenant", "acme", "--user", "ann", cfg, data))
	for _, u := range []string{"alice", "bob", "carol"} {
		enrollDevice(t, mustRun(t, "enroll", "--tenant", "acme", "--user", u, "--admin", cfg, data))
	}
	r1, r2, r3 := ann.newRecord("one"), ann.newRecord("two"), ann.newRecord("three")

	// While the server runs, through its admin socket.
	oneLineError(t, fieldformsd(t, "purge", "request", r1, "--tenant", "acme", "--user", "ann", "--reason", "x", cfg, data), "not an admin")
	oneLineError(t, fieldformsd(t, "purge", "request", r1, "--tenant", "acme", "--user", "alice", cfg, data), "--reason")
	oneLineError(t, fieldformsd(t, "purge", "request", form.NewID(), "--tenant", "acme", "--user", "alice", "--reason", "x", cfg, data), "no record")
	out := mustRun(t, "purge", "request", r1, r2, "--tenant", "acme", "--user", "alice", "--reason", "test data", cfg, data)
	m := reqIDRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "2 records") {
		t.Fatalf("purge request printed %q", out)
	}
	req1 := m[1]
	oneLineError(t, fieldformsd(t, "purge", "approve", req1, "--tenant", "acme", "--user", "alice", cfg, data), "cannot approve")
	if out := mustRun(t, "purge", "approve", req1, "--tenant", "acme", "--user", "bob", cfg, data); !strings.Contains(out, "1 of 2") {
		t.Fatalf("first approval: %q", out)
	}
	if out := mustRun(t, "purge", "approve", req1, "--tenant", "acme", "--user", "bob", cfg, data); !strings.Contains(out, "1 of 2") {
		t.Fatalf("the same admin again: %q", out)
	}
	if out := mustRun(t, "purge", "list", "--tenant", "acme", cfg, data); !strings.Contains(out, req1) || !strings.Contains(out, "waiting (1 of 2)") {
		t.Fatalf("purge list: %q", out)
	}
	if out := mustRun(t, "audit", "--tenant", "acme", "--verify", cfg, data); !strings.Contains(out, "audit chain intact: 5 entries checked") {
		t.Fatalf("audit --verify: %q", out)
	}
	srv.stop()

	// Without a server, on the files: the same commands.
	out = mustRun(t, "purge", "approve", req1, "--tenant", "acme", "--user", "carol", cfg, data)
	if !strings.Contains(out, "approved by bob and carol; carried out: 2 records purged") {
		t.Fatalf("second approval: %q", out)
	}
	out = mustRun(t, "purge", "request", r3, "--tenant", "acme", "--user", "bob", "--reason", "duplicate", cfg, data)
	req2 := reqIDRe.FindStringSubmatch(out)[1]
	mustRun(t, "purge", "approve", req2, "--tenant", "acme", "--user", "alice", cfg, data)
	mustRun(t, "purge", "approve", req2, "--tenant", "acme", "--user", "carol", cfg, data)
	var list []wire.PurgeStatus
	if err := json.Unmarshal([]byte(mustRun(t, "purge", "list", "--tenant", "acme", "--json", cfg, data)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != req2 || list[0].Done == nil || list[1].Done == nil {
		t.Fatalf("purge list --json: %+v", list)
	}
	// Both decisions are kept with the server's identity, and listed as such.
	for _, st := range list {
		if _, err := os.Stat(filepath.Join(root, "config", "purges", "acme", st.ID+".json")); err != nil || !st.Logged {
			t.Errorf("purge %s: logged %v, in the config folder: %v", st.ID, st.Logged, err)
		}
	}
	out = mustRun(t, "audit", "--tenant", "acme", "--record", r1, cfg, data)
	if !strings.Contains(out, "purge") || !strings.Contains(out, "fieldformsd") || !strings.Contains(out, req1) {
		t.Fatalf("audit --record after purge: %q", out)
	}
	var ar wire.AuditResponse
	if err := json.Unmarshal([]byte(mustRun(t, "audit", "--tenant", "acme", "--verify", "--json", cfg, data)), &ar); err != nil {
		t.Fatal(err)
	}
	if ar.Verified == nil || !*ar.Verified || ar.Checked != 11 || len(ar.Entries) != 15 { // 3 saves; per purge, one entry each for the request, the approvals and the purge, with an item per record
		t.Fatalf("audit --verify --json: verified %v, %d checked, %d entries", ar.Verified, ar.Checked, len(ar.Entries))
	}
	if out := mustRun(t, "audit", "--tenant", "acme", "--limit", "2", "--after", "1", cfg, data); strings.Count(out, "\n") != 3 {
		t.Fatalf("audit --limit 2: %q", out)
	}
	oneLineError(t, fieldformsd(t, "audit", "--tenant", "nobody", cfg, data), "nobody")
	oneLineError(t, fieldformsd(t, "purge", "list", cfg, data), "--tenant")

	// The purge reaches devices once the server runs again.
	srv = serve(t, cfg, data)
	ann.url = "https://" + srv.addr
	var pr wire.PullResponse
	if code := ann.call("GET", "/v1/pull", nil, &pr); code != 200 || len(pr.Purged) != 3 || len(pr.Records) != 0 {
		t.Fatalf("pull: %d, purged %v, %d records", code, pr.Purged, len(pr.Records))
	}
}

func TestServeBlobFlags(t *testing.T) {
	root := t.TempDir()
	cfg, data := "--config="+root+"/config", "--data="+root+"/data"
	mustRun(t, "init", cfg, data)
	const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	t.Setenv("FIELDFORMS_BLOB_KEY", "")
	r := fieldformsd(t, "serve", cfg, data, "--addr", "127.0.0.1:0", "--blob-endpoint", "https://acct.blob.core.windows.net", "--blob-account", "acct")
	oneLineError(t, r, "FIELDFORMS_BLOB_KEY")
	r = fieldformsd(t, "serve", cfg, data, "--addr", "127.0.0.1:0", "--blob-endpoint", "https://acct.blob.core.windows.net")
	if r.code != 2 || !strings.Contains(r.stderr, "--blob-account") {
		t.Fatalf("endpoint without account: %+v", r)
	}
	t.Setenv("FIELDFORMS_BLOB_KEY", key)
	r = fieldformsd(t, "serve", cfg, data, "--addr", "127.0.0.1:0", "--blob-endpoint", "http://127.0.0.1:10000/devstoreaccount1", "--blob-account", "devstoreaccount1")
	oneLineError(t, r, "not https")
	if strings.Contains(r.stderr+r.stdout, key) {
		t.Fatal("serve printed the account key")
	}
	r = fieldformsd(t, "serve", "--help")
	if !strings.Contains(r.stdout, "FIELDFORMS_BLOB_KEY") || strings.Contains(r.stdout, "blob-key") {
		t.Fatalf("serve --help: %q", r.stdout)
	}
}
