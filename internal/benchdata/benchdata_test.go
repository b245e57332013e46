package benchdata

import (
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

func TestULIDToUUID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"00000000000000000000000000", "00000000-0000-0000-0000-000000000000"},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "ffffffff-ffff-ffff-ffff-ffffffffffff"},
		{"01HK153XM9MVRF1BBVYTEXDHV0", "018cc251-f689-a6f0-f0ad-7bf69dd6c760"},
	} {
		got, err := ulidToUUID(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ulidToUUID(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// One document as gen.js writes it converts to a record every template accepts.
func TestRead(t *testing.T) {
	line := `{"_id":"01HK153XM9MVRF1BBVYTEXDHV0","type":"form_submission","template_id":"tpl-delivery-v4","template_version":3,"device_id":"dev-0016","created_at":"2024-01-01T00:00:00.649Z","updated_at":"2024-01-01T00:19:19.052Z","fields":{"inspector_name":"floor room visit ","site_code":"S-09671","asset_tag":"ABCVOWM","location":"rate reset","summary":"meter replaced","contact_phone":"+1-555-8796726","observations":"sensor alarm","corrective_action":"south sensor","reading_pressure_kpa":738.23,"reading_temp_c":62.9,"item_count":353,"duration_min":428,"inspection_date":"2024-01-01","next_due_date":"2024-08-30","signed_at":"2024-01-01T00:18:55.387Z","status":"closed","priority":"medium","safety_ok":true,"photos_attached":false,"requires_followup":false}}`
	recs, err := Read(strings.NewReader(line + "\n"))
	if err != nil || len(recs) != 1 {
		t.Fatalf("Read: %v, %d records", err, len(recs))
	}
	r := recs[0]
	if err := r.CheckShape(); err != nil {
		t.Fatal(err)
	}
	tpls, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	for _, tpl := range tpls {
		if tpl.Key() == (form.TemplateKey{ID: r.Template, Version: r.Version}) {
			if _, err := tpl.Check(r.Values()); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no template %s@%d", r.Template, r.Version)
}
