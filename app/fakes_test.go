package app

// Fakes and helpers shared by the UI's tests: an in-memory Replica that really
// stores records (validated by form.Template.Check, so validation errors are
// the real ones), a Sync whose status the test drives, and a stand-in for the
// UI goroutine's queue.

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/assets"
	"github.com/fieldforms/fieldforms/form"
)

// Window sizes the UI is tested at.
var (
	tabletSize   = fyne.NewSize(1024, 768)
	portraitSize = fyne.NewSize(768, 1024)
	desktopSize  = fyne.NewSize(1280, 800)
)

// checklistTemplate is a small template for bulk records: its title is the
// name field, so record i is titled "Form i".
const checklistTemplate = `{"id": "checklist", "version": 1, "name": "Checklist",
  "description": "A short checklist.", "title": ["name"],
  "fields": [
    {"id": "name", "type": "text", "label": "Name"},
    {"id": "area", "type": "choice", "label": "Area", "options": [{"value": "north", "label": "North yard"}, {"value": "south", "label": "South yard"}]},
    {"id": "ok", "type": "yesno", "label": "All in order?", "required": true}
  ]}`

// fakeDevice is the device the fake replica stamps its changes with.
const fakeDevice = "tablet-7"

// fakeReplica is an in-memory Replica. Records are validated and merged as the
// store does it (Check, merge by stamp, CheckComplete on submit); Search
// matches whole words, the last also as a prefix, and sorts newest change
// first. Each change happens one minute after the previous one, starting at
// 2026-03-01 09:30 UTC, unless the test sets the clock with at.
type fakeReplica struct {
	mu        sync.Mutex
	templates []*form.Template
	records   map[string]*fakeRecord
	history   map[string][]HistoryEntry
	files     map[string][]byte
	clock     time.Time
	actor     string
	calls     map[string]int
	queries   []Query // every Page and Search, in order (a Page as its offset and limit)

	// Faults and gates, set by tests (under mu, or before the UI starts).
	readErr  error            // Page and Search fail
	openErr  map[string]error // OpenAttachment of these hashes fails
	openGate chan struct{}    // when set, OpenAttachment waits for it to close
	saveErr  error            // Save, Delete and Restore fail
	histErr  error            // History fails
	exportFn func(w io.Writer) error
	verify   *VerifyReport
	verErr   error
}

type fakeRecord struct {
	rec     form.Record
	updated time.Time
	pending bool
}

var _ Replica = (*fakeReplica)(nil)

