package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// The figures of issue 3, printed as `name value unit` lines for `make bench`:
// a real server (TLS on 127.0.0.1, tenant store in a temporary folder) and the
// device's own client (sync.Client, sync.Replicator) over sync/wire.
//
// FIELDFORMS_BENCH_N sets how many gen.js documents to use (default 100,000; the
// names say how many, e.g. push_10k_s for 10,000); FIELDFORMS_BENCH_DATA names the
// NDJSON file gen.js wrote (else gen.js is run). Benchmarks never run under
// `go test` without -bench, so none of this is part of `make test`.

func figure(name string, value float64, unit string) {
	fmt.Printf("%s %.4g %s\n", name, value, unit)
}

// benchN is the number of documents, and its label in figure names.
func benchN(b *testing.B) (int, string) {
	n := 100_000
	if v := os.Getenv("FIELDFORMS_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("FIELDFORMS_BENCH_N=%q: a whole number of at least 1000", v)
		}
	}
	if n%1000 == 0 {
		return n, strconv.Itoa(n/1000) + "k"
	}
	return n, strconv.Itoa(n)
}

// wireCounter is an http.RoundTripper that counts, by "METHOD /path", requests and
// the body bytes as they cross the wire: the request body as sent (gzip above 8 KiB,
// as sync.Client compresses it) and the answer as received (it asks for gzip itself
// and inflates the answer for the client, so the compressed size is what it counts).
type wireCounter struct {
	base http.RoundTripper
	mu   sync.Mutex
	by   map[string]*wireCount
}

type wireCount struct {
	Requests int
	Up, Down int64
	Time     time.Duration // from sending to the answer's headers, summed
}

func newWireCounter(base http.RoundTripper) *wireCounter {
	return &wireCounter{base: base, by: map[string]*wireCount{}}
}

func (c *wireCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Method + " " + req.URL.Path
	r2 := req.Clone(req.Context())
	r2.Header.Set("Accept-Encoding", "gzip")
	t0 := time.Now()
	resp, err := c.base.RoundTrip(r2)
	took := time.Since(t0)
	c.mu.Lock()
	wc := c.by[key]
	if wc == nil {
		wc = &wireCount{}
		c.by[key] = wc
	}
	wc.Requests++
	wc.Time += took
	if req.ContentLength > 0 {
		wc.Up += req.ContentLength
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	counted := &countingBody{ReadCloser: resp.Body, c: c, key: key}
	resp.Body = counted
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		resp.Body = &gunzipBody{raw: counted}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength, resp.Uncompressed = -1, true
	}
	return resp, nil
}

// take returns the counts so far and starts again from zero.
func (c *wireCounter) take() map[string]wireCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]wireCount, len(c.by))
	for k, v := range c.by {
		out[k] = *v
	}
	c.by = map[string]*wireCount{}
	return out
}

type countingBody struct {
	io.ReadCloser
	c   *wireCounter
	key string
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.c.mu.Lock()
		if wc := b.c.by[b.key]; wc != nil {
			wc.Down += int64(n)
		}
		b.c.mu.Unlock()
	}
	return n, err
}

type gunzipBody struct {
	raw io.ReadCloser
	zr  *gzip.Reader
	err error
}

func (g *gunzipBody) Read(p []byte) (int, error) {
	if g.zr == nil && g.err == nil {
		g.zr, g.err = gzip.NewReader(g.raw)
	}
	if g.err != nil {
		return 0, g.err
	}
	return g.zr.Read(p)
}

func (g *gunzipBody) Close() error { return g.raw.Close() }

func wireTotals(m map[string]wireCount) wireCount {
	var t wireCount
	for _, v := range m {
		t.Requests += v.Requests
		t.Up += v.Up
		t.Down += v.Down
	}
	return t
}

func describeWire(m map[string]wireCount) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v := m[k]
		fmt.Fprintf(&b, "%s: %d requests, %d B up, %d B down; ", k, v.Requests, v.Up, v.Down)
	}
	return b.String()
}

func medianMs(d []time.Duration) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2].Nanoseconds()) / 1e6
}

func p99Ms(d []time.Duration) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[min(len(s)-1, len(s)*99/100)].Nanoseconds()) / 1e6
}

