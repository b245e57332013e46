package app

// The widgets of the field types: one fieldInput per type, each turning what the
// worker entered into the JSON value the form package checks, and showing a stored
// value. They know nothing of storage: what needs the replica (attachments, stored
// images) they ask of the form view through fieldHooks.

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/mobile"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// fieldInput is the widget of one field's value.
type fieldInput interface {
	// object is what the form shows for the input.
	object() fyne.CanvasObject
	// value returns the input's value as JSON, null when unanswered. An error
	// means what the worker entered is not a value yet (a half-typed number or
	// date); its text says so in plain words.
	value() (json.RawMessage, error)
	// show puts a stored value in the widgets. The widgets may report it as a
	// change; the form view ignores changes while it shows stored values.
	show(raw json.RawMessage)
	// focusable is the widget that takes the keyboard for this field, or nil.
	focusable() fyne.Focusable
}

// blobInput is an input whose value is bytes that are stored when the form is
// saved: a signature, drawn as strokes and stored as a PNG.
type blobInput interface {
	fieldInput
	// pending reports whether there are bytes to store before the value can
	// be saved; value then returns a stand-in that is never saved.
	pending() bool
	// blob returns the bytes to store and the revision of the drawing they
	// show.
	blob() (data []byte, rev int, err error)
	// stored tells the input which attachment holds revision rev.
	stored(rev int, a form.Attachment)
}

// fieldHooks are what an input asks of the form view.
type fieldHooks struct {
	changed func() // the worker changed the value
	left    func() // the worker left the field (it lost the keyboard focus)
	// settled: the worker completed a value without leaving the field (picked
	// a date in the calendar, tapped Now).
	settled func()
	pick    func() // photo and file fields: choose a file to attach
	// later runs fn on the UI goroutine after the event being handled.
	later func(fn func())
	// image loads a stored image attachment, scaled to fit maxSide pixels, and
	// calls show with it on the UI goroutine.
	image func(a form.Attachment, maxSide int, show func(image.Image, error))
	now   func() time.Time
	loc   *time.Location // the device's time zone, for date-times
}

// fieldInputError is an entry that is not a value yet; its text is shown as it is.
type fieldInputError string

func (e fieldInputError) Error() string { return string(e) }

// formTouchHeight is the least height of a button, so a finger hits it in the field.
const formTouchHeight = 48

// fieldNull is the value of an unanswered field: JSON null.
var fieldNull = json.RawMessage("null")

func newFieldInput(f *form.Field, h fieldHooks) fieldInput {
	switch f.Type {
	case form.TypeText, form.TypeMultiline, form.TypeBarcode:
		return newFieldTextInput(f, h)
	case form.TypeInteger, form.TypeDecimal:
		return newFieldNumberInput(f, h)
	case form.TypeDate:
		return newFieldDateInput(h)
	case form.TypeTime:
		return newFieldTimeInput(h)
	case form.TypeDateTime:
		return newFieldDateTimeInput(h)
	case form.TypeChoice:
		return newFieldChoiceInput(f, h)
	case form.TypeMultiChoice:
		return newFieldMultiChoiceInput(f, h)
	case form.TypeRank:
		return newFieldRankInput(f, h)
	case form.TypeRange:
		return newFieldRangeInput(f, h)
	case form.TypeAcknowledge:
		return newFieldAcknowledgeInput(h)
	case form.TypeYesNo:
		return newFieldYesNoInput(h)
	case form.TypeSignature:
		return newFieldSignatureInput(h)
	case form.TypePhoto, form.TypeFile, form.TypeAudio, form.TypeVideo:
		return newFieldAttachInput(f, h)
	case form.TypeGeo:
		return newFieldGeoInput(h)
	case form.TypeGeoTrace, form.TypeGeoShape:
		return newFieldGeoPointsInput(f, h)
	}
	return nil // notes, groups and repeats hold no value; hidden and calculated fields are not asked
}

