package form_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/internal/benchdata"
)

// benchLine is one gen.js document, as the replication benchmarks read them.
const benchLine = `{"_id":"01HK153XM9MVRF1BBVYTEXDHV0","type":"form_submission","template_id":"tpl-delivery-v4","template_version":3,"device_id":"dev-0016","created_at":"2024-01-01T00:00:00.649Z","updated_at":"2024-01-01T00:19:19.052Z","fields":{"inspector_name":"floor room visit ","site_code":"S-09671","asset_tag":"ABCVOWM","location":"rate reset tank level clean cab","summary":"meter replaced cable gasket reset level south current filter follow voltage ","contact_phone":"+1-555-8796726","observations":"sensor alarm ok inspection up ok pending room pending corrosion reset lock key reading reset site visit","corrective_action":"south sensor leak torque pump checked key valve leak battery","reading_pressure_kpa":738.23,"reading_temp_c":62.9,"item_count":353,"duration_min":428,"inspection_date":"2024-01-01","next_due_date":"2024-08-30","signed_at":"2024-01-01T00:18:55.387Z","status":"closed","priority":"medium","safety_ok":true,"photos_attached":false,"requires_followup":false}}`

// BenchmarkCheckRecord checks one benchmark record's values against its template, as
// a store does for every record it merges, and prints check_record_ns and
// check_record_allocs.
func BenchmarkCheckRecord(b *testing.B) {
	recs, err := benchdata.Read(strings.NewReader(benchLine))
	if err != nil || len(recs) != 1 {
		b.Fatal(err)
	}
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	r := recs[0]
	for _, t := range tpls {
		if t.Key().ID != r.Template || t.Key().Version != r.Version {
			continue
		}
		vals := r.Values()
		const n = 100000
		for b.Loop() {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			start := time.Now()
			for range n {
				if _, err := t.Check(vals); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			runtime.ReadMemStats(&m1)
			fmt.Printf("check_record_ns %.0f ns\n", float64(el.Nanoseconds())/n)
			fmt.Printf("check_record_allocs %.1f allocs\n", float64(m1.Mallocs-m0.Mallocs)/n)
		}
		return
	}
	b.Fatal("no template")
}
