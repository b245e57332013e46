package xform

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/expr"
)

// The rules of a field that hold an expression, in the order they are reported.
var exprRules = []string{"relevant", "constraint", "required", "readonly", "calculation", "default_expr", "repeat_count"}

// The texts of a field, in the order they are reported.
var textRules = []string{"label", "help", "guidance", "constraint_message", "required_message"}

// kept reports an item that is a field of the template: neither it nor a group it
// is in is dropped.
func (c *converter) kept(it *item) bool {
	for x := it; x != nil; {
		if x.drop != "" || x.consumed {
			return false
		}
		if x.n.parent == nil || x.n.parent == c.root {
			return true
		}
		x = x.n.parent.it
	}
	return false
}

// walkKept calls fn for every kept item, depth first in the template's order.
func walkKept(items []*item, fn func(*item)) {
	for _, it := range items {
		if it.drop != "" || it.consumed {
			continue
		}
		fn(it)
		walkKept(it.kids, fn)
	}
}

// resolve rewrites the expressions and texts of the kept fields, now that the
// fields and their names are known: a path to a field whose name is unique in the
// template becomes ${name}.
func (c *converter) resolve() error {
	c.renameAll(c.top)
	c.names = map[string]int{}
	walkKept(c.top, func(it *item) { c.names[it.f.ID]++ })
	var err error
	walkKept(c.top, func(it *item) {
		if err == nil {
			err = c.ctx.Err()
		}
		c.resolveItem(it)
	})
	if err != nil {
		return err
	}
	if c.instanceName != "" {
		it := c.instanceNameItem
		s, rerr := c.rewrite(c.instanceName, it.n.path)
		if rerr != nil {
			c.dropped(it, "", fmt.Sprintf("instance name %q", c.instanceName), rerr.Error())
		} else {
			c.tpl.InstanceName = s
		}
	}
	return nil
}

// renameAll gives every kept field a valid name, unique among its siblings.
func (c *converter) renameAll(items []*item) {
	used := map[string]bool{}
	for _, it := range items {
		if it.drop == "" && !it.consumed && validFieldName(it.f.ID) {
			used[it.f.ID] = true
		}
	}
	for _, it := range items {
		if it.drop != "" || it.consumed {
			continue
		}
		if !validFieldName(it.f.ID) {
			name := fieldName(it.f.ID)
			base := name
			for n := 2; used[name]; n++ {
				name = fmt.Sprintf("%s_%d", base, n)
			}
			used[name] = true
			c.approx(it, "", describe(it), fmt.Sprintf("renamed %q: a field name is a letter or '_', then letters, digits, '-', '.' or '_', at most 128 bytes, and not _status or _deleted", name))
			it.f.ID = name
		}
		c.renameAll(it.kids)
	}
}

func validFieldName(s string) bool { return form.ValidName(s) && !form.IsSystemField(s) }

// fieldName makes a valid field name of an XML name.
func fieldName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || unicode.IsLetter(r):
			b.WriteRune(r)
		case i > 0 && (r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	for len(name) > 120 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if form.IsSystemField(name) || name == "" {
		name += "_1"
	}
	if !form.ValidName(name) {
		name = "field"
	}
	return name
}

// absPath is the path of a field with the template's names: /data/group/name.
func (c *converter) absPath(it *item) string {
	var parts []string
	for x := it; x != nil && x.n != c.root; x = x.n.parent.it {
		parts = append(parts, x.f.ID)
	}
	var b strings.Builder
	b.WriteString("/" + c.root.name)
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteString("/" + parts[i])
	}
	return b.String()
}

// ref writes the reference to a kept field: ${name} when the name is unique,
// else its path.
func (c *converter) refTo(it *item) string {
	if c.names[it.f.ID] == 1 {
		return "${" + it.f.ID + "}"
	}
	return c.absPath(it)
}