// fieldTyped reports whether a field's value is typed key by key: it is checked
// when the worker leaves it, not while half typed.
func fieldTyped(t form.FieldType) bool {
	switch t {
	case form.TypeText, form.TypeMultiline, form.TypeInteger, form.TypeDecimal, form.TypeDate,
		form.TypeTime, form.TypeDateTime, form.TypeGeo, form.TypeBarcode, form.TypeGeoTrace, form.TypeGeoShape:
		return true
	}
	return false
}

// formEntry is an entry that reports when it loses focus, can refuse runes (a
// number field takes digits only), stops at a length and asks for a keyboard.
type formEntry struct {
	widget.Entry
	maxLength int
	accept    func(rune) bool // nil accepts every rune
	keyboard  mobile.KeyboardType
	onLeft    func()
}

func newFormEntry(multiLine bool) *formEntry {
	e := &formEntry{keyboard: mobile.SingleLineKeyboard}
	e.ExtendBaseWidget(e)
	if multiLine {
		e.MultiLine = true
		e.Wrapping = fyne.TextWrapWord
		e.keyboard = mobile.DefaultKeyboard
		e.SetMinRowsVisible(4)
	}
	return e
}

// TypedRune stops at the field's max_length, so the worker sees the limit while
// typing (a paste can still go over; the check says so).
func (e *formEntry) TypedRune(r rune) {
	if e.accept != nil && !e.accept(r) {
		return
	}
	if e.maxLength > 0 && utf8.RuneCountInString(e.Text) >= e.maxLength && e.SelectedText() == "" {
		return
	}
	e.Entry.TypedRune(r)
}

func (e *formEntry) FocusLost() {
	e.Entry.FocusLost()
	if e.onLeft != nil {
		e.onLeft()
	}
}

// Keyboard is the keyboard a tablet shows for the entry.
func (e *formEntry) Keyboard() mobile.KeyboardType { return e.keyboard }

// fieldNumberRune accepts what a number is typed with, a decimal comma included.
func fieldNumberRune(decimal bool) func(rune) bool {
	return func(r rune) bool {
		return r >= '0' && r <= '9' || r == '-' || r == '+' || decimal && (r == '.' || r == ',')
	}
}

// fieldTextInput: text (one line), multiline, and barcode: the code's text, typed
// (reading it from a photo of the code may come later).
type fieldTextInput struct{ entry *formEntry }

func newFieldTextInput(f *form.Field, h fieldHooks) *fieldTextInput {
	in := &fieldTextInput{entry: newFormEntry(f.Type == form.TypeMultiline)}
	if f.MaxLength != nil {
		in.entry.maxLength = *f.MaxLength
	}
	in.entry.OnChanged = func(string) { h.changed() }
	in.entry.onLeft = h.left
	return in
}

func (in *fieldTextInput) object() fyne.CanvasObject { return in.entry }
func (in *fieldTextInput) focusable() fyne.Focusable { return in.entry }
func (in *fieldTextInput) show(raw json.RawMessage)  { in.entry.SetText(form.DisplayValue(raw)) }

// value is null for blank text: spaces do not answer a question.
func (in *fieldTextInput) value() (json.RawMessage, error) {
	if strings.TrimSpace(in.entry.Text) == "" {
		return fieldNull, nil
	}
	return fieldJSON(in.entry.Text), nil
}

// fieldNumberInput: integer and decimal, on a numeric keyboard.
type fieldNumberInput struct {
	entry   *formEntry
	decimal bool
}

func newFieldNumberInput(f *form.Field, h fieldHooks) *fieldNumberInput {
	in := &fieldNumberInput{entry: newFormEntry(false), decimal: f.Type == form.TypeDecimal}
	in.entry.keyboard = mobile.NumberKeyboard
	in.entry.accept = fieldNumberRune(in.decimal)
	in.entry.OnChanged = func(string) { h.changed() }
	in.entry.onLeft = h.left
	return in
}

func (in *fieldNumberInput) object() fyne.CanvasObject { return in.entry }
func (in *fieldNumberInput) focusable() fyne.Focusable { return in.entry }

