package expr_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form/expr"
)

// zone is the local time zone of the tests: UTC+2.
var zone = time.FixedZone("T", 2*3600)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2024, 5, 10, 14, 30, 15, 250e6, zone)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// baseRefs are the ${name} values every table case sees.
func baseRefs() map[string]expr.Value {
	return map[string]expr.Value{
		"age":      expr.Num(20),
		"a":        expr.Num(15),
		"b":        expr.Num(5),
		"n":        expr.Num(20),
		"x":        expr.Num(3.14159),
		"cost":     expr.Num(100),
		"first":    expr.Str("Ada"),
		"last":     expr.Str("Lovelace"),
		"c":        expr.Str("x y z"),
		"q":        expr.Str("option"),
		"s":        expr.Str("a b c d"),
		"t":        expr.Str(""),
		"empty":    expr.Str(""),
		"yes":      expr.Str("yes"),
		"str12":    expr.Str("12"),
		"sp":       expr.Str("  a  b  "),
		"code":     expr.Str("AB1234"),
		"bool":     expr.BoolV(true),
		"d":        expr.DateV(day(2020, 3, 15)),
		"dob":      expr.DateV(day(1990, 1, 1)),
		"dt":       expr.DateTimeV(time.Date(2020, 3, 15, 10, 30, 0, 0, zone)),
		"amount":   expr.Nodes(expr.Num(1), expr.Num(2), expr.Num(3.5)),
		"names":    expr.Nodes(expr.Str("a"), expr.Str("b"), expr.Str("")),
		"none":     expr.Nodes(),
		"mixed":    expr.Nodes(expr.Str("1"), expr.Str("x"), expr.Str("4")),
		"rep":      expr.Nodes(expr.Str(""), expr.Str("")),
		"name":     expr.Nodes(expr.Str("Ann"), expr.Str("Bob")),
		"pt1":      expr.Str("0 0 0 0"),
		"pt2":      expr.Str("0 1 0 0"),
		"shape":    expr.Str("0 0 0 0;0 0.001 0 0;0.001 0.001 0 0;0.001 0 0 0;0 0 0 0"),
		"nan":      expr.Num(nan()),
		"dtstr":    expr.Str("2020-03-15T10:30:00.000+02:00"),
		"datestr":  expr.Str("2020-03-15"),
		"ageStr":   expr.Str("17"),
		"comma":    expr.Str("1,5"),
		"multi":    expr.Str("a c"),
		"unicode":  expr.Str("héllo wörld"),
		"location": expr.Str("-1.2921 36.8219 1700 5"),
	}
}

func nan() float64 {
	var z float64
	return z / z
}

var basePaths = map[string]expr.Value{
	"/data/a":                 expr.Num(7),
	"/data/a[1]":              expr.Str("a1"),
	"../x":                    expr.Str("px"),
	"bare":                    expr.Str("b"),
	"..":                      expr.Str("parent"),
	"div":                     expr.Num(9),
	"/data/rep/name":          expr.Nodes(expr.Str("Ann"), expr.Str("Bob")),
	"instance('c')/root/item": expr.Nodes(expr.Str("i1"), expr.Str("i2")),
}

var labels = map[string]string{
	"q|option":       "Option label",
	"q|other":        "Other label",
	"/data/q|option": "Path label",
}

// testEnv is the Env of the tests: refs by name, paths by their String(), a fixed
// clock, position 2, and an indexed-repeat that answers "field@repeat#i...".
type testEnv struct {
	names []string
	refs  map[string]expr.Value
	paths map[string]expr.Value
	cur   expr.Value
	log   []string // the refs read, in order
}

func newEnv(e *expr.Expr, with map[string]expr.Value) *testEnv {
	env := &testEnv{names: e.Refs(), refs: baseRefs(), paths: basePaths, cur: expr.Str("AB1234")}
	for k, v := range with {
		if k == "." {
			env.cur = v
		} else {
			env.refs[k] = v
		}
	}
	return env
}

func (e *testEnv) Ref(i int) expr.Value {
	name := e.names[i]
	e.log = append(e.log, name)
	return e.refs[name]
}

func (e *testEnv) Path(p expr.Path) expr.Value { return e.paths[p.String()] }
func (e *testEnv) Current() expr.Value         { return e.cur }
func (e *testEnv) Position() int               { return 2 }
func (e *testEnv) Now() time.Time              { return testNow }
func (e *testEnv) UUID() string                { return "uuid-1" }

func (e *testEnv) ChoiceLabel(field, value string) string { return labels[field+"|"+value] }

func (e *testEnv) IndexedRepeat(args []expr.Value) expr.Value {
	var b strings.Builder
	for i, a := range args {
		if idx, ok := a.RefIndex(); ok {
			if i > 0 {
				b.WriteByte('@')
			}
			b.WriteString(e.names[idx])
			continue
		}
		if a.Kind() != expr.Number {
			return expr.Str("bad index kind " + a.Kind().String())
		}
		if a.Number() < 1 || a.Number() > 2 {
			return expr.Str("") // out of range: empty
		}
		fmt.Fprintf(&b, "#%v", a)
	}
	return expr.Str(b.String())
}

func mustParse(t testing.TB, src string) *expr.Expr {
	t.Helper()
	e, err := expr.Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return e
}
