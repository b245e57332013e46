package app

// The language a form is shown in: the one the worker last chose for its
// template, else the device's language when the form has it, else the form's
// default. The form screen's header offers the form's languages.

import (
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// formLanguagePref is the preference that remembers the language chosen for a
// template, followed by the template's ID.
const formLanguagePref = "form.language."

// deviceLocale is the device's language, as "fr-FR".
func deviceLocale() string { return lang.SystemLocale().String() }

// formLanguage is the language to show a template in; "" when it has none.
func formLanguage(t *form.Template, prefs fyne.Preferences, locale string) string {
	if len(t.Languages) == 0 {
		return ""
	}
	if prefs != nil {
		if l := prefs.String(formLanguagePref + t.ID); slices.Contains(t.Languages, l) {
			return l
		}
	}
	if l := form.MatchLanguage(t.Languages, locale); l != "" {
		return l
	}
	if t.DefaultLanguage != "" {
		return t.DefaultLanguage
	}
	return t.Languages[0]
}

// chosenLanguage is the language this screen's template is shown in.
func (v *formView) chosenLanguage() string { return formLanguage(v.tpl, v.prefs, v.locale) }

// newLanguageSelect offers the form's languages; nil when it has fewer than two.
func (v *formView) newLanguageSelect() *widget.Select {
	if len(v.tpl.Languages) < 2 {
		return nil
	}
	s := widget.NewSelect(v.tpl.Languages, nil)
	s.SetSelected(v.fm.Context().Language)
	s.OnChanged = v.setLanguage
	return s
}

// setLanguage shows the form in another language, and remembers it for the
// template.
func (v *formView) setLanguage(l string) {
	if l == "" || l == v.fm.Context().Language {
		return
	}
	v.prefs.SetString(formLanguagePref+v.tpl.ID, l)
	v.fm.SetLanguage(l)
	v.refresh()
}
