package xform

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form/expr"
)

// XPath expressions of XForms are rewritten, not evaluated, here: the location
// paths in them are found and replaced (an absolute path to a field by ${name},
// for example), and the rest is copied as written. The lexer is permissive: what
// it does not know it copies, and the template's own check reports it.

type tkind uint8

const (
	tkEOF tkind = iota
	tkName
	tkNum
	tkStr
	tkRef // ${name}
	tkSlash
	tkDSlash
	tkDot
	tkDotDot
	tkAt
	tkStar
	tkLParen
	tkRParen
	tkLBrack
	tkRBrack
	tkComma
	tkOp // = != < <= > >= + - |
	tkOther
)

type xtok struct {
	kind     tkind
	pos, end int
	text     string
}

func lexXPath(src string) []xtok {
	var toks []xtok
	i := 0
	for i < len(src) {
		c := src[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		start := i
		add := func(k tkind, n int) {
			toks = append(toks, xtok{kind: k, pos: start, end: start + n, text: src[start : start+n]})
			i = start + n
		}
		next := byte(0)
		if i+1 < len(src) {
			next = src[i+1]
		}
		switch {
		case c == '/' && next == '/':
			add(tkDSlash, 2)
		case c == '/':
			add(tkSlash, 1)
		case c == '.' && next == '.':
			add(tkDotDot, 2)
		case c == '.' && next >= '0' && next <= '9', c >= '0' && c <= '9':
			j := i
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			if j < len(src) && src[j] == '.' && !(j+1 < len(src) && src[j+1] == '.') {
				j++
				for j < len(src) && src[j] >= '0' && src[j] <= '9' {
					j++
				}
			}
			add(tkNum, j-i)
		case c == '.':
			add(tkDot, 1)
		case c == '@':
			add(tkAt, 1)
		case c == '*':
			add(tkStar, 1)
		case c == '(':
			add(tkLParen, 1)
		case c == ')':
			add(tkRParen, 1)
		case c == '[':
			add(tkLBrack, 1)
		case c == ']':
			add(tkRBrack, 1)
		case c == ',':
			add(tkComma, 1)
		case c == '!' && next == '=', c == '<' && next == '=', c == '>' && next == '=':
			add(tkOp, 2)
		case c == '=', c == '<', c == '>', c == '+', c == '-', c == '|':
			add(tkOp, 1)
		case c == '\'' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				add(tkOther, len(src)-i)
				continue
			}
			add(tkStr, j+2)
		case c == '$' && next == '{':
			j := strings.IndexByte(src[i:], '}')
			if j < 0 {
				add(tkOther, len(src)-i)
				continue
			}
			add(tkRef, j+1)
		default:
			if n := qnameLen(src[i:]); n > 0 {
				add(tkName, n)
				continue
			}
			_, size := utf8.DecodeRuneInString(src[i:])
			add(tkOther, size)
		}
	}
	return toks
}

// qnameLen is the length of a name with an optional prefix (jr:choice-name).
func qnameLen(s string) int {
	n := expr.NameLen(s)
	if n > 0 && n+1 < len(s) && s[n] == ':' {
		if m := expr.NameLen(s[n+1:]); m > 0 {
			return n + 1 + m
		}
	}
	return n
}

// xpath is a location path found in an expression.
type xpath struct {
	Absolute bool
	// Head is "", "current()" or "instance('id')" (then Instance is the id).
	Head     string
	Instance string
	// Steps are names, ".", "..", "*" or "@name".
	Steps []string
	// Preds are the predicates of each step (rewritten), by step index; those of the
	// head are under -1.
	Preds map[int][]string
	// Descendant is set when the path uses '//'.
	Descendant bool
}

func (p *xpath) hasPreds() bool { return len(p.Preds) > 0 }

// String writes the path in XPath syntax.
func (p *xpath) String() string {
	var b strings.Builder
	b.WriteString(p.Head)
	for _, pr := range p.Preds[-1] {
		b.WriteString("[" + pr + "]")
	}
	for i, s := range p.Steps {
		if i > 0 || p.Absolute || p.Head != "" {
			b.WriteByte('/')
		}
		b.WriteString(s)
		for _, pr := range p.Preds[i] {
			b.WriteString("[" + pr + "]")
		}
	}
	if p.Absolute && len(p.Steps) == 0 {
		return "/"
	}
	return b.String()
}

