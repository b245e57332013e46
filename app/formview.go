package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // photos the file dialog may hand over
	_ "image/jpeg"
	"io"
	"log/slog"
	"mime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// FormTarget says what a form screen edits.
type FormTarget struct {
	Template form.TemplateKey // for a new record; Version 0: the latest version
	Record   string           // set: edit that record; else a new one of Template
}

const (
	// formDebounce is how long after the last change a draft is saved: short
	// enough that killing the app loses at most the field being typed, long
	// enough not to write at every key.
	formDebounce = time.Second
	// formMaxWidth keeps a form readable on a wide screen.
	formMaxWidth = 880
	// maxPhotoBytes bounds a photo read into memory to be stored and previewed.
	maxPhotoBytes = 64 << 20
)

// errFormIncomplete ends a submit that the form's own checks refused; the problems
// are shown next to the fields.
var errFormIncomplete = errors.New("the form has problems to fix")

// NewFormView is the screen that fills in a form: a new record of target.Template,
// or the record target.Record. Drafts are saved as the worker types; done is called
// with the record's ID when the worker finishes (submitted, or closed after saving
// a draft), or with "" when they cancel a new form that was never saved. ctx bounds
// every read and save the screen makes.
func NewFormView(ctx context.Context, w fyne.Window, d Deps, target FormTarget, done func(recordID string)) fyne.CanvasObject {
	return newFormView(ctx, w, d, target, done, formSeams{}).root
}

// formSeams are what tests replace; a zero field is the real thing.
type formSeams struct {
	// toUI runs fn on the UI goroutine: the one place where background work
	// hands its answers to the screen. Zero: Deps.Do, else fyne.Do.
	toUI func(fn func())
	// after runs fn on the UI goroutine once d has passed, unless stop is
	// called first.
	after    func(d time.Duration, fn func()) (stop func())
	debounce time.Duration
	now      func() time.Time
	loc      *time.Location // the device's time zone
	// pickFile lets the worker choose a file; picked gets nil when they cancel.
	pickFile func(filter storage.FileFilter, picked func(fyne.URIReadCloser, error))
	// confirm asks a yes/no question and calls ok on yes.
	confirm func(title, message, yes string, ok func())
}

// formView is the form screen. Everything but its background work runs on the UI
// goroutine, so its state needs no locks.
type formView struct {
	formSeams
	ctx     context.Context
	win     fyne.Window
	replica Replica
	log     *slog.Logger
	target  FormTarget
	done    func(recordID string)
	// work tracks background work until its answer is handed to toUI.
	work sync.WaitGroup

	tpl      *form.Template
	recordID string // "" until the first save of a new record
	status   string // the saved record's status; "" before the first save
	rows     []*formRow
	byID     map[string]*formRow
	// showing is set while stored values are put in the widgets: the changes
	// the widgets report then are not the worker's.
	showing bool
	rev     map[string]int  // how many times each field was edited
	dirty   map[string]bool // fields edited since they were last saved
	// saving is set while a save runs; requests made meanwhile wait in queued.
	saving    bool
	queued    *formSaveRequest
	stopTimer func()
	timerGen  int
	finished  bool

	root   *fyne.Container
	state  *widget.Label
	list   *fyne.Container
	column *fyne.Container
	scroll *container.Scroll
	cancel *widget.Button
	draft  *widget.Button
	submit *widget.Button
}

// formRow is one field on screen: label, help, input and the problem with it.
type formRow struct {
	field   *form.Field
	input   fieldInput // nil for a note
	box     *fyne.Container
	problem *widget.Label // nil for a note
}

// setProblem shows msg under the field, or hides the message when msg is empty. It
// reports whether the row changed height.
func (r *formRow) setProblem(msg string) bool {
	if r.problem == nil || msg == r.problem.Text && (msg != "") == r.problem.Visible() {
		return false
	}
	r.problem.SetText(msg)
	was := r.problem.Visible()
	if msg == "" {
		r.problem.Hide()
	} else {
		r.problem.Show()
	}
	return was != r.problem.Visible()
}

