package sync_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
)

// devClock is a device's wall clock: the real time plus an offset the test sets, as a
// person setting the tablet's clock would.
type devClock struct{ ahead atomic.Int64 }

func (c *devClock) Now() time.Time            { return time.Now().Add(time.Duration(c.ahead.Load())) }
func (c *devClock) set(d time.Duration)       { c.ahead.Store(int64(d)) }
func (c *devClock) opt() func(*store.Options) { return func(o *store.Options) { o.Now = c.Now } }

// pushCounter counts the pushes a device sends.
type pushCounter struct {
	next   http.RoundTripper
	pushes atomic.Int64
}

func (p *pushCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/v1/push" {
		p.pushes.Add(1)
	}
	return p.next.RoundTrip(req)
}

// countPushes gives the device a replicator whose pushes are counted.
func countPushes(t *testing.T, d *device) *pushCounter {
	t.Helper()
	cred, err := sync.LoadCredential(context.Background(), d.st)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := sync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc := &pushCounter{next: &http.Transport{TLSClientConfig: tlsCfg}}
	d.rep = sync.New(d.st, sync.Options{Client: sync.ClientOptions{Transport: pc}})
	return pc
}

func deadSkew(t *testing.T, st *store.Store) (skew, other int) {
	t.Helper()
	dead, err := st.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		if strings.HasPrefix(d.Reason, "clock_skew") {
			skew++
		} else {
			other++
		}
	}
	return skew, other
}

// Issue 10.5: a device whose clock ran 48 h ahead has its changes refused; once its
// clock is right again, they are stamped anew and accepted — with the edit made after
// the fix, which the skewed stamps used to hold back for ever — the latest value
// winning everywhere, no duplicate, and the server's clock never dragged ahead.
func TestClockSkewHeals(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	var clk devClock
	d := c.addDevice("ahead", clk.opt())
	ok := c.addDevice("ok")
	a := d.save(t, "", map[string]string{"site": `"A"`})
	d.sync(t)

	clk.set(48 * time.Hour)
	d.save(t, a.ID, map[string]string{"notes": `"while ahead"`})
	b := d.save(t, "", map[string]string{"site": `"B, made while ahead"`})
	d.sync(t)
	if skew, _ := deadSkew(t, d.st); skew != 2 {
		t.Fatalf("changes held for the clock: %d, want 2", skew)
	}
	st := d.rep.Status()
	if !strings.Contains(st.Message, "48 h ahead") || !strings.Contains(st.Message, "2 change") {
		t.Fatalf("status while the clock is ahead: %q", st.Message)
	}

	// The clock is set right; the next edit must not be held back by the skewed ones.
	clk.set(0)
	d.save(t, a.ID, map[string]string{"notes": `"after the fix"`, "score": "7"})
	d.sync(t)
	d.sync(t)
	if skew, other := deadSkew(t, d.st); skew+other != 0 {
		t.Fatalf("after the clock was set right: %d change(s) still refused for the clock, %d for other reasons", skew, other)
	}
	if n, _ := d.st.PendingCount(ctx); n != 0 {
		t.Fatalf("%d change(s) still pending", n)
	}
	st = d.rep.Status()
	if !strings.Contains(st.Message, "3 change(s) re-stamped after the clock was corrected at") {
		t.Fatalf("status after the heal: %q", st.Message)
	}
	ok.sync(t)
	c.converged(t, 2)
	obs := c.observer(t)
	ra, err := obs.Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v := string(ra.Fields["notes"].Value); v != `"after the fix"` {
		t.Fatalf("notes on the server: %s, want the latest edit", v)
	}
	if _, err := obs.Get(ctx, b.ID); err != nil {
		t.Fatalf("the record made while the clock was ahead is not on the server: %v", err)
	}
	// Nothing from the future was absorbed: every stamp the server holds is of now,
	// and an edit made later on another device wins.
	limit := form.NewHLC(time.Now().Add(time.Minute).UnixMilli(), 0)
	for _, id := range []string{a.ID, b.ID} {
		r, _ := obs.Get(ctx, id)
		if u := r.Updated(); u.HLC > limit {
			t.Fatalf("record %s on the server is stamped %s, in the future", id, u.HLC.Time())
		}
	}
	ok.save(t, a.ID, map[string]string{"notes": `"later, elsewhere"`})
	ok.sync(t)
	d.sync(t)
	c.converged(t, 2)
	if r, _ := d.st.Get(ctx, a.ID); string(r.Fields["notes"].Value) != `"later, elsewhere"` {
		t.Fatalf("a later edit on another device lost to the healed one: %s", r.Fields["notes"].Value)
	}
}

// A device whose clock is still wrong keeps its changes, says why, and does not send
// them again and again; they go as soon as the clock is right.
func TestClockStillAheadHolds(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t)
	var clk devClock
	d := c.addDevice("ahead", clk.opt())
	pc := countPushes(t, d)
	clk.set(48 * time.Hour)
	r := d.save(t, "", map[string]string{"site": `"held"`})
	d.sync(t)
	first := pc.pushes.Load()
	for range 5 {
		d.sync(t)
	}
	if n := pc.pushes.Load(); n != first {
		t.Fatalf("a held change was pushed %d more times while the clock was still wrong", n-first)
	}
	if skew, _ := deadSkew(t, d.st); skew != 1 {
		t.Fatalf("held changes: %d, want 1", skew)
	}
	if got, err := d.st.Get(ctx, r.ID); err != nil || string(got.Fields["site"].Value) != `"held"` {
		t.Fatalf("the held record on the device: %+v %v", got, err)
	}
	st := d.rep.Status()
	if st.State != sync.StateError || !strings.Contains(st.Message, "48 h ahead") || !strings.Contains(st.Message, "wait until the clock is right") {
		t.Fatalf("status: %+v", st)
	}
	if n := len(c.serverRevs(t)); n != 0 {
		t.Fatalf("server holds %d records from a clock 48 h ahead", n)
	}
	clk.set(0)
	d.sync(t)
	c.converged(t, 1)
}

// The device trusts the server's clock, read from the Date of its answers: a server
// whose clock is 48 h behind makes a right device clock "ahead", its changes are held,
// and they go when the server's clock is right.
func TestServerClockBehind(t *testing.T) {
	var srvClk devClock
	srvClk.set(-48 * time.Hour)
	c := newCluster(t, func(o *server.Options) { o.Now = srvClk.Now })
	d := c.addDevice("right")
	r := d.save(t, "", map[string]string{"site": `"S"`})
	d.sync(t)
	st := d.rep.Status()
	if st.Clock.Held != 1 || !strings.Contains(st.Message, "48 h ahead") {
		t.Fatalf("status with the server's clock 48 h behind: %+v", st)
	}
	srvClk.set(0)
	d.sync(t)
	if skew, other := deadSkew(t, d.st); skew+other != 0 {
		t.Fatalf("dead letters after the server's clock was set right: %d, %d", skew, other)
	}
	obs := c.observer(t)
	if _, err := obs.Get(context.Background(), r.ID); err != nil {
		t.Fatalf("the record is not on the server: %v", err)
	}
}
