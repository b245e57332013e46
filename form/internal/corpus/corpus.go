// Package corpus finds the corpus of public forms (XLSForms and XForms from
// pyxform, ODK, KoboToolbox, HOT and others, with their SOURCES.md) that the
// importers' tests and benchmarks read. The forms are other projects' files and are
// kept out of this repository.
package corpus

import (
	"os"
	"path/filepath"
	"runtime"
)

// Dir returns the corpus folder: FIELDFORMS_FORMS_CORPUS, else
// form/xlsform/testdata/corpus (a link a developer makes), else forms-corpus in the
// shared folder beside the repository; "" when there is none, or the folder
// named does not exist (tests skip then).
// A link is resolved.
func Dir() string {
	if d := os.Getenv("FIELDFORMS_FORMS_CORPUS"); d != "" {
		if _, err := os.Stat(d); err != nil {
			return ""
		}
		return resolve(d)
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	for _, d := range []string{
		filepath.Join(root, "form", "xlsform", "testdata", "corpus"),
		filepath.Join(root, "..", "shared", "forms-corpus"),
	} {
		if _, err := os.Stat(d); err == nil {
			return resolve(d)
		}
	}
	return ""
}

func resolve(d string) string {
	if r, err := filepath.EvalSymlinks(d); err == nil {
		return r
	}
	return d
}
