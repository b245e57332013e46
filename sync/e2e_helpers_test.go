package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	gosync "sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
)

const tenantName = "acme"

// inspection is the template the end-to-end tests fill.
const inspection = `{"id":"inspection","version":1,"name":"Inspection","title":["site"],"fields":[
 {"id":"site","type":"text","label":"Site","required":true},
 {"id":"notes","type":"multiline","label":"Notes"},
 {"id":"score","type":"integer","label":"Score","min":0,"max":100},
 {"id":"ok","type":"yesno","label":"All OK"},
 {"id":"photos","type":"file","label":"Photos","max_files":5}]}`

// cluster is a real server over TLS on 127.0.0.1 and devices with their own replicas.
type cluster struct {
	t       testing.TB
	opts    server.Options
	addr    string
	mu      gosync.Mutex
	srv     *server.Server
	stop    func()
	devices []*device
}

type device struct {
	name string
	st   *store.Store
	rep  *sync.Replicator
	dir  string
}

func newCluster(t testing.TB, opts ...func(*server.Options)) *cluster {
	t.Helper()
	root := t.TempDir()
	c := &cluster{t: t, opts: server.Options{ConfigDir: filepath.Join(root, "config"), DataDir: filepath.Join(root, "data"),
		RateLimit: -1, Create: true, Logger: slog.New(slog.DiscardHandler)}}
	for _, o := range opts {
		o(&c.opts)
	}
	c.start()
	ctx := context.Background()
	if _, err := c.srv.AddTenant(ctx, tenantName); err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.AddTemplate(ctx, tenantName, json.RawMessage(inspection)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.shutdown)
	return c
}

// start opens the server on its address (a new one the first time).
func (c *cluster) start() {
	c.t.Helper()
	s, err := server.Open(context.Background(), c.opts)
	if err != nil {
		c.t.Fatalf("open server: %v", err)
	}
	addr := c.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil || i > 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the old listener's port is being released
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once gosync.Once
	c.mu.Lock()
	c.srv = s
	c.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			s.Close()
		})
	}
	c.mu.Unlock()
}

func (c *cluster) shutdown() {
	for _, d := range c.devices {
		d.rep.Stop()
		d.st.Close()
	}
	c.stop()
}

func (c *cluster) url() string { return "https://" + c.addr }

// addDevice enrols a new device with its own replica.
func (c *cluster) addDevice(name string, opts ...func(*store.Options)) *device {
	c.t.Helper()
	ctx := context.Background()
	dir := filepath.Join(c.t.TempDir(), name)
	so := store.Options{}
	for _, o := range opts {
		o(&so)
	}
	st, err := store.Open(ctx, dir, so)
	if err != nil {
		c.t.Fatal(err)
	}
	code, err := c.srv.NewEnrolment(ctx, tenantName, name, false, c.url())
	if err != nil {
		c.t.Fatal(err)
	}
	cred, err := sync.Enroll(ctx, code, st.Device(), name, sync.ClientOptions{})
	if err != nil {
		c.t.Fatalf("enroll %s: %v", name, err)
	}
	if err := sync.SaveCredential(ctx, st, cred); err != nil {
		c.t.Fatal(err)
	}
	d := &device{name: name, st: st, dir: dir, rep: sync.New(st, sync.Options{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, PullInterval: 50 * time.Millisecond})}
	if _, err := d.rep.SyncOnce(ctx); err != nil {
		c.t.Fatalf("first sync of %s: %v", name, err)
	}
	c.devices = append(c.devices, d)
	return d
}

func (d *device) save(t *testing.T, id string, vals map[string]string) form.Record {
	t.Helper()
	v := form.Values{}
	for k, x := range vals {
		v[k] = json.RawMessage(x)
	}
	e := store.Edit{Record: id, Values: v, Author: d.name}
	if id == "" {
		e.Template = form.TemplateKey{ID: "inspection"}
	}
	r, err := d.st.Save(context.Background(), e)
	if err != nil {
		t.Fatalf("%s save: %v", d.name, err)
	}
	return r
}

func (d *device) sync(t *testing.T) sync.Report {
	t.Helper()
	rep, err := d.rep.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("%s sync: %v", d.name, err)
	}
	return rep
}

// revs is a replica's (record ID → rev).
func revs(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	rr, err := st.Revs(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range rr {
		out[x.ID] = x.Rev
	}
	return out
}

// serverRevs reads the tenant's replica on the server through the admin interface:
// stopping the server is not needed, the files are read through its own store.
func (c *cluster) serverRevs(t *testing.T) map[string]string {
	t.Helper()
	// The server's tenant store is opened by the server; read it through a device that
	// fetches everything: enrol a fresh observer and sync it.
	obs := c.observer(t)
	return revs(t, obs)
}

func (c *cluster) observer(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	code, err := c.srv.NewEnrolment(ctx, tenantName, "observer", false, c.url())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := sync.Enroll(ctx, code, st.Device(), "observer", sync.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.SaveCredential(ctx, st, cred); err != nil {
		t.Fatal(err)
	}
	if _, err := sync.New(st, sync.Options{}).SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// converged checks that every device and the server hold the same records and revs.
func (c *cluster) converged(t *testing.T, want int) {
	t.Helper()
	srv := c.serverRevs(t)
	if want >= 0 && len(srv) != want {
		t.Fatalf("server holds %d records, want %d", len(srv), want)
	}
	for _, d := range c.devices {
		got := revs(t, d.st)
		if diff := compareRevs(srv, got); diff != "" {
			t.Fatalf("device %s differs from the server: %s", d.name, diff)
		}
	}
}

func compareRevs(a, b map[string]string) string {
	var out []string
	for id, r := range a {
		if b[id] != r {
			out = append(out, fmt.Sprintf("%s: %s vs %s", id, r, b[id]))
		}
	}
	for id := range b {
		if _, ok := a[id]; !ok {
			out = append(out, fmt.Sprintf("%s: missing vs %s", id, b[id]))
		}
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("... %d in all", len(out)))
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprint(out)
}

// wipeData stops the server, deletes its data folder and starts it again with the
// same config on the same address.
func (c *cluster) wipeData(t testing.TB) {
	t.Helper()
	c.stop()
	if err := os.RemoveAll(c.opts.DataDir); err != nil {
		t.Fatal(err)
	}
	c.start()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
