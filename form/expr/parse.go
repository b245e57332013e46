package expr

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SyntaxError is the error of Parse: where in the expression, and what.
type SyntaxError struct {
	Src string // the expression
	Pos int    // byte offset of the problem in Src
	Msg string // what is wrong, e.g. "unexpected ')'"
}

// Column returns the 1-based column (in runes) of Pos.
func (e *SyntaxError) Column() int {
	p := min(max(e.Pos, 0), len(e.Src))
	return utf8.RuneCountInString(e.Src[:p]) + 1
}

// Error returns e.g. `column 8: unexpected ')' in "${a} > )"`.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("column %d: %s in %q", e.Column(), e.Msg, e.Src)
}

// Path is an XPath location path used by an expression.
type Path struct {
	// Absolute is true for a path that starts with "/".
	Absolute bool
	// Steps are the names, "." and ".." of the path: /data/group/q is
	// ["data","group","q"], ../q is ["..","q"], "." is ["."]. A name may be a QName
	// (jr:x), "@name" for an attribute, or "*". "." steps inside a longer path are
	// dropped (a/./b is ["a","b"]). Two forms may come first:
	// "instance('id')", for a path into a secondary instance, and "current()", the
	// context node of the expression that holds a predicate (only in the paths of a
	// Predicate's Expr: outside predicates current()/x is the relative path x).
	Steps []string
	// Predicates are the [...] filters of the steps, in source order.
	Predicates []Predicate
}

// Predicate is a [...] filter after a step of a Path.
type Predicate struct {
	// Step is the index in Path.Steps of the step the predicate follows.
	Step int
	// Expr is the predicate, compiled on its own (its own Refs and Paths). The Env
	// evaluates it once for each candidate node, with an Env whose Current() and
	// relative paths are that node; [3] is a number (Expr.Constant gives it), any
	// other value is converted with Value.Bool. current() in it is the Path
	// {Steps: ["current()"]}, and position() is the Env's Position(): the
	// candidate's position, for an Env that answers for the candidate.
	Expr *Expr
}

// String returns the path in XPath syntax.
func (p Path) String() string {
	var b strings.Builder
	if p.Absolute {
		b.WriteByte('/')
	}
	for i, s := range p.Steps {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
		for _, pr := range p.Predicates {
			if pr.Step == i && pr.Expr != nil {
				b.WriteByte('[')
				b.WriteString(pr.Expr.src)
				b.WriteByte(']')
			}
		}
	}
	return b.String()
}

// Expr is a parsed expression. It is immutable and safe for concurrent use.
type Expr struct {
	src         string
	root        *node
	refs        []string
	paths       []Path
	funcs       []string
	usesCurrent bool
	constant    bool
	constVal    Value
}

// String returns the source of the expression, as given to Parse.
func (e *Expr) String() string { return e.src }

// Refs returns the names used as ${name} (including inside predicates), unique, in
// order of first appearance. Env.Ref(i) is asked for Refs()[i].
func (e *Expr) Refs() []string { return slices.Clone(e.refs) }

// Paths returns the location paths the expression reads, unique, in order of first
// appearance ("." included; the paths inside predicates are in the predicates'
// Exprs).
func (e *Expr) Paths() []Path { return slices.Clone(e.paths) }

// Funcs returns the names of the functions called, unique, in order of first
// appearance (e.g. "if", "jr:choice-name").
func (e *Expr) Funcs() []string { return slices.Clone(e.funcs) }

// UsesCurrent reports whether the expression reads the context node: ".", current(),
// once(), or string(), number(), string-length(), normalize-space() without argument.
func (e *Expr) UsesCurrent() bool { return e.usesCurrent }

// Constant returns the value of an expression that reads nothing from its Env: no
// ${ref}, path, context node, clock, random, uuid or choice label.
func (e *Expr) Constant() (Value, bool) { return e.constVal, e.constant }

type opcode uint8

const (
	opLit     opcode = iota
	opRef            // idx: ref index
	opPath           // path, idx: index in Paths()
	opCurrent        // "." and current(): Env.Current()
	opOr             // n-ary
	opAnd            // n-ary
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opNeg
	opUnion
	opCall
)