// show writes the stored number as it is: a float64 would round large integers.
func (in *fieldNumberInput) show(raw json.RawMessage) {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		s = ""
	}
	in.entry.SetText(s)
}
func (in *fieldNumberInput) value() (json.RawMessage, error) {
	return parseFieldNumber(in.entry.Text, in.decimal)
}

// parseFieldNumber reads a typed number; an empty text is null.
func parseFieldNumber(text string, decimal bool) (json.RawMessage, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return fieldNull, nil
	}
	if !decimal {
		n, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64)
		if err != nil {
			return nil, fieldInputError("Must be a whole number.")
		}
		return json.RawMessage(strconv.FormatInt(n, 10)), nil
	}
	s = strings.Replace(s, ",", ".", 1)
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXpPiInN_") { // hex, Inf, NaN
		return nil, fieldInputError("Must be a number.")
	}
	if n == 0 {
		n = 0 // -0 is 0
	}
	return json.RawMessage(strconv.FormatFloat(n, 'f', -1, 64)), nil
}

// formDateEntry is a date entry with a calendar that reports every change and
// when it loses focus.
type formDateEntry struct {
	widget.DateEntry
	onEdit, onLeft func()
}

func newFormDateEntry(h fieldHooks) *formDateEntry {
	e := &formDateEntry{onEdit: h.changed, onLeft: h.left}
	e.ExtendBaseWidget(e)
	e.Wrapping = fyne.TextWrap(fyne.TextTruncateClip)
	e.SetPlaceHolder(dateFormatHint())
	// A date picked in the calendar, which does not take the focus, or typed
	// in full.
	e.OnChanged = func(*time.Time) {
		h.changed()
		h.settled()
	}
	return e
}

// TypedRune, TypedKey and TypedShortcut report half-typed dates too, which the
// date entry keeps to itself until they parse.
func (e *formDateEntry) TypedRune(r rune) {
	e.DateEntry.TypedRune(r)
	e.onEdit()
}

func (e *formDateEntry) TypedKey(k *fyne.KeyEvent) {
	before := e.Text
	e.DateEntry.TypedKey(k)
	if e.Text != before {
		e.onEdit()
	}
}

func (e *formDateEntry) TypedShortcut(s fyne.Shortcut) {
	before := e.Text
	e.DateEntry.TypedShortcut(s)
	if e.Text != before {
		e.onEdit()
	}
}

func (e *formDateEntry) FocusLost() {
	e.DateEntry.FocusLost()
	e.onLeft()
}

// dateFormatHint shows how the date entry writes dates on this device, e.g.
// "DD/MM/YYYY": the entry follows the locale, and does not say how.
var dateFormatHint = sync.OnceValue(func() string {
	e := widget.NewDateEntry()
	d := time.Date(2006, 1, 2, 0, 0, 0, 0, time.UTC)
	e.SetDate(&d)
	return strings.NewReplacer("2006", "YYYY", "01", "MM", "02", "DD").Replace(e.Text)
})

// date returns the date entered, nil when none; an error when the text is not a
// date.
func (e *formDateEntry) date() (*time.Time, error) {
	text := strings.TrimSpace(e.Text)
	if text == "" {
		return nil, nil
	}
	// The entry's validator (set when it is first drawn) parses the text in the
	// device's date format; Date keeps the last date that parsed.
	if e.Validator != nil && e.Validator(e.Text) != nil || e.Date == nil {
		return nil, fieldInputError("Not a date: write it as " + dateFormatHint() + ", or pick it in the calendar.")
	}
	return e.Date, nil
}

func (e *formDateEntry) setDate(y int, m time.Month, d int) {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	e.SetDate(&t)
}

// fieldDateInput: a date, "2006-01-02".
type fieldDateInput struct{ entry *formDateEntry }

func newFieldDateInput(h fieldHooks) *fieldDateInput {
	return &fieldDateInput{entry: newFormDateEntry(h)}
}

