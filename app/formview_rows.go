package app

// A field on screen, and the loop every change goes through: the worker's entry
// is put in the form (take), then what follows from it is shown (refresh):
// which fields are relevant, labels and hints with their ${} filled in, required
// marks, read-only fields, calculated values, the options a choice filter lets
// through, and the problems shown under fields.

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// formRow is one field on screen: label, help, input and the problem with it; a
// note is a heading; a value the worker may not change is shown as text.
type formRow struct {
	key     string // the record key
	field   *form.Field
	input   fieldInput // nil for a note or a calculation
	box     *fyne.Container
	label   *widget.Label    // nil for a note
	note    *widget.RichText // a note's text
	sep     *widget.Separator
	help    *widget.Label // nil when the field has no hint
	value   *widget.Label // the value, when it is read-only
	problem *widget.Label // nil for a note
	rule    string        // the rule of the problem shown
	page    int

	val      json.RawMessage // the form's value the input shows
	bad      bool            // the input holds what is not a value
	shown    bool
	readOnly bool
	options  string // the options offered, as last set
}

// pending reports a drawn signature not stored yet.
func (r *formRow) pending() bool {
	b, ok := r.input.(blobInput)
	return ok && b.pending()
}

// setProblem shows msg under the field, or hides the message when msg is empty. It
// reports whether the row changed height.
func (r *formRow) setProblem(msg string) bool {
	r.rule = ""
	return r.showMessage(msg)
}

// showProblem shows what is wrong with the field's value in plain words.
func (r *formRow) showProblem(fe form.FieldError) bool {
	changed := r.showMessage(fieldProblemText(r.field, fe))
	r.rule = fe.Rule
	return changed
}

