package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkMigrateAndCompact prints migrate_v1_<N>_s and compact_<N>_s for a
// replica of FIELDFORMS_BENCH_N records (default 100,000) of the peer benchmark.
//
// migrate_v1 is the conversion at open of a schema-2 file: the replica is made by
// this program and its meta schema set back to 2, so the figure is the cost of the
// conversion's framework (read every bucket, copy it in key order into a new file,
// convertRecordValue and convertAuditValue on every record and audit entry, which
// find values already in the current layout, finishUpgrade, fsync, rename, reopen,
// replay of an empty journal). A file written by the old program adds the real
// re-encoding of its values. compact is store.Compact of the converted replica.
func BenchmarkMigrateAndCompact(b *testing.B) {
	n, lbl := benchN(b)
	ctx := context.Background()
	s, dir, lines := openBenchReplica(b, n, store.Options{Device: "bench"})
	const batch = 1000
	for i := 0; i < n; i += batch {
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+batch, n)], []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ApplyRecords(ctx, recs, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	lines = nil
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte{0, 0, 0, 2}) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	size := func() float64 {
		st, err := os.Stat(filepath.Join(dir, store.DBFile))
		if err != nil {
			b.Fatal(err)
		}
		return float64(st.Size()) / (1 << 20)
	}
	figure("migrate_v1_"+lbl+"_before_mib", size(), "MiB")
	t0 := time.Now()
	s, err = store.Open(ctx, dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	if c, err := s.Count(ctx); err != nil || c != n {
		b.Fatalf("count after the conversion: %d %v", c, err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	figure("migrate_v1_"+lbl+"_s", el.Seconds(), "s")
	figure("migrate_v1_"+lbl+"_after_mib", size(), "MiB")
	rep, err := store.Compact(ctx, dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	figure("compact_"+lbl+"_s", rep.Duration.Seconds(), "s")
	figure("compact_"+lbl+"_after_mib", float64(rep.After)/(1<<20), "MiB")
}
