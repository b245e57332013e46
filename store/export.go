package store

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the database, with every acknowledged save in
// it, while the replica stays in use. It returns the bytes written.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// Report is the result of Verify.
type Report struct {
	Records      int
	AuditEntries int
	Problems     []string // empty when all is well
}

// OK reports whether Verify found nothing wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the database's pages (bbolt's consistency check), the audit chain,
// and that every record, its metadata and its indexes agree.
func (s *Store) Verify(ctx context.Context) (Report, error) {
	var rep Report
	err := s.view(ctx, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			rep.Problems = append(rep.Problems, "database: "+err.Error())
		}
		n, err := verifyChain(tx)
		rep.AuditEntries = n
		if err != nil {
			rep.Problems = append(rep.Problems, err.Error())
		}
		metas := tx.Bucket(bucketRecMeta)
		docs := tx.Bucket(bucketDocs)
		byUpd := tx.Bucket(bucketByUpdated)
		deleted := 0
		err = tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			rep.Records++
			r, err := form.DecodeRecord(v)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: %v", k, err))
				return nil
			}
			m, err := decodeMeta(metas.Get(k))
			switch {
			case err != nil:
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: metadata: %v", k, err))
			case fmt.Sprintf("%x", m.rev) != r.Rev():
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: metadata rev differs from the record", k))
			case string(docs.Get(u32(m.doc))) != string(k):
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: index document missing", k))
			case byUpd.Get(byUpdatedKey(m.updated, string(k))) == nil:
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: recency index entry missing", k))
			}
			if r.Deleted() {
				deleted++
			}
			return nil
		})
		if err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if c := getU64(meta, metaRecCount); c != uint64(rep.Records) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("record count says %d, found %d", c, rep.Records))
		}
		if c := getU64(meta, metaDelCount); c != uint64(deleted) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("deleted count says %d, found %d", c, deleted))
		}
		if n := metas.Stats().KeyN; n != rep.Records {
			rep.Problems = append(rep.Problems, fmt.Sprintf("%d metadata entries for %d records", n, rep.Records))
		}
		// Each record's count of pending changes agrees with the outbox.
		counts := map[string]uint64{}
		if err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
			var c struct {
				Record string `json:"record"`
			}
			if err := json.Unmarshal(v, &c); err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("outbox %x: %v", k, err))
				return nil
			}
			counts[c.Record]++
			return nil
		}); err != nil {
			return err
		}
		pr := tx.Bucket(bucketPendingRec)
		if err := pr.ForEach(func(k, v []byte) error {
			if got := getU64(pr, k); got != counts[string(k)] {
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: %d pending changes counted, %d in the outbox", k, got, counts[string(k)]))
			}
			delete(counts, string(k))
			return nil
		}); err != nil {
			return err
		}
		for id, n := range counts {
			rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: %d changes in the outbox, none counted", id, n))
		}
		return nil
	})
	return rep, err
}

// Export writes everything the replica holds as a ZIP: records.json (every record with
// its stamps), one CSV per template with a column per field, templates, the audit
// trail as JSON lines, and the attachments whose bytes are here.
func (s *Store) Export(ctx context.Context, w io.Writer) error {
	zw := zip.NewWriter(w)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		when := time.Now().UTC()
		create := func(name string) (io.Writer, error) {
			return zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: when})
		}
		// Templates, and the column order of each template's CSV: the fields of every
		// version, in order of first appearance.
		columns := map[string][]string{}
		seen := map[string]map[string]bool{}
		for _, t := range s.Templates() {
			tw, err := create(fmt.Sprintf("templates/%s@%d.json", t.ID, t.Version))
			if err != nil {
				return err
			}
			if _, err := tw.Write(t.Encode()); err != nil {
				return err
			}
			if seen[t.ID] == nil {
				seen[t.ID] = map[string]bool{}
			}
			for _, f := range t.Fields {
				if f.Type != form.TypeNote && !seen[t.ID][f.ID] {
					seen[t.ID][f.ID] = true
					columns[t.ID] = append(columns[t.ID], f.ID)
				}
			}
		}
		rw, err := create("records.json")
		if err != nil {
			return err
		}
		if _, err := io.WriteString(rw, "[\n"); err != nil {
			return err
		}
		rows := map[string][][]string{}
		first := true
		err = tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := form.DecodeRecord(v)
			if err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			if !first {
				if _, err := io.WriteString(rw, ",\n"); err != nil {
					return err
				}
			}
			first = false
			if _, err := rw.Write(v); err != nil {
				return err
			}
			up := r.Updated()
			row := []string{r.ID, r.Template, fmt.Sprint(r.Version), r.Status(), fmt.Sprint(r.Deleted()),
				r.CreatedBy, r.Created.HLC.Time().Format(time.RFC3339), up.HLC.Time().Format(time.RFC3339), r.Rev()}
			if _, ok := columns[r.Template]; !ok {
				for id := range r.Values() {
					columns[r.Template] = append(columns[r.Template], id)
				}
				sort.Strings(columns[r.Template])
			}
			for _, id := range columns[r.Template] {
				row = append(row, form.DisplayValue(r.Fields[id].Value))
			}
			rows[r.Template] = append(rows[r.Template], row)
			return nil
		})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(rw, "\n]\n"); err != nil {
			return err
		}
		tpls := make([]string, 0, len(rows))
		for t := range rows {
			tpls = append(tpls, t)
		}
		sort.Strings(tpls)
		for _, t := range tpls {
			cw, err := create("csv/" + t + ".csv")
			if err != nil {
				return err
			}
			c := csv.NewWriter(cw)
			head := append([]string{"id", "template", "version", "status", "deleted", "created_by", "created", "updated", "rev"}, columns[t]...)
			if err := c.Write(head); err != nil {
				return err
			}
			for _, row := range rows[t] {
				for i, cell := range row {
					row[i] = csvSafe(cell)
				}
				if err := c.Write(row); err != nil {
					return err
				}
			}
			c.Flush()
			if err := c.Error(); err != nil {
				return err
			}
		}
		aw, err := create("audit.jsonl")
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			if _, err := aw.Write(append(append([]byte(nil), v...), '\n')); err != nil {
				return err
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketAttachments).ForEach(func(k, v []byte) error {
			var info AttachmentInfo
			if err := json.Unmarshal(v, &info); err != nil {
				return err
			}
			f, err := os.Open(s.AttachmentPath(string(k)))
			if errors.Is(err, os.ErrNotExist) {
				return nil // only in blob storage; the export lists it in records.json
			}
			if err != nil {
				return err
			}
			defer f.Close()
			aw, err := zw.CreateHeader(&zip.FileHeader{Name: "attachments/" + string(k), Method: zip.Store, Modified: when})
			if err != nil {
				return err
			}
			_, err = io.Copy(aw, f)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := fmt.Sscanf(s, "%g", new(float64)); err == nil {
			return s // a negative number
		}
		return "'" + s
	}
	return s
}
