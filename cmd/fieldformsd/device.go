package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "device",
		summary: "List a tenant's devices, or revoke one (it is refused from then on, even by a rebuilt server).",
		usage:   "list --tenant NAME [--json] | revoke ID --tenant NAME",
		run:     runDevice,
	})
}

func runDevice(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	asJSON := fs.Bool("json", false, "list as JSON")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("say list or revoke ID")
	}
	if err := requireTenant(*tenant); err != nil {
		return err
	}
	switch {
	case pos[0] == "list" && len(pos) == 1:
		var devs []server.Device
		if err := e.admin(ctx, server.OpDeviceList, server.TenantArgs{Tenant: *tenant}, &devs); err != nil {
			return err
		}
		if *asJSON {
			for i := range devs {
				devs[i].TokenHash = ""
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(devs)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tUSER\tADMIN\tNAME\tSTATE\tLAST SEEN\tLAST SYNC\tPENDING\tDEAD\tOLDEST UNSENT\tREPORTED")
		for _, d := range devs {
			state := "active"
			if d.Revoked != nil {
				state = "revoked"
			}
			oldest := "-"
			if d.OldestUnsent != nil {
				oldest = when(*d.OldestUnsent)
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.ID, d.User, d.Admin, orDash(d.Name), state,
				when(d.LastSeen), when(d.LastSync), d.Pending, d.DeadLetters, oldest, when(d.StatusAt))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		// A device whose own audit trail was found cut or rewritten against the
		// checkpoint it sent before.
		for _, d := range devs {
			if d.AuditProblem != "" {
				fmt.Fprintf(e.stdout, "device %s: %s\n", d.ID, d.AuditProblem)
			}
		}
		return nil
	case pos[0] == "revoke" && len(pos) == 2:
		var d server.Device
		if err := e.admin(ctx, server.OpDeviceRevoke, server.DeviceArgs{Tenant: *tenant, Device: pos[1]}, &d); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %s of tenant %s revoked\n", d.ID, *tenant)
		return nil
	case pos[0] == "revoke":
		return usagef("revoke takes one device ID")
	default:
		return usagef("unknown subcommand %q; use list or revoke ID", pos[0])
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
