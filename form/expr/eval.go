package expr

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Env is what an expression reads. ${name} references are passed by their index in
// Refs(), so the caller resolves names once, at compile time, not at every
// evaluation. An Env is used by one evaluation at a time; Expr itself keeps no
// state between evaluations.
type Env interface {
	// Ref returns the value of Refs()[i] in the current context: a field's value,
	// a node-set for a field in a repeat referenced from outside it, or a repeat
	// itself (a node-set of its instances).
	Ref(i int) Value
	// Path returns the value of a location path (see Path); Value{} (the empty
	// string) when unknown.
	Path(p Path) Value
	// Current returns the context node's value: "." and current().
	Current() Value
	// Position returns the 1-based position of the current repeat instance, 0
	// outside a repeat: position(..).
	Position() int
	// Now returns the current time: today() and now(). Its Location is the local
	// time zone of the evaluation (date-times written without an offset are on its
	// wall clock).
	Now() time.Time
	// UUID returns a new random UUID: uuid().
	UUID() string
	// ChoiceLabel returns the label of the choice value of the select named field
	// (as written in the expression, without ${}), "" when unknown:
	// jr:choice-name(value, '${field}').
	ChoiceLabel(field string, value string) string
	// IndexedRepeat answers indexed-repeat(${field}, ${repeat}, i[, ${repeat2}, j
	// ...]). The ${...} arguments are RefKind values (see Value.RefIndex), the
	// indexes Numbers. An index out of range is not an error: the answer is then
	// the empty string.
	IndexedRepeat(args []Value) Value
}

// catchPanics turns a panic inside Parse or Eval (a bug, or a panicking Env) into an
// error. Tests switch it off to see the panics.
var catchPanics = true

type evalCtx struct {
	env Env
	err error
	loc *time.Location
}

func (c *evalCtx) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func (c *evalCtx) failf(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
}

// location is the local time zone: that of Env.Now.
func (c *evalCtx) location() *time.Location {
	if c.loc == nil {
		c.loc = c.env.Now().Location()
	}
	return c.loc
}

// Eval evaluates the expression. It never panics: where evaluation fails (a bad
// regex pattern, date() of something that is not a date...) the failing function
// yields its fallback (NaN, "" or false) and evaluation goes on. A nil env reads
// nothing (every reference is the empty string).
func (e *Expr) Eval(env Env) Value {
	v, _ := e.EvalErr(env)
	return v
}

// EvalErr is Eval that also returns the first evaluation error. An indexed-repeat()
// out of range, an empty answer or a NaN are not errors.
func (e *Expr) EvalErr(env Env) (v Value, err error) {
	if e == nil || e.root == nil {
		return Value{}, errors.New("expr: nil expression")
	}
	if env == nil {
		env = constEnv{}
	}
	if catchPanics {
		defer func() {
			if r := recover(); r != nil {
				v, err = Value{}, fmt.Errorf("expr: internal error evaluating %q: %v", e.src, r)
			}
		}()
	}
	c := evalCtx{env: env}
	v = c.eval(e.root)
	return v, c.err
}

func (c *evalCtx) eval(n *node) Value {
	// The rare and bulky cases live in functions of their own, so that this
	// frame stays small: it is on the stack once per tree level.
	switch n.op {
	case opLit:
		return n.val
	case opRef:
		return c.env.Ref(n.idx)
	case opPath:
		return c.env.Path(n.path)
	case opCurrent:
		return c.env.Current()
	case opOr:
		for _, a := range n.args {
			if c.eval(a).Bool() {
				return trueV
			}
		}
		return falseV
	case opAnd:
		for _, a := range n.args {
			if !c.eval(a).Bool() {
				return falseV
			}
		}
		return trueV
	case opEq, opNe, opLt, opLe, opGt, opGe:
		return BoolV(c.relation(n))
	case opCall:
		return c.call(n)
	case opUnion:
		return c.union(n)
	}
	return Num(c.arith(n))
}

