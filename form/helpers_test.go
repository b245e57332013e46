package form_test

import (
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

// tmpl wraps a list of field objects into a minimal valid template.
func tmpl(fields string) []byte {
	return []byte(`{"id":"t","version":1,"name":"T","fields":[` + fields + `]}`)
}

func mustParse(tb testing.TB, data []byte) *form.Template {
	tb.Helper()
	t, err := form.ParseTemplate(data)
	if err != nil {
		tb.Fatalf("ParseTemplate: %v\n%s", err, data)
	}
	return t
}
