package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// Texts of the record view.
const (
	deleteTitle    = "Delete this form?"
	deleteMessage  = "It moves to Deleted, where anyone can find it and restore it. Nothing is lost."
	deletedBanner  = "This form is deleted. It is kept, and Restore brings it back as it was."
	emptyValueText = "—"
)

// recordView shows one record: its values, attachments, procedures and
// history, with Edit, Delete and Restore.
type recordView struct {
	env *env
	id  string
	// onEdit opens the record in the form screen; onChanged is told after a
	// delete or a restore, so the list can show it.
	onEdit    func(id string)
	onChanged func(form.Record)

	// Touched on the UI goroutine only.
	rec    form.Record
	tpl    *form.Template // nil when the replica lacks the record's template version
	fm     *form.Form     // the record as its form reads it; nil without tpl
	loaded bool

	title       *widget.Label
	meta        *widget.Label
	banner      *widget.Label
	message     *widget.Label // loading, or why the record cannot be shown
	editBtn     *widget.Button
	deleteBtn   *widget.Button
	restoreBtn  *widget.Button
	editBox     fyne.CanvasObject // the buttons' finger-sized boxes
	deleteBox   fyne.CanvasObject
	restoreBox  fyne.CanvasObject
	values      *fyne.Container
	procedures  *fyne.Container
	procs       *procedureList    // the template's procedures, if any
	attachments []*attachmentView // top to bottom
	hist        []HistoryEntry    // nil until read
	history     *fyne.Container
	historyMsg  *widget.Label
	view        fyne.CanvasObject
}

func newRecordView(e *env, id string, onEdit func(string), onChanged func(form.Record)) *recordView {
	v := &recordView{env: e, id: id, onEdit: onEdit, onChanged: onChanged,
		title: heading(""), meta: quiet(""), banner: wrapped(""), message: wrapped(loadingText),
		values: container.NewVBox(), procedures: container.NewVBox(), history: container.NewVBox(),
		historyMsg: quiet(loadingText)}
	v.banner.Importance = widget.WarningImportance
	v.banner.Hide()
	v.editBtn = widget.NewButtonWithIcon("Edit", theme.DocumentCreateIcon(), func() { v.onEdit(v.id) })
	v.deleteBtn = widget.NewButtonWithIcon("Delete", theme.DeleteIcon(), v.confirmDelete)
	v.deleteBtn.Importance = widget.DangerImportance
	v.restoreBtn = widget.NewButtonWithIcon("Restore", theme.HistoryIcon(), v.restore)
	v.restoreBtn.Importance = widget.HighImportance
	v.editBox, v.deleteBox, v.restoreBox = touch(v.editBtn), touch(v.deleteBtn), touch(v.restoreBtn)
	setVisible(false, v.editBtn, v.editBox, v.deleteBtn, v.deleteBox, v.restoreBtn, v.restoreBox)
	buttons := container.NewHBox(v.editBox, v.deleteBox, v.restoreBox)
	body := container.NewVBox(
		v.title, v.meta, v.banner, v.message, buttons,
		widget.NewSeparator(), v.values,
		v.procedures,
		widget.NewSeparator(), heading("History"), v.historyMsg, v.history,
	)
	v.view = container.NewVScroll(container.NewPadded(body))
	v.load()
	return v
}

// load reads the record and its template, then its history.
func (v *recordView) load() {
	v.env.ui.background(func(ctx context.Context) func() {
		rec, err := v.env.d.Replica.Get(ctx, v.id)
		if err != nil {
			return func() {
				setMessage(v.message, fmt.Sprintf("This form could not be read: %v", err), widget.DangerImportance)
			}
		}
		tpl, err := v.env.d.Replica.Template(form.TemplateKey{ID: rec.Template, Version: rec.Version})
		if err != nil {
			v.env.ui.log.Warn("record view: template", "template", rec.Template, "version", rec.Version, "err", err)
			tpl = nil
		}
		return func() { v.show(rec, tpl) }
	})
	v.loadHistory()
}

// show puts a record on screen.
func (v *recordView) show(rec form.Record, tpl *form.Template) {
	v.rec, v.tpl, v.loaded = rec, tpl, true
	v.fm = nil
	if tpl != nil {
		// In the language chosen for its template.
		v.fm = tpl.NewForm(rec.Values(), form.Context{Language: formLanguage(tpl, v.env.prefs(), deviceLocale())})
	}
	setMessage(v.message, "", widget.MediumImportance)
	v.showHeader()
	v.attachments = nil
	v.values.Objects = v.valueRows()
	v.values.Refresh()
	v.procedures.Objects, v.procs = nil, nil
	if tpl != nil && len(tpl.Procedures) > 0 {
		v.procs = newProcedures(v.env, tpl.Procedures)
		v.procedures.Objects = []fyne.CanvasObject{widget.NewSeparator(), heading("Procedures"), v.procs.view}
	}
	v.procedures.Refresh()
	v.showHistory() // again, with the template's labels
}

