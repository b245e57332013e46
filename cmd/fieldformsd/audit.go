package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

func init() {
	register(&command{
		name:    "audit",
		summary: "Show a tenant's audit trail, or one record's history; --verify checks the hash chain, the Merkle tree and the latest signed checkpoint (exit 1 when broken).",
		usage:   "--tenant NAME [--record ID] [--verify] [--after SEQ] [--limit N] [--json]",
		run:     runAudit,
	})
}

func runAudit(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	tenant := fs.String("tenant", "", "tenant `NAME`")
	record := fs.String("record", "", "show only this record's history (record `ID`)")
	verify := fs.Bool("verify", false, "check the whole chain: no entry altered, inserted or missing")
	after := fs.Uint64("after", 0, "show entries after this sequence number `SEQ`")
	limit := fs.Int("limit", 0, "show at most `N` entries (0: all)")
	asJSON := fs.Bool("json", false, "print entries as JSON (one object with entries and the check)")
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
	if *limit < 0 {
		return usagef("--limit must not be negative")
	}
	// Read page by page; the check runs with the first.
	var all wire.AuditResponse
	all.Entries = []wire.AuditEntry{}
	a := server.AuditArgs{Tenant: *tenant, Record: *record, After: *after, Verify: *verify}
	for {
		a.Limit = 5000
		if *limit > 0 {
			a.Limit = min(a.Limit, *limit-len(all.Entries))
		}
		var page wire.AuditResponse
		if err := e.admin(ctx, server.OpAudit, a, &page); err != nil {
			return err
		}
		if a.Verify {
			all.Verified, all.Checked, all.Problem = page.Verified, page.Checked, page.Problem
			all.TreeSize, all.CheckpointSize = page.TreeSize, page.CheckpointSize
			a.Verify = false
		}
		all.Entries = append(all.Entries, page.Entries...)
		if len(page.Entries) < a.Limit || *limit > 0 && len(all.Entries) >= *limit {
			break
		}
		a.After = page.Entries[len(page.Entries)-1].Seq
	}
	if *asJSON {
		if err := printJSON(e.stdout, all); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME (UTC)\tACTOR\tDEVICE\tACTION\tRECORD\tFIELDS\tNOTE")
		for _, en := range all.Entries {
			fields := make([]string, len(en.Diff))
			for i, d := range en.Diff {
				fields[i] = d.Field
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", en.Seq, en.Time.UTC().Format("2006-01-02 15:04:05"),
				orDash(en.Actor), orDash(en.Device), en.Action, orDash(en.Record), orDash(strings.Join(fields, ",")), oneLine(en.Note))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if *verify && all.Verified != nil && *all.Verified {
			fmt.Fprintf(e.stdout, "audit chain intact: %d entries checked\n", all.Checked)
			if all.TreeSize > 0 || all.CheckpointSize > 0 {
				fmt.Fprintf(e.stdout, "verified up to entry %d, checkpoint signed at size %d\n", all.TreeSize, all.CheckpointSize)
			}
		}
	}
	if *verify && (all.Verified == nil || !*all.Verified) {
		return errors.New("audit chain broken: " + all.Problem)
	}
	return nil
}
