package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "tenant",
		summary: "Add a tenant (an organisation with its own data and signing key), or list them.",
		usage:   "add NAME | list",
		run:     runTenant,
	})
}

func runTenant(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && pos[0] == "add":
		var info server.TenantInfo
		if err := e.admin(ctx, server.OpTenantAdd, server.TenantArgs{Tenant: pos[1]}, &info); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "tenant %s added\n", info.Name)
		return nil
	case len(pos) == 1 && pos[0] == "list":
		var list []server.TenantInfo
		if err := e.admin(ctx, server.OpTenantList, struct{}{}, &list); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tDEVICES")
		for _, t := range list {
			fmt.Fprintf(tw, "%s\t%d\n", t.Name, t.Devices)
		}
		return tw.Flush()
	case len(pos) == 0:
		return usagef("say add NAME or list")
	case pos[0] == "add":
		return usagef("add takes one NAME")
	default:
		return usagef("unknown subcommand %q; use add NAME or list", pos[0])
	}
}
