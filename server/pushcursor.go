package server

import (
	"context"
	"net/http"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// answerPushRevs fills in, for each change of a push that was not rejected, the
// record's rev after the merge, and returns a cursor at the feed's head when every
// feed entry after the cursor the device sent (wire.HeaderCursor) is a record of this
// push at that rev: the device then need not pull its own changes back. "" when
// that does not hold or cannot be told (no cursor, one that does not read, a purge
// or another device's change in between); the push itself is never refused for it.
func (s *Server) answerPushRevs(ctx context.Context, r *http.Request, c *caller, changes []form.Change, index []int, results []wire.PushResult) string {
	if len(changes) == 0 {
		return ""
	}
	ids := make([]string, 0, len(changes))
	for k, ch := range changes {
		if results[index[k]].Status != wire.StatusRejected {
			ids = append(ids, ch.Record)
		}
	}
	revs, err := c.t.st.RevOf(ctx, ids)
	if err != nil {
		s.log.Warn("push: revs not answered", "tenant", c.Tenant, "err", err)
		return ""
	}
	for k, ch := range changes {
		if res := &results[index[k]]; res.Status != wire.StatusRejected {
			res.Rev = revs[ch.Record]
		}
	}
	cur := r.Header.Get(wire.HeaderCursor)
	if cur == "" || len(revs) == 0 {
		return ""
	}
	pos, err := s.readCursor(c, cur)
	if err != nil {
		return ""
	}
	// One more than the push could have added: a longer stretch holds others' changes.
	items, purged, last, err := c.t.st.FeedRevs(ctx, pos, len(revs)+1)
	if err != nil || len(purged) > 0 || len(items) > len(revs) {
		return ""
	}
	head, err := c.t.st.FeedHead(ctx)
	if err != nil || last != head {
		return ""
	}
	for _, it := range items {
		if rev, ok := revs[it.ID]; !ok || rev != it.Rev {
			return ""
		}
	}
	return s.makeCursor(c, head)
}
