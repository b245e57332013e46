package sync

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// reconcile finds the records the server lacks or holds in another version, pushes
// the replica's, and fetches the server's; it never deletes anything local. With all,
// it pushes the whole replica without comparing (an admin's reseed).
func (r *Replicator) reconcile(ctx context.Context, c *Client, rep *Report, all bool) error {
	r.update(func(s *Status) {
		s.State, s.Message = StateRebuilding, "the server is missing data; sending what this device holds"
		s.Progress = &Progress{What: "comparing with the server"}
	})
	// A server that lost its data lost its templates too: records need them first.
	if err := r.syncTemplates(ctx, c, rep); err != nil {
		return err
	}
	// Purges before records: a purged record is dropped here, never offered again.
	if err := r.exchangeNotices(ctx, c, rep); err != nil {
		return err
	}
	toPush := map[string]bool{}
	toFetch := map[string]bool{}
	var cursor string
	var head *uint64 // the feed position of cursor, from a server that says it
	var srv wire.Server
	if all {
		revs, err := r.st.Revs(ctx, "", "")
		if err != nil {
			return err
		}
		for _, x := range revs {
			toPush[x.ID] = true
		}
		// One round only for the feed position to continue from afterwards.
		mine, err := r.st.Fingerprints(ctx, []store.Range{{}})
		if err != nil {
			return err
		}
		var resp wire.ReconcileResponse
		s, err := c.Do(ctx, http.MethodPost, "/v1/reconcile", nil, wire.ReconcileRequest{Ranges: []wire.Fingerprint{toWire(mine[0])}}, &resp)
		if err != nil {
			return err
		}
		cursor, srv = resp.Cursor, s
	} else {
		mine, err := r.st.Fingerprints(ctx, []store.Range{{}})
		if err != nil {
			return err
		}
		first, s, err := r.compareRanges(ctx, c, []wire.Fingerprint{toWire(mine[0])}, toPush, toFetch)
		if err != nil {
			return err
		}
		cursor, head, srv = first.Cursor, first.Head, s
	}
	// The comparison read the IDs and revs of the whole replica: give those pages back
	// before reading the records.
	r.releaseMapped()
	rep.Reconciled = true
	shared := shareResult{}
	if all {
		if err := r.pushRecords(ctx, c, keys(toPush), rep); err != nil {
			return err
		}
	} else {
		// Other devices may be rebuilding this server too: send in ranges the server
		// leases, skipping what others already sent.
		var err error
		if shared, err = r.sendShared(ctx, c, keys(toPush), rep); err != nil {
			return err
		}
	}
	if err := r.fetch(ctx, c, keys(toFetch), rep); err != nil {
		return err
	}
	if skipCatchUp(head, srv, shared) {
		// The server's feed moved by exactly the records this device's pushes applied:
		// no one else changed anything since the comparison, and what the server held
		// then that differs from the replica was fetched above.
		cursor = shared.final.Cursor
	} else {
		// What changed on the server since the comparison began is mostly what this
		// device just sent: catch up by revs, fetching only what differs.
		var err error
		if cursor, err = r.catchUp(ctx, c, cursor, rep); err != nil {
			return err
		}
	}
	// Done: the replica now agrees with this epoch of the server.
	return r.st.SetState(ctx, map[string][]byte{keyReconcile: nil, keyEpoch: []byte(srv.Epoch), keyCursor: []byte(cursor),
		keyAcked: []byte(fmt.Sprint(srv.AckedThrough))})
}

// compareRanges runs reconcile rounds from these fingerprints of the replica until
// every range is settled, gathering what to push and what to fetch; it returns the
// first round's answer and server information.
func (r *Replicator) compareRanges(ctx context.Context, c *Client, pending []wire.Fingerprint, toPush, toFetch map[string]bool) (wire.ReconcileResponse, wire.Server, error) {
	var first wire.ReconcileResponse
	var srv wire.Server
	for round := 0; len(pending) > 0; round++ {
		if round > 64 {
			return first, srv, fmt.Errorf("reconcile: no agreement after %d rounds", round)
		}
		batch := pending[:min(len(pending), wire.MaxReconcileItems)]
		pending = pending[len(batch):]
		var resp wire.ReconcileResponse
		s, err := c.Do(ctx, http.MethodPost, "/v1/reconcile", nil, wire.ReconcileRequest{Ranges: batch}, &resp)
		if err != nil {
			return first, srv, err
		}
		if round == 0 {
			first, srv = resp, s
		}
		for _, a := range resp.Ranges {
			next, err := r.compare(ctx, a, toPush, toFetch)
			if err != nil {
				return first, srv, err
			}
			pending = append(pending, next...)
		}
	}
	return first, srv, nil
}

// skipCatchUp reports whether the catch-up after a reconcile has nothing to find: the
// server said its feed head at the comparison (head) and after this device's last
// push (shared.final), in the same epoch, and the feed grew by exactly the records
// those pushes applied. Each applied record adds one feed entry, as does every change
// of anyone else and every purge, so anything else would have made it grow more.
func skipCatchUp(head *uint64, srv wire.Server, shared shareResult) bool {
	return head != nil && shared.claims && shared.final.Server.Epoch == srv.Epoch && shared.final.Cursor != "" &&
		shared.final.Head >= *head && shared.final.Head-*head == uint64(shared.applied)
}

