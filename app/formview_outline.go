package app

// The form's outline on screen: a section per group (a heading, its questions
// indented under it; a field-list group framed as one card), per repeat (its
// instances, then "Add …" for a repeat the worker sizes) and per instance
// ("Member 2", with Remove). Pages are cut from it: each top-level group or
// repeat, and each run of questions outside any, is one.
//
// The outline is laid out again when the live instances change (one added or
// removed, a count changed); the rows of the fields are kept, with what is typed
// in them, and only the containers around them are made anew.

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// formOutline is the outline as laid out.
type formOutline struct {
	instances string // the live instances it was laid out for
	sections  []*formSection
	byKey     map[string]*formSection
	pages     []*formPage
}

// formSection is a group, a repeat or an instance on screen.
type formSection struct {
	item    form.Item
	heading *widget.Label // nil for a repeat: its instances have headings
	body    *fyne.Container
	box     fyne.CanvasObject
	remove  *widget.Button // an instance of a repeat the worker sizes
	add     *widget.Button // a repeat the worker sizes
	addBox  fyne.CanvasObject
	shown   bool
}

// formPage is one page: a top-level group or repeat, or a run of questions
// outside any.
type formPage struct {
	key  string // the group's or repeat's; "" for a run of questions
	box  *fyne.Container
	rows []*formRow
}

// formShown reports whether a field has a row on screen: questions, notes, and
// calculations with a label (shown read-only). Hidden fields, metadata and
// unlabelled calculations hold values nobody reads on screen.
func formShown(f *form.Field) bool {
	return f.Asked() || f.Type == form.TypeNote || f.Type == form.TypeCalculate && !f.Label.Blank()
}

