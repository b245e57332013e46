package main

// fieldforms repair: recover a replica that does not open (store.Repair), and say
// exactly what could not be recovered.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/fieldforms/fieldforms/store"
)

func init() {
	registerCommand(&cliCommand{
		name:    "repair",
		args:    "[--json]",
		summary: "recover a damaged replica; reports exactly what could not be recovered",
		help: `For a replica that does not open because its journal (journal.log) or its
database (replica.db) is damaged. The damaged file is kept beside it, renamed
journal.log.damaged-STAMP (or replica.db.before-restore), never deleted. Every valid
save in the journal is recovered, past any damage; a database that cannot be read is
replaced by the newest snapshot first. The report names the saves that could not be
recovered, with the records around them. The next sync compares the whole replica
with the server and brings back what the server holds.

Exits 0 when the replica opens afterwards (or had nothing to repair), 1 otherwise.
The app must be closed.`,
		noStore: true,
		setup: func(fs *flag.FlagSet) cliRun {
			asJSON := fs.Bool("json", false, "print the report as JSON")
			return func(e *cliEnv, _ []string) error { return repairReplica(e, *asJSON) }
		},
	})
}

func repairReplica(e *cliEnv, asJSON bool) error {
	rep, err := store.Repair(e.ctx, e.dataDir, store.RepairOptions{LockTimeout: cliLockTimeout, Logger: e.log.With("part", "repair")})
	if errors.Is(err, store.ErrInUse) {
		return errors.New("replica in use by another process (is the app open?); close it and try again")
	}
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := e.stdout
	fmt.Fprintf(w, "replica        %s\n", rep.Dir)
	if !rep.Repaired {
		if rep.JournalDamage != "" {
			fmt.Fprintf(w, "journal        %s (no save at stake: the database holds every save it touches)\n", rep.JournalDamage)
		}
		fmt.Fprintln(w, "result         nothing to repair: the replica opens as it is")
		return nil
	}
	if rep.DatabaseDamage != "" {
		fmt.Fprintf(w, "database       damaged: %s\n", oneLine(rep.DatabaseDamage))
		if d := rep.Database; d != nil {
			switch {
			case d.Salvaged > 0 && d.Snapshot != "":
				fmt.Fprintf(w, "database       %d records salvaged from the damaged file, merged with snapshot %s\n", d.Salvaged, d.Snapshot)
			case d.Salvaged > 0:
				fmt.Fprintf(w, "database       %d records salvaged from the damaged file (no snapshot to merge)\n", d.Salvaged)
			case d.Snapshot != "":
				fmt.Fprintf(w, "database       restored from snapshot %s\n", d.Snapshot)
			}
			for _, u := range d.Unreadable {
				fmt.Fprintf(w, "unreadable     %s\n", oneLine(u))
			}
			fmt.Fprintf(w, "database       the damaged file is kept as %s\n", d.Kept)
		}
	}
	if rep.JournalDamage != "" {
		fmt.Fprintf(w, "journal        damaged: %s\n", rep.JournalDamage)
	}
	if rep.JournalKept != "" {
		fmt.Fprintf(w, "journal        kept as %s\n", rep.JournalKept)
	}
	fmt.Fprintf(w, "database held  saves #1-#%d\n", rep.Applied)
	if rep.RecoveredSaves == 0 {
		fmt.Fprintln(w, "recovered      no save from the journal")
	} else {
		fmt.Fprintf(w, "recovered      %s from the journal (%s)\n", saves(rep.RecoveredSaves), joinRanges(rep.Recovered))
	}
	for _, l := range rep.Lost {
		line := fmt.Sprintf("not recovered  %s", l.LSNRange)
		if len(l.RecordsBefore) > 0 {
			line += "; the save before it changed " + strings.Join(l.RecordsBefore, ", ")
		}
		if len(l.RecordsAfter) > 0 {
			line += "; the save after it changed " + strings.Join(l.RecordsAfter, ", ")
		}
		fmt.Fprintln(w, line)
	}
	if rep.LostUnknownAfter != nil {
		fmt.Fprintf(w, "not recovered  any save after #%d (the journal was cut or missing: how many is unknown)\n", *rep.LostUnknownAfter)
	}
	if n := rep.LostCount(); n == 0 && rep.LostUnknownAfter == nil {
		fmt.Fprintln(w, "lost           nothing known")
	} else if n > 0 {
		fmt.Fprintf(w, "lost           %s on this device\n", saves(n))
	}
	if rep.LostCount() > 0 || rep.LostUnknownAfter != nil {
		fmt.Fprintln(w, "audit          the audit entries of saves not recovered are missing: 'fieldforms verify' names them")
	}
	if rep.ReconcileDue {
		fmt.Fprintln(w, "next sync      compares the whole replica with the server and brings back what it holds")
	}
	fmt.Fprintln(w, "result         repaired: the replica opens")
	return nil
}

func joinRanges(rs []store.LSNRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func saves(n int) string {
	if n == 1 {
		return "1 save"
	}
	return fmt.Sprintf("%d saves", n)
}
