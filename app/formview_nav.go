package app

// Finding one's way in a long form: pages, the progress made, and a list of the
// questions that jumps to any of them.

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// formPageQuestions is the most questions a form shows on one scrolling screen. A
// form with more, and with groups or repeats at its top, is shown a page at a
// time: each top-level group or repeat is a page, and so is each run of questions
// outside any. A short form, or one without such groups to cut it at, scrolls.
const formPageQuestions = 25

// formPaged reports whether a template is shown a page at a time.
func formPaged(t *form.Template) bool {
	grouped := false
	for i := range t.Fields {
		grouped = grouped || t.Fields[i].IsContainer()
	}
	asked := 0
	for _, f := range t.All() {
		if f.Asked() {
			asked++
		}
	}
	return grouped && asked > formPageQuestions
}

// formPager shows one page at a time, with Previous and Next, when the form is
// paged; else every page, one under the other.
type formPager struct {
	v     *formView
	paged bool
	page  int
	prev  *widget.Button
	next  *widget.Button
	title *widget.Label
	view  *fyne.Container
}

func newFormPager(v *formView, paged bool) *formPager {
	p := &formPager{v: v, paged: paged, title: widget.NewLabel("")}
	p.title.Alignment = fyne.TextAlignCenter
	p.title.Truncation = fyne.TextTruncateEllipsis
	p.prev = widget.NewButtonWithIcon("Previous", theme.NavigateBackIcon(), func() { p.step(-1) })
	p.next = widget.NewButtonWithIcon("Next", theme.NavigateNextIcon(), func() { p.step(1) })
	p.next.IconPlacement = widget.ButtonIconTrailingText
	p.view = container.NewBorder(nil, nil, formTouchTarget(p.prev), formTouchTarget(p.next), p.title)
	p.view.Hidden = !paged
	return p
}

// show puts the current page (or every page) in the form's list.
func (p *formPager) show() {
	pages := p.v.outline.pages
	p.page = min(p.page, max(len(pages)-1, 0))
	var objs []fyne.CanvasObject
	for i, pg := range pages {
		if !p.paged || i == p.page {
			objs = append(objs, pg.box)
		}
	}
	p.v.list.Objects = objs
}

// relevant reports whether page i has anything to ask.
func (p *formPager) relevant(i int) bool {
	pg := p.v.outline.pages[i]
	if s := p.v.outline.byKey[pg.key]; pg.key != "" && s != nil {
		return s.shown
	}
	for _, r := range pg.rows {
		if r.shown {
			return true
		}
	}
	return false
}

// neighbour is the nearest relevant page from the current one in direction d,
// or -1.
func (p *formPager) neighbour(d int) int {
	for i := p.page + d; i >= 0 && i < len(p.v.outline.pages); i += d {
		if p.relevant(i) {
			return i
		}
	}
	return -1
}

func (p *formPager) step(d int) {
	if i := p.neighbour(d); i >= 0 {
		p.turn(i)
	}
}

// turn shows page i from its top.
func (p *formPager) turn(i int) {
	if !p.paged || i == p.page {
		return
	}
	p.page = i
	p.show()
	p.refresh()
	p.v.relayout()
	p.v.scroll.ScrollToTop()
}

// refresh says which page is shown and where the others are.
func (p *formPager) refresh() {
	if !p.paged {
		return
	}
	n, at := 0, 0
	for i := range p.v.outline.pages {
		if p.relevant(i) || i == p.page {
			n++
			if i == p.page {
				at = n
			}
		}
	}
	title := p.v.tpl.Name
	if len(p.v.outline.pages) > 0 {
		if key := p.v.outline.pages[p.page].key; key != "" {
			title = p.v.fm.Label(key)
		}
	}
	setText(p.title, fmt.Sprintf("Page %d of %d · %s", at, n, title))
	setEnabled(p.prev, p.neighbour(-1) >= 0)
	setEnabled(p.next, p.neighbour(1) >= 0)
}

// formProgress says how many of the questions asked are answered.
type formProgress struct {
	label *widget.Label
	bar   *widget.ProgressBar
	view  *fyne.Container
}

func newFormProgress() *formProgress {
	p := &formProgress{label: widget.NewLabel(""), bar: widget.NewProgressBar()}
	p.bar.TextFormatter = func() string { return "" }
	p.view = container.NewVBox(p.label, p.bar)
	return p
}

// update counts the questions shown that the worker can answer.
func (p *formProgress) update(rows []*formRow) {
	answered, total := 0, 0
	for _, r := range rows {
		if r.input == nil || !r.shown || r.readOnly {
			continue
		}
		total++
		if !form.IsEmpty(r.val) || r.pending() {
			answered++
		}
	}
	setText(p.label, fmt.Sprintf("%d of %d answered", answered, total))
	p.bar.Max = float64(max(total, 1))
	if p.bar.Value != float64(answered) {
		p.bar.SetValue(float64(answered))
	}
}