//go:noinline
func (c *evalCtx) relation(n *node) bool {
	a, b := c.eval(n.args[0]), c.eval(n.args[1])
	// Fast paths for the usual cases: two strings, two numbers, a number and a
	// literal number.
	switch {
	case a.kind == String && b.kind == String && (n.op == opEq || n.op == opNe):
		return (a.str == b.str) != (n.op == opNe)
	case a.kind == Number && b.kind == Number:
		return relNum(n.op, a.num, b.num)
	}
	if n.op == opEq || n.op == opNe {
		return c.equal(a, b, n.op == opNe)
	}
	return c.compare(n.op, a, b)
}

//go:noinline
func (c *evalCtx) arith(n *node) float64 {
	switch n.op {
	case opNeg:
		return -c.num(n.args[0])
	}
	x, y := c.num(n.args[0]), c.num(n.args[1])
	switch n.op {
	case opAdd:
		return x + y
	case opSub:
		return x - y
	case opMul:
		return x * y
	case opDiv:
		return x / y
	case opMod:
		return math.Mod(x, y)
	}
	return math.NaN()
}

//go:noinline
func (c *evalCtx) union(n *node) Value {
	a, b := c.eval(n.args[0]), c.eval(n.args[1])
	nodes := make([]Value, 0, size(a)+size(b))
	nodes = appendNodes(appendNodes(nodes, a), b)
	return Value{kind: NodeSet, nodes: &nodes}
}

// size is the number of nodes of v (1 for a single value).
func size(v Value) int {
	if v.kind == NodeSet {
		return len(v.list())
	}
	return 1
}

// nodeAt is the i-th node of v (v itself for a single value).
func nodeAt(v Value, i int) Value {
	if v.kind == NodeSet {
		return v.list()[i]
	}
	return v
}

func appendNodes(dst []Value, v Value) []Value {
	if v.kind == NodeSet {
		return append(dst, v.list()...)
	}
	return append(dst, v)
}

func isDate(v Value) bool { return v.kind == Date || v.kind == DateTime }

// equal implements = (and != when neg).
func (c *evalCtx) equal(a, b Value, neg bool) bool {
	if a.kind == NodeSet || b.kind == NodeSet {
		if a.kind == Bool || b.kind == Bool {
			return (a.Bool() == b.Bool()) != neg
		}
		for i, na := 0, size(a); i < na; i++ {
			for j, nb := 0, size(b); j < nb; j++ {
				if c.scalarEqual(nodeAt(a, i), nodeAt(b, j)) != neg {
					return true
				}
			}
		}
		return false
	}
	return c.scalarEqual(a, b) != neg
}

func (c *evalCtx) scalarEqual(a, b Value) bool {
	switch {
	case a.kind == Bool || b.kind == Bool:
		return a.Bool() == b.Bool()
	case isDate(a) || isDate(b):
		a, b = c.dateSides(a, b)
		if a.kind == DateTime && b.kind == DateTime {
			return a.num == b.num // the same instant
		}
		return a.Number() == b.Number()
	case a.kind == Number || b.kind == Number:
		return a.Number() == b.Number()
	}
	return a.String() == b.String()
}

// dateSides converts a String compared with a Date or DateTime into a date when it
// is one.
func (c *evalCtx) dateSides(a, b Value) (Value, Value) {
	if a.kind == String {
		if d, err := parseDateString(a.str, c.location()); err == nil {
			a = d
		}
	}
	if b.kind == String {
		if d, err := parseDateString(b.str, c.location()); err == nil {
			b = d
		}
	}
	return a, b
}

// compare implements < <= > >=.
func (c *evalCtx) compare(op opcode, a, b Value) bool {
	if a.kind == NodeSet || b.kind == NodeSet {
		if a.kind == Bool || b.kind == Bool {
			return cmpNum(op, BoolV(a.Bool()).num, BoolV(b.Bool()).num)
		}
		for i, na := 0, size(a); i < na; i++ {
			for j, nb := 0, size(b); j < nb; j++ {
				if c.scalarCompare(op, nodeAt(a, i), nodeAt(b, j)) {
					return true
				}
			}
		}
		return false
	}
	return c.scalarCompare(op, a, b)
}

func (c *evalCtx) scalarCompare(op opcode, a, b Value) bool {
	if isDate(a) || isDate(b) {
		a, b = c.dateSides(a, b)
		if a.kind == DateTime && b.kind == DateTime {
			return cmpNum(op, a.num, b.num) // instants
		}
	}
	return cmpNum(op, a.Number(), b.Number())
}

