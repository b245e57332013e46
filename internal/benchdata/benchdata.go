// Package benchdata loads the peer benchmark's documents (../shared/bench/gen.js) as
// Fieldforms records, so our figures are measured on exactly the data PouchDB
// replicates in the same run.
package benchdata

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// Template IDs and versions gen.js draws from.
var (
	TemplateIDs = []string{"tpl-inspection-v3", "tpl-maintenance-v7", "tpl-incident-v2", "tpl-survey-v11", "tpl-delivery-v4"}
	MaxVersion  = 12
)

// fields of every gen.js document, with the Fieldforms type of each.
var fields = []struct{ id, typ, extra string }{
	{"inspector_name", "text", ""},
	{"site_code", "text", `"pattern":"S-[0-9]{5}",`},
	{"asset_tag", "text", ""},
	{"location", "text", ""},
	{"summary", "text", ""},
	{"contact_phone", "text", ""},
	{"observations", "multiline", ""},
	{"corrective_action", "multiline", ""},
	{"reading_pressure_kpa", "decimal", `"min":0,`},
	{"reading_temp_c", "decimal", `"min":-50,"max":150,`},
	{"item_count", "integer", `"min":0,`},
	{"duration_min", "integer", `"min":0,`},
	{"inspection_date", "date", ""},
	{"next_due_date", "date", ""},
	{"signed_at", "datetime", ""},
	{"status", "choice", `"options":[{"value":"open","label":"Open"},{"value":"in_progress","label":"In progress"},{"value":"closed","label":"Closed"},{"value":"deferred","label":"Deferred"}],`},
	{"priority", "choice", `"options":[{"value":"low","label":"Low"},{"value":"medium","label":"Medium"},{"value":"high","label":"High"},{"value":"critical","label":"Critical"}],`},
	{"safety_ok", "yesno", ""},
	{"photos_attached", "yesno", ""},
	{"requires_followup", "yesno", ""},
}

// Templates returns every template version the documents use.
func Templates() ([]*form.Template, error) {
	var out []*form.Template
	for _, id := range TemplateIDs {
		for v := 1; v <= MaxVersion; v++ {
			var b strings.Builder
			fmt.Fprintf(&b, `{"id":%q,"version":%d,"name":%q,"title":["site_code","summary"],"fields":[`, id, v, id)
			for i, f := range fields {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"id":%q,"type":%q,%s"label":%q}`, f.id, f.typ, f.extra, f.id)
			}
			b.WriteString("]}")
			t, err := form.ParseTemplate([]byte(b.String()))
			if err != nil {
				return nil, fmt.Errorf("bench template %s@%d: %w", id, v, err)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

type doc struct {
	ID              string                     `json:"_id"`
	TemplateID      string                     `json:"template_id"`
	TemplateVersion int                        `json:"template_version"`
	DeviceID        string                     `json:"device_id"`
	CreatedAt       time.Time                  `json:"created_at"`
	UpdatedAt       time.Time                  `json:"updated_at"`
	Fields          map[string]json.RawMessage `json:"fields"`
}

// Read converts NDJSON documents to records: the ULID becomes a UUID with the same
// 128 bits, creation is stamped at created_at, every value at updated_at, by the
// document's device.
func Read(r io.Reader) ([]form.Record, error) {
	var out []form.Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("bench data line %d: %w", line, err)
		}
		id, err := ulidToUUID(d.ID)
		if err != nil {
			return nil, fmt.Errorf("bench data line %d: %w", line, err)
		}
		created := form.Stamp{HLC: form.NewHLC(d.CreatedAt.UnixMilli(), 0), Device: d.DeviceID}
		updated := form.Stamp{HLC: form.NewHLC(d.UpdatedAt.UnixMilli(), 0), Device: d.DeviceID}
		rec := form.Record{ID: id, Template: d.TemplateID, Version: d.TemplateVersion, Created: created,
			CreatedBy: "bench", Fields: make(map[string]form.FieldValue, len(d.Fields)+1)}
		for k, v := range d.Fields {
			var buf bytes.Buffer
			if err := json.Compact(&buf, v); err != nil {
				return nil, fmt.Errorf("bench data line %d: %w", line, err)
			}
			rec.Fields[k] = form.FieldValue{Value: buf.Bytes(), Stamp: updated}
		}
		rec.Fields[form.FieldStatus] = form.FieldValue{Value: json.RawMessage(`"submitted"`), Stamp: updated}
		out = append(out, rec)
	}
	return out, sc.Err()
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func ulidToUUID(s string) (string, error) {
	if len(s) != 26 {
		return "", fmt.Errorf("ulid %q: want 26 characters", s)
	}
	var hi, lo uint64 // 130 bits of base32 hold 128 bits; the first character carries 3
	for i := 0; i < 26; i++ {
		v := strings.IndexByte(crockford, s[i])
		if v < 0 {
			return "", fmt.Errorf("ulid %q: bad character %q", s, s[i])
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	b := fmt.Sprintf("%016x%016x", hi, lo)
	return b[0:8] + "-" + b[8:12] + "-" + b[12:16] + "-" + b[16:20] + "-" + b[20:32], nil
}

// Load reads the documents from the NDJSON file named by FIELDFORMS_BENCH_DATA, or
// runs gen.js for n documents when it is unset.
func Load(n int) ([]form.Record, error) {
	lines, err := LoadLines(n)
	if err != nil {
		return nil, err
	}
	return Read(bytes.NewReader(bytes.Join(lines, []byte("\n"))))
}

// LoadLines is Load without the conversion: one NDJSON document a line. Converting a
// batch at a time keeps 100,000 records from sitting in memory, where the garbage
// collector would scan them for the whole benchmark.
func LoadLines(n int) ([][]byte, error) {
	var data []byte
	if path := os.Getenv("FIELDFORMS_BENCH_DATA"); path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("bench data: %w", err)
		}
	} else {
		gen, err := GenScript()
		if err != nil {
			return nil, err
		}
		var out, stderr bytes.Buffer
		cmd := exec.Command("node", gen, fmt.Sprint(n))
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("bench data: node %s: %w: %s", gen, err, stderr.String())
		}
		data = out.Bytes()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) < n {
		return nil, fmt.Errorf("bench data: %d documents, want %d", len(lines), n)
	}
	return lines[:n], nil
}

// GenScript finds gen.js: FIELDFORMS_SHARED/bench/gen.js, or shared/bench/gen.js beside
// the module's folder.
func GenScript() (string, error) {
	if dir := os.Getenv("FIELDFORMS_SHARED"); dir != "" {
		return filepath.Join(dir, "bench", "gen.js"), nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared", "bench", "gen.js")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("bench data: %s not found; set FIELDFORMS_SHARED or FIELDFORMS_BENCH_DATA", p)
			}
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("bench data: module root not found")
		}
	}
}
