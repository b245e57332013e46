package form

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fieldforms/fieldforms/form/expr"
)

// compiledExpr is an expression of a template with its ${name} references resolved
// to fields, once, when the template is compiled.
type compiledExpr struct {
	src   string
	e     *expr.Expr
	refs  []*Field // e.Refs()[i]
	owner *Field   // the field the expression belongs to; nil for the template's own
	rule  string
}

// interp is a text with ${name} references in it: lits[0] val(refs[0]) lits[1] ...
type interp struct {
	lits []string
	refs []*compiledExpr
}

// fieldExprs are a field's compiled expressions. A nil one is not set.
type fieldExprs struct {
	relevant, constraint, required, readonly *compiledExpr
	calculation, def, choiceFilter, count    *compiledExpr
	trigger                                  []*Field
	// texts with references, by text kind and language
	texts map[textKind]map[string]*interp
}

type textKind uint8

const (
	textLabel textKind = iota
	textHelp
	textGuidance
	textConstraintMsg
	textRequiredMsg
)

// compileExprs compiles every expression of the template and checks that the
// calculations do not depend on themselves.
func (t *Template) compileExprs() error {
	for _, f := range t.all {
		if err := t.compileFieldExprs(f); err != nil {
			return err
		}
	}
	if t.InstanceName != "" {
		ce, err := t.compileExpr(nil, "instance_name", t.InstanceName)
		if err != nil {
			return err
		}
		t.instName = ce
	} else {
		t.instName = nil
	}
	t.computes = false
	for _, f := range t.all {
		if f.Calculation != "" || f.Default != nil || f.DefaultExpr != "" || f.Meta != "" || f.Trigger != nil || f.RepeatCount != "" {
			t.computes = true
		}
	}
	return t.orderCalculations()
}

func (t *Template) compileFieldExprs(f *Field) error {
	f.exprs = fieldExprs{}
	x := &f.exprs
	for _, c := range []struct {
		rule string
		src  string
		dst  **compiledExpr
	}{
		{"relevant", f.Relevant, &x.relevant},
		{"constraint", f.Constraint, &x.constraint},
		{"required", f.Required.Expr, &x.required},
		{"readonly", f.ReadOnly.Expr, &x.readonly},
		{"calculation", f.Calculation, &x.calculation},
		{"default_expr", f.DefaultExpr, &x.def},
		{"choice_filter", f.ChoiceFilter, &x.choiceFilter},
		{"repeat_count", f.RepeatCount, &x.count},
	} {
		if strings.TrimSpace(c.src) == "" {
			if c.src != "" {
				return &TemplateError{Field: f.key, Rule: c.rule, Msg: c.rule + " is blank"}
			}
			continue
		}
		ce, err := t.compileExpr(f, c.rule, c.src)
		if err != nil {
			return err
		}
		*c.dst = ce
	}
	for _, name := range f.Trigger {
		g, err := t.resolveName(f, "trigger", name)
		if err != nil {
			return err
		}
		x.trigger = append(x.trigger, g)
	}
	for _, c := range []struct {
		kind textKind
		rule string
		text Text
	}{
		{textLabel, "label", f.Label}, {textHelp, "help", f.Help}, {textGuidance, "guidance", f.Guidance},
		{textConstraintMsg, "constraint_message", f.ConstraintMessage}, {textRequiredMsg, "required_message", f.RequiredMessage},
	} {
		for lang, s := range c.text.m {
			if !strings.Contains(s, "${") {
				continue
			}
			in, err := t.compileInterp(f, c.rule, s)
			if err != nil {
				return err
			}
			if x.texts == nil {
				x.texts = map[textKind]map[string]*interp{}
			}
			if x.texts[c.kind] == nil {
				x.texts[c.kind] = map[string]*interp{}
			}
			x.texts[c.kind][lang] = in
		}
	}
	return nil
}