// pathFunc replaces a path found in an expression; inPred says the path is inside
// a predicate (where relative paths start at the filtered node: an item's columns,
// for a path into a secondary instance).
type pathFunc func(p *xpath, inPred bool) (string, error)

// rewriter copies an expression, replacing its paths.
type rewriter struct {
	src  string
	toks []xtok
	i    int
	fn   pathFunc
	// choiceName is called for the second argument of jr:choice-name when it is a
	// string literal: the path of the select, in quotes.
	choiceName func(lit string) (string, error)
	err        error
}

var errUnsupported = errors.New("unsupported")

// rewriteXPath replaces every location path of src by what fn returns. The first
// error of fn is returned.
func rewriteXPath(src string, fn pathFunc, choiceName func(string) (string, error)) (string, error) {
	rw := &rewriter{src: src, toks: lexXPath(src), fn: fn, choiceName: choiceName}
	var b strings.Builder
	rw.run(&b, false, false)
	if rw.err != nil {
		return "", rw.err
	}
	return b.String(), nil
}

func (rw *rewriter) peek(k int) xtok {
	if rw.i+k < len(rw.toks) {
		return rw.toks[rw.i+k]
	}
	return xtok{kind: tkEOF, pos: len(rw.src), end: len(rw.src)}
}

func (rw *rewriter) fail(err error) {
	if rw.err == nil {
		rw.err = err
	}
}

// gap is the white space before token i, as written.
func (rw *rewriter) gap(i int) string {
	if i <= 0 || i > len(rw.toks) {
		if i == 0 && len(rw.toks) > 0 {
			return rw.src[:rw.toks[0].pos]
		}
		return ""
	}
	end := len(rw.src)
	if i < len(rw.toks) {
		end = rw.toks[i].pos
	}
	return rw.src[rw.toks[i-1].end:end]
}

func isOperatorName(s string) bool { return s == "and" || s == "or" || s == "div" || s == "mod" }

// call is a function call being copied: its name and which argument is current.
type call struct {
	name string
	arg  int
	// depth of parentheses inside the call's argument list
	paren int
}

// run copies tokens up to the end, or (inPred) up to the closing ']' of a
// predicate, which it leaves for the caller. inItem says relative paths are an
// item's columns.
func (rw *rewriter) run(b *strings.Builder, inPred, inItem bool) {
	expect := true // an operand may start here
	var calls []call
	parens := 0
	for rw.i < len(rw.toks) && rw.err == nil {
		t := rw.peek(0)
		if inPred && t.kind == tkRBrack {
			return
		}
		if expect && rw.pathStarts() {
			b.WriteString(rw.gap(rw.i))
			p, ok := rw.path(inItem)
			if !ok {
				return
			}
			s, err := rw.fn(p, inItem)
			if err != nil {
				rw.fail(err)
				return
			}
			b.WriteString(s)
			expect = false
			continue
		}
		b.WriteString(rw.gap(rw.i))
		rw.i++
		switch t.kind {
		case tkName:
			if expect && rw.peek(0).kind == tkLParen {
				b.WriteString(t.text)
				b.WriteString(rw.gap(rw.i))
				b.WriteString("(")
				rw.i++
				calls = append(calls, call{name: t.text})
				expect = true
				continue
			}
			b.WriteString(t.text)
			expect = !expect && isOperatorName(t.text)
		case tkStr:
			if n := len(calls); n > 0 && calls[n-1].name == "jr:choice-name" && calls[n-1].arg == 1 && calls[n-1].paren == 0 && rw.choiceName != nil {
				s, err := rw.choiceName(t.text)
				if err != nil {
					rw.fail(err)
					return
				}
				b.WriteString(s)
			} else {
				b.WriteString(t.text)
			}
			expect = false
		case tkNum, tkRef:
			b.WriteString(t.text)
			expect = false
		case tkLParen:
			b.WriteString("(")
			if n := len(calls); n > 0 {
				calls[n-1].paren++
			} else {
				parens++
			}
			expect = true
		case tkRParen:
			b.WriteString(")")
			if n := len(calls); n > 0 {
				if calls[n-1].paren > 0 {
					calls[n-1].paren--
				} else {
					calls = calls[:n-1]
				}
			}
			expect = false
		case tkComma:
			b.WriteString(",")
			if n := len(calls); n > 0 && calls[n-1].paren == 0 {
				calls[n-1].arg++
			}
			expect = true
		case tkLBrack:
			// A predicate on a parenthesised expression or a function's result.
			b.WriteString("[")
			rw.run(b, true, inItem)
			if rw.peek(0).kind == tkRBrack {
				b.WriteString(rw.gap(rw.i))
				b.WriteString("]")
				rw.i++
			}
			expect = false
		case tkSlash, tkDSlash:
			// A path step after a parenthesised expression: (a | b)/c.
			rw.fail(errors.New("a path after a parenthesised expression is not supported"))
			return
		default:
			b.WriteString(t.text)
			expect = true
		}
	}
}