// relNum applies any relational operator to two numbers.
func relNum(op opcode, x, y float64) bool {
	switch op {
	case opEq:
		return x == y
	case opNe:
		return x != y
	}
	return cmpNum(op, x, y)
}

func cmpNum(op opcode, x, y float64) bool {
	switch op {
	case opLt:
		return x < y
	case opLe:
		return x <= y
	case opGt:
		return x > y
	case opGe:
		return x >= y
	}
	return false
}

// toInt truncates f to an int as Java's intValue does (NaN is 0; clamped to int32).
func toInt(f float64) int {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int(f)
}

func (c *evalCtx) str(n *node) string  { return c.eval(n).String() }
func (c *evalCtx) num(n *node) float64 { return c.eval(n).Number() }

// arg0 evaluates the optional single argument, or the context node.
func (c *evalCtx) arg0(n *node) Value {
	if len(n.args) == 0 {
		return c.env.Current()
	}
	return c.eval(n.args[0])
}

func (c *evalCtx) call(n *node) Value {
	a := n.args
	switch n.fn {
	case fnTrue:
		return trueV
	case fnFalse:
		return falseV
	case fnNot:
		return BoolV(!c.eval(a[0]).Bool())
	case fnBoolean:
		return BoolV(c.eval(a[0]).Bool())
	case fnBooleanFromString:
		return c.cBooleanFromString(n)
	case fnIf:
		return c.cIf(n)
	case fnSelected:
		return BoolV(selected(c.str(a[0]), trimXMLSpace(c.str(a[1]))))
	case fnCountSelected:
		return Num(float64(countFields(c.str(a[0]))))
	case fnSelectedAt:
		return Str(fieldAt(c.str(a[0]), c.num(a[1])))
	case fnChoiceName:
		return c.cChoiceName(n)
	case fnChecklist:
		return c.cChecklist(n)
	case fnWeightedChecklist:
		return c.weightedChecklist(a)
	case fnRegex:
		return c.cRegex(n)
	case fnContains:
		return BoolV(strings.Contains(c.str(a[0]), c.str(a[1])))
	case fnStartsWith:
		return BoolV(strings.HasPrefix(c.str(a[0]), c.str(a[1])))
	case fnEndsWith:
		return BoolV(strings.HasSuffix(c.str(a[0]), c.str(a[1])))
	case fnCoalesce:
		return c.cCoalesce(n)
	case fnConcat:
		return c.cConcat(n)
	case fnJoin:
		return c.cJoin(n)
	case fnSubstr:
		return c.cSubstr(n)
	case fnSubstring:
		return c.cSubstring(n)
	case fnSubstringBefore:
		return c.cSubstringBefore(n)
	case fnSubstringAfter:
		return c.cSubstringAfter(n)
	case fnTranslate:
		return Str(translate(c.str(a[0]), c.str(a[1]), c.str(a[2])))
	case fnNormalizeSpace:
		return Str(strings.Join(strings.Fields(c.arg0(n).String()), " "))
	case fnStringLength:
		return Num(float64(utf8.RuneCountInString(c.arg0(n).String())))
	case fnString:
		return Str(c.arg0(n).String())
	case fnNumber:
		return Num(c.arg0(n).Number())
	case fnInt:
		return Num(math.Trunc(c.num(a[0])))
	case fnRound:
		return c.cRound(n)
	case fnFloor:
		return Num(math.Floor(c.num(a[0])))
	case fnCeiling:
		return Num(math.Ceil(c.num(a[0])))
	case fnAbs:
		return Num(math.Abs(c.num(a[0])))
	case fnPow:
		return Num(math.Pow(c.num(a[0]), c.num(a[1])))
	case fnExp:
		return Num(math.Exp(c.num(a[0])))
	case fnExp10:
		return Num(math.Pow(10, c.num(a[0])))
	case fnLog:
		return Num(math.Log(c.num(a[0])))
	case fnLog10:
		return Num(math.Log10(c.num(a[0])))
	case fnSqrt:
		return Num(math.Sqrt(c.num(a[0])))
	case fnPi:
		return Num(math.Pi)
	case fnSin:
		return Num(math.Sin(c.num(a[0])))
	case fnCos:
		return Num(math.Cos(c.num(a[0])))
	case fnTan:
		return Num(math.Tan(c.num(a[0])))
	case fnAsin:
		return Num(math.Asin(c.num(a[0])))
	case fnAcos:
		return Num(math.Acos(c.num(a[0])))
	case fnAtan:
		return Num(math.Atan(c.num(a[0])))
	case fnAtan2:
		return Num(math.Atan2(c.num(a[0]), c.num(a[1])))
	case fnToday:
		return DateV(c.env.Now())
	case fnNow:
		return DateTimeV(c.env.Now())
	case fnDate:
		return c.toDate(c.eval(a[0]).first(), "date")
	case fnDateTime:
		return c.toDateTime(c.eval(a[0]).first(), "date-time")
	case fnDecimalDateTime:
		return c.cDecimalDateTime(n)
	case fnDecimalTime:
		return c.decimalTime(c.eval(a[0]).first())
	case fnFormatDate, fnFormatDateTime:
		return c.cFormatDate(n)
	case fnPosition:
		return Num(float64(c.env.Position()))
	case fnCount:
		return Num(float64(size(c.eval(a[0]))))
	case fnCountNonEmpty:
		return c.cCountNonEmpty(n)
	case fnSum:
		return c.cSum(n)
	case fnMax, fnMin:
		return c.cMax(n)
	case fnIndexedRepeat:
		return c.cIndexedRepeat(n)
	case fnOnce:
		return c.cOnce(n)
	case fnUUID:
		return c.cUUID(n)
	case fnRandom:
		return Num(rand.Float64())
	case fnDigest:
		return c.cDigest(n)
	case fnBase64Decode:
		return c.cBase64Decode(n)
	case fnArea:
		return c.cArea(n)
	case fnDistance:
		return c.cDistance(n)
	case fnGeofence:
		return c.cGeofence(n)
	}
	return emptyV
}

