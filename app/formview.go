package app

// The form screen, one screen in several files by concern:
//
//	formview.go          the screen: loading, header, buttons, leaving
//	formview_outline.go  groups, repeats and their instances, pages: the form's
//	                     outline laid out from form.Form.Items
//	formview_rows.go     a field on screen, what the worker enters, and what the
//	                     form's expressions make of it after every change
//	formview_nav.go      pages, progress, the jump-to-question list, scrolling
//	formview_lang.go     the language the form is shown in
//	formview_save.go     autosave, save, submit and their problems
//	formview_files.go    photos, files, recordings and videos picked and stored
//
// The form's state is a form.Form, the engine the replica's saves run too: the
// screen puts each answer in it (Set), shows what follows (relevance, labels,
// calculations, choice filters, repeat counts), and saves the keys that differ
// from what was last saved.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

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
	// prefs remembers the language chosen for each template; locale is the
	// device's language ("fr-FR").
	prefs  fyne.Preferences
	locale string
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
	fm       *form.Form  // the answers and what the form makes of them
	base     form.Values // the values as last saved (or read): saves send what differs
	recordID string      // "" until the first save of a new record
	status   string      // the saved record's status; "" before the first save
	rows     []*formRow  // in the form's order
	byID     map[string]*formRow
	outline  formOutline
	// showing is set while values are put in the widgets: the changes the
	// widgets report then are not the worker's.
	showing bool
	// dirty holds the keys not saved yet: changed since the last save, or
	// entered but not a value yet.
	dirty map[string]bool
	// saving is set while a save runs; requests made meanwhile wait in queued.
	saving    bool
	queued    *formSaveRequest
	stopTimer func()
	timerGen  int
	finished  bool

	root     *fyne.Container
	state    *widget.Label
	list     *fyne.Container // what is shown of the outline: all of it, or a page
	column   *fyne.Container
	scroll   *container.Scroll
	language *widget.Select
	progress *formProgress
	jump     *formJumpList
	pager    *formPager
	cancel   *widget.Button
	draft    *widget.Button
	submit   *widget.Button
}

func newFormView(ctx context.Context, w fyne.Window, d Deps, target FormTarget, done func(string), s formSeams) *formView {
	v := &formView{formSeams: s, ctx: ctx, win: w, replica: d.Replica, log: d.Logger, target: target, done: done,
		byID: map[string]*formRow{}, dirty: map[string]bool{}}
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
	if v.prefs == nil {
		v.prefs = fyne.CurrentApp().Preferences()
	}
	if v.locale == "" {
		v.locale = deviceLocale()
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

// build shows the form, with the record's values when there is one; a new
// record starts with its defaults, metadata and calculations.
func (v *formView) build(tpl *form.Template, rec *form.Record) {
	v.tpl = tpl
	ctx := form.Context{Now: v.now, Language: v.chosenLanguage()}
	if rec != nil {
		v.recordID, v.status = rec.ID, rec.Status()
		ctx.Record = rec.ID
		v.fm = tpl.NewForm(rec.Values(), ctx)
	} else {
		v.fm = tpl.NewForm(nil, ctx)
		v.fm.Start()
	}
	v.base = v.fm.Values()

	v.list = container.NewVBox()
	v.column = container.New(formColumnLayout(formMaxWidth), v.list)
	v.scroll = container.NewVScroll(container.NewPadded(v.column))
	v.progress = newFormProgress()
	v.jump = newFormJumpList(v)
	v.pager = newFormPager(v, formPaged(tpl))
	v.layOut(v.fm.Items())
	v.refresh()

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
	tools := container.NewHBox(formTouchTarget(v.jump.button))
	if v.language = v.newLanguageSelect(); v.language != nil {
		tools.Objects = append([]fyne.CanvasObject{formTouchTarget(v.language)}, tools.Objects...)
	}
	header.Add(container.NewBorder(nil, nil, nil, tools, v.progress.view))

	v.cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), v.close)
	v.draft = widget.NewButtonWithIcon("Save draft", theme.DocumentSaveIcon(), v.saveDraft)
	v.submit = widget.NewButtonWithIcon("Submit", theme.ConfirmIcon(), v.submitForm)
	v.submit.Importance = widget.HighImportance
	v.updateButtons()
	actions := container.NewHBox(formTouchTarget(v.cancel), layout.NewSpacer(), formTouchTarget(v.draft), formTouchTarget(v.submit))

	top := container.NewPadded(container.New(formColumnLayout(formMaxWidth), header))
	foot := container.NewVBox(v.pager.view, actions)
	bottom := container.NewVBox(widget.NewSeparator(), container.NewPadded(container.New(formColumnLayout(formMaxWidth), foot)))
	v.root.Objects = []fyne.CanvasObject{container.NewBorder(top, bottom, nil, nil, v.scroll)}
	v.root.Refresh()
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
		v.confirm("Leave without some entries?", "These are not valid and will not be kept: "+v.rowLabels(bad)+".", "Leave", leave)
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
