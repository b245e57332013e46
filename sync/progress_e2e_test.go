package sync_test

import (
	"context"
	"fmt"
	"path/filepath"
	gosync "sync"
	"testing"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
)

// A device receiving many records shows how far it is and how fast it goes: by pull
// pages when it synced before, by fetched batches on its first sync (a reconcile).
func TestReceiveProgress(t *testing.T) {
	c := newCluster(t)
	a := c.addDevice("ann")
	b := c.addDevice("bob") // synced once, with nothing to receive
	const n = 2500          // three pages of wire.DefaultPullLimit
	for i := range n {
		a.save(t, "", map[string]string{"site": fmt.Sprintf(`"site %d"`, i)})
	}
	a.sync(t)

	watch := func(rep *sync.Replicator) func() []sync.Progress {
		var mu gosync.Mutex
		var seen []sync.Progress
		stop := rep.Subscribe(func(s sync.Status) {
			if s.Progress != nil && s.Progress.What == "receiving records" {
				mu.Lock()
				seen = append(seen, *s.Progress)
				mu.Unlock()
			}
		})
		return func() []sync.Progress {
			stop()
			mu.Lock()
			defer mu.Unlock()
			return seen
		}
	}
	check := func(who string, seen []sync.Progress, done ...int) {
		t.Helper()
		if len(seen) != len(done) {
			t.Fatalf("%s: progress shown %d times, want %d: %+v", who, len(seen), len(done), seen)
		}
		for i, p := range seen {
			if p.Done != done[i] || p.Total != n || p.Rate <= 0 {
				t.Errorf("%s: progress %d: %+v; want %d of %d received, with a rate", who, i, p, done[i], n)
			}
		}
	}

	// Pull pages: after the first and the second of three.
	seen := watch(b.rep)
	b.sync(t)
	check("pull", seen(), 1000, 2000)
	if s := b.rep.Status(); s.Progress != nil {
		t.Errorf("after the sync the status still shows progress: %+v", *s.Progress)
	}

	// A new device's first sync fetches what the server holds, in one batch here.
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "cid"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	code, err := c.srv.NewEnrolment(ctx, tenantName, "cid", false, c.url())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := sync.Enroll(ctx, code, st.Device(), "cid", sync.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sync.SaveCredential(ctx, st, cred); err != nil {
		t.Fatal(err)
	}
	rep := sync.New(st, sync.Options{})
	seen = watch(rep)
	if _, err := rep.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Count(ctx); got != n {
		t.Fatalf("cid holds %d records, want %d", got, n)
	}
	check("first sync", seen(), n)
}
