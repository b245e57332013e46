package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Rebuilding devices share the work (POST /v1/claim). Devices that find a server
// without their records each split what they must send into ranges and ask, before
// sending one, whether to: a range the server holds as the device does is skipped, a
// range another device is sending is deferred, and any other is leased to the asker.
// Leases live in memory only: a server that restarts forgets them, and devices then
// send their ranges themselves, which the idempotent merge makes harmless.
//
// A lease lasts while its holder keeps calling: it expires Options.ClaimLease after
// the holder's last request of any kind (a push of the range, usually), and in any
// case maxLeaseHold after it was granted, so a device killed mid-range, or one that
// gave up on it, holds nobody back for long. The holder ends it early by naming the
// range in a later request's Done.

// maxLeaseHold bounds a lease whatever its holder does.
const maxLeaseHold = 20 * time.Minute

// rangeLease is one range a device is sending.
type rangeLease struct {
	store.Range
	device        string
	granted, seen time.Time // seen: the holder's last request
}

// leases holds every tenant's leases.
type leases struct {
	mu sync.Mutex
	m  map[string][]rangeLease // tenant → leases
}

func overlaps(a, b store.Range) bool {
	return (b.To == "" || a.From < b.To) && (a.To == "" || b.From < a.To)
}

// live reports whether l still holds its range at now: its holder called within ttl
// and it was granted within maxLeaseHold.
func (l rangeLease) live(now time.Time, ttl time.Duration) bool {
	return now.Sub(l.granted) < maxLeaseHold && now.Sub(l.seen) < ttl
}

// touch notes a request of the device: its leases last ttl from now.
func (ls *leases) touch(tenant, device string, now time.Time) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	held := ls.m[tenant]
	for i := range held {
		if held[i].device == device {
			held[i].seen = now
		}
	}
}

// handleClaim releases the caller's finished ranges (all of its leases, for a request
// that starts a rebuild), then answers each range asked:
// equal (the server holds the same records there), busy (another device holds a live
// lease overlapping it) or send (leased to the caller now). The answer carries the
// server's feed head and a cursor there.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.ClaimRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Ranges) > wire.MaxClaimRanges || len(req.Done) > wire.MaxClaimRanges {
		return nil, tooLarge("claim of %d ranges, %d done; at most %d each a request", len(req.Ranges), len(req.Done), wire.MaxClaimRanges)
	}
	ranges := make([]store.Range, len(req.Ranges))
	for i, fp := range req.Ranges {
		if err := checkFingerprint(fp); err != nil {
			return nil, badRequest("ranges[%d]: %v", i, err)
		}
		ranges[i] = store.Range{From: fp.From, To: fp.To}
	}
	for i, d := range req.Done {
		if err := checkFingerprint(wire.Fingerprint{Range: d, Hash: strings.Repeat("0", 32)}); err != nil {
			return nil, badRequest("done[%d]: %v", i, err)
		}
	}
	ctx := r.Context()
	head, err := c.t.st.FeedHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	ours, err := c.t.st.Fingerprints(ctx, ranges)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	answers := make([]wire.ClaimAnswer, len(req.Ranges))
	now := s.now()
	s.leases.mu.Lock()
	held := s.leases.m[c.Tenant]
	// Keep the live leases other than those the caller says it finished.
	kept := held[:0]
	for _, l := range held {
		done := req.Start && l.device == c.Device
		for _, d := range req.Done {
			if l.device == c.Device && l.From == d.From && l.To == d.To {
				done = true
			}
		}
		if !done && l.live(now, s.opts.ClaimLease) {
			kept = append(kept, l)
		}
	}
	held = kept
	for i, theirs := range req.Ranges {
		a := &answers[i]
		a.Range = theirs.Range
		if ours[i].Count == theirs.Count && ours[i].HashHex() == strings.ToLower(theirs.Hash) {
			a.Answer = wire.ClaimEqual
			continue
		}
		a.Answer = wire.ClaimSend
		for _, l := range held {
			if l.device != c.Device && overlaps(l.Range, ranges[i]) {
				a.Answer = wire.ClaimBusy
				break
			}
		}
		if a.Answer == wire.ClaimSend {
			held = append(held, rangeLease{Range: ranges[i], device: c.Device, granted: now, seen: now})
		}
	}
	s.leases.m[c.Tenant] = held
	if len(held) == 0 {
		delete(s.leases.m, c.Tenant)
	}
	s.leases.mu.Unlock()
	s.act.seen(c.Tenant, c.Device, now, true)
	return wire.ClaimResponse{Ranges: answers, Head: head, Cursor: s.makeCursor(c, head), Server: s.serverInfo(ctx, c)}, nil
}
