package expr_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form/expr"
)

// trickyValues are what the fuzz Env answers: empty and odd strings, NaN and
// infinities, extreme dates, empty and mixed node-sets, a ref argument.
var trickyValues = []expr.Value{
	expr.Str(""),
	expr.Str("1e400"),
	expr.Str("2020-02-29"),
	expr.Str("2020-01-01T10:00:00.123+14:00"),
	expr.Str("x y  z"),
	expr.Str("\xff\xfe"),
	expr.Str("0 0;0 1;1 1;1 0;0 0"),
	expr.Str("-0.5"),
	expr.Num(math.NaN()),
	expr.Num(math.Inf(1)),
	expr.Num(math.Inf(-1)),
	expr.Num(1e300),
	expr.Num(math.Copysign(0, -1)),
	expr.Num(2147483648),
	expr.Num(-9e18),
	expr.BoolV(true),
	expr.DateV(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)),
	expr.DateV(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)),
	expr.DateTimeV(time.Date(-3000, 1, 1, 0, 0, 0, 0, time.FixedZone("", -12*3600))),
	expr.DateTimeV(time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)),
	expr.Nodes(),
	expr.Nodes(expr.Num(1), expr.Str("b"), expr.Nodes(expr.BoolV(false), expr.Str(""))),
	expr.RefArg(99),
}

type fuzzEnv struct{ seed int }

func (f fuzzEnv) pick(i int) expr.Value {
	return trickyValues[((i+f.seed)%len(trickyValues)+len(trickyValues))%len(trickyValues)]
}

func (f fuzzEnv) Ref(i int) expr.Value        { return f.pick(i) }
func (f fuzzEnv) Path(p expr.Path) expr.Value { return f.pick(len(p.Steps) + 7*len(p.Predicates)) }
func (f fuzzEnv) Current() expr.Value         { return f.pick(3) }
func (f fuzzEnv) Position() int               { return f.seed - 1 }
func (f fuzzEnv) UUID() string                { return "u" }

func (f fuzzEnv) Now() time.Time {
	switch f.seed % 3 {
	case 0:
		return time.Date(-200, 2, 29, 23, 59, 59, 999999999, time.FixedZone("", 14*3600))
	case 1:
		return time.Time{}
	}
	return testNow
}

func (f fuzzEnv) ChoiceLabel(field, value string) string { return field + value }

func (f fuzzEnv) IndexedRepeat(args []expr.Value) expr.Value {
	return expr.Nodes(args...)
}

// FuzzParse checks that Parse never panics and reports errors with a position in
// the source, that a parsed expression keeps its source, and that evaluating it
// (and its predicates) against Envs answering odd values never panics.
func FuzzParse(f *testing.F) {
	was := expr.SetCatchPanics(false)
	f.Cleanup(func() { expr.SetCatchPanics(was) })
	for _, tc := range cases {
		f.Add(tc.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := expr.Parse(src)
		if err != nil {
			var se *expr.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", src, err)
			}
			if se.Src != src || se.Pos < 0 || se.Pos > len(src) || se.Msg == "" || se.Column() < 1 {
				t.Fatalf("Parse(%q): bad SyntaxError %+v", src, se)
			}
			_ = se.Error()
			return
		}
		if e.String() != src {
			t.Fatalf("String() = %q, want %q", e.String(), src)
		}
		e.Refs()
		e.Funcs()
		e.UsesCurrent()
		if v, ok := e.Constant(); ok {
			_ = v.String()
		}
		for seed := 0; seed < 4; seed++ {
			env := fuzzEnv{seed: seed * 5}
			check(e.EvalErr(env))
			for _, p := range e.Paths() {
				_ = p.String()
				for _, pr := range p.Predicates {
					check(pr.Expr.EvalErr(env))
				}
			}
		}
	})
}

func check(v expr.Value, _ error) {
	_ = v.String()
	_ = v.Number()
	_ = v.Bool()
	_ = v.Nodes()
	v.Time()
}