// instanceKeys lists the live instances an outline holds.
func instanceKeys(items []form.Item) string {
	var b strings.Builder
	for _, it := range items {
		if it.Kind == form.ItemInstance {
			b.WriteString(it.Key)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// layOut builds the outline's containers from the form's items, reusing the rows
// of fields that are still there.
func (v *formView) layOut(items []form.Item) {
	o := formOutline{instances: instanceKeys(items), byKey: map[string]*formSection{}}
	bodies := map[string]*fyne.Container{}
	var rows []*formRow
	newPage, runOfFields := true, false
	// top is the current page's box, made when something first goes in it, so
	// a run of metadata alone makes no empty page.
	top := func(key string) *fyne.Container {
		if newPage {
			o.pages = append(o.pages, &formPage{key: key, box: container.NewVBox()})
			newPage = false
		}
		return o.pages[len(o.pages)-1].box
	}
	parentBody := func(it form.Item) *fyne.Container {
		if it.Depth > 0 {
			return bodies[it.Parent]
		}
		if it.Kind == form.ItemField {
			return top("")
		}
		return top(it.Key)
	}
	for _, it := range items {
		if it.Depth == 0 {
			isField := it.Kind == form.ItemField
			if !isField || !runOfFields {
				newPage = true
			}
			runOfFields = isField
		}
		switch it.Kind {
		case form.ItemGroup, form.ItemRepeat:
			s := v.newSection(it)
			o.sections = append(o.sections, s)
			o.byKey[it.Key] = s
			add(parentBody(it), s.box)
			bodies[it.Key] = s.body
		case form.ItemInstance:
			s := v.newSection(it)
			o.sections = append(o.sections, s)
			o.byKey[it.Key] = s
			add(bodies[form.JoinKey(it.Parent, it.Field.ID)], s.box)
			bodies[it.Key] = s.body
		case form.ItemField:
			r := v.rowFor(it)
			if r == nil {
				continue
			}
			body := parentBody(it)
			if r.sep != nil {
				r.sep.Hidden = len(body.Objects) == 0
			}
			add(body, r.box)
			r.page = len(o.pages) - 1
			o.pages[r.page].rows = append(o.pages[r.page].rows, r)
			rows = append(rows, r)
		}
	}
	kept := make(map[string]*formRow, len(rows))
	for _, r := range rows {
		kept[r.key] = r
	}
	v.byID, v.rows, v.outline = kept, rows, o
	v.pager.show()
}

// add appends o to c without laying c out: the outline is laid out once, whole.
func add(c *fyne.Container, o fyne.CanvasObject) { c.Objects = append(c.Objects, o) }

// rowFor returns the row of a field's item, made when it is new; nil for a field
// not shown.
func (v *formView) rowFor(it form.Item) *formRow {
	if r := v.byID[it.Key]; r != nil {
		return r
	}
	if !formShown(it.Field) {
		return nil
	}
	return v.newRow(it)
}

func (v *formView) newSection(it form.Item) *formSection {
	s := &formSection{item: it, body: container.NewVBox(), shown: true}
	f := it.Field
	switch it.Kind {
	case form.ItemGroup:
		s.heading = heading("")
		box := container.NewVBox(s.heading, formInset(s.body))
		if hasAppearance(f, "field-list") {
			// One screenful that belongs together: framed as one card.
			s.box = widget.NewCard("", "", box)
		} else {
			s.box = box
		}
	case form.ItemRepeat:
		box := container.NewVBox(s.body)
		if f.RepeatCount == "" {
			s.add = widget.NewButtonWithIcon("Add "+v.fm.Label(it.Key), theme.ContentAddIcon(), func() { v.addInstance(it) })
			s.addBox = formTouchTarget(s.add)
			box.Add(container.NewHBox(s.addBox))
		}
		s.box = box
	case form.ItemInstance:
		s.heading = heading("")
		head := fyne.CanvasObject(s.heading)
		if f.RepeatCount == "" {
			s.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { v.confirmRemove(s) })
			s.remove.Importance = widget.LowImportance
			head = container.NewBorder(nil, nil, nil, formTouchTarget(s.remove), s.heading)
		}
		s.box = container.NewVBox(widget.NewSeparator(), head, formInset(s.body))
	}
	return s
}

// refreshSection shows a section when it is relevant, with its heading in the
// form's language; it reports whether that changed the layout.
func (v *formView) refreshSection(s *formSection) bool {
	it := s.item
	var shown bool
	switch it.Kind {
	case form.ItemGroup:
		shown = v.fm.Relevant(it.Key)
		setText(s.heading, v.fm.Label(it.Key))
	case form.ItemRepeat:
		shown = v.fm.Relevant(it.Key)
		if s.add != nil {
			label := v.fm.Label(it.Key)
			if label == "" {
				label = it.Field.ID
			}
			s.add.SetText("Add " + label)
			setVisible(v.fm.CanAddInstance(it.Parent, it.Field), s.add, s.addBox)
		}
	case form.ItemInstance:
		shown = v.fm.Relevant(it.Key)
		setText(s.heading, instanceTitle(v.fm, it))
	}
	return setShown(s.box, shown, &s.shown)
}

// instanceTitle is an instance's heading: the repeat's label and its place,
// "Member 2".
func instanceTitle(fm *form.Form, it form.Item) string {
	label := fm.Label(it.Key)
	if label == "" {
		label = it.Field.ID
	}
	return fmt.Sprintf("%s %d", label, it.Position)
}

// addInstance adds an instance to a repeat and goes to its first question.
func (v *formView) addInstance(it form.Item) {
	if v.finished {
		return
	}
	key, err := v.fm.AddInstance(it.Parent, it.Field)
	if err != nil {
		v.setState("Not added: "+err.Error()+".", widget.WarningImportance)
		return
	}
	v.changedStructure()
	for _, r := range v.rows {
		if strings.HasPrefix(r.key, key+"/") && r.input != nil {
			v.jumpTo(r)
			break
		}
	}
}

// confirmRemove asks before removing an instance and its answers.
func (v *formView) confirmRemove(s *formSection) {
	title := instanceTitle(v.fm, s.item)
	v.confirm("Remove "+title+"?", "Its answers are taken out of the form.", "Remove", func() {
		if v.finished {
			return
		}
		if err := v.fm.RemoveInstance(s.item.Key); err != nil {
			v.setState("Not removed: "+err.Error()+".", widget.WarningImportance)
			return
		}
		v.changedStructure()
	})
}

// changedStructure takes in an instance added or removed: the outline, what
// follows from it, and a save.
func (v *formView) changedStructure() {
	v.refresh()
	v.updateDirty()
	v.scheduleAutosave()
}

// formInset indents a section's body under its heading.
func formInset(o fyne.CanvasObject) *fyne.Container {
	return container.New(formInsetLayout{}, o)
}

// formInsetLayout leaves a margin on the left of its objects.
type formInsetLayout struct{}

func (formInsetLayout) inset() float32 { return 3 * theme.Padding() }

func (l formInsetLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objects {
		o.Move(fyne.NewPos(l.inset(), 0))
		o.Resize(fyne.NewSize(size.Width-l.inset(), size.Height))
	}
}

func (l formInsetLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objects {
		if o.Visible() {
			s = s.Max(o.MinSize())
		}
	}
	return fyne.NewSize(s.Width+l.inset(), s.Height)
}

// setShown shows or hides o; *was remembers the last state, and the result says
// whether it changed.
func setShown(o fyne.CanvasObject, shown bool, was *bool) bool {
	if *was == shown && o.Visible() == shown {
		return false
	}
	*was = shown
	if shown {
		o.Show()
	} else {
		o.Hide()
	}
	return true
}
