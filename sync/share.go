package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"time"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Sharing a rebuild (POST /v1/claim; see the wire package's doc): the records a
// reconcile found the server lacks are sent in ranges, each only after the server
// says to, so devices rebuilding one server at once each send part of it.
// A range holds at least four push batches (pushBatchRecords), so a lone device
// keeps its pushes in flight (pushInFlight) across most of each range and makes few
// extra requests; there are at most shareRanges.
const (
	shareRanges  = 64
	sharePollMin = 20 * time.Millisecond
	sharePollMax = time.Second
)

// shareResult is what sendShared learnt: whether the server takes claims, the
// server's feed head and a cursor there after the last range was sent, and how many
// of the pushed records the server applied.
type shareResult struct {
	claims  bool
	final   wire.ClaimResponse
	applied int
}

// sendShared pushes the records with these IDs (in key order), range by range, each
// after the server's leave: a range the server already holds as the replica does is
// skipped, one another device is sending is asked about again at the end. A server
// that does not know claims gets every record.
func (r *Replicator) sendShared(ctx context.Context, c *Client, ids []string, rep *Report) (shareResult, error) {
	var res shareResult
	if len(ids) == 0 {
		return res, nil
	}
	before := rep.RecordsAppliedByReconcile
	minRange := 4 * r.pushBatchRecords()
	n := min(shareRanges, (len(ids)+minRange-1)/minRange)
	chunks := make([][]string, n)
	ranges := make([]store.Range, n)
	for i := range n {
		lo, hi := i*len(ids)/n, (i+1)*len(ids)/n
		chunks[i] = ids[lo:hi]
		ranges[i] = store.Range{From: ids[lo]}
		if i+1 < n {
			ranges[i].To = ids[hi]
		}
	}
	fps, err := r.st.Fingerprints(ctx, ranges)
	if err != nil {
		return res, err
	}
	var done []wire.Range
	start := true // the first request drops leases left by an earlier attempt
	// claim asks about range i, releasing the ranges done; ok false: the server does
	// not know claims.
	claim := func(ranges []wire.Fingerprint) (wire.ClaimResponse, bool, error) {
		var resp wire.ClaimResponse
		_, err := c.Do(ctx, http.MethodPost, "/v1/claim", nil, wire.ClaimRequest{Ranges: ranges, Done: done, Start: start}, &resp)
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
			return resp, false, nil
		}
		if err != nil {
			return resp, false, fmt.Errorf("claim: %w", err)
		}
		if len(resp.Ranges) != len(ranges) {
			return resp, false, fmt.Errorf("claim: %d answers for %d ranges", len(resp.Ranges), len(ranges))
		}
		done, start = nil, false
		return resp, true, nil
	}
	// Devices start at different ranges, so that at once they mostly ask about
	// different ones.
	h := fnv.New32a()
	h.Write([]byte(r.st.Device()))
	first := int(h.Sum32() % uint32(n))
	var deferred []int
	for k := range n {
		i := (first + k) % n
		resp, ok, err := claim([]wire.Fingerprint{toWire(fps[i])})
		if err != nil {
			return res, err
		}
		if !ok {
			// A server of an earlier release: send everything, as it expects.
			return res, r.pushRecords(ctx, c, ids, rep)
		}
		switch resp.Ranges[0].Answer {
		case wire.ClaimEqual:
		case wire.ClaimBusy:
			deferred = append(deferred, i)
		default:
			if err := r.pushRecords(ctx, c, chunks[i], rep); err != nil {
				return res, err
			}
			done = append(done, resp.Ranges[0].Range)
		}
	}
	// Ask again about the ranges others were sending, until each is equal or ours.
	for wait := sharePollMin; len(deferred) > 0; wait = min(2*wait, sharePollMax) {
		var still []int
		progressed := false
		for _, i := range deferred {
			resp, ok, err := claim([]wire.Fingerprint{toWire(fps[i])})
			if err != nil {
				return res, err
			}
			if !ok {
				return res, fmt.Errorf("claim: the server stopped answering claims mid-way")
			}
			switch resp.Ranges[0].Answer {
			case wire.ClaimEqual:
				progressed = true
			case wire.ClaimBusy:
				still = append(still, i)
			default:
				// Others sent some of it: compare the range again and send only
				// what the server still lacks or holds in another version there.
				toPush := map[string]bool{}
				if _, _, err := r.compareRanges(ctx, c, []wire.Fingerprint{toWire(fps[i])}, toPush, map[string]bool{}); err != nil {
					return res, err
				}
				if err := r.pushRecords(ctx, c, keys(toPush), rep); err != nil {
					return res, err
				}
				done = append(done, resp.Ranges[0].Range)
				progressed = true
			}
		}
		deferred = still
		if len(deferred) == 0 {
			break
		}
		if progressed {
			wait = sharePollMin
		}
		r.update(func(s *Status) {
			s.Progress = &Progress{What: fmt.Sprintf("waiting for other devices sending %d parts of the data", len(deferred))}
		})
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
	}
	// Release the last range and learn where the server's feed is now.
	final, ok, err := claim(nil)
	if err != nil {
		return res, err
	}
	return shareResult{claims: ok, final: final, applied: rep.RecordsAppliedByReconcile - before}, nil
}
