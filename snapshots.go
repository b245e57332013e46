package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/fieldforms/fieldforms/store"
)

// keepSnapshots takes the replica's daily snapshot (a verified copy kept 7 days in
// the replica's snapshots folder) now if today's is missing, and checks again every
// hour until ctx ends. A failed snapshot is logged and tried again: it never stops the
// app or the sync.
func keepSnapshots(ctx context.Context, st *store.Store, log *slog.Logger) {
	for {
		if _, err := st.Snapshot(ctx, store.SnapshotDir(st.Dir()), time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("daily snapshot failed", "err", err)
		}
		t := time.NewTimer(time.Hour)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
