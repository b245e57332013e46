package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldforms/fieldforms/server"
)

func init() {
	register(&command{
		name:    "backup",
		summary: "Take a backup now, list the backups, or check one again by a test restore.",
		usage: "now | list [--json] | verify ID [--from local|blob]\n" +
			"       [--backup-dir DIR] [--backup-container NAME] [--blob-endpoint URL --blob-account NAME]  (account key in $" + server.EnvBlobKey + ")\n\n" +
			"With a server running, the command runs in it, with the server's backup settings;\n" +
			"otherwise on the folders, with the flags given here.",
		run: runBackup,
	})
}

// backupFlags are the backup settings serve, backup and restore share.
type backupFlags struct {
	dir, container      string
	retention           time.Duration
	blobEndpoint, blobA *string // nil where the command defines them itself (serve)
}

func addBackupFlags(fs *flag.FlagSet, withBlob bool) *backupFlags {
	f := &backupFlags{}
	fs.StringVar(&f.dir, "backup-dir", "", "local backup `DIR`, outside the data folder (default: DATA-backups beside the data folder)")
	fs.StringVar(&f.container, "backup-container", server.DefaultBackupContainer, "Azure Blob `container` for the second copy of backups (with --blob-endpoint and --blob-account)")
	fs.DurationVar(&f.retention, "backup-retention", server.DefaultBackupRetention, "delete backups older than this from both places (the newest good one is always kept)")
	if withBlob {
		f.blobEndpoint = fs.String("blob-endpoint", "", "Azure Blob service `URL` (https only); the account key is read from $"+server.EnvBlobKey)
		f.blobA = fs.String("blob-account", "", "Azure storage account `NAME`")
	}
	return f
}

// options are the backup options for the data folder.
func (f *backupFlags) options(dataDir string) server.BackupOptions {
	dir := f.dir
	if dir == "" {
		dir = server.DefaultBackupDir(dataDir)
	}
	return server.BackupOptions{Dir: dir, Container: f.container, Retention: f.retention}
}

// serverOptions are the options of a command that may open the folders itself.
func (f *backupFlags) serverOptions(e *env) (server.Options, error) {
	opts := e.options()
	opts.Backup = f.options(e.dataDir)
	var err error
	if f.blobEndpoint != nil {
		opts.Blob, err = blobOptions(*f.blobEndpoint, *f.blobA)
	}
	return opts, err
}

func runBackup(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	bf := addBackupFlags(fs, true)
	asJSON := fs.Bool("json", false, "list as JSON")
	from := fs.String("from", "", "verify the copy in `PLACE`: local or blob (default: local when it is there)")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("say now, list or verify ID")
	}
	opts, err := bf.serverOptions(e)
	if err != nil {
		return err
	}
	switch {
	case pos[0] == "now" && len(pos) == 1:
		var info server.BackupInfo
		err := server.Admin(ctx, opts, server.OpBackupNow, struct{}{}, &info)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backup %s %s: %s, %d tenants, %d records, in %s\n", info.ID, info.State,
			size(info.Size), len(info.Tenants), info.Records, places(info))
		if info.BlobError != "" {
			return fmt.Errorf("backup %s is good but its second copy failed: %s", info.ID, info.BlobError)
		}
		return nil
	case pos[0] == "list" && len(pos) == 1:
		var list []server.BackupInfo
		if err := server.Admin(ctx, opts, server.OpBackupList, struct{}{}, &list); err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tCHECKED\tPLACES\tSIZE\tTENANTS\tRECORDS\tNOTE")
		for _, b := range list {
			checked := "never"
			if !b.Checked.IsZero() {
				checked = b.Checked.Local().Format("2006-01-02 15:04") + " (" + b.From + ")"
			}
			var note []string
			if b.Reason != "" {
				note = append(note, b.Reason)
			}
			if b.BlobError != "" {
				note = append(note, "blob: "+b.BlobError)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", b.ID, b.State, checked, places(b), size(b.Size),
				len(b.Tenants), b.Records, orDash(strings.Join(note, "; ")))
		}
		return tw.Flush()
	case pos[0] == "verify" && len(pos) == 2:
		var info server.BackupInfo
		if err := server.Admin(ctx, opts, server.OpBackupVerify, server.BackupVerifyArgs{ID: pos[1], From: *from}, &info); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backup %s is good (checked from %s): %d tenants, %d records, %s\n", info.ID, info.From,
			len(info.Tenants), info.Records, size(info.Size))
		return nil
	case pos[0] == "verify":
		return usagef("verify takes one backup ID")
	default:
		return usagef("unknown subcommand %q; use now, list or verify ID", strings.Join(pos, " "))
	}
}

func places(b server.BackupInfo) string {
	p := strings.Join(b.Places, ",")
	if b.LocalOnly {
		p += " (local only)"
	}
	return orDash(p)
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
