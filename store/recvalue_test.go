package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// recordCorpus is every record of testdata/records and every seed of form's
// FuzzDecodeRecord that decodes, each with its canonical encoding.
func recordCorpus(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	add := func(name string, data []byte) {
		r, err := form.DecodeRecord(data)
		if err != nil {
			return
		}
		out[name] = r.Encode()
	}
	files, err := filepath.Glob(filepath.Join("testdata", "records", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/records: %v, %d files", err, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := form.DecodeRecord(data); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		add(filepath.Base(f), data)
	}
	seeds, _ := filepath.Glob(filepath.Join("..", "form", "testdata", "fuzz", "FuzzDecodeRecord", "*"))
	for _, f := range seeds {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, lit, ok := strings.Cut(string(data), "[]byte(")
		if !ok {
			continue
		}
		if s, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lit), ")"))); err == nil {
			add("form-seed-"+filepath.Base(f), []byte(s))
		}
	}
	return out
}

// putRaw writes records through the store's own path (value, metadata, index), then
// replaces the stored values where raw names one.
func putRaw(t *testing.T, s *Store, recs []form.Record, raw map[string][]byte) {
	t.Helper()
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		var seg segmentBuilder
		for i := range recs {
			if err := s.putRecord(tx, &recs[i], &seg); err != nil {
				return err
			}
		}
		for id, v := range raw {
			if err := tx.Bucket(bucketRecords).Put([]byte(id), v); err != nil {
				return err
			}
		}
		return writeSegment(tx, &seg)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir(), Options{Device: "dev-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func storedRaw(t *testing.T, s *Store, id string) []byte {
	t.Helper()
	var v []byte
	if err := s.dbView(func(tx *bolt.Tx) error {
		v = append([]byte(nil), tx.Bucket(bucketRecords).Get([]byte(id))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every record of the corpus goes through a real replica and comes back as the
// canonical bytes that went in, stored compressed; the conversion of a schema-2
// value gives the same stored form.
func TestRecordValueCorpusRoundTrip(t *testing.T) {
	ctx := context.Background()
	corpus := recordCorpus(t)
	if len(corpus) < 10 {
		t.Fatalf("%d records in the corpus", len(corpus))
	}
	s := openTestStore(t)
	// Records that share an ID go in separate rounds, each read back before the next
	// overwrites it.
	var names []string
	for name := range corpus {
		names = append(names, name)
	}
	slices.Sort(names)
	var stored, canonical, n int
	for len(names) > 0 {
		var recs []form.Record
		ids := map[string]string{}
		var later []string
		for _, name := range names {
			r, err := form.DecodeRecord(corpus[name])
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := ids[r.ID]; dup {
				later = append(later, name)
				continue
			}
			ids[r.ID] = name
			recs = append(recs, r)
		}
		names = later
		putRaw(t, s, recs, nil)
		for _, r := range recs {
			name, want := ids[r.ID], corpus[ids[r.ID]]
			got, err := s.Get(ctx, r.ID)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(got.Encode(), want) {
				t.Errorf("%s: read back as\n%s\nwant\n%s", name, got.Encode(), want)
			}
			raw := storedRaw(t, s, r.ID)
			if raw[0] != recValueS2 {
				t.Errorf("%s: stored value begins with %q, not the compressed format", name, raw[0])
			}
			if enc, err := unpackRecord(raw); err != nil || !bytes.Equal(enc, want) {
				t.Errorf("%s: stored value unpacks to %d bytes, %v", name, len(enc), err)
			}
			conv, err := convertRecordValue(2, []byte(r.ID), want)
			if err != nil || !bytes.Equal(conv, raw) {
				t.Errorf("%s: converted from schema 2: %v, equal to what a save stores: %v", name, err, bytes.Equal(conv, raw))
			}
			again, err := convertRecordValue(3, []byte(r.ID), raw)
			if err != nil || !bytes.Equal(again, raw) {
				t.Errorf("%s: converting a value already converted: %v", name, err)
			}
			stored += len(raw)
			canonical += len(want)
			n++
		}
	}
	if n != len(corpus) {
		t.Fatalf("%d of %d records read back", n, len(corpus))
	}
	t.Logf("%d records: %d bytes canonical, %d stored", n, canonical, stored)
	if stored >= canonical {
		t.Errorf("stored %d bytes for %d canonical: not smaller", stored, canonical)
	}
}

// A damaged compressed value, flipped at any byte or cut at any length, is refused
// with ErrCorrupt in one line naming the record; never a panic, never other bytes.
func TestRecordValueDamaged(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	corpus := recordCorpus(t)
	r, err := form.DecodeRecord(corpus["bench-0.json"])
	if err != nil {
		t.Fatal(err)
	}
	want := r.Encode()
	putRaw(t, s, []form.Record{r}, nil)
	good := storedRaw(t, s, r.ID)

	check := func(what string, v []byte) {
		t.Helper()
		var got form.Record
		err := s.dbView(func(tx *bolt.Tx) error {
			var err error
			got, err = decodeStored(tx, []byte(r.ID), v)
			return err
		})
		switch {
		case err == nil && !bytes.Equal(got.Encode(), want):
			t.Fatalf("%s: read as another record, %s", what, got.Rev())
		case err == nil:
			// The damage did not change what the value holds.
		case !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), r.ID) || strings.ContainsAny(err.Error(), "\n\r"):
			t.Fatalf("%s: %v; want one line naming the record, matching ErrCorrupt", what, err)
		}
	}
	for i := range good {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			v := bytes.Clone(good)
			v[i] ^= x
			check("byte "+strconv.Itoa(i)+" flipped", v)
		}
	}
	for n := 0; n < len(good); n++ {
		check("cut at "+strconv.Itoa(n), good[:n])
	}
	for name, v := range map[string][]byte{
		"unknown format":        append([]byte{0x02}, good[1:]...),
		"zero format":           append([]byte{0x00}, good[1:]...),
		"huge length":           {recValueS2, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00},
		"length over the limit": append([]byte{recValueS2}, 0x80, 0x80, 0x80, 0x40, 0x00),
		"old layout damaged":    append([]byte("{"), want[2:]...),
	} {
		var err error
		s.dbView(func(tx *bolt.Tx) error { _, err = decodeStored(tx, []byte(r.ID), v); return nil })
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), r.ID) {
			t.Errorf("%s: %v, want ErrCorrupt naming the record", name, err)
		}
		if strings.Contains(name, "length") && !strings.Contains(err.Error(), "limit") && !strings.Contains(err.Error(), "compressed length") {
			t.Errorf("%s: %v, want the length refused before it is allocated", name, err)
		}
	}

	// In the file: Get and Verify name the record, and other records still read.
	other, err := form.DecodeRecord(corpus["bench-1.json"])
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0x20
	putRaw(t, s, []form.Record{other}, map[string][]byte{r.ID: bad})
	if _, err := s.Get(ctx, r.ID); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), r.ID) {
		t.Errorf("get: %v, want ErrCorrupt naming %s", err, r.ID)
	}
	if got, err := s.Get(ctx, other.ID); err != nil || got.Rev() != other.Rev() {
		t.Errorf("get the undamaged record: %v", err)
	}
	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), r.ID) {
		t.Errorf("verify: %q, want a problem naming %s", rep.Problems, r.ID)
	}
}

