package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkAuditCheckpoint prints what a device's witness costs the server: a signed
// checkpoint with a consistency proof (GET /v1/audit/checkpoint?from=N) over HTTPS on
// 127.0.0.1, for a tenant of 20,000 pushed records, after each new batch (the tree
// grew: a new signature and a write of the config's record) and when nothing changed.
func BenchmarkAuditCheckpoint(b *testing.B) {
	for range b.N {
		ts := startServer(b, dirs(b))
		ts.addTenant(b, "acme")
		d := ts.enroll(b, "acme", "ann")
		const batches, per = 40, 500
		var grew time.Duration
		var size int64
		var root tlog.Hash
		for i := range batches {
			var cs []form.Change
			for j := range per {
				cs = append(cs, d.change(form.NewID(), "Site", j%10))
			}
			if _, a := d.push(b, cs...); a.code != 200 {
				b.Fatalf("push: %d %+v", a.code, a.err)
			}
			start := time.Now()
			var cp wire.CheckpointResponse
			if a := d.do(b, "GET", fmt.Sprintf("/v1/audit/checkpoint?from=%d", size), nil, &cp); a.code != 200 {
				b.Fatalf("checkpoint: %d %+v", a.code, a.err)
			}
			grew += time.Since(start)
			text, _, _ := strings.Cut(cp.Checkpoint, "\n\n")
			c, err := wire.ParseCheckpoint(text + "\n")
			if err != nil {
				b.Fatal(err)
			}
			if i > 0 && (cp.From != size || tlog.CheckTree(cp.Proof, c.Tree.N, c.Tree.Hash, size, root) != nil) {
				b.Fatalf("no proof from %d that holds: %+v", size, cp)
			}
			size, root = c.Tree.N, c.Tree.Hash
		}
		const quiet = 200
		start := time.Now()
		for range quiet {
			var cp wire.CheckpointResponse
			if a := d.do(b, "GET", fmt.Sprintf("/v1/audit/checkpoint?from=%d", size), nil, &cp); a.code != 200 {
				b.Fatalf("checkpoint: %d %+v", a.code, a.err)
			}
		}
		same := time.Since(start)
		figure("audit_checkpoint_entries", float64(size), "entries")
		figure("audit_checkpoint_grown_ms", float64(grew.Microseconds())/1000/batches, "ms")
		figure("audit_checkpoint_unchanged_ms", float64(same.Microseconds())/1000/quiet, "ms")
		ts.stop()
	}
}
