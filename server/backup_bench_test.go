package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
)

// The figures of issue 6, as `name value unit` lines for `make bench`.
//
//	backup_<N>_s              a backup of a tenant of N bench records: hot copy, gzip,
//	                          manifest, and the test restore that makes it good
//	backup_check_<N>_s        of which the test restore (gunzip, hashes, open, checks)
//	restore_<N>_s             restoring that tenant from the backup, the server open
//	restore_gap_records_lost  records any device holds that the server lacks after
//	                          the end-to-end restore scenario (must be 0)
//
// FIELDFORMS_BENCH_N scales the tenant down (default 100,000) for a quick check.

func bkFigure(name string, value float64, unit string) {
	fmt.Printf("%s %.4g %s\n", name, value, unit)
}

func bkBenchN(b *testing.B) (int, string) {
	n := 100_000
	if v := os.Getenv("FIELDFORMS_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("FIELDFORMS_BENCH_N=%q: a whole number", v)
		}
	}
	if n%1000 == 0 {
		return n, strconv.Itoa(n/1000) + "k"
	}
	return n, strconv.Itoa(n)
}

func BenchmarkBackupRestore(b *testing.B) {
	n, label := bkBenchN(b)
	ctx := context.Background()
	lines, err := benchdata.LoadLines(n)
	if err != nil {
		b.Fatal(err)
	}
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		b.StopTimer()
		opts := bkOptions(b, nil)
		opts.Create = true
		s, err := server.Open(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.AddTenant(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		s.Close()
		// The tenant's store, filled the way a rebuild fills it.
		st, err := store.Open(ctx, filepath.Join(opts.DataDir, server.TenantsDir, "bench"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range tpls {
			if err := st.PutTemplate(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
		const batch = 1000
		for i := 0; i < n; i += batch {
			recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+batch, n)], []byte("\n"))))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.ApplyRecords(ctx, recs, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		s, err = server.Open(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.OpenTenants(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		t0 := time.Now()
		info, err := s.BackupNow(ctx)
		backup := time.Since(t0)
		if err != nil || info.Records != n {
			b.Fatalf("backup: %+v %v", info, err)
		}
		t0 = time.Now()
		if _, err := s.VerifyBackup(ctx, info.ID, server.PlaceLocal); err != nil {
			b.Fatal(err)
		}
		check := time.Since(t0)
		t0 = time.Now()
		res, err := s.RestoreTenant(ctx, "bench", info.ID, "")
		restore := time.Since(t0)
		if err != nil || res.Records != n {
			b.Fatalf("restore: %+v %v", res, err)
		}
		b.StopTimer()
		var dbSize int64
		if fi, err := os.Stat(filepath.Join(opts.DataDir, server.TenantsDir, "bench", store.DBFile)); err == nil {
			dbSize = fi.Size()
		}
		s.Close()
		bkFigure("backup_"+label+"_s", backup.Seconds(), "s")
		bkFigure("backup_check_"+label+"_s", check.Seconds(), "s")
		bkFigure("restore_"+label+"_s", restore.Seconds(), "s")
		bkFigure("backup_"+label+"_mib", float64(info.Size)/(1<<20), "MiB")
		bkFigure("tenant_db_"+label+"_mib", float64(dbSize)/(1<<20), "MiB")
		b.StartTimer()
	}
}

// BenchmarkRestoreGap runs the end-to-end restore scenario (two devices syncing, a
// backup, more work, a restore with the server running, the devices syncing again)
// and counts what the server lacks after.
func BenchmarkRestoreGap(b *testing.B) {
	for range b.N {
		lost, _ := restoreGap(b, 100, 100)
		bkFigure("restore_gap_records_lost", float64(lost), "records")
	}
}
