package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
)

func init() {
	register(&command{
		name:    "compact",
		summary: "Rewrite a tenant's database without free pages; prints its size before and after.",
		usage: "--tenant NAME\n\n" +
			"With a server running, the tenant is offline meanwhile (its devices get 503 and retry);\n" +
			"otherwise the tenant's folder is compacted directly. The new file is written beside\n" +
			"replica.db, made durable and renamed over it: interrupted, the old file or the new one is whole.",
		run: runCompact,
	})
}

func runCompact(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME` to compact")
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
	var rep store.CompactReport
	if err := e.admin(ctx, server.OpTenantCompact, server.TenantArgs{Tenant: *tenant}, &rep); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s → %s (%d records, %.1fs)\n", store.DBFile, mib(rep.Before), mib(rep.After), rep.Records, rep.Duration.Seconds())
	return nil
}

// mib formats a size in bytes as MiB with one decimal.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
