package app

import (
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
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/assets"
	"github.com/fieldforms/fieldforms/form"
)

// formFakeReplica keeps records and attachments in memory and saves as the store
// does: values checked with Template.Check, then applied by the form engine
// (defaults of a new record, counts, calculations), a submitted record checked
// with Form.Check; edits of deleted records are refused.
type formFakeReplica struct {
	Replica // methods the form screen does not use; calling one panics

	mu          sync.Mutex
	templates   []*form.Template
	records     map[string]form.Record
	attachments map[string][]byte
	saves       []Edit        // every Save asked for, in order
	added       int           // AddAttachment calls
	saveErr     error         // returned by the next Save, once
	openErr     error         // returned by OpenAttachment
	block       chan struct{} // when set, Save waits for it
}

func newFormFakeReplica(t *testing.T) *formFakeReplica {
	t.Helper()
	ts, err := assets.Templates()
	if err != nil {
		t.Fatal(err)
	}
	return &formFakeReplica{templates: ts, records: map[string]form.Record{}, attachments: map[string][]byte{}}
}

func (f *formFakeReplica) Templates() []*form.Template { return f.templates }

func (f *formFakeReplica) Template(k form.TemplateKey) (*form.Template, error) {
	var best *form.Template
	for _, t := range f.templates {
		if t.ID == k.ID && (t.Version == k.Version || k.Version == 0 && (best == nil || t.Version > best.Version)) {
			best = t
		}
	}
	if best == nil {
		return nil, fmt.Errorf("template %s: not found", k)
	}
	return best, nil
}

func (f *formFakeReplica) Get(_ context.Context, id string) (form.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.records[id]
	if !ok {
		return form.Record{}, fmt.Errorf("record %s: not found", id)
	}
	return r.Clone(), nil
}

func (f *formFakeReplica) Save(_ context.Context, e Edit) (form.Record, error) {
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e.Values = maps.Clone(e.Values)
	f.saves = append(f.saves, e)
	if err := f.saveErr; err != nil {
		f.saveErr = nil
		return form.Record{}, err
	}
	var rec form.Record
	var tpl *form.Template
	var err error
	if e.Record == "" {
		if tpl, err = f.Template(e.Template); err != nil {
			return form.Record{}, err
		}
		rec = form.Record{ID: form.NewID(), Template: tpl.ID, Version: tpl.Version, Fields: map[string]form.FieldValue{}}
		if e.Status == "" {
			e.Status = form.StatusDraft
		}
	} else {
		cur, ok := f.records[e.Record]
		if !ok {
			return form.Record{}, fmt.Errorf("save %s: not found", e.Record)
		}
		if cur.Deleted() {
			return form.Record{}, fmt.Errorf("save %s: deleted; restore it first", e.Record)
		}
		rec = cur.Clone()
		if tpl, err = f.Template(form.TemplateKey{ID: rec.Template, Version: rec.Version}); err != nil {
			return form.Record{}, err
		}
	}
	vals, err := tpl.Check(e.Values)
	if err != nil {
		return form.Record{}, fmt.Errorf("save: %w", err)
	}
	for id, v := range vals {
		var list []form.Attachment
		switch f, _ := tpl.Field(id); f.Type {
		case form.TypeSignature:
			var a *form.Attachment
			_ = json.Unmarshal(v, &a)
			if a != nil {
				list = []form.Attachment{*a}
			}
		case form.TypePhoto, form.TypeFile, form.TypeAudio, form.TypeVideo:
			_ = json.Unmarshal(v, &list)
		}
		for _, a := range list {
			if _, ok := f.attachments[a.SHA256]; !ok {
				return form.Record{}, fmt.Errorf("save: field %q: attachment %s is not on this device", id, a.SHA256)
			}
		}
	}
	// As the store does: the form engine applies the edit and what follows
	// from it (a new record's defaults, counts, calculations).
	fm := tpl.NewForm(rec.Values(), form.Context{})
	if e.Record == "" {
		fm.Start()
	}
	if err := fm.SetAll(vals); err != nil {
		return form.Record{}, fmt.Errorf("save: %w", err)
	}
	for id, v := range fm.Changes() {
		rec.Fields[id] = form.FieldValue{Value: v}
	}
	if e.Status != "" {
		rec.Fields[form.FieldStatus] = form.FieldValue{Value: fieldJSON(e.Status)}
	}
	if rec.Status() == form.StatusSubmitted {
		if err := tpl.NewForm(rec.Values(), form.Context{}).Check(); err != nil {
			return form.Record{}, fmt.Errorf("submit %s: %w", rec.ID, err)
		}
	}
	f.records[rec.ID] = rec
	return rec.Clone(), nil
}

func (f *formFakeReplica) AddAttachment(_ context.Context, r io.Reader, mediaType, name string) (form.Attachment, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return form.Attachment{}, err
	}
	sum := sha256.Sum256(data)
	a := form.Attachment{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Type: mediaType, Name: name}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added++
	f.attachments[a.SHA256] = data
	return a, nil
}

