package main_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// bin is the fieldformsd binary built for these tests.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fieldformsd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "fieldformsd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fieldformsd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

func fieldformsd(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	r := fieldformsd(t, args...)
	if r.code != 0 {
		t.Fatalf("fieldformsd %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// oneLineError checks a failure: non-zero, one line on standard error.
func oneLineError(t *testing.T, r result, contains string) {
	t.Helper()
	if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, contains) {
		t.Fatalf("exit %d, stderr %q; want non-zero and one line saying %q", r.code, r.stderr, contains)
	}
}

func TestHelp(t *testing.T) {
	r := fieldformsd(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "serve") || !strings.Contains(r.stdout, "enroll") {
		t.Fatalf("--help: %+v", r)
	}
	for _, c := range []string{"init", "serve", "tenant", "enroll", "device", "template", "purge", "audit", "compact"} {
		r := fieldformsd(t, c, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "usage: fieldformsd "+c) || !strings.Contains(r.stdout, "-config") {
			t.Errorf("%s --help: exit %d, %q", c, r.code, r.stdout)
		}
	}
}

func TestErrors(t *testing.T) {
	root := t.TempDir()
	cfg, data := "--config="+root+"/c", "--data="+root+"/d"
	oneLineError(t, fieldformsd(t, "frobnicate"), `unknown command "frobnicate"`)
	oneLineError(t, fieldformsd(t, "tenant", "add", "acme", cfg, data), "fieldformsd init")
	mustRun(t, "init", cfg, data)
	oneLineError(t, fieldformsd(t, "tenant", "add", "Bad_Name", cfg, data), "Bad_Name")
	oneLineError(t, fieldformsd(t, "enroll", "--user", "ann", cfg, data), "--tenant")
	oneLineError(t, fieldformsd(t, "enroll", "--tenant", "nobody", "--user", "ann", cfg, data), "nobody")
	oneLineError(t, fieldformsd(t, "device", "revoke", "dev1", "--tenant", "nobody", cfg, data), "nobody")
	oneLineError(t, fieldformsd(t, "template", "add", "/no/such/file", "--tenant", "x", cfg, data), "no such file")
	oneLineError(t, fieldformsd(t, "init", "--bogus", cfg, data), "bogus")
}

func TestServeAndAdmin(t *testing.T) {
	root := t.TempDir()
	cfg, data := "--config="+root+"/config", "--data="+root+"/data"

	out := mustRun(t, "init", cfg, data)
	fp := regexp.MustCompile(`fingerprint: ([0-9a-f]{64})`).FindStringSubmatch(out)
	if fp == nil {
		t.Fatalf("init printed no fingerprint: %q", out)
	}
	mustRun(t, "tenant", "add", "acme", cfg, data)
	tpl := filepath.Join(root, "inspection.json")
	os.WriteFile(tpl, []byte(`{"id":"inspection","version":1,"name":"Inspection","fields":[{"id":"site","type":"text","label":"Site"}]}`), 0o600)
	if out := mustRun(t, "template", "add", tpl, "--tenant", "acme", cfg, data); !strings.Contains(out, "applied") {
		t.Fatalf("template add: %q", out)
	}

	// Without a server, enroll still works (on the files) and prints one line.
	out = mustRun(t, "enroll", "--tenant", "acme", "--user", "ann", cfg, data)
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("enroll printed %q, want one line", out)
	}
	code, err := wire.ParseEnrollCode(out)
	if err != nil || code.Fingerprint != fp[1] || code.Tenant != "acme" || code.URL != "https://127.0.0.1:8443" {
		t.Fatalf("code %+v, %v", code, err)
	}

	// Serve on a free port.
	srv := exec.Command(bin, "serve", cfg, data, "--addr", "127.0.0.1:0")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serveLog bytes.Buffer
	srv.Stderr = &serveLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	defer func() {
		if srv.ProcessState == nil {
			srv.Process.Kill()
		}
	}()
	lines := bufio.NewScanner(stdout)
	var addr string
	for addr == "" && lines.Scan() {
		if m := regexp.MustCompile(`listening on https://(\S+)`).FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("serve printed no address; log: %s", serveLog.String())
	}
	go func() {
		for lines.Scan() {
		}
		exited <- srv.Wait()
	}()

	// Admin commands go through the running server (bbolt's lock keeps them off the files).
	if out := mustRun(t, "device", "list", "--tenant", "acme", cfg, data); !strings.Contains(out, "DEVICE") {
		t.Fatalf("device list: %q", out)
	}
	mustRun(t, "tenant", "add", "globex", cfg, data)
	out = mustRun(t, "enroll", "--tenant", "acme", "--user", "ann", "--admin", cfg, data)
	code, err = wire.ParseEnrollCode(out)
	if err != nil || code.URL != "https://"+addr {
		t.Fatalf("code while serving: %+v, %v", code, err)
	}

	// A device redeems the code over HTTPS, trusting only the certificate it carries.
	der, _ := base64.StdEncoding.DecodeString(code.Cert)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	defer client.CloseIdleConnections()
	devID := form.NewID()
	body, _ := json.Marshal(wire.EnrollRequest{Secret: code.Secret, DeviceID: devID, DeviceName: "tablet"})
	resp, err := client.Post(code.URL+"/v1/enroll", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var er wire.EnrollResponse
	json.NewDecoder(resp.Body).Decode(&er)
	resp.Body.Close()
	if resp.StatusCode != 200 || !er.Admin || er.DeviceID != devID {
		t.Fatalf("enroll: %d %+v", resp.StatusCode, er)
	}

	out = mustRun(t, "device", "list", "--tenant", "acme", "--json", cfg, data)
	var devs []struct {
		ID, User string
		Admin    bool
	}
	if err := json.Unmarshal([]byte(out), &devs); err != nil || len(devs) != 1 || devs[0].ID != devID || !devs[0].Admin {
		t.Fatalf("device list --json: %q, %v", out, err)
	}
	if strings.Contains(out, er.Token) {
		t.Fatal("device list shows the credential")
	}
	mustRun(t, "device", "revoke", devID, "--tenant", "acme", cfg, data)
	req, _ := http.NewRequest("GET", code.URL+"/v1/templates", nil)
	req.Header.Set("Authorization", "Bearer "+er.Token)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("revoked device: %d", resp.StatusCode)
	}

	// SIGTERM: a clean shutdown, exit 0, and the files are free again.
	srv.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve exited: %v; log: %s", err, serveLog.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if strings.Contains(serveLog.String(), er.Token) || strings.Contains(serveLog.String(), code.Secret) {
		t.Fatal("the server log holds a credential or an enrolment secret")
	}
	if out := mustRun(t, "tenant", "list", cfg, data); !strings.Contains(out, "globex") {
		t.Fatalf("tenant list after serve: %q", out)
	}
}
