package server_test

import (
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// BenchmarkPush pushes 20,000 new records in full batches over HTTPS on 127.0.0.1,
// as a device rebuilding an empty server does, and reports records a second.
func BenchmarkPush(b *testing.B) {
	for range b.N {
		b.StopTimer()
		ts := startServer(b, dirs(b))
		ts.addTenant(b, "acme")
		d := ts.enroll(b, "acme", "ann")
		const n = 20000
		batches := make([][]form.Change, 0, n/wire.MaxPushChanges)
		for i := 0; i < n; i += wire.MaxPushChanges {
			var batch []form.Change
			for j := 0; j < wire.MaxPushChanges; j++ {
				batch = append(batch, d.change(form.NewID(), "Site", j%10))
			}
			batches = append(batches, batch)
		}
		b.StartTimer()
		start := time.Now()
		for _, batch := range batches {
			resp, a := d.push(b, batch...)
			if a.code != 200 || resp.Results[len(batch)-1].Status != wire.StatusApplied {
				b.Fatalf("push: %d %+v", a.code, a.err)
			}
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "records/s")
		b.StopTimer()
		ts.stop()
	}
}