func (f *formFakeReplica) OpenAttachment(_ context.Context, sha string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.openErr != nil {
		return nil, f.openErr
	}
	data, ok := f.attachments[sha]
	if !ok {
		return nil, errors.New("not on this device, and the server cannot be reached")
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// savesSoFar returns the saves asked for so far.
func (f *formFakeReplica) savesSoFar() []Edit {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.saves)
}

func (f *formFakeReplica) record(t *testing.T, id string) *form.Record {
	t.Helper()
	r, err := f.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

// put stores a record as it would have been saved before, and returns its ID.
func (f *formFakeReplica) put(t *testing.T, tplID string, status string, values map[string]string) string {
	t.Helper()
	vals := form.Values{}
	for k, v := range values {
		vals[k] = json.RawMessage(v)
	}
	rec, err := f.Save(context.Background(), Edit{Template: form.TemplateKey{ID: tplID}, Values: vals, Status: status})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.saves = nil
	f.mu.Unlock()
	return rec.ID
}

// formFakeClock runs the debounce timer when the test says so.
type formFakeClock struct {
	timers []*formFakeTimer
}

type formFakeTimer struct {
	d       time.Duration
	fn      func()
	stopped bool
}

func (c *formFakeClock) after(d time.Duration, fn func()) func() {
	t := &formFakeTimer{d: d, fn: fn}
	c.timers = append(c.timers, t)
	return func() { t.stopped = true }
}

// pending returns the timers neither fired nor stopped.
func (c *formFakeClock) pending() []*formFakeTimer {
	var out []*formFakeTimer
	for _, t := range c.timers {
		if !t.stopped {
			out = append(out, t)
		}
	}
	return out
}

// fire runs the pending timers, as if their time had come.
func (c *formFakeClock) fire() {
	for _, t := range c.pending() {
		t.stopped = true
		t.fn()
	}
}

// formFakeFile is what the file dialog hands over.
type formFakeFile struct {
	io.Reader
	uri    fyne.URI
	closed bool
}

func (f *formFakeFile) URI() fyne.URI { return f.uri }
func (f *formFakeFile) Close() error  { f.closed = true; return nil }

// formHarness is a form screen in a test window, with its background work run
// on the test goroutine, which plays the UI goroutine.
type formHarness struct {
	t     *testing.T
	v     *formView
	r     *formFakeReplica
	w     fyne.Window
	q     chan func()
	clock *formFakeClock
	done  []string
	// file is what the fake file dialog hands over: nil cancels.
	file      fyne.URIReadCloser
	picks     int
	confirms  []string
	confirmOK bool
}

var (
	formTestNow  = time.Date(2026, 3, 2, 14, 30, 0, 0, formTestZone)
	formTestZone = time.FixedZone("CET", 3600)
)

// openForm opens the form screen on target in a test window; with changes to
// its seams, if any.
func openForm(t *testing.T, r *formFakeReplica, target FormTarget, with ...func(*formSeams)) *formHarness {
	t.Helper()
	test.NewTempApp(t)
	h := &formHarness{t: t, r: r, q: make(chan func(), 1000), clock: &formFakeClock{}, confirmOK: true}
	h.w = test.NewTempWindow(t, widget.NewLabel(""))
	seams := formSeams{
		toUI:  func(fn func()) { h.q <- fn },
		after: h.clock.after,
		now:   func() time.Time { return formTestNow },
		loc:   formTestZone,
		pickFile: func(_ storage.FileFilter, picked func(fyne.URIReadCloser, error)) {
			h.picks++
			picked(h.file, nil)
		},
		confirm: func(title, _, _ string, ok func()) {
			h.confirms = append(h.confirms, title)
			if h.confirmOK {
				ok()
			}
		},
	}
	for _, w := range with {
		w(&seams)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	h.v = newFormView(t.Context(), h.w, Deps{Replica: r, Logger: log}, target, func(id string) { h.done = append(h.done, id) }, seams)
	h.w.SetContent(h.v.root)
	h.w.Resize(fyne.NewSize(1024, 768))
	h.settle()
	return h
}

// settle hands the answers of background work to the screen, and of the work those
// set off, until none is left.
func (h *formHarness) settle() {
	for {
		h.v.work.Wait()
		select {
		case fn := <-h.q:
			fn()
		default:
			return
		}
	}
}

// autosave lets the debounce timer fire and the save it starts finish.
func (h *formHarness) autosave() {
	h.t.Helper()
	if len(h.clock.pending()) == 0 {
		h.t.Fatal("no autosave is scheduled")
	}
	h.clock.fire()
	h.settle()
}

func (h *formHarness) row(id string) *formRow {
	h.t.Helper()
	r, ok := h.v.byID[id]
	if !ok {
		h.t.Fatalf("no field %q on screen", id)
	}
	return r
}

// entry returns the text entry of a text or number field.
func (h *formHarness) entry(id string) *formEntry {
	h.t.Helper()
	switch in := h.row(id).input.(type) {
	case *fieldTextInput:
		return in.entry
	case *fieldNumberInput:
		return in.entry
	case *fieldTimeInput:
		return in.entry
	}
	h.t.Fatalf("field %q has no text entry", id)
	return nil
}

// typeInto types text into a field, as the worker would, without leaving it.
func (h *formHarness) typeInto(id, text string) {
	h.t.Helper()
	test.Type(h.entry(id), text)
}

// leave moves the keyboard focus away from a field.
func (h *formHarness) leave(id string) {
	h.t.Helper()
	c := h.w.Canvas()
	c.Focus(h.entry(id))
	c.Unfocus()
	h.settle()
}

func (h *formHarness) choose(id, label string) {
	h.t.Helper()
	switch in := h.row(id).input.(type) {
	case *fieldChoiceInput:
		in.choose(label)
	case *fieldYesNoInput:
		in.radio.SetSelected(label)
	default:
		h.t.Fatalf("field %q is not a choice", id)
	}
}

func (h *formHarness) setDate(id string, y int, m time.Month, d int) {
	h.t.Helper()
	h.row(id).input.(*fieldDateInput).entry.setDate(y, m, d)
}

func (h *formHarness) setGeo(id, lat, lon, acc string) {
	h.t.Helper()
	in := h.row(id).input.(*fieldGeoInput)
	test.Type(in.lat, lat)
	test.Type(in.lon, lon)
	test.Type(in.acc, acc)
}

// sign draws a stroke on a signature field's pad.
func (h *formHarness) sign(id string) {
	h.t.Helper()
	pad := h.row(id).input.(*fieldSignatureInput).pad
	drawStroke(pad, fyne.NewPos(40, 100), fyne.NewPos(120, 60), fyne.NewPos(200, 110), fyne.NewPos(300, 50))
}

func drawStroke(pad *signaturePad, points ...fyne.Position) {
	for i := 1; i < len(points); i++ {
		pad.Dragged(&fyne.DragEvent{PointEvent: fyne.PointEvent{Position: points[i]},
			Dragged: fyne.NewDelta(points[i].X-points[i-1].X, points[i].Y-points[i-1].Y)})
	}
	pad.DragEnd()
}

// problem returns the message shown under a field, "" when none.
func (h *formHarness) problem(id string) string {
	h.t.Helper()
	p := h.row(id).problem
	if !p.Visible() {
		return ""
	}
	return p.Text
}

func (h *formHarness) shown(id string) bool { h.t.Helper(); return h.row(id).box.Visible() }

func (h *formHarness) tap(b *widget.Button) {
	test.Tap(b)
	h.settle()
}

// fillSiteInspection answers every required field of a site inspection but the
// signature.
func (h *formHarness) fillSiteInspection() {
	h.typeInto("site_code", "NW-0412")
	h.typeInto("inspector", "Ana Silva")
	h.setDate("inspection_date", 2026, 3, 2)
	h.setGeo("location", "51.5072", "-0.1276", "8")
	h.choose("hazards_present", fieldNo)
	h.choose("overall_rating", "Pass")
}

var siteInspection = FormTarget{Template: form.TemplateKey{ID: "site-inspection"}}

// raw is a field's stored value as text.
func raw(r *form.Record, id string) string { return string(r.Value(id)) }

func TestFormViewNew(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)

		if got := h.row("site_code").box.Objects[0].(*widget.Label).Text; got != "Site code *" {
			t.Fatalf("label %q, want the required mark", got)
		}
		if got := h.row("site_code").box.Objects[1].(*widget.Label).Text; !strings.HasPrefix(got, "Two letters") {
			t.Fatalf("help under the label: %q", got)
		}
		h.fillSiteInspection()
		if n := len(r.savesSoFar()); n != 0 {
			t.Fatalf("%d saves while typing, before the debounce", n)
		}
		if p := h.clock.pending(); len(p) != 1 || p[0].d != formDebounce {
			t.Fatalf("pending timers %v, want one of %v", p, formDebounce)
		}
		h.autosave()

		saves := r.savesSoFar()
		if len(saves) != 1 || saves[0].Record != "" || saves[0].Template.ID != "site-inspection" || saves[0].Status != "" {
			t.Fatalf("saves %+v, want one creating a site inspection", saves)
		}
		want := []string{"hazards_present", "inspection_date", "inspector", "location", "overall_rating", "site_code"}
		if got := slices.Sorted(maps.Keys(saves[0].Values)); !slices.Equal(got, want) {
			t.Fatalf("saved fields %q, want %q", got, want)
		}
		id := h.v.recordID
		rec := r.record(t, id)
		if rec.Status() != form.StatusDraft || raw(rec, "site_code") != `"NW-0412"` || raw(rec, "inspection_date") != `"2026-03-02"` ||
			raw(rec, "location") != `{"lat":51.5072,"lon":-0.1276,"accuracy":8}` || raw(rec, "hazards_present") != "false" ||
			raw(rec, "overall_rating") != `"pass"` {
			t.Fatalf("record %s", rec.Encode())
		}
		if h.v.cancel.Text != "Close" || !strings.HasPrefix(h.v.state.Text, "Draft saved at 14:30") {
			t.Fatalf("after the first save: button %q, state %q", h.v.cancel.Text, h.v.state.Text)
		}

		// Later saves edit the same record and send only what changed.
		h.typeInto("arrival_time", "745")
		h.autosave()
		saves = r.savesSoFar()
		if len(saves) != 2 || saves[1].Record != id || len(saves[1].Values) != 1 || string(saves[1].Values["arrival_time"]) != `"07:45"` {
			t.Fatalf("second save %+v, want arrival_time alone, on record %s", saves[1], id)
		}

		// Submitting without the signature: refused on the spot, under the field.
		h.tap(h.v.submit)
		if got := h.problem("inspector_signature"); got != "Required." {
			t.Fatalf("signature problem %q, want Required.", got)
		}
		if len(h.done) != 0 || len(r.savesSoFar()) != 2 || !strings.HasPrefix(h.v.state.Text, "Not submitted: 1 field needs attention") {
			t.Fatalf("incomplete submit: done %q, %d saves, state %q", h.done, len(r.savesSoFar()), h.v.state.Text)
		}
		if h.v.scroll.Offset.Y <= 0 {
			t.Fatal("the form did not scroll to the signature at its end")
		}

		h.sign("inspector_signature")
		if h.problem("inspector_signature") != "" {
			t.Fatalf("the signature's problem stays after signing: %q", h.problem("inspector_signature"))
		}
		h.tap(h.v.submit)
		if !slices.Equal(h.done, []string{id}) {
			t.Fatalf("done %q, want [%s]", h.done, id)
		}
		rec = r.record(t, id)
		if rec.Status() != form.StatusSubmitted {
			t.Fatalf("status %q after submit", rec.Status())
		}
		var sig form.Attachment
		if err := json.Unmarshal(rec.Value("inspector_signature"), &sig); err != nil || sig.Type != "image/png" {
			t.Fatalf("signature value %s: %v", rec.Value("inspector_signature"), err)
		}
		last := r.savesSoFar()[len(r.savesSoFar())-1]
		if last.Status != form.StatusSubmitted || len(last.Values) != 1 {
			t.Fatalf("submit sent %+v; want the signature alone, and the status", last)
		}
	})

	t.Run("CancelUntouched", func(t *testing.T) {
		h := openForm(t, newFormFakeReplica(t), siteInspection)
		if h.v.cancel.Text != "Cancel" {
			t.Fatalf("button %q on a new form", h.v.cancel.Text)
		}
		h.tap(h.v.cancel)
		if !slices.Equal(h.done, []string{""}) || len(h.confirms) != 0 {
			t.Fatalf("done %q, confirms %q; want done with no record, no question", h.done, h.confirms)
		}
	})

	t.Run("CancelDiscards", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("inspector", "Ana")
		h.tap(h.v.cancel)
		if !slices.Equal(h.confirms, []string{"Discard this form?"}) || !slices.Equal(h.done, []string{""}) {
			t.Fatalf("confirms %q, done %q", h.confirms, h.done)
		}
		h.clock.fire()
		h.settle()
		if n := len(r.savesSoFar()); n != 0 {
			t.Fatalf("%d saves after discarding", n)
		}
	})

	t.Run("CloseSavesTheRest", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("inspector", "Ana")
		h.autosave()
		h.typeInto("site_code", "NW-0001")
		h.tap(h.v.cancel) // "Close"
		saves := r.savesSoFar()
		if len(saves) != 2 || string(saves[1].Values["site_code"]) != `"NW-0001"` || !slices.Equal(h.done, []string{h.v.recordID}) {
			t.Fatalf("saves %+v, done %q", saves, h.done)
		}
	})

	t.Run("SaveDraft", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("inspector", "Ana")
		h.tap(h.v.draft)
		saves := r.savesSoFar()
		if len(saves) != 1 || saves[0].Status != form.StatusDraft || len(h.done) != 1 || h.done[0] == "" {
			t.Fatalf("saves %+v, done %q", saves, h.done)
		}
		if rec := r.record(t, h.done[0]); rec.Status() != form.StatusDraft || raw(rec, "inspector") != `"Ana"` {
			t.Fatalf("record %s", rec.Encode())
		}
	})

	t.Run("SaveDraftEmpty", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.tap(h.v.draft)
		if len(r.savesSoFar()) != 0 || !slices.Equal(h.done, []string{""}) {
			t.Fatalf("an empty form saved as a draft: saves %+v, done %q", r.savesSoFar(), h.done)
		}
	})

	t.Run("ErrUnknownTemplate", func(t *testing.T) {
		h := openForm(t, newFormFakeReplica(t), FormTarget{Template: form.TemplateKey{ID: "no-such-form"}})
		if got := formShownTexts(h.v.root); !slices.Contains(got, "This form could not be opened") {
			t.Fatalf("shown: %q", got)
		}
	})
}

