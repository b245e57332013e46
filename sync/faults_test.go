package sync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
)

// faultProxy is a TCP proxy on 127.0.0.1 in front of the server that misbehaves as
// networks do: latency, connections reset midway, a slow link, or no link at all.
type faultProxy struct {
	ln      net.Listener
	target  string
	latency atomic.Int64 // per chunk, nanoseconds
	resetP  atomic.Int64 // per-mille chance that a connection is reset after some bytes
	bps     atomic.Int64 // bytes per second, 0: unlimited
	down    atomic.Bool
	mu      gosync.Mutex
	conns   map[net.Conn]bool
	wg      gosync.WaitGroup
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) addr() string { return p.ln.Addr().String() }

func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *faultProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

// setDown cuts every connection and refuses new ones (or lets them in again).
func (p *faultProxy) setDown(down bool) {
	p.down.Store(down)
	if down {
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	}
}

func (p *faultProxy) serve(c net.Conn) {
	defer p.wg.Done()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, true)
	p.track(up, true)
	defer func() { p.track(c, false); p.track(up, false); c.Close(); up.Close() }()
	limit := int64(-1)
	if n := p.resetP.Load(); n > 0 && rand.Int64N(1000) < n {
		limit = rand.Int64N(20_000)
	}
	var sent atomic.Int64
	pipe := func(dst, src net.Conn, done chan<- struct{}) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if d := p.latency.Load(); d > 0 {
					time.Sleep(time.Duration(d))
				}
				if bps := p.bps.Load(); bps > 0 {
					time.Sleep(time.Duration(int64(n) * int64(time.Second) / bps))
				}
				if limit >= 0 && sent.Add(int64(n)) > limit {
					if tc, ok := dst.(*net.TCPConn); ok {
						tc.SetLinger(0) // a reset, not a clean close
					}
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	done := make(chan struct{}, 2)
	go pipe(up, c, done)
	go pipe(c, up, done)
	<-done
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.setDown(true)
	p.wg.Wait()
}

// faultTransport answers some requests itself with 429 or 503, and for others lets
// the server do the work and then loses the answer, as a dropped connection would
// after the server committed.
type faultTransport struct {
	next                 http.RoundTripper
	rejectP, loseP       float64
	rejected, lost, sent atomic.Int64
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := rand.Float64()
	switch {
	case r < f.rejectP:
		f.rejected.Add(1)
		code := http.StatusServiceUnavailable
		if rand.IntN(2) == 0 {
			code = http.StatusTooManyRequests
		}
		if req.Body != nil {
			req.Body.Close()
		}
		return &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {"0"}}, Request: req,
			Body: io.NopCloser(emptyBody{})}, nil
	case r < f.rejectP+f.loseP:
		resp, err := f.next.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		f.lost.Add(1)
		return nil, errors.New("connection reset by peer (answer lost)")
	}
	f.sent.Add(1)
	return f.next.RoundTrip(req)
}

type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }

// Changes pushed through a network that delays, resets, throttles and goes down, and
// an HTTP layer that answers 429 and 503 and loses answers after the server
// committed: nothing is lost and nothing is applied twice.
func TestSyncThroughFaults(t *testing.T) {
	c := newCluster(t)
	ctx := context.Background()
	proxy := newFaultProxy(t, c.addr)
	d := c.addDevice("d")
	// Point the device at the proxy; the certificate is for 127.0.0.1 either way.
	cred, err := sync.LoadCredential(ctx, d.st)
	if err != nil {
		t.Fatal(err)
	}
	cred.URL = "https://" + proxy.addr()
	if err := d.st.SetState(ctx, map[string][]byte{sync.KeyCredential: mustJSON(t, cred)}); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := sync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ft := &faultTransport{next: &http.Transport{TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 2}, rejectP: 0.15, loseP: 0.15}
	rep := sync.New(d.st, sync.Options{Client: sync.ClientOptions{Transport: ft, Timeout: 5 * time.Second},
		InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, PullInterval: 20 * time.Millisecond, BatchChanges: 7})
	proxy.latency.Store(int64(time.Millisecond))
	proxy.resetP.Store(150)
	rep.Start(ctx)
	defer rep.Stop()

	var ids []string
	for i := 0; i < 150; i++ {
		r := d.save(t, "", map[string]string{"site": fmt.Sprintf(`"S-%d"`, i)})
		ids = append(ids, r.ID)
		if i%10 == 0 {
			d.save(t, r.ID, map[string]string{"notes": `"edited"`})
		}
		rep.Wake()
		switch i {
		case 40:
			proxy.setDown(true)
		case 60:
			proxy.setDown(false)
		case 80:
			proxy.bps.Store(200_000)
		case 100:
			proxy.bps.Store(0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _ := d.st.PendingCount(ctx)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes still pending after a minute; status %+v", n, rep.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rep.Stop()
	if ft.rejected.Load() == 0 || ft.lost.Load() == 0 {
		t.Fatalf("faults not exercised: %d rejected, %d lost", ft.rejected.Load(), ft.lost.Load())
	}
	dead, _ := d.st.DeadLetters(ctx)
	if len(dead) != 0 {
		t.Fatalf("dead letters: %+v", dead)
	}
	// Exactly these records, once each, with the device's revs.
	srv := c.serverRevs(t)
	mine := revs(t, d.st)
	if len(srv) != len(ids) {
		t.Fatalf("server holds %d records, want %d", len(srv), len(ids))
	}
	if diff := compareRevs(srv, mine); diff != "" {
		t.Fatalf("server and device differ: %s", diff)
	}
	t.Logf("%d requests through, %d answered 429/503 by the fault layer, %d answers lost", ft.sent.Load(), ft.rejected.Load(), ft.lost.Load())
	_ = store.Applied
}