func newFormView(ctx context.Context, w fyne.Window, d Deps, target FormTarget, done func(string), s formSeams) *formView {
	v := &formView{formSeams: s, ctx: ctx, win: w, replica: d.Replica, log: d.Logger, target: target, done: done,
		byID: map[string]*formRow{}, rev: map[string]int{}, dirty: map[string]bool{}}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.log = v.log.With("screen", "form")
	if v.toUI == nil {
		v.toUI = d.Do
	}
	if v.toUI == nil {
		v.toUI = fyne.Do
	}
	if v.after == nil {
		toUI := v.toUI
		v.after = func(d time.Duration, fn func()) func() {
			t := time.AfterFunc(d, func() { toUI(fn) })
			return func() { t.Stop() }
		}
	}
	if v.debounce == 0 {
		v.debounce = formDebounce
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.loc == nil {
		v.loc = time.Local
	}
	if v.pickFile == nil {
		v.pickFile = v.showFileOpen
	}
	if v.confirm == nil {
		v.confirm = v.showConfirm
	}
	loading := widget.NewLabel("Opening the form…")
	loading.Alignment = fyne.TextAlignCenter
	v.root = container.NewStack(container.NewCenter(loading))
	v.load()
	return v
}

// load reads the template and the record in the background, then shows the form.
func (v *formView) load() {
	target := v.target
	v.work.Go(func() {
		var rec *form.Record
		var tpl *form.Template
		var err error
		switch {
		case target.Record != "":
			var r form.Record
			if r, err = v.replica.Get(v.ctx, target.Record); err == nil {
				rec = &r
				tpl, err = v.replica.Template(form.TemplateKey{ID: r.Template, Version: r.Version})
			}
		case target.Template.ID != "":
			tpl, err = v.replica.Template(target.Template)
		default:
			err = errors.New("no form was chosen")
		}
		v.toUI(func() { v.loaded(tpl, rec, err) })
	})
}

func (v *formView) loaded(tpl *form.Template, rec *form.Record, err error) {
	switch {
	case err != nil:
		v.log.Warn("open form", "record", v.target.Record, "template", v.target.Template, "err", err)
		v.showMessage("This form could not be opened", err.Error())
	case rec != nil && rec.Deleted():
		v.showMessage("This form was deleted",
			"A deleted form cannot be edited. Restore it from its page first: it comes back as it was, and can then be edited.")
	default:
		v.build(tpl, rec)
	}
}

// showMessage shows why there is no form to fill in, and a way back.
func (v *formView) showMessage(title, text string) {
	heading := widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	heading.SizeName = theme.SizeNameSubHeadingText
	body := widget.NewLabel(text)
	body.Wrapping = fyne.TextWrapWord
	back := widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), func() { v.finish(v.target.Record) })
	box := container.NewVBox(heading, body, container.NewHBox(formTouchTarget(back)))
	v.root.Objects = []fyne.CanvasObject{container.NewPadded(container.New(formColumnLayout(formMaxWidth), box))}
	v.root.Refresh()
}

// build shows the form, with the record's values when there is one.
func (v *formView) build(tpl *form.Template, rec *form.Record) {
	v.tpl = tpl
	if rec != nil {
		v.recordID, v.status = rec.ID, rec.Status()
	}
	var boxes []fyne.CanvasObject
	for i := range tpl.Fields {
		r := v.newRow(&tpl.Fields[i], i == 0)
		v.rows = append(v.rows, r)
		v.byID[r.field.ID] = r
		boxes = append(boxes, r.box)
	}
	if rec != nil {
		v.showing = true
		for _, r := range v.rows {
			if r.input != nil {
				r.input.show(rec.Value(r.field.ID))
			}
		}
		v.showing = false
	}

	v.list = container.NewVBox(boxes...)
	v.column = container.New(formColumnLayout(formMaxWidth), v.list)
	v.scroll = container.NewVScroll(container.NewPadded(v.column))
	v.refreshVisibility()

	title := widget.NewRichText(&widget.TextSegment{Text: tpl.Name, Style: widget.RichTextStyleHeading})
	header := container.NewVBox(title)
	if tpl.Description != "" {
		header.Add(formHelp(tpl.Description))
	}
	v.state = widget.NewLabel("")
	v.state.Wrapping = fyne.TextWrapWord
	header.Add(v.state)
	switch {
	case rec == nil:
		v.setState("New form: it is saved on this device as you type.", widget.LowImportance)
	case v.status == form.StatusSubmitted:
		v.setState("Submitted. Changes are saved as you type, and the form must stay complete.", widget.LowImportance)
	default:
		v.setState("Draft: changes are saved on this device as you type.", widget.LowImportance)
	}

	v.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), v.close)
	v.draft = widget.NewButtonWithIcon("Save draft", theme.DocumentSaveIcon(), v.saveDraft)
	v.submit = widget.NewButtonWithIcon("Submit", theme.ConfirmIcon(), v.submitForm)
	v.submit.Importance = widget.HighImportance
	v.updateButtons()
	actions := container.NewHBox(formTouchTarget(v.cancel), layout.NewSpacer(), formTouchTarget(v.draft), formTouchTarget(v.submit))

	top := container.NewPadded(container.New(formColumnLayout(formMaxWidth), header))
	bottom := container.NewVBox(widget.NewSeparator(), container.NewPadded(container.New(formColumnLayout(formMaxWidth), actions)))
	v.root.Objects = []fyne.CanvasObject{container.NewBorder(top, bottom, nil, nil, v.scroll)}
	v.root.Refresh()
}