func TestFormViewValidation(t *testing.T) {
	t.Run("Pattern", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("site_code", "nw-12")
		if got := h.problem("site_code"); got != "" {
			t.Fatalf("problem %q shown while typing", got)
		}
		h.leave("site_code")
		if got, want := h.problem("site_code"), "Must match pattern [A-Z]{2}-[0-9]{3,5}."; got != want {
			t.Fatalf("problem %q, want %q", got, want)
		}
		// The rest is saved; the invalid value stays on screen, unsaved.
		h.typeInto("inspector", "Ana")
		h.autosave()
		saves := r.savesSoFar()
		if len(saves) == 0 {
			t.Fatal("nothing saved")
		}
		for _, s := range saves {
			if _, ok := s.Values["site_code"]; ok {
				t.Fatalf("the invalid site code was sent: %+v", s)
			}
		}
		if !strings.Contains(h.v.state.Text, "Not saved yet: Site code") {
			t.Fatalf("state %q does not say the site code is not saved", h.v.state.Text)
		}
		// Fixing it clears the message as it is typed, and it is saved.
		h.entry("site_code").SetText("NW-0412")
		if got := h.problem("site_code"); got != "" {
			t.Fatalf("problem %q after the fix", got)
		}
		h.autosave()
		saves = r.savesSoFar()
		if got := string(saves[len(saves)-1].Values["site_code"]); got != `"NW-0412"` {
			t.Fatalf("last save sent site code %s", got)
		}
	})

	tests := []struct {
		field, text, want string
	}{
		{"inspector", "A", "At least 2 characters."},
		{"workers_on_site", "600", "Must be between 0 and 500."},
		{"workers_on_site", "-", "Must be a whole number."},
		{"arrival_time", "23:30", "Must be between 05:00 and 22:00."},
		{"arrival_time", "25:00", "Not a time: write it as HH:MM, e.g. 14:30."},
	}
	for _, tt := range tests {
		t.Run(tt.field+"="+tt.text, func(t *testing.T) {
			h := openForm(t, newFormFakeReplica(t), siteInspection)
			h.typeInto(tt.field, tt.text)
			h.leave(tt.field)
			if got := h.problem(tt.field); got != tt.want {
				t.Fatalf("problem %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("DatePicked", func(t *testing.T) {
		// A date picked in the calendar is checked at once: the calendar does
		// not take the focus, so there is no leaving to wait for.
		h := openForm(t, newFormFakeReplica(t), siteInspection)
		h.setDate("inspection_date", 2019, 12, 31)
		if got := h.problem("inspection_date"); got != "Must be 2020-01-01 or later." {
			t.Fatalf("problem %q", got)
		}
		h.setDate("inspection_date", 2020, 1, 1)
		if got := h.problem("inspection_date"); got != "" {
			t.Fatalf("problem %q after the fix", got)
		}
	})

	t.Run("MaxLengthStopsTyping", func(t *testing.T) {
		h := openForm(t, newFormFakeReplica(t), siteInspection)
		h.typeInto("site_code", "NW-0412345")
		if got := h.entry("site_code").Text; got != "NW-04123" {
			t.Fatalf("text %q, want it stopped at max_length 8", got)
		}
	})

	t.Run("GeoPartial", func(t *testing.T) {
		h := openForm(t, newFormFakeReplica(t), siteInspection)
		in := h.row("location").input.(*fieldGeoInput)
		test.Type(in.lat, "91")
		c := h.w.Canvas()
		c.Focus(in.lat)
		c.Focus(in.lon) // moving on to the longitude is not leaving the field
		h.settle()
		if got := h.problem("location"); got != "" {
			t.Fatalf("problem %q while the location is being typed", got)
		}
		c.Unfocus()
		h.settle()
		if got := h.problem("location"); got != "Enter both the latitude and the longitude." {
			t.Fatalf("problem %q", got)
		}
		test.Type(in.lon, "10")
		c.Focus(in.lon)
		c.Unfocus()
		h.settle()
		if got := h.problem("location"); !strings.HasPrefix(got, "The latitude must be between -90 and 90") {
			t.Fatalf("problem %q", got)
		}
	})

	t.Run("RequiredOnSubmit", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("inspector", "Ana")
		h.tap(h.v.submit)
		want := map[string]string{
			"site_code": "Required.", "inspector": "", "inspection_date": "Required.", "location": "Required.",
			"hazards_present": "Required.", "overall_rating": "Required.", "inspector_signature": "Required.",
			"arrival_time": "",
		}
		for id, msg := range want {
			if got := h.problem(id); got != msg {
				t.Errorf("%s: problem %q, want %q", id, got, msg)
			}
		}
		if h.shown("hazards") && h.problem("hazards") != "" {
			t.Error("a hidden field is reported")
		}
		if len(h.done) != 0 {
			t.Fatalf("done %q after an incomplete submit", h.done)
		}
		if c := h.w.Canvas().Focused(); c != h.entry("site_code") {
			t.Fatalf("focus on %T, want the first field with a problem", c)
		}
		// What was typed is still saved as a draft.
		h.settle()
		if len(r.savesSoFar()) != 1 || r.savesSoFar()[0].Status != "" {
			t.Fatalf("saves %+v, want the draft autosaved", r.savesSoFar())
		}
	})

	t.Run("FromSave", func(t *testing.T) {
		// The replica's verdict wins: its field errors go under the fields.
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.fillSiteInspection()
		h.sign("inspector_signature")
		r.saveErr = &form.ValidationError{Template: form.TemplateKey{ID: "site-inspection", Version: 1},
			Fields: []form.FieldError{{Field: "inspector_signature", Rule: "required", Msg: "Inspector's signature is required"}}}
		h.tap(h.v.submit)
		if got := h.problem("inspector_signature"); got != "Required." || len(h.done) != 0 {
			t.Fatalf("problem %q, done %q", got, h.done)
		}
		if !strings.HasPrefix(h.v.state.Text, "Not saved: 1 field needs attention") {
			t.Fatalf("state %q", h.v.state.Text)
		}
		if h.v.scroll.Offset.Y <= 0 {
			t.Fatal("not scrolled to the field")
		}
		// Once the replica accepts, the form is submitted.
		h.tap(h.v.submit)
		if len(h.done) != 1 {
			t.Fatalf("done %q", h.done)
		}
		if rec := r.record(t, h.done[0]); rec.Status() != form.StatusSubmitted {
			t.Fatalf("status %q", rec.Status())
		}
	})

	t.Run("ErrSave", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		r.saveErr = errors.New("disk full")
		h.typeInto("inspector", "Ana")
		h.autosave()
		if !strings.HasPrefix(h.v.state.Text, "Not saved: disk full") || h.v.state.Importance != widget.DangerImportance {
			t.Fatalf("state %q", h.v.state.Text)
		}
		// The edit is kept and goes with the next save.
		h.typeInto("site_code", "NW-0001")
		h.autosave()
		saves := r.savesSoFar()
		if got := slices.Sorted(maps.Keys(saves[len(saves)-1].Values)); !slices.Equal(got, []string{"inspector", "site_code"}) {
			t.Fatalf("after a failed save, sent %q", got)
		}
	})
}

