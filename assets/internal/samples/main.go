// Command samples imports the sample forms, written as XLSForms in assets/xlsform,
// into the JSON templates assets/templates embeds: `go generate ./assets`. A form
// that would import with anything dropped is refused, so a sample is always
// carried over whole. TestSamplesImported checks that the two stay in step.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldforms/fieldforms/form/xlsform"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "samples:", err)
		os.Exit(1)
	}
}

func run() error {
	paths, err := filepath.Glob(filepath.Join("xlsform", "*.xlsx"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		rep, err := xlsform.ImportFile(context.Background(), p, xlsform.Options{})
		if err != nil {
			return err
		}
		if !rep.Clean() {
			return fmt.Errorf("%s: something would be dropped:\n%s", p, rep.Text())
		}
		stem := strings.TrimSuffix(filepath.Base(p), ".xlsx")
		if rep.Template.ID != stem {
			return fmt.Errorf("%s: form_id %q, want the file's name %q", p, rep.Template.ID, stem)
		}
		out, err := json.MarshalIndent(rep.Template, "", "  ")
		if err != nil {
			return err
		}
		dst := filepath.Join("templates", stem+".json")
		if err := os.WriteFile(dst, append(out, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("samples: %s → %s\n", p, dst)
	}
	return nil
}
