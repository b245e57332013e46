package expr_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form/expr"
)

// TestXLSFormExamples evaluates the examples of the XLSForm documentation
// (https://xlsform.org/en/) and the ODK XForms spec.
func TestXLSFormExamples(t *testing.T) {
	examples := []struct {
		name, src string
		with      map[string]expr.Value
		want      string
		kind      expr.Kind
	}{
		{"relevant age", "${age} >= 18", nil, "true", B},
		{"constraint range", ". >= 18 and . <= 130", cur(expr.Num(200)), "false", B},
		{"constraint regex", "regex(., '^[A-Z]{2}[0-9]{4}$')", cur(expr.Str("AB1234")), "true", B},
		{"constraint regex fails", "regex(., '^[A-Z]{2}[0-9]{4}$')", cur(expr.Str("ab1234")), "false", B},
		{"relevant selected", "selected(${q}, 'option')", nil, "true", B},
		{"calculation if", "if(${a} > 10, 'big', 'small')", nil, "big", S},
		{"calculation concat", "concat(${first}, ' ', ${last})", nil, "Ada Lovelace", S},
		{"constraint count-selected", "count-selected(${s}) <= 3", map[string]expr.Value{"s": expr.Str("a b")}, "true", B},
		{"date after today", "decimal-date-time(${d}) > decimal-date-time(today())", nil, "false", B},
		{"format-date", "format-date(${d}, '%Y-%m-%d')", nil, "2020-03-15", S},
		{"position", "position(..)", nil, "2", N},
		{"indexed-repeat", "indexed-repeat(${name}, ${rep}, 1)", nil, "name@rep#1", S},
		{"once uuid", "once(uuid())", cur(expr.Str("")), "uuid-1", S},
		{"sum repeat", "sum(${amount})", nil, "6.5", N},
		{"choice label", "jr:choice-name(${q}, '${q}')", nil, "Option label", S},
		{"string-length", "string-length(.) = 10", cur(expr.Str("0123456789")), "true", B},
		{"round", "round(${x}, 2)", nil, "3.14", N},
		{"int div", "int(${x} div 2)", nil, "1", N},
		{"coalesce", "coalesce(${a}, ${b})", map[string]expr.Value{"a": expr.Str("")}, "5", N},
		{"cost with tax", "${cost} * 1.05", nil, "105", N},
		{"age in days", "today() - ${dob}", nil, "12548", N},
		{"a week from today", "date(today() + 7)", nil, "2024-05-17", D},
		{"required if", "${yes} = 'yes'", nil, "true", B},
		{"not selected", "not(selected(${c}, 'w'))", nil, "true", B},
		{"count repeat", "count(${rep})", nil, "2", N},
		{"max in repeat", "max(${amount})", nil, "3.5", N},
		{"choice_filter", "${q} = 'option' and bare = 'b'", nil, "true", B},
		{"age from dob", "int((today() - ${dob}) div 365.25)", nil, "34", N},
		{"decimal-time", "decimal-time('06:00:00.000+02:00')", nil, "0.25", N},
		{"format-date-time", "format-date-time(now(), '%e %b %Y %H:%M')", nil, "10 May 2024 14:30", S},
		{"digest", "digest('hello', 'SHA-256', 'hex')", nil, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", S},
		{"join repeat", "join(', ', ${name})", nil, "Ann, Bob", S},
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			e := mustParse(t, ex.src)
			v, err := e.EvalErr(newEnv(e, ex.with))
			if err != nil {
				t.Fatalf("%s: %v", ex.src, err)
			}
			if v.String() != ex.want || v.Kind() != ex.kind {
				t.Errorf("%s = %s %q, want %s %q", ex.src, v.Kind(), v, ex.kind, ex.want)
			}
		})
	}
}

