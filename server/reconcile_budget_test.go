package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// TestReconcileItemBudget: a request of many small ranges that all differ is answered
// with every range's items in one round, even when they add up to more than
// wire.MaxReconcileItems. (With a single budget for items and sub-ranges, 1 % of
// 100,000 records differing took 10 round trips; see BenchmarkSyncFigures.)
func TestReconcileItemBudget(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	const per, ranges = 32, 130 // 4,160 items in the answer
	var ids []string
	for i := 0; i < per*ranges; i += 1000 {
		var batch []form.Change
		for j := i; j < min(i+1000, per*ranges); j++ {
			c := d.change(form.NewID(), "Site", j%10)
			batch = append(batch, c)
			ids = append(ids, c.Record)
		}
		resp, a := d.push(t, batch...)
		wantCode(t, "push", a, 200, "")
		if resp.Results[len(batch)-1].Status != wire.StatusApplied {
			t.Fatalf("push: %+v", resp.Results[len(batch)-1])
		}
	}
	slices.Sort(ids)
	req := wire.ReconcileRequest{}
	for k := range ranges {
		r := wire.Range{From: ids[k*per]}
		if k+1 < ranges {
			r.To = ids[(k+1)*per]
		}
		// The device holds nothing there: every range differs.
		req.Ranges = append(req.Ranges, wire.Fingerprint{Range: r, Hash: strings.Repeat("0", 32)})
	}
	var rr wire.ReconcileResponse
	wantCode(t, "reconcile", d.do(t, "POST", "/v1/reconcile", req, &rr), 200, "")
	if len(rr.Ranges) != ranges {
		t.Fatalf("%d answers for %d ranges", len(rr.Ranges), ranges)
	}
	items := 0
	for i, a := range rr.Ranges {
		if !a.Have || len(a.Items) != per || len(a.Split) != 0 {
			t.Fatalf("range %d: have %v, %d items, %d sub-ranges; want its %d items", i, a.Have, len(a.Items), len(a.Split), per)
		}
		for k, it := range a.Items {
			if it.ID != ids[i*per+k] {
				t.Fatalf("range %d item %d: %s, want %s", i, k, it.ID, ids[i*per+k])
			}
		}
		items += len(a.Items)
	}
	if items <= wire.MaxReconcileItems {
		t.Fatalf("the test needs more than %d items in the answer, has %d", wire.MaxReconcileItems, items)
	}
}
