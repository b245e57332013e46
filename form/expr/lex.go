package expr

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tNum            // 12, 1.5, .5
	tStr            // 'a' or "a"; text is the content
	tRef            // ${name}; text is the name
	tName           // NCName or QName (jr:choice-name); also and/or/div/mod
	tLParen         // (
	tRParen         // )
	tLBrack         // [
	tRBrack         // ]
	tComma          // ,
	tSlash          // /
	tDSlash         // //
	tDot            // .
	tDotDot         // ..
	tAt             // @
	tPipe           // |
	tPlus           // +
	tMinus          // -
	tStar           // *
	tEq             // =
	tNe             // !=
	tLt             // <
	tLe             // <=
	tGt             // >
	tGe             // >=
)

type token struct {
	kind tokKind
	pos  int    // byte offset of the token in the source
	end  int    // byte offset just after it
	text string // tNum: the digits; tStr: the content; tRef, tName: the name
}

// lexer splits an expression into tokens. Errors are reported through err (the
// first one wins) and yield tEOF.
type lexer struct {
	src string
	pos int
	err *SyntaxError
}

func (lx *lexer) fail(pos int, format string, args ...any) token {
	if lx.err == nil {
		lx.err = &SyntaxError{Src: lx.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	lx.pos = len(lx.src)
	return token{kind: tEOF, pos: pos, end: pos}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameStart(r rune) bool {
	return r == '_' || unicode.IsLetter(r)
}

func isNameChar(r rune) bool {
	return r == '_' || r == '-' || r == '.' || r == '\u00B7' || unicode.IsLetter(r) || unicode.IsDigit(r) ||
		unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)
}

// NameLen returns the length of the XML NCName (a field or step name) at the
// start of s, 0 if there is none.
func NameLen(s string) int { return ncName(s) }

// ncName returns the length of the NCName at the start of s (0 if none).
func ncName(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 || !isNameStart(r) {
		return 0
	}
	i := n
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isNameChar(r) {
			break
		}
		i += n
	}
	return i
}

// IsName reports whether s is an XML NCName, the form of a ${name}.
func isNCName(s string) bool { return s != "" && ncName(s) == len(s) }

func (lx *lexer) next() token {
	src := lx.src
	for lx.pos < len(src) && isSpace(src[lx.pos]) {
		lx.pos++
	}
	start := lx.pos
	if start >= len(src) {
		return token{kind: tEOF, pos: start, end: start}
	}
	c := src[start]
	one := func(k tokKind) token {
		lx.pos = start + 1
		return token{kind: k, pos: start, end: start + 1}
	}
	two := func(k tokKind) token {
		lx.pos = start + 2
		return token{kind: k, pos: start, end: start + 2}
	}
	at := func(i int) byte {
		if start+i < len(src) {
			return src[start+i]
		}
		return 0
	}
	switch c {
	case '(':
		return one(tLParen)
	case ')':
		return one(tRParen)
	case '[':
		return one(tLBrack)
	case ']':
		return one(tRBrack)
	case ',':
		return one(tComma)
	case '@':
		return one(tAt)
	case '+':
		return one(tPlus)
	case '-':
		return one(tMinus)
	case '*':
		return one(tStar)
	case '|':
		if at(1) == '|' {
			return lx.fail(start, "unexpected '||' (use or)")
		}
		return one(tPipe)
	case '&':
		return lx.fail(start, "unexpected '&' (use and)")
	case '=':
		if at(1) == '=' {
			return lx.fail(start, "unexpected '==' (use =)")
		}
		return one(tEq)
	case '!':
		if at(1) == '=' {
			return two(tNe)
		}
		return lx.fail(start, "unexpected '!' (use != or not())")
	case '<':
		if at(1) == '=' {
			return two(tLe)
		}
		if at(1) == '>' {
			return lx.fail(start, "unexpected '<>' (use !=)")
		}
		return one(tLt)
	case '>':
		if at(1) == '=' {
			return two(tGe)
		}
		return one(tGt)
	case '/':
		if at(1) == '/' {
			return two(tDSlash)
		}
		return one(tSlash)
	case '.':
		if at(1) == '.' {
			return two(tDotDot)
		}
		if d := at(1); d >= '0' && d <= '9' {
			return lx.number()
		}
		return one(tDot)
	case '\'', '"':
		end := strings.IndexByte(src[start+1:], c)
		if end < 0 {
			return lx.fail(start, "missing closing quote %c", c)
		}
		lx.pos = start + 1 + end + 1
		return token{kind: tStr, pos: start, end: lx.pos, text: src[start+1 : start+1+end]}
	case '$':
		return lx.ref()
	}
	if c >= '0' && c <= '9' {
		return lx.number()
	}
	r, size := utf8.DecodeRuneInString(src[start:])
	switch r {
	case '‘', '’', '“', '”', '„', '‚', '«', '»', '′', '″':
		return lx.fail(start, "typographic quote %c cannot delimit a string: use ' or \"", r)
	}
	if n := ncName(src[start:]); n > 0 {
		end := start + n
		if end < len(src) && src[end] == ':' {
			if end+1 < len(src) && src[end+1] == ':' {
				return lx.fail(start, "axis %q is not supported", src[start:end+2])
			}
			if m := ncName(src[end+1:]); m > 0 {
				end += 1 + m
			}
		}
		lx.pos = end
		return token{kind: tName, pos: start, end: end, text: src[start:end]}
	}
	if r == utf8.RuneError && size <= 1 {
		return lx.fail(start, "invalid UTF-8")
	}
	return lx.fail(start, "unexpected character %q", r)
}

func (lx *lexer) number() token {
	src, start := lx.src, lx.pos
	i := start
	for i < len(src) && src[i] >= '0' && src[i] <= '9' {
		i++
	}
	if i < len(src) && src[i] == '.' && !(i+1 < len(src) && src[i+1] == '.') {
		i++
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
	}
	lx.pos = i
	return token{kind: tNum, pos: start, end: i, text: src[start:i]}
}

// ref lexes ${name}.
func (lx *lexer) ref() token {
	src, start := lx.src, lx.pos
	if start+1 >= len(src) || src[start+1] != '{' {
		if n := ncName(src[start+1:]); n > 0 {
			name := src[start+1 : start+1+n]
			return lx.fail(start, "XPath variables ($%s) are not supported: write ${%s}", name, name)
		}
		return lx.fail(start, "'$' must start a ${name} reference")
	}
	i := start + 2
	for i < len(src) && src[i] != '}' {
		switch src[i] {
		case '$', '(', ')', '\'', '"', ',', '{', '[', ']':
			return lx.fail(start, "unterminated ${ (missing '}')")
		}
		i++
	}
	if i >= len(src) {
		return lx.fail(start, "unterminated ${ (missing '}')")
	}
	name := src[start+2 : i]
	switch {
	case strings.TrimSpace(name) == "":
		return lx.fail(start, "empty ${} reference")
	case isNCName(name):
	case isNCName(strings.TrimSpace(name)):
		return lx.fail(start, "spaces are not allowed inside ${...}: write ${%s}", strings.TrimSpace(name))
	default:
		return lx.fail(start, "invalid field name %q in ${...}", name)
	}
	lx.pos = i + 1
	return token{kind: tRef, pos: start, end: i + 1, text: name}
}

// describe names a token for error messages.
func (t token) describe(src string) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tName:
		return fmt.Sprintf("%q", t.text)
	case tStr, tNum, tRef:
		return src[t.pos:t.end]
	}
	return "'" + src[t.pos:t.end] + "'"
}