func (in *fieldDateInput) object() fyne.CanvasObject { return in.entry }
func (in *fieldDateInput) focusable() fyne.Focusable { return in.entry }

func (in *fieldDateInput) show(raw json.RawMessage) {
	t, err := time.Parse(time.DateOnly, form.DisplayValue(raw))
	if err != nil {
		in.entry.SetDate(nil)
		return
	}
	in.entry.setDate(t.Date())
}

func (in *fieldDateInput) value() (json.RawMessage, error) {
	d, err := in.entry.date()
	if err != nil || d == nil {
		return fieldNull, err
	}
	return fieldJSON(d.Format(time.DateOnly)), nil
}

// fieldTimeInput: a time of day, "15:04", typed or set to now.
type fieldTimeInput struct {
	entry *formEntry
	obj   fyne.CanvasObject
}

func newFieldTimeInput(h fieldHooks) *fieldTimeInput {
	in := &fieldTimeInput{entry: newFormClockEntry(h)}
	now := widget.NewButtonWithIcon("Now", theme.HistoryIcon(), func() {
		in.entry.SetText(h.now().In(h.loc).Format("15:04"))
		h.settled()
	})
	in.obj = container.NewBorder(nil, nil, nil, now, in.entry)
	return in
}

// newFormClockEntry is an entry for a time of day.
func newFormClockEntry(h fieldHooks) *formEntry {
	e := newFormEntry(false)
	e.SetPlaceHolder("HH:MM")
	e.maxLength = 8
	e.keyboard = mobile.NumberKeyboard
	e.accept = func(r rune) bool { return r >= '0' && r <= '9' || r == ':' || r == '.' }
	e.OnChanged = func(string) { h.changed() }
	e.onLeft = h.left
	return e
}

func (in *fieldTimeInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldTimeInput) focusable() fyne.Focusable { return in.entry }
func (in *fieldTimeInput) show(raw json.RawMessage)  { in.entry.SetText(form.DisplayValue(raw)) }
func (in *fieldTimeInput) value() (json.RawMessage, error) {
	s, err := parseFieldClock(in.entry.Text)
	if err != nil || s == "" {
		return fieldNull, err
	}
	return fieldJSON(s), nil
}

// parseFieldClock reads a time of day as a worker types it: "9:30", "09:30", "0930",
// "9.30", "09:30:15". It returns "HH:MM" or "HH:MM:SS", or "" for no text.
func parseFieldClock(text string) (string, error) {
	s := strings.ReplaceAll(strings.TrimSpace(text), ".", ":")
	if s == "" {
		return "", nil
	}
	var parts []string
	if strings.Contains(s, ":") {
		parts = strings.Split(s, ":")
	} else if len(s) == 3 || len(s) == 4 {
		parts = []string{s[:len(s)-2], s[len(s)-2:]}
	} else {
		parts = []string{s, "00"}
	}
	bad := fieldInputError("Not a time: write it as HH:MM, e.g. 14:30.")
	if len(parts) > 3 {
		return "", bad
	}
	limits := []int{23, 59, 59}
	n := make([]int, len(parts))
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || p == "" || len(p) > 2 || v < 0 || v > limits[i] || i > 0 && len(p) != 2 {
			return "", bad
		}
		n[i] = v
	}
	if len(n) == 1 {
		n = append(n, 0)
	}
	out := fmt.Sprintf("%02d:%02d", n[0], n[1])
	if len(n) == 3 {
		out += fmt.Sprintf(":%02d", n[2])
	}
	return out, nil
}

// fieldDateTimeInput: a date and a time in the device's time zone, stored in RFC 3339
// with the zone's offset, so the moment stays exact wherever it is read.
type fieldDateTimeInput struct {
	date  *formDateEntry
	clock *formEntry
	zone  *widget.Label
	loc   *time.Location
	obj   fyne.CanvasObject
}

