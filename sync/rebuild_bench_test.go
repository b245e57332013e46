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
	"github.com/fieldforms/fieldforms/sync"
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
	if os.Getenv("FIELDFORMS_BENCH_LOOPBACK_COMPRESS") != "" {
		// Compress request bodies to 127.0.0.1 as to any other server, to compare.
		defer sync.SetPlainToLoopback(sync.SetPlainToLoopback(false))
	}
	sync.PushFigures()
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
	read, waitAnswer, waitRead, batches := sync.PushFigures()
	fmt.Printf("rebuild_push_batches %d batches\n", batches)
	fmt.Printf("rebuild_push_read_encode_s %.4g s\n", read.Seconds())
	fmt.Printf("rebuild_push_wait_answers_s %.4g s\n", waitAnswer.Seconds())
	fmt.Printf("rebuild_push_wait_device_s %.4g s\n", waitRead.Seconds())
	b.Logf("%+v", rep)
}
