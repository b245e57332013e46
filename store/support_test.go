package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

// fakeClock is a wall clock that tests move by hand. Stores opened with it stamp
// their edits with its time, so records get known, distinct update times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t.UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t.UTC()
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// clockEpoch is where fake clocks start: a whole millisecond, far from now.
var clockEpoch = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// openReplica opens (or reopens) the replica in dir with the test template, closed at
// the end of the test. A nil clock means the real one.
func openReplica(tb testing.TB, dir, device string, clk *fakeClock) *store.Store {
	tb.Helper()
	opts := store.Options{Device: device}
	if clk != nil {
		opts.Now = clk.Now
	}
	s, err := store.Open(context.Background(), dir, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", dir, err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.PutTemplate(context.Background(), mustTemplate(tb)); err != nil {
		tb.Fatalf("put template: %v", err)
	}
	return s
}

// vals builds form.Values from Go values, each encoded as JSON.
func vals(kv ...any) form.Values {
	if len(kv)%2 != 0 {
		panic("vals: odd number of arguments")
	}
	v := form.Values{}
	for i := 0; i < len(kv); i += 2 {
		b, err := json.Marshal(kv[i+1])
		if err != nil {
			panic(err)
		}
		v[kv[i].(string)] = b
	}
	return v
}

// complete is a full set of values of the inspection template.
func complete(site, inspector, notes string) form.Values {
	return vals("site_code", site, "inspector", inspector, "notes", notes, "ok", true)
}

func mustSave(tb testing.TB, s *store.Store, e store.Edit) form.Record {
	tb.Helper()
	r, err := s.Save(context.Background(), e)
	if err != nil {
		tb.Fatalf("save (record %q, template %s, status %q): %v", e.Record, e.Template, e.Status, err)
	}
	return r
}

func mustGet(tb testing.TB, s *store.Store, id string) form.Record {
	tb.Helper()
	r, err := s.Get(context.Background(), id)
	if err != nil {
		tb.Fatalf("get %s: %v", id, err)
	}
	return r
}

func mustHistory(tb testing.TB, s *store.Store, id string) []store.AuditEntry {
	tb.Helper()
	h, err := s.History(context.Background(), id)
	if err != nil {
		tb.Fatalf("history %s: %v", id, err)
	}
	return h
}

func mustPending(tb testing.TB, s *store.Store) []store.OutboxItem {
	tb.Helper()
	p, err := s.Pending(context.Background(), 0, 0)
	if err != nil {
		tb.Fatalf("pending: %v", err)
	}
	return p
}

func pendingChanges(tb testing.TB, s *store.Store) []form.Change {
	tb.Helper()
	var out []form.Change
	for _, it := range mustPending(tb, s) {
		out = append(out, it.Change)
	}
	return out
}

func mustApplyChanges(tb testing.TB, s *store.Store, chs []form.Change) []store.Result {
	tb.Helper()
	res, err := s.ApplyChanges(context.Background(), chs)
	if err != nil {
		tb.Fatalf("apply changes: %v", err)
	}
	return res
}

func mustVerify(tb testing.TB, s *store.Store) store.Report {
	tb.Helper()
	rep, err := s.Verify(context.Background())
	if err != nil || !rep.OK() {
		tb.Fatalf("verify: %+v %v", rep, err)
	}
	return rep
}

// replicaState is everything a rejected call must leave as it was.
type replicaState struct {
	Count, Pending, Dead, Audit, Live, Deleted, All int
	LastHash                                        string
	Revs                                            []store.RecordRev
	Attachments                                     int
}

func stateOf(tb testing.TB, s *store.Store) replicaState {
	tb.Helper()
	ctx := context.Background()
	var st replicaState
	var err error
	check := func(e error) {
		if e != nil && err == nil {
			err = e
		}
	}
	st.Count, err = s.Count(ctx)
	n, e := s.PendingCount(ctx)
	check(e)
	st.Pending = n
	dl, e := s.DeadLetters(ctx)
	check(e)
	st.Dead = len(dl)
	audit, e := s.Audit(ctx, 0, 0)
	check(e)
	st.Audit = len(audit)
	if len(audit) > 0 {
		st.LastHash = audit[len(audit)-1].Hash
	}
	for _, q := range []struct {
		d   store.DeletedFilter
		dst *int
	}{{store.LiveOnly, &st.Live}, {store.DeletedOnly, &st.Deleted}, {store.LiveAndDeleted, &st.All}} {
		p, e := s.Search(ctx, store.Query{Deleted: q.d})
		check(e)
		*q.dst = p.Total
	}
	st.Revs, e = s.Revs(ctx, "", "")
	check(e)
	att, e := s.Attachments(ctx, "")
	check(e)
	st.Attachments = len(att)
	if err != nil {
		tb.Fatalf("state: %v", err)
	}
	return st
}

func sameState(a, b replicaState) bool {
	if a.Count != b.Count || a.Pending != b.Pending || a.Dead != b.Dead || a.Audit != b.Audit ||
		a.Live != b.Live || a.Deleted != b.Deleted || a.All != b.All || a.LastHash != b.LastHash ||
		a.Attachments != b.Attachments || len(a.Revs) != len(b.Revs) {
		return false
	}
	for i := range a.Revs {
		if a.Revs[i] != b.Revs[i] {
			return false
		}
	}
	return true
}

// childEnv is the variable that turns a re-executed test binary into a helper
// process; its value says what to do.
const childEnv = "FIELDFORMS_STORE_TEST_CHILD"

// runChild re-executes the test binary to run one Test function as a separate
// process, with extra environment, and returns its standard output.
func runChild(tb testing.TB, test string, timeout time.Duration, env ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), errors.New(err.Error() + ": " + stderr.String())
		}
		return string(out), err
	}
	return string(out), nil
}

func revOf(tb testing.TB, s *store.Store, id string) string {
	tb.Helper()
	r := mustGet(tb, s, id)
	return r.Rev()
}

// copyReplica copies a closed replica's folder.
func copyReplica(tb testing.TB, from, to string) {
	tb.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		tb.Fatalf("copy replica: %v", err)
	}
}
