package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "restore",
		summary: "Restore a tenant from a backup; its epoch changes, so devices push back what they wrote since.",
		usage: "--tenant NAME --backup ID|latest [--from local|blob]\n" +
			"       [--backup-dir DIR] [--backup-container NAME] [--blob-endpoint URL --blob-account NAME]  (account key in $" + server.EnvBlobKey + ")\n\n" +
			"With a server running, the tenant is taken offline (its devices get 503 and retry),\n" +
			"its store replaced and reopened; otherwise the folders are restored directly.\n" +
			"The replaced database is kept as replica.db.before-restore in the tenant's folder.",
		run: runRestore,
	})
}

func runRestore(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME` to restore")
	backup := fs.String("backup", "", "backup `ID` to restore from, or latest: the newest good backup holding the tenant")
	from := fs.String("from", "", "read the backup from `PLACE`: local or blob (default: local when it is there)")
	bf := addBackupFlags(fs, true)
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
	if *backup == "" {
		return usagef("--backup ID|latest is required")
	}
	opts, err := bf.serverOptions(e)
	if err != nil {
		return err
	}
	var res server.RestoreResult
	if err := server.Admin(ctx, opts, server.OpBackupRestore, server.RestoreArgs{Tenant: *tenant, Backup: *backup, From: *from}, &res); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "tenant %s restored from backup %s (%s, taken %s): %d records; epoch %s → %s: devices now reconcile and push back what they wrote since\n",
		res.Tenant, res.Backup, res.From, res.Created.Local().Format("2006-01-02 15:04:05"), res.Records, orDash(res.OldEpoch), res.NewEpoch)
	if res.Kept != "" {
		fmt.Fprintf(e.stdout, "the replaced database is kept as %s\n", res.Kept)
	}
	return nil
}