func TestFormViewShowIf(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, siteInspection)
	for _, id := range []string{"hazards", "hazard_notes", "hazard_photos", "corrective_actions", "follow_up_date"} {
		if h.shown(id) {
			t.Fatalf("%s shown before its condition holds", id)
		}
	}
	h.choose("hazards_present", fieldYes)
	if !h.shown("hazards") || !h.shown("hazard_photos") || h.shown("hazard_notes") {
		t.Fatal("hazards found: want the hazard list and photos, not the notes")
	}
	h.row("hazards").input.(*fieldMultiChoiceInput).group.SetSelected([]string{"Suspected asbestos"})
	if !h.shown("hazard_notes") {
		t.Fatal("asbestos: the containment notes are not shown")
	}
	h.choose("hazards_present", fieldNo)
	for _, id := range []string{"hazards", "hazard_notes", "hazard_photos"} {
		if h.shown(id) {
			t.Fatalf("%s still shown after No", id)
		}
	}
	h.choose("overall_rating", "Fail")
	if !h.shown("corrective_actions") || !h.shown("follow_up_date") {
		t.Fatal("fail: corrective actions and follow-up not shown")
	}
	h.choose("overall_rating", "Pass with conditions")
	if !h.shown("corrective_actions") || h.shown("follow_up_date") {
		t.Fatal("conditional: want corrective actions only")
	}

	// On submit, answers of hidden fields are cleared: they are not part of it.
	h.autosave()
	if got := raw(r.record(t, h.v.recordID), "hazards"); got != `["asbestos"]` {
		t.Fatalf("draft hazards %s, want kept while filling in", got)
	}
	h.choose("overall_rating", "Pass")
	h.typeInto("site_code", "NW-0412")
	h.typeInto("inspector", "Ana Silva")
	h.setDate("inspection_date", 2026, 3, 2)
	h.setGeo("location", "51.5", "-0.12", "")
	h.sign("inspector_signature")
	h.tap(h.v.submit)
	if len(h.done) != 1 {
		t.Fatalf("not submitted: %q; state %q", h.done, h.v.state.Text)
	}
	rec := r.record(t, h.v.recordID)
	if got := raw(rec, "hazards"); got != "null" || rec.Status() != form.StatusSubmitted {
		t.Fatalf("submitted with hidden hazards %s, status %s", got, rec.Status())
	}
}

