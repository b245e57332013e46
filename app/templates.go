package app

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// templatePicker lists the templates a new form can be made from: the latest
// version of each, by name, with its description and procedures.
type templatePicker struct {
	env     *env
	onPick  func(form.TemplateKey)
	choices []*form.Template
	buttons []*widget.Button
	view    fyne.CanvasObject
}

func newTemplatePicker(e *env, onPick func(form.TemplateKey)) *templatePicker {
	p := &templatePicker{env: e, onPick: onPick, choices: latestTemplates(e.d.Replica.Templates())}
	box := container.NewVBox(quiet("Pick what to fill in."))
	if len(p.choices) == 0 {
		box.Add(wrapped("There are no templates on this device yet. Enrol it with your organisation's server (Settings) to receive them."))
	}
	for _, t := range p.choices {
		key := t.Key()
		start := widget.NewButtonWithIcon("Fill in", theme.DocumentCreateIcon(), func() { p.onPick(key) })
		start.Importance = widget.HighImportance
		p.buttons = append(p.buttons, start)
		name := widget.NewLabelWithStyle(t.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		name.Wrapping = fyne.TextWrapWord
		text := container.NewVBox(name)
		if t.Description != "" {
			text.Add(quiet(t.Description))
		}
		right := container.NewHBox(touch(start))
		if len(t.Procedures) > 0 {
			procs := t.Procedures
			title := t.Name
			right = container.NewHBox(touch(widget.NewButtonWithIcon(fmt.Sprintf("Procedures (%d)", len(procs)), theme.FileTextIcon(), func() {
				d := dialog.NewCustom("Procedures: "+title, "Close", container.NewVScroll(newProcedureList(e, procs)), e.w)
				d.Resize(fyne.NewSize(560, 360))
				d.Show()
			})), touch(start))
		}
		box.Add(widget.NewSeparator())
		box.Add(container.NewBorder(nil, nil, nil, container.NewCenter(right), text))
	}
	p.view = container.NewVScroll(container.NewPadded(box))
	return p
}