// formJumpList is the list of the questions asked, each with whether it is
// answered and what is wrong with it; tapping one goes to it.
type formJumpList struct {
	v       *formView
	button  *widget.Button
	entries []formJumpEntry
	list    *widget.List
	dialog  dialog.Dialog
	open    bool
}

// formJumpEntry is one question of the jump list.
type formJumpEntry struct {
	row     *formRow
	text    string // where it is, and its label
	status  string // answered, or not, or its problem
	problem bool
}

func newFormJumpList(v *formView) *formJumpList {
	j := &formJumpList{v: v}
	j.button = widget.NewButtonWithIcon("Questions", theme.ListIcon(), j.show)
	return j
}

// show opens the list.
func (j *formJumpList) show() {
	j.fill()
	j.list = widget.NewList(func() int { return len(j.entries) }, func() fyne.CanvasObject {
		text := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		text.Truncation = fyne.TextTruncateEllipsis
		status := widget.NewLabel("")
		status.Truncation = fyne.TextTruncateEllipsis
		return container.NewBorder(nil, nil, widget.NewIcon(theme.RadioButtonIcon()), nil,
			container.New(layout.NewCustomPaddedVBoxLayout(0), text, status))
	}, func(i widget.ListItemID, o fyne.CanvasObject) {
		if i >= len(j.entries) {
			return
		}
		e := j.entries[i]
		c := o.(*fyne.Container)
		texts := c.Objects[0].(*fyne.Container).Objects
		texts[0].(*widget.Label).SetText(e.text)
		status := texts[1].(*widget.Label)
		status.Importance = widget.LowImportance
		icon := theme.RadioButtonIcon()
		switch {
		case e.problem:
			status.Importance, icon = widget.DangerImportance, theme.ErrorIcon()
		case e.status == "Answered":
			icon = theme.RadioButtonCheckedIcon()
		}
		status.SetText(e.status)
		c.Objects[1].(*widget.Icon).SetResource(icon)
	})
	j.list.OnSelected = func(i widget.ListItemID) {
		if i < len(j.entries) {
			j.choose(j.entries[i].row)
		}
	}
	j.dialog = dialog.NewCustom("Questions", "Close", j.list, j.v.win)
	j.dialog.SetOnClosed(func() { j.open = false })
	if s := j.v.win.Canvas().Size(); s.Width > 0 {
		j.dialog.Resize(fyne.NewSize(min(s.Width*0.9, 640), s.Height*0.85))
	}
	j.open = true
	j.dialog.Show()
}

// choose closes the list and goes to a question.
func (j *formJumpList) choose(r *formRow) {
	if j.dialog != nil {
		j.dialog.Hide()
	}
	j.open = false
	j.v.jumpTo(r)
}

// fill lists the questions shown, in the form's order.
func (j *formJumpList) fill() {
	j.entries = j.entries[:0]
	for _, r := range j.v.rows {
		if r.input == nil || !r.shown {
			continue
		}
		e := formJumpEntry{row: r, text: j.v.where(r), status: "Not answered yet"}
		switch {
		case r.problem.Visible():
			e.status, e.problem = r.problem.Text, true
		case !form.IsEmpty(r.val) || r.pending():
			e.status = "Answered"
		}
		j.entries = append(j.entries, e)
	}
}

// refresh follows the form's changes while the list is open.
func (j *formJumpList) refresh() {
	if !j.open || j.list == nil {
		return
	}
	j.fill()
	j.list.Refresh()
}

// where names a question with the groups and instances it is in: "Member 2 ›
// Age in years".
func (v *formView) where(r *formRow) string {
	var parts []string
	for i := range len(r.key) {
		if r.key[i] != '/' {
			continue
		}
		if s := v.outline.byKey[r.key[:i]]; s != nil && s.heading != nil && s.heading.Text != "" {
			parts = append(parts, s.heading.Text)
		}
	}
	return strings.Join(append(parts, v.fm.Label(r.key)), " › ")
}

// jumpTo goes to a question: its page, scrolled to it, with the keyboard on a
// desktop.
func (v *formView) jumpTo(r *formRow) {
	v.pager.turn(r.page)
	v.scrollTo(r)
}

// relayout lays the form out again after rows appeared, went or changed height.
func (v *formView) relayout() {
	if v.list == nil {
		return
	}
	v.list.Refresh()
	v.scroll.Refresh()
}

// scrollTo scrolls the form so that a field is at the top, and gives it the
// keyboard on a desktop.
func (v *formView) scrollTo(r *formRow) {
	d := fyne.CurrentApp().Driver()
	y := d.AbsolutePositionForObject(r.box).Y - d.AbsolutePositionForObject(v.scroll.Content).Y
	bottom := max(0, v.scroll.Content.Size().Height-v.scroll.Size().Height)
	v.scroll.ScrollToOffset(fyne.NewPos(0, max(0, min(y, bottom))))
	if r.input == nil || r.readOnly {
		return
	}
	if f := r.input.focusable(); f != nil && v.win != nil && !fyne.CurrentDevice().IsMobile() {
		v.win.Canvas().Focus(f)
	}
}