func newFieldDateTimeInput(h fieldHooks) *fieldDateTimeInput {
	in := &fieldDateTimeInput{date: newFormDateEntry(h), clock: newFormClockEntry(h), loc: h.loc}
	// Moving from the date to the time is not leaving the field.
	in.date.onLeft = groupLeft(h, func() []fyne.Focusable { return []fyne.Focusable{in.date, in.clock} })
	in.clock.onLeft = in.date.onLeft
	in.zone = widget.NewLabel(formZoneText(h.now().In(h.loc)))
	in.zone.Importance = widget.LowImportance
	now := widget.NewButtonWithIcon("Now", theme.HistoryIcon(), func() {
		t := h.now().In(in.loc)
		in.date.setDate(t.Date())
		in.clock.SetText(t.Format("15:04"))
		in.zone.SetText(formZoneText(t))
		h.settled()
	})
	clock := container.NewBorder(nil, nil, nil, in.zone, in.clock)
	in.obj = container.NewBorder(nil, nil, nil, now, container.NewGridWithColumns(2, in.date, clock))
	return in
}

// formZoneText names a time's zone and its offset from UTC: "CET (UTC+01:00)".
func formZoneText(t time.Time) string {
	name, _ := t.Zone()
	off := t.Format("-07:00")
	if name == "" || strings.HasPrefix(name, "+") || strings.HasPrefix(name, "-") || name == "UTC" {
		return "UTC" + off
	}
	return name + " (UTC" + off + ")"
}

func (in *fieldDateTimeInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldDateTimeInput) focusable() fyne.Focusable { return in.date }

func (in *fieldDateTimeInput) show(raw json.RawMessage) {
	t, err := time.Parse(time.RFC3339Nano, form.DisplayValue(raw))
	if err != nil {
		in.date.SetDate(nil)
		in.clock.SetText("")
		return
	}
	t = t.In(in.loc)
	in.date.setDate(t.Date())
	layout := "15:04"
	if t.Second() != 0 {
		layout = "15:04:05"
	}
	in.clock.SetText(t.Format(layout))
	in.zone.SetText(formZoneText(t))
}

func (in *fieldDateTimeInput) value() (json.RawMessage, error) {
	d, err := in.date.date()
	if err != nil {
		return nil, err
	}
	clock, err := parseFieldClock(in.clock.Text)
	if err != nil {
		return nil, err
	}
	switch {
	case d == nil && clock == "":
		return fieldNull, nil
	case d == nil:
		return nil, fieldInputError("Enter the date as well as the time.")
	case clock == "":
		return nil, fieldInputError("Enter the time as well as the date.")
	}
	c, _ := time.Parse("15:04:05", (clock + ":00")[:8])
	t := time.Date(d.Year(), d.Month(), d.Day(), c.Hour(), c.Minute(), c.Second(), 0, in.loc)
	return fieldJSON(t.Format(time.RFC3339)), nil
}

// fieldYesNoInput: Yes, No, or unanswered (tap the chosen answer again).
type fieldYesNoInput struct{ radio *widget.RadioGroup }

const (
	fieldYes = "Yes"
	fieldNo  = "No"
)

func newFieldYesNoInput(h fieldHooks) *fieldYesNoInput {
	in := &fieldYesNoInput{radio: widget.NewRadioGroup([]string{fieldYes, fieldNo}, func(string) { h.changed() })}
	in.radio.Horizontal = true
	return in
}

func (in *fieldYesNoInput) object() fyne.CanvasObject { return in.radio }
func (in *fieldYesNoInput) focusable() fyne.Focusable { return nil }

func (in *fieldYesNoInput) show(raw json.RawMessage) {
	switch strings.TrimSpace(string(raw)) {
	case "true":
		in.radio.SetSelected(fieldYes)
	case "false":
		in.radio.SetSelected(fieldNo)
	default:
		in.radio.SetSelected("")
	}
}

func (in *fieldYesNoInput) value() (json.RawMessage, error) {
	switch in.radio.Selected {
	case fieldYes:
		return json.RawMessage("true"), nil
	case fieldNo:
		return json.RawMessage("false"), nil
	}
	return fieldNull, nil
}