//go:noinline
func (c *evalCtx) cBooleanFromString(n *node) Value {
	a := n.args
	s := trimXMLSpace(c.str(a[0]))
	return BoolV(strings.EqualFold(s, "true") || s == "1")
}

//go:noinline
func (c *evalCtx) cIf(n *node) Value {
	a := n.args
	if c.eval(a[0]).Bool() {
		return c.eval(a[1])
	}
	return c.eval(a[2])
}

//go:noinline
func (c *evalCtx) cChoiceName(n *node) Value {
	a := n.args
	v := c.str(a[0])
	name := n.name
	if name == "" {
		name = fieldName(c.str(a[1]))
	}
	if v == "" || name == "" {
		return emptyV
	}
	return Str(c.env.ChoiceLabel(name, v))
}

//go:noinline
func (c *evalCtx) cChecklist(n *node) Value {
	a := n.args
	lo, hi := toInt(c.num(a[0])), toInt(c.num(a[1]))
	count := 0
	for _, x := range a[2:] {
		v := c.eval(x)
		for i, k := 0, size(v); i < k; i++ {
			if nodeAt(v, i).Bool() {
				count++
			}
		}
	}
	return BoolV((lo < 0 || count >= lo) && (hi < 0 || count <= hi))
}

//go:noinline
func (c *evalCtx) cRegex(n *node) Value {
	a := n.args
	s := c.str(a[0])
	re, err := n.re, n.reErr
	if re == nil && err == nil {
		re, err = cachedRegex(c.str(a[1]))
	}
	if err != nil {
		c.fail(err)
		return falseV
	}
	return BoolV(re.MatchString(s))
}

//go:noinline
func (c *evalCtx) cCoalesce(n *node) Value {
	a := n.args
	if v := c.eval(a[0]); !v.isEmpty() {
		return v
	}
	return c.eval(a[1])
}

//go:noinline
func (c *evalCtx) cConcat(n *node) Value {
	a := n.args
	var b strings.Builder
	for _, x := range a {
		v := c.eval(x)
		for i, k := 0, size(v); i < k; i++ {
			b.WriteString(nodeAt(v, i).String())
		}
	}
	return Str(b.String())
}

