package app

// The language a form is shown in: the one the worker last chose for its
// template, else the device's language when the form has it, else the form's
// default. The form screen's header offers the form's languages.

import (
	"slices"
	"strings"

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
	if l := matchLanguage(t.Languages, locale); l != "" {
		return l
	}
	if t.DefaultLanguage != "" {
		return t.DefaultLanguage
	}
	return t.Languages[0]
}

// matchLanguage finds the language of a form that a locale ("fr-FR",
// "fr_FR.UTF-8", "pt-BR") asks for, by the code XLSForm puts in a language's name
// ("Français (fr)"): the same code with its region first, then the same language.
// It returns "" when none matches.
func matchLanguage(languages []string, locale string) string {
	tag := languageTag(locale)
	if tag == "" || tag == "c" || tag == "posix" {
		return ""
	}
	base, _, _ := strings.Cut(tag, "-")
	for _, l := range languages {
		if languageCode(l) == tag {
			return l
		}
	}
	for _, l := range languages {
		if b, _, _ := strings.Cut(languageCode(l), "-"); b != "" && b == base {
			return l
		}
	}
	return ""
}

// languageTag writes a locale as a lowercase tag: fr_FR.UTF-8 → fr-fr.
func languageTag(s string) string {
	s, _, _ = strings.Cut(s, ".")
	s, _, _ = strings.Cut(s, "@")
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
}

// languageCode is the code in a language's name, "Français (fr)" → fr; a name
// without one is taken as a code itself.
func languageCode(name string) string {
	if i, j := strings.LastIndexByte(name, '('), strings.LastIndexByte(name, ')'); i >= 0 && j > i {
		return languageTag(name[i+1 : j])
	}
	return languageTag(name)
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