// fieldPath rewrites a path to a node of the primary instance, read from the node
// at ctx.
func (c *converter) fieldPath(p *xpath, ctx string) (string, error) {
	switch {
	case p.Instance != "":
		return "", fmt.Errorf("it reads the secondary instance %s (%s), which Fieldforms reads only for a select's options", p.Instance, p.String())
	case p.Descendant:
		return "", fmt.Errorf("'//' in %s is not supported", p.String())
	case p.hasPreds():
		return "", fmt.Errorf("the predicate of %s is not supported (indexed-repeat() reads one instance of a repeat)", p.String())
	}
	if !p.Absolute && p.Head == "" && onlyDots(p.Steps) {
		return p.String(), nil // ., .., ../..: the engine reads them as they are
	}
	var steps []string
	if !p.Absolute {
		steps = strings.Split(strings.TrimPrefix(ctx, "/"), "/")
	}
	for i, s := range p.Steps {
		switch {
		case s == ".":
		case s == "..":
			if len(steps) <= 1 {
				return "", fmt.Errorf("%s leaves the primary instance", p.String())
			}
			steps = steps[:len(steps)-1]
		case s == "*" || strings.HasPrefix(s, "@"):
			return "", fmt.Errorf("%s: attributes and '*' are not supported", p.String())
		default:
			if j := strings.IndexByte(s, ':'); j >= 0 {
				s = s[j+1:]
			}
			if p.Absolute && i == 0 && s != c.root.name {
				return "", fmt.Errorf("%s is not a path of this form (its root is /%s)", p.String(), c.root.name)
			}
			steps = append(steps, s)
		}
	}
	if len(steps) <= 1 {
		return "", fmt.Errorf("%s names the instance's root, not a field", p.String())
	}
	path := "/" + strings.Join(steps, "/")
	n := c.nodes[path]
	if n == nil || n.it == nil {
		return "", fmt.Errorf("%s names no node of the primary instance", p.String())
	}
	if !c.kept(n.it) {
		why := "it is not a field of the template"
		for x := n.it; x != nil && x.n != c.root; x = x.n.parent.it {
			if x.drop != "" {
				why = fmt.Sprintf("it is dropped (%s)", x.drop)
				break
			}
		}
		return "", fmt.Errorf("it reads %s, but %s", path, why)
	}
	return c.refTo(n.it), nil
}

// rewrite rewrites an expression of the node at ctx.
func (c *converter) rewrite(src, ctx string) (string, error) {
	return rewriteXPath(src, func(p *xpath, inPred bool) (string, error) {
		if inPred && p.Head == "" && !p.Absolute {
			return p.String(), nil // a column of an item: in a path that is refused anyway
		}
		return c.fieldPath(p, ctx)
	}, func(lit string) (string, error) { return c.choiceNameArg(lit, ctx) })
}

// choiceNameArg rewrites the second argument of jr:choice-name, a string that
// names the select: '/data/q' becomes '${q}'.
func (c *converter) choiceNameArg(lit, ctx string) (string, error) {
	inner := strings.TrimSpace(lit[1 : len(lit)-1])
	if strings.HasPrefix(inner, "${") {
		return lit, nil
	}
	p, err := rewriteXPath(inner, func(p *xpath, _ bool) (string, error) { return c.fieldPath(p, ctx) }, nil)
	if err != nil {
		return "", err
	}
	p = strings.TrimSpace(p)
	if !strings.HasPrefix(p, "${") {
		return "", fmt.Errorf("jr:choice-name(…, %s): the select's name %s is not unique in the form", lit, p)
	}
	return "'" + p + "'", nil
}

// ruleName is what the report calls a rule.
var ruleName = map[string]string{
	"relevant": "relevant", "constraint": "constraint", "required": "required", "readonly": "readonly",
	"calculation": "calculate", "default_expr": "default (setvalue)", "repeat_count": "jr:count",
	"choice_filter": "choice filter", "trigger": "trigger",
}

