package form

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// form200 is a template of 200 fields in the shape of a real survey: groups of
// questions with relevants on earlier answers, a repeat, calculations.
func form200(tb testing.TB) *Template {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"id":"f200","version":1,"name":"200 fields","choices":{"yn":[{"value":"yes","label":"Yes"},{"value":"no","label":"No"}],` +
		`"c":[{"value":"x","label":"X"},{"value":"y","label":"Y"},{"value":"z","label":"Z"}]},"fields":[`)
	n := 0
	for g := range 9 {
		if g > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"g%d","type":"group","label":"Section %d","fields":[`, g, g)
		for q := range 20 {
			if q > 0 {
				b.WriteByte(',')
			}
			n++
			switch q % 5 {
			case 0:
				fmt.Fprintf(&b, `{"id":"q%d","type":"choice","list":"yn","label":"Q%d"}`, n, n)
			case 1:
				fmt.Fprintf(&b, `{"id":"q%d","type":"integer","label":"Q%d","relevant":"${q%d} = 'yes'","constraint":". >= 0 and . < 200"}`, n, n, n-1)
			case 2:
				fmt.Fprintf(&b, `{"id":"q%d","type":"multichoice","list":"c","label":"Q%d","relevant":"${q%d} >= 18 or ${q%d} = 'no'"}`, n, n, n-1, n-2)
			case 3:
				fmt.Fprintf(&b, `{"id":"q%d","type":"text","label":"Q%d","relevant":"selected(${q%d}, 'x') and ${q%d} >= 18 or ${t} != ''"}`, n, n, n-1, n-2)
			default:
				fmt.Fprintf(&b, `{"id":"q%d","type":"calculate","calculation":"if(${q%d} > 10, 'old', 'young')"}`, n, n-3)
			}
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`,{"id":"t","type":"text","label":"T"},{"id":"r","type":"repeat","label":"R","fields":[`)
	for q := range 10 {
		if q > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"rq%d","type":"integer","label":"RQ%d"}`, q, q)
	}
	b.WriteString(`]},{"id":"total","type":"calculate","calculation":"sum(${rq0})"}]}`)
	t, err := ParseTemplate([]byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// BenchmarkExprRelevant200 evaluates a typical relevant of a 200-field form, in a
// form filled in: `selected(${a}, 'x') and ${b} >= 18 or ${t} != ”`, references
// resolved through the form as the app and the store resolve them. It prints
// expr_eval_ns, timed over its own loop so that -benchtime 1x gives a figure.
func BenchmarkExprRelevant200(b *testing.B) {
	t := form200(b)
	vals := Values{}
	for i := 1; i <= 180; i++ {
		f, _ := t.Field(fmt.Sprintf("g%d/q%d", (i-1)/20, i))
		switch f.Type {
		case TypeChoice:
			vals[f.key] = json.RawMessage(`"yes"`)
		case TypeInteger:
			vals[f.key] = json.RawMessage(`42`)
		case TypeMultiChoice:
			vals[f.key] = json.RawMessage(`["x","z"]`)
		}
	}
	fm := t.NewForm(vals, Context{Now: func() time.Time { return time.Unix(0, 0) }})
	f, _ := t.Field("g4/q84")
	ce := f.exprs.relevant
	if !fm.eval(ce, f.key).Bool() {
		b.Fatal("the relevant does not hold")
	}
	const n = 200000
	for b.Loop() {
		start := time.Now()
		for range n {
			fm.eval(ce, f.key)
		}
		fmt.Printf("expr_eval_ns %.0f ns\n", float64(time.Since(start).Nanoseconds())/n)
	}
}