type node struct {
	op    opcode
	fn    fnID
	pos   int
	idx   int
	val   Value
	path  Path
	args  []*node
	name  string         // jr:choice-name: the field named by a literal second argument
	re    *regexp.Regexp // regex: the compiled literal pattern
	reErr error          // regex: why the literal pattern does not compile
}

// maxNesting bounds parentheses, function calls, unary minus and predicates inside
// each other; maxHeight bounds the height of the compiled tree.
const (
	maxNesting = 200
	maxHeight  = 1000
	maxLen     = 1 << 20
)

// scope collects what one expression (the whole one, or a predicate) uses.
type scope struct {
	refs        []string
	paths       []Path
	pathKeys    []string
	funcs       []string
	usesCurrent bool
	nonConst    bool
	inPred      bool
	outer       *scope
}

func (s *scope) ref(name string) int {
	for o := s.outer; o != nil; o = o.outer {
		o.addRef(name)
	}
	return s.addRef(name)
}

func (s *scope) addRef(name string) int {
	if i := slices.Index(s.refs, name); i >= 0 {
		return i
	}
	s.refs = append(s.refs, name)
	return len(s.refs) - 1
}

func (s *scope) fn(name string) {
	for o := s; o != nil; o = o.outer {
		if !slices.Contains(o.funcs, name) {
			o.funcs = append(o.funcs, name)
		}
	}
}

func (s *scope) path(p Path) int {
	key := p.String()
	if i := slices.Index(s.pathKeys, key); i >= 0 {
		return i
	}
	s.paths = append(s.paths, p)
	s.pathKeys = append(s.pathKeys, key)
	return len(s.paths) - 1
}

// current marks a use of current(), which always means the outermost context node.
func (s *scope) current() {
	for o := s; o != nil; o = o.outer {
		o.usesCurrent = true
		o.nonConst = true
	}
}

type parser struct {
	src   string
	lx    lexer
	tok   token
	sc    *scope
	depth int
	err   *SyntaxError
}

// bail is panicked with to unwind the parser on the first error; Parse recovers it.
type bail struct{}

func (p *parser) failAt(pos int, format string, args ...any) {
	if p.err == nil {
		p.err = &SyntaxError{Src: p.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	panic(bail{})
}

func (p *parser) advance() {
	p.tok = p.lx.next()
	if p.lx.err != nil {
		p.err = p.lx.err
		panic(bail{})
	}
}

func (p *parser) unexpected() {
	t := p.tok
	switch t.kind {
	case tEOF:
		p.failAt(t.pos, "unexpected end of expression")
	case tSlash:
		p.failAt(t.pos, "unexpected '/' (use div to divide)")
	}
	p.failAt(t.pos, "unexpected %s", t.describe(p.src))
}

func (p *parser) expect(k tokKind, what string) {
	if p.tok.kind != k {
		if p.tok.kind == tEOF {
			p.failAt(p.tok.pos, "missing %s", what)
		}
		p.failAt(p.tok.pos, "expected %s, found %s", what, p.tok.describe(p.src))
	}
	p.advance()
}

func (p *parser) enter(pos int) {
	p.depth++
	if p.depth > maxNesting {
		p.failAt(pos, "expression nested too deeply")
	}
}

func (p *parser) leave() { p.depth-- }

// Parse reads one expression. Its errors are *SyntaxError.
func Parse(src string) (e *Expr, err error) {
	if len(src) > maxLen {
		return nil, &SyntaxError{Src: src, Pos: 0, Msg: "expression longer than 1 MiB"}
	}
	p := &parser{src: src, lx: lexer{src: src}, sc: &scope{}}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bail); !ok {
				if !catchPanics {
					panic(r)
				}
				p.err = &SyntaxError{Src: src, Pos: 0, Msg: fmt.Sprintf("internal error: %v", r)}
			}
			e, err = nil, p.err
		}
	}()
	p.advance()
	if p.tok.kind == tEOF {
		p.failAt(0, "empty expression")
	}
	root := p.parseExpr()
	if p.tok.kind != tEOF {
		if p.tok.kind == tRParen {
			p.failAt(p.tok.pos, "unexpected ')' (unbalanced parentheses)")
		}
		p.unexpected()
	}
	return p.finish(src, root, p.sc), nil
}

