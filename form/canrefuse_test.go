package form_test

import (
	"encoding/json"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

// CanRefuse is false only for templates whose every form passes Check: a store skips
// checking submitted records of those.
func TestCanRefuse(t *testing.T) {
	const head = `{"id":"cr","version":1,"name":"cr","fields":[`
	tests := []struct {
		name, fields string
		want         bool
		refused      form.Values // values Check refuses, when want
	}{
		{"no rules", `{"id":"a","type":"text","label":"A"},{"id":"n","type":"integer","label":"N"}`, false, nil},
		{"required false", `{"id":"a","type":"text","label":"A","required":false}`, false, nil},
		{"a note", `{"id":"a","type":"note","label":"A"},{"id":"b","type":"text","label":"B"}`, false, nil},
		{"required", `{"id":"a","type":"text","label":"A","required":true}`, true, form.Values{}},
		{"required by a rule", `{"id":"a","type":"integer","label":"A"},{"id":"b","type":"text","label":"B","required":"${a} > 1"}`, true,
			form.Values{"a": json.RawMessage(`2`)}},
		{"a constraint", `{"id":"a","type":"integer","label":"A","constraint":". < 10"}`, true, form.Values{"a": json.RawMessage(`12`)}},
		{"required in a group", `{"id":"g","type":"group","label":"G","fields":[{"id":"a","type":"text","label":"A","required":true}]}`, true, form.Values{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := form.ParseTemplate([]byte(head + tt.fields + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := tpl.CanRefuse(); got != tt.want {
				t.Fatalf("CanRefuse %v, want %v", got, tt.want)
			}
			if tt.want {
				if err := tpl.NewForm(tt.refused, form.Context{}).Check(); err == nil {
					t.Fatalf("Check passes %v", tt.refused)
				}
				return
			}
			for _, vals := range []form.Values{{}, {"a": json.RawMessage(`"x"`)}, {"n": json.RawMessage(`-3`)}} {
				if err := tpl.NewForm(vals, form.Context{}).Check(); err != nil {
					t.Fatalf("Check refuses %v: %v", vals, err)
				}
			}
		})
	}
}
