package server

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Reconcile tuning: a range where the server holds at most itemsBelow records is
// answered with its (ID, rev) list; a larger one that differs is split in splitParts.
//
// An answer holds at most wire.MaxReconcileItems sub-ranges, so the device's next
// request fits in one; its (ID, rev) items have their own, larger budget,
// maxAnswerItems, enough to list every range of a full request (4096 ranges of at
// most 32 records: under 12 MB of JSON, within wire.MaxBodyBytes). With one budget
// for both, a round that reaches the small ranges could list only about 4096/24 of
// them, and 1,000 differences in 100,000 records took 10 round trips instead of 4.
const (
	itemsBelow     = 32
	splitParts     = 16
	maxRangeBound  = 128 // bytes in a range's From or To
	maxAnswerItems = wire.MaxReconcileItems * itemsBelow
)

// handleReconcile answers each of the device's range fingerprints: equal; or the
// server's (ID, rev) list where it holds few records there; or its fingerprints of
// sub-ranges, for the next round. The answer holds at most wire.MaxReconcileItems
// sub-range fingerprints and maxAnswerItems items: a range that would overflow either
// is answered with a single sub-range, itself, so the device asks about it again.
func (s *Server) handleReconcile(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.ReconcileRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Ranges) > wire.MaxReconcileItems {
		return nil, tooLarge("reconcile of %d ranges; at most %d a request", len(req.Ranges), wire.MaxReconcileItems)
	}
	ranges := make([]store.Range, len(req.Ranges))
	for i, fp := range req.Ranges {
		if err := checkFingerprint(fp); err != nil {
			return nil, badRequest("ranges[%d]: %v", i, err)
		}
		ranges[i] = store.Range{From: fp.From, To: fp.To}
	}
	ctx := r.Context()
	head, err := c.t.st.FeedHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	ours, err := c.t.st.Fingerprints(ctx, ranges)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	answers := make([]wire.RangeAnswer, len(req.Ranges))
	usedSplit, usedItems := 0, 0
	for i, theirs := range req.Ranges {
		a := &answers[i]
		a.Range = theirs.Range
		mine := ours[i]
		if mine.Count == theirs.Count && mine.HashHex() == strings.ToLower(theirs.Hash) {
			a.Equal = true
			continue
		}
		// Keep one sub-range for every range still to answer, so each gets at least its
		// single-range fallback.
		room := wire.MaxReconcileItems - usedSplit - (len(req.Ranges) - i - 1)
		switch {
		case mine.Count <= itemsBelow && mine.Count <= maxAnswerItems-usedItems:
			revs, err := c.t.st.Revs(ctx, theirs.From, theirs.To)
			if err != nil {
				return nil, fmt.Errorf("reconcile: %w", err)
			}
			a.Items, a.Have = make([]wire.Item, len(revs)), true
			for k, rv := range revs {
				a.Items[k] = wire.Item{ID: rv.ID, Rev: rv.Rev}
			}
			usedItems += len(a.Items)
		case mine.Count > itemsBelow && splitParts <= room:
			parts, err := c.t.st.SplitRange(ctx, ranges[i], splitParts)
			if err != nil {
				return nil, fmt.Errorf("reconcile: %w", err)
			}
			a.Split = make([]wire.Fingerprint, len(parts))
			for k, p := range parts {
				a.Split[k] = wireFingerprint(p)
			}
			usedSplit += len(a.Split)
		default:
			a.Split = []wire.Fingerprint{wireFingerprint(mine)}
			usedSplit++
		}
	}
	s.metrics.reconciles.Add(1)
	s.act.seen(c.Tenant, c.Device, s.now(), true)
	return wire.ReconcileResponse{Ranges: answers, Cursor: s.makeCursor(c, head), Head: &head, Server: s.serverInfo(ctx, c)}, nil
}

func wireFingerprint(f store.Fingerprint) wire.Fingerprint {
	return wire.Fingerprint{Range: wire.Range{From: f.From, To: f.To}, Count: f.Count, Hash: f.HashHex()}
}

func checkFingerprint(fp wire.Fingerprint) error {
	switch {
	case len(fp.From) > maxRangeBound || len(fp.To) > maxRangeBound:
		return fmt.Errorf("range bounds longer than %d bytes", maxRangeBound)
	case fp.To != "" && fp.From >= fp.To:
		return fmt.Errorf("range [%q, %q) is empty or reversed", fp.From, fp.To)
	case fp.Count < 0:
		return fmt.Errorf("count %d is negative", fp.Count)
	}
	if b, err := hex.DecodeString(fp.Hash); err != nil || len(b) != 16 {
		return fmt.Errorf("hash %q: want 32 hex digits", fp.Hash)
	}
	return nil
}