func (p *parser) finish(src string, root *node, sc *scope) *Expr {
	e := &Expr{src: src, root: root, refs: sc.refs, paths: sc.paths, funcs: sc.funcs,
		usesCurrent: sc.usesCurrent}
	if !sc.nonConst {
		e.constant = true
		e.constVal = e.Eval(nil)
	}
	return e
}

func (n *node) height() int {
	if len(n.args) == 0 {
		return 1
	}
	h := 0
	for _, a := range n.args {
		if a.op == opLit || a.op == opRef || a.op == opPath || a.op == opCurrent {
			h = max(h, 1)
			continue
		}
		h = max(h, int(a.idx))
	}
	return h + 1
}

// binary builds an operator node and keeps the tree's height bounded. For operator
// nodes idx caches the height.
func (p *parser) binary(op opcode, pos int, args ...*node) *node {
	n := &node{op: op, pos: pos, args: args}
	n.idx = n.height()
	if n.idx > maxHeight {
		p.failAt(pos, "expression too long")
	}
	return n
}

func (p *parser) isKeyword(kw string) bool { return p.tok.kind == tName && p.tok.text == kw }

func (p *parser) parseExpr() *node { return p.parseOr() }

func (p *parser) parseOr() *node {
	left := p.parseAnd()
	if !p.isKeyword("or") {
		return left
	}
	args := []*node{left}
	pos := p.tok.pos
	for p.isKeyword("or") {
		p.advance()
		args = append(args, p.parseAnd())
	}
	return p.binary(opOr, pos, args...)
}

func (p *parser) parseAnd() *node {
	left := p.parseEq()
	if !p.isKeyword("and") {
		return left
	}
	args := []*node{left}
	pos := p.tok.pos
	for p.isKeyword("and") {
		p.advance()
		args = append(args, p.parseEq())
	}
	return p.binary(opAnd, pos, args...)
}

func (p *parser) parseEq() *node {
	left := p.parseRel()
	for {
		var op opcode
		switch p.tok.kind {
		case tEq:
			op = opEq
		case tNe:
			op = opNe
		default:
			return left
		}
		pos := p.tok.pos
		p.advance()
		left = p.binary(op, pos, left, p.parseRel())
	}
}

func (p *parser) parseRel() *node {
	left := p.parseAdd()
	for {
		var op opcode
		switch p.tok.kind {
		case tLt:
			op = opLt
		case tLe:
			op = opLe
		case tGt:
			op = opGt
		case tGe:
			op = opGe
		default:
			return left
		}
		pos := p.tok.pos
		p.advance()
		left = p.binary(op, pos, left, p.parseAdd())
	}
}

func (p *parser) parseAdd() *node {
	left := p.parseMul()
	for {
		var op opcode
		switch p.tok.kind {
		case tPlus:
			op = opAdd
		case tMinus:
			op = opSub
		default:
			return left
		}
		pos := p.tok.pos
		p.advance()
		left = p.binary(op, pos, left, p.parseMul())
	}
}

func (p *parser) parseMul() *node {
	left := p.parseUnary()
	for {
		var op opcode
		switch {
		case p.tok.kind == tStar:
			op = opMul
		case p.isKeyword("div"):
			op = opDiv
		case p.isKeyword("mod"):
			op = opMod
		default:
			return left
		}
		pos := p.tok.pos
		p.advance()
		left = p.binary(op, pos, left, p.parseUnary())
	}
}

func (p *parser) parseUnary() *node {
	if p.tok.kind == tMinus {
		pos := p.tok.pos
		p.enter(pos)
		p.advance()
		operand := p.parseUnary()
		p.leave()
		if operand.op == opLit && operand.val.kind == Number {
			return &node{op: opLit, pos: pos, val: Num(-operand.val.num)}
		}
		return p.binary(opNeg, pos, operand)
	}
	return p.parseUnion()
}