func TestRefsPathsFuncs(t *testing.T) {
	e := mustParse(t, "if(${b} > ${a}, /data/x + ../y + ${a}, concat(., current()/../z, instance('c')/root/item[name = ${k}][2], /data/x))")
	if got, want := e.Refs(), []string{"b", "a", "k"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Refs() = %q, want %q", got, want)
	}
	var paths []string
	for _, p := range e.Paths() {
		paths = append(paths, p.String())
	}
	if want := []string{"/data/x", "../y", ".", "../z", "instance('c')/root/item[name = ${k}][2]"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("Paths() = %q, want %q", paths, want)
	}
	if got, want := e.Funcs(), []string{"if", "concat", "current", "instance"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Funcs() = %q, want %q", got, want)
	}
	if !e.UsesCurrent() {
		t.Error("UsesCurrent() = false")
	}
	p := e.Paths()[0]
	if !p.Absolute || !reflect.DeepEqual(p.Steps, []string{"data", "x"}) {
		t.Errorf("/data/x = %+v", p)
	}
	p = e.Paths()[1]
	if p.Absolute || !reflect.DeepEqual(p.Steps, []string{"..", "y"}) {
		t.Errorf("../y = %+v", p)
	}
	inst := e.Paths()[4]
	if !reflect.DeepEqual(inst.Steps, []string{"instance('c')", "root", "item"}) || len(inst.Predicates) != 2 {
		t.Fatalf("instance path = %+v", inst)
	}
	pr := inst.Predicates[0]
	if pr.Step != 2 || pr.Expr.String() != "name = ${k}" || !reflect.DeepEqual(pr.Expr.Refs(), []string{"k"}) {
		t.Errorf("predicate 0 = step %d %q refs %q", pr.Step, pr.Expr, pr.Expr.Refs())
	}
	if ps := pr.Expr.Paths(); len(ps) != 1 || ps[0].String() != "name" {
		t.Errorf("predicate paths = %v", ps)
	}
	if v, ok := inst.Predicates[1].Expr.Constant(); !ok || v.Number() != 2 {
		t.Errorf("[2] Constant() = %v %v", v, ok)
	}
	// The Env can evaluate a predicate per candidate node.
	pe := pr.Expr
	cand := &testEnv{names: pe.Refs(), refs: map[string]expr.Value{"k": expr.Str("i2")},
		paths: map[string]expr.Value{"name": expr.Str("i2")}}
	if !pe.Eval(cand).Bool() {
		t.Error("predicate name = ${k} is false for a matching candidate")
	}

	// Duplicates are listed once.
	e = mustParse(t, "${a} + ${a} + /x + /x + max(1, max(2, 3))")
	if len(e.Refs()) != 1 || len(e.Paths()) != 1 || len(e.Funcs()) != 1 {
		t.Errorf("duplicates: %q %v %q", e.Refs(), e.Paths(), e.Funcs())
	}
	if e.UsesCurrent() {
		t.Error("UsesCurrent() = true without . or current()")
	}
}

func TestCurrentInPredicate(t *testing.T) {
	e := mustParse(t, "instance('c')/root/item[name = current()/../x and . != '']")
	if !e.UsesCurrent() {
		t.Error("current() in a predicate: UsesCurrent() = false")
	}
	pe := e.Paths()[0].Predicates[0].Expr
	var got []string
	for _, p := range pe.Paths() {
		got = append(got, fmt.Sprint(p.Steps))
	}
	if want := []string{"[name]", "[current() .. x]", "[.]"}; !reflect.DeepEqual(got, want) {
		t.Errorf("predicate paths = %q, want %q", got, want)
	}
	e = mustParse(t, "/data/r[. = 'x']")
	if e.UsesCurrent() {
		t.Error("'.' inside a predicate is the candidate, not the context")
	}
	e = mustParse(t, "/x[current() = 2]")
	if ps := e.Paths()[0].Predicates[0].Expr.Paths(); len(ps) != 1 || ps[0].Steps[0] != "current()" {
		t.Errorf("current() in a predicate = %v", ps)
	}
}

func TestUsesCurrent(t *testing.T) {
	for src, want := range map[string]bool{
		".":                             true,
		". > 3":                         true,
		"current()":                     true,
		"current()/../x":                true,
		"once(1)":                       true,
		"string-length()":               true,
		"string-length(${a})":           false,
		"${a} + ../x":                   false,
		"normalize-space()":             true,
		"concat(${a}, 'x')":             false,
		"regex(., '[0-9]+')":            true,
		"position(..)":                  false,
		"indexed-repeat(${a}, ${b}, 1)": false,
	} {
		if got := mustParse(t, src).UsesCurrent(); got != want {
			t.Errorf("%s: UsesCurrent() = %v, want %v", src, got, want)
		}
	}
}