func TestFormViewAutosave(t *testing.T) {
	t.Run("Debounce", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("inspector", "A")
		h.typeInto("inspector", "n")
		h.typeInto("inspector", "a")
		if n := len(h.clock.pending()); n != 1 {
			t.Fatalf("%d timers pending, want each key to restart the one", n)
		}
		h.autosave()
		if saves := r.savesSoFar(); len(saves) != 1 || string(saves[0].Values["inspector"]) != `"Ana"` {
			t.Fatalf("saves %+v", saves)
		}
		if len(h.clock.pending()) != 0 || len(h.v.dirty) != 0 {
			t.Fatalf("after the save: %d timers, dirty %v", len(h.clock.pending()), h.v.dirty)
		}
	})

	t.Run("LeavingSavesAtOnce", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		h.typeInto("inspector", "Ana")
		h.leave("inspector")
		if n := len(r.savesSoFar()); n != 1 {
			t.Fatalf("%d saves after leaving the field", n)
		}
	})

	t.Run("OneSaveAtATime", func(t *testing.T) {
		// Edits made while the first save runs wait for it, so the record is
		// created once and then edited.
		r := newFormFakeReplica(t)
		h := openForm(t, r, siteInspection)
		r.block = make(chan struct{})
		h.typeInto("inspector", "Ana")
		h.clock.fire() // the save starts, and waits for the disk
		h.typeInto("site_code", "NW-0412")
		h.clock.fire()
		h.typeInto("arrival_time", "08:00")
		h.clock.fire()
		close(r.block)
		h.settle()
		saves := r.savesSoFar()
		if len(saves) != 2 || saves[0].Record != "" || saves[1].Record == "" {
			t.Fatalf("saves %+v, want one create and one edit", saves)
		}
		if got := slices.Sorted(maps.Keys(saves[1].Values)); !slices.Equal(got, []string{"arrival_time", "site_code"}) {
			t.Fatalf("second save sent %q", got)
		}
	})
}