// fieldAcknowledgeInput: one check box; ticked, the value is "OK".
type fieldAcknowledgeInput struct{ check *widget.Check }

// fieldAcknowledged is the value of an acknowledged field.
var fieldAcknowledged = fieldJSON("OK")

func newFieldAcknowledgeInput(h fieldHooks) *fieldAcknowledgeInput {
	return &fieldAcknowledgeInput{check: widget.NewCheck("I acknowledge", func(bool) { h.changed() })}
}

func (in *fieldAcknowledgeInput) object() fyne.CanvasObject { return in.check }
func (in *fieldAcknowledgeInput) focusable() fyne.Focusable { return nil }
func (in *fieldAcknowledgeInput) show(raw json.RawMessage) {
	in.check.SetChecked(form.DisplayValue(raw) == "OK")
}

func (in *fieldAcknowledgeInput) value() (json.RawMessage, error) {
	if !in.check.Checked {
		return fieldNull, nil
	}
	return fieldAcknowledged, nil
}

// fieldRangeInput: a number from min to max by step, on a slider, with the number
// shown beside it. The slider moves over the steps (0 to n), so a decimal step
// never drifts; until the worker moves it, the field is unanswered.
type fieldRangeInput struct {
	start, step float64 // the value at step 0, and each step's change (negative when max < min)
	slider      *widget.Slider
	shown       *widget.Label
	clear       *widget.Button
	set         bool
	muted       bool // while a stored value is shown
	obj         fyne.CanvasObject
}

func newFieldRangeInput(f *form.Field, h fieldHooks) *fieldRangeInput {
	num := func(raw json.RawMessage, def float64) float64 {
		n, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
		if err != nil {
			return def
		}
		return n
	}
	lo, hi, step := num(f.Min, 0), num(f.Max, 10), num(f.Step, 1)
	if step <= 0 {
		step = 1
	}
	steps := math.Round(math.Abs(hi-lo) / step)
	if hi < lo {
		step = -step
	}
	in := &fieldRangeInput{start: lo, step: step, shown: widget.NewLabel("")}
	in.shown.TextStyle.Bold = true
	in.slider = widget.NewSlider(0, max(steps, 1))
	in.slider.Step = 1
	in.slider.OnChanged = func(float64) {
		if in.muted {
			return
		}
		in.set = true
		in.update()
		h.changed()
	}
	in.clear = widget.NewButtonWithIcon("", theme.ContentClearIcon(), func() {
		in.set = false
		in.update()
		h.changed()
	})
	in.clear.Importance = widget.LowImportance
	ends := func(v float64) *widget.Label {
		l := widget.NewLabel(formatFieldNumber(v))
		l.Importance = widget.LowImportance
		return l
	}
	in.obj = container.NewBorder(nil, nil, ends(lo), container.NewHBox(ends(hi), in.shown, in.clear), in.slider)
	in.update()
	return in
}

// number is the value at the slider's place.
func (in *fieldRangeInput) number() float64 {
	return math.Round((in.start+in.slider.Value*in.step)*1e9) / 1e9
}

func (in *fieldRangeInput) update() {
	if in.set {
		in.shown.SetText(formatFieldNumber(in.number()))
		in.clear.Show()
	} else {
		in.shown.SetText("—")
		in.clear.Hide()
	}
}

func (in *fieldRangeInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldRangeInput) focusable() fyne.Focusable { return in.slider }

func (in *fieldRangeInput) show(raw json.RawMessage) {
	n, err := strconv.ParseFloat(strings.TrimSpace(string(raw)), 64)
	in.muted = true
	in.set = err == nil
	if in.set {
		in.slider.SetValue(math.Round((n - in.start) / in.step))
	} else {
		in.slider.SetValue(0)
	}
	in.muted = false
	in.update()
}

func (in *fieldRangeInput) value() (json.RawMessage, error) {
	if !in.set {
		return fieldNull, nil
	}
	return json.RawMessage(formatFieldNumber(in.number())), nil
}

