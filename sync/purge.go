package sync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Purges on the device (I10: a purge is forever). The server sends, with the IDs of
// purged records, their signed purge notices; the device drops the records (data,
// pending changes, dead letters, local attachment bytes, search entries), keeps the
// notices, and never sends those IDs again: a change to a purged record left in the
// outbox is dropped unsent, and one the server refuses as purged is dropped with the
// record. When the server lost data (a restore, a rebuilt data folder) the device
// reads the server's notices and sends back those it holds that the server lacks,
// before it compares records, so a purged record is never offered again.

// noticesBatch is how many notices a device sends a request.
const noticesBatch = 100

// applyPurged drops the local copies of records permanently deleted on the server,
// and keeps the notices that came with them. IDs without a notice (a server of an
// earlier release) are purged all the same.
func (r *Replicator) applyPurged(ctx context.Context, ids []string, notices []form.PurgeNotice, rep *Report) error {
	covered := map[string]bool{}
	for _, n := range notices {
		res, err := r.st.ApplyPurgeNotice(ctx, n, "sync", r.st.Device(), "purge notice from the server")
		if errors.Is(err, store.ErrBadInput) {
			r.log.Warn("the server sent a malformed purge notice; its IDs are purged without it", "request", n.Request, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		for _, id := range n.Records {
			covered[id] = true
		}
		rep.Purged += len(res.Removed)
		if len(res.Removed) > 0 {
			r.log.Info("purge notice applied: local copies removed", "request", n.Request, "records", len(res.Removed))
		}
	}
	for _, id := range ids {
		if covered[id] {
			continue
		}
		if _, err := r.st.Purge(ctx, []string{id}, "server", "server", "permanently deleted on the server"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rep.Purged++
	}
	return nil
}

// dropPurgedChanges removes from a batch about to be pushed the changes to records
// purged here, acknowledging them locally: they are never sent.
func (r *Replicator) dropPurgedChanges(ctx context.Context, items []store.OutboxItem) ([]store.OutboxItem, error) {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.Change.Record
	}
	purged, err := r.st.PurgedAmong(ctx, ids)
	if err != nil || len(purged) == 0 {
		return items, err
	}
	var drop []uint64
	keep := items[:0:0]
	for _, it := range items {
		if purged[it.Change.Record] {
			drop = append(drop, it.Seq)
			r.log.Warn("a change to a purged record is dropped unsent", "seq", it.Seq, "record", it.Change.Record)
			continue
		}
		keep = append(keep, it)
	}
	return keep, r.st.Ack(ctx, drop...)
}

// refusedAsPurged handles the server's answer that a record was purged: the record
// and its changes are dropped here (the notice follows with a pull or a reconcile).
func (r *Replicator) refusedAsPurged(ctx context.Context, id string) error {
	if purged, err := r.st.IsPurged(ctx, id); err != nil || purged {
		return err
	}
	r.log.Warn("the server says a record was purged; dropping the local copy", "record", id)
	_, err := r.st.Purge(ctx, []string{id}, "server", "server", "permanently deleted on the server (a change to it was refused as purged)")
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// exchangeNotices reads the server's purge notices, carries out here those the
// replica lacks, and sends the server those it lacks. A server of an earlier release
// has no such endpoint: nothing is exchanged.
func (r *Replicator) exchangeNotices(ctx context.Context, c *Client, rep *Report) error {
	theirs := map[string]bool{}
	after := ""
	for {
		var page wire.PurgeNotices
		q := url.Values{"limit": {fmt.Sprint(noticesBatch)}}
		if after != "" {
			q.Set("after", after)
		}
		_, err := c.Do(ctx, http.MethodGet, "/v1/purges", q, nil, &page)
		var ae *APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, n := range page.Notices {
			theirs[n.Request] = true
		}
		if err := r.applyPurged(ctx, nil, page.Notices, rep); err != nil {
			return err
		}
		if !page.More || len(page.Notices) == 0 {
			break
		}
		after = page.Notices[len(page.Notices)-1].Request
	}
	mine, err := r.st.PurgeNotices(ctx, "", 0)
	if err != nil {
		return err
	}
	mine = slices.DeleteFunc(mine, func(n form.PurgeNotice) bool { return theirs[n.Request] })
	for len(mine) > 0 {
		n := min(len(mine), noticesBatch)
		var out wire.PurgeNoticesResponse
		if _, err := c.Do(ctx, http.MethodPost, "/v1/purges", nil, wire.PurgeNoticesPush{Notices: mine[:n]}, &out); err != nil {
			return err
		}
		for _, res := range out.Results {
			switch res.Status {
			case wire.StatusApplied:
				r.log.Warn("the server had lost a purge; this device sent its notice back", "request", res.Request)
			case wire.StatusRejected:
				r.log.Warn("the server refused a purge notice this device holds", "request", res.Request, "code", res.Code, "reason", res.Message)
			}
		}
		mine = mine[n:]
	}
	return nil
}
