package app

// The inputs of fields answered from a list of options: choice, multichoice and
// rank. Each offers the options the form gives it (after a choice filter, in the
// form's language) through setOptions, and keeps its answer by option value, so a
// new list or a new language keeps what was chosen when it is still offered.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// optionsInput is an input that offers options.
type optionsInput interface {
	fieldInput
	// setOptions offers opts, labelled by label. A value no longer offered
	// is dropped from the answer.
	setOptions(opts []form.Option, label func(form.Option) string)
}

// fieldRadioLimit is the most options a choice shows as radio buttons; more go in a
// drop-down list.
const fieldRadioLimit = 5

// plainOptionLabel is an option's label before the form's language is known: its
// default text, else its value.
func plainOptionLabel(o form.Option) string {
	if l := o.Label.String(); l != "" {
		return l
	}
	return o.Value
}

// fieldOptionLabels returns the labels of options, made unique, and the value of
// each label.
func fieldOptionLabels(opts []form.Option, label func(form.Option) string) ([]string, map[string]string) {
	labels := make([]string, len(opts))
	values := make(map[string]string, len(opts))
	for i, o := range opts {
		l := label(o)
		if _, dup := values[l]; dup {
			l = fmt.Sprintf("%s (%s)", l, o.Value)
		}
		labels[i], values[l] = l, o.Value
	}
	return labels, values
}

// hasAppearance reports whether a field's appearance lists word.
func hasAppearance(f *form.Field, word string) bool {
	return slices.Contains(strings.Fields(f.Appearance), word)
}

// fieldChoiceInput: one of the options, as radio buttons (in a row for the likert
// and horizontal appearances), a drop-down list (more than fieldRadioLimit options,
// or the minimal appearance) or a list filtered as the worker types
// (autocomplete). Tapping the chosen radio button again, or the clear button,
// leaves the field unanswered.
type fieldChoiceInput struct {
	labels []string
	values map[string]string // label → value
	radio  *widget.RadioGroup
	sel    *widget.Select
	auto   *widget.SelectEntry
	offers []string // what auto's list offers for the text typed
	clear  *widget.Button
	obj    fyne.CanvasObject
}

func newFieldChoiceInput(f *form.Field, h fieldHooks) *fieldChoiceInput {
	in := &fieldChoiceInput{}
	opts := f.ChoiceOptions()
	in.labels, in.values = fieldOptionLabels(opts, plainOptionLabel)
	switch {
	case hasAppearance(f, "autocomplete") || hasAppearance(f, "search"):
		in.auto = widget.NewSelectEntry(in.labels)
		in.auto.PlaceHolder = "Type to search…"
		in.auto.OnChanged = func(text string) {
			in.offers = in.matching(text)
			in.auto.SetOptions(in.offers)
			h.changed()
		}
		in.obj = in.auto
	case hasAppearance(f, "minimal") || len(opts) > fieldRadioLimit && !hasAppearance(f, "likert") && !hasAppearance(f, "horizontal"):
		in.sel = widget.NewSelect(in.labels, nil)
		in.sel.PlaceHolder = "Choose…"
		in.clear = widget.NewButtonWithIcon("", theme.ContentClearIcon(), in.sel.ClearSelected)
		in.clear.Importance = widget.LowImportance
		in.clear.Hide()
		in.sel.OnChanged = func(s string) {
			if s == "" {
				in.clear.Hide()
			} else {
				in.clear.Show()
			}
			h.changed()
		}
		in.obj = container.NewBorder(nil, nil, nil, in.clear, in.sel)
	default:
		in.radio = widget.NewRadioGroup(in.labels, func(string) { h.changed() })
		in.radio.Horizontal = hasAppearance(f, "likert") || hasAppearance(f, "horizontal")
		in.obj = in.radio
	}
	return in
}

// matching returns the labels that contain text, ignoring case.
func (in *fieldChoiceInput) matching(text string) []string {
	text = strings.ToLower(strings.TrimSpace(text))
	var out []string
	for _, l := range in.labels {
		if strings.Contains(strings.ToLower(l), text) {
			out = append(out, l)
		}
	}
	return out
}

func (in *fieldChoiceInput) object() fyne.CanvasObject { return in.obj }

func (in *fieldChoiceInput) focusable() fyne.Focusable {
	switch {
	case in.sel != nil:
		return in.sel
	case in.auto != nil:
		return in.auto
	}
	return nil
}

func (in *fieldChoiceInput) selected() string {
	switch {
	case in.radio != nil:
		return in.radio.Selected
	case in.auto != nil:
		return in.auto.Text
	}
	return in.sel.Selected
}

func (in *fieldChoiceInput) choose(label string) {
	switch {
	case in.radio != nil:
		in.radio.SetSelected(label)
	case in.auto != nil:
		in.auto.SetText(label)
	case label == "":
		in.sel.ClearSelected()
	default:
		in.sel.SetSelected(label)
	}
}