// newRow builds a field's label, help, input and problem message; a note is a
// section heading, with a rule above it unless it comes first.
func (v *formView) newRow(f *form.Field, first bool) *formRow {
	r := &formRow{field: f}
	if f.Type == form.TypeNote {
		heading := widget.NewRichText(&widget.TextSegment{Text: f.Label.String(), Style: widget.RichTextStyleSubHeading})
		heading.Wrapping = fyne.TextWrapWord
		r.box = container.NewVBox(heading)
		if !first {
			r.box.Objects = []fyne.CanvasObject{widget.NewSeparator(), heading}
		}
		if !f.Help.IsZero() {
			r.box.Add(formHelp(f.Help.String()))
		}
		return r
	}
	label := f.Label.String()
	if f.Required.Set() {
		label += " *"
	}
	l := widget.NewLabelWithStyle(label, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Wrapping = fyne.TextWrapWord
	r.problem = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.problem.Importance = widget.DangerImportance
	r.problem.Wrapping = fyne.TextWrapWord
	r.problem.Hide()
	r.input = newFieldInput(f, fieldHooks{
		changed: func() { v.edited(r) },
		left:    func() { v.left(r) },
		settled: func() { v.settled(r) },
		later:   v.toUI,
		pick:    func() { v.pick(r) },
		image:   v.loadImage,
		now:     v.now,
		loc:     v.loc,
	})
	r.box = container.NewVBox(l)
	if !f.Help.IsZero() {
		r.box.Add(formHelp(f.Help.String()))
	}
	r.box.Add(r.input.object())
	r.box.Add(r.problem)
	return r
}

// formHelp is a field's or a form's help text.
func formHelp(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.LowImportance
	return l
}

// setState shows how the form stands (saved, saving, what went wrong).
func (v *formView) setState(text string, importance widget.Importance) {
	v.state.Importance = importance
	v.state.SetText(text)
}

func (v *formView) updateButtons() {
	if v.recordID == "" {
		v.cancel.SetText("Cancel")
	} else {
		v.cancel.SetText("Close")
	}
	if v.status == form.StatusSubmitted {
		v.draft.SetText("Save as draft")
	} else {
		v.draft.SetText("Save draft")
	}
}

// values returns the fields' current values, for show-if rules and the
// completeness check. A field whose input is not a value yet counts as unanswered.
func (v *formView) values() form.Values {
	vals := form.Values{}
	for _, r := range v.rows {
		if r.input == nil {
			continue
		}
		if raw, err := r.input.value(); err == nil {
			vals[r.field.ID] = raw
		}
	}
	return vals
}

// refreshVisibility shows the fields whose show-if rule holds and hides the rest.
func (v *formView) refreshVisibility() {
	cur := v.values()
	changed := false
	for _, r := range v.rows {
		vis := v.tpl.Visible(r.field.ID, cur)
		if vis == r.box.Visible() {
			continue
		}
		changed = true
		if vis {
			r.box.Show()
		} else {
			r.box.Hide()
		}
	}
	if changed {
		v.relayout()
	}
}

// relayout lays the form out again after rows appeared, went or changed height.
func (v *formView) relayout() {
	if v.list == nil {
		return
	}
	v.list.Refresh()
	v.scroll.Refresh()
}

// edited takes in a change the worker made.
func (v *formView) edited(r *formRow) {
	if v.showing || v.finished || v.tpl == nil {
		return
	}
	id := r.field.ID
	v.rev[id]++
	v.dirty[id] = true
	// Typed values are checked when the worker leaves the field, not at every
	// key; a message already shown follows the typing, so it goes once fixed.
	if !fieldTyped(r.field.Type) || r.problem.Visible() {
		v.checkRow(r)
	}
	v.refreshVisibility()
	v.scheduleAutosave()
}

// left checks a field the worker left, and saves what changed.
func (v *formView) left(r *formRow) {
	if v.finished || v.tpl == nil {
		return
	}
	v.checkRow(r)
	if len(v.dirty) > 0 {
		v.requestSave("", nil)
	}
}

// settled checks a field whose value the worker completed without leaving it;
// a value still half entered waits until they leave.
func (v *formView) settled(r *formRow) {
	if v.showing || v.finished || v.tpl == nil {
		return
	}
	if _, err := r.input.value(); err == nil {
		v.checkRow(r)
	}
}

// checkRow shows the problem with a field's value, if any; required is checked on
// submit only.
func (v *formView) checkRow(r *formRow) {
	msg := ""
	if fe, bad := v.rowProblem(r); bad {
		msg = fieldProblemText(r.field, fe)
	}
	if r.setProblem(msg) {
		v.relayout()
	}
}

// rowProblem checks a field's value against its rules with the template's own
// check, and reports input that is not a value yet.
func (v *formView) rowProblem(r *formRow) (form.FieldError, bool) {
	if b, ok := r.input.(blobInput); ok && b.pending() {
		return form.FieldError{}, false // a drawn signature: nothing to check
	}
	raw, err := r.input.value()
	if err != nil {
		return form.FieldError{Field: r.field.ID, Rule: ruleInput, Msg: err.Error()}, true
	}
	if form.IsEmpty(raw) {
		return form.FieldError{}, false
	}
	if _, err := v.tpl.Check(form.Values{r.field.ID: raw}); err != nil {
		var ve *form.ValidationError
		if errors.As(err, &ve) && len(ve.Fields) > 0 {
			return ve.Fields[0], true
		}
		return form.FieldError{Field: r.field.ID, Rule: "type", Msg: err.Error()}, true
	}
	return form.FieldError{}, false
}

// problems lists what stops the form from being submitted (complete) or saved, for
// the fields shown, in the template's order.
func (v *formView) problems(complete bool) []form.FieldError {
	cur := v.values()
	missing := map[string]form.FieldError{}
	if complete {
		var ve *form.ValidationError
		if err := v.tpl.CheckComplete(cur); errors.As(err, &ve) {
			for _, fe := range ve.Fields {
				missing[fe.Field] = fe
			}
		}
	}
	var out []form.FieldError
	for _, r := range v.rows {
		if r.input == nil || !v.tpl.Visible(r.field.ID, cur) {
			continue
		}
		if fe, bad := v.rowProblem(r); bad {
			out = append(out, fe)
		} else if fe, ok := missing[r.field.ID]; ok {
			out = append(out, fe)
		}
	}
	return out
}

// unsavable returns the edited fields whose values cannot be saved as they are.
func (v *formView) unsavable() []*formRow {
	var out []*formRow
	for _, r := range v.rows {
		if r.input == nil || !v.dirty[r.field.ID] {
			continue
		}
		if _, bad := v.rowProblem(r); bad {
			out = append(out, r)
		}
	}
	return out
}

// showProblems shows errors under their fields; replace clears the others first.
// With scroll, the form scrolls to the first field with a problem.
func (v *formView) showProblems(errs []form.FieldError, replace, scroll bool) {
	if replace {
		for _, r := range v.rows {
			r.setProblem("")
		}
	}
	var first *formRow
	for _, fe := range errs {
		r := v.byID[fe.Field]
		if r == nil || r.problem == nil {
			continue // a field of another template version: Save's message says it
		}
		r.setProblem(fieldProblemText(r.field, fe))
		if first == nil && r.box.Visible() {
			first = r
		}
	}
	v.relayout()
	if scroll && first != nil {
		v.scrollTo(first)
	}
}

// scrollTo scrolls the form so that a field is at the top, and gives it the
// keyboard on a desktop.
func (v *formView) scrollTo(r *formRow) {
	y := r.box.Position().Y + v.list.Position().Y + v.column.Position().Y
	bottom := max(0, v.scroll.Content.Size().Height-v.scroll.Size().Height)
	v.scroll.ScrollToOffset(fyne.NewPos(0, min(y, bottom)))
	if f := r.input.focusable(); f != nil && v.win != nil && !fyne.CurrentDevice().IsMobile() {
		v.win.Canvas().Focus(f)
	}
}

// scheduleAutosave saves the edits debounce after the latest one.
func (v *formView) scheduleAutosave() {
	v.stopAutosave()
	gen := v.timerGen
	v.stopTimer = v.after(v.debounce, func() {
		if gen != v.timerGen || v.finished {
			return // stopped, or superseded, after it fired
		}
		v.stopTimer = nil
		v.requestSave("", nil)
	})
}

func (v *formView) stopAutosave() {
	v.timerGen++
	if v.stopTimer != nil {
		v.stopTimer()
		v.stopTimer = nil
	}
}

// formSaveRequest is a save asked for, and what to do once it is done.
type formSaveRequest struct {
	status string // "" keeps the record's status
	then   []func(error)
	// refused is set when a submit was refused by the form's own checks: what
	// can be saved is, and then gets this error.
	refused error
}

func (q *formSaveRequest) finish(err error) {
	for _, f := range q.then {
		f(err)
	}
}

// requestSave saves the edits so far, with a status ("" keeps it); then, when not
// nil, gets the outcome. Saves run one at a time, so a new record is created once
// and later saves edit it.
func (v *formView) requestSave(status string, then func(error)) {
	if v.finished {
		return
	}
	v.stopAutosave()
	req := formSaveRequest{status: status}
	if then != nil {
		req.then = append(req.then, then)
	}
	if !v.saving {
		v.startSave(req)
		return
	}
	if v.queued == nil {
		v.queued = &formSaveRequest{}
	}
	v.queued.status = strongerStatus(v.queued.status, status)
	v.queued.then = append(v.queued.then, req.then...)
}

// strongerStatus merges two requested statuses: submitting wins over saving a
// draft, which wins over keeping the status.
func strongerStatus(a, b string) string {
	rank := map[string]int{"": 0, form.StatusDraft: 1, form.StatusSubmitted: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// formSaveJob is one save's snapshot: what is sent, and the edits it covers.
type formSaveJob struct {
	record   string
	template form.TemplateKey
	status   string
	values   form.Values
	blobs    map[string][]byte // signatures to store first, by field
	blobRevs map[string]int
	revs     map[string]int // the edit count of each field sent
}

// empty reports a job with nothing to write: it would change nothing, or create an
// empty draft.
func (j *formSaveJob) empty() bool {
	return len(j.values) == 0 && len(j.blobs) == 0 &&
		(j.status == "" || j.record == "" && j.status == form.StatusDraft)
}

// formSaveResult is what a save's background work hands back.
type formSaveResult struct {
	rec         form.Record
	attachments map[string]form.Attachment
	err         error
}

func (v *formView) startSave(req formSaveRequest) {
	if req.status == form.StatusSubmitted {
		if probs := v.problems(true); len(probs) > 0 {
			v.showProblems(probs, true, true)
			v.setState(fmt.Sprintf("Not submitted: %s attention; each says what is wrong under it.", fieldCount(len(probs), "field needs", "fields need")),
				widget.DangerImportance)
			// What can be saved still is, as a draft would be.
			req.status, req.refused = "", errFormIncomplete
		} else {
			v.showProblems(nil, true, false)
			v.clearHidden()
		}
	}
	job := v.snapshot(req.status)
	if job.empty() {
		req.finish(req.refused)
		return
	}
	v.saving = true
	if len(req.then) > 0 && req.refused == nil {
		// The worker asked for this save; autosaves go quietly.
		v.setState("Saving…", widget.LowImportance)
	}
	v.work.Go(func() {
		res := v.store(job)
		v.toUI(func() { v.saved(job, res, req) })
	})
}

// clearHidden empties the fields a show-if rule hides, as they are not part of the
// answer (a hazard list when no hazard was found); before a submit only, so that
// switching an answer back and forth while filling in loses nothing.
func (v *formView) clearHidden() {
	cur := v.values()
	for _, r := range v.rows {
		if r.input == nil || v.tpl.Visible(r.field.ID, cur) {
			continue
		}
		if raw, err := r.input.value(); err == nil && form.IsEmpty(raw) {
			continue
		}
		v.showing = true
		r.input.show(fieldNull)
		v.showing = false
		r.setProblem("")
		v.rev[r.field.ID]++
		v.dirty[r.field.ID] = true
	}
}

// snapshot takes the edited fields that can be saved; the others stay edited.
func (v *formView) snapshot(status string) *formSaveJob {
	job := &formSaveJob{record: v.recordID, template: v.tpl.Key(), status: status, values: form.Values{},
		blobs: map[string][]byte{}, blobRevs: map[string]int{}, revs: map[string]int{}}
	if v.recordID != "" && status == v.status {
		job.status = ""
	}
	for _, r := range v.rows {
		id := r.field.ID
		if r.input == nil || !v.dirty[id] {
			continue
		}
		if b, ok := r.input.(blobInput); ok && b.pending() {
			data, rev, err := b.blob()
			if err != nil {
				v.log.Error("render a signature", "field", id, "err", err)
				continue
			}
			job.blobs[id], job.blobRevs[id], job.revs[id] = data, rev, v.rev[id]
			continue
		}
		if _, bad := v.rowProblem(r); bad {
			continue
		}
		raw, _ := r.input.value()
		job.values[id], job.revs[id] = raw, v.rev[id]
	}
	return job
}

// store runs a save off the UI goroutine: signatures first, then the record. It
// touches nothing of the screen.
func (v *formView) store(job *formSaveJob) formSaveResult {
	res := formSaveResult{attachments: map[string]form.Attachment{}}
	for id, data := range job.blobs {
		a, err := v.replica.AddAttachment(v.ctx, bytes.NewReader(data), "image/png", id+".png")
		if err != nil {
			res.err = fmt.Errorf("store the signature: %w", err)
			return res
		}
		job.values[id] = fieldJSON(a)
		res.attachments[id] = a
	}
	res.rec, res.err = v.replica.Save(v.ctx, Edit{Record: job.record, Template: job.template, Values: job.values, Status: job.status})
	return res
}

// saved takes a save's outcome in, then starts the save asked for meanwhile.
func (v *formView) saved(job *formSaveJob, res formSaveResult, req formSaveRequest) {
	v.saving = false
	if res.err == nil {
		v.recordID, v.status = res.rec.ID, res.rec.Status()
		for id, rev := range job.revs {
			if v.rev[id] == rev {
				delete(v.dirty, id)
			}
		}
		for id, a := range res.attachments {
			if b, ok := v.byID[id].input.(blobInput); ok {
				b.stored(job.blobRevs[id], a)
			}
		}
		if req.refused == nil {
			v.showSaved(job)
		}
	} else {
		// A save the worker asked for (a button) scrolls to the problem.
		v.saveFailed(job, res.err, len(req.then) > 0)
	}
	v.updateButtons()
	if res.err == nil {
		res.err = req.refused
	}
	req.finish(res.err)
	if q := v.queued; q != nil && !v.finished {
		v.queued = nil
		v.startSave(*q)
	}
}

func (v *formView) showSaved(job *formSaveJob) {
	at := v.now().In(v.loc).Format("15:04")
	text := "Draft saved at " + at + "."
	switch {
	case job.status == form.StatusSubmitted:
		text = "Submitted at " + at + "."
	case v.status == form.StatusSubmitted:
		text = "Changes saved at " + at + "."
	}
	if bad := v.unsavable(); len(bad) > 0 {
		v.setState(text+" Not saved yet: "+rowLabels(bad)+" — see the message under it.", widget.WarningImportance)
		return
	}
	v.setState(text, widget.SuccessImportance)
}

func (v *formView) saveFailed(job *formSaveJob, err error, scroll bool) {
	var ve *form.ValidationError
	if errors.As(err, &ve) {
		// Field errors hold what was typed: they are shown, never logged.
		ids := make([]string, len(ve.Fields))
		for i, fe := range ve.Fields {
			ids[i] = fe.Field + ":" + fe.Rule
		}
		v.log.Info("form not saved: invalid", "record", job.record, "template", job.template, "fields", ids)
		v.showProblems(ve.Fields, job.status == form.StatusSubmitted, scroll)
		msg := "Not saved: " + fieldCount(len(ve.Fields), "field needs", "fields need") + " attention; each says what is wrong under it."
		if v.status == form.StatusSubmitted && job.status == "" {
			msg = "Not saved: a submitted form must stay complete. Fix the fields marked, or save it as a draft."
		}
		for _, fe := range ve.Fields {
			if r := v.byID[fe.Field]; r == nil || r.problem == nil {
				msg += " " + fe.Error() + "."
			}
		}
		v.setState(msg, widget.DangerImportance)
		return
	}
	v.log.Warn("save form", "record", job.record, "template", job.template, "err", err)
	v.setState("Not saved: "+err.Error()+". What you entered stays here and is saved with your next change.", widget.DangerImportance)
}

// rowLabels names fields for a message.
func rowLabels(rows []*formRow) string {
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = r.field.Label.String()
	}
	return strings.Join(names, ", ")
}

// fieldCount is "1 field needs" or "3 fields need".
func fieldCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// saveDraft saves with the status draft and leaves, unless some entries cannot be
// saved: those are shown, and the form stays open.
func (v *formView) saveDraft() {
	v.requestSave(form.StatusDraft, func(err error) {
		if err != nil {
			return // shown by saveFailed
		}
		if bad := v.unsavable(); len(bad) > 0 {
			errs := make([]form.FieldError, len(bad))
			for i, r := range bad {
				errs[i], _ = v.rowProblem(r)
			}
			v.showProblems(errs, false, true)
			return
		}
		v.finish(v.recordID)
	})
}

// submitForm checks the whole form, saves it as submitted and leaves.
func (v *formView) submitForm() {
	v.requestSave(form.StatusSubmitted, func(err error) {
		if err == nil {
			v.finish(v.recordID)
		}
	})
}

// close leaves the form: a new one never saved is dropped (after asking, when
// something was entered); otherwise what is left is saved first.
func (v *formView) close() {
	if v.finished {
		return
	}
	if v.recordID == "" && !v.saving {
		if len(v.dirty) == 0 {
			v.finish("")
			return
		}
		v.confirm("Discard this form?", "What you entered has not been saved yet and will be lost.", "Discard", func() { v.finish("") })
		return
	}
	leave := func() {
		v.requestSave("", func(err error) {
			if err == nil {
				v.finish(v.recordID)
				return
			}
			v.confirm("Leave without the latest changes?", "They could not be saved; the form keeps what was saved before.", "Leave",
				func() { v.finish(v.recordID) })
		})
	}
	if bad := v.unsavable(); len(bad) > 0 {
		v.confirm("Leave without some entries?", "These are not valid and will not be kept: "+rowLabels(bad)+".", "Leave", leave)
		return
	}
	leave()
}

// finish ends the screen and hands back to the caller.
func (v *formView) finish(recordID string) {
	if v.finished {
		return
	}
	v.finished = true
	v.stopAutosave()
	if v.done != nil {
		v.done(recordID)
	}
}

func (v *formView) showConfirm(title, message, yes string, ok func()) {
	d := dialog.NewConfirm(title, message, func(b bool) {
		if b {
			ok()
		}
	}, v.win)
	d.SetConfirmText(yes)
	d.Show()
}

// pick lets the worker choose a file for a photo or file field.
func (v *formView) pick(r *formRow) {
	in, ok := r.input.(*fieldAttachInput)
	if !ok || v.finished || !in.canAdd() {
		return
	}
	var filter storage.FileFilter
	if in.photo {
		filter = storage.NewMimeTypeFileFilter([]string{"image/*"})
	}
	v.pickFile(filter, func(rc fyne.URIReadCloser, err error) {
		switch {
		case err != nil:
			if r.setProblem("The file could not be opened: " + err.Error()) {
				v.relayout()
			}
		case rc == nil:
			// Cancelled: nothing changes.
		default:
			v.addFile(r, in, rc)
		}
	})
}

func (v *formView) showFileOpen(filter storage.FileFilter, picked func(fyne.URIReadCloser, error)) {
	d := dialog.NewFileOpen(picked, v.win)
	if filter != nil {
		d.SetFilter(filter)
	}
	if s := v.win.Canvas().Size(); s.Width > 0 {
		d.Resize(fyne.NewSize(s.Width*0.9, s.Height*0.9))
	}
	d.Show()
}

// addFile copies a chosen file into the replica's attachments, reading it while
// the dialog's reader is still open (on iOS the file is only reachable through
// it), and adds it to the field.
func (v *formView) addFile(r *formRow, in *fieldAttachInput, rc fyne.URIReadCloser) {
	name := attachmentFileName(rc.URI().Name())
	in.startAdding(name)
	photo := in.photo
	v.work.Go(func() {
		a, preview, err := v.storeFile(rc, name, photo)
		v.toUI(func() {
			in.doneAdding(name)
			if err != nil {
				v.log.Warn("attach file", "field", r.field.ID, "err", err)
				if r.setProblem(fmt.Sprintf("“%s” was not added: %v.", name, err)) {
					v.relayout()
				}
				return
			}
			r.setProblem("")
			in.append(a, preview)
			v.edited(r)
		})
	})
}

// storeFile reads a chosen file into the replica, off the UI goroutine. A photo is
// read whole, to be previewed as well.
func (v *formView) storeFile(rc fyne.URIReadCloser, name string, photo bool) (form.Attachment, image.Image, error) {
	defer rc.Close()
	mediaType := attachmentMediaType(rc.URI())
	if !photo {
		a, err := v.replica.AddAttachment(v.ctx, rc, mediaType, name)
		return a, nil, err
	}
	if !strings.HasPrefix(mediaType, "image/") {
		return form.Attachment{}, nil, errors.New("it is not a photo")
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxPhotoBytes+1))
	if err != nil {
		return form.Attachment{}, nil, fmt.Errorf("reading it failed: %w", err)
	}
	if len(data) > maxPhotoBytes {
		return form.Attachment{}, nil, fmt.Errorf("it is larger than %s", formByteSize(maxPhotoBytes))
	}
	a, err := v.replica.AddAttachment(v.ctx, bytes.NewReader(data), mediaType, name)
	if err != nil {
		return form.Attachment{}, nil, err
	}
	var preview image.Image
	if img, _, err := image.Decode(bytes.NewReader(data)); err == nil {
		preview = formThumbnail(img, thumbPixelSide)
	}
	return a, preview, nil
}

// attachmentMediaType is a file's media type without parameters; it may read the
// file, so it runs off the UI goroutine.
func attachmentMediaType(u fyne.URI) string {
	t, _, err := mime.ParseMediaType(u.MimeType())
	if err != nil || !strings.Contains(t, "/") || len(t) > 255 {
		return "application/octet-stream"
	}
	return t
}

// attachmentFileName makes a chosen file's name fit an attachment: no path
// separators, at most 255 bytes.
func attachmentFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		name = "file"
	}
	return name
}

// loadImage reads a stored image in the background, scaled down to side pixels,
// and calls show with it on the UI goroutine.
func (v *formView) loadImage(a form.Attachment, side int, show func(image.Image, error)) {
	v.work.Go(func() {
		img, err := v.readImage(a.SHA256, side)
		v.toUI(func() { show(img, err) })
	})
}

func (v *formView) readImage(sha string, side int) (image.Image, error) {
	rc, err := v.replica.OpenAttachment(v.ctx, sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxPhotoBytes))
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoPreview, err)
	}
	return formThumbnail(img, side), nil
}

// formColumnLayout centres its objects in a column at most as wide as it says, so
// lines stay readable on a wide screen.
type formColumnLayout float32

func (l formColumnLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	w := min(size.Width, float32(l))
	for _, o := range objects {
		o.Move(fyne.NewPos((size.Width-w)/2, 0))
		o.Resize(fyne.NewSize(w, size.Height))
	}
}

func (l formColumnLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objects {
		s = s.Max(o.MinSize())
	}
	return s
}
