package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

func init() {
	register(&command{
		name:    "template",
		summary: "Add a template version (JSON file) to a tenant; devices get it on their next sync.",
		usage:   "add FILE --tenant NAME",
		run:     runTemplate,
	})
}

func runTemplate(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "add" {
		return usagef("say add FILE")
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
