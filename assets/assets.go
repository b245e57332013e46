// Package assets holds what ships inside the Fieldforms binary: the app icon and
// the sample templates a new replica starts with.
//
// It does not import Fyne, so headless commands and tests can use it without a
// display; the UI wraps IconPNG in a Fyne resource itself.
package assets

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/fieldforms/fieldforms/form"
)

//go:embed icon.png templates/*.json
var files embed.FS

// IconPNG is the app icon, a PNG image.
var IconPNG = mustRead("icon.png")

// Templates parses every embedded sample template, in file name order. The error
// names the file that does not parse.
func Templates() ([]*form.Template, error) {
	names, err := fs.Glob(files, "templates/*.json")
	if err != nil {
		return nil, fmt.Errorf("sample templates: %w", err)
	}
	ts := make([]*form.Template, 0, len(names))
	for _, name := range names {
		data, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("sample template %s: %w", name, err)
		}
		t, err := form.ParseTemplate(data)
		if err != nil {
			return nil, fmt.Errorf("sample template %s: %w", name, err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// mustRead reads an embedded file; a missing one is a build mistake, not a
// runtime condition.
func mustRead(name string) []byte {
	data, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("assets: %v", err))
	}
	return data
}