func TestFormViewEdit(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		r := newFormFakeReplica(t)
		sig, _ := r.AddAttachment(context.Background(), bytes.NewReader(formTestPNG(t, 600, 200)), "image/png", "sig.png")
		photo, _ := r.AddAttachment(context.Background(), bytes.NewReader(formTestPNG(t, 800, 600)), "image/png", "crack.png")
		id := r.put(t, "site-inspection", form.StatusSubmitted, map[string]string{
			"site_code": `"NW-0412"`, "inspector": `"Ana Silva"`, "inspection_date": `"2026-03-02"`,
			"arrival_time": `"07:45"`, "location": `{"lat":51.5,"lon":-0.12,"accuracy":5}`, "weather": `"rain"`,
			"workers_on_site": `12`, "hazards_present": `true`, "hazards": `["fall","asbestos"]`,
			"hazard_notes": `"Area sealed off"`, "hazard_photos": string(fieldJSON([]form.Attachment{photo})),
			"overall_rating": `"pass"`, "inspector_signature": string(fieldJSON(sig)),
		})
		h := openForm(t, r, FormTarget{Record: id})

		if got := h.entry("site_code").Text; got != "NW-0412" {
			t.Fatalf("site code %q", got)
		}
		if d := h.row("inspection_date").input.(*fieldDateInput).entry.Date; d == nil || d.Format(time.DateOnly) != "2026-03-02" {
			t.Fatalf("date %v", d)
		}
		if got := h.entry("arrival_time").Text; got != "07:45" {
			t.Fatalf("time %q", got)
		}
		geo := h.row("location").input.(*fieldGeoInput)
		if geo.lat.Text != "51.5" || geo.lon.Text != "-0.12" || geo.acc.Text != "5" {
			t.Fatalf("location %q %q %q", geo.lat.Text, geo.lon.Text, geo.acc.Text)
		}
		if got := h.row("weather").input.(*fieldChoiceInput).radio.Selected; got != "Rain" {
			t.Fatalf("weather %q", got)
		}
		if got := h.entry("workers_on_site").Text; got != "12" {
			t.Fatalf("workers %q", got)
		}
		if got := h.row("hazards_present").input.(*fieldYesNoInput).radio.Selected; got != fieldYes {
			t.Fatalf("hazards present %q", got)
		}
		if got := h.row("hazards").input.(*fieldMultiChoiceInput).group.Selected; !slices.Equal(got, []string{"Work at height without protection", "Suspected asbestos"}) {
			t.Fatalf("hazards %q", got)
		}
		if !h.shown("hazards") || !h.shown("hazard_notes") {
			t.Fatal("the fields the stored answers show are hidden")
		}
		photos := h.row("hazard_photos").input.(*fieldAttachInput)
		if len(photos.items) != 1 || photos.items[0].thumb.Image == nil {
			t.Fatalf("photos: %d, preview %v", len(photos.items), photos.items)
		}
		if b := photos.items[0].thumb.Image.Bounds(); b.Dx() != thumbPixelSide {
			t.Fatalf("preview %v, want scaled to %d pixels", b, thumbPixelSide)
		}
		pad := h.row("inspector_signature").input.(*fieldSignatureInput).pad
		if pad.saved == nil || !pad.locked {
			t.Fatal("the stored signature is not shown")
		}
		if h.v.cancel.Text != "Close" || h.v.draft.Text != "Save as draft" || !strings.HasPrefix(h.v.state.Text, "Submitted") {
			t.Fatalf("buttons %q %q, state %q", h.v.cancel.Text, h.v.draft.Text, h.v.state.Text)
		}
		if len(r.savesSoFar()) != 0 || len(h.clock.pending()) != 0 {
			t.Fatal("showing a record saved it")
		}

		// An edit sends that field alone; the record stays submitted.
		h.entry("workers_on_site").SetText("14")
		h.autosave()
		saves := r.savesSoFar()
		if len(saves) != 1 || saves[0].Record != id || saves[0].Status != "" || len(saves[0].Values) != 1 || string(saves[0].Values["workers_on_site"]) != "14" {
			t.Fatalf("saves %+v", saves)
		}
		if rec := r.record(t, id); rec.Status() != form.StatusSubmitted || raw(rec, "inspector_signature") != string(fieldJSON(sig)) {
			t.Fatalf("record %s", rec.Encode())
		}

		// A submitted form must stay complete: clearing a required answer is
		// refused by the replica, and said under the field.
		h.entry("inspector").SetText("")
		h.autosave()
		if got := h.problem("inspector"); got != "Required." {
			t.Fatalf("problem %q", got)
		}
		if !strings.Contains(h.v.state.Text, "must stay complete") {
			t.Fatalf("state %q", h.v.state.Text)
		}
	})

	t.Run("Draft", func(t *testing.T) {
		r := newFormFakeReplica(t)
		id := r.put(t, "incident-report", "", map[string]string{
			"occurred_at": `"2026-03-01T16:05:00Z"`, "incident_type": `"injury"`, "first_aid_given": "false",
			"contributing_factors": `["weather","fatigue"]`,
		})
		h := openForm(t, r, FormTarget{Record: id})
		dt := h.row("occurred_at").input.(*fieldDateTimeInput)
		if d := dt.date.Date; d == nil || d.Format(time.DateOnly) != "2026-03-01" || dt.clock.Text != "17:05" {
			t.Fatalf("date-time %v %q, want it in the device's zone", d, dt.clock.Text)
		}
		if dt.zone.Text != "CET (UTC+01:00)" {
			t.Fatalf("zone %q", dt.zone.Text)
		}
		if got := h.row("first_aid_given").input.(*fieldYesNoInput).radio.Selected; got != fieldNo {
			t.Fatalf("first aid %q", got)
		}
		if !h.shown("injured_persons") || h.shown("police_reference") {
			t.Fatal("show-if after loading")
		}
		if h.v.cancel.Text != "Close" || h.v.draft.Text != "Save draft" {
			t.Fatalf("buttons %q %q", h.v.cancel.Text, h.v.draft.Text)
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		r := newFormFakeReplica(t)
		id := r.put(t, "site-inspection", "", map[string]string{"inspector": `"Ana"`})
		r.mu.Lock()
		rec := r.records[id]
		rec.Fields[form.FieldDeleted] = form.FieldValue{Value: json.RawMessage("true")}
		r.mu.Unlock()

		h := openForm(t, r, FormTarget{Record: id})
		got := formShownTexts(h.v.root)
		if !slices.Contains(got, "This form was deleted") || !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "Restore it") }) {
			t.Fatalf("shown: %q", got)
		}
		if h.v.tpl != nil {
			t.Fatal("the fields of a deleted form are shown")
		}
		var back *widget.Button
		formWalk(h.v.root, func(o fyne.CanvasObject) {
			if b, ok := o.(*widget.Button); ok && b.Text == "Back" {
				back = b
			}
		})
		h.tap(back)
		if !slices.Equal(h.done, []string{id}) {
			t.Fatalf("done %q", h.done)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		h := openForm(t, newFormFakeReplica(t), FormTarget{Record: form.NewID()})
		if got := formShownTexts(h.v.root); !slices.Contains(got, "This form could not be opened") {
			t.Fatalf("shown: %q", got)
		}
	})

	t.Run("SignatureNotOnDevice", func(t *testing.T) {
		r := newFormFakeReplica(t)
		sig, _ := r.AddAttachment(context.Background(), bytes.NewReader(formTestPNG(t, 600, 200)), "image/png", "sig.png")
		id := r.put(t, "site-inspection", "", map[string]string{"inspector_signature": string(fieldJSON(sig))})
		r.openErr = errors.New("offline")
		h := openForm(t, r, FormTarget{Record: id})
		in := h.row("inspector_signature").input.(*fieldSignatureInput)
		if !strings.Contains(in.pad.savedNote, "not on this device yet") {
			t.Fatalf("note %q", in.pad.savedNote)
		}
		// It is still the form's value, and Clear lets the worker sign again.
		if v, _ := in.value(); string(v) != string(fieldJSON(sig)) {
			t.Fatalf("value %s", v)
		}
		test.Tap(in.clear.Objects[0].(*widget.Button))
		h.sign("inspector_signature")
		h.autosave()
		var a form.Attachment
		if err := json.Unmarshal(r.record(t, id).Value("inspector_signature"), &a); err != nil || a.SHA256 == sig.SHA256 {
			t.Fatalf("signature after signing again: %+v, %v", a, err)
		}
	})
}

