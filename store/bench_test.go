package store_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/store"
	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// The benchmarks print figures as `name value unit` lines (make bench collects them),
// each next to the physical limit or the reference measured in the same run.

func figure(name string, value float64, unit string) {
	fmt.Printf("%s %.4g %s\n", name, value, unit)
}

func percentile(d []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s))*p+0.999999) - 1
	if i < 0 {
		i = 0
	}
	return float64(s[i].Nanoseconds()) / 1e6
}

// BenchmarkSave compares one durable save with the disk's own limit: a 4 KB append and
// fsync in the same folder. The two alternate in rounds so noise hits both alike.
func BenchmarkSave(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s := mustOpenDir(b, filepath.Join(dir, "replica"))
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	notes := make([]byte, 0, 400)
	for i := 0; i < 50; i++ {
		notes = append(notes, "valve pressure checked "...)
	}
	var fsyncs, saves []time.Duration
	const rounds, per = 10, 200
	for r := 0; r < rounds; r++ {
		for i := 0; i < per; i++ {
			t0 := time.Now()
			if _, err := f.Write(block); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			fsyncs = append(fsyncs, time.Since(t0))
		}
		for i := 0; i < per; i++ {
			vals := form.Values{
				"site_code": []byte(fmt.Sprintf(`"S-%05d"`, rand.IntN(100000))),
				"inspector": []byte(`"Ana Lima"`),
				"notes":     []byte(fmt.Sprintf("%q", notes[:300])),
				"pressure":  []byte(fmt.Sprint(rand.IntN(400))),
				"visited":   []byte(`"2026-11-26"`),
				"ok":        []byte(`true`),
			}
			t0 := time.Now()
			if _, err := s.Save(ctx, store.Edit{Template: inspection, Values: vals, Author: "bench"}); err != nil {
				b.Fatal(err)
			}
			saves = append(saves, time.Since(t0))
		}
	}
	f50, f99 := percentile(fsyncs, .50), percentile(fsyncs, .99)
	s50, s99 := percentile(saves, .50), percentile(saves, .99)
	figure("fsync_p50_ms", f50, "ms")
	figure("fsync_p99_ms", f99, "ms")
	figure("save_p50_ms", s50, "ms")
	figure("save_p99_ms", s99, "ms")
	figure("save_p50_over_fsync", s50/f50, "x")
	figure("save_p99_over_fsync", s99/f99, "x")
}

// benchN is the number of bench documents, FIELDFORMS_BENCH_N (default 100,000),
// and its label in figure names (100k for 100,000).
func benchN(b *testing.B) (int, string) {
	n := 100_000
	if v := os.Getenv("FIELDFORMS_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("FIELDFORMS_BENCH_N=%q: a whole number of at least 1000", v)
		}
	}
	if n%1000 == 0 {
		return n, strconv.Itoa(n/1000) + "k"
	}
	return n, strconv.Itoa(n)
}

