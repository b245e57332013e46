package main

// fieldforms compact: rewrite the replica without free pages (store.Compact).

import (
	"errors"
	"flag"
	"fmt"

	"github.com/fieldforms/fieldforms/store"
)

func init() {
	registerCommand(&cliCommand{
		name:    "compact",
		summary: "rewrite the replica without free pages",
		help: `bbolt keeps the room of deleted and rewritten data inside replica.db for
later use; it never gives it back. compact copies everything the replica holds
into a new file beside it, makes it durable and renames it over replica.db, then
prints the sizes before and after. Interrupted at any moment, the replica is the
old file or the new one, whole. The app must be closed.`,
		noStore: true,
		setup: func(fs *flag.FlagSet) cliRun {
			return func(e *cliEnv, _ []string) error { return compactReplica(e) }
		},
	})
}

func compactReplica(e *cliEnv) error {
	rep, err := store.Compact(e.ctx, e.dataDir, store.Options{LockTimeout: cliLockTimeout, Logger: e.log.With("part", "store")})
	if errors.Is(err, store.ErrInUse) {
		return errors.New("replica in use by another process (is the app open?); close it and try again")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s → %s (%d records, %.1fs)\n", store.DBFile, mib(rep.Before), mib(rep.After),
		rep.Records, rep.Duration.Seconds())
	return nil
}

// mib formats a size in bytes as MiB with one decimal.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