//go:noinline
func (c *evalCtx) cJoin(n *node) Value {
	a := n.args
	sep := c.str(a[0])
	var b strings.Builder
	first := true
	for _, x := range a[1:] {
		v := c.eval(x)
		for i, k := 0, size(v); i < k; i++ {
			if !first {
				b.WriteString(sep)
			}
			first = false
			b.WriteString(nodeAt(v, i).String())
		}
	}
	return Str(b.String())
}

//go:noinline
func (c *evalCtx) cSubstr(n *node) Value {
	a := n.args
	r := []rune(c.str(a[0]))
	start, end := toInt(c.num(a[1])), len(r)
	if len(a) == 3 {
		end = toInt(c.num(a[2]))
	}
	if start < 0 {
		start += len(r)
	}
	if end < 0 {
		end += len(r)
	}
	start, end = min(max(start, 0), len(r)), min(max(end, 0), len(r))
	if start >= end {
		return emptyV
	}
	return Str(string(r[start:end]))
}

//go:noinline
func (c *evalCtx) cSubstring(n *node) Value {
	a := n.args
	s := c.str(a[0])
	first := xround(c.num(a[1]))
	last := math.Inf(1)
	if len(a) == 3 {
		last = first + xround(c.num(a[2]))
	}
	return Str(substring(s, first, last))
}

//go:noinline
func (c *evalCtx) cSubstringBefore(n *node) Value {
	a := n.args
	s, sub := c.str(a[0]), c.str(a[1])
	if i := strings.Index(s, sub); i >= 0 {
		return Str(s[:i])
	}
	return emptyV
}

//go:noinline
func (c *evalCtx) cSubstringAfter(n *node) Value {
	a := n.args
	s, sub := c.str(a[0]), c.str(a[1])
	if i := strings.Index(s, sub); i >= 0 {
		return Str(s[i+len(sub):])
	}
	return emptyV
}

//go:noinline
func (c *evalCtx) cRound(n *node) Value {
	a := n.args
	x := c.num(a[0])
	d := 0
	if len(a) == 2 {
		dn := c.num(a[1])
		if math.IsNaN(dn) {
			return nanV
		}
		d = toInt(dn)
	}
	return Num(roundDecimals(x, d))
}

//go:noinline
func (c *evalCtx) cDecimalDateTime(n *node) Value {
	a := n.args
	v := c.eval(a[0]).first()
	switch v.kind {
	case Number:
		return v
	case String:
		if trimXMLSpace(v.str) == "" {
			return nanV
		}
	}
	d := c.toDateTime(v, "decimal-date-time")
	if d.kind != DateTime {
		return nanV
	}
	return Num(d.Number())
}

//go:noinline
func (c *evalCtx) cFormatDate(n *node) Value {
	a := n.args
	name := "format-date"
	if n.fn == fnFormatDateTime {
		name = "format-date-time"
	}
	v := c.eval(a[0]).first()
	f := c.str(a[1])
	if v.kind == String && trimXMLSpace(v.str) == "" || v.kind == Number && math.IsNaN(v.num) {
		return emptyV
	}
	var d Value
	if v.kind == Date {
		d = v
	} else {
		d = c.toDateTime(v, name)
	}
	if !isDate(d) {
		return emptyV
	}
	s, err := formatDateFields(wall(d), f)
	if err != nil {
		c.failf("%s(): %v", name, err)
		return emptyV
	}
	return Str(s)
}

//go:noinline
func (c *evalCtx) cCountNonEmpty(n *node) Value {
	a := n.args
	v := c.eval(a[0])
	count := 0
	for i, k := 0, size(v); i < k; i++ {
		if nodeAt(v, i).String() != "" {
			count++
		}
	}
	return Num(float64(count))
}

//go:noinline
func (c *evalCtx) cSum(n *node) Value {
	a := n.args
	v := c.eval(a[0])
	sum := 0.0
	for i, k := 0, size(v); i < k; i++ {
		if f := nodeAt(v, i).Number(); !math.IsNaN(f) {
			sum += f
		}
	}
	return Num(sum)
}