// openBenchReplica opens a new replica in a temporary folder with the benchmark's
// templates, and returns it with the benchmark's first n documents, one a line.
func openBenchReplica(b *testing.B, n int, opts store.Options) (*store.Store, string, [][]byte) {
	b.Helper()
	lines, err := benchdata.LoadLines(n)
	if err != nil {
		b.Fatal(err)
	}
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(b.TempDir(), "replica")
	s, err := store.Open(context.Background(), dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tpls {
		if err := s.PutTemplate(context.Background(), t); err != nil {
			b.Fatal(err)
		}
	}
	return s, dir, lines
}

// BenchmarkReplica loads the peer benchmark's documents (FIELDFORMS_BENCH_N, default
// 100,000) the way a device receives them (pull pages of 1,000 merged records), then
// measures the replica's size, search and reopening:
//
//	replica_<N>_mib                    the replica's database file after the load
//	dataset_<N>_ndjson_mib             the same documents as NDJSON, for scale
//	replica_<N>_bucket_<name>_mib      pages each bucket holds (bbolt's own counts),
//	replica_<N>_bucket_<name>_fill_pct and how full they are
//	replica_<N>_free_mib               pages free or pending in the file
//	apply_<N>_records_per_s            next to apply_floor_<N>_records_per_s: bbolt
//	                                   alone writing the same bytes in key order
func BenchmarkReplica(b *testing.B) {
	n, label := benchN(b)
	ctx := context.Background()
	s, dir, lines := openBenchReplica(b, n, store.Options{Device: "bench"})
	ndjson := 0
	for _, l := range lines {
		ndjson += len(l) + 1
	}
	// Pages as a pull brings them (wire.DefaultPullLimit); converting the benchmark's
	// documents to records is not part of the figure.
	const batch = 1000
	var el time.Duration
	stages := store.TimeApplyStages()
	var ids []string
	samples := map[int]form.Record{}
	for i := 0; i < n; i += batch {
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+batch, n)], []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		for j, r := range recs {
			ids = append(ids, r.ID)
			if (i+j)%97 == 0 {
				samples[i+j] = r
			}
		}
		t0 := time.Now()
		res, err := s.ApplyRecords(ctx, recs, "bench")
		el += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Status != store.Applied {
				b.Fatalf("record %s: %s %v", r.ID, r.Status, r.Err)
			}
		}
	}
	lines = nil
	perS := float64(n) / el.Seconds()
	figure("apply_"+label+"_records_per_s", perS, "records/s")
	if times := stages(); perS < applyTarget {
		// Where the time went, so a miss says what to work on: the stages before the
		// transaction run on every core (their times are summed over the workers, and
		// overlap the transaction's); the transaction's are one goroutine's.
		names := make([]string, 0, len(times))
		for name := range times {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool { return times[names[i]] > times[names[j]] })
		for _, name := range names {
			figure("apply_"+label+"_stage_"+name+"_s", times[name].Seconds(), "s")
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	replicaFigures(b, filepath.Join(dir, store.DBFile), label)
	figure("dataset_"+label+"_ndjson_mib", float64(ndjson)/(1<<20), "MiB")
	figure("apply_floor_"+label+"_records_per_s", boltFloor(b, filepath.Join(dir, store.DBFile), n), "records/s")
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var sample []form.Record
	for _, r := range samples {
		sample = append(sample, r)
	}

	// 1 % deleted, so the Deleted criterion has something to find.
	for i := 0; i < n; i += 100 {
		if _, err := s.Delete(ctx, "bench", ids[i]); err != nil {
			b.Fatal(err)
		}
	}
	// Queries as people type them: common words, rare codes, prefixes, two words,
	// with each Deleted criterion.
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"valve", "pump", "corrosion", "inspection", "leak", "north", "gasket", "alarm", "vibration", "sensor"}
	var lat []time.Duration
	for i := 0; i < 300; i++ {
		q := store.Query{Deleted: store.DeletedFilter(i % 3), Limit: 50}
		r := sample[rng.IntN(len(sample))]
		switch i % 5 {
		case 0:
			q.Text = words[rng.IntN(len(words))]
		case 1:
			q.Text = form.DisplayValue(r.Fields["site_code"].Value)
		case 2:
			q.Text = words[rng.IntN(len(words))][:3]
		case 3:
			q.Text = words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))]
		case 4:
			q.Text = form.DisplayValue(r.Fields["asset_tag"].Value)
		}
		t0 := time.Now()
		p, err := s.Search(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		if (i%5 == 1 || i%5 == 4) && q.Deleted == store.LiveAndDeleted && p.Total == 0 {
			b.Fatalf("search %q found nothing", q.Text)
		}
	}
	figure("search_"+label+"_p95_ms", percentile(lat, .95), "ms")
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}

	var opens []time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		s, err := store.Open(ctx, dir, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		p, err := s.List(ctx, 0, 50)
		if err != nil || len(p.Items) != 50 {
			b.Fatalf("first page: %v, %d items", err, len(p.Items))
		}
		opens = append(opens, time.Since(t0))
		s.Close()
	}
	figure("open_first_page_"+label+"_ms", percentile(opens, .5), "ms")
}

