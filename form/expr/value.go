package expr

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of Value. The zero Value is the empty String.
const (
	String   Kind = iota // a string; also a field with no answer (Str(""))
	Number               // an IEEE 754 double
	Bool                 // a boolean
	Date                 // a calendar date (no time, no zone)
	DateTime             // an instant with the UTC offset of its wall clock
	NodeSet              // the values of several nodes, in document order
	RefKind              // a ${name} reference passed to Env.IndexedRepeat
)

var kindNames = [...]string{"string", "number", "boolean", "date", "datetime", "nodeset", "ref"}

// String returns the kind's name: "string", "number", "boolean", "date", "datetime",
// "nodeset" or "ref".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is what an expression computes and what an Env supplies. It is small, is
// passed by value and is immutable (a node-set's slice must not be changed after it
// was given to Nodes).
//
// Representation: a Number holds its float64; a Bool holds 1 or 0; a Date holds its
// day number (days since 1970-01-01); a DateTime holds its instant in Unix
// milliseconds and the UTC offset of its wall clock in seconds. Values can be
// compared with ==, but node-sets then compare by identity: use Equal.
type Value struct {
	kind  Kind
	off   int32    // DateTime: UTC offset in seconds
	num   float64  // Number; Bool 0/1; Date: days since epoch; DateTime: Unix ms; RefKind: index
	str   string   // String
	nodes *[]Value // NodeSet (a pointer keeps Value small)
}

const msPerDay = 86400000

// The range of dates a Value can hold: about ±270,000 years around 1970.
const maxDays = 100_000_000

var (
	trueV  = Value{kind: Bool, num: 1}
	falseV = Value{kind: Bool}
	nanV   = Value{kind: Number, num: math.NaN()}
	emptyV = Value{}
)

// Str returns a String value.
func Str(s string) Value { return Value{str: s} }

// Num returns a Number value.
func Num(f float64) Value { return Value{kind: Number, num: f} }

// BoolV returns a Bool value.
func BoolV(b bool) Value {
	if b {
		return trueV
	}
	return falseV
}

// DateV returns a Date value: the calendar date of t on t's own wall clock (the time
// of day and the location are dropped).
func DateV(t time.Time) Value {
	y, m, d := t.Date()
	return Value{kind: Date, num: float64(daysFromCivil(y, m, d))}
}

// DateTimeV returns a DateTime value: t's instant, to the millisecond, and the UTC
// offset of t's location at that instant (which String prints).
func DateTimeV(t time.Time) Value {
	_, off := t.Zone()
	return Value{kind: DateTime, num: float64(t.UnixMilli()), off: int32(off)}
}

// Nodes returns a NodeSet value holding vs, in order. A NodeSet among vs is replaced
// by its nodes, so node-sets never nest. Nodes() is the empty node-set.
func Nodes(vs ...Value) Value {
	for _, v := range vs {
		if v.kind == NodeSet {
			var flat []Value
			for _, w := range vs {
				if w.kind == NodeSet {
					flat = append(flat, w.list()...)
				} else {
					flat = append(flat, w)
				}
			}
			return Value{kind: NodeSet, nodes: &flat}
		}
	}
	return Value{kind: NodeSet, nodes: &vs}
}

// RefArg returns a RefKind value for Refs()[i]; the engine passes these to
// Env.IndexedRepeat for its ${...} arguments.
func RefArg(i int) Value { return Value{kind: RefKind, num: float64(i)} }

// list returns the nodes of a NodeSet.
func (v Value) list() []Value {
	if v.nodes == nil {
		return nil
	}
	return *v.nodes
}

// Kind returns v's kind.
func (v Value) Kind() Kind { return v.kind }

// RefIndex returns the ref index of a RefKind value (an index into Expr.Refs()).
func (v Value) RefIndex() (int, bool) {
	if v.kind != RefKind {
		return 0, false
	}
	return int(v.num), true
}

// Time returns the time of a Date (midnight UTC of that calendar date) or of a
// DateTime (its instant, in a fixed zone of its UTC offset). ok is false for the
// other kinds.
func (v Value) Time() (t time.Time, ok bool) {
	switch v.kind {
	case Date:
		return time.Unix(int64(v.num)*86400, 0).UTC(), true
	case DateTime:
		return time.UnixMilli(int64(v.num)).In(time.FixedZone("", int(v.off))), true
	}
	return time.Time{}, false
}