func (p *parser) parseUnion() *node {
	left := p.parsePathExpr()
	for p.tok.kind == tPipe {
		pos := p.tok.pos
		p.advance()
		left = p.binary(opUnion, pos, left, p.parsePathExpr())
	}
	return left
}

// parsePathExpr reads a primary expression or a location path.
func (p *parser) parsePathExpr() *node {
	t := p.tok
	switch t.kind {
	case tNum:
		p.advance()
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.failAt(t.pos, "bad number %q", t.text)
		}
		return &node{op: opLit, pos: t.pos, val: Num(f)}
	case tStr:
		p.advance()
		return &node{op: opLit, pos: t.pos, val: Str(t.text)}
	case tRef:
		p.advance()
		idx := p.sc.ref(t.text)
		p.sc.nonConst = true
		if p.tok.kind == tSlash || p.tok.kind == tDSlash {
			p.failAt(p.tok.pos, "unexpected '/' after ${%s} (use div to divide; a ${name} cannot start a path)", t.text)
		}
		if p.tok.kind == tLBrack {
			p.failAt(p.tok.pos, "predicates [...] are supported only after path steps")
		}
		return &node{op: opRef, pos: t.pos, idx: idx, name: t.text}
	case tLParen:
		p.enter(t.pos)
		p.advance()
		if p.tok.kind == tRParen {
			p.failAt(p.tok.pos, "empty parentheses")
		}
		n := p.parseExpr()
		if p.tok.kind != tRParen {
			if p.tok.kind == tEOF {
				p.failAt(t.pos, "missing ')' for this '('")
			}
			p.failAt(p.tok.pos, "expected ')', found %s", p.tok.describe(p.src))
		}
		p.advance()
		p.leave()
		if p.tok.kind == tLBrack {
			p.failAt(p.tok.pos, "predicates [...] are supported only after path steps")
		}
		if p.tok.kind == tSlash || p.tok.kind == tDSlash {
			p.failAt(p.tok.pos, "a path cannot start with a parenthesised expression")
		}
		return n
	case tName:
		// A name followed by '(' is a function call, else a path step.
		save := p.lx.pos
		p.advance()
		if p.tok.kind == tLParen {
			return p.parseCall(t)
		}
		p.lx.pos, p.tok = save, t
		return p.parsePath()
	case tSlash, tDot, tDotDot, tAt, tStar, tDSlash:
		return p.parsePath()
	}
	p.unexpected()
	return nil
}

// parsePath reads a location path starting at the current token.
func (p *parser) parsePath() *node {
	start := p.tok.pos
	var path Path
	switch p.tok.kind {
	case tDSlash:
		p.failAt(p.tok.pos, "'//' (descendant paths) is not supported")
	case tSlash:
		path.Absolute = true
		p.advance()
		if !p.stepStarts() {
			// "/" alone: the root.
			return p.pathNode(start, path)
		}
	}
	p.parseSteps(&path)
	return p.pathNode(start, path)
}

func (p *parser) stepStarts() bool {
	switch p.tok.kind {
	case tName, tDot, tDotDot, tAt, tStar:
		return true
	}
	return false
}

// parseSteps reads step ('/' step)* into path.
func (p *parser) parseSteps(path *Path) {
	for {
		p.parseStep(path)
		switch p.tok.kind {
		case tSlash:
			p.advance()
		case tDSlash:
			p.failAt(p.tok.pos, "'//' (descendant paths) is not supported")
		default:
			return
		}
	}
}