// applyTarget is the apply rate issue 11 asks for, records a second. Below it,
// BenchmarkReplica prints the time of each stage of applying (apply_<N>_stage_*).
//
// What limits it, on the 100,000 bench records on this 2-core machine: CPU. A
// profile of the load gives about 70 us of CPU a record to prepare it (its ~20
// values checked against the template and made canonical 22 us, search terms 11,
// encoding 9, s2 6, shape and stamps 5, the rest 17), on every core, and 45 us in
// the transaction, on one (puts and the postings 16, the segment 15 of which merges 11,
// the audit entry 6, bbolt's commit 8), plus one fsync per page of 1,000 during
// which nothing runs (a caller applies its pages one after the other). 115 us on
// two cores is at best about 17,000 records/s with the machine to itself, against a
// floor of 38,000-78,000/s (bbolt alone writing the same bytes, same run; it varies
// with the disk). 50,000/s needs under 40 us of CPU a record in all, and pages that
// overlap or commit less often.
const applyTarget = 50_000

// replicaFigures prints the size of a closed replica's database file and, from
// bbolt's page counts, what each top-level bucket takes and how full its pages are.
func replicaFigures(b *testing.B, path, label string) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	figure("replica_"+label+"_mib", float64(st.Size())/(1<<20), "MiB")
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		psize := float64(db.Info().PageSize)
		used := 0
		err := tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			bs := bk.Stats()
			pages := bs.BranchPageN + bs.BranchOverflowN + bs.LeafPageN + bs.LeafOverflowN
			used += pages
			mib := float64(pages) * psize / (1 << 20)
			figure(fmt.Sprintf("replica_%s_bucket_%s_mib", label, name), mib, "MiB")
			if pages > 0 {
				figure(fmt.Sprintf("replica_%s_bucket_%s_fill_pct", label, name),
					100*float64(bs.BranchInuse+bs.LeafInuse)/(float64(pages)*psize), "%")
			}
			return nil
		})
		// What no bucket holds: free pages, the freelist, the meta pages.
		figure("replica_"+label+"_free_mib", (float64(tx.Size())-float64(used)*psize)/(1<<20), "MiB")
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// boltFloor is the storage engine's own limit for what an apply writes: bbolt alone
// writing the very keys and values the load left in the replica at path (every
// bucket: records, metadata, index segments, audit entries, the audit tree), in as
// many transactions as the load committed (one per page of 1,000), each bucket's
// keys in order and spread evenly over them, with the store's fill per bucket, one
// fsync per commit as bbolt does by default, and no encoding, checking or
// compressing at all. Reading the file is not timed.
//
// An earlier floor wrote one audit entry of the average stored size per record; since
// a batch is one audit entry, that was a thousand times the audit bytes the replica
// holds, and the floor measured pwrite of about 20 GB instead of bbolt.
func boltFloor(b *testing.B, path string, n int) float64 {
	type kv struct{ k, v []byte }
	type bucketData struct {
		name []byte
		kvs  []kv
	}
	var data []bucketData
	src, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	err = src.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			d := bucketData{name: bytes.Clone(name)}
			err := bk.ForEach(func(k, v []byte) error {
				if bk.Bucket(k) != nil {
					return fmt.Errorf("bucket %s holds a bucket %q, which the floor does not copy", name, k)
				}
				d.kvs = append(d.kvs, kv{bytes.Clone(k), append([]byte{}, v...)})
				return nil
			})
			data = append(data, d)
			return err
		})
	})
	if cerr := src.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	fill := store.BucketFill()
	db, err := bolt.Open(filepath.Join(b.TempDir(), "floor.db"), 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	txs := (n + 999) / 1000
	t0 := time.Now()
	for t := 0; t < txs; t++ {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, d := range data {
				bk, err := tx.CreateBucketIfNotExists(d.name)
				if err != nil {
					return err
				}
				if f, ok := fill[string(d.name)]; ok {
					bk.FillPercent = f
				}
				for _, e := range d.kvs[t*len(d.kvs)/txs : (t+1)*len(d.kvs)/txs] {
					if err := bk.Put(e.k, e.v); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(t0).Seconds()
}

// BenchmarkRecordCodecs compares the ways a record value could be compressed, on the
// first 10,000 bench records (fewer when FIELDFORMS_BENCH_N says so), one core:
//
//	record_value_<codec>_bytes           average bytes a record takes
//	record_value_<codec>_records_per_s   compressing, and _unpack_records_per_s
//	                                     decompressing
//
// for canonical (no compression), s2 (what the store uses), zstd, and both with a
// dictionary trained on the first 2,000 records.
func BenchmarkRecordCodecs(b *testing.B) {
	n, _ := benchN(b)
	n = min(n, 10_000)
	lines, err := benchdata.LoadLines(n)
	if err != nil {
		b.Fatal(err)
	}
	recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines, []byte("\n"))))
	if err != nil {
		b.Fatal(err)
	}
	encs := make([][]byte, len(recs))
	for i := range recs {
		encs[i] = recs[i].Encode()
	}
	run := func(name string, pack func([]byte) []byte, unpack func([]byte) ([]byte, error)) {
		packed := make([][]byte, len(encs))
		total := 0
		t0 := time.Now()
		for i, e := range encs {
			packed[i] = pack(e)
			total += len(packed[i])
		}
		el := time.Since(t0)
		t0 = time.Now()
		for i, p := range packed {
			out, err := unpack(p)
			if err != nil || !bytes.Equal(out, encs[i]) {
				b.Fatalf("%s: record %d does not round-trip: %v", name, i, err)
			}
		}
		un := time.Since(t0)
		figure("record_value_"+name+"_bytes", float64(total)/float64(len(encs)), "bytes")
		figure("record_value_"+name+"_records_per_s", float64(len(encs))/el.Seconds(), "records/s")
		figure("record_value_"+name+"_unpack_records_per_s", float64(len(encs))/un.Seconds(), "records/s")
	}
	run("canonical", func(e []byte) []byte { return e }, func(p []byte) ([]byte, error) { return p, nil })
	run("s2", func(e []byte) []byte { return s2.Encode(nil, e) }, func(p []byte) ([]byte, error) { return s2.Decode(nil, p) })
	zenc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	zdec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	run("zstd", func(e []byte) []byte { return zenc.EncodeAll(e, nil) }, func(p []byte) ([]byte, error) { return zdec.DecodeAll(p, nil) })
	d, err := dict.BuildZstdDict(encs[:min(2000, len(encs))], dict.Options{MaxDictSize: 64 << 10, HashBytes: 6, ZstdDictID: 1, ZstdLevel: zstd.SpeedDefault})
	if err != nil {
		b.Logf("no dictionary: %v", err)
		return
	}
	figure("record_value_dictionary_bytes", float64(len(d)), "bytes")
	if sd := s2.MakeDict(d, nil); sd != nil {
		run("s2dict", func(e []byte) []byte { return sd.Encode(nil, e) }, func(p []byte) ([]byte, error) { return sd.Decode(nil, p) })
	}
	zdenc, err1 := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDict(d))
	zddec, err2 := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderDicts(d))
	if err1 == nil && err2 == nil {
		run("zstddict", func(e []byte) []byte { return zdenc.EncodeAll(e, nil) }, func(p []byte) ([]byte, error) { return zddec.DecodeAll(p, nil) })
	}
}