//go:noinline
func (c *evalCtx) cMax(n *node) Value {
	a := n.args
	res, any := 0.0, false
	for _, x := range a {
		v := c.eval(x)
		for i, k := 0, size(v); i < k; i++ {
			f := nodeAt(v, i).Number()
			switch {
			case math.IsNaN(f):
			case !any:
				res, any = f, true
			case n.fn == fnMax:
				res = math.Max(res, f)
			default:
				res = math.Min(res, f)
			}
		}
	}
	if !any {
		return nanV
	}
	return Num(res)
}

//go:noinline
func (c *evalCtx) cIndexedRepeat(n *node) Value {
	a := n.args
	args := make([]Value, len(a))
	for i, x := range a {
		if i == 0 || i%2 == 1 {
			args[i] = RefArg(x.idx)
		} else {
			args[i] = Num(c.num(x))
		}
	}
	return c.env.IndexedRepeat(args)
}

//go:noinline
func (c *evalCtx) cOnce(n *node) Value {
	a := n.args
	if cur := c.env.Current(); !cur.isEmpty() {
		return cur
	}
	return c.eval(a[0])
}

//go:noinline
func (c *evalCtx) cUUID(n *node) Value {
	a := n.args
	if len(a) == 0 {
		return Str(c.env.UUID())
	}
	return Str(randomString(toInt(c.num(a[0]))))
}

//go:noinline
func (c *evalCtx) cDigest(n *node) Value {
	a := n.args
	enc := "base64"
	if len(a) == 3 {
		enc = c.str(a[2])
	}
	s, err := digest(c.str(a[0]), c.str(a[1]), enc)
	if err != nil {
		c.fail(err)
		return emptyV
	}
	return Str(s)
}

//go:noinline
func (c *evalCtx) cBase64Decode(n *node) Value {
	a := n.args
	s := trimXMLSpace(c.str(a[0]))
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		var err2 error
		if b, err2 = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err2 != nil {
			c.failf("base64-decode(): %v", err)
			return emptyV
		}
	}
	return Str(strings.ToValidUTF8(string(b), "\uFFFD"))
}

//go:noinline
func (c *evalCtx) cArea(n *node) Value {
	pts, err := c.points(n.args, "area")
	if err != nil {
		c.fail(err)
		return nanV
	}
	return Num(area(pts))
}

//go:noinline
func (c *evalCtx) cDistance(n *node) Value {
	pts, err := c.points(n.args, "distance")
	if err != nil {
		c.fail(err)
		return nanV
	}
	return Num(distance(pts))
}

//go:noinline
func (c *evalCtx) cGeofence(n *node) Value {
	a := n.args
	pt, err := c.points(a[:1], "geofence")
	if err != nil || len(pt) != 1 {
		if err == nil {
			err = errors.New("geofence(): the first argument must be one geopoint")
		}
		c.fail(err)
		return falseV
	}
	shape, err := c.points(a[1:], "geofence")
	if err != nil {
		c.fail(err)
		return falseV
	}
	return BoolV(inPolygon(pt[0], shape))
}

func (c *evalCtx) weightedChecklist(a []*node) Value {
	lo, hi := c.num(a[0]), c.num(a[1])
	sum := 0.0
	if len(a) == 4 {
		f, w := c.eval(a[2]), c.eval(a[3])
		if f.kind == NodeSet && w.kind == NodeSet {
			if len(f.list()) != len(w.list()) {
				c.failf("weighted-checklist(): the node-sets have %d and %d nodes", len(f.list()), len(w.list()))
				return falseV
			}
			for i := range f.list() {
				if f.list()[i].Bool() {
					sum += w.list()[i].Number()
				}
			}
		} else if f.Bool() {
			sum += w.Number()
		}
		return BoolV(sum >= lo && sum <= hi)
	}
	for i := 2; i+1 < len(a); i += 2 {
		if c.eval(a[i]).Bool() {
			sum += c.num(a[i+1])
		}
	}
	return BoolV(sum >= lo && sum <= hi)
}