func TestFormViewAttachments(t *testing.T) {
	t.Run("Cancelled", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, FormTarget{Template: form.TemplateKey{ID: "equipment-maintenance"}})
		in := h.row("equipment_photos").input.(*fieldAttachInput)
		h.tap(in.add)
		if h.picks != 1 {
			t.Fatalf("%d dialogs opened", h.picks)
		}
		if len(in.items) != 0 || len(h.v.dirty) != 0 || len(h.clock.pending()) != 0 || r.added != 0 || h.problem("equipment_photos") != "" {
			t.Fatalf("a cancelled dialog changed something: items %d, dirty %v, timers %d, added %d",
				len(in.items), h.v.dirty, len(h.clock.pending()), r.added)
		}
	})

	t.Run("Photo", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, FormTarget{Template: form.TemplateKey{ID: "equipment-maintenance"}})
		in := h.row("equipment_photos").input.(*fieldAttachInput)
		data := formTestPNG(t, 1200, 900)
		file := &formFakeFile{Reader: bytes.NewReader(data), uri: storage.NewFileURI("/photos/pump 3.png")}
		h.file = file
		h.tap(in.add)
		if len(in.items) != 1 || !file.closed {
			t.Fatalf("items %d, reader closed %v", len(in.items), file.closed)
		}
		a := in.items[0].att
		if a.Name != "pump 3.png" || a.Type != "image/png" || a.Size != int64(len(data)) || in.items[0].thumb.Image == nil {
			t.Fatalf("attachment %+v, preview %v", a, in.items[0].thumb.Image != nil)
		}
		h.autosave()
		rec := r.record(t, h.v.recordID)
		if got := raw(rec, "equipment_photos"); got != string(fieldJSON([]form.Attachment{a})) {
			t.Fatalf("saved %s", got)
		}
		// Removing it clears the field.
		test.Tap(in.items[0].remove)
		h.autosave()
		if got := raw(r.record(t, h.v.recordID), "equipment_photos"); got != "null" {
			t.Fatalf("after removing: %s", got)
		}
	})

	t.Run("NotAPhoto", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, FormTarget{Template: form.TemplateKey{ID: "equipment-maintenance"}})
		h.file = &formFakeFile{Reader: strings.NewReader("%PDF-1.4"), uri: storage.NewFileURI("/docs/report.pdf")}
		in := h.row("equipment_photos").input.(*fieldAttachInput)
		h.tap(in.add)
		if len(in.items) != 0 || r.added != 0 || !strings.Contains(h.problem("equipment_photos"), "not a photo") {
			t.Fatalf("items %d, added %d, problem %q", len(in.items), r.added, h.problem("equipment_photos"))
		}
	})

	t.Run("FileAndMaxFiles", func(t *testing.T) {
		r := newFormFakeReplica(t)
		h := openForm(t, r, FormTarget{Template: form.TemplateKey{ID: "equipment-maintenance"}})
		in := h.row("service_report").input.(*fieldAttachInput) // max_files 3
		for i := range 3 {
			h.file = &formFakeFile{Reader: strings.NewReader(fmt.Sprintf("report %d", i)), uri: storage.NewFileURI(fmt.Sprintf("/docs/r%d.pdf", i))}
			h.tap(in.add)
		}
		if len(in.items) != 3 || !in.add.Disabled() || in.items[0].att.Type != "application/pdf" {
			t.Fatalf("items %d, add disabled %v", len(in.items), in.add.Disabled())
		}
		h.tap(in.add)
		if h.picks != 3 {
			t.Fatalf("%d dialogs opened with max_files reached", h.picks)
		}
	})
}

