package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fieldforms/fieldforms/form"
)

// recordTerms lists each term of a record once, the same set a plain map of the
// tokenizer's words gives, for records of a few words up to thousands (past the word
// set's first table), with long, accented and repeated words.
func TestRecordTermsDistinct(t *testing.T) {
	for _, words := range []int{0, 1, 127, 128, 129, 1000, 5000} {
		t.Run(fmt.Sprint(words), func(t *testing.T) {
			var text []string
			for i := range words {
				text = append(text, fmt.Sprintf("Word%d", i%(words/2+1)), "ÉTÉ", strings.Repeat("long", 15)+fmt.Sprint(i))
			}
			r := form.Record{Template: "tpl", Fields: map[string]form.FieldValue{
				"notes":          {Value: []byte(fmt.Sprintf("%q", strings.Join(text, " ")))},
				"code":           {Value: []byte(`"A-1 b\\"2"`)},
				"count":          {Value: []byte(`42`)},
				"choices":        {Value: []byte(`["north","south","north"]`)},
				form.FieldStatus: {Value: []byte(`"submitted"`)},
			}}
			want := map[string]bool{}
			add := func(w string) { want[w] = true }
			for id, fv := range r.Fields {
				if !form.IsSystemField(id) {
					tokenize(form.DisplayValue(fv.Value), add)
				}
			}
			add(termTemplate(r.Template))
			add(termStatus(r.Status()))
			add(termLive)
			got := recordTerms(&r)
			if len(got) != len(want) {
				t.Fatalf("%d terms, want %d distinct", len(got), len(want))
			}
			slices.Sort(got)
			for i, w := range got {
				if !want[w] {
					t.Errorf("term %q is not a word of the record", w)
				}
				if i > 0 && got[i-1] == w {
					t.Errorf("term %q twice", w)
				}
			}
		})
	}
}
