package main

// The template import command: try an XLSForm or XForm on the device, offline.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/fieldforms/fieldforms/form/importer"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
)

func init() {
	registerCommand(&cliCommand{
		name:    "template import",
		args:    "FILE [--dry-run] [--json]",
		summary: "import an XLSForm (.xlsx, .xls) or XForm (.xml) into this replica; prints a report",
		help: `Reads the form, makes a template of it and prints a report: what was imported,
what was approximated and how, what was dropped and why, each with its sheet
and row (an XForm: its element path). Files the form names, such as the CSV of
a select_one_from_file, are read from FILE's folder.

The template is added to this replica, to fill in offline; the form's version
label (the settings sheet's version) picks its version: the same label and
content is the same version, a new label the next one, and a label already used
with other content is refused. Only an admin's device publishes it to the
tenant when it syncs; the server keeps others' imports off the other devices
(fieldformsd template import publishes for the whole tenant).
--dry-run imports and reports without adding.
--json prints {"template": …, "imported": N, "approximated": [{"row", "what",
"how"}], "dropped": [{"row", "what", "why"}], "warnings": [{"row", "message"}]}.
Exits 0 when a template was made (even with approximations or drops), 1 when
the form is refused, with one line that says where and why.`,
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) cliRun {
			dry := fs.Bool("dry-run", false, "report only; add nothing to the replica")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			return func(e *cliEnv, args []string) error { return importTemplate(e, args[0], *dry, *asJSON) }
		},
	})
}

func importTemplate(e *cliEnv, path string, dry, asJSON bool) error {
	rep, err := importer.ImportFile(e.ctx, path, importer.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	status := "not added (dry run)"
	if !dry {
		t, same, err := e.st.NumberVersion(rep.Template)
		if err != nil {
			if errors.Is(err, store.ErrTemplateConflict) {
				return fmt.Errorf("%s: %w", path, err)
			}
			return err
		}
		rep.Template = t
		status = fmt.Sprintf("version %d is already in this replica", t.Version)
		if !same {
			if err := e.st.PutTemplate(e.ctx, t); err != nil {
				return err
			}
			status = fmt.Sprintf("added as version %d", t.Version)
		}
	}
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(rep)
	}
	fmt.Fprint(e.stdout, rep.Text())
	fmt.Fprintf(e.stdout, "\nTemplate %s: %s.\n", rep.Template.ID, status)
	if cred, err := ffsync.LoadCredential(e.ctx, e.st); !dry && err == nil && !cred.Admin {
		fmt.Fprintln(e.stdout, "It stays on this device: only an admin's device publishes templates (or fieldformsd template import).")
	}
	return nil
}