func (in *fieldChoiceInput) labelOf(value string) string {
	for l, v := range in.values {
		if v == value {
			return l
		}
	}
	return ""
}

func (in *fieldChoiceInput) show(raw json.RawMessage) { in.choose(in.labelOf(form.DisplayValue(raw))) }

func (in *fieldChoiceInput) value() (json.RawMessage, error) {
	s := in.selected()
	if in.auto != nil {
		if strings.TrimSpace(s) == "" {
			return fieldNull, nil
		}
		for l, v := range in.values {
			if strings.EqualFold(strings.TrimSpace(s), l) {
				return fieldJSON(v), nil
			}
		}
		return nil, fieldInputError("Pick one of the options offered.")
	}
	v, ok := in.values[s]
	if !ok {
		return fieldNull, nil
	}
	return fieldJSON(v), nil
}

func (in *fieldChoiceInput) setOptions(opts []form.Option, label func(form.Option) string) {
	cur, _ := in.value()
	in.labels, in.values = fieldOptionLabels(opts, label)
	switch {
	case in.radio != nil:
		in.radio.Options = in.labels
		in.radio.Selected = ""
		in.radio.Refresh()
	case in.sel != nil:
		in.sel.Options = in.labels
		in.sel.Refresh()
	case in.auto != nil:
		in.offers = in.matching(in.auto.Text)
		in.auto.SetOptions(in.offers)
	}
	if cur == nil {
		return // a half-typed search stays as typed
	}
	in.choose(in.labelOf(form.DisplayValue(cur)))
}

// fieldMultiChoiceInput: any of the options, as check boxes; with the minimal
// appearance, a line that says what is chosen and a button that opens the boxes.
type fieldMultiChoiceInput struct {
	labels  []string
	values  map[string]string
	group   *widget.CheckGroup
	summary *widget.Label // minimal only
	obj     fyne.CanvasObject
}

func newFieldMultiChoiceInput(f *form.Field, h fieldHooks) *fieldMultiChoiceInput {
	in := &fieldMultiChoiceInput{}
	in.labels, in.values = fieldOptionLabels(f.ChoiceOptions(), plainOptionLabel)
	in.group = widget.NewCheckGroup(in.labels, func([]string) {
		in.summarise()
		h.changed()
	})
	in.obj = in.group
	if hasAppearance(f, "minimal") {
		in.summary = widget.NewLabel("")
		in.summary.Wrapping = fyne.TextWrapWord
		choose := widget.NewButtonWithIcon("Choose…", theme.MenuDropDownIcon(), in.openChoices)
		in.obj = container.NewBorder(nil, nil, nil, formTouchTarget(choose), in.summary)
		in.summarise()
	}
	return in
}

// openChoices shows the check boxes of a minimal multichoice over the form.
func (in *fieldMultiChoiceInput) openChoices() {
	c := fyne.CurrentApp().Driver().CanvasForObject(in.obj)
	if c == nil {
		return
	}
	var pop *widget.PopUp
	done := widget.NewButtonWithIcon("Done", theme.ConfirmIcon(), func() { pop.Hide() })
	scroll := container.NewVScroll(in.group)
	scroll.SetMinSize(fyne.NewSize(320, min(float32(len(in.labels))*40, 360)))
	pop = widget.NewModalPopUp(container.NewBorder(nil, container.NewHBox(formTouchTarget(done)), nil, nil, scroll), c)
	pop.Show()
}

func (in *fieldMultiChoiceInput) summarise() {
	if in.summary == nil {
		return
	}
	var chosen []string
	for _, l := range in.labels { // in the form's order
		if slices.Contains(in.group.Selected, l) {
			chosen = append(chosen, l)
		}
	}
	text := strings.Join(chosen, ", ")
	if text == "" {
		text = "Nothing chosen."
	}
	in.summary.SetText(text)
}

func (in *fieldMultiChoiceInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldMultiChoiceInput) focusable() fyne.Focusable { return nil }

func (in *fieldMultiChoiceInput) show(raw json.RawMessage) {
	var chosen []string
	_ = json.Unmarshal(raw, &chosen) // null or not a list: nothing chosen
	var labels []string
	for _, l := range in.labels {
		if slices.Contains(chosen, in.values[l]) {
			labels = append(labels, l)
		}
	}
	in.group.SetSelected(labels)
	in.summarise()
}

func (in *fieldMultiChoiceInput) value() (json.RawMessage, error) {
	var chosen []string
	for _, l := range in.labels { // in the template's order
		if slices.Contains(in.group.Selected, l) {
			chosen = append(chosen, in.values[l])
		}
	}
	if len(chosen) == 0 {
		return fieldNull, nil
	}
	return fieldJSON(chosen), nil
}

func (in *fieldMultiChoiceInput) setOptions(opts []form.Option, label func(form.Option) string) {
	cur, _ := in.value()
	in.labels, in.values = fieldOptionLabels(opts, label)
	in.group.Options = in.labels
	in.group.Selected = nil
	in.group.Refresh()
	in.show(cur)
}