// showHeader shows the title, the status line and the buttons that fit the
// record's state.
func (v *recordView) showHeader() {
	vals := v.rec.Values()
	title, name := "", v.rec.Template
	if v.tpl != nil {
		title, name = recordTitle(v.tpl, vals), v.tpl.Name
	}
	if title == "" {
		title = untitledText
	}
	v.title.SetText(title)
	status := statusText(RecordSummary{Status: v.rec.Status(), Deleted: v.rec.Deleted()})
	meta := []string{fmt.Sprintf("%s (version %d)", name, v.rec.Version), status}
	if v.rec.CreatedBy != "" {
		meta = append(meta, "created by "+v.rec.CreatedBy)
	}
	if u := v.rec.Updated(); u.HLC != 0 {
		meta = append(meta, "last change "+formatTime(u.HLC.Time().Local()))
	}
	v.meta.SetText(strings.Join(meta, " · "))
	del := v.rec.Deleted()
	if del {
		setMessage(v.banner, deletedBanner, widget.WarningImportance)
	} else {
		v.banner.Hide()
	}
	setVisible(!del, v.editBtn, v.editBox, v.deleteBtn, v.deleteBox)
	setVisible(del, v.restoreBtn, v.restoreBox)
}

// valueRows shows the record's values in the form's order, in the language
// chosen for its template: each group as a section, each repeat instance as a
// section of its own ("Member 2"), each field's label above its value, notes as
// headings, computed values with a label. Fields the form does not ask, with no
// value, are left out; hidden fields and metadata are never shown.
func (v *recordView) valueRows() []fyne.CanvasObject {
	vals := v.rec.Values()
	if v.tpl == nil {
		// The replica lacks this version of the template: show what there is.
		ids := make([]string, 0, len(vals))
		for id := range vals {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, form.CompareKeys)
		rows := []fyne.CanvasObject{quiet(fmt.Sprintf("The template %s version %d is not on this device yet; values are shown by field ID.", v.rec.Template, v.rec.Version))}
		for _, id := range ids {
			rows = append(rows, labelled(id, wrapped(form.DisplayValue(vals[id]))))
		}
		return rows
	}
	fm := v.fm
	var rows []fyne.CanvasObject
	indent := func(depth int, o fyne.CanvasObject) fyne.CanvasObject {
		for range depth {
			o = formInset(o)
		}
		return o
	}
	for _, it := range fm.Items() {
		f, key := it.Field, it.Key
		switch {
		case !fm.Relevant(key) && (it.Kind != form.ItemField || form.IsEmpty(vals[key])):
		case it.Kind == form.ItemGroup:
			rows = append(rows, indent(it.Depth, heading(fm.Label(key))))
		case it.Kind == form.ItemInstance:
			rows = append(rows, indent(it.Depth-1, heading(instanceTitle(fm, it))))
		case it.Kind == form.ItemRepeat || !formShown(f):
		case f.Type == form.TypeNote:
			rows = append(rows, indent(it.Depth, heading(fm.Label(key))))
			if !f.Help.Blank() {
				rows = append(rows, indent(it.Depth, quiet(fm.Hint(key))))
			}
		default:
			rows = append(rows, indent(it.Depth, labelled(fm.Label(key), v.valueObject(fm, f, vals[key]))))
		}
	}
	return rows
}