// benchDevice enrols a device of tenant with the device's own client, whose transport
// is counted.
func benchDevice(b *testing.B, ts *testServer, tenant string) (ffsync.Credential, *wireCounter, *ffsync.Client) {
	b.Helper()
	ctx := context.Background()
	code := ts.code(b, tenant, "bench")
	tlsCfg, err := ffsync.TLSConfig(ffsync.Credential{Cert: code.Cert, Fingerprint: code.Fingerprint}, nil)
	if err != nil {
		b.Fatal(err)
	}
	counter := newWireCounter(&http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true,
		MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 15 * time.Second})
	opts := ffsync.ClientOptions{Transport: counter, Timeout: 5 * time.Minute}
	cred, err := ffsync.Enroll(ctx, code, form.NewID(), "bench device", opts)
	if err != nil {
		b.Fatal(err)
	}
	c, err := ffsync.NewClient(cred, opts)
	if err != nil {
		b.Fatal(err)
	}
	return cred, counter, c
}

// edit1pct changes every 100th record the way a device edit does: newer stamps on
// two fields, by this device, as peer-bench.sh edits 1 % of its documents.
func edit1pct(recs []form.Record, first int, device string) int {
	edited := 0
	for k := range recs {
		if (first+k)%100 != 0 {
			continue
		}
		r := &recs[k]
		st := form.Stamp{HLC: form.NewHLC(r.Updated().HLC.Millis()+24*3600*1000, 0), Device: device}
		summary := "edited " + strconv.Itoa(first+k)
		r.Fields["status"] = form.FieldValue{Value: json.RawMessage(`"closed"`), Stamp: st}
		r.Fields["summary"] = form.FieldValue{Value: json.RawMessage(strconv.Quote(summary)), Stamp: st}
		edited++
	}
	return edited
}