// fieldRankInput: every option, in the order the worker puts them with the up and
// down buttons. Until they move one (or accept the order shown), the field is
// unanswered.
type fieldRankInput struct {
	opts   []form.Option
	label  func(form.Option) string
	order  []string // option values, first ranked first
	ranked bool
	rows   []*rankRow
	list   *fyne.Container
	note   *widget.Label
	accept *widget.Button
	clear  *widget.Button
	boxes  [2]fyne.CanvasObject // accept's and clear's finger-sized boxes
	obj    fyne.CanvasObject
	h      fieldHooks
}

// rankRow is one option of a rank: its place and label, and the buttons that move it.
type rankRow struct {
	text     *widget.Label
	up, down *widget.Button
	obj      fyne.CanvasObject
}

func newFieldRankInput(f *form.Field, h fieldHooks) *fieldRankInput {
	in := &fieldRankInput{h: h, label: plainOptionLabel, list: container.NewVBox()}
	in.note = widget.NewLabel("")
	in.note.Importance = widget.LowImportance
	in.accept = widget.NewButtonWithIcon("Keep this order", theme.ConfirmIcon(), func() {
		in.ranked = true
		in.draw()
		h.changed()
	})
	in.clear = widget.NewButtonWithIcon("Clear", theme.ContentClearIcon(), func() {
		in.ranked = false
		in.order = optionValues(in.opts)
		in.draw()
		h.changed()
	})
	in.clear.Importance = widget.LowImportance
	in.boxes = [2]fyne.CanvasObject{formTouchTarget(in.accept), formTouchTarget(in.clear)}
	in.obj = container.NewVBox(in.list, container.NewHBox(in.boxes[0], in.boxes[1], in.note))
	in.setOptions(f.ChoiceOptions(), plainOptionLabel)
	return in
}

func optionValues(opts []form.Option) []string {
	out := make([]string, len(opts))
	for i, o := range opts {
		out[i] = o.Value
	}
	return out
}

// move moves the option at place i by d places.
func (in *fieldRankInput) move(i, d int) {
	j := i + d
	if j < 0 || j >= len(in.order) {
		return
	}
	in.order[i], in.order[j] = in.order[j], in.order[i]
	in.ranked = true
	in.draw()
	in.h.changed()
}

// draw shows the options in their order.
func (in *fieldRankInput) draw() {
	for len(in.rows) < len(in.order) {
		i := len(in.rows)
		r := &rankRow{text: widget.NewLabel("")}
		r.up = widget.NewButtonWithIcon("", theme.MoveUpIcon(), func() { in.move(i, -1) })
		r.down = widget.NewButtonWithIcon("", theme.MoveDownIcon(), func() { in.move(i, 1) })
		r.obj = container.NewBorder(nil, nil, nil, container.NewHBox(formTouchTarget(r.up), formTouchTarget(r.down)), r.text)
		in.rows = append(in.rows, r)
	}
	in.rows = in.rows[:len(in.order)]
	objs := make([]fyne.CanvasObject, len(in.order))
	for i, v := range in.order {
		r := in.rows[i]
		text := in.label(form.Option{Value: v})
		for _, o := range in.opts {
			if o.Value == v {
				text = in.label(o)
			}
		}
		r.text.SetText(fmt.Sprintf("%d. %s", i+1, text))
		setEnabled(r.up, i > 0)
		setEnabled(r.down, i < len(in.order)-1)
		objs[i] = r.obj
	}
	in.list.Objects = objs
	in.list.Refresh()
	setVisible(!in.ranked, in.accept, in.boxes[0])
	setVisible(in.ranked, in.clear, in.boxes[1])
	if in.ranked {
		in.note.SetText("")
	} else {
		in.note.SetText("Not ranked yet: move the options, or keep this order.")
	}
}

func (in *fieldRankInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldRankInput) focusable() fyne.Focusable { return nil }

func (in *fieldRankInput) show(raw json.RawMessage) {
	var list []string
	in.ranked = json.Unmarshal(raw, &list) == nil && list != nil
	in.order = in.offered(list)
	in.draw()
}

// offered puts the values of first that are offered first, then the other
// options in their order.
func (in *fieldRankInput) offered(first []string) []string {
	offered := optionValues(in.opts)
	out := make([]string, 0, len(offered))
	for _, v := range first {
		if slices.Contains(offered, v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, v := range offered {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func (in *fieldRankInput) value() (json.RawMessage, error) {
	if !in.ranked || len(in.order) == 0 {
		return fieldNull, nil
	}
	return fieldJSON(in.order), nil
}

func (in *fieldRankInput) setOptions(opts []form.Option, label func(form.Option) string) {
	in.opts, in.label = opts, label
	in.order = in.offered(in.order)
	in.draw()
}

// setEnabled enables or disables a button.
func setEnabled(b *widget.Button, enabled bool) {
	if enabled {
		b.Enable()
	} else {
		b.Disable()
	}
}