func (c *converter) resolveItem(it *item) {
	f := &it.f
	for _, rule := range exprRules {
		src, ok := it.exprs[rule]
		if !ok {
			continue
		}
		s, err := c.rewrite(src, it.n.path)
		if err == nil {
			// The engine's own check, here rather than one template check a rule.
			if _, perr := expr.Parse(s); perr != nil {
				err = fmt.Errorf("%s: %v", rule, perr)
			}
		}
		if err == nil {
			err = ruleApplies(rule, f.Type)
			if err != nil && rule == "required" && (f.Type == form.TypeCalculate || f.Type == form.TypeHidden || f.Type == form.TypeGroup || f.Type == form.TypeRepeat) {
				// ODK ignores it too: nothing is lost.
				c.warn(it.row, fmt.Sprintf("required %q has no effect on a %s field; not carried over", src, f.Type))
				c.clearRule(it, rule)
				continue
			}
		}
		if err != nil {
			c.dropped(it, "", fmt.Sprintf("%s %q", ruleName[rule], src), err.Error())
			c.clearRule(it, rule)
			continue
		}
		switch rule {
		case "relevant":
			f.Relevant = s
		case "constraint":
			f.Constraint = s
		case "required":
			f.Required = form.Cond{Expr: s}
		case "readonly":
			f.ReadOnly = form.Cond{Expr: s}
		case "calculation":
			f.Calculation = s
		case "default_expr":
			f.DefaultExpr = s
		case "repeat_count":
			f.RepeatCount = s
		}
	}
	if len(it.trig) > 0 && f.Calculation != "" {
		var names []string
		for _, t := range it.trig {
			switch {
			case !c.kept(t):
				c.dropped(it, "", fmt.Sprintf("calculation %q when %s changes", f.Calculation, t.n.path), "the field that triggers it is dropped")
			case c.names[t.f.ID] != 1:
				c.dropped(it, "", fmt.Sprintf("calculation %q when %s changes", f.Calculation, t.n.path), fmt.Sprintf("a trigger names a field by its name, and %q is not unique in the form", t.f.ID))
			default:
				names = append(names, t.f.ID)
			}
		}
		if len(names) == 0 {
			c.clearRule(it, "calculation")
		} else {
			f.Trigger = names
		}
	}
	for _, rule := range textRules {
		rt, ok := it.texts[rule]
		if !ok {
			continue
		}
		t := c.render(it, rt, rule)
		switch rule {
		case "label":
			f.Label = t
		case "help":
			f.Help = t
		case "guidance":
			f.Guidance = t
		case "constraint_message":
			if f.Constraint == "" {
				if !t.IsZero() {
					c.dropped(it, "", fmt.Sprintf("constraint message %q", t.String()), "the field has no constraint")
				}
				continue
			}
			f.ConstraintMessage = t
		case "required_message":
			if !f.Required.Set() {
				if !t.IsZero() {
					c.dropped(it, "", fmt.Sprintf("required message %q", t.String()), "the field is not required")
				}
				continue
			}
			f.RequiredMessage = t
		}
	}
	if shown := f.Type == form.TypeNote || (!it.meta && askedType(f.Type)); shown && f.Label.Blank() && f.Help.Blank() && len(f.Media) == 0 {
		f.Label = form.Plain(it.n.name)
		c.approx(it, "", describe(it)+" with an empty label", fmt.Sprintf("a question needs a label: its name %q is shown", it.n.name))
	}
	if it.itemset != nil {
		filter, err := c.choiceFilter(it)
		if err != nil {
			c.dropped(it, it.itemset.el.path(), fmt.Sprintf("choice filter of %q", it.itemset.nodeset), err.Error()+"; every option is offered")
		} else {
			f.ChoiceFilter = filter
		}
	}
}

// clearRule takes a rule out of a field.
func (c *converter) clearRule(it *item, rule string) {
	f := &it.f
	delete(it.exprs, rule)
	switch rule {
	case "relevant":
		f.Relevant = ""
	case "constraint":
		f.Constraint = ""
		f.ConstraintMessage = form.Text{}
		delete(it.texts, "constraint_message")
	case "constraint_message":
		f.ConstraintMessage = form.Text{}
		delete(it.texts, "constraint_message")
	case "required":
		f.Required = form.Cond{}
		f.RequiredMessage = form.Text{}
		delete(it.texts, "required_message")
	case "required_message":
		f.RequiredMessage = form.Text{}
		delete(it.texts, "required_message")
	case "readonly":
		f.ReadOnly = form.Cond{}
	case "calculation", "trigger":
		f.Calculation = ""
		f.Trigger = nil
		it.trig = nil
		delete(it.exprs, "calculation")
		if f.Type == form.TypeCalculate {
			f.Type = form.TypeHidden
		}
	case "default_expr":
		f.DefaultExpr = ""
	case "default":
		f.Default = nil
	case "choice_filter":
		f.ChoiceFilter = ""
	case "repeat_count":
		f.RepeatCount = ""
	}
}

