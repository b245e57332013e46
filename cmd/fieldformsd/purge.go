package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

func init() {
	register(&command{
		name:    "purge",
		summary: "Request, approve or list permanent deletions; one runs when two admins other than the requester approve it.",
		usage:   "request --tenant NAME --user ADMIN --reason TEXT RECORD-ID... | approve REQUEST-ID --tenant NAME --user ADMIN | list --tenant NAME [--json]",
		run:     runPurge,
	})
}

func runPurge(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	user := fs.String("user", "", "the admin user `NAME` taking this step (request, approve). The operator vouches for it; "+
		"it must be an admin user of the tenant (one with an enrolled admin device) and is recorded with the device \""+server.CLIDevice+"\"")
	reason := fs.String("reason", "", "why the records must be deleted for good (request)")
	asJSON := fs.Bool("json", false, "print the request(s) as JSON")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("say request, approve or list")
	}
	if err := requireTenant(*tenant); err != nil {
		return err
	}
	needUser := func() error {
		if *user == "" {
			return usagef("--user ADMIN is required: the admin user taking this step")
		}
		return nil
	}
	switch pos[0] {
	case "request":
		if err := needUser(); err != nil {
			return err
		}
		if len(pos) < 2 {
			return usagef("request names at least one RECORD-ID")
		}
		if strings.TrimSpace(*reason) == "" {
			return usagef("--reason TEXT is required")
		}
		var st wire.PurgeStatus
		args := server.PurgeRequestArgs{Tenant: *tenant, User: *user, Reason: *reason, Records: pos[1:]}
		if err := e.admin(ctx, server.OpPurgeRequest, args, &st); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, st)
		}
		fmt.Fprintf(e.stdout, "purge request %s recorded: %s; it runs once two admins other than %s approve it\n",
			st.ID, plural(len(st.Records), "record"), st.Requester)
		return nil
	case "approve":
		if err := needUser(); err != nil {
			return err
		}
		if len(pos) != 2 {
			return usagef("approve takes one REQUEST-ID")
		}
		var st wire.PurgeStatus
		if err := e.admin(ctx, server.OpPurgeApprove, server.PurgeApproveArgs{Tenant: *tenant, User: *user, ID: pos[1]}, &st); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, st)
		}
		if st.Done == nil {
			fmt.Fprintf(e.stdout, "purge request %s: approved by %s (%d of 2); it runs after one more approval\n",
				st.ID, approvedBy(st), len(st.Approvals))
			return nil
		}
		msg := fmt.Sprintf("purge request %s: approved by %s; carried out: %s purged", st.ID, approvedBy(st), plural(len(st.Records), "record"))
		if st.BlobsPending > 0 {
			msg += fmt.Sprintf("; %s to delete from blob storage when a server with blob storage runs", plural(st.BlobsPending, "attachment"))
		}
		fmt.Fprintln(e.stdout, msg)
		return nil
	case "list":
		if len(pos) != 1 {
			return usagef("list takes no arguments")
		}
		var list []wire.PurgeStatus
		if err := e.admin(ctx, server.OpPurgeList, server.TenantArgs{Tenant: *tenant}, &list); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, list)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "REQUEST\tREQUESTED\tREQUESTER\tRECORDS\tAPPROVED BY\tSTATE\tREASON")
		for _, st := range list {
			state := fmt.Sprintf("waiting (%d of 2)", len(st.Approvals))
			if st.Done != nil {
				state = "done " + when(*st.Done)
				if st.BlobsPending > 0 {
					state += fmt.Sprintf(", %d blobs to delete", st.BlobsPending)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", st.ID, when(st.Requested), st.Requester, len(st.Records),
				orDash(approvedBy(st)), state, oneLine(st.Reason))
		}
		return tw.Flush()
	default:
		return usagef("unknown subcommand %q; use request, approve or list", pos[0])
	}
}

func approvedBy(st wire.PurgeStatus) string {
	names := make([]string, len(st.Approvals))
	for i, a := range st.Approvals {
		names[i] = a.User
	}
	return strings.Join(names, " and ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
