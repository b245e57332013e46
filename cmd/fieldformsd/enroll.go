package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "enroll",
		summary: "Print a one-time enrolment code (valid 15 minutes) for a device of a tenant's user.",
		usage:   "--tenant NAME --user NAME [--admin] [--server-url URL]",
		run:     runEnroll,
	})
}

func runEnroll(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	user := fs.String("user", "", "user `NAME` the device acts for")
	admin := fs.Bool("admin", false, "the user is an admin of the tenant")
	url := fs.String("server-url", "", "`URL` devices reach the server at (default: https:// and the address the server listens on)")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := requireTenant(*tenant); err != nil {
		return err
	}
	if *user == "" {
		return usagef("--user NAME is required")
	}
	var code string
	if err := e.admin(ctx, server.OpEnrol, server.EnrolArgs{Tenant: *tenant, User: *user, Admin: *admin, ServerURL: *url}, &code); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, code)
	return nil
}