// BenchmarkSyncFigures measures, on one server holding the benchmark's documents:
//
//   - push_100k_s: one device pushes every document, as full records (form.ChangeFrom)
//     in batches of 1,000 (what a reseed sends), into an empty tenant whose templates
//     were added first, with up to three batches on the wire while the next is built,
//     as a device's reseed sends them. The clock runs from building the first batch to
//     the last answer; converting gen.js documents to records is outside it.
//   - reconcile_1pct_*: a device replica holding the same documents, 1 % of them
//     (every 100th) edited on the device, runs the device's own reconcile
//     (sync.Replicator, due as after a server loss). Bytes are the request and answer
//     bodies of POST /v1/reconcile as they cross the wire (compressed), over the size
//     of the gen.js NDJSON (the data PouchDB replicates); round trips are those POSTs.
//   - noop_sync_ms: the pull a device with nothing new makes, its cursor at the head,
//     over a warm connection: the median of 200.
func BenchmarkSyncFigures(b *testing.B) {
	ctx := context.Background()
	n, lbl := benchN(b)
	lines, err := benchdata.LoadLines(n)
	if err != nil {
		b.Fatal(err)
	}
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	ts := startServer(b, dirs(b))
	if _, err := ts.AddTenant(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	cred, counter, c := benchDevice(b, ts, "bench")

	// Templates first, published as an admin does (a device that is not an admin's
	// may not publish them).
	for _, t := range tpls {
		if r, err := ts.AddTemplate(ctx, "bench", t.Encode()); err != nil || r.Status != wire.StatusApplied {
			b.Fatalf("template %s: %+v, %v", t.Key(), r, err)
		}
	}
	counter.take()

	// --- push ---------------------------------------------------------------------
	// As a device's reseed sends them: up to pushInFlight batches on the wire while
	// the next is built. Converting gen.js documents to records is outside the clock.
	const batch, pushInFlight = 1000, 3
	var ndjsonBytes, canonBytes int64
	var chunks [][]form.Record
	for i := 0; i < n; i += batch {
		chunk := lines[i:min(i+batch, n)]
		for _, l := range chunk {
			ndjsonBytes += int64(len(l)) + 1
		}
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(chunk, []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		for k := range recs {
			canonBytes += int64(len(recs[k].Encode()))
		}
		chunks = append(chunks, recs)
	}
	reqs := make(chan wire.PushRequest, 1)
	errs := make(chan error, pushInFlight)
	var senders sync.WaitGroup
	pushStart := time.Now()
	for range pushInFlight {
		senders.Go(func() {
			for req := range reqs {
				var resp wire.PushResponse
				if _, err := c.Do(ctx, http.MethodPost, "/v1/push", nil, req, &resp); err != nil {
					errs <- err
					return
				}
				if len(resp.Results) != len(req.Changes) {
					errs <- fmt.Errorf("push: %d results for %d changes", len(resp.Results), len(req.Changes))
					return
				}
				for _, r := range resp.Results {
					if r.Status != wire.StatusApplied {
						errs <- fmt.Errorf("push: %+v", r)
						return
					}
				}
			}
		})
	}
	var seq uint64
	for _, recs := range chunks {
		req := wire.PushRequest{Changes: make([]wire.PushChange, len(recs))}
		for k, r := range recs {
			seq++
			req.Changes[k] = wire.PushChange{Seq: seq, Change: form.ChangeFrom(form.NewID(), r, cred.User, cred.DeviceID)}
		}
		reqs <- req
	}
	close(reqs)
	senders.Wait()
	pushTime := time.Since(pushStart)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	chunks = nil
	push := wireTotals(counter.take())
	figure("push_"+lbl+"_s", pushTime.Seconds(), "s")
	figure("push_"+lbl+"_records_per_s", float64(n)/pushTime.Seconds(), "records/s")
	figure("push_"+lbl+"_requests", float64(push.Requests), "requests")
	figure("push_"+lbl+"_in_flight", pushInFlight, "requests")
	figure("push_"+lbl+"_wire_bytes_up", float64(push.Up), "bytes")
	figure("dataset_"+lbl+"_ndjson_bytes", float64(ndjsonBytes), "bytes")
	figure("dataset_"+lbl+"_canonical_bytes", float64(canonBytes), "bytes")

	// --- reconcile ----------------------------------------------------------------
	dev, err := store.Open(ctx, filepath.Join(b.TempDir(), "device"), store.Options{Device: cred.DeviceID})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	for _, t := range tpls {
		if err := dev.PutTemplate(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	edited := 0
	for i := 0; i < n; i += batch {
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+batch, n)], []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		edited += edit1pct(recs, i, cred.DeviceID)
		res, err := dev.ApplyRecords(ctx, recs, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Status != store.Applied {
				b.Fatalf("device replica: record %s: %s %v", r.ID, r.Status, r.Err)
			}
		}
	}
	lines = nil
	if p, err := dev.PendingCount(ctx); err != nil || p != 0 {
		b.Fatalf("device outbox: %d pending, %v; the edits must reach the server by reconcile alone", p, err)
	}
	// A device whose server lost data: the credential is saved and a reconcile is due.
	if err := ffsync.SaveCredential(ctx, dev, cred); err != nil {
		b.Fatal(err)
	}
	rp := ffsync.New(dev, ffsync.Options{Client: ffsync.ClientOptions{Transport: counter, Timeout: 5 * time.Minute}, PullInterval: time.Hour})
	t0 := time.Now()
	rep, err := rp.SyncOnce(ctx)
	syncTime := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	rec := counter.take()
	if !rep.Reconciled || rep.RecordsPushedByReconcile != edited {
		b.Fatalf("reconcile: %+v; want %d records pushed (%s)", rep, edited, describeWire(rec))
	}
	rc := rec["POST /v1/reconcile"]
	all := wireTotals(rec)
	b.Logf("reconcile sync: %+v in %v; %s", rep, syncTime, describeWire(rec))
	figure("reconcile_1pct_bytes_ratio", float64(rc.Up+rc.Down)/float64(ndjsonBytes), "ratio")
	figure("reconcile_1pct_round_trips", float64(rc.Requests), "requests")
	figure("reconcile_1pct_bytes", float64(rc.Up+rc.Down), "bytes")
	figure("reconcile_1pct_sync_bytes_ratio", float64(all.Up+all.Down)/float64(ndjsonBytes), "ratio")
	figure("reconcile_1pct_sync_requests", float64(all.Requests), "requests")
	figure("reconcile_1pct_sync_s", syncTime.Seconds(), "s")

	// Both sides agree now: one range covering everything is equal.
	whole, err := dev.Fingerprints(ctx, []store.Range{{}})
	if err != nil {
		b.Fatal(err)
	}
	var eq wire.ReconcileResponse
	fp := wire.Fingerprint{Count: whole[0].Count, Hash: whole[0].HashHex()}
	if _, err := c.Do(ctx, http.MethodPost, "/v1/reconcile", nil, wire.ReconcileRequest{Ranges: []wire.Fingerprint{fp}}, &eq); err != nil {
		b.Fatal(err)
	}
	if len(eq.Ranges) != 1 || !eq.Ranges[0].Equal || whole[0].Count != n {
		b.Fatalf("after the reconcile the server and the device differ: %d records on the device, answer %+v", whole[0].Count, eq.Ranges)
	}
	head := eq.Cursor

	// --- no-op sync -----------------------------------------------------------------
	q := url.Values{"cursor": {head}, "limit": {strconv.Itoa(wire.DefaultPullLimit)}}
	counter.take()
	var lat []time.Duration
	for i := range 220 {
		var pr wire.PullResponse
		t0 := time.Now()
		if _, err := c.Do(ctx, http.MethodGet, "/v1/pull", q, nil, &pr); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if len(pr.Records) != 0 || pr.More || pr.Cursor != head {
			b.Fatalf("no-op pull: %d records, more %v", len(pr.Records), pr.More)
		}
		if i >= 20 { // the first ones warm the connection and the server's caches
			lat = append(lat, d)
		}
	}
	noop := wireTotals(counter.take())
	figure("noop_sync_ms", medianMs(lat), "ms")
	figure("noop_sync_p99_ms", p99Ms(lat), "ms")
	figure("noop_sync_requests", float64(noop.Requests)/220, "requests")

	// The device's whole sync cycle when nothing is new, for comparison.
	if _, err := rp.SyncOnce(ctx); err != nil { // takes what the reconcile's cursor left
		b.Fatal(err)
	}
	counter.take()
	var cyc []time.Duration
	for range 21 {
		t0 := time.Now()
		rep, err := rp.SyncOnce(ctx)
		cyc = append(cyc, time.Since(t0))
		if err != nil || !rep.NothingNew() {
			b.Fatalf("no-op SyncOnce: %+v, %v", rep, err)
		}
	}
	cycles := counter.take()
	figure("noop_synconce_ms", medianMs(cyc), "ms")
	figure("noop_synconce_requests", float64(wireTotals(cycles).Requests)/float64(len(cyc)), "requests")
	b.Logf("no-op SyncOnce: %s", describeWire(cycles))

	incrementalAgent(b, dev, counter, n)
}

// incrementalAgent measures incr_1pct_agent_ms: a running agent (sync.Replicator's
// loop, as the app and `fieldforms sync` run it) with 1 % of the replica's records
// just edited on the device, from the wake that follows the last save to the status
// that says the server acknowledged them all (nothing pending). The stages beside it:
// the requests the cycle made and the cycle's own time.
func incrementalAgent(b *testing.B, dev *store.Store, counter *wireCounter, n int) {
	ctx := context.Background()
	rp := ffsync.New(dev, ffsync.Options{Client: ffsync.ClientOptions{Transport: counter, Timeout: 5 * time.Minute}, PullInterval: time.Hour})
	type seen struct {
		at time.Time
		s  ffsync.Status
	}
	statuses := make(chan seen, 1024)
	defer rp.Subscribe(func(s ffsync.Status) {
		select {
		case statuses <- seen{time.Now(), s}:
		default:
		}
	})()
	idle := func() time.Time {
		for {
			select {
			case x := <-statuses:
				if x.s.State == ffsync.StateIdle && x.s.Pending == 0 {
					return x.at
				}
				if x.s.State == ffsync.StateError || x.s.State == ffsync.StateOffline {
					b.Fatalf("agent: %s: %s", x.s.State, x.s.Message)
				}
			case <-time.After(5 * time.Minute):
				b.Fatal("agent: not idle after 5 minutes")
			}
		}
	}
	rp.Start(ctx)
	defer rp.Stop()
	idle() // its first cycle: nothing new
	revs, err := dev.Revs(ctx, "", "")
	if err != nil {
		b.Fatal(err)
	}
	edited := 0
	for i := 0; i < len(revs); i += 100 {
		if _, err := dev.Save(ctx, store.Edit{Record: revs[i].ID, Author: "bench",
			Values: form.Values{"summary": json.RawMessage(strconv.Quote("agent edit " + strconv.Itoa(i)))}}); err != nil {
			b.Fatal(err)
		}
		edited++
	}
	counter.take()
	t0 := time.Now()
	rp.Wake()
	done := idle()
	took := done.Sub(t0)
	wc := counter.take()
	if p, err := dev.PendingCount(ctx); err != nil || p != 0 {
		b.Fatalf("agent: %d pending after its cycle, %v", p, err)
	}
	_, lbl := benchN(b)
	b.Logf("agent cycle for %d edits of %d records: %v; %s", edited, n, took, describeWire(wc))
	figure("incr_1pct_agent_ms", float64(took.Microseconds())/1000, "ms")
	figure("incr_1pct_agent_"+lbl+"_records", float64(edited), "records")
	figure("incr_1pct_agent_requests", float64(wireTotals(wc).Requests), "requests")
	figure("incr_1pct_agent_push_requests", float64(wc["POST /v1/push"].Requests), "requests")
	figure("incr_1pct_agent_pull_bytes_down", float64(wc["GET /v1/pull"].Down), "bytes")
	// Where the time goes: the server's answers, and the rest on the device.
	var wire time.Duration
	for k, v := range wc {
		figure("incr_1pct_agent_stage_"+strings.NewReplacer("GET /v1/", "get_", "POST /v1/", "post_", "/", "_").Replace(k)+"_ms", float64(v.Time.Microseconds())/1000, "ms")
		wire += v.Time
	}
	figure("incr_1pct_agent_stage_device_ms", float64((took-wire).Microseconds())/1000, "ms")
}