func TestFormViewSignature(t *testing.T) {
	r := newFormFakeReplica(t)
	h := openForm(t, r, FormTarget{Template: form.TemplateKey{ID: "delivery-receipt"}})
	in := h.row("recipient_signature").input.(*fieldSignatureInput)
	if v, _ := in.value(); string(v) != "null" {
		t.Fatalf("empty pad value %s", v)
	}
	// Drag on the canvas, as a finger would.
	pad := in.pad
	h.v.scrollTo(h.row("recipient_signature"))
	at := fyne.CurrentApp().Driver().AbsolutePositionForObject(pad)
	test.Drag(h.w.Canvas(), at.AddXY(50, 80), 120, -40)
	if pad.Empty() {
		t.Fatal("dragging on the pad drew nothing")
	}
	drawStroke(pad, fyne.NewPos(200, 100), fyne.NewPos(260, 40), fyne.NewPos(330, 120))
	h.autosave()
	if r.added != 1 {
		t.Fatalf("%d attachments stored", r.added)
	}
	var a form.Attachment
	if err := json.Unmarshal(r.record(t, h.v.recordID).Value("recipient_signature"), &a); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(r.attachments[a.SHA256]))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != signatureWidth || b.Dy() != signatureHeight || a.Type != "image/png" {
		t.Fatalf("PNG %v, type %q", b, a.Type)
	}
	if n := formInked(img); n < 200 {
		t.Fatalf("%d inked pixels in the PNG", n)
	}

	// Saving again without new strokes stores nothing new.
	h.typeInto("recipient_name", "Bo")
	h.autosave()
	if r.added != 1 {
		t.Fatalf("%d attachments after an unrelated edit", r.added)
	}
	// Clear empties the field.
	test.Tap(in.clear.Objects[0].(*widget.Button))
	h.autosave()
	if got := raw(r.record(t, h.v.recordID), "recipient_signature"); got != "null" {
		t.Fatalf("after Clear: %s", got)
	}
}

func TestFormViewEveryTemplate(t *testing.T) {
	r := newFormFakeReplica(t)
	seen := map[form.FieldType]bool{}
	for _, tpl := range r.templates {
		t.Run(tpl.ID, func(t *testing.T) {
			h := openForm(t, r, FormTarget{Template: tpl.Key()})
			want := 0
			for _, it := range h.v.fm.Items() {
				if it.Kind == form.ItemField && formShown(it.Field) {
					want++
				}
			}
			if len(h.v.rows) != want {
				t.Fatalf("%d rows for %d fields shown", len(h.v.rows), want)
			}
			for _, f := range tpl.All() {
				seen[f.Type] = true
			}
			for _, row := range h.v.rows {
				if computed := row.field.Type == form.TypeNote || row.field.Type == form.TypeCalculate; (row.input == nil) != computed {
					t.Fatalf("field %s (%s): input %T", row.key, row.field.Type, row.input)
				}
				if row.input != nil {
					// A new form holds its defaults, nothing else.
					if v, err := row.input.value(); err != nil || string(v) != string(orNull(h.v.fm.Value(row.key))) {
						t.Fatalf("field %s of a new form: %s, %v; the form holds %s", row.key, v, err, h.v.fm.Value(row.key))
					}
				}
			}
			h.w.Resize(fyne.NewSize(768, 1024)) // a portrait tablet
			if h.v.scroll.Size().Width > 768 {
				t.Fatalf("form %v wider than the window", h.v.scroll.Size())
			}
		})
	}
	for _, ty := range form.FieldTypes {
		if !seen[ty] {
			t.Errorf("no sample template uses %s", ty)
		}
	}
}

// formTestPNG makes a PNG image of a given size.
func formTestPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: 0x80, A: 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// formInked counts the dark pixels of an image.
func formInked(img image.Image) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if (r+g+bl)/3 < 0x8000 {
				n++
			}
		}
	}
	return n
}

// formWalk calls fn for o and every visible object in it.
func formWalk(o fyne.CanvasObject, fn func(fyne.CanvasObject)) {
	if !o.Visible() {
		return
	}
	fn(o)
	switch o := o.(type) {
	case *fyne.Container:
		for _, c := range o.Objects {
			formWalk(c, fn)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(o).Objects() {
			formWalk(c, fn)
		}
	}
}

// formShownTexts returns the texts of the labels shown.
func formShownTexts(o fyne.CanvasObject) []string {
	var out []string
	formWalk(o, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok {
			out = append(out, l.Text)
		}
	})
	return out
}