func (r *formRow) showMessage(msg string) bool {
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

// newRow builds a field's label, help, input, read-only value and problem
// message; a note is a heading, with a rule above it unless it comes first.
func (v *formView) newRow(it form.Item) *formRow {
	f := it.Field
	r := &formRow{key: it.Key, field: f, shown: true}
	v.byID[r.key] = r
	if !f.Help.Blank() {
		r.help = formHelp("")
	}
	if f.Type == form.TypeNote {
		r.note = widget.NewRichText(&widget.TextSegment{Style: widget.RichTextStyleSubHeading})
		r.note.Wrapping = fyne.TextWrapWord
		r.sep = widget.NewSeparator()
		r.box = container.NewVBox(r.sep, r.note)
		if r.help != nil {
			r.box.Add(r.help)
		}
		return r
	}
	r.label = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.label.Wrapping = fyne.TextWrapWord
	r.problem = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	r.problem.Importance = widget.DangerImportance
	r.problem.Wrapping = fyne.TextWrapWord
	r.problem.Hide()
	r.value = widget.NewLabel("")
	r.value.Wrapping = fyne.TextWrapWord
	r.value.Hide()
	r.box = container.NewVBox(r.label)
	if r.help != nil {
		r.box.Add(r.help)
	}
	if f.Type != form.TypeCalculate {
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
		r.box.Add(r.input.object())
		v.showing = true
		v.offerOptions(r)
		r.val = v.fm.Value(r.key)
		if !form.IsEmpty(r.val) {
			r.input.show(r.val)
		}
		v.showing = false
	}
	r.box.Add(r.value)
	r.box.Add(r.problem)
	return r
}

// edited takes in a change the worker made.
func (v *formView) edited(r *formRow) {
	if v.showing || v.finished || v.fm == nil {
		return
	}
	v.take(r)
	// Typed values are checked when the worker leaves the field, not at every
	// key; a message already shown follows the typing, so it goes once fixed.
	if !fieldTyped(r.field.Type) || r.problem.Visible() {
		v.checkRow(r)
	}
	v.refresh()
	v.updateDirty()
	v.scheduleAutosave()
}

// take puts a row's entry in the form: its value, or none when what is entered
// is not a value yet (it stays on screen, and is not saved). A drawn signature
// is stored at the next save.
func (v *formView) take(r *formRow) {
	if r.pending() {
		r.bad = false
		return
	}
	raw, err := r.input.value()
	if err == nil {
		err = v.fm.Set(r.key, raw)
	}
	r.bad = err != nil
	if r.bad {
		_ = v.fm.Set(r.key, fieldNull) // null always checks
	}
	r.val = v.fm.Value(r.key)
}

// left checks a field the worker left, and saves what changed.
func (v *formView) left(r *formRow) {
	if v.finished || v.fm == nil {
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
	if v.showing || v.finished || v.fm == nil {
		return
	}
	if _, err := r.input.value(); err == nil {
		v.checkRow(r)
	}
}

// checkRow shows the problem with a field's value, if any; required is checked on
// submit only.
func (v *formView) checkRow(r *formRow) {
	changed := false
	if fe, bad := v.rowProblem(r); bad {
		changed = r.showProblem(fe)
	} else {
		changed = r.setProblem("")
	}
	if changed {
		v.relayout()
	}
}

// rowProblem is what is wrong with a field's entry: not a value yet, against the
// field's type and rules (inputProblem), or against the form's constraint.
func (v *formView) rowProblem(r *formRow) (form.FieldError, bool) {
	if fe, bad := v.inputProblem(r); bad {
		return fe, true
	}
	if fe, ok := v.formProblem(r); ok && fe.Rule == "constraint" {
		return fe, true
	}
	return form.FieldError{}, false
}

// inputProblem reports an entry that cannot be saved: not a value yet, or one the
// template's own check refuses.
func (v *formView) inputProblem(r *formRow) (form.FieldError, bool) {
	if r.input == nil || r.pending() {
		return form.FieldError{}, false // a drawn signature: nothing to check
	}
	raw, err := r.input.value()
	if err != nil {
		return form.FieldError{Field: r.key, Rule: ruleInput, Msg: err.Error()}, true
	}
	if form.IsEmpty(raw) {
		return form.FieldError{}, false
	}
	if _, err := v.tpl.Check(form.Values{r.key: raw}); err != nil {
		var ve *form.ValidationError
		if errors.As(err, &ve) && len(ve.Fields) > 0 {
			return ve.Fields[0], true
		}
		return form.FieldError{Field: r.key, Rule: "type", Msg: err.Error()}, true
	}
	return form.FieldError{}, false
}

// formProblem is the form's own verdict on a field's value: required but
// unanswered, or against its constraint, in the form's language. A drawn
// signature counts as answered.
func (v *formView) formProblem(r *formRow) (form.FieldError, bool) {
	if r.bad || r.pending() {
		return form.FieldError{}, false
	}
	return v.fm.Problem(r.key)
}

// refresh shows what the form makes of its values now. Dropping an answer that a
// choice filter no longer offers is a change too, so it goes round again.
func (v *formView) refresh() {
	changed := false
	for range 4 {
		if items := v.fm.Items(); instanceKeys(items) != v.outline.instances {
			v.layOut(items)
			changed = true
		}
		again := false
		for _, r := range v.rows {
			c, took := v.refreshRow(r)
			changed = changed || c
			again = again || took
		}
		if !again {
			break
		}
	}
	for _, s := range v.outline.sections {
		if v.refreshSection(s) {
			changed = true
		}
	}
	v.pager.refresh()
	v.progress.update(v.rows)
	v.jump.refresh()
	if changed {
		v.relayout()
	}
}

// refreshRow brings one row up to date. It reports whether its height may have
// changed, and whether it took a new value from its input.
func (v *formView) refreshRow(r *formRow) (changed, took bool) {
	fm := v.fm
	changed = setShown(r.box, fm.Relevant(r.key), &r.shown)
	if r.help != nil && r.help.Text != fm.Hint(r.key) {
		r.help.SetText(fm.Hint(r.key))
		changed = true
	}
	if r.note != nil {
		seg := r.note.Segments[0].(*widget.TextSegment)
		if text := fm.Label(r.key); seg.Text != text {
			seg.Text = text
			r.note.Refresh()
			changed = true
		}
		return changed, false
	}
	label := fm.Label(r.key)
	if fm.Required(r.key) {
		label += " *"
	}
	if r.label.Text != label {
		r.label.SetText(label)
		changed = true
	}
	cur := fm.Value(r.key)
	if r.input != nil {
		if !sameValue(cur, r.val) {
			v.showing = true
			r.input.show(orNull(cur))
			v.showing = false
			r.val, r.bad = cur, false
		}
		if v.offerOptions(r) {
			if raw, err := r.input.value(); err == nil && !sameValue(raw, r.val) {
				v.take(r) // the answer is no longer offered
				took = true
			}
		}
	}
	readOnly := r.input == nil || fm.ReadOnly(r.key)
	if readOnly {
		text := fieldDisplay(fm, r.field, cur)
		if text == "" {
			text = emptyValueText
		}
		if r.value.Text != text {
			r.value.SetText(text)
			changed = true
		}
	}
	if readOnly != r.readOnly || readOnly != r.value.Visible() {
		r.readOnly = readOnly
		setVisible(readOnly, r.value)
		if r.input != nil {
			setVisible(!readOnly, r.input.object())
		}
		changed = true
	}
	// A problem of the form's own rules follows the answers it reads, and the
	// language.
	if r.rule == "constraint" || r.rule == "required" {
		if fe, ok := v.formProblem(r); ok && (fe.Rule == "constraint" || r.rule == "required") {
			changed = r.showProblem(fe) || changed
		} else {
			changed = r.setProblem("") || changed
		}
	}
	return changed, took
}

// offerOptions gives a choice its options when they changed (a choice filter, the
// language); it reports whether they did.
func (v *formView) offerOptions(r *formRow) bool {
	in, ok := r.input.(optionsInput)
	if !ok || r.options != "" && r.field.ChoiceFilter == "" && strings.HasPrefix(r.options, v.fm.Context().Language+"\n") {
		return false
	}
	opts := v.fm.Options(r.key)
	var b strings.Builder
	b.WriteString(v.fm.Context().Language + "\n")
	for _, o := range opts {
		b.WriteString(o.Value + "\x00" + v.fm.OptionLabel(o) + "\n")
	}
	if b.String() == r.options {
		return false
	}
	r.options = b.String()
	showing := v.showing
	v.showing = true
	in.setOptions(opts, v.fm.OptionLabel)
	v.showing = showing
	return true
}

// sameValue reports two values that are the same answer: no value is null.
func sameValue(a, b json.RawMessage) bool { return bytes.Equal(orNull(a), orNull(b)) }

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return fieldNull
	}
	return raw
}

// rowLabels names fields for a message.
func (v *formView) rowLabels(rows []*formRow) string {
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = v.fm.Label(r.key)
	}
	return strings.Join(names, ", ")
}