// String converts v to a string as XPath's string() does, with JavaRosa's formats:
// numbers as described in the package documentation, booleans "true"/"false", a Date
// "YYYY-MM-DD", a DateTime "YYYY-MM-DDTHH:MM:SS.sss+HH:MM", a node-set the string of
// its first node ("" when empty), a RefKind "".
func (v Value) String() string {
	switch v.kind {
	case String:
		return v.str
	case Number:
		return formatNum(v.num)
	case Bool:
		if v.num != 0 {
			return "true"
		}
		return "false"
	case Date:
		return formatDate(int64(v.num))
	case DateTime:
		return formatDateTime(v.num, v.off)
	case NodeSet:
		if len(v.list()) == 0 {
			return ""
		}
		return v.list()[0].String()
	}
	return ""
}

// Number converts v to a number as XPath's number() does, with JavaRosa's rules: a
// string is trimmed and parsed (see the package documentation; "" and anything not
// a number give NaN), a Bool is 1 or 0, a Date its day number (days since
// 1970-01-01), a DateTime decimal days since 1970-01-01T00:00 on its own wall clock,
// a node-set the number of its first node (NaN when empty).
func (v Value) Number() float64 {
	switch v.kind {
	case String:
		return parseNum(v.str)
	case Number, Bool, Date:
		return v.num
	case DateTime:
		return (v.num + float64(v.off)*1000) / msPerDay
	case NodeSet:
		if len(v.list()) == 0 {
			return math.NaN()
		}
		return v.list()[0].Number()
	}
	return math.NaN()
}

// Bool converts v to a boolean as XPath's boolean() does: a non-empty string, a
// number neither zero nor NaN, any Date or DateTime, a non-empty node-set.
func (v Value) Bool() bool {
	switch v.kind {
	case String:
		return v.str != ""
	case Number, Bool:
		return v.num != 0 && !math.IsNaN(v.num)
	case Date, DateTime:
		return true
	case NodeSet:
		return len(v.list()) > 0
	}
	return false
}

// Nodes returns the nodes of a node-set; a single value is a one-node set. The slice
// must not be modified.
func (v Value) Nodes() []Value {
	if v.kind == NodeSet {
		return v.list()
	}
	return []Value{v}
}

// Equal reports whether v and w are the same value: the same kind and the same
// content (NaN equals NaN; node-sets node by node; a DateTime's instant and
// offset). It is for telling whether a computed value changed.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind || v.off != w.off || v.str != w.str || len(v.list()) != len(w.list()) {
		return false
	}
	if v.num != w.num && !(math.IsNaN(v.num) && math.IsNaN(w.num)) {
		return false
	}
	for i := range v.list() {
		if !v.list()[i].Equal(w.list()[i]) {
			return false
		}
	}
	return true
}

// first returns the first node of a node-set (the empty string if it is empty), or v.
func (v Value) first() Value {
	if v.kind == NodeSet {
		if len(v.list()) == 0 {
			return emptyV
		}
		return v.list()[0]
	}
	return v
}

// isEmpty reports whether v is "no value" for coalesce() and once(): an empty string,
// NaN, or an empty node-set (or one whose first node is empty).
func (v Value) isEmpty() bool {
	v = v.first()
	switch v.kind {
	case String:
		return v.str == ""
	case Number:
		return math.IsNaN(v.num)
	}
	return false
}

// formatNum formats f as XPath/JavaRosa do: integers without a decimal point, other
// numbers in the shortest decimal form that reads back as f, never with an exponent.
func formatNum(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // also -0
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// parseNum converts a string to a number with JavaRosa's rules: surrounding white
// space is ignored, a ',' counts as a decimal point, and only digits, '-' and '.'
// are allowed: "1e3", "+1", "Infinity" and "" are NaN.
func parseNum(s string) float64 {
	s = trimXMLSpace(s)
	if s == "" {
		return math.NaN()
	}
	// Check the form -?d*([.,]d*)? with a digit, so that ParseFloat does not fail
	// (and allocate its error) on the strings that are not numbers.
	comma, digits, point := false, false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '-' && i == 0:
		case (c == '.' || c == ',') && !point:
			point = true
			comma = comma || c == ','
		default:
			return math.NaN()
		}
	}
	if !digits {
		return math.NaN()
	}
	if comma {
		s = strings.ReplaceAll(s, ",", ".")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f // ±Inf or 0, as Java's parseDouble
		}
		return math.NaN()
	}
	return f
}

// trimXMLSpace trims the characters Java's String.trim() trims (all below U+0021).
func trimXMLSpace(s string) string {
	i, j := 0, len(s)
	for i < j && s[i] <= ' ' {
		i++
	}
	for j > i && s[j-1] <= ' ' {
		j--
	}
	return s[i:j]
}