// render writes a text with its outputs as ${name}. An output that is not a
// field with a unique name is left out, and reported.
func (c *converter) render(it *item, rt rtext, what string) form.Text {
	m := map[string]string{}
	for lang, r := range rt {
		var b strings.Builder
		for _, x := range r {
			switch x := x.(type) {
			case string:
				if strings.Contains(x, "${") {
					// A literal ${ would read as a reference.
					c.approx(it, "", fmt.Sprintf("%q in the %s", "${", what), "written as \"$ {\", which Fieldforms does not read as a reference")
					x = strings.ReplaceAll(x, "${", "$ {")
				}
				b.WriteString(x)
			case output:
				s, err := c.rewrite(x.value, x.ctx)
				if err == nil && !isRef(s) {
					err = errors.New("a text shows a field's value by its unique name (${name}) only")
				}
				if err != nil {
					c.approx(it, x.el.path(), fmt.Sprintf("<output value=%q/> in the %s", x.value, what), "left out: "+err.Error())
					continue
				}
				b.WriteString(s)
			}
		}
		m[lang] = strings.TrimSpace(b.String())
	}
	return form.Texts(m)
}

// isRef reports an expression that is one ${name}.
func isRef(s string) bool {
	toks := lexXPath(s)
	return len(toks) == 1 && toks[0].kind == tkRef
}

// choiceFilter rewrites the predicates of an itemset's nodeset as a choice filter:
// the item's columns stay bare names (the value column is "name", the label
// column "label"), paths to fields become ${name}.
func (c *converter) choiceFilter(it *item) (string, error) {
	is := it.itemset
	l := is.list
	var parts []string
	ctx := it.n.path
	_, err := rewriteXPath(is.nodeset, func(p *xpath, inPred bool) (string, error) {
		if inPred && p.Head == "" && !p.Absolute {
			if len(p.Steps) != 1 || p.hasPreds() || p.Descendant {
				return "", fmt.Errorf("%s is not a column of the items", p.String())
			}
			col := p.Steps[0]
			if i := strings.IndexByte(col, ':'); i >= 0 {
				col = col[i+1:]
			}
			switch {
			case col == l.valueCol:
				return "name", nil
			case l.labelCol != "" && col == l.labelCol:
				return "label", nil
			case col == "name" || col == "label":
				return "", fmt.Errorf("column %q of the items cannot be read (the value is column %q)", col, l.valueCol)
			case col == "." || col == ".." || col == "*" || strings.HasPrefix(col, "@"):
				return "", fmt.Errorf("%s in a filter is not supported", col)
			}
			return col, nil
		}
		if inPred && p.Head == "current()" {
			q := *p
			q.Head = ""
			if len(q.Steps) == 0 {
				q.Steps = []string{"."}
				n := c.nodes[ctx]
				return c.refTo(n.it), nil
			}
			return c.fieldPath(&q, ctx)
		}
		if !inPred && p.Instance != "" {
			parts = append(parts, p.Preds[len(p.Steps)-1]...)
			return "", nil
		}
		return c.fieldPath(p, ctx)
	}, func(lit string) (string, error) { return c.choiceNameArg(lit, ctx) })
	if err != nil {
		return "", err
	}
	for _, pr := range parts {
		if _, isNum := constantLiteral(pr); isNum {
			return "", fmt.Errorf("the position predicate [%s] is not supported", pr)
		}
	}
	switch len(parts) {
	case 0:
		return "", nil
	case 1:
		return parts[0], nil
	}
	return "(" + strings.Join(parts, ") and (") + ")", nil
}

func onlyDots(steps []string) bool {
	for _, s := range steps {
		if s != "." && s != ".." {
			return false
		}
	}
	return len(steps) > 0
}

// ruleApplies checks a rule against the field types it applies to, as the template
// check does, so that most refusals are known before it runs.
func ruleApplies(rule string, t form.FieldType) error {
	container := t == form.TypeGroup || t == form.TypeRepeat
	var ok bool
	switch rule {
	case "required":
		ok = askedType(t) && t != form.TypeNote
	case "readonly":
		ok = t != form.TypeRepeat
	case "constraint", "calculation", "default_expr":
		ok = !container && t != form.TypeNote
	case "repeat_count":
		ok = t == form.TypeRepeat
	default:
		ok = true
	}
	if !ok {
		return fmt.Errorf("%s does not apply to a %s field", rule, t)
	}
	return nil
}