func (p *parser) parseStep(path *Path) {
	t := p.tok
	var step string
	switch t.kind {
	case tDot:
		step = "."
	case tDotDot:
		step = ".."
	case tStar:
		step = "*"
	case tName:
		step = t.text
	case tAt:
		p.advance()
		if p.tok.kind != tName {
			p.failAt(p.tok.pos, "expected an attribute name after '@'")
		}
		step = "@" + p.tok.text
	default:
		if t.kind == tEOF {
			p.failAt(t.pos, "unexpected end of expression: a path cannot end with '/'")
		}
		p.unexpected()
	}
	p.advance()
	if t.kind == tName && p.tok.kind == tLParen {
		p.failAt(t.pos, "function %s() cannot be a path step", t.text)
	}
	// Drop "." steps inside a path.
	if step == "." && len(path.Steps) > 0 {
		if p.tok.kind == tLBrack {
			p.failAt(p.tok.pos, "a predicate cannot follow '.'")
		}
		return
	}
	if len(path.Steps) == 1 && path.Steps[0] == "." && !path.Absolute {
		path.Steps = path.Steps[:0]
	}
	path.Steps = append(path.Steps, step)
	for p.tok.kind == tLBrack {
		if step == "." || step == ".." {
			p.failAt(p.tok.pos, "a predicate cannot follow '%s'", step)
		}
		path.Predicates = append(path.Predicates, Predicate{Step: len(path.Steps) - 1, Expr: p.parsePredicate()})
	}
}

// parsePredicate reads [expr] as an Expr of its own.
func (p *parser) parsePredicate() *Expr {
	open := p.tok.pos
	p.enter(open)
	p.advance()
	if p.tok.kind == tRBrack {
		p.failAt(p.tok.pos, "empty predicate []")
	}
	sc := &scope{outer: p.sc, inPred: true}
	p.sc = sc
	start := p.tok.pos
	n := p.parseExpr()
	p.sc = sc.outer
	if p.tok.kind != tRBrack {
		if p.tok.kind == tEOF {
			p.failAt(open, "missing ']' for this '['")
		}
		p.failAt(p.tok.pos, "expected ']', found %s", p.tok.describe(p.src))
	}
	end := p.tok.pos
	p.advance()
	p.leave()
	return p.finish(strings.TrimSpace(p.src[start:end]), n, sc)
}

func (p *parser) pathNode(pos int, path Path) *node {
	if len(path.Steps) == 1 && path.Steps[0] == "." && !path.Absolute {
		p.sc.usesCurrent = true
		p.sc.nonConst = true
		p.sc.path(path)
		return &node{op: opCurrent, pos: pos}
	}
	p.sc.nonConst = true
	return &node{op: opPath, pos: pos, idx: p.sc.path(path), path: path}
}

// parseCall reads a function call; name is the name token, the current token '('.
func (p *parser) parseCall(name token) *node {
	info, ok := funcTable[name.text]
	if !ok {
		p.failAt(name.pos, "%s", unknownFunc(name.text))
	}
	if info.reject != "" {
		p.failAt(name.pos, "%s", info.reject)
	}
	p.sc.fn(name.text)
	p.enter(name.pos)
	p.advance() // '('
	var args []*node
	if p.tok.kind != tRParen {
		for {
			if p.tok.kind == tComma || p.tok.kind == tRParen {
				p.failAt(p.tok.pos, "missing argument to %s()", name.text)
			}
			args = append(args, p.parseExpr())
			if p.tok.kind != tComma {
				break
			}
			p.advance()
		}
	}
	if p.tok.kind != tRParen {
		if p.tok.kind == tEOF {
			p.failAt(name.pos, "missing ')' to close %s(", name.text)
		}
		p.failAt(p.tok.pos, "expected ',' or ')' in %s(), found %s", name.text, p.tok.describe(p.src))
	}
	p.advance()
	p.leave()
	if msg := info.checkArity(name.text, len(args)); msg != "" {
		p.failAt(name.pos, "%s", msg)
	}
	n := &node{op: opCall, fn: info.id, pos: name.pos, args: args}
	n.idx = n.height()
	if n.idx > maxHeight {
		p.failAt(name.pos, "expression too long")
	}
	if info.nonConst {
		p.sc.nonConst = true
	}
	switch info.id {
	case fnCurrent, fnInstance:
		return p.parseCallPath(name, n)
	case fnOnce:
		p.sc.current()
	case fnString, fnNumber, fnStringLength, fnNormalizeSpace:
		if len(args) == 0 {
			p.sc.usesCurrent = true
			p.sc.nonConst = true
		}
	case fnPosition:
		if len(args) == 1 && !(args[0].op == opPath && !args[0].path.Absolute && len(args[0].path.Steps) == 1 && args[0].path.Steps[0] == "..") {
			p.failAt(args[0].pos, "position() takes no argument or '..' (the current repeat instance)")
		}
	case fnIndexedRepeat:
		for i := 0; i < len(args); i += 2 {
			j := i
			if i > 0 {
				j = i - 1
			}
			if args[j].op != opRef {
				p.failAt(args[j].pos, "indexed-repeat() argument %d must be a ${name} reference", j+1)
			}
		}
	case fnChoiceName:
		// The field is named by a string ('${q}', '/data/q'); ${q} itself is taken
		// to name q too, rather than to hold the name.
		if a := args[1]; a.op == opRef {
			n.name = a.name
		} else if a.op == opLit && a.val.kind == String {
			n.name = fieldName(a.val.str)
			if n.name == "" {
				p.failAt(a.pos, "jr:choice-name() needs a field name as its second argument, e.g. '${q}'")
			}
		}
	case fnRegex:
		if a := args[1]; a.op == opLit && a.val.kind == String {
			n.re, n.reErr = compileRegex(a.val.str)
		}
	}
	return n
}

