package sync_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"testing"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// wireTap sits between a device and the server: it counts the records pulls bring
// and the cursors push answers carry, and, as old, plays a server of the release
// before push answers moved the cursor (the cursor header is not seen, no rev and
// no cursor answered).
type wireTap struct {
	next     http.RoundTripper
	old      bool // answers as a server of the earlier release
	noHeader bool // the push carries no cursor, as from a device of the earlier release

	mu             gosync.Mutex
	pulledRecords  int
	pushCursors    int
	pushes         int
	cursorsSent    int
	pushRevsMissed int
}

func (w *wireTap) RoundTrip(req *http.Request) (*http.Response, error) {
	isPush := strings.HasSuffix(req.URL.Path, "/v1/push")
	if isPush {
		w.mu.Lock()
		w.pushes++
		if req.Header.Get(wire.HeaderCursor) != "" {
			w.cursorsSent++
		}
		w.mu.Unlock()
		if w.old || w.noHeader {
			req = req.Clone(req.Context())
			req.Header.Del(wire.HeaderCursor)
		}
	}
	isPull := strings.HasSuffix(req.URL.Path, "/v1/pull")
	if isPush || isPull {
		// Answers it reads come uncompressed.
		req = req.Clone(req.Context())
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := w.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	if !isPush && !isPull {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case isPull:
		var pr wire.PullResponse
		if err := json.Unmarshal(body, &pr); err != nil {
			return nil, err
		}
		w.pulledRecords += len(pr.Records)
	case isPush:
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, err
		}
		if _, ok := raw["cursor"]; ok {
			w.pushCursors++
		}
		if w.old {
			delete(raw, "cursor")
			var results []map[string]json.RawMessage
			if err := json.Unmarshal(raw["results"], &results); err != nil {
				return nil, err
			}
			for _, r := range results {
				delete(r, "rev")
			}
			raw["results"], _ = json.Marshal(results)
			body, _ = json.Marshal(raw)
		} else {
			var pr wire.PushResponse
			if err := json.Unmarshal(body, &pr); err != nil {
				return nil, err
			}
			for _, r := range pr.Results {
				if r.Status != wire.StatusRejected && r.Rev == "" {
					w.pushRevsMissed++
				}
			}
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// tapped gives a device a replicator whose requests pass through a wireTap.
func tapped(t *testing.T, d *device, old, noHeader bool) *wireTap {
	t.Helper()
	cred, err := sync.LoadCredential(context.Background(), d.st)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sync.TLSConfig(cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &wireTap{next: &http.Transport{TLSClientConfig: cfg}, old: old, noHeader: noHeader}
	d.rep = sync.New(d.st, sync.Options{Client: sync.ClientOptions{Transport: w}})
	return w
}

// TestPushAnswerMovesCursor: after a device pushes its changes, the push's answer
// moves its pull cursor past them, so the pull that follows brings none of its own
// records back; when another device's change or a merge lies in between, the device
// pulls as before; and a device or a server of the earlier release still converges.
func TestPushAnswerMovesCursor(t *testing.T) {
	cases := []struct {
		name string
		// between runs on the other device b after a's saves, before a syncs.
		between   func(t *testing.T, a, b *device, seed string)
		old       bool // a talks to a server of the earlier release
		oldDevice bool // a sends no cursor with its push, as a device of the earlier release
		wantPush  int
		wantPull  int  // records a's sync pulls
		wantMoved bool // a push answer carried a cursor (the device takes it only when it holds every rev)
		wantTotal int
	}{
		{name: "own changes only", wantPush: 20, wantPull: 0, wantMoved: true, wantTotal: 21},
		{name: "another device's change in between", between: func(t *testing.T, a, b *device, seed string) {
			b.save(t, "", map[string]string{"site": `"from b"`})
			b.sync(t)
		}, wantPush: 20, wantPull: 21, wantTotal: 22}, // b's record lies before a's: no cursor, the pull as before
		{name: "a merge with another device's edit", between: func(t *testing.T, a, b *device, seed string) {
			b.save(t, seed, map[string]string{"notes": `"b's note"`})
			b.sync(t)
			a.save(t, seed, map[string]string{"score": "7"})
		}, wantPush: 21, wantPull: 21, wantMoved: true, wantTotal: 21}, // the server's merged rev is not a's: a keeps its cursor
		{name: "server of the earlier release", old: true, wantPush: 20, wantPull: 20, wantTotal: 21},
		{name: "device of the earlier release", oldDevice: true, wantPush: 20, wantPull: 20, wantTotal: 21},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			a, b := c.addDevice("a"), c.addDevice("b")
			// Both have synced once: a's cursor is at the feed's head.
			seed := a.save(t, "", map[string]string{"site": `"seed"`})
			a.sync(t)
			b.sync(t)
			for i := range 20 {
				a.save(t, "", map[string]string{"site": strconv.Quote("site " + strconv.Itoa(i))})
			}
			if tc.between != nil {
				tc.between(t, a, b, seed.ID)
			}
			w := tapped(t, a, tc.old, tc.old || tc.oldDevice)
			rep := a.sync(t)
			if rep.Pushed != tc.wantPush {
				t.Fatalf("pushed %d, want %d", rep.Pushed, tc.wantPush)
			}
			w.mu.Lock()
			pulled, moved, missed := w.pulledRecords, w.pushCursors > 0, w.pushRevsMissed
			w.mu.Unlock()
			if pulled != tc.wantPull {
				t.Fatalf("a's sync pulled %d records, want %d", pulled, tc.wantPull)
			}
			if moved != tc.wantMoved {
				t.Fatalf("a push answer carried a cursor: %v, want %v", moved, tc.wantMoved)
			}
			if missed > 0 && !tc.old {
				t.Fatalf("%d push results without the record's rev", missed)
			}
			b.sync(t)
			a.sync(t)
			c.converged(t, tc.wantTotal)
			// A second sync with nothing new pulls nothing.
			w.mu.Lock()
			w.pulledRecords = 0
			w.mu.Unlock()
			a.sync(t)
			if w.pulledRecords != 0 {
				t.Fatalf("a sync with nothing new pulled %d records", w.pulledRecords)
			}
		})
	}
}

// boltTxID reads the highest transaction ID of a bbolt file's two meta pages (with
// plain reads: the replica stays open): each commit adds one.
func boltTxID(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	for _, off := range []int{0, 4096} {
		// page header (16) + magic, version, page size, flags (16) + root (16) +
		// freelist (8) + high-water mark (8): then the txid.
		if len(b) >= off+72 {
			id = max(id, binary.LittleEndian.Uint64(b[off+64:]))
		}
	}
	return id
}

// TestNoopSyncWritesOnce: a sync with nothing new on either side commits at most
// one small transaction to the replica (its last success), and its journal is not
// written; a cycle that pushes commits what the server acknowledged, the ledger and
// the cursor together.
func TestNoopSyncWritesOnce(t *testing.T) {
	c := newCluster(t)
	a := c.addDevice("a")
	a.save(t, "", map[string]string{"site": `"S-1"`})
	a.sync(t)
	a.sync(t)
	db := filepath.Join(a.dir, store.DBFile)
	journal, err := os.ReadFile(filepath.Join(a.dir, store.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		before := boltTxID(t, db)
		if rep := a.sync(t); !rep.NothingNew() {
			t.Fatalf("sync %d: %+v, want nothing new", i, rep)
		}
		if n := boltTxID(t, db) - before; n > 1 {
			t.Fatalf("a sync with nothing new made %d commits, want at most 1", n)
		}
	}
	if after, err := os.ReadFile(filepath.Join(a.dir, store.JournalFile)); err != nil || !bytes.Equal(after, journal) {
		t.Fatalf("a sync with nothing new wrote the journal (%v)", err)
	}
}
