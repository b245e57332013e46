package server_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// TestReconcile runs the device's side of range reconciliation against the server:
// 1,000 records on both sides, 10 of which differ (edited on the device, only on the
// device, only on the server). After the rounds the device must know exactly those.
func TestReconcile(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")

	local, err := store.Open(ctx, t.TempDir(), store.Options{Device: d.id})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	tpl, err := form.ParseTemplate([]byte(inspection))
	if err != nil {
		t.Fatal(err)
	}
	if err := local.PutTemplate(ctx, tpl); err != nil {
		t.Fatal(err)
	}

	var common []form.Change
	for i := range 1000 {
		common = append(common, d.change(form.NewID(), "Site", i%10))
	}
	resp, a := d.push(t, common...)
	wantCode(t, "push", a, 200, "")
	if resp.Results[999].Status != wire.StatusApplied {
		t.Fatalf("push: %+v", resp.Results[999])
	}
	mustApply(t, local, common...)

	want := map[string]bool{}
	for _, i := range []int{3, 250, 600, 998} { // edited on the device only
		c := d.change(common[i].Record, "Edited", 1)
		c.Created = common[i].Created
		mustApply(t, local, c)
		want[c.Record] = true
	}
	for range 3 { // only on the device
		c := d.change(form.NewID(), "Device only", 2)
		mustApply(t, local, c)
		want[c.Record] = true
	}
	var serverOnly []form.Change
	for range 3 {
		c := d.change(form.NewID(), "Server only", 3)
		serverOnly = append(serverOnly, c)
		want[c.Record] = true
	}
	d.push(t, serverOnly...)

	fp := localFingerprints(t, local, []store.Range{{}})
	pending := fp
	found := map[string]bool{}
	rounds := 0
	var cursor string
	for len(pending) > 0 {
		rounds++
		if rounds > 8 {
			t.Fatalf("still %d ranges to compare after 8 rounds", len(pending))
		}
		var rr wire.ReconcileResponse
		wantCode(t, "reconcile", d.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: pending}, &rr), 200, "")
		if len(rr.Ranges) != len(pending) || rr.Server.Epoch == "" || rr.Cursor == "" {
			t.Fatalf("round %d: %d answers for %d ranges", rounds, len(rr.Ranges), len(pending))
		}
		if cursor == "" {
			cursor = rr.Cursor
		}
		entries := 0
		var next []wire.Fingerprint
		for i, ans := range rr.Ranges {
			if ans.Range != pending[i].Range {
				t.Fatalf("answer %d is for %+v, asked %+v", i, ans.Range, pending[i].Range)
			}
			entries += len(ans.Items) + len(ans.Split)
			switch {
			case ans.Equal:
			case ans.Have:
				revs, err := local.Revs(ctx, ans.From, ans.To)
				if err != nil {
					t.Fatal(err)
				}
				mine := map[string]string{}
				for _, r := range revs {
					mine[r.ID] = r.Rev
				}
				for _, it := range ans.Items {
					if mine[it.ID] != it.Rev {
						found[it.ID] = true
					}
					delete(mine, it.ID)
				}
				for id := range mine {
					found[id] = true
				}
			case len(ans.Split) > 0:
				ranges := make([]store.Range, len(ans.Split))
				for k, s := range ans.Split {
					ranges[k] = store.Range{From: s.From, To: s.To}
				}
				for k, lf := range localFingerprints(t, local, ranges) {
					if lf.Count != ans.Split[k].Count || lf.Hash != ans.Split[k].Hash {
						next = append(next, lf)
					}
				}
			default:
				t.Fatalf("answer %d says nothing: %+v", i, ans)
			}
		}
		if entries > wire.MaxReconcileItems {
			t.Fatalf("round %d: %d entries in the answer, over %d", rounds, entries, wire.MaxReconcileItems)
		}
		pending = next
	}
	if !maps.Equal(found, want) {
		t.Fatalf("the device found %d differing records %v, want the %d %v", len(found), slices.Sorted(maps.Keys(found)), len(want), slices.Sorted(maps.Keys(want)))
	}
	t.Logf("found the %d differences in %d rounds", len(found), rounds)

	// The cursor continues from where the reconcile started.
	var pr wire.PullResponse
	wantCode(t, "pull from the reconcile's cursor", d.do(t, "GET", "/v1/pull?cursor="+cursor, nil, &pr), 200, "")
	if len(pr.Records) != 0 {
		t.Fatalf("%d records after the reconcile's cursor", len(pr.Records))
	}

	t.Run("ErrBadRange", func(t *testing.T) {
		bad := []wire.Fingerprint{{Range: wire.Range{From: "b", To: "a"}, Hash: fp[0].Hash}}
		wantCode(t, "reversed", d.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: bad}, nil), 400, wire.CodeBadRequest)
		bad = []wire.Fingerprint{{Hash: "zz"}}
		wantCode(t, "hash", d.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: bad}, nil), 400, wire.CodeBadRequest)
		many := make([]wire.Fingerprint, wire.MaxReconcileItems+1)
		wantCode(t, "too many", d.do(t, "POST", "/v1/reconcile", wire.ReconcileRequest{Ranges: many}, nil), 413, wire.CodeTooLarge)
	})
}

func mustApply(t *testing.T, s *store.Store, changes ...form.Change) {
	t.Helper()
	res, err := s.ApplyChanges(context.Background(), changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != store.Applied {
			t.Fatalf("local apply: %+v", r)
		}
	}
}

func localFingerprints(t *testing.T, s *store.Store, ranges []store.Range) []wire.Fingerprint {
	t.Helper()
	fps, err := s.Fingerprints(context.Background(), ranges)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]wire.Fingerprint, len(fps))
	for i, f := range fps {
		out[i] = wire.Fingerprint{Range: wire.Range{From: f.From, To: f.To}, Count: f.Count, Hash: f.HashHex()}
	}
	return out
}
