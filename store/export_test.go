package store_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// exportFixture is a replica with records of two templates, a deleted one, a tricky
// CSV value and two attachments.
func exportFixture(t *testing.T) (*store.Store, map[string]form.Record, []string) {
	t.Helper()
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-exp", clk)
	tpl2, err := form.ParseTemplate([]byte(`{"id": "meter", "version": 1, "name": "Meter reading",
		"fields": [{"id": "meter_no", "type": "text", "label": "Meter"}, {"id": "reading", "type": "integer", "label": "Reading"},
		{"id": "hint", "type": "note", "label": "Read the black digits only"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTemplate(ctx, tpl2); err != nil {
		t.Fatal(err)
	}
	photo := []byte("photo bytes for the export")
	a, err := s.PutAttachment(ctx, bytes.NewReader(photo), "image/jpeg", "valve.jpg")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.PutAttachment(ctx, strings.NewReader("sig"), "image/png", "sig.png")
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]form.Record{}
	add := func(r form.Record) { recs[r.ID] = r }
	for i, notes := range []string{"plain", "comma, \"quoted\" and\nnew line", "=HYPERLINK(\"http://evil\")", "-12.5"} {
		clk.Advance(time.Minute)
		add(mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("site_code", "S-0000"+string(rune('1'+i)), "notes", notes)}))
	}
	clk.Advance(time.Minute)
	add(mustSave(t, s, store.Edit{Template: inspection, Author: "bo", Status: form.StatusSubmitted,
		Values: vals("site_code", "S-00009", "inspector", "Bo", "ok", true, "photos", []form.Attachment{a}, "signature", sig, "pressure", 1.25, "visited", "2025-02-28")}))
	for i := 0; i < 3; i++ {
		clk.Advance(time.Minute)
		add(mustSave(t, s, store.Edit{Template: form.TemplateKey{ID: "meter"}, Author: "cy", Values: vals("meter_no", "M"+string(rune('1'+i)), "reading", 1000+i)}))
	}
	var del form.Record
	for _, r := range recs {
		if r.Template == "meter" {
			del = r
			break
		}
	}
	d, err := s.Delete(ctx, "cy", del.ID)
	if err != nil {
		t.Fatal(err)
	}
	add(d)
	return s, recs, []string{a.SHA256, sig.SHA256}
}

// TestExport: the export ZIP holds every record, a CSV per template, the templates,
// the audit trail and the attachments (P5).
func TestExport(t *testing.T) {
	ctx := context.Background()
	s, recs, shas := exportFixture(t)
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if _, dup := files[f.Name]; dup {
			t.Fatalf("%s twice in the ZIP", f.Name)
		}
		files[f.Name] = b
	}

	t.Run("RecordsJSON", func(t *testing.T) {
		var got []json.RawMessage
		if err := json.Unmarshal(files["records.json"], &got); err != nil {
			t.Fatalf("records.json: %v", err)
		}
		if len(got) != len(recs) {
			t.Fatalf("%d records, want %d", len(got), len(recs))
		}
		seen := map[string]bool{}
		for _, raw := range got {
			r, err := form.DecodeRecord(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := recs[r.ID]
			if !ok || seen[r.ID] || r.Rev() != want.Rev() {
				t.Fatalf("record %s unknown, repeated or different: %s\nwant %s", r.ID, r.Encode(), want.Encode())
			}
			seen[r.ID] = true
		}
	})

	csvOf := func(t *testing.T, name string) [][]string {
		t.Helper()
		b, ok := files[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return rows
	}
	t.Run("CSV", func(t *testing.T) {
		all := map[string]form.Record{}
		_ = s.ForEach(ctx, func(r form.Record) error { all[r.ID] = r; return nil })
		for _, c := range []struct {
			name, tpl string
			fields    []string
		}{
			{"csv/inspection.csv", "inspection", []string{"site_code", "inspector", "notes", "pressure", "visited", "ok", "fault", "photos", "signature"}},
			{"csv/meter.csv", "meter", []string{"meter_no", "reading"}},
		} {
			rows := csvOf(t, c.name)
			head := rows[0]
			for _, col := range append([]string{"id", "template", "version", "status", "deleted", "rev"}, c.fields...) {
				if !slices.Contains(head, col) {
					t.Errorf("%s: header %v lacks %q", c.name, head, col)
				}
			}
			if slices.Contains(head, "hint") {
				t.Errorf("%s: a note has a column", c.name)
			}
			col := func(name string) int { return slices.Index(head, name) }
			n := 0
			for _, r := range all {
				if r.Template == c.tpl {
					n++
				}
			}
			if len(rows)-1 != n {
				t.Fatalf("%s: %d rows, want %d", c.name, len(rows)-1, n)
			}
			seen := map[string]bool{}
			for _, row := range rows[1:] {
				if len(row) != len(head) {
					t.Fatalf("row of %d cells, header of %d", len(row), len(head))
				}
				r, ok := all[row[col("id")]]
				if !ok || seen[r.ID] {
					t.Fatalf("row %v: unknown or repeated id", row)
				}
				seen[r.ID] = true
				if row[col("rev")] != r.Rev() || row[col("status")] != r.Status() || row[col("template")] != c.tpl ||
					row[col("deleted")] != map[bool]string{true: "true", false: "false"}[r.Deleted()] {
					t.Errorf("row %v for %s", row, r.Encode())
				}
				for _, f := range c.fields {
					want := form.DisplayValue(r.Value(f))
					got := row[col(f)]
					if got != want && got != "'"+want {
						t.Errorf("record %s field %s: cell %q, value %q", r.ID, f, got, want)
					}
				}
			}
		}
		rows := csvOf(t, "csv/inspection.csv")
		notes := slices.Index(rows[0], "notes")
		var cells []string
		for _, row := range rows[1:] {
			cells = append(cells, row[notes])
		}
		for _, want := range []string{"comma, \"quoted\" and\nnew line", "'=HYPERLINK(\"http://evil\")", "-12.5"} {
			if !slices.Contains(cells, want) {
				t.Errorf("notes cells %q lack %q", cells, want)
			}
		}
	})

	t.Run("Templates", func(t *testing.T) {
		for _, name := range []string{"templates/inspection@1.json", "templates/meter@1.json"} {
			tpl, err := form.ParseTemplate(files[name])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want, _ := s.Template(tpl.Key()); want == nil || !bytes.Equal(want.Encode(), tpl.Encode()) {
				t.Fatalf("%s differs from the stored template", name)
			}
		}
	})

	t.Run("Audit", func(t *testing.T) {
		want, err := s.Audit(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(files["audit.jsonl"]))
		sc.Buffer(nil, 1<<20)
		var got []store.AuditEntry
		for sc.Scan() {
			var e store.AuditEntry
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("line %d: %v", len(got)+1, err)
			}
			got = append(got, e)
		}
		if len(got) != len(want) || len(got) != 9 {
			t.Fatalf("%d lines, %d entries", len(got), len(want))
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].Record != want[i].Record || got[i].Actor != want[i].Actor ||
				got[i].Rev != want[i].Rev || !reflect.DeepEqual(got[i].Diff, want[i].Diff) {
				t.Fatalf("line %d: %+v, want %+v", i+1, got[i], want[i])
			}
		}
		// The entries' canonical bytes, each its leaf in the audit tree.
		lines := bytes.Split(bytes.TrimSuffix(files["audit-entries.jsonl"], []byte("\n")), []byte("\n"))
		tree, err := s.AuditTree(ctx)
		if err != nil || int64(len(lines)) != tree.N {
			t.Fatalf("%d canonical entries, tree %+v %v", len(lines), tree, err)
		}
		for i, l := range lines {
			if h, err := s.AuditLeafHash(ctx, uint64(i+1)); err != nil || h != tlog.RecordHash(l) {
				t.Fatalf("entry %d: leaf %v %v", i+1, h, err)
			}
		}
	})

	t.Run("Attachments", func(t *testing.T) {
		for _, h := range shas {
			b, ok := files["attachments/"+h]
			if !ok {
				t.Fatalf("attachment %s missing", h)
			}
			if sha(b) != h {
				t.Fatalf("attachment %s has other bytes", h)
			}
		}
		// Only what the replica has: an attachment whose bytes are gone is skipped.
		if err := os.Remove(s.AttachmentPath(shas[1])); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := s.Export(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		zr, _ := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		n := 0
		for _, f := range zr.File {
			if strings.HasPrefix(f.Name, "attachments/") {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d attachments exported, want 1", n)
		}
	})
}

// TestBackup: a backup is a consistent bbolt file with every acknowledged save, taken
// while the replica is in use, and it opens as a replica.
func TestBackup(t *testing.T) {
	ctx := context.Background()
	s, recs, _ := exportFixture(t)
	// A save right before the backup, possibly not applied yet, must be in it.
	last := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "just before the backup")})
	recs[last.ID] = last
	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Backup(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != n || n == 0 {
		t.Fatalf("backup wrote %d bytes, file has %d", n, st.Size())
	}
	// The replica is still in use.
	mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals("notes", "after the backup")})

	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]form.Record{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("records")).ForEach(func(k, v []byte) error {
			enc, err := store.CanonicalRecord(v)
			if err != nil {
				return err
			}
			r, err := form.DecodeRecord(enc)
			if err != nil {
				return err
			}
			got[string(k)] = r
			return nil
		})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("backup has %d records, want %d", len(got), len(recs))
	}
	for id, r := range recs {
		if g, ok := got[id]; !ok || g.Rev() != r.Rev() {
			t.Fatalf("record %s missing or different in the backup", id)
		}
	}

	t.Run("OK_RestoresAsReplica", func(t *testing.T) {
		dir := t.TempDir()
		b, _ := os.ReadFile(path)
		if err := os.WriteFile(filepath.Join(dir, store.DBFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := store.Open(ctx, dir, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.Device() != "dev-exp" {
			t.Fatalf("device %q", r.Device())
		}
		rep := mustVerify(t, r)
		if rep.Records != len(recs) {
			t.Fatalf("%+v", rep)
		}
		p, err := r.Search(ctx, store.Query{Text: "backup"})
		if err != nil || p.Total != 1 || p.Items[0].ID != last.ID {
			t.Fatalf("search in the restored copy: %+v %v", p, err)
		}
	})
}
