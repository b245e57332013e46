package sync_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/sync"
)

// pushTransport passes every call to the server but meddles with pushes: it holds
// the first push's answer back so later ones come first, answers one push with a
// 500 (after the server took it, or without it reaching the server), or gives one
// push the answer of another.
type pushTransport struct {
	next      http.RoundTripper
	holdFirst time.Duration
	failAt    int  // the push answered 500 (0: none)
	forward   bool // the failing push reaches the server first
	swapAt    int  // this push gets the answer of the push before it (0: none)
	// stripAccept removes Accept-Encoding from answers: a server of an earlier
	// release, which reads gzip only.
	stripAccept bool

	mu       gosync.Mutex
	n        int
	answered []int    // pushes in the order their answers came back
	encs     []string // the pushes' Content-Encoding
	accepts  []string // the pushes' Accept-Encoding
	last     []byte
	lastHdr  http.Header
}

func (p *pushTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v1/push" {
		resp, err := p.next.RoundTrip(req)
		if err == nil && p.stripAccept {
			resp.Header.Del("Accept-Encoding")
		}
		return resp, err
	}
	p.mu.Lock()
	p.n++
	k := p.n
	p.encs = append(p.encs, req.Header.Get("Content-Encoding"))
	p.accepts = append(p.accepts, req.Header.Get("Accept-Encoding"))
	p.mu.Unlock()
	if k == p.failAt {
		if p.forward {
			if resp, err := p.next.RoundTrip(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		return &http.Response{StatusCode: 500, Header: http.Header{"Content-Type": {"application/json"}}, Request: req,
			Body: io.NopCloser(strings.NewReader(`{"code":"internal","message":"injected failure"}`))}, nil
	}
	resp, err := p.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if k == 1 && p.holdFirst > 0 {
		time.Sleep(p.holdFirst)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answered = append(p.answered, k)
	if k == p.swapAt && p.last != nil {
		body, resp.Header = p.last, p.lastHdr
	}
	if p.stripAccept {
		resp.Header.Del("Accept-Encoding")
	}
	p.last, p.lastHdr = body, resp.Header.Clone()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// rebuildWith sets up a server that lost its data and a device holding n records,
// whose second replicator talks through pt in batches of 10 records.
func rebuildWith(t *testing.T, n int, pt *pushTransport) (*cluster, *device, *sync.Replicator) {
	t.Helper()
	c := newCluster(t)
	ctx := context.Background()
	d := c.addDevice("d")
	for i := 0; i < n; i++ {
		// Notes make a batch of 10 records larger than the size compressed.
		d.save(t, "", map[string]string{"site": fmt.Sprintf(`"S-%d"`, i), "notes": `"` + strings.Repeat("a note ", 200) + `"`})
	}
	d.sync(t)
	c.converged(t, n)
	c.wipeData(t)
	cred, err := sync.LoadCredential(ctx, d.st)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := sync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt.next = &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	rep := sync.New(d.st, sync.Options{Client: sync.ClientOptions{Transport: pt, Timeout: 20 * time.Second}, BatchChanges: 5})
	return c, d, rep
}

// TestRebuildStopsOnFirstError: a push that fails in the middle of a rebuild stops
// it with that error, leaves no goroutine behind, and a later sync completes: the
// server then holds exactly the device's records, none lost, none twice.
func TestRebuildStopsOnFirstError(t *testing.T) {
	tests := []struct {
		name           string
		failAt, swapAt int
		forward        bool
		holdFirst      time.Duration
	}{
		{name: "server took it, answer lost", failAt: 3, forward: true},
		{name: "never reached the server", failAt: 3},
		{name: "the first push to arrive fails while others are on the wire", failAt: 1},
		{name: "answers handed to the wrong batch", swapAt: 4},
		{name: "answers out of order, then handed to the wrong batch", swapAt: 3, holdFirst: 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 75
			pt := &pushTransport{failAt: tt.failAt, forward: tt.forward, swapAt: tt.swapAt, holdFirst: tt.holdFirst}
			c, d, rep := rebuildWith(t, n, pt)
			got, err := rep.SyncOnce(context.Background())
			if err == nil {
				t.Fatalf("the rebuild did not stop: %+v", got)
			}
			if got.RecordsPushedByReconcile >= n {
				t.Fatalf("%d records counted as pushed by a rebuild that failed", got.RecordsPushedByReconcile)
			}
			t.Logf("stopped after %d records: %v", got.RecordsPushedByReconcile, err)
			// No push of this rebuild is still running, nor reading records.
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			for _, f := range []string{"sync.(*Replicator).pushRecords", "sync.(*Replicator).preparePush", "sync.(*Client).DoJSON"} {
				if strings.Contains(stacks, f) {
					t.Fatalf("a goroutine is still in %s after the rebuild stopped:\n%s", f, stacks)
				}
			}
			d.sync(t)
			c.converged(t, n)
		})
	}
}

// TestRebuildAnswersOutOfOrder: the first batch's answer comes back after the later
// ones; every batch's answer is still taken for its own records and the rebuild
// counts each record once.
func TestRebuildAnswersOutOfOrder(t *testing.T) {
	const n = 75
	pt := &pushTransport{holdFirst: 300 * time.Millisecond}
	c, d, rep := rebuildWith(t, n, pt)
	got, err := rep.SyncOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.RecordsPushedByReconcile != n {
		t.Fatalf("%d records pushed, want %d", got.RecordsPushedByReconcile, n)
	}
	pt.mu.Lock()
	order := append([]int(nil), pt.answered...)
	pt.mu.Unlock()
	if len(order) != 8 || order[0] == 1 {
		t.Fatalf("answers came back in the order %v: want 8 batches, the first not first", order)
	}
	st := rep.Status()
	if st.Progress != nil && st.Progress.Done != st.Progress.Total {
		t.Fatalf("progress left at %+v", st.Progress)
	}
	d.sync(t)
	c.converged(t, n)
}

// TestRebuildEncodings: a rebuild's pushes go in s2 to a server that lists s2 in
// Accept-Encoding, in gzip to one that does not (a server of an earlier release),
// uncompressed to a server on this machine; every answer is read whatever its
// encoding, and the server ends with exactly the device's records.
func TestRebuildEncodings(t *testing.T) {
	tests := []struct {
		name        string
		stripAccept bool
		loopback    bool
		want        string
	}{
		{"new server", false, false, "s2"},
		{"old server", true, false, "gzip"},
		{"server on this machine", false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer sync.SetPlainToLoopback(sync.SetPlainToLoopback(tt.loopback))
			const n = 75
			pt := &pushTransport{stripAccept: tt.stripAccept}
			c, d, rep := rebuildWith(t, n, pt)
			got, err := rep.SyncOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.RecordsPushedByReconcile != n {
				t.Fatalf("%d records pushed, want %d", got.RecordsPushedByReconcile, n)
			}
			pt.mu.Lock()
			encs, accepts := pt.encs, pt.accepts
			pt.mu.Unlock()
			if len(encs) < 8 {
				t.Fatalf("%d pushes, want 8 or more", len(encs))
			}
			for i, e := range encs {
				if e != tt.want || accepts[i] != "s2, gzip" {
					t.Fatalf("push %d sent in %q asking for %q; want %q asking for \"s2, gzip\" (all: %q)", i, e, accepts[i], tt.want, encs)
				}
			}
			d.sync(t)
			c.converged(t, n)
		})
	}
}