// compileExpr parses an expression and resolves its references.
func (t *Template) compileExpr(owner *Field, rule, src string) (*compiledExpr, error) {
	key := ""
	if owner != nil {
		key = owner.key
	}
	e, err := expr.Parse(src)
	if err != nil {
		return nil, &TemplateError{Field: key, Rule: rule, Msg: rule + ": " + err.Error()}
	}
	ce := &compiledExpr{src: src, e: e, owner: owner, rule: rule}
	for _, name := range e.Refs() {
		g, err := t.resolveName(owner, rule, name)
		if err != nil {
			return nil, err
		}
		ce.refs = append(ce.refs, g)
	}
	// The ${name} references of [filters] are read by name when they run; they
	// must name one field all the same.
	for _, p := range e.Paths() {
		for _, pr := range p.Predicates {
			for _, name := range pr.Expr.Refs() {
				if _, err := t.resolveName(owner, rule, name); err != nil {
					return nil, err
				}
			}
		}
	}
	return ce, nil
}

// resolveName finds the one field a ${name} reference means.
func (t *Template) resolveName(owner *Field, rule, name string) (*Field, error) {
	key := ""
	if owner != nil {
		key = owner.key
	}
	fs := t.byName[name]
	switch len(fs) {
	case 0:
		return nil, &TemplateError{Field: key, Rule: rule, Msg: fmt.Sprintf("%s: ${%s} names no field of the form", rule, name)}
	case 1:
		return fs[0], nil
	}
	paths := make([]string, len(fs))
	for i, f := range fs {
		paths[i] = f.key
	}
	return nil, &TemplateError{Field: key, Rule: rule, Msg: fmt.Sprintf("%s: ${%s} is ambiguous: %s", rule, name, strings.Join(paths, ", "))}
}

// compileInterp splits a text at its ${name} references.
func (t *Template) compileInterp(owner *Field, rule, s string) (*interp, error) {
	in := &interp{}
	rest := s
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			in.lits = append(in.lits, rest)
			return in, nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, &TemplateError{Field: owner.key, Rule: rule, Msg: fmt.Sprintf("%s: ${ without a closing } in %q", rule, s)}
		}
		ce, err := t.compileExpr(owner, rule, rest[i:i+j+1])
		if err != nil {
			return nil, err
		}
		in.lits = append(in.lits, rest[:i])
		in.refs = append(in.refs, ce)
		rest = rest[i+j+1:]
	}
}

// orderCalculations puts the calculations (and dynamic defaults of computed fields)
// in an order where each comes after every calculation it reads, and refuses a
// calculation that depends on itself.
func (t *Template) orderCalculations() error {
	var calcs []*Field
	for _, f := range t.all {
		if f.exprs.calculation != nil && len(f.exprs.trigger) == 0 {
			calcs = append(calcs, f)
		}
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make(map[*Field]int, len(calcs))
	t.calcOrder = t.calcOrder[:0]
	var visit func(f *Field, chain []*Field) error
	visit = func(f *Field, chain []*Field) error {
		switch state[f] {
		case done:
			return nil
		case visiting:
			i := slices.Index(chain, f)
			names := make([]string, 0, len(chain)-i+1)
			for _, g := range chain[i:] {
				names = append(names, "${"+g.ID+"}")
			}
			names = append(names, "${"+f.ID+"}")
			return &TemplateError{Field: f.key, Rule: "calculation", Msg: "calculation depends on itself: " + strings.Join(names, " → ")}
		}
		state[f] = visiting
		for _, g := range f.exprs.calculation.refs {
			if g.exprs.calculation != nil && len(g.exprs.trigger) == 0 && g != f {
				if err := visit(g, append(chain, f)); err != nil {
					return err
				}
			}
		}
		state[f] = done
		t.calcOrder = append(t.calcOrder, f)
		return nil
	}
	for _, f := range calcs {
		if err := visit(f, nil); err != nil {
			return err
		}
	}
	return nil
}
