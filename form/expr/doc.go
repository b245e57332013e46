// Package expr is the expression engine for XLSForm / ODK XForms expressions: the
// language of relevant, constraint, required, calculation, default, readonly,
// choice_filter and trigger, and of ${field} in labels.
//
// The language is the subset of XPath 1.0 that ODK forms use, with ${name} field
// references, the ODK XForms functions
// (https://getodk.github.io/xforms-spec/#xpath-functions) and JavaRosa's semantics
// where XPath and JavaRosa differ. It uses only the standard library.
//
// Parse compiles an expression once; Eval runs the compiled tree against an Env, the
// caller's view of the form. ${name} references are resolved by the caller once,
// through Refs: Env.Ref receives an index, not a name. Eval of a simple relevant
// such as "${a} = 'yes' and ${b} > 3" does not allocate. Neither Parse nor Eval
// panics on any input; Parse errors are *SyntaxError (byte offset, column and what
// is wrong); evaluation errors yield XPath's fallback values (NaN, "", false) and
// are reported by EvalErr.
//
// # Syntax
//
// Literals are numbers (12, 1.5, .5; no exponent), and strings in '…' or "…" with no
// escapes (a string ends at the next quote of the same kind). Typographic quotes
// (‘ ’ “ ” and the like, which spreadsheets substitute for ' and ") are reported as
// a SyntaxError that says so, rather than guessed at; inside a string they are
// ordinary characters.
//
// References are ${name}, name an XML NCName (unicode letters allowed). ${ name }
// is an error that says to remove the spaces; $name (XPath variables) is rejected.
//
// Location paths: ".", "..", /data/a/b, ../a, a/b, bare names (one relative step),
// @attr and * steps, predicates ([2], [name = ${x}]) after steps, current()/.. and
// current()/../x, and instance('id')/root/item[...] (the first step is then
// "instance('id')"). '//' and axes (child::) are rejected. See Path for how paths
// reach the Env.
//
// Operators, loosest first: or; and; = !=; < <= > >=; + -; * div mod; unary -;
// union |. and, or, div and mod are operators only where an operator can stand, so
// a field named div is still a path. '/' is not division (the error says to use
// div).
//
// # Values and conversions
//
// A Value is a String, Number, Bool, Date, DateTime or NodeSet. A field without an
// answer is Str(""); a date field is a Date, a datetime field a DateTime, a number
// a Number, a select a String (select_multiple: values separated by spaces); a
// field in a repeat read from outside it is a NodeSet of its values.
//
// String to number follows JavaRosa: white space around the number is ignored, a
// ',' is read as the decimal point ("1,5" is 1.5) and only digits, '-' and '.' are
// allowed, so "1e3", "+1", "Infinity" and "" are NaN (XPath 1.0 has no
// exponents either).
//
// Number to string: integers without a decimal point, other numbers in the
// shortest form that reads back exactly (0.1+0.2 is "0.30000000000000004", as
// JavaRosa), never with an exponent (1e21 prints all its digits), NaN "NaN",
// infinities "Infinity" and "-Infinity", -0 "0".
//
// Dates: a Date's number is its day count since 1970-01-01 (today() - 7 is a
// number; date(today() - 7) is a Date again: date() floors a number of days); a
// DateTime's number is decimal days since 1970-01-01T00:00 on its own wall clock.
// A Date prints as YYYY-MM-DD, a DateTime as YYYY-MM-DDTHH:MM:SS.sss+HH:MM. Date
// strings are YYYY-MM-DD, date-time strings YYYY-MM-DDTHH:MM[:SS[.sss]] with an
// optional Z or ±HH[:MM]; one without an offset is on the wall clock of
// Env.Now()'s Location. decimal-date-time(x) is the number of x as a DateTime and
// date-time(n) its inverse; decimal-time(x) is the fraction of the day on the wall
// clock (a time with an offset is moved to the local zone first).
//
// # Comparisons
//
// = and != (XPath 1.0 / JavaRosa): when either side is a node-set the comparison
// is existential (true if any node compares true; an empty node-set compares false
// with everything, for = and for !=), except against a Bool, where the node-set is
// converted to a Bool. Otherwise, if either side is a Bool both are compared as
// Bools; else if either is a Date or DateTime, a String on the other side that is a
// date or date-time is read as one, and both are compared as numbers; else if
// either is a Number both are compared as numbers; else as strings. Two
// DateTimes compare as instants (whatever their offsets); a Date and a DateTime
// compare on the wall clock.
//
// < <= > >= compare numbers (existentially over node-sets), with the same date
// rule: ${d} > '2020-01-01', ${d} > date('2020-01-01') and ${d} > today() all
// compare dates. NaN compares false with everything, so an unanswered number field
// makes ${n} > 3 false and ${n} != 3 true.
//
// # Functions
//
// Supported: true false not boolean boolean-from-string if (lazy) selected
// is-selected count-selected selected-at jr:choice-name (Env.ChoiceLabel) checklist
// weighted-checklist regex contains starts-with ends-with coalesce (lazy) concat join
// substr substring substring-before substring-after translate normalize-space
// string-length string number int round floor ceiling abs pow exp exp10 log log10
// sqrt pi sin cos tan asin acos atan atan2 today now date date-time
// decimal-date-time decimal-time format-date format-date-time position count
// count-non-empty sum max min indexed-repeat (Env.IndexedRepeat) once uuid random
// digest base64-decode area enclosed-area distance geofence current instance.
// FuncNames lists them. Unknown functions and wrong argument counts are
// SyntaxErrors; so are pulldata(), jr:itext(), randomize(), version() and last(),
// with a message saying they are not supported.
//
// Notes on some of them:
//   - jr:choice-name(v, '${q}') asks Env.ChoiceLabel for field "q" (the ${} is
//     stripped; a path such as '/data/q' is passed as written). An unquoted ${q}
//     as second argument also names q.
//   - regex(s, p) matches the whole string (Java's Pattern.matches) with Go's RE2
//     syntax; a literal pattern is compiled once, at Parse. A bad pattern is an
//     evaluation error (false).
//   - selected(list, v) compares v (trimmed) with each space-separated value of
//     list; selected-at is 0-based; count-selected counts the values.
//   - substr(s, start[, end]) is 0-based with end exclusive, negative indexes count
//     from the end (JavaRosa); substring(s, start[, len]) is XPath's, 1-based. Both
//     count Unicode code points, as does string-length.
//   - concat, join, max, min, sum, count, count-non-empty, checklist, area and
//     distance take node-sets and use all their nodes; a single value is a one-node
//     set (count(${x}) is 1). sum, max and min skip values that are not numbers
//     (JavaRosa); max and min of nothing are NaN.
//   - round(x[, digits]) rounds the decimal form of x with halves towards +∞
//     (round(1.005, 2) is 1.01, round(-2.5) is -2); int() truncates.
//   - coalesce(a, b) and once(x) treat "" and NaN as empty. once(x) is Current()
//     when that is not empty, else x.
//   - position(..) and position() are Env.Position(); no other argument is allowed.
//   - format-date and format-date-time know %Y %y %m %n %b %d %e %H %h %M %S %3 %a
//     %W (ISO week) and %%; month and day names are English. Another escape is an
//     evaluation error ("").
//   - digest(data, alg[, enc]): MD5, SHA-1, SHA-256, SHA-384, SHA-512; base64
//     (default) or hex.
//   - area() and distance() read geopoints ("lat lon [alt [acc]]") and
//     geotraces/geoshapes (geopoints separated by ';') and compute as JavaRosa does
//     (a sphere of radius 6,378,100 m); an empty answer adds no point.
//   - uuid(n) is n random letters and digits; uuid() is Env.UUID().
//
// # Caveats
//
// Not supported: pulldata(), jr:itext(), randomize(), version(), last() and the
// other XPath functions not listed above (name(), local-name(), lang(), id()...);
// '//' and axis paths; predicates on anything but path steps; XPath variables;
// exponents in numbers; upper-case()/lower-case() (not ODK).
//
// Paths are not navigated here: the Env answers them (including their predicates,
// which it evaluates per candidate node), so what instance('id')/root/item[...]
// means is up to the caller.
//
// decimal-date-time() counts days on the wall clock, not in UTC as the ODK spec says:
// values differ from Collect's by the UTC offset (differences of two values agree,
// except across a DST change). Dates before year 1 or after 9999 print with more
// digits; dates beyond ±100,000,000 days from 1970 are errors.
//
// Constant() has no Env: a date-time string without an offset in a constant
// expression is read on the wall clock of time.Local.
//
// JavaRosa prints a number with |x| < 1e-12 as "0" and large numbers with an
// exponent; this package prints them exactly. regex() uses RE2: back-references
// and look-arounds in a pattern are evaluation errors. format-date() month and day
// names are not localised.
package expr