// toDate converts a value to a Date for date(): numbers are days since 1970-01-01
// (floored), strings dates or date-times, a DateTime its wall-clock date. The empty
// string stays "" and NaN stays NaN (an unanswered question); other values are
// errors, whose fallback is "".
func (c *evalCtx) toDate(v Value, name string) Value {
	switch v.kind {
	case Date:
		return v
	case DateTime:
		return Value{kind: Date, num: math.Floor(v.Number())}
	case Number:
		if math.IsNaN(v.num) {
			return v
		}
		d, err := dateFromDays(v.num)
		if err != nil {
			c.failf("%s(): %v", name, err)
			return emptyV
		}
		return d
	case String:
		if trimXMLSpace(v.str) == "" {
			return emptyV
		}
		d, err := parseDateString(v.str, c.location())
		if err != nil {
			c.failf("%s(): %q is not a date", name, v.str)
			return emptyV
		}
		if d.kind == DateTime {
			return Value{kind: Date, num: math.Floor(d.Number())}
		}
		return d
	}
	c.failf("%s(): a %s is not a date", name, v.kind)
	return emptyV
}

// toDateTime converts a value to a DateTime for date-time() and the functions that
// take one: numbers are decimal days since 1970-01-01T00:00 on the local wall clock,
// a Date is its local midnight.
func (c *evalCtx) toDateTime(v Value, name string) Value {
	switch v.kind {
	case DateTime:
		return v
	case Date:
		d, err := dateTimeFromDays(v.num, c.location())
		if err != nil {
			c.failf("%s(): %v", name, err)
			return emptyV
		}
		return d
	case Number:
		if math.IsNaN(v.num) {
			return v
		}
		d, err := dateTimeFromDays(v.num, c.location())
		if err != nil {
			c.failf("%s(): %v", name, err)
			return emptyV
		}
		return d
	case String:
		if trimXMLSpace(v.str) == "" {
			return emptyV
		}
		d, err := parseDateString(v.str, c.location())
		if err != nil {
			c.failf("%s(): %q is not a date", name, v.str)
			return emptyV
		}
		if d.kind == Date {
			return c.toDateTime(d, name)
		}
		return d
	}
	c.failf("%s(): a %s is not a date", name, v.kind)
	return emptyV
}

// decimalTime is decimal-time(): the fraction of the day of a time, a date-time or a
// number. A time with an offset is moved to the local time zone first.
func (c *evalCtx) decimalTime(v Value) Value {
	switch v.kind {
	case Number:
		return Num(v.num - math.Floor(v.num))
	case Date:
		return Num(0)
	case DateTime:
		f := v.Number()
		return Num(f - math.Floor(f))
	case String:
		if trimXMLSpace(v.str) == "" {
			return nanV
		}
		if h, mi, s, ms, off, hasOff, ok := parseTimeString(v.str); ok {
			secs := float64(h*3600+mi*60+s) + float64(ms)/1000
			if hasOff {
				_, local := c.env.Now().Zone()
				secs += float64(local - off)
			}
			secs = math.Mod(secs, 86400)
			if secs < 0 {
				secs += 86400
			}
			return Num(secs / 86400)
		}
		if d, err := parseDateString(v.str, c.location()); err == nil {
			return c.decimalTime(d)
		}
		c.failf("decimal-time(): %q is not a time", v.str)
		return nanV
	}
	c.failf("decimal-time(): a %s is not a time", v.kind)
	return nanV
}

// fields iterates over the space-separated values of a select_multiple answer.
func nextField(s string, i int) (field string, next int) {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], j
}

func selected(list, v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(list); {
		var f string
		f, i = nextField(list, i)
		if f == v {
			return true
		}
	}
	return false
}

func countFields(list string) int {
	n := 0
	for i := 0; i < len(list); {
		var f string
		f, i = nextField(list, i)
		if f != "" {
			n++
		}
	}
	return n
}

func fieldAt(list string, idx float64) string {
	if math.IsNaN(idx) || idx < 0 {
		return ""
	}
	k := toInt(idx)
	for i := 0; i < len(list); {
		var f string
		f, i = nextField(list, i)
		if f == "" {
			continue
		}
		if k == 0 {
			return f
		}
		k--
	}
	return ""
}

// xround is XPath's round(): the nearest integer, halves towards +∞.
func xround(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	return math.Floor(f + 0.5)
}

