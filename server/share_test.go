package server_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// fakeClock is a server clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func newFakeClock() *fakeClock           { c := &fakeClock{}; c.ns.Store(time.Now().UnixNano()); return c }
func zeroHash() string                   { return strings.Repeat("0", 32) }
func fpOf(from, to string, n int) wire.Fingerprint {
	return wire.Fingerprint{Range: wire.Range{From: from, To: to}, Count: n, Hash: strings.Repeat("ab", 16)}
}

func claim(t *testing.T, d *device, req wire.ClaimRequest) wire.ClaimResponse {
	t.Helper()
	var resp wire.ClaimResponse
	wantCode(t, "claim", d.do(t, "POST", "/v1/claim", req, &resp), 200, "")
	if len(resp.Ranges) != len(req.Ranges) || resp.Cursor == "" || resp.Server.Epoch == "" {
		t.Fatalf("claim answer %+v for %d ranges", resp, len(req.Ranges))
	}
	return resp
}

func wantAnswer(t *testing.T, what string, resp wire.ClaimResponse, want string) {
	t.Helper()
	if resp.Ranges[0].Answer != want {
		t.Fatalf("%s: answer %q, want %q", what, resp.Ranges[0].Answer, want)
	}
}

// Claims: equal where the server holds the same, a lease to the first asker, busy
// for others while its holder keeps calling, released by Done or lapsing
// ClaimLease after the holder's last call.
func TestClaimLeases(t *testing.T) {
	clock := newFakeClock()
	opts := dirs(t)
	opts.Now = clock.now
	opts.ClaimLease = 30 * time.Second
	ts := startServer(t, opts)
	ts.addTenant(t, "acme")
	ts.addTenant(t, "globex")
	d1, d2 := ts.enroll(t, "acme", "ann"), ts.enroll(t, "acme", "bob")
	other := ts.enroll(t, "globex", "gil")
	var chs []form.Change
	for i := range 10 {
		chs = append(chs, d1.change(form.NewID(), "Site", i))
	}
	d1.push(t, chs...)

	all := fpOf("", "", 12)
	resp := claim(t, d1, wire.ClaimRequest{Ranges: []wire.Fingerprint{{Range: wire.Range{From: "~"}, Hash: zeroHash()}}})
	wantAnswer(t, "a range the server holds as the device does (empty)", resp, wire.ClaimEqual)
	if resp.Head != 10 {
		t.Fatalf("feed head %d after 10 records, want 10", resp.Head)
	}
	wantAnswer(t, "d1 asks first", claim(t, d1, wire.ClaimRequest{Ranges: []wire.Fingerprint{all}}), wire.ClaimSend)
	wantAnswer(t, "d1 asks again", claim(t, d1, wire.ClaimRequest{Ranges: []wire.Fingerprint{all}}), wire.ClaimSend)
	wantAnswer(t, "d2, an overlapping range", claim(t, d2, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("0", "5", 3)}}), wire.ClaimBusy)
	wantAnswer(t, "another tenant's device", claim(t, other, wire.ClaimRequest{Ranges: []wire.Fingerprint{all}}), wire.ClaimSend)

	// A bad request releases nothing.
	a := d1.do(t, "POST", "/v1/claim", wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("b", "a", 1)}, Done: []wire.Range{{}}}, nil)
	wantCode(t, "claim of a reversed range", a, 400, wire.CodeBadRequest)
	wantAnswer(t, "d2 after d1's bad request", claim(t, d2, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("0", "5", 3)}}), wire.ClaimBusy)

	// The holder keeps calling: 50 s after the grant, 20 s after its last call, busy.
	clock.add(25 * time.Second)
	d1.do(t, "GET", "/v1/pull", nil, nil)
	clock.add(25 * time.Second)
	wantAnswer(t, "d2 while d1 keeps calling", claim(t, d2, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("0", "5", 3)}}), wire.ClaimBusy)
	// Silent for longer than the lease: lapsed.
	clock.add(10 * time.Second)
	wantAnswer(t, "d2 after d1's lease lapsed", claim(t, d2, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("0", "5", 3)}}), wire.ClaimSend)
	wantAnswer(t, "d1 while d2 holds a part", claim(t, d1, wire.ClaimRequest{Ranges: []wire.Fingerprint{all}}), wire.ClaimBusy)
	// Released by Done: d1 may have it at once.
	claim(t, d2, wire.ClaimRequest{Done: []wire.Range{{From: "0", To: "5"}}})
	wantAnswer(t, "d1 after d2 finished", claim(t, d1, wire.ClaimRequest{Ranges: []wire.Fingerprint{all}}), wire.ClaimSend)
	// d1 fails mid-way and starts over with other ranges: its old lease goes.
	wantAnswer(t, "d1 starting over", claim(t, d1, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("0", "1", 2)}, Start: true}), wire.ClaimSend)
	wantAnswer(t, "d2 beside d1's new range", claim(t, d2, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("5", "6", 2)}}), wire.ClaimSend)
	wantAnswer(t, "d2 on d1's new range", claim(t, d2, wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("0", "1", 2)}}), wire.ClaimBusy)
}

// Every bad claim is one clear 4xx.
func TestClaimBadInput(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	many := make([]wire.Fingerprint, wire.MaxClaimRanges+1)
	for i := range many {
		many[i] = fpOf("", "", 1)
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"unknown field", map[string]any{"ranges": []any{}, "steal": true}, 400, wire.CodeBadRequest},
		{"reversed range", wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf("b", "a", 1)}}, 400, wire.CodeBadRequest},
		{"bad hash", wire.ClaimRequest{Ranges: []wire.Fingerprint{{Hash: "xyz"}}}, 400, wire.CodeBadRequest},
		{"negative count", wire.ClaimRequest{Ranges: []wire.Fingerprint{{Count: -1, Hash: zeroHash()}}}, 400, wire.CodeBadRequest},
		{"reversed done", wire.ClaimRequest{Done: []wire.Range{{From: "b", To: "a"}}}, 400, wire.CodeBadRequest},
		{"long bound", wire.ClaimRequest{Ranges: []wire.Fingerprint{fpOf(strings.Repeat("a", 200), "", 1)}}, 400, wire.CodeBadRequest},
		{"too many ranges", wire.ClaimRequest{Ranges: many}, 413, wire.CodeTooLarge},
		{"not JSON", "{", 400, wire.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := d.do(t, "POST", "/v1/claim", tc.body, nil)
			wantCode(t, tc.name, a, tc.status, tc.code)
			if a.err.Message == "" || strings.Contains(a.err.Message, "\n") {
				t.Fatalf("%s: message %q; want one line", tc.name, a.err.Message)
			}
		})
	}
}