// parseCallPath handles current() and instance('id'), which may start a path.
func (p *parser) parseCallPath(name token, call *node) *node {
	var head string
	if call.fn == fnInstance {
		a := call.args[0]
		if a.op != opLit || a.val.kind != String {
			p.failAt(a.pos, "instance() takes the instance id as a string literal")
		}
		if strings.Contains(a.val.str, "'") {
			head = `instance("` + a.val.str + `")`
		} else {
			head = "instance('" + a.val.str + "')"
		}
	} else {
		p.sc.current()
	}
	if p.tok.kind == tLBrack {
		p.failAt(p.tok.pos, "predicates [...] are supported only after path steps")
	}
	if p.tok.kind == tDSlash {
		p.failAt(p.tok.pos, "'//' (descendant paths) is not supported")
	}
	if p.tok.kind != tSlash {
		switch {
		case call.fn == fnInstance:
			p.sc.nonConst = true
			path := Path{Steps: []string{head}}
			return &node{op: opPath, pos: name.pos, idx: p.sc.path(path), path: path}
		case p.sc.inPred:
			return p.pathNode(name.pos, Path{Steps: []string{"current()"}})
		}
		return &node{op: opCurrent, pos: name.pos}
	}
	p.advance()
	var path Path
	if call.fn == fnInstance || p.sc.inPred {
		if call.fn == fnCurrent {
			head = "current()"
		}
		path.Steps = []string{head}
	}
	p.parseSteps(&path)
	if len(path.Steps) == 0 {
		path.Steps = []string{"."}
	}
	return p.pathNode(name.pos, path)
}

// fieldName strips ${ } (and white space) from jr:choice-name()'s second argument.
func fieldName(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") {
		s = strings.TrimSpace(s[2 : len(s)-1])
	}
	return s
}

// compileRegex compiles an XForms regex() pattern, which must match the whole string
// (as Java's Pattern.matches).
func compileRegex(pat string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + pat + `)$`)
	if err != nil {
		if _, err2 := regexp.Compile(pat); err2 != nil {
			err = err2
		}
		return nil, fmt.Errorf("regex(): bad pattern %q: %v", pat, err)
	}
	return re, nil
}

// constEnv is the Env of Constant and of Eval(nil): it has nothing.
type constEnv struct{}

func (constEnv) Ref(int) Value                     { return Value{} }
func (constEnv) Path(Path) Value                   { return Value{} }
func (constEnv) Current() Value                    { return Value{} }
func (constEnv) Position() int                     { return 0 }
func (constEnv) Now() time.Time                    { return time.Now() }
func (constEnv) UUID() string                      { return "" }
func (constEnv) ChoiceLabel(string, string) string { return "" }
func (constEnv) IndexedRepeat(args []Value) Value  { return Value{} }
