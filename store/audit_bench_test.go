package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkAudit applies the benchmark's documents as pulls do (batches of 1,000),
// saves 1,000 edits, and prints what the audit trail costs: bytes per record, as
// stored now and as the previous release stored it (full copies, an entry per
// record), and the time VerifyAudit takes. FIELDFORMS_AUDIT_BENCH_N (or `make
// bench`'s FIELDFORMS_BENCH_N) sets the number of documents, default 10,000:
// `make bench` prints audit_verify_100k_s.
func BenchmarkAudit(b *testing.B) {
	n := 10_000
	for _, env := range []string{"FIELDFORMS_BENCH_N", "FIELDFORMS_AUDIT_BENCH_N"} {
		if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
			n = v
		}
	}
	ctx := context.Background()
	s, dir, lines := openBenchReplica(b, n, store.Options{Device: "bench", Checkpoint: store.KeyDir{Dir: b.TempDir()}})
	const batch = 1000
	legacy := 0
	var ids []string
	for i := 0; i < n; i += batch {
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+batch, n)], []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		for j, r := range recs {
			legacy += store.LegacyAuditBytes(r, uint64(i+j+1), "bench")
			ids = append(ids, r.ID)
		}
		if _, err := s.ApplyRecords(ctx, recs, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	lines = nil
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	values, tree, byRec := auditBytes(b, dir)
	figure("audit_legacy_bytes_per_record", float64(legacy)/float64(n), "B")
	figure("audit_bytes_per_record", float64(values)/float64(n), "B")
	figure("audit_tree_bytes_per_record", float64(tree)/float64(n), "B")
	figure("audit_byrec_bytes_per_record", float64(byRec)/float64(n), "B")
	figure("audit_legacy_over_now", float64(legacy)/float64(values+tree), "x")

	s, err := store.Open(ctx, dir, store.Options{Device: "bench", Checkpoint: store.KeyDir{Dir: b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now()
	if _, err := s.VerifyAudit(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	figure("audit_verify_"+strconv.Itoa(n/1000)+"k_s", el.Seconds(), "s")
	// Saves (deletes: a field each): an entry each, through the journal.
	const edits = 1000
	for i := 0; i < edits; i++ {
		if _, err := s.Delete(ctx, "bench", ids[i*7%len(ids)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	v2, t2, r2 := auditBytes(b, dir)
	figure("audit_bytes_per_save", float64(v2+t2+r2-values-tree-byRec)/edits, "B")
	s, err = store.Open(ctx, dir, store.Options{Device: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	t0 = time.Now()
	for _, id := range ids[:100] {
		if h, err := s.History(ctx, id); err != nil || len(h) == 0 {
			b.Fatalf("history %s: %d %v", id, len(h), err)
		}
	}
	figure("audit_history_batch_entry_ms", float64(time.Since(t0).Microseconds())/100/1000, "ms")
}

// auditBytes sums the keys and values of the audit buckets of a closed replica.
func auditBytes(b *testing.B, dir string) (values, tree, byRec int) {
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	sum := func(tx *bolt.Tx, name string) int {
		n := 0
		_ = tx.Bucket([]byte(name)).ForEach(func(k, v []byte) error {
			n += len(k) + len(v)
			return nil
		})
		return n
	}
	_ = db.View(func(tx *bolt.Tx) error {
		values, tree, byRec = sum(tx, "audit"), sum(tx, "audittree"), sum(tx, "auditbyrec")
		return nil
	})
	return values, tree, byRec
}
