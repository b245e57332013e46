package sync_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/internal/benchdata"
)

// BenchmarkRebuildInProcess runs a device's rebuild of an empty server with both in
// this process (the server over TLS on 127.0.0.1), so one CPU profile shows both
// sides' stages.
func BenchmarkRebuildInProcess(b *testing.B) {
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("FIELDFORMS_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	recs, err := benchdata.Load(n)
	if err != nil {
		b.Fatal(err)
	}
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c := newCluster(b)
	for _, tp := range tpls {
		if _, err := c.srv.AddTemplate(ctx, tenantName, tp.Encode()); err != nil {
			b.Fatal(err)
		}
	}
	d := c.addDevice("dev")
	for i := 0; i < len(recs); i += 2000 {
		if _, err := d.st.ApplyRecords(ctx, recs[i:min(i+2000, len(recs))], "bench"); err != nil {
			b.Fatal(err)
		}
	}
	recs = nil
	c.wipeData(b)
	b.ResetTimer()
	if f := os.Getenv("FIELDFORMS_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	t0 := time.Now()
	rep, err := d.rep.SyncOnce(ctx)
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	b.StopTimer()
	fmt.Printf("rebuild_inprocess_%d_s %.4g s\n", n, el.Seconds())
	b.Logf("%+v", rep)
}