// catchUp walks the server's feed from cursor by IDs and revs, fetches the records
// whose rev differs from the replica's, and returns the cursor reached.
func (r *Replicator) catchUp(ctx context.Context, c *Client, cursor string, rep *Report) (string, error) {
	for {
		q := url.Values{"cursor": {cursor}, "limit": {strconv.Itoa(wire.MaxPullRecords)}, "revs": {"1"}}
		var resp wire.PullResponse
		if _, err := c.Do(ctx, http.MethodGet, "/v1/pull", q, nil, &resp); err != nil {
			return "", err
		}
		ids := make([]string, len(resp.Items))
		for i, it := range resp.Items {
			ids[i] = it.ID
		}
		mine, err := r.st.RevOf(ctx, ids)
		if err != nil {
			return "", err
		}
		var differ []string
		for _, it := range resp.Items {
			if mine[it.ID] != it.Rev {
				differ = append(differ, it.ID)
			}
		}
		if err := r.fetch(ctx, c, differ, rep); err != nil {
			return "", err
		}
		if err := r.applyPurged(ctx, resp.Purged, resp.Notices, rep); err != nil {
			return "", err
		}
		r.releaseMapped()
		cursor = resp.Cursor
		if !resp.More {
			return cursor, nil
		}
	}
}

func toWire(f store.Fingerprint) wire.Fingerprint {
	return wire.Fingerprint{Range: wire.Range{From: f.From, To: f.To}, Count: f.Count, Hash: f.HashHex()}
}

// compare handles the server's answer for one range and returns the sub-ranges that
// still differ, with the replica's fingerprints, for the next round.
func (r *Replicator) compare(ctx context.Context, a wire.RangeAnswer, toPush, toFetch map[string]bool) ([]wire.Fingerprint, error) {
	switch {
	case a.Equal:
		return nil, nil
	case a.Have:
		mine, err := r.st.Revs(ctx, a.From, a.To)
		if err != nil {
			return nil, err
		}
		theirs := map[string]string{}
		for _, it := range a.Items {
			theirs[it.ID] = it.Rev
		}
		for _, m := range mine {
			rev, ok := theirs[m.ID]
			if !ok || rev != m.Rev {
				toPush[m.ID] = true
			}
			if ok && rev != m.Rev {
				toFetch[m.ID] = true
			}
			delete(theirs, m.ID)
		}
		for id := range theirs {
			toFetch[id] = true
		}
		return nil, nil
	}
	var next []wire.Fingerprint
	ranges := make([]store.Range, len(a.Split))
	for i, s := range a.Split {
		ranges[i] = store.Range{From: s.From, To: s.To}
	}
	mine, err := r.st.Fingerprints(ctx, ranges)
	if err != nil {
		return nil, err
	}
	for i, s := range a.Split {
		m := toWire(mine[i])
		switch {
		case m.Count == s.Count && m.Hash == s.Hash:
		case s.Count == 0:
			// The server has nothing there: everything here is for it, no more rounds.
			revs, err := r.st.Revs(ctx, s.From, s.To)
			if err != nil {
				return nil, err
			}
			for _, x := range revs {
				toPush[x.ID] = true
			}
		default:
			next = append(next, m)
		}
	}
	return next, nil
}

// keys returns the IDs in order: records read in key order read each page of the
// replica once, and the server writes them in key order too.
func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

// fetch gets records by ID and merges them.
func (r *Replicator) fetch(ctx context.Context, c *Client, ids []string, rep *Report) error {
	m := newMeter("receiving records", len(ids), nil)
	done := 0
	for len(ids) > 0 {
		n := min(len(ids), wire.MaxFetch)
		var resp wire.FetchResponse
		if _, err := c.Do(ctx, http.MethodPost, "/v1/records", nil, wire.FetchRequest{IDs: ids[:n]}, &resp); err != nil {
			return err
		}
		if _, err := r.st.ApplyRecords(ctx, resp.Records, "sync"); err != nil {
			return err
		}
		rep.RecordsFetchedByReconcile += len(resp.Records)
		ids = ids[n:]
		done += n
		r.releaseMapped()
		r.update(func(s *Status) { s.Progress = m.at(done) })
	}
	return nil
}

// Reseed pushes the whole replica to the server (an admin's "rebuild the server from
// this device"). Many devices may do it at once: the server merges idempotently.
func (r *Replicator) Reseed(ctx context.Context) (Report, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	var rep Report
	c, _, err := r.session(ctx)
	if err != nil {
		return rep, err
	}
	if err := r.syncTemplates(ctx, c, &rep); err != nil {
		r.finish(ctx, err)
		return rep, err
	}
	err = r.reconcile(ctx, c, &rep, true)
	r.finish(ctx, err)
	return rep, err
}
