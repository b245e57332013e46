package server

import (
	"context"
	"net/http"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// answerPushRevs fills in the rev of each duplicate change's record (the store
// gives the others' with their results), and returns a cursor at the feed's head when
// every feed entry after the cursor the device sent (wire.HeaderCursor) is a record
// of this push at that rev: the device then need not pull its own changes back. ""
// when that does not hold or cannot be told (no cursor, one that does not read, a
// purge or another device's change in between); the push itself is never refused
// for it. Only a push that carries a cursor reads the store here, and so waits for
// what the store acknowledged to be applied: a rebuild's pushes carry none, and are
// answered once journalled.
func (s *Server) answerPushRevs(ctx context.Context, r *http.Request, c *caller, changes []form.Change, index []int, results []wire.PushResult) string {
	cur := r.Header.Get(wire.HeaderCursor)
	if len(changes) == 0 || cur == "" {
		return ""
	}
	var dups []string
	for k, ch := range changes {
		if results[index[k]].Status == wire.StatusDuplicate {
			dups = append(dups, ch.Record)
		}
	}
	dupRevs, err := c.t.st.RevOf(ctx, dups)
	if err != nil {
		s.log.Warn("push: revs not answered", "tenant", c.Tenant, "err", err)
		return ""
	}
	revs := map[string]string{}
	for k, ch := range changes {
		res := &results[index[k]]
		if res.Status == wire.StatusDuplicate {
			res.Rev = dupRevs[ch.Record]
		}
		if res.Status != wire.StatusRejected {
			// A record changed twice in the push: the later result is its rev now.
			revs[ch.Record] = res.Rev
		}
	}
	if len(revs) == 0 {
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
