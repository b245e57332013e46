package xlsform

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form"
)

// Tokens of pyxform's expression lexer that make a default dynamic.
const (
	tokOther = iota
	tokMath
	tokUnion
	tokRef
	tokCall
)

var (
	reDateTime = regexp.MustCompile(`^-?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\s+)?(([+-]\d{2}:\d{2})|Z)?`)
	reDate     = regexp.MustCompile(`^-?\d{4}-\d{2}-\d{2}`)
	reTime     = regexp.MustCompile(`^\d{2}:\d{2}:\d{2}(\.\s+)?(([+-]\d{2}:\d{2})|Z)?`)
	reNumber   = regexp.MustCompile(`^(-?\d+\.\d*|-?\.\d+|-?\d+)`)
	reMathWord = regexp.MustCompile(`^( mod | div )`)
	reComp     = regexp.MustCompile(`^(=|!=|<=|>=|<|>)`)
	reBoolWord = regexp.MustCompile(`^( and | or )`)
	reLiteral  = regexp.MustCompile(`^("[^"]*"|'[^']*')`)
	reSpace    = regexp.MustCompile(`^\s+`)
)

// ncNameLen is the length of the XML name at the start of s, 0 if none.
func ncNameLen(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !(r == '_' || unicode.IsLetter(r)) {
		return 0
	}
	i := n
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !(r == '_' || r == '-' || r == '.' || r == '\u00b7' || unicode.IsLetter(r) || unicode.IsDigit(r) ||
			unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)) {
			break
		}
		i += n
	}
	return i
}

// qNameLen is the length of a name with an optional prefix (jr:choice-name).
func qNameLen(s string) int {
	n := ncNameLen(s)
	if n > 0 && n < len(s) && s[n] == ':' {
		if m := ncNameLen(s[n+1:]); m > 0 {
			return n + 1 + m
		}
	}
	return n
}

// nextToken returns the kind and length of the token at the start of s, trying the
// token kinds in the order of pyxform's lexer (the first that matches wins).
func nextToken(s string) (kind, n int) {
	for _, re := range []*regexp.Regexp{reDateTime, reDate, reTime, reNumber} {
		if m := re.FindStringIndex(s); m != nil && m[1] > 0 {
			return tokOther, m[1]
		}
	}
	switch s[0] {
	case '*', '+', '-':
		return tokMath, 1
	}
	if m := reMathWord.FindStringIndex(s); m != nil {
		return tokMath, m[1]
	}
	for _, re := range []*regexp.Regexp{reComp, reBoolWord} {
		if m := re.FindStringIndex(s); m != nil {
			return tokOther, m[1]
		}
	}
	switch {
	case s[0] == '|':
		return tokUnion, 1
	case strings.HasPrefix(s, ".."):
		return tokOther, 2
	case strings.IndexByte("()[{}./,", s[0]) >= 0:
		return tokOther, 1
	}
	if m := reLiteral.FindStringIndex(s); m != nil {
		return tokOther, m[1]
	}
	if m := reSpace.FindStringIndex(s); m != nil {
		return tokOther, m[1]
	}
	if strings.HasPrefix(s, "${") {
		rest := strings.TrimPrefix(s[2:], "last-saved#")
		if n := ncNameLen(rest); n > 0 && n < len(rest) && rest[n] == '}' {
			return tokRef, len(s) - len(rest) + n + 1
		}
	}
	if n := qNameLen(s); n > 0 {
		if n < len(s) && s[n] == '(' {
			return tokCall, n + 1
		}
		if n < len(s) && s[n] == '[' {
			return tokOther, n + 1
		}
		if strings.HasPrefix(s[n:], "://") {
			return tokOther, n + 3
		}
		return tokOther, n
	}
	if strings.HasPrefix(s, "${") {
		return tokOther, 2
	}
	_, size := utf8.DecodeRuneInString(s)
	return tokOther, size
}

// defaultIsDynamic follows pyxform's default_is_dynamic: a default is an expression
// when it has an arithmetic operator, a union, a ${reference} or a function call;
// for dates and locations, a '-' marks a literal.
func defaultIsDynamic(s string, t form.FieldType) bool {
	hyphenLiteral := t == form.TypeDate || t == form.TypeDateTime || t == form.TypeGeo || t == form.TypeGeoTrace || t == form.TypeGeoShape
	for s != "" {
		kind, n := nextToken(s)
		if hyphenLiteral && kind == tokMath && s[0] == '-' {
			return false
		}
		if kind != tokOther {
			return true
		}
		s = s[n:]
	}
	return false
}

// literalDefault writes a literal default in the field's JSON value format. ok is
// false for a type that takes no default value.
func literalDefault(s string, t form.FieldType) (raw json.RawMessage, ok bool) {
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	switch t {
	case form.TypeInteger, form.TypeDecimal, form.TypeRange:
		if _, err := strconv.ParseFloat(s, 64); err == nil && json.Valid([]byte(s)) {
			return json.RawMessage(s), true
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			b, _ := json.Marshal(n)
			return b, true
		}
		return str(s), true // not a number: the template check says so
	case form.TypeMultiChoice, form.TypeRank:
		b, _ := json.Marshal(append([]string{}, strings.Fields(s)...))
		return b, true
	case form.TypeGeo, form.TypeGeoTrace, form.TypeGeoShape:
		if v, ok := form.XFormGeoValue(t, s); ok {
			return v, true
		}
		return str(s), true
	case form.TypeTime:
		// A time typed into a spreadsheet cell can arrive as the fraction of a day.
		if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 && n < 1 {
			secs := int(n*86400 + 0.5)
			return str(fmt.Sprintf("%02d:%02d:%02d", secs/3600%24, secs/60%60, secs%60)), true
		}
		return str(s), true
	case form.TypeDate:
		// A date typed into a spreadsheet cell can arrive as its serial number.
		if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 1 && n < 2958466 && n == float64(int(n)) {
			if d, ok := excelDate(n, false); ok {
				return str(d), true
			}
		}
		if len(s) > 10 && reDate.MatchString(s) && (strings.HasSuffix(s, " 00:00:00") || strings.HasSuffix(s, "T00:00:00")) {
			s = s[:10]
		}
		return str(s), true
	case form.TypePhoto, form.TypeFile, form.TypeAudio, form.TypeVideo, form.TypeSignature,
		form.TypeNote, form.TypeGroup, form.TypeRepeat:
		return nil, false
	}
	return str(s), true
}
