package app

import (
	"context"
	"log/slog"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// Deps are what the UI uses from the rest of the program.
type Deps struct {
	// Replica is the device's local replica.
	Replica Replica
	// Sync is the replication engine; nil when the UI runs without one (tests).
	Sync Sync
	// Logger receives the UI's operational messages; nil discards them.
	Logger *slog.Logger
	// Do runs fn on the UI goroutine; nil means fyne.Do. A benchmark that
	// drives the window from its own goroutine (Fyne's test driver runs
	// fyne.Do at once, on the calling goroutine) sets it to a queue it
	// drains.
	Do func(fn func())
}

// wideMin is the narrowest window (in Fyne's device-independent units) that
// shows the list and the open form side by side; narrower ones, such as a
// tablet held upright, show one of them at a time.
const wideMin = 800

// Texts of the main window.
const (
	pickText = "Pick a form from the list to see it here, or tap New form to fill one in."
)

// env is what every screen of a window shares.
type env struct {
	ui  *ui
	app fyne.App
	w   fyne.Window
	d   Deps
	// saveFile asks where to save a file called name and hands use a writer
	// there; use is not called when the person cancels.
	saveFile func(name string, use func(fyne.URIWriteCloser))
}

func newEnv(ctx context.Context, a fyne.App, w fyne.Window, d Deps) *env {
	e := &env{ui: newUI(ctx, d.Logger, d.Do), app: a, w: w, d: d}
	e.saveFile = e.saveFileDialog
	return e
}

// saveFileDialog is saveFile with Fyne's dialog, which hands over a writer
// (a URI, not a path: on an iPad it may be anywhere in Files).
func (e *env) saveFileDialog(name string, use func(fyne.URIWriteCloser)) {
	d := dialog.NewFileSave(func(wc fyne.URIWriteCloser, err error) {
		if err != nil {
			dialog.ShowError(err, e.w)
			return
		}
		if wc == nil {
			return // cancelled
		}
		use(wc)
	}, e.w)
	d.SetFileName(name)
	d.Show()
}

func (e *env) prefs() fyne.Preferences {
	if e.app == nil {
		return nil
	}
	return e.app.Preferences()
}

// NewMainWindow builds Fieldforms' main window: the forms on this device with
// search and filters, the open form beside them (or over them on a narrow
// screen), and the sync status along the bottom. It reads the first page of
// forms before it returns; ctx bounds every read the window makes. With
// d.Sync set, sync pauses while the app is in the background on a tablet.
func NewMainWindow(ctx context.Context, a fyne.App, d Deps) fyne.Window {
	w := a.NewWindow("Fieldforms")
	w.SetMaster()
	v := newMainView(newEnv(ctx, a, w, d))
	w.SetContent(v.content)
	v.wireLifecycle(a.Lifecycle())
	return w
}

// mainView is the main window's content and its navigation.
type mainView struct {
	env    *env
	mobile bool // touch device: no keyboard shortcuts, no focus on the search box

	home     *homeScreen
	bar      *syncBar // nil without Sync
	newBtn   *widget.Button
	setBtn   *widget.Button
	back     *widget.Button
	title    *widget.Label
	detail   *fyne.Container // the open screen
	listPane *fyne.Container
	sepPane  *fyne.Container
	pane     *fyne.Container // the detail pane: its header and the open screen
	body     *fyne.Container
	content  fyne.CanvasObject

	// formScreen makes the form-filling screen: NewFormView; tests replace it.
	formScreen func(ctx context.Context, w fyne.Window, d Deps, target FormTarget, done func(recordID string)) fyne.CanvasObject

	// Navigation, on the UI goroutine.
	wide     bool
	open     bool   // a screen is open in the detail pane
	editing  string // the record the form screen edits, if any
	record   *recordView
	settings *settingsScreen
	picker   *templatePicker
}

func newMainView(e *env) *mainView {
	v := &mainView{env: e, mobile: fyne.CurrentDevice().IsMobile(), formScreen: NewFormView}
	v.home = newHomeScreen(e.ui, e.d.Replica)
	v.home.records.onSelect = func(s RecordSummary) { v.openRecord(s.ID) }

	appTitle := widget.NewLabelWithStyle("Fieldforms", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	appTitle.SizeName = theme.SizeNameSubHeadingText
	v.newBtn = widget.NewButtonWithIcon("New form", theme.ContentAddIcon(), v.newForm)
	v.newBtn.Importance = widget.HighImportance
	v.setBtn = widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), v.openSettings)
	header := container.NewBorder(nil, nil, appTitle, container.NewHBox(touch(v.setBtn), touch(v.newBtn)))

	v.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), v.closeDetail)
	v.back.Hide()
	v.title = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.title.Truncation = fyne.TextTruncateEllipsis
	v.detail = container.NewStack()
	v.pane = container.NewBorder(container.NewBorder(nil, nil, touch(v.back), nil, v.title), nil, nil, nil, v.detail)
	v.listPane = container.NewStack(v.home.view)
	v.sepPane = container.NewStack(widget.NewSeparator())
	v.body = container.New(&splitLayout{v: v}, v.listPane, v.sepPane, v.pane)
	v.showPlaceholder()

	var bottom fyne.CanvasObject
	if e.d.Sync != nil {
		v.bar = newSyncBar(e)
		var lastSync time.Time
		v.bar.onStatus(func(st SyncStatus) {
			if v.settings != nil {
				v.settings.showStatus(st)
			}
			// A sync that went through may have brought forms and
			// templates from other devices.
			if !st.LastSuccess.IsZero() && !st.LastSuccess.Equal(lastSync) {
				if !lastSync.IsZero() {
					v.home.refresh()
				}
				lastSync = st.LastSuccess
			}
		})
		bottom = v.bar.view
	}
	v.content = container.NewBorder(container.NewVBox(header, widget.NewSeparator()), bottom, nil, nil, v.body)

	if !v.mobile && e.w != nil {
		c := e.w.Canvas()
		c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) { c.Focus(v.home.search) })
		c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyN, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) { v.newForm() })
	}
	return v
}

