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
	"slices"
	"sort"
	"strconv"
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
//
// The pages are first read with plain reads (checkPages): damage found there is
// returned as a *DamageError, with every problem in the report, and bbolt's check,
// which could crash on it, is not run.
func (s *Store) Verify(ctx context.Context) (Report, error) {
	var rep Report
	s.wmu.Lock()
	err := s.barrier(ctx)
	var damage []error
	if err == nil {
		damage = checkPages(s.dbPath(), s.advice, 20)
	}
	s.wmu.Unlock()
	if err != nil {
		return rep, err
	}
	if len(damage) > 0 {
		for _, d := range damage {
			rep.Problems = append(rep.Problems, "database: "+d.Error())
		}
		return rep, damage[0]
	}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			rep.Problems = append(rep.Problems, "database: "+err.Error())
		}
		n, problem, err := s.verifyAudit(ctx, tx)
		if err != nil {
			return err
		}
		rep.AuditEntries = n
		if problem != nil {
			rep.Problems = append(rep.Problems, problem.Error())
		}
		metas := tx.Bucket(bucketRecMeta)
		docs := tx.Bucket(bucketDocs)
		byUpd := tx.Bucket(bucketByUpdated)
		deleted := 0
		err = tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			rep.Records++
			enc, err := unpackRecord(v)
			if err != nil {
				rep.Problems = append(rep.Problems, fmt.Sprintf("record %s: %v", k, err))
				return nil
			}
			r, err := form.DecodeRecord(enc)
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
		// Templates, and the tables of the CSV export: one a template, with a column
		// for each field outside repeats, and one a repeat, with a row an instance
		// linked to its record or enclosing instance (KEY, PARENT_KEY), as ODK
		// Central exports them. Columns are the fields of every version, in order
		// of first appearance.
		tables := map[string]*csvTable{}
		var order []string
		table := func(name string) *csvTable {
			tb, ok := tables[name]
			if !ok {
				tb = &csvTable{seen: map[string]bool{}}
				tables[name] = tb
				order = append(order, name)
			}
			return tb
		}
		repeats := map[string]map[string]string{} // template → repeat path → table
		for _, t := range s.Templates() {
			tw, err := create(fmt.Sprintf("templates/%s@%d.json", t.ID, t.Version))
			if err != nil {
				return err
			}
			if _, err := tw.Write(t.Encode()); err != nil {
				return err
			}
			main := table(t.ID)
			if repeats[t.ID] == nil {
				repeats[t.ID] = map[string]string{}
			}
			for _, f := range t.All() {
				switch {
				case f.Type == form.TypeRepeat:
					name := t.ID + "-" + strings.ReplaceAll(f.Key(), "/", "-")
					repeats[t.ID][f.Key()] = name
					table(name)
				case !f.HoldsValue():
				case f.Repeat() == nil:
					main.column(f.Key())
				default:
					table(repeats[t.ID][f.Repeat().Key()]).column(strings.TrimPrefix(f.Key(), f.Repeat().Key()+"/"))
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
		first := true
		err = tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := decodeStored(tx, k, v)
			if err != nil {
				return err
			}
			if !first {
				if _, err := io.WriteString(rw, ",\n"); err != nil {
					return err
				}
			}
			first = false
			if _, err := rw.Write(r.Encode()); err != nil {
				return err
			}
			up := r.Updated()
			main := table(r.Template)
			if len(main.columns) == 0 && repeats[r.Template] == nil {
				// A template this replica does not hold: a column per value.
				for id := range r.Values() {
					main.column(id)
				}
				sort.Strings(main.columns)
			}
			row := []string{r.ID, r.Template, fmt.Sprint(r.Version), r.Status(), fmt.Sprint(r.Deleted()),
				r.CreatedBy, r.Created.HLC.Time().Format(time.RFC3339), up.HLC.Time().Format(time.RFC3339), r.Rev()}
			for _, id := range main.columns {
				row = append(row, form.DisplayValue(r.Fields[id].Value))
			}
			main.rows = append(main.rows, row)
			exportInstances(&r, repeats[r.Template], table)
			return nil
		})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(rw, "\n]\n"); err != nil {
			return err
		}
		sort.Strings(order)
		for _, name := range order {
			tb := tables[name]
			if len(tb.rows) == 0 {
				continue
			}
			head := recordColumns
			if tb.instances {
				head = instanceColumns
			}
			if err := tb.write(create, "csv/"+name+".csv", head); err != nil {
				return err
			}
		}
		aw, err := create("audit.jsonl")
		if err != nil {
			return err
		}
		// A line per record change, new values resolved, as Audit gives them.
		items, err := auditItems(tx, 0, 0)
		if err != nil {
			return err
		}
		for _, e := range items {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if _, err := aw.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		// And each entry's canonical bytes, whose tlog.RecordHash is its leaf in the
		// audit tree: what a checkpoint signs.
		cw, err := create("audit-entries.jsonl")
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			canon, err := auditCanonical(v)
			if err != nil {
				return fmt.Errorf("audit entry %x: %w", k, err)
			}
			if _, err := cw.Write(append(append([]byte(nil), canon...), '\n')); err != nil {
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

// The first columns of a record's row and of an instance's.
var (
	recordColumns   = []string{"id", "template", "version", "status", "deleted", "created_by", "created", "updated", "rev"}
	instanceColumns = []string{"KEY", "PARENT_KEY", "record", "position"}
)

// csvTable is one CSV file of an export: its value columns and its rows.
type csvTable struct {
	columns   []string
	seen      map[string]bool
	rows      [][]string
	instances bool
}

func (tb *csvTable) column(name string) {
	if !tb.seen[name] {
		tb.seen[name] = true
		tb.columns = append(tb.columns, name)
	}
}

func (tb *csvTable) write(create func(string) (io.Writer, error), name string, head []string) error {
	w, err := create(name)
	if err != nil {
		return err
	}
	c := csv.NewWriter(w)
	if err := c.Write(append(append([]string(nil), head...), tb.columns...)); err != nil {
		return err
	}
	for _, row := range tb.rows {
		for i, cell := range row {
			row[i] = csvSafe(cell)
		}
		if err := c.Write(row); err != nil {
			return err
		}
	}
	c.Flush()
	return c.Error()
}

// exportInstances adds a row for each live repeat instance of r to its repeat's
// table. An instance's KEY is the record's ID and the instance's key; PARENT_KEY is
// the record's ID or the enclosing instance's KEY.
func exportInstances(r *form.Record, repeats map[string]string, table func(string) *csvTable) {
	var live []string
	for key, fv := range r.Fields {
		if strings.HasSuffix(key, "]") && string(fv.Value) == "true" {
			live = append(live, key)
		}
	}
	if len(live) == 0 {
		return
	}
	slices.SortFunc(live, form.CompareKeys)
	position := map[string]int{}
	for _, key := range live {
		path, ok := form.SchemaPath(key)
		if !ok || repeats[path] == "" {
			continue
		}
		base := key[:strings.LastIndexByte(key, '[')]
		position[base]++
		parent := r.ID
		if i := strings.LastIndexByte(base, ']'); i >= 0 {
			parent = r.ID + "/" + base[:i+1]
		}
		tb := table(repeats[path])
		tb.instances = true
		row := []string{r.ID + "/" + key, parent, r.ID, strconv.Itoa(position[base])}
		for _, col := range tb.columns {
			row = append(row, form.DisplayValue(r.Fields[key+"/"+col].Value))
		}
		tb.rows = append(tb.rows, row)
	}
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