// newFakeReplica holds the sample templates from assets and checklistTemplate,
// and no records.
func newFakeReplica(tb testing.TB) *fakeReplica {
	tb.Helper()
	ts, err := assets.Templates()
	if err != nil {
		tb.Fatal(err)
	}
	f := &fakeReplica{records: map[string]*fakeRecord{}, history: map[string][]HistoryEntry{},
		files: map[string][]byte{}, calls: map[string]int{}, actor: "ana",
		clock: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
	f.templates = append(f.templates, ts...)
	f.addTemplate(tb, checklistTemplate)
	return f
}

// addTemplate parses a template and adds it.
func (f *fakeReplica) addTemplate(tb testing.TB, js string) *form.Template {
	tb.Helper()
	t, err := form.ParseTemplate([]byte(js))
	if err != nil {
		tb.Fatal(err)
	}
	f.mu.Lock()
	f.templates = append(f.templates, t)
	f.mu.Unlock()
	return t
}

// at sets the time of the next change.
func (f *fakeReplica) at(t time.Time) {
	f.mu.Lock()
	f.clock = t
	f.mu.Unlock()
}

// mustSave saves an edit and fails the test on error.
func (f *fakeReplica) mustSave(tb testing.TB, e Edit) form.Record {
	tb.Helper()
	r, err := f.Save(context.Background(), e)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// fill adds n checklist records titled "Form 1" (the oldest) to "Form n".
func (f *fakeReplica) fill(tb testing.TB, n int) {
	tb.Helper()
	for i := 1; i <= n; i++ {
		f.mustSave(tb, Edit{Template: form.TemplateKey{ID: "checklist"}, Values: values(tb, map[string]any{"name": fmt.Sprintf("Form %d", i)})})
	}
}

// values turns Go values into form.Values.
func values(tb testing.TB, m map[string]any) form.Values {
	tb.Helper()
	v := form.Values{}
	for k, x := range m {
		b, err := json.Marshal(x)
		if err != nil {
			tb.Fatal(err)
		}
		v[k] = b
	}
	return v
}

// setPending marks a record as having changes the server lacks.
func (f *fakeReplica) setPending(id string, pending bool) {
	f.mu.Lock()
	f.records[id].pending = pending
	f.mu.Unlock()
}

// addFile stores attachment bytes, as AddAttachment does.
func (f *fakeReplica) addFile(tb testing.TB, data []byte, mediaType, name string) form.Attachment {
	tb.Helper()
	a, err := f.AddAttachment(context.Background(), bytes.NewReader(data), mediaType, name)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// callCount returns how often a method was called.
func (f *fakeReplica) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// readQueries returns every Page and Search query so far.
func (f *fakeReplica) readQueries() []Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// readOffsets returns the offset of every Page and Search so far.
func (f *fakeReplica) readOffsets() []int {
	var out []int
	for _, q := range f.readQueries() {
		out = append(out, q.Offset)
	}
	return out
}

func (f *fakeReplica) call(method string) {
	f.calls[method]++
}

func (f *fakeReplica) Page(ctx context.Context, offset, limit int) ([]RecordSummary, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Page")
	return f.search(Query{Offset: offset, Limit: limit})
}

func (f *fakeReplica) Search(ctx context.Context, q Query) ([]RecordSummary, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Search")
	return f.search(q)
}

func (f *fakeReplica) search(q Query) ([]RecordSummary, int, error) {
	f.queries = append(f.queries, q)
	if f.readErr != nil {
		return nil, 0, f.readErr
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Offset < 0 || q.Limit < 0 || q.Limit > 1000 {
		return nil, 0, fmt.Errorf("search: bad offset %d or limit %d", q.Offset, q.Limit)
	}
	words := strings.Fields(strings.ToLower(q.Text))
	var hits []*fakeRecord
	for _, r := range f.records {
		switch del := r.rec.Deleted(); {
		case q.Deleted == LiveOnly && del, q.Deleted == DeletedOnly && !del:
			continue
		}
		if q.Template != "" && r.rec.Template != q.Template ||
			q.Status != "" && r.rec.Status() != q.Status ||
			!q.From.IsZero() && r.updated.Before(q.From) ||
			!q.To.IsZero() && !r.updated.Before(q.To) ||
			!matches(r.rec, words) {
			continue
		}
		hits = append(hits, r)
	}
	slices.SortFunc(hits, func(a, b *fakeRecord) int {
		if c := b.updated.Compare(a.updated); c != 0 {
			return c
		}
		return strings.Compare(b.rec.ID, a.rec.ID)
	})
	total := len(hits)
	hits = hits[min(q.Offset, total):min(q.Offset+q.Limit, total)]
	out := make([]RecordSummary, len(hits))
	for i, r := range hits {
		out[i] = f.summary(r)
	}
	return out, total, nil
}

// matches reports whether every word occurs in the record's values, the last
// word also as a prefix.
func matches(r form.Record, words []string) bool {
	if len(words) == 0 {
		return true
	}
	var have []string
	for _, v := range r.Values() {
		have = append(have, strings.FieldsFunc(strings.ToLower(form.DisplayValue(v)), func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c > 127)
		})...)
	}
	for i, w := range words {
		found := false
		for _, h := range have {
			if h == w || i == len(words)-1 && strings.HasPrefix(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (f *fakeReplica) summary(r *fakeRecord) RecordSummary {
	s := RecordSummary{ID: r.rec.ID, Template: r.rec.Template, Status: r.rec.Status(), Deleted: r.rec.Deleted(),
		Updated: r.updated, Pending: r.pending}
	if t, err := f.template(form.TemplateKey{ID: r.rec.Template, Version: r.rec.Version}); err == nil {
		s.TemplateName, s.Title = t.Name, t.RecordTitle(r.rec.Values())
	}
	return s
}

func (f *fakeReplica) Get(ctx context.Context, id string) (form.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Get")
	r, ok := f.records[id]
	if !ok {
		return form.Record{}, fmt.Errorf("get %s: not found", id)
	}
	return r.rec.Clone(), nil
}

func (f *fakeReplica) Templates() []*form.Template {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.templates)
}

func (f *fakeReplica) Template(k form.TemplateKey) (*form.Template, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.template(k)
}

func (f *fakeReplica) template(k form.TemplateKey) (*form.Template, error) {
	var found *form.Template
	for _, t := range f.templates {
		if t.ID == k.ID && (t.Version == k.Version || k.Version == 0 && (found == nil || t.Version > found.Version)) {
			found = t
		}
	}
	if found == nil {
		return nil, fmt.Errorf("template %s: unknown template", k)
	}
	return found, nil
}

// tick returns the time and stamp of a new change.
func (f *fakeReplica) tick() (time.Time, form.Stamp) {
	t := f.clock
	f.clock = f.clock.Add(time.Minute)
	return t, form.Stamp{HLC: form.NewHLC(t.UnixMilli(), 0), Device: fakeDevice}
}

func (f *fakeReplica) Save(ctx context.Context, e Edit) (form.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Save")
	if f.saveErr != nil {
		return form.Record{}, f.saveErr
	}
	var cur form.Record
	var tpl *form.Template
	var err error
	isNew := e.Record == ""
	if isNew {
		if tpl, err = f.template(e.Template); err != nil {
			return form.Record{}, fmt.Errorf("save: %w", err)
		}
		cur = form.Record{ID: form.NewID(), Template: tpl.ID, Version: tpl.Version}
	} else {
		r, ok := f.records[e.Record]
		if !ok {
			return form.Record{}, fmt.Errorf("save %s: not found", e.Record)
		}
		if cur = r.rec.Clone(); cur.Deleted() {
			return form.Record{}, fmt.Errorf("save %s: deleted; restore it first", e.Record)
		}
		if tpl, err = f.template(form.TemplateKey{ID: cur.Template, Version: cur.Version}); err != nil {
			return form.Record{}, err
		}
	}
	if e.Status != "" && e.Status != form.StatusDraft && e.Status != form.StatusSubmitted {
		return form.Record{}, fmt.Errorf("save: bad status %q", e.Status)
	}
	vals, err := tpl.Check(e.Values)
	if err != nil {
		return form.Record{}, fmt.Errorf("save: %w", err)
	}
	for id, v := range vals {
		if err := f.checkFilesKnown(tpl, id, v); err != nil {
			return form.Record{}, fmt.Errorf("save: %w", err)
		}
	}
	set := map[string]json.RawMessage{}
	for id, v := range vals {
		old, had := cur.Fields[id]
		if !had && string(v) == "null" {
			continue
		}
		if !bytes.Equal(old.Value, v) {
			set[id] = v
		}
	}
	action := "edit"
	switch {
	case isNew:
		action = "create"
		if e.Status == "" {
			e.Status = form.StatusDraft
		}
	case e.Status == form.StatusSubmitted && cur.Status() != form.StatusSubmitted:
		action = "submit"
	}
	if e.Status != "" && (isNew || e.Status != cur.Status()) {
		set[form.FieldStatus] = json.RawMessage(`"` + e.Status + `"`)
	}
	return f.commit(cur, tpl, set, action, isNew)
}

// checkFilesKnown refuses attachments whose bytes were never added, as the
// store does.
func (f *fakeReplica) checkFilesKnown(tpl *form.Template, id string, v json.RawMessage) error {
	fld, ok := tpl.Field(id)
	if !ok || form.IsEmpty(v) {
		return nil
	}
	var as []form.Attachment
	switch fld.Type {
	case form.TypeSignature:
		var a form.Attachment
		if err := json.Unmarshal(v, &a); err != nil {
			return err
		}
		as = []form.Attachment{a}
	case form.TypePhoto, form.TypeFile:
		if err := json.Unmarshal(v, &as); err != nil {
			return err
		}
	}
	for _, a := range as {
		if _, ok := f.files[a.SHA256]; !ok {
			return fmt.Errorf("field %q: attachment %s is not on this device", id, a.SHA256)
		}
	}
	return nil
}

// commit stamps, merges and records the change, with its history entry.
func (f *fakeReplica) commit(cur form.Record, tpl *form.Template, set map[string]json.RawMessage, action string, isNew bool) (form.Record, error) {
	if len(set) == 0 {
		return cur, nil
	}
	now, stamp := f.tick()
	in := form.Record{ID: cur.ID, Template: cur.Template, Version: cur.Version, Created: cur.Created, CreatedBy: cur.CreatedBy, Fields: map[string]form.FieldValue{}}
	if isNew {
		in.Created, in.CreatedBy = stamp, f.actor
	}
	for id, v := range set {
		in.Fields[id] = form.FieldValue{Value: v, Stamp: stamp}
	}
	next := cur.Clone()
	if isNew {
		next.Created, next.CreatedBy = stamp, f.actor
	}
	changed, _, err := next.Merge(in)
	if err != nil {
		return form.Record{}, err
	}
	if tpl != nil && next.Status() == form.StatusSubmitted && !next.Deleted() {
		if err := tpl.CheckComplete(next.Values()); err != nil {
			return form.Record{}, fmt.Errorf("submit %s: %w", cur.ID, err)
		}
	}
	entry := HistoryEntry{Time: now, Actor: f.actor, Device: fakeDevice, Action: action}
	for _, d := range changed {
		entry.Changes = append(entry.Changes, FieldChange{Field: d.Field, Old: form.DisplayValue(d.Old), New: form.DisplayValue(d.New)})
	}
	slices.SortFunc(entry.Changes, func(a, b FieldChange) int { return strings.Compare(a.Field, b.Field) })
	f.history[next.ID] = append(f.history[next.ID], entry)
	r := f.records[next.ID]
	if r == nil {
		r = &fakeRecord{}
		f.records[next.ID] = r
	}
	r.rec, r.updated = next, now
	return next.Clone(), nil
}

func (f *fakeReplica) Delete(ctx context.Context, id string) (form.Record, error) {
	return f.setDeleted(id, true)
}

func (f *fakeReplica) Restore(ctx context.Context, id string) (form.Record, error) {
	return f.setDeleted(id, false)
}

func (f *fakeReplica) setDeleted(id string, del bool) (form.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	verb := map[bool]string{true: "Delete", false: "Restore"}[del]
	f.call(verb)
	if f.saveErr != nil {
		return form.Record{}, f.saveErr
	}
	r, ok := f.records[id]
	if !ok {
		return form.Record{}, fmt.Errorf("%s %s: not found", strings.ToLower(verb), id)
	}
	if r.rec.Deleted() == del {
		return r.rec.Clone(), nil
	}
	return f.commit(r.rec.Clone(), nil, map[string]json.RawMessage{form.FieldDeleted: json.RawMessage(fmt.Sprint(del))}, strings.ToLower(verb), false)
}

func (f *fakeReplica) History(ctx context.Context, id string) ([]HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("History")
	if f.histErr != nil {
		return nil, f.histErr
	}
	return slices.Clone(f.history[id]), nil
}

func (f *fakeReplica) AddAttachment(ctx context.Context, r io.Reader, mediaType, name string) (form.Attachment, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return form.Attachment{}, err
	}
	sum := sha256.Sum256(data)
	a := form.Attachment{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Type: mediaType, Name: name}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("AddAttachment")
	f.files[a.SHA256] = data
	return a, nil
}

// errNotDownloaded is what the fake's OpenAttachment says of bytes it lacks,
// like a device that is offline.
var errNotDownloaded = errors.New("not on this device, and the server is not reachable")

func (f *fakeReplica) OpenAttachment(ctx context.Context, sha string) (io.ReadCloser, error) {
	f.mu.Lock()
	f.call("OpenAttachment")
	gate := f.openGate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.openErr[sha]; err != nil {
		return nil, err
	}
	data, ok := f.files[sha]
	if !ok {
		return nil, errNotDownloaded
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Export writes a ZIP of every record as JSON and every attachment, or runs
// exportFn when the test set it.
func (f *fakeReplica) Export(ctx context.Context, w io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Export")
	if f.exportFn != nil {
		return f.exportFn(w)
	}
	z := zip.NewWriter(w)
	recs, err := z.Create("records.json")
	if err != nil {
		return err
	}
	var all []form.Record
	for _, id := range slices.Sorted(maps.Keys(f.records)) {
		all = append(all, f.records[id].rec)
	}
	if err := json.NewEncoder(recs).Encode(all); err != nil {
		return err
	}
	for _, sha := range slices.Sorted(maps.Keys(f.files)) {
		fw, err := z.Create("attachments/" + sha)
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.files[sha]); err != nil {
			return err
		}
	}
	return z.Close()
}

func (f *fakeReplica) Verify(ctx context.Context) (VerifyReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call("Verify")
	if f.verify != nil || f.verErr != nil {
		var rep VerifyReport
		if f.verify != nil {
			rep = *f.verify
		}
		return rep, f.verErr
	}
	n := 0
	for _, h := range f.history {
		n += len(h)
	}
	return VerifyReport{Records: len(f.records), AuditEntries: n}, nil
}

// fakeSync is a Sync whose status the test sets with publish; the calls it
// gets are counted.
type fakeSync struct {
	mu      sync.Mutex
	status  SyncStatus
	subs    map[int]func(SyncStatus)
	nextSub int
	calls   map[string]int

	enrollErr  error
	enrolled   []string // "code|name" of every Enroll
	dead       []DeadLetter
	retryErr   map[uint64]error
	reseed     []SyncStatus  // published, in order, by Reseed
	reseedGate chan struct{} // when set, Reseed waits for it after publishing reseed
	reseedErr  error
}

var _ Sync = (*fakeSync)(nil)

func newFakeSync(st SyncStatus) *fakeSync {
	return &fakeSync{status: st, subs: map[int]func(SyncStatus){}, calls: map[string]int{}, retryErr: map[uint64]error{}}
}

// publish sets the status and tells every subscriber, on the caller's
// goroutine.
func (s *fakeSync) publish(st SyncStatus) {
	s.mu.Lock()
	s.status = st
	subs := slices.Collect(maps.Values(s.subs))
	s.mu.Unlock()
	for _, fn := range subs {
		fn(st)
	}
}

func (s *fakeSync) callCount(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *fakeSync) call(method string) {
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
}

func (s *fakeSync) Status() SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["Status"]++
	return s.status
}

func (s *fakeSync) Subscribe(fn func(SyncStatus)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["Subscribe"]++
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		delete(s.subs, id)
		s.mu.Unlock()
	}
}

// subscribers says how many subscriptions are live.
func (s *fakeSync) subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

func (s *fakeSync) Wake()   { s.call("Wake") }
func (s *fakeSync) Pause()  { s.call("Pause") }
func (s *fakeSync) Resume() { s.call("Resume") }

func (s *fakeSync) Enroll(ctx context.Context, code, deviceName string) error {
	s.mu.Lock()
	s.calls["Enroll"]++
	s.enrolled = append(s.enrolled, code+"|"+deviceName)
	err := s.enrollErr
	s.mu.Unlock()
	return err
}

func (s *fakeSync) Reseed(ctx context.Context) error {
	s.call("Reseed")
	s.mu.Lock()
	steps, gate, err := s.reseed, s.reseedGate, s.reseedErr
	s.mu.Unlock()
	for _, st := range steps {
		s.publish(st)
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (s *fakeSync) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["DeadLetters"]++
	return slices.Clone(s.dead), nil
}

func (s *fakeSync) RetryDeadLetter(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["RetryDeadLetter"]++
	if err := s.retryErr[seq]; err != nil {
		return err
	}
	s.dead = slices.DeleteFunc(s.dead, func(d DeadLetter) bool { return d.Seq == seq })
	s.status.DeadLetters = len(s.dead)
	return nil
}

// uiQueue stands in for the UI goroutine's queue: background work posts its
// answers to it, and the test runs them on its own goroutine, which plays the
// UI goroutine. (Fyne's test driver would run fyne.Do at once on the posting
// goroutine, alongside the test's own calls into the widgets.)
type uiQueue chan func()

func (q uiQueue) post(fn func()) { q <- fn }

// settle runs the answers of background work, and of the work those set off,
// until no work is left. Work blocked on a gate would make it wait forever;
// use until for that.
func (q uiQueue) settle(u *ui) {
	for {
		u.work.Wait()
		select {
		case fn := <-q:
			fn()
		default:
			return
		}
	}
}

// until runs answers as they come until cond holds, and fails the test if it
// does not within five seconds.
func (q uiQueue) until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case fn := <-q:
			fn()
		case <-deadline:
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// testUI is a ui whose answers go to a uiQueue, whose tickers never tick, and
// whose clock reads 2026-03-01 12:00 UTC.
func testUI(tb testing.TB, ctx context.Context) (*ui, uiQueue) {
	q := make(uiQueue, 10_000)
	u := &ui{ctx: ctx, log: testLogger(tb), do: q.post,
		now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }}
	u.every = func(time.Duration, func()) func() { return func() {} }
	return u, q
}

// testEnv is an env for a test window, with a testUI. saveFile hands over
// the writer the test puts in saved (nil: the person cancelled).
type testSaver struct {
	names []string
	next  fyne.URIWriteCloser
}

func testEnv(t *testing.T, a fyne.App, w fyne.Window, d Deps) (*env, uiQueue, *testSaver) {
	u, q := testUI(t, t.Context())
	e := &env{ui: u, app: a, w: w, d: d}
	s := &testSaver{}
	e.saveFile = func(name string, use func(fyne.URIWriteCloser)) {
		s.names = append(s.names, name)
		if s.next != nil {
			use(s.next)
		}
	}
	return e, q, s
}

// memWriter is a fyne.URIWriteCloser that keeps what is written in memory.
type memWriter struct {
	bytes.Buffer
	name   string
	closed bool
}

func (m *memWriter) Close() error { m.closed = true; return nil }
func (m *memWriter) URI() fyne.URI {
	return &memURI{name: m.name}
}

// memURI is the URI of a memWriter: only its name matters.
type memURI struct {
	fyne.URI
	name string
}

func (u *memURI) Name() string { return u.name }

// testMain shows a main view in a test window of the given size and settles
// its first reads.
func testMain(t *testing.T, d Deps, size fyne.Size) (*mainView, uiQueue, *testSaver) {
	t.Helper()
	a := test.NewTempApp(t)
	w := a.NewWindow("Fieldforms")
	t.Cleanup(w.Close)
	e, q, s := testEnv(t, a, w, d)
	v := newMainView(e)
	w.SetContent(v.content)
	w.Resize(size)
	q.settle(e.ui)
	return v, q, s
}

// testLogger sends log lines to the test's output.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), nil))
}

// walkShown calls fn for o and every visible object inside it, through the
// renderers the canvas already uses.
func walkShown(o fyne.CanvasObject, fn func(fyne.CanvasObject)) {
	if o == nil || !o.Visible() {
		return
	}
	fn(o)
	switch o := o.(type) {
	case *fyne.Container:
		for _, c := range o.Objects {
			walkShown(c, fn)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(o).Objects() {
			walkShown(c, fn)
		}
	}
}

// shownTexts returns the text of every visible label under o, in tree order.
func shownTexts(o fyne.CanvasObject) []string {
	var out []string
	walkShown(o, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok && l.Text != "" {
			out = append(out, l.Text)
		}
	})
	return out
}

// overlayTexts returns the texts shown in the window's top overlay (a dialog).
func overlayTexts(w fyne.Window) []string {
	top := w.Canvas().Overlays().Top()
	if top == nil {
		return nil
	}
	var out []string
	walkShown(top, func(o fyne.CanvasObject) {
		switch o := o.(type) {
		case *widget.Label:
			out = append(out, o.Text)
		case *widget.RichText:
			out = append(out, o.String())
		}
	})
	return out
}

// findButton returns the visible, enabled button under o whose text is text.
func findButton(tb testing.TB, o fyne.CanvasObject, text string) *widget.Button {
	tb.Helper()
	var found *widget.Button
	var seen []string
	walkShown(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok {
			seen = append(seen, b.Text)
			if b.Text == text && found == nil {
				found = b
			}
		}
	})
	if found == nil {
		tb.Fatalf("no button %q shown; buttons: %q", text, seen)
	}
	return found
}

// tapOverlayButton taps a button of the dialog on top of the window.
func tapOverlayButton(tb testing.TB, w fyne.Window, text string) {
	tb.Helper()
	top := w.Canvas().Overlays().Top()
	if top == nil {
		tb.Fatalf("no dialog shown to tap %q in", text)
	}
	test.Tap(findButton(tb, top, text))
}

// containsText reports whether some text contains sub.
func containsText(texts []string, sub string) bool {
	return slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, sub) })
}

// mustTime parses an RFC 3339 time.
func mustTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// pngBytes is a w×h PNG image.
func pngBytes(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, h/2, color.Black)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
