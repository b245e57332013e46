package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// inspection is the template the tests fill in.
const inspection = `{"id":"inspection","version":1,"name":"Inspection","title":["site"],
 "fields":[{"id":"site","type":"text","label":"Site","max_length":100},
           {"id":"score","type":"integer","label":"Score","min":0,"max":10}]}`

// testServer is a real server on a free 127.0.0.1 port, serving real TLS.
type testServer struct {
	*server.Server
	opts   server.Options
	url    string
	client *http.Client
	logs   *syncBuffer
	stop   func()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// dirs makes fresh config and data folders.
func dirs(t testing.TB) server.Options {
	t.Helper()
	root := t.TempDir()
	return server.Options{ConfigDir: root + "/config", DataDir: root + "/data", RateLimit: -1}
}

// startServer opens and serves a server with opts (folders from dirs) until the test
// ends or stop is called.
func startServer(t testing.TB, opts server.Options) *testServer {
	t.Helper()
	opts.Create = true
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := server.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	roots := x509.NewCertPool()
	roots.AddCert(s.Certificate().Leaf)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	t.Cleanup(client.CloseIdleConnections)
	return &testServer{Server: s, opts: opts, url: "https://" + ln.Addr().String(), client: client, logs: logs, stop: stop}
}

// addTenant adds a tenant with the inspection template.
func (ts *testServer) addTenant(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := ts.AddTenant(ctx, name); err != nil {
		t.Fatalf("add tenant: %v", err)
	}
	if _, err := ts.AddTemplate(ctx, name, json.RawMessage(inspection)); err != nil {
		t.Fatalf("add template: %v", err)
	}
}

// device is an enrolled device.
type device struct {
	ts     *testServer
	tenant string
	id     string
	token  string
	seq    uint64
}

func (ts *testServer) code(t testing.TB, tenant, user string) wire.EnrollCode {
	t.Helper()
	code, err := ts.NewEnrolment(context.Background(), tenant, user, false, ts.url)
	if err != nil {
		t.Fatalf("enrolment code: %v", err)
	}
	return code
}

func (ts *testServer) enroll(t testing.TB, tenant, user string) *device {
	t.Helper()
	code := ts.code(t, tenant, user)
	id := form.NewID()
	var resp wire.EnrollResponse
	if st := ts.do(t, "", "POST", "/v1/enroll", wire.EnrollRequest{Secret: code.Secret, DeviceID: id}, &resp); st.code != 200 {
		t.Fatalf("enroll: %d %+v", st.code, st.err)
	}
	if resp.DeviceID != id || resp.Tenant != tenant || resp.Token == "" || resp.Server.Epoch == "" {
		t.Fatalf("enroll answer: %+v", resp)
	}
	return &device{ts: ts, tenant: tenant, id: id, token: resp.Token}
}

// answer is what a call got back.
type answer struct {
	code   int
	header http.Header
	err    wire.Error
	body   []byte
}

// do calls the API with a token (or none). in may be a []byte sent as is.
func (ts *testServer) do(t testing.TB, token, method, path string, in, out any) answer {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, ok := in.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(in); err != nil {
				t.Fatal(err)
			}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{code: resp.StatusCode, header: resp.Header, body: data}
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(data, &a.err); err != nil {
			t.Fatalf("%s %s: %d with a body that is not an error: %q", method, path, resp.StatusCode, data)
		}
		return a
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode answer: %v", method, path, err)
		}
	}
	return a
}

func (d *device) do(t testing.TB, method, path string, in, out any) answer {
	t.Helper()
	return d.ts.do(t, d.token, method, path, in, out)
}

// change makes a change of a new or existing record by this device.
func (d *device) change(record string, site string, score int) form.Change {
	now := form.NewHLC(time.Now().UnixMilli(), 0)
	st := form.Stamp{HLC: now, Device: d.id}
	return form.Change{
		ID: form.NewID(), Record: record, Template: "inspection", Version: 1,
		Created: st, CreatedBy: "ann",
		Fields: map[string]form.FieldValue{
			"site":           {Value: json.RawMessage(`"` + site + `"`), Stamp: st},
			"score":          {Value: json.RawMessage(itoa(score)), Stamp: st},
			form.FieldStatus: {Value: json.RawMessage(`"submitted"`), Stamp: st},
		},
		Author: "ann", Device: d.id,
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// push sends changes with the next sequence numbers.
func (d *device) push(t testing.TB, changes ...form.Change) (wire.PushResponse, answer) {
	t.Helper()
	req := wire.PushRequest{}
	for _, c := range changes {
		d.seq++
		req.Changes = append(req.Changes, wire.PushChange{Seq: d.seq, Change: c})
	}
	var resp wire.PushResponse
	a := d.do(t, "POST", "/v1/push", req, &resp)
	return resp, a
}

// pullAll pulls from cursor until the server has no more.
func (d *device) pullAll(t testing.TB, cursor string) ([]form.Record, string) {
	t.Helper()
	var all []form.Record
	for range 100 {
		var resp wire.PullResponse
		a := d.do(t, "GET", "/v1/pull?limit=500&cursor="+url.QueryEscape(cursor), nil, &resp)
		if a.code != 200 {
			t.Fatalf("pull: %d %+v", a.code, a.err)
		}
		all = append(all, resp.Records...)
		cursor = resp.Cursor
		if !resp.More {
			return all, cursor
		}
	}
	t.Fatal("pull never ended")
	return nil, ""
}

func wantCode(t testing.TB, what string, a answer, status int, code string) {
	t.Helper()
	if a.code != status || code != "" && a.err.Code != code {
		t.Fatalf("%s: got %d %q (%s), want %d %q", what, a.code, a.err.Code, a.err.Message, status, code)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var _ = strings.Contains