// pathStarts reports whether a location path starts at the current token.
func (rw *rewriter) pathStarts() bool {
	t := rw.peek(0)
	switch t.kind {
	case tkSlash, tkDSlash, tkDot, tkDotDot, tkAt, tkStar:
		return true
	case tkName:
		if rw.peek(1).kind != tkLParen {
			return true
		}
		if t.text == "current" && rw.peek(2).kind == tkRParen {
			return true
		}
		if t.text == "instance" && rw.peek(2).kind == tkStr && rw.peek(3).kind == tkRParen {
			return true
		}
	}
	return false
}

// path reads a location path.
func (rw *rewriter) path(inItem bool) (*xpath, bool) {
	p := &xpath{Preds: map[int][]string{}}
	t := rw.peek(0)
	switch {
	case t.kind == tkName && t.text == "current" && rw.peek(1).kind == tkLParen && rw.peek(2).kind == tkRParen:
		p.Head = "current()"
		rw.i += 3
	case t.kind == tkName && t.text == "instance" && rw.peek(1).kind == tkLParen && rw.peek(2).kind == tkStr && rw.peek(3).kind == tkRParen:
		lit := rw.peek(2)
		p.Head = "instance(" + rw.src[lit.pos:lit.end] + ")"
		p.Instance = lit.text
		rw.i += 4
	case t.kind == tkSlash:
		p.Absolute = true
		rw.i++
	case t.kind == tkDSlash:
		p.Absolute, p.Descendant = true, true
		rw.i++
	}
	needStep := p.Head == ""
	if p.Head != "" && !rw.preds(p, -1) {
		return nil, false
	}
	for {
		if p.Head != "" || p.Absolute || len(p.Steps) > 0 {
			if !needStep {
				switch rw.peek(0).kind {
				case tkSlash:
					rw.i++
				case tkDSlash:
					p.Descendant = true
					rw.i++
				default:
					return p, true
				}
			}
		}
		needStep = false
		t := rw.peek(0)
		switch t.kind {
		case tkName:
			if isOperatorName(t.text) && p.Absolute && len(p.Steps) == 0 && rw.peek(1).kind != tkSlash {
				// "/ and x" is not a path step; treat "/" as the root.
				return p, true
			}
			p.Steps = append(p.Steps, t.text)
			rw.i++
		case tkDot, tkDotDot, tkStar:
			p.Steps = append(p.Steps, t.text)
			rw.i++
		case tkAt:
			n := rw.peek(1)
			if n.kind != tkName && n.kind != tkStar {
				rw.fail(errors.New("'@' without an attribute name"))
				return nil, false
			}
			p.Steps = append(p.Steps, "@"+n.text)
			rw.i += 2
		default:
			if p.Absolute && len(p.Steps) == 0 {
				return p, true // "/" alone: the root
			}
			rw.fail(errors.New("a path ends with '/'"))
			return nil, false
		}
		if !rw.preds(p, len(p.Steps)-1) {
			return nil, false
		}
	}
}

// preds reads the predicates after a step.
func (rw *rewriter) preds(p *xpath, step int) bool {
	for rw.peek(0).kind == tkLBrack {
		rw.i++
		// Relative paths in a predicate start at the node it filters, never at the
		// expression's context.
		var b strings.Builder
		rw.run(&b, true, true)
		if rw.err != nil {
			return false
		}
		if rw.peek(0).kind != tkRBrack {
			rw.fail(errors.New("a '[' without its ']'"))
			return false
		}
		rw.i++
		p.Preds[step] = append(p.Preds[step], strings.TrimSpace(b.String()))
	}
	return true
}
