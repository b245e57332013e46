package main

// Device snapshots: a daily gzip'd copy of the replica, kept 7 days in the
// snapshots folder beside it (store.Snapshot), and restoring one after local damage.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldforms/fieldforms/store"
)

func init() {
	registerCommand(&cliCommand{
		name:    "snapshot list",
		args:    "[--json]",
		summary: "list the replica's daily snapshots, newest first",
		help: `Snapshots live in the snapshots folder inside the replica's folder, one a day,
kept ` + fmt.Sprint(store.SnapshotDays) + ` days.`,
		noStore: true,
		setup: func(fs *flag.FlagSet) cliRun {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(e *cliEnv, _ []string) error { return listSnapshots(e, *asJSON) }
		},
	})
	registerCommand(&cliCommand{
		name:    "snapshot take",
		summary: "take today's snapshot of the replica now (kept if there is one already)",
		help: `Writes a consistent copy of the replica, gzip'd, as replica-YYYY-MM-DD.db.gz in the
snapshots folder, then deletes snapshots older than ` + fmt.Sprint(store.SnapshotDays) + ` days. Prints the file.`,
		setup: func(fs *flag.FlagSet) cliRun {
			return func(e *cliEnv, _ []string) error {
				path, err := e.st.Snapshot(e.ctx, store.SnapshotDir(e.dataDir), time.Now())
				if err != nil {
					return err
				}
				fmt.Fprintln(e.stdout, path)
				return nil
			}
		},
	})
	registerCommand(&cliCommand{
		name:    "snapshot restore",
		args:    "NAME|latest",
		summary: "replace a damaged replica with a snapshot (the app must be closed)",
		help: `Checks the snapshot (it opens, its pages, audit chain and indexes are sound) and only
then replaces the replica's database with it. The replaced file is kept as
replica.db.before-restore. Saves made after the snapshot that reached the server come
back with the next sync; those that had not are lost. NAME is a file name from
'fieldforms snapshot list', its date (YYYY-MM-DD), or latest.`,
		minArgs: 1, maxArgs: 1,
		noStore: true,
		setup: func(fs *flag.FlagSet) cliRun {
			return func(e *cliEnv, args []string) error { return restoreSnapshot(e, args[0]) }
		},
	})
}

func listSnapshots(e *cliEnv, asJSON bool) error {
	list, err := store.ListSnapshots(store.SnapshotDir(e.dataDir))
	if err != nil {
		return err
	}
	if asJSON {
		if list == nil {
			list = []store.SnapshotInfo{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDAY\tSIZE")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", s.Name, s.Day.Format("2006-01-02"), s.Size)
	}
	return tw.Flush()
}

func restoreSnapshot(e *cliEnv, name string) error {
	list, err := store.ListSnapshots(store.SnapshotDir(e.dataDir))
	if err != nil {
		return err
	}
	var pick *store.SnapshotInfo
	for i, s := range list {
		if name == "latest" && i == 0 || s.Name == name || s.Day.Format("2006-01-02") == name {
			pick = &list[i]
			break
		}
	}
	if pick == nil {
		if len(list) == 0 {
			return fmt.Errorf("no snapshots in %s", store.SnapshotDir(e.dataDir))
		}
		return cliUsagef("no snapshot %q; see 'fieldforms snapshot list'", name)
	}
	if strings.ContainsAny(name, `/\`) {
		return cliUsagef("NAME is a file name from 'fieldforms snapshot list', not a path")
	}
	err = store.RestoreSnapshot(pick.Path, e.dataDir)
	if errors.Is(err, store.ErrInUse) {
		return errors.New("replica in use by another process (is the app open?); close it and try again")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "replica restored from %s; the replaced database is kept as %s\n",
		pick.Name, filepath.Join(e.dataDir, store.DBFile+store.BeforeRestoreSuffix))
	return nil
}