// formatFieldNumber writes a number as JSON and people read it: no exponent, no
// trailing zeros.
func formatFieldNumber(n float64) string {
	if n == 0 {
		n = 0 // -0 is 0
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

// fieldJSON encodes a plain value (string, list of strings, Geo, Attachment).
func fieldJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("app: encode a field value: " + err.Error()) // plain data only
	}
	return b
}

// formButton is a button tall enough for a finger.
func formButton(text string, icon fyne.Resource, tapped func()) *fyne.Container {
	return formTouchTarget(widget.NewButtonWithIcon(text, icon, tapped))
}

// formTouchTarget gives o at least formTouchHeight.
func formTouchTarget(o fyne.CanvasObject) *fyne.Container {
	return container.New(formMinHeightLayout(formTouchHeight), o)
}

// formMinHeightLayout stacks its objects and is at least as tall as it says.
type formMinHeightLayout float32

func (h formMinHeightLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objects {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func (h formMinHeightLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	s := layout.NewStackLayout().MinSize(objects)
	return fyne.NewSize(s.Width, max(s.Height, float32(h)))
}

// ruleInput is the rule of input that is not a value yet (fieldInputError).
const ruleInput = "input"

// fieldProblemText says in plain words which rule a value breaks, for the message
// under the field.
func fieldProblemText(f *form.Field, fe form.FieldError) string {
	switch fe.Rule {
	case ruleInput:
		return fe.Msg
	case "required":
		if f.RequiredMessage.IsZero() {
			return "Required."
		}
		return fe.Msg
	case "pattern":
		return "Must match pattern " + f.Pattern + "."
	case "max_length":
		n := form.MaxTextLength
		if f.MaxLength != nil {
			n = *f.MaxLength
		}
		return fmt.Sprintf("At most %d characters.", n)
	case "min_length":
		if f.MinLength != nil {
			return fmt.Sprintf("At least %d characters.", *f.MinLength)
		}
	case "min", "max":
		return fieldRangeText(f)
	case "options":
		return "Not one of the options."
	case "max_files":
		n := f.MaxFiles
		if n == 0 {
			n = defaultMaxFiles
		}
		return fmt.Sprintf("At most %d files.", n)
	case "range":
		if f.Type == form.TypeRange {
			return fieldRangeText(f)
		}
		return "The latitude must be between -90 and 90, the longitude between -180 and 180, and the accuracy 0 or more."
	case "step":
		return "Must be one of the slider's steps."
	case "points":
		if f.Type == form.TypeGeoShape {
			return "An area needs at least 3 points."
		}
		return "A line needs at least 2 points."
	case "constraint":
		if f.ConstraintMessage.IsZero() {
			return "This answer is not allowed."
		}
		return fe.Msg
	case "size":
		return "Too long."
	case "type":
		switch f.Type {
		case form.TypeInteger:
			return "Must be a whole number."
		case form.TypeDecimal:
			return "Must be a number."
		case form.TypeDate:
			return "Must be a date."
		case form.TypeTime:
			return "Must be a time as HH:MM."
		case form.TypeDateTime:
			return "Must be a date and a time."
		}
	}
	return fe.Msg
}

// fieldRangeText states a field's min and max.
func fieldRangeText(f *form.Field) string {
	lo, hi := form.DisplayValue(f.Min), form.DisplayValue(f.Max)
	var both, least, most string
	switch f.Type {
	case form.TypeMultiChoice:
		both, least, most = "Choose between %s and %s.", "Choose at least %s.", "Choose at most %s."
	case form.TypeDate, form.TypeTime, form.TypeDateTime:
		both, least, most = "Must be between %s and %s.", "Must be %s or later.", "Must be %s or earlier."
	default:
		both, least, most = "Must be between %s and %s.", "Must be at least %s.", "Must be at most %s."
	}
	switch {
	case lo != "" && hi != "":
		return fmt.Sprintf(both, lo, hi)
	case lo != "":
		return fmt.Sprintf(least, lo)
	default:
		return fmt.Sprintf(most, hi)
	}
}