func TestConstant(t *testing.T) {
	for src, want := range map[string]string{
		"1 + 2":                              "3",
		"concat('a', 'b')":                   "ab",
		"if(1 > 2, 'x', 'y')":                "y",
		"date('2020-01-01') + 1":             "18263",
		"regex('a', '[')":                    "false",
		"format-date('2020-01-02', '%d/%m')": "02/01",
	} {
		v, ok := mustParse(t, src).Constant()
		if !ok || v.String() != want {
			t.Errorf("%s: Constant() = %q, %v; want %q", src, v, ok, want)
		}
	}
	for _, src := range []string{"${a}", ". + 1", "/data/x", "today()", "now()", "random()", "uuid()",
		"once(1)", "position(..)", "jr:choice-name('a', '${q}')", "indexed-repeat(${a}, ${b}, 1)",
		"current()", "instance('x')/root", "string()", "1 + ${a}"} {
		if v, ok := mustParse(t, src).Constant(); ok {
			t.Errorf("%s: Constant() = %v, true; want not constant", src, v)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	_, err := expr.Parse("${a} > )")
	var se *expr.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %T is not a *SyntaxError", err)
	}
	if se.Pos != 7 || se.Msg != "unexpected ')'" || se.Src != "${a} > )" || se.Column() != 8 {
		t.Errorf("SyntaxError = %+v, column %d", se, se.Column())
	}
	if got, want := se.Error(), `column 8: unexpected ')' in "${a} > )"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	// Columns count runes.
	_, err = expr.Parse("'ñandú' = foo()")
	if !errors.As(err, &se) || se.Column() != 11 || se.Pos != 12 {
		t.Errorf("unicode column: %v (pos %d)", err, se.Pos)
	}
	// A huge expression is refused without being parsed.
	if _, err := expr.Parse(strings.Repeat("1 or ", 1<<18) + "1"); err == nil {
		t.Error("a 1.25 MiB expression parsed")
	}
	// A long or-chain (n-ary) is fine.
	if _, err := expr.Parse(strings.Repeat("${a} = 1 or ", 3000) + "1"); err != nil {
		t.Errorf("long or-chain: %v", err)
	}
}

func TestLaziness(t *testing.T) {
	for src, want := range map[string]string{
		"if(${c}, ${a}, ${b})":                      "c a",
		"if(${t}, ${a}, ${b})":                      "t b",
		"${t} = 'x' and ${a} = 1":                   "t",
		"${c} != '' or ${a} = 1":                    "c",
		"${c} = '' or ${a} = 15 or ${b} = 2":        "c a",
		"${c} = '' or ${a} = 1 or ${b} = 2":         "c a b",
		"coalesce(${c}, ${a})":                      "c",
		"coalesce(${t}, ${a})":                      "t a",
		"once(${a})":                                "",
		"if(false(), ${a}, if(true(), ${b}, ${c}))": "b",
	} {
		e := mustParse(t, src)
		env := newEnv(e, cur(expr.Str("set")))
		e.Eval(env)
		if got := strings.Join(env.log, " "); got != want {
			t.Errorf("%s read %q, want %q", src, got, want)
		}
	}
}

// recEnv records what the engine passes to IndexedRepeat and ChoiceLabel.
type recEnv struct {
	testEnv
	irArgs []expr.Value
	field  string
	value  string
}

func (r *recEnv) IndexedRepeat(args []expr.Value) expr.Value {
	r.irArgs = args
	return expr.Nodes()
}

func (r *recEnv) ChoiceLabel(field, value string) string {
	r.field, r.value = field, value
	return "L"
}

func TestEnvArguments(t *testing.T) {
	e := mustParse(t, "indexed-repeat(${f}, ${r1}, '2', ${r2}, 1 + 2)")
	env := &recEnv{testEnv: *newEnv(e, nil)}
	if v := e.Eval(env); v.Kind() != NS || len(v.Nodes()) != 0 {
		t.Errorf("indexed-repeat result = %v", v)
	}
	var got []string
	for _, a := range env.irArgs {
		if i, ok := a.RefIndex(); ok {
			got = append(got, fmt.Sprintf("ref %s", e.Refs()[i]))
		} else {
			got = append(got, fmt.Sprintf("%s %v", a.Kind(), a))
		}
	}
	if want := []string{"ref f", "ref r1", "number 2", "ref r2", "number 3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IndexedRepeat args = %q, want %q", got, want)
	}

	e = mustParse(t, "jr:choice-name(${q}, '${q}')")
	env = &recEnv{testEnv: *newEnv(e, nil)}
	if v := e.Eval(env); v.String() != "L" || env.field != "q" || env.value != "option" {
		t.Errorf("ChoiceLabel(%q, %q) -> %v", env.field, env.value, v)
	}
}

func TestValues(t *testing.T) {
	var zero expr.Value
	if zero.Kind() != S || zero.String() != "" || zero.Bool() || !math.IsNaN(zero.Number()) {
		t.Errorf("zero Value = %v %q", zero.Kind(), zero)
	}
	n := expr.Nodes(expr.Num(1), expr.Nodes(expr.Str("a"), expr.Str("b")), expr.Nodes())
	if n.Kind() != NS || len(n.Nodes()) != 3 || n.String() != "1" || n.Number() != 1 {
		t.Errorf("nested Nodes = %v %v", n.Kind(), n.Nodes())
	}
	if e := expr.Nodes(); e.Bool() || e.String() != "" || !math.IsNaN(e.Number()) || len(e.Nodes()) != 0 {
		t.Error("empty node-set converts wrongly")
	}
	if v := expr.Str("x"); len(v.Nodes()) != 1 || v.Nodes()[0].String() != "x" {
		t.Error("a single value is not a one-node set")
	}
	if i, ok := expr.RefArg(3).RefIndex(); !ok || i != 3 || expr.RefArg(3).Kind() != expr.RefKind {
		t.Error("RefArg")
	}
	if _, ok := expr.Num(3).RefIndex(); ok {
		t.Error("RefIndex of a number")
	}
	ist := time.FixedZone("IST", -(5*3600 + 30*60))
	dt := expr.DateTimeV(time.Date(1969, 12, 31, 20, 0, 0, 123456789, ist))
	if got := dt.String(); got != "1969-12-31T20:00:00.123-05:30" {
		t.Errorf("DateTime = %s", got)
	}
	if tm, ok := dt.Time(); !ok || !tm.Equal(time.Date(1969, 12, 31, 20, 0, 0, 123e6, ist)) {
		t.Errorf("Time() = %v", tm)
	}
	d := expr.DateV(time.Date(2021, 7, 4, 23, 59, 0, 0, ist))
	if d.String() != "2021-07-04" || d.Number() != 18812 {
		t.Errorf("Date = %s %v", d, d.Number())
	}
	if tm, ok := d.Time(); !ok || !tm.Equal(day(2021, 7, 4)) {
		t.Errorf("Date.Time() = %v", tm)
	}
	if _, ok := expr.Str("2020-01-01").Time(); ok {
		t.Error("a String has no Time")
	}
	if got := expr.DateTimeV(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)).String(); got != "2020-01-01T00:00:00.000+00:00" {
		t.Errorf("UTC DateTime = %s", got)
	}
	for f, want := range map[float64]string{
		1: "1", -2.5: "-2.5", 1e21: "1000000000000000000000", 1e-7: "0.0000001",
		math.Inf(1): "Infinity", math.Inf(-1): "-Infinity", 123456789012: "123456789012",
		9007199254740993: "9007199254740992", 0.1: "0.1", math.Copysign(0, -1): "0",
	} {
		if got := expr.Num(f).String(); got != want {
			t.Errorf("Num(%v).String() = %q, want %q", f, got, want)
		}
	}
	for s, want := range map[string]float64{"12": 12, " 1.5\n": 1.5, "-3": -3, "1,25": 1.25, "1e400": math.NaN(), "9" + strings.Repeat("9", 400): math.Inf(1)} {
		got := expr.Str(s).Number()
		if got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("Str(%q).Number() = %v, want %v", s, got, want)
		}
	}
	if !expr.Num(nan()).Equal(expr.Num(nan())) || expr.Num(1).Equal(expr.Str("1")) ||
		!expr.Nodes(expr.Num(1), expr.Str("a")).Equal(expr.Nodes(expr.Num(1), expr.Str("a"))) ||
		expr.Nodes(expr.Num(1)).Equal(expr.Nodes(expr.Num(2))) || expr.Nodes().Equal(expr.Nodes(expr.Str(""))) ||
		!expr.DateV(day(2020, 1, 1)).Equal(expr.DateV(day(2020, 1, 1))) || expr.Str("a").Equal(expr.Str("b")) {
		t.Error("Equal")
	}
	if expr.BoolV(true).String() != "true" || expr.BoolV(false).Number() != 0 {
		t.Error("BoolV")
	}
	for k := expr.String; k <= expr.RefKind; k++ {
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("Kind %d has no name", k)
		}
	}
}

func TestFuncNames(t *testing.T) {
	names := expr.FuncNames()
	for _, want := range []string{"if", "jr:choice-name", "indexed-repeat", "format-date", "digest", "area"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("FuncNames() lacks %s", want)
		}
	}
	for _, n := range names {
		if n == "pulldata" {
			t.Error("FuncNames() lists pulldata")
		}
	}
}

func TestNilEnv(t *testing.T) {
	e := mustParse(t, "${a} = '' and . = '' and today() > 0 and count(/x) = 1")
	if v, err := e.EvalErr(nil); err != nil || !v.Bool() {
		t.Errorf("Eval(nil) = %v, %v", v, err)
	}
	var nilExpr *expr.Expr
	if _, err := nilExpr.EvalErr(nil); err == nil {
		t.Error("nil *Expr: no error")
	}
}

type panicEnv struct{ testEnv }

func (*panicEnv) Ref(int) expr.Value { panic("boom") }

func TestEnvPanicIsAnError(t *testing.T) {
	e := mustParse(t, "${a} + 1")
	v, err := e.EvalErr(&panicEnv{})
	if err == nil || !strings.Contains(err.Error(), "boom") || v.String() != "" {
		t.Errorf("EvalErr with a panicking Env = %v, %v", v, err)
	}
}

// benchEnv is an allocation-free Env over a slice.
type benchEnv struct{ vals []expr.Value }

func (b *benchEnv) Ref(i int) expr.Value                  { return b.vals[i] }
func (b *benchEnv) Path(expr.Path) expr.Value             { return expr.Value{} }
func (b *benchEnv) Current() expr.Value                   { return expr.Value{} }
func (b *benchEnv) Position() int                         { return 0 }
func (b *benchEnv) Now() time.Time                        { return testNow }
func (b *benchEnv) UUID() string                          { return "" }
func (b *benchEnv) ChoiceLabel(string, string) string     { return "" }
func (b *benchEnv) IndexedRepeat([]expr.Value) expr.Value { return expr.Value{} }

func TestNoAllocs(t *testing.T) {
	for _, src := range []string{
		"${a} = 'yes' and ${b} > 3",
		"selected(${a}, 'x') and ${b} >= 18 or ${c} != ''",
		"not(${a} = 'no') and (${b} + 1) * 2 div 3 < 100",
		"count-selected(${a}) <= 3 and string-length(${c}) = 0",
		"if(${b} > 10, 'big', 'small')",
		"${d} > today() or ${d} < '2020-01-01'",
	} {
		e := mustParse(t, src)
		env := &benchEnv{vals: []expr.Value{expr.Str("x y"), expr.Num(20), expr.Str(""), expr.DateV(day(2021, 1, 1))}}
		if n := testing.AllocsPerRun(100, func() { e.Eval(env) }); n != 0 {
			t.Errorf("%s: %v allocations per Eval", src, n)
		}
	}
}

func TestConcurrentEval(t *testing.T) {
	e := mustParse(t, "regex(${code}, concat('[A-Z]{', ${b}, '}[0-9]+')) and sum(${amount}) > 6 and format-date(${d}, '%Y') = '2020'")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				env := newEnv(e, map[string]expr.Value{"b": expr.Num(float64(2 + i%2))})
				v := e.Eval(env)
				if want := i%2 == 0; v.Bool() != want {
					t.Errorf("iteration %d: %v", i, v)
					return
				}
			}
		}()
	}
	wg.Wait()
}

var sink expr.Value

var printOnce sync.Once

// BenchmarkExprEval evaluates a typical relevant over an Env that answers at once
// and prints one line, "expr_eval_bare_ns <value> ns": the engine alone, timed
// over its own loop of 100000 evaluations so the figure is stable whatever b.N is
// (-benchtime 1x works). expr_eval_ns (package form) is the same relevant through
// a filled 200-field form.
func BenchmarkExprEval(b *testing.B) {
	e := mustParse(b, "selected(${c}, 'x') and ${n} >= 18 or ${t} != ''")
	env := &benchEnv{vals: []expr.Value{expr.Str("w x y"), expr.Num(20), expr.Str("")}}
	if !e.Eval(env).Bool() {
		b.Fatal("the relevant is false")
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		sink = e.Eval(env)
	}
	printOnce.Do(func() {
		const n = 100000
		start := time.Now()
		for i := 0; i < n; i++ {
			sink = e.Eval(env)
		}
		fmt.Printf("expr_eval_bare_ns %.1f ns\n", float64(time.Since(start).Nanoseconds())/n)
	})
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := expr.Parse("selected(${c}, 'x') and ${n} >= 18 or ${t} != ''"); err != nil {
			b.Fatal(err)
		}
	}
}
