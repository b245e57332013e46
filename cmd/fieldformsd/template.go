package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/importer"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

func init() {
	register(&command{
		name:    "template",
		summary: "Add a template version (JSON file), or import an XLSForm or XForm, to a tenant; devices get it on their next sync.",
		usage:   "add FILE --tenant NAME | import FILE.xlsx|.xls|.xml --tenant NAME [--dry-run] [--json]",
		run:     runTemplate,
	})
}

func runTemplate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	dry := fs.Bool("dry-run", false, "import: report only; publish nothing")
	asJSON := fs.Bool("json", false, "import: print the report as JSON")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 2 && pos[0] == "import" {
		return importTemplate(ctx, e, *tenant, pos[1], *dry, *asJSON)
	}
	if len(pos) != 2 || pos[0] != "add" {
		return usagef("say add FILE or import FILE")
	}
	if err := requireTenant(*tenant); err != nil {
		return err
	}
	data, err := os.ReadFile(pos[1])
	if err != nil {
		return err
	}
	if len(data) > form.MaxTemplateBytes {
		return fmt.Errorf("%s: larger than %d bytes", pos[1], form.MaxTemplateBytes)
	}
	// Check here too, so the error names the file.
	if _, err := form.ParseTemplate(data); err != nil {
		return fmt.Errorf("%s: %w", pos[1], err)
	}
	var res wire.TemplateResult
	if err := e.admin(ctx, server.OpTemplateAdd, server.TemplateArgs{Tenant: *tenant, Template: json.RawMessage(data)}, &res); err != nil {
		return fmt.Errorf("%s: %w", pos[1], err)
	}
	fmt.Fprintf(e.stdout, "template %s version %d: %s\n", res.ID, res.Version, res.Status)
	return nil
}

// importTemplate imports an XLSForm or XForm, prints the report and, unless dry,
// publishes the template to the tenant with its version numbered from the form's
// version label.
func importTemplate(ctx context.Context, e *env, tenant, path string, dry, asJSON bool) error {
	if !dry {
		if err := requireTenant(tenant); err != nil {
			return err
		}
	}
	rep, err := importer.ImportFile(ctx, path, importer.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	status := "not published (dry run)"
	if !dry {
		var res wire.TemplateResult
		args := server.TemplateArgs{Tenant: tenant, Template: json.RawMessage(rep.Template.Encode()), Number: true}
		if err := e.admin(ctx, server.OpTemplateAdd, args, &res); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if t, err := form.ParseTemplate(rep.Template.Encode()); err == nil {
			t.Version = res.Version
			if t, err = form.ParseTemplate(t.Encode()); err == nil {
				rep.Template = t
			}
		}
		status = fmt.Sprintf("published as version %d", res.Version)
		if res.Status == wire.StatusUnchanged {
			status = fmt.Sprintf("version %d is already published, unchanged", res.Version)
		}
	}
	if asJSON {
		return json.NewEncoder(e.stdout).Encode(rep)
	}
	fmt.Fprint(e.stdout, rep.Text())
	fmt.Fprintf(e.stdout, "\nTemplate %s: %s.\n", rep.Template.ID, status)
	return nil
}