// wireLifecycle pauses sync when a tablet app leaves the foreground (after
// which iOS may suspend it at any moment) and resumes it on return. Every
// save is durable when it returns, so there is nothing else to flush. On a
// desktop, the same events fire whenever the window loses or gains focus;
// there sync keeps running, and coming back only asks for a sync now.
func (v *mainView) wireLifecycle(lc fyne.Lifecycle) {
	s := v.env.d.Sync
	if s == nil {
		return
	}
	lc.SetOnExitedForeground(func() {
		if v.mobile {
			s.Pause()
		}
	})
	lc.SetOnEnteredForeground(func() {
		if v.mobile {
			s.Resume()
		} else {
			s.Wake()
		}
	})
}

// showDetail opens a screen in the detail pane (full screen when narrow).
func (v *mainView) showDetail(title string, o fyne.CanvasObject) {
	v.open = true
	v.title.SetText(title)
	v.detail.Objects = []fyne.CanvasObject{o}
	v.detail.Refresh()
	v.showBack()
	v.body.Refresh()
}

// closeDetail goes back to the list.
func (v *mainView) closeDetail() {
	v.open = false
	v.record, v.settings, v.picker, v.editing = nil, nil, nil, ""
	v.home.records.unselect()
	v.showPlaceholder()
	v.showBack()
	v.body.Refresh()
}

func (v *mainView) showPlaceholder() {
	v.title.SetText("")
	msg := wrapped(pickText)
	msg.Alignment = fyne.TextAlignCenter
	msg.Importance = widget.MediumImportance
	v.detail.Objects = []fyne.CanvasObject{container.NewPadded(container.NewVBox(layout.NewSpacer(), msg, layout.NewSpacer()))}
	v.detail.Refresh()
}

func (v *mainView) showBack() {
	if v.open && !v.wide {
		v.back.Show()
	} else {
		v.back.Hide()
	}
}

// setWide switches between the one-column and the side-by-side layout.
func (v *mainView) setWide(wide bool) {
	v.wide = wide
	v.showBack()
}

func (v *mainView) openRecord(id string) {
	v.settings, v.picker, v.editing = nil, nil, ""
	v.record = newRecordView(v.env, id, v.editRecord, func(form.Record) { v.home.records.reload() })
	v.showDetail("Form", v.record.view)
}

func (v *mainView) newForm() {
	v.record, v.settings, v.editing = nil, nil, ""
	v.home.records.unselect()
	v.picker = newTemplatePicker(v.env, v.startForm)
	v.showDetail("New form", v.picker.view)
}

func (v *mainView) startForm(k form.TemplateKey) {
	v.picker = nil
	v.showDetail("New form", v.openForm(FormTarget{Template: k}))
}

func (v *mainView) editRecord(id string) {
	v.record, v.editing = nil, id
	v.showDetail("Edit form", v.openForm(FormTarget{Record: id}))
}

// openForm makes the form screen for target. It hands its answers to the UI
// through the same bridge as every other screen.
func (v *mainView) openForm(target FormTarget) fyne.CanvasObject {
	d := v.env.d
	d.Do = v.env.ui.do
	return v.formScreen(v.env.ui.ctx, v.env.w, d, target, v.formDone)
}

// formDone is called when the worker leaves the form screen: it shows the
// record saved, or goes back where the worker came from.
func (v *mainView) formDone(id string) {
	v.home.records.reload()
	switch {
	case id != "":
		v.openRecord(id)
	case v.editing != "":
		v.openRecord(v.editing)
	default:
		v.closeDetail()
	}
}

func (v *mainView) openSettings() {
	v.record, v.picker, v.editing = nil, nil, ""
	v.home.records.unselect()
	var st SyncStatus
	if v.bar != nil {
		st = v.bar.status
	}
	v.settings = newSettingsScreen(v.env, st)
	v.showDetail("Settings", v.settings.view)
}

// splitLayout lays the list and the detail pane side by side on a wide
// window, and shows one of them at a time on a narrow one.
type splitLayout struct{ v *mainView }

func (l *splitLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	list, sep, detail := objects[0], objects[1], objects[2]
	if wide := size.Width >= wideMin; wide != l.v.wide {
		l.v.setWide(wide)
	}
	if !l.v.wide {
		sep.Hide()
		shown, hidden := list, detail
		if l.v.open {
			shown, hidden = detail, list
		}
		hidden.Hide()
		shown.Show()
		shown.Move(fyne.NewPos(0, 0))
		shown.Resize(size)
		return
	}
	pad := theme.Padding()
	lw := min(max(size.Width*0.4, 340), 480)
	list.Show()
	sep.Show()
	detail.Show()
	list.Move(fyne.NewPos(0, 0))
	list.Resize(fyne.NewSize(lw, size.Height))
	sep.Move(fyne.NewPos(lw+pad, 0))
	sep.Resize(fyne.NewSize(theme.SeparatorThicknessSize(), size.Height))
	x := lw + 2*pad + theme.SeparatorThicknessSize()
	detail.Move(fyne.NewPos(x, 0))
	detail.Resize(fyne.NewSize(size.Width-x, size.Height))
}

// MinSize is the one-column layout's: a window may always shrink to it.
func (l *splitLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	return objects[0].MinSize().Max(objects[2].MinSize())
}