// labelled is a field's label (bold) close above its value.
func labelled(label string, value fyne.CanvasObject) fyne.CanvasObject {
	l := widget.NewLabelWithStyle(label, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.Wrapping = fyne.TextWrapWord
	return container.New(layout.NewCustomPaddedVBoxLayout(0), l, value)
}

// valueObject shows one value: attachments as images or files, choices by
// their labels, the rest as text.
func (v *recordView) valueObject(fm *form.Form, f *form.Field, raw json.RawMessage) fyne.CanvasObject {
	if form.IsEmpty(raw) {
		return quiet(emptyValueText)
	}
	switch f.Type {
	case form.TypeSignature:
		var a form.Attachment
		if json.Unmarshal(raw, &a) == nil && a.SHA256 != "" {
			av := newAttachmentView(v.env, a, true)
			v.attachments = append(v.attachments, av)
			return av.view
		}
	case form.TypePhoto, form.TypeFile, form.TypeAudio, form.TypeVideo:
		var as []form.Attachment
		if json.Unmarshal(raw, &as) == nil {
			box := container.NewVBox()
			for _, a := range as {
				av := newAttachmentView(v.env, a, f.Type == form.TypePhoto)
				v.attachments = append(v.attachments, av)
				box.Add(av.view)
			}
			return box
		}
	}
	return wrapped(fieldDisplay(fm, f, raw))
}

// recordTitle is form.Template.RecordTitle with values as people read them.
func recordTitle(t *form.Template, vals form.Values) string {
	ids := t.Title
	if len(ids) == 0 {
		return t.RecordTitle(vals)
	}
	var parts []string
	for _, id := range ids {
		f, _ := t.Field(id)
		if s := displayValue(f, vals[id]); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// displayValue writes a value as people read it: choices by their labels,
// yes/no as Yes and No, date-times in local time, the rest as
// form.DisplayValue does.
func displayValue(f *form.Field, raw json.RawMessage) string {
	return displayValueIn(f, raw, plainOptionLabel)
}

// fieldDisplay is displayValue in a form's language.
func fieldDisplay(fm *form.Form, f *form.Field, raw json.RawMessage) string {
	return displayValueIn(f, raw, fm.OptionLabel)
}

// displayValueIn is displayValue with options labelled by label.
func displayValueIn(f *form.Field, raw json.RawMessage, label func(form.Option) string) string {
	if form.IsEmpty(raw) {
		return ""
	}
	if f != nil {
		switch f.Type {
		case form.TypeDateTime:
			var s string
			if json.Unmarshal(raw, &s) == nil {
				if t, err := time.Parse(time.RFC3339, s); err == nil {
					return formatTime(t.Local())
				}
			}
		case form.TypeChoice, form.TypeMultiChoice, form.TypeRank:
			var one string
			var many []string
			if json.Unmarshal(raw, &one) == nil {
				many = []string{one}
			} else if json.Unmarshal(raw, &many) != nil {
				break
			}
			for i, s := range many {
				if o, ok := f.Option(s); ok {
					many[i] = label(o)
				}
			}
			sep := ", "
			if f.Type == form.TypeRank {
				sep = " > "
			}
			return strings.Join(many, sep)
		case form.TypeYesNo:
			switch string(raw) {
			case "true":
				return "Yes"
			case "false":
				return "No"
			}
		case form.TypeAcknowledge:
			return "Acknowledged"
		case form.TypeGeoTrace, form.TypeGeoShape:
			var pts []form.Geo
			if json.Unmarshal(raw, &pts) == nil {
				parts := make([]string, len(pts))
				for i, p := range pts {
					parts[i] = fmt.Sprintf("%.6f, %.6f", p.Lat, p.Lon)
				}
				return strings.Join(parts, "; ")
			}
		}
	}
	return form.DisplayValue(raw)
}

func (v *recordView) confirmDelete() {
	d := dialog.NewConfirm(deleteTitle, deleteMessage, func(ok bool) {
		if ok {
			v.setDeleted(true)
		}
	}, v.env.w)
	d.SetConfirmText("Delete")
	d.SetConfirmImportance(widget.DangerImportance)
	d.SetDismissText("Keep it")
	d.Show()
}

func (v *recordView) restore() { v.setDeleted(false) }

// setDeleted deletes (soft) or restores the record, then shows it and its
// history again.
func (v *recordView) setDeleted(del bool) {
	v.deleteBtn.Disable()
	v.restoreBtn.Disable()
	v.env.ui.background(func(ctx context.Context) func() {
		var rec form.Record
		var err error
		if del {
			rec, err = v.env.d.Replica.Delete(ctx, v.id)
		} else {
			rec, err = v.env.d.Replica.Restore(ctx, v.id)
		}
		return func() {
			v.deleteBtn.Enable()
			v.restoreBtn.Enable()
			if err != nil {
				verb := map[bool]string{true: "deleted", false: "restored"}[del]
				setMessage(v.message, fmt.Sprintf("The form could not be %s: %v", verb, err), widget.DangerImportance)
				return
			}
			setMessage(v.message, "", widget.MediumImportance)
			v.rec = rec
			v.showHeader()
			v.loadHistory()
			if v.onChanged != nil {
				v.onChanged(rec)
			}
		}
	})
}

// loadHistory reads the record's history and shows it, newest first.
func (v *recordView) loadHistory() {
	v.env.ui.background(func(ctx context.Context) func() {
		h, err := v.env.d.Replica.History(ctx, v.id)
		return func() {
			if err != nil {
				setMessage(v.historyMsg, fmt.Sprintf("The history could not be read: %v", err), widget.DangerImportance)
				return
			}
			v.hist = h
			v.showHistory()
		}
	})
}

// showHistory shows the history read, newest first, with the fields' labels
// once the template is known (the two are read apart).
func (v *recordView) showHistory() {
	if v.hist == nil {
		return
	}
	if len(v.hist) == 0 {
		setMessage(v.historyMsg, "No history recorded.", widget.MediumImportance)
	} else {
		setMessage(v.historyMsg, "", widget.MediumImportance)
	}
	rows := make([]fyne.CanvasObject, 0, len(v.hist))
	for i := len(v.hist) - 1; i >= 0; i-- {
		rows = append(rows, v.historyRow(v.hist[i]))
	}
	v.history.Objects = rows
	v.history.Refresh()
}

// historyRow is one history entry: when, who, on which device, what was done,
// then each field's change from what to what.
func (v *recordView) historyRow(e HistoryEntry) fyne.CanvasObject {
	who := e.Actor
	if who == "" {
		who = "someone"
	}
	line := fmt.Sprintf("%s · %s by %s", formatTime(e.Time), actionText(e.Action), who)
	if e.Device != "" {
		line += " on device " + e.Device
	}
	head := widget.NewLabelWithStyle(line, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	head.Wrapping = fyne.TextWrapWord
	box := container.New(layout.NewCustomPaddedVBoxLayout(0), head)
	for _, c := range e.Changes {
		box.Add(wrapped(v.changeText(c)))
	}
	if e.Note != "" {
		box.Add(quiet(e.Note))
	}
	return box
}

// changeText says how one field changed.
func (v *recordView) changeText(c FieldChange) string {
	label, f := c.Field, (*form.Field)(nil)
	switch c.Field {
	case form.FieldStatus:
		label = "Status"
	case form.FieldDeleted:
		label = "Deleted"
	default:
		if v.tpl != nil {
			if tf, ok := v.tpl.Field(c.Field); ok {
				label, f = v.fm.Label(c.Field), tf
				if label == "" {
					label = tf.ID
				}
				if tf.Type == form.TypeRepeat && strings.HasSuffix(c.Field, "]") {
					// An instance's marker: added (yes) or removed (no).
					if c.New == "yes" {
						return label + ": added"
					}
					return label + ": removed"
				}
			}
		}
	}
	show := func(s string) string {
		switch {
		case s == "":
			return s
		case c.Field == form.FieldStatus:
			return statusText(RecordSummary{Status: s})
		case c.Field == form.FieldDeleted || f != nil && f.Type == form.TypeYesNo:
			if yn, ok := map[string]string{"yes": "Yes", "no": "No"}[s]; ok {
				return yn
			}
			return s
		case f == nil:
			return s
		}
		// History values come as form.DisplayValue wrote them; put the
		// labels of choices back where they are known.
		if f.Type == form.TypeChoice || f.Type == form.TypeMultiChoice || f.Type == form.TypeRank {
			fm := v.fm
			parts := strings.Split(s, ", ")
			for i, p := range parts {
				if o, ok := f.Option(p); ok {
					parts[i] = fm.OptionLabel(o)
				}
			}
			return strings.Join(parts, ", ")
		}
		return s
	}
	old, cur := show(c.Old), show(c.New)
	switch {
	case old == "" && cur == "":
		return label + ": cleared"
	case old == "":
		return fmt.Sprintf("%s: set to %s", label, cur)
	case cur == "":
		return fmt.Sprintf("%s: cleared (was %s)", label, old)
	default:
		return fmt.Sprintf("%s: %s → %s", label, old, cur)
	}
}

// actionText is how a history action reads.
func actionText(action string) string {
	switch action {
	case "create":
		return "Created"
	case "edit":
		return "Edited"
	case "submit":
		return "Submitted"
	case "delete":
		return "Deleted"
	case "restore":
		return "Restored"
	case "apply":
		return "Received from the server"
	case "conflict":
		return "Edited at the same time elsewhere; this value lost"
	case "purge":
		return "Permanently removed"
	}
	if action == "" {
		return "Changed"
	}
	return strings.ToUpper(action[:1]) + action[1:]
}

// errText is an error in plain words for the worker.
func errText(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "stopped"
	case errors.Is(err, context.DeadlineExceeded):
		return "it took too long"
	}
	return err.Error()
}