// A value of the layout of schema 2 and earlier (the canonical encoding, as in
// today's fixtures) still reads, lists, verifies and exports.
func TestRecordValueOldLayoutReads(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	corpus := recordCorpus(t)
	var recs []form.Record
	raw := map[string][]byte{}
	for _, name := range []string{"bench-0.json", "unicode-escapes.json", "attachment-tombstone.json"} {
		r, err := form.DecodeRecord(corpus[name])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
		raw[r.ID] = corpus[name]
	}
	putRaw(t, s, recs, raw)
	for _, r := range recs {
		if v := storedRaw(t, s, r.ID); v[0] != '{' {
			t.Fatalf("record %s stored as %q..., want the old layout", r.ID, v[:1])
		}
		got, err := s.Get(ctx, r.ID)
		if err != nil || !bytes.Equal(got.Encode(), raw[r.ID]) {
			t.Errorf("get %s: %v", r.ID, err)
		}
	}
	n := 0
	if err := s.ForEach(ctx, func(form.Record) error { n++; return nil }); err != nil || n != len(recs) {
		t.Errorf("for each: %d records, %v", n, err)
	}
	rep, err := s.Verify(ctx)
	if err != nil || len(rep.Problems) > 0 {
		t.Errorf("verify: %v %q", err, rep.Problems)
	}
	var zip bytes.Buffer
	if err := s.Export(ctx, &zip); err != nil {
		t.Errorf("export: %v", err)
	}
}

// FuzzRecordValue: the decoder of stored record values never panics; what it
// refuses is ErrCorrupt in one line; what it accepts packs and unpacks to the same
// bytes, and converts to a value that holds them.
func FuzzRecordValue(f *testing.F) {
	for _, enc := range recordCorpus(f) {
		if len(enc) < 8<<10 {
			f.Add(packRecord(enc))
			f.Add(enc)
		}
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		enc, err := unpackRecord(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("%v: want one line matching ErrCorrupt", err)
			}
			if _, cerr := convertRecordValue(2, []byte("r"), v); cerr == nil {
				t.Fatalf("convert accepted a value the decoder refuses: %v", err)
			}
			return
		}
		if back, err := unpackRecord(packRecord(enc)); err != nil || !bytes.Equal(back, enc) {
			t.Fatalf("pack and unpack: %v", err)
		}
		conv, err := convertRecordValue(2, []byte("r"), v)
		if err != nil {
			t.Fatalf("convert: %v", err)
		}
		if back, err := unpackRecord(conv); err != nil || !bytes.Equal(back, enc) {
			t.Fatalf("converted value: %v", err)
		}
		_, _ = form.DecodeRecord(enc)
	})
}