// substring is XPath's substring() on runes: the characters at 1-based positions p
// with first <= p < last.
func substring(s string, first, last float64) string {
	if !(first < last) {
		return ""
	}
	r := []rune(s)
	lo, hi := math.Max(first, 1), math.Min(last, float64(len(r)+1))
	if !(lo < hi) {
		return ""
	}
	return string(r[int(lo)-1 : int(hi)-1])
}

func translate(s, from, to string) string {
	fr, tr := []rune(from), []rune(to)
	var b strings.Builder
	for _, r := range s {
		i := -1
		for k, f := range fr {
			if f == r {
				i = k
				break
			}
		}
		switch {
		case i < 0:
			b.WriteRune(r)
		case i < len(tr):
			b.WriteRune(tr[i])
		}
	}
	return b.String()
}

// roundDecimals is round(x, d) as JavaRosa computes it: on the shortest decimal form
// of x, halves away from zero for positive numbers and towards zero for negative
// ones (so always towards +∞, as XPath's round()). |d| > 30 gives NaN.
func roundDecimals(x float64, d int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	if d > 30 || d < -30 {
		return math.NaN()
	}
	if d < 0 {
		p := math.Pow(10, float64(-d))
		return math.Floor(x/p+0.5) * p
	}
	neg := x < 0
	s := strconv.FormatFloat(math.Abs(x), 'f', -1, 64)
	dot := strings.IndexByte(s, '.')
	if dot < 0 || len(s)-dot-1 <= d {
		return x
	}
	digits := []byte(s[:dot] + s[dot+1:dot+1+d])
	rest := s[dot+1+d:]
	up := rest[0] > '5' || rest[0] == '5' && (!neg || strings.TrimRight(rest[1:], "0") != "")
	if up {
		i := len(digits) - 1
		for i >= 0 && digits[i] == '9' {
			digits[i] = '0'
			i--
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		} else {
			digits[i]++
		}
	}
	intLen := len(digits) - d
	f, err := strconv.ParseFloat(string(digits[:intLen])+"."+string(digits[intLen:])+"0", 64)
	if err != nil {
		return math.NaN()
	}
	if neg {
		f = -f
	}
	return f
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString is uuid(n): n random letters and digits (at most 1000).
func randomString(n int) string {
	n = min(max(n, 0), 1000)
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b)
}

func digest(data, alg, enc string) (string, error) {
	var sum []byte
	switch strings.ToUpper(trimXMLSpace(alg)) {
	case "MD5":
		s := md5.Sum([]byte(data))
		sum = s[:]
	case "SHA-1":
		s := sha1.Sum([]byte(data))
		sum = s[:]
	case "SHA-256":
		s := sha256.Sum256([]byte(data))
		sum = s[:]
	case "SHA-384":
		s := sha512.Sum384([]byte(data))
		sum = s[:]
	case "SHA-512":
		s := sha512.Sum512([]byte(data))
		sum = s[:]
	default:
		return "", fmt.Errorf("digest(): unknown algorithm %q (MD5, SHA-1, SHA-256, SHA-384 or SHA-512)", alg)
	}
	switch strings.ToLower(trimXMLSpace(enc)) {
	case "base64":
		return base64.StdEncoding.EncodeToString(sum), nil
	case "hex":
		return hex.EncodeToString(sum), nil
	}
	return "", fmt.Errorf("digest(): unknown encoding %q (base64 or hex)", enc)
}

// A small cache of the regex() patterns that are not literals.
var regexCache struct {
	sync.Mutex
	m map[string]regexEntry
}

type regexEntry struct {
	re  *regexp.Regexp
	err error
}

func cachedRegex(pat string) (*regexp.Regexp, error) {
	regexCache.Lock()
	e, ok := regexCache.m[pat]
	regexCache.Unlock()
	if ok {
		return e.re, e.err
	}
	re, err := compileRegex(pat)
	regexCache.Lock()
	if regexCache.m == nil || len(regexCache.m) >= 256 {
		regexCache.m = make(map[string]regexEntry)
	}
	regexCache.m[pat] = regexEntry{re, err}
	regexCache.Unlock()
	return re, err
}
