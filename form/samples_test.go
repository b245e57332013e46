package form_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

const samplesDir = "../assets/templates"

func loadSamples(t *testing.T) map[string]*form.Template {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(samplesDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sample templates in %s (%v)", samplesDir, err)
	}
	out := map[string]*form.Template{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tpl, err := form.ParseTemplate(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if stem := strings.TrimSuffix(filepath.Base(p), ".json"); tpl.ID != stem || tpl.Version != 1 {
			t.Errorf("%s: id %q version %d; want id %q version 1", p, tpl.ID, tpl.Version, stem)
		}
		out[tpl.ID] = tpl
	}
	return out
}

// The samples together use every field type and every rule, so that a new device or
// server has a working example of each.
func TestSamplesCoverEverything(t *testing.T) {
	samples := loadSamples(t)
	for _, id := range []string{"site-inspection", "incident-report", "equipment-maintenance", "delivery-receipt",
		"household-survey", "water-point-inspection"} {
		if samples[id] == nil {
			t.Errorf("sample %s is missing", id)
		}
	}
	types := map[form.FieldType]bool{}
	rules := map[string]bool{}
	for _, tpl := range samples {
		if len(tpl.Title) > 0 {
			rules["title"] = true
		}
		if tpl.InstanceName != "" {
			rules["instance_name"] = true
		}
		for _, f := range tpl.All() {
			types[f.Type] = true
			for rule, used := range map[string]bool{
				"required": f.Required.Set(), "min": f.Min != nil, "max": f.Max != nil,
				"min_length": f.MinLength != nil, "max_length": f.MaxLength != nil, "pattern": f.Pattern != "",
				"options": f.Options != nil, "max_files": f.MaxFiles != 0,
				"show_if equals":    f.ShowIf != nil && f.ShowIf.Equals != nil,
				"show_if in":        f.ShowIf != nil && f.ShowIf.In != nil,
				"show_if not_empty": f.ShowIf != nil && f.ShowIf.NotEmpty,
				"relevant":          f.Relevant != "", "constraint": f.Constraint != "", "constraint_message": !f.ConstraintMessage.IsZero(),
				"required expression": f.Required.Expr != "", "required_message": !f.RequiredMessage.IsZero(),
				"calculation": f.Calculation != "", "default": f.Default != nil, "default_expr": f.DefaultExpr != "",
				"choice_filter": f.ChoiceFilter != "", "trigger": f.Trigger != nil, "readonly": f.ReadOnly.Set(),
				"list": f.List != "", "repeat_count": f.RepeatCount != "", "meta": f.Meta != "", "appearance": f.Appearance != "",
				"translations": len(f.Label.Languages()) > 1, "step": f.Step != nil,
			} {
				rules[rule] = rules[rule] || used
			}
			if f.Min != nil || f.Max != nil {
				rules["min/max "+string(f.Type)] = true
			}
		}
		// Encoding and parsing again gives the same template.
		again := mustParse(t, tpl.Encode())
		if string(again.Encode()) != string(tpl.Encode()) {
			t.Errorf("%s: encode round trip differs", tpl.ID)
		}
	}
	for _, ty := range form.FieldTypes {
		if !types[ty] {
			t.Errorf("no sample uses field type %s", ty)
		}
	}
	want := []string{"required", "min", "max", "min_length", "max_length", "pattern", "options", "max_files",
		"show_if equals", "show_if in", "show_if not_empty", "title",
		"relevant", "constraint", "constraint_message", "required expression", "required_message", "calculation",
		"default", "default_expr", "choice_filter", "trigger", "readonly", "list", "repeat_count", "meta", "appearance",
		"translations", "step", "instance_name"}
	for _, ty := range []form.FieldType{form.TypeInteger, form.TypeDecimal, form.TypeDate, form.TypeTime, form.TypeDateTime, form.TypeMultiChoice} {
		want = append(want, "min/max "+string(ty))
	}
	for _, r := range want {
		if !rules[r] {
			t.Errorf("no sample uses rule %s", r)
		}
	}
}

// A realistic filled form for each sample passes Check and CheckComplete, and an
// empty one is incomplete.
func TestSamplesFilledIn(t *testing.T) {
	samples := loadSamples(t)
	pdf, png, jpg := att("application/pdf"), att("image/png"), att("image/jpeg")
	filled := map[string]string{
		"site-inspection": `{"site_code":"NW-0412","inspector":"Ann Smith","inspection_date":"2026-03-04","arrival_time":"07:30:00",
			"location":{"lat":53.4808,"lon":-2.2426,"accuracy":8},"weather":"rain","workers_on_site":14,"hazards_present":true,
			"hazards":["chemical","fall"],"hazard_notes":"Drums moved to the bunded store; site manager told.","hazard_photos":[` + jpg + `],
			"overall_rating":"fail","corrective_actions":"Edge protection on level 3 before work resumes.","follow_up_date":"2026-03-11",
			"inspector_signature":` + png + `}`,
		"incident-report": `{"occurred_at":"2026-03-04T14:20:00+01:00","reported_by":"Bob Jones","incident_type":"injury","severity":"medium",
			"injured_persons":1,"first_aid_given":true,"description":"Worker cut his hand on a sheet of metal while unloading.",
			"location":{"lat":48.1372,"lon":11.5756},"contributing_factors":["procedure","housekeeping"],"photos":[` + jpg + `],
			"witness_statements":[` + pdf + `],"witness_names":"Carla Diaz, +44 7700 900123","reporter_signature":` + png + `}`,
		"equipment-maintenance": `{"asset_tag":"EQ-004211","equipment_type":"generator","service_type":"scheduled","service_date":"2026-03-04",
			"started_at":"08:00","finished_at":"10:45","hours_meter":1523.5,"tasks":["battery","oil"],"battery_voltage":12.6,
			"fault_found":true,"fault_description":"Cracked fan belt, replaced.","parts_replaced":1,"parts_cost":42.9,
			"status_after":"in_service","next_service_due":"2026-09-04","technician_signature":` + png + `}`,
		"delivery-receipt": `{"delivery_number":"DN20260304","delivered_at":"2026-03-04T09:15:00Z","supplier":"coldline","recipient_name":"Dee Patel",
			"items_expected":40,"items_received":38,"temperature_c":3.5,"condition":"partial","damage_details":"Two boxes short, driver confirmed.",
			"delivery_location":{"lat":51.5072,"lon":-0.1276,"accuracy":12.5},"accepted":true,"recipient_signature":` + png + `}`,
		"household-survey": `{"consent":"OK","location":{"region":"north","district":"hill","village":"hill_2","gps":{"lat":5.6,"lon":-0.2,"alt":61,"accuracy":4}},
			"household":{"head_name":"Ama Mensah","size":2},
			"members":[{"name":"Ama Mensah","relation":"head","sex":"female","age":41},{"name":"Kofi","relation":"child","sex":"male","age":9,"school":"yes"}],
			"summary":{"water":"well","water_minutes":35,"needs":["water","school","health","income"],
			"dwelling":[{"lat":5.6,"lon":-0.2},{"lat":5.6001,"lon":-0.2},{"lat":5.6001,"lon":-0.2001},{"lat":5.6,"lon":-0.2}]}}`,
		"water-point-inspection": `{"point":{"asset_tag":"WP-00412","point_type":"borehole","inspected_on":"2026-03-04","position":{"lat":-1.29,"lon":36.82}},
			"state":{"functional":"partly","flow":12.5,"users":80,"water_test":["cloudy"]},
			"defects":[{"component":"pump","severity":"3","description":"Handle bearing worn through.","photo":[` + jpg + `],"sound":[` + att("audio/mp4") + `]},
			           {"component":"apron","severity":"1","description":"Crack in the apron."}],
			"result":{"caretaker_ack":"OK","signature":` + png + `}}`,
	}
	for id, tpl := range samples {
		t.Run(id, func(t *testing.T) {
			raw, ok := filled[id]
			if !ok {
				t.Fatalf("no filled-in example for %s", id)
			}
			var nested form.Values
			if err := json.Unmarshal([]byte(raw), &nested); err != nil {
				t.Fatal(err)
			}
			values, err := tpl.Expand(nested, nil)
			if err != nil {
				t.Fatal(err)
			}
			canon, err := tpl.Check(values)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			fm := tpl.NewForm(nil, form.Context{User: "ann", Device: "dev-1"})
			fm.Start()
			if err := fm.SetAll(canon); err != nil {
				t.Fatal(err)
			}
			if err := fm.Check(); err != nil {
				t.Errorf("Check of the filled form: %v", err)
			}
			canon = fm.Values()
			if err := tpl.CheckComplete(canon); err != nil {
				t.Errorf("CheckComplete: %v", err)
			}
			if title := tpl.RecordTitle(canon); title == "" {
				t.Errorf("empty title")
			}
			err = tpl.CheckComplete(form.Values{})
			if err == nil {
				t.Fatalf("an empty %s is complete", id)
			}
			var missing []string
			for _, f := range err.(*form.ValidationError).Fields {
				missing = append(missing, f.Field)
				if ff, _ := tpl.Field(f.Field); ff.ShowIf != nil {
					t.Errorf("%s is hidden in an empty form but reported missing", f.Field)
				}
			}
			if len(tpl.Title) > 0 && !slices.Contains(missing, tpl.Title[0]) {
				t.Errorf("missing %v does not include the title field %s", missing, tpl.Title[0])
			}
		})
	}
}
