package sync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// sharedCluster makes n devices holding the same shared records (made on the first
// and pulled by the others), then loses the server's data.
func sharedCluster(t *testing.T, n, shared int, opts ...func(*server.Options)) (*cluster, []*device) {
	t.Helper()
	c := newCluster(t, opts...)
	devs := make([]*device, n)
	for i := range devs {
		devs[i] = c.addDevice(fmt.Sprintf("d%d", i))
	}
	for i := range shared {
		devs[0].save(t, "", map[string]string{"site": fmt.Sprintf(`"S-%d"`, i)})
	}
	for _, d := range devs {
		d.sync(t)
	}
	c.converged(t, shared)
	c.wipeData(t)
	return c, devs
}

// rebuildAtOnce syncs every device at the same moment and returns their reports.
func rebuildAtOnce(t *testing.T, devs []*device) []sync.Report {
	t.Helper()
	reps := make([]sync.Report, len(devs))
	errs := make([]error, len(devs))
	var wg gosync.WaitGroup
	for i, d := range devs {
		wg.Go(func() { reps[i], errs[i] = d.rep.SyncOnce(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s rebuilding: %v", devs[i].name, err)
		}
		if !reps[i].Reconciled {
			t.Fatalf("%s did not reconcile: %+v", devs[i].name, reps[i])
		}
	}
	return reps
}

// Five devices holding the same records, each with a few of its own, find the
// server empty at once: the server ends with exactly their union, and together they
// send about one copy of it, not five.
func TestFiveDevicesRebuildAtOnceShareTheWork(t *testing.T) {
	const shared, own = 1500, 3
	c, devs := sharedCluster(t, 5, shared)
	for _, d := range devs {
		// Small push batches: ranges of two batches, so 1,500 records make several.
		d.rep = sync.New(d.st, sync.Options{BatchChanges: 100})
		for i := range own {
			d.save(t, "", map[string]string{"site": fmt.Sprintf(`"%s-own-%d"`, d.name, i)})
		}
	}
	reps := rebuildAtOnce(t, devs)
	sum := 0
	for i, r := range reps {
		t.Logf("%s pushed %d records while rebuilding", devs[i].name, r.RecordsPushedByReconcile)
		sum += r.RecordsPushedByReconcile
	}
	if sum >= 2*shared {
		t.Fatalf("the five devices pushed %d records in all while rebuilding; want well under 5×%d: each a part", sum, shared)
	}
	for _, d := range devs {
		d.sync(t)
	}
	c.converged(t, shared+5*own)
}

// A device holding a lease dies mid-way (it claimed everything and never sends): once
// its lease lapses, another device sends the records itself and nothing is lost.
func TestRebuildFinishesRangesOfDeadDevice(t *testing.T) {
	const shared = 600
	c, devs := sharedCluster(t, 2, shared, func(o *server.Options) { o.ClaimLease = 300 * time.Millisecond })
	dead, live := devs[0], devs[1]
	ctx := context.Background()
	cred, err := sync.LoadCredential(ctx, dead.st)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sync.NewClient(cred, sync.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fps, err := dead.st.Fingerprints(ctx, []store.Range{{}})
	if err != nil {
		t.Fatal(err)
	}
	fp := wire.Fingerprint{Count: fps[0].Count, Hash: fps[0].HashHex()}
	// A new server has a new epoch: the first call may answer with it; claims work
	// regardless.
	var resp wire.ClaimResponse
	if _, err := cl.Do(ctx, http.MethodPost, "/v1/claim", nil, wire.ClaimRequest{Ranges: []wire.Fingerprint{fp}}, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Ranges) != 1 || resp.Ranges[0].Answer != wire.ClaimSend {
		t.Fatalf("claim of the whole key space on an empty server: %+v; want send", resp.Ranges)
	}
	// Another device asking now is told the range is busy.
	liveCred, err := sync.LoadCredential(ctx, live.st)
	if err != nil {
		t.Fatal(err)
	}
	liveCl, err := sync.NewClient(liveCred, sync.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := wire.Fingerprint{Range: wire.Range{From: "0", To: "z"}, Count: 1, Hash: strings.Repeat("ab", 16)}
	if _, err := liveCl.Do(ctx, http.MethodPost, "/v1/claim", nil, wire.ClaimRequest{Ranges: []wire.Fingerprint{part}}, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Ranges[0].Answer != wire.ClaimBusy {
		t.Fatalf("claim of a range inside another device's live lease: %+v; want busy", resp.Ranges)
	}
	// The dead device never calls again; the live one rebuilds all of it.
	rep := live.sync(t)
	if rep.RecordsPushedByReconcile != shared {
		t.Fatalf("the live device pushed %d records; want all %d, the dead device's lease having lapsed", rep.RecordsPushedByReconcile, shared)
	}
	if srv := c.serverRevs(t); len(srv) != shared {
		t.Fatalf("server holds %d records, want %d", len(srv), shared)
	}
}

// oldServer makes a device see a server of the previous release: no POST /v1/claim
// (404, as an unknown route) and reconcile answers without a feed head.
type oldServer struct {
	next   http.RoundTripper
	mu     gosync.Mutex
	claims int
}

func (o *oldServer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/v1/claim" {
		o.mu.Lock()
		o.claims++
		o.mu.Unlock()
		body := `{"code":"not_found","message":"no such route"}`
		return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	}
	resp, err := o.next.RoundTrip(req)
	if err != nil || req.URL.Path != "/v1/reconcile" || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "head")
	out, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(out)), int64(len(out))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// viaOldServer gives the device a replicator whose every call passes through oldServer.
func viaOldServer(t *testing.T, d *device) *oldServer {
	t.Helper()
	cred, err := sync.LoadCredential(context.Background(), d.st)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := sync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &oldServer{next: &http.Transport{TLSClientConfig: tlsCfg}}
	d.rep = sync.New(d.st, sync.Options{Client: sync.ClientOptions{Transport: o}, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	return o
}

// Compatibility both ways: devices rebuild a server of the previous release (no
// claims) with every record, and a device of the previous release (it never claims)
// rebuilds a new server alongside devices that do.
func TestRebuildAcrossReleases(t *testing.T) {
	const shared, own = 400, 2
	tests := []struct {
		name string
		old  []int // devices that see an old server, or act as old devices
	}{
		{"old server", []int{0, 1, 2}},
		{"old device among new ones", []int{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, devs := sharedCluster(t, 3, shared)
			var olds []*oldServer
			for _, i := range tc.old {
				olds = append(olds, viaOldServer(t, devs[i]))
			}
			for _, d := range devs {
				for i := range own {
					d.save(t, "", map[string]string{"site": fmt.Sprintf(`"%s-own-%d"`, d.name, i)})
				}
			}
			reps := rebuildAtOnce(t, devs)
			for _, i := range tc.old {
				if reps[i].RecordsPushedByReconcile < shared {
					t.Fatalf("%s, without claims, pushed %d records; want all it holds the server lacked (%d or more)", devs[i].name, reps[i].RecordsPushedByReconcile, shared)
				}
			}
			for k, o := range olds {
				if o.claims == 0 {
					t.Fatalf("%s never asked to claim: the old-server path was not taken", devs[tc.old[k]].name)
				}
			}
			for _, d := range devs {
				d.sync(t)
			}
			c.converged(t, shared+3*own)
		})
	}
}

// watch passes calls through, counts catch-up pulls (GET /v1/pull?revs=1) and runs
// before once, ahead of the first claim.
type watch struct {
	next     http.RoundTripper
	before   func()
	once     gosync.Once
	mu       gosync.Mutex
	catchUps int
}

func (w *watch) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.URL.Path == "/v1/claim" && w.before != nil:
		w.once.Do(w.before)
	case req.URL.Path == "/v1/pull" && req.URL.Query().Get("revs") == "1":
		w.mu.Lock()
		w.catchUps++
		w.mu.Unlock()
	}
	return w.next.RoundTrip(req)
}

func watched(t *testing.T, d *device, before func()) *watch {
	t.Helper()
	cred, err := sync.LoadCredential(context.Background(), d.st)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := sync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &watch{next: &http.Transport{TLSClientConfig: tlsCfg}, before: before}
	d.rep = sync.New(d.st, sync.Options{Client: sync.ClientOptions{Transport: w}, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	return w
}

// The catch-up after a rebuild is skipped when only this device changed the server
// since the comparison, and still runs, bringing the others' records, when another
// device pushed meanwhile.
func TestRebuildCatchUpOnlyWhenOthersPushed(t *testing.T) {
	const shared = 300
	t.Run("alone", func(t *testing.T) {
		c, devs := sharedCluster(t, 1, shared)
		w := watched(t, devs[0], nil)
		rep := devs[0].sync(t)
		if !rep.Reconciled || rep.RecordsPushedByReconcile != shared {
			t.Fatalf("rebuild alone: %+v; want all %d pushed", rep, shared)
		}
		if w.catchUps != 0 {
			t.Fatalf("rebuild alone made %d catch-up pulls; the server's feed moved only by its own records", w.catchUps)
		}
		c.converged(t, shared)
	})
	t.Run("another pushed meanwhile", func(t *testing.T) {
		c, devs := sharedCluster(t, 2, shared)
		a, b := devs[0], devs[1]
		var ofB string
		w := watched(t, a, func() {
			ofB = b.save(t, "", map[string]string{"site": `"made on b during a's rebuild"`}).ID
			b.sync(t)
		})
		a.sync(t)
		if w.catchUps == 0 {
			t.Fatal("a's rebuild skipped the catch-up though b pushed meanwhile")
		}
		if got := revs(t, a.st); got[ofB] == "" {
			t.Fatalf("after its rebuild a lacks the record b pushed meanwhile (%s)", ofB)
		}
		c.converged(t, shared+1)
	})
}
