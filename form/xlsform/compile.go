package xlsform

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/expr"
)

// ruleColumns names the survey column each template rule comes from.
var ruleColumns = map[string]string{
	"relevant": "relevant", "constraint": "constraint", "constraint_message": "constraint_message",
	"required": "required", "required_message": "required_message", "readonly": "readonly",
	"calculation": "calculation", "default": "default", "default_expr": "default",
	"choice_filter": "choice_filter", "repeat_count": "repeat_count", "trigger": "trigger",
	"label": "label", "help": "hint", "guidance": "guidance_hint", "parameters": "parameters",
	"min": "parameters", "max": "parameters", "step": "parameters", "appearance": "appearance",
	"id": "name", "duplicate": "name", "type": "type", "list": "type", "options": "type",
	"max_files": "type", "meta": "type", "fields": "type",
}

// exprRules are the rules whose expression can be left out of a field.
var exprRules = []string{"relevant", "constraint", "required", "readonly", "calculation", "default_expr", "choice_filter", "repeat_count", "trigger", "default"}

var (
	reRef       = regexp.MustCompile(`\$\{([^}]*)\}`)
	reNoField   = regexp.MustCompile(`\$\{([^}]*)\} names no field`)
	reAmbiguous = regexp.MustCompile(`\$\{([^}]*)\} is ambiguous`)
)

// compile builds the template and has form check it. A rule the engine refuses is
// left out of its field and reported, and the template checked again; other
// refusals refuse the form.
func (c *converter) compile() error {
	c.tpl.Languages = c.langs
	if c.defLang != "" {
		if c.langSeen[c.defLang] {
			c.tpl.DefaultLanguage = c.defLang
		} else {
			c.warn(rowKey{sheetSettings, 2, c.set.cols["default_language"]}, fmt.Sprintf("default_language %q is not a language of the form's columns; ignored", c.defLang))
		}
	}
	c.dropInside(c.root, nil)
	c.addInstanceID()
	if err := c.checkRefs(); err != nil {
		return err
	}
	c.precheck()
	c.checkChoiceValues()
	c.dropped = map[string]int{}
	for _, it := range c.items {
		if it.dropped {
			c.dropped[it.f.ID] = it.row
		}
	}
	limit := 4*len(c.items) + 64
	for attempt := 0; ; attempt++ {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		fields, paths := c.assemble(c.root, "")
		if len(fields) == 0 {
			e := &Error{Sheet: "survey", Msg: "no question of the form can be imported"}
			for _, d := range c.rep.Dropped {
				if d.key.sheet == sheetSurvey && d.key.row > 0 {
					e.Row, e.Column = d.key.row, d.key.col
					e.Msg += fmt.Sprintf("; the first dropped: %s: %s", d.What, d.Why)
					break
				}
			}
			return e
		}
		c.tpl.Fields = fields
		data := c.tpl.Encode()
		if len(data) > form.MaxTemplateBytes {
			return &Error{Msg: fmt.Sprintf("the template would be %d bytes, over the limit of %d", len(data), form.MaxTemplateBytes)}
		}
		tpl, err := form.ParseTemplate(data)
		if err == nil {
			c.rep.Template = tpl
			return nil
		}
		if attempt >= limit {
			return &Error{Sheet: "survey", Msg: "the form could not be made valid: " + err.Error()}
		}
		var te *form.TemplateError
		if !errors.As(err, &te) {
			return &Error{Msg: err.Error()}
		}
		if err := c.fix(te, paths); err != nil {
			return err
		}
	}
}

// dropInside reports the rows inside a dropped group (begin loop) as dropped.
func (c *converter) dropInside(items []*item, in *item) {
	for _, it := range items {
		if in != nil && !it.dropped {
			it.dropped = true
			it.dropWhy = fmt.Sprintf("it is inside %s of row %d, which is dropped", describe(in), in.row)
			if !it.generated {
				c.drop(rowKey{sheetSurvey, it.row, ""}, describe(it), it.dropWhy)
			}
		}
		next := in
		if it.dropped && next == nil {
			next = it
		}
		c.dropInside(it.kids, next)
		if it.orOther != nil && it.dropped {
			it.orOther.dropped = true
		}
	}
}

// addInstanceID adds pyxform's meta instanceID as a hidden field when an expression
// refers to it and no question has the name.
func (c *converter) addInstanceID() {
	used := false
	for _, it := range c.items {
		if it.f.ID == "instanceID" {
			return
		}
		for _, src := range c.sources(it) {
			if strings.Contains(src.text, "${instanceID}") {
				used = true
			}
		}
	}
	if !used {
		return
	}
	it := &item{typ: "instanceID", generated: true, exprCols: map[string]string{}}
	it.f = form.Field{ID: "instanceID", Type: form.TypeHidden, Meta: "instanceid"}
	c.root = append(c.root, it)
	c.items = append(c.items, it)
}

// source is an expression or a text with references, and the rule it is for.
type source struct {
	rule string
	text string
}

func (c *converter) sources(it *item) []source {
	f := &it.f
	var out []source
	add := func(rule, s string) {
		if s != "" {
			out = append(out, source{rule, s})
		}
	}
	add("relevant", f.Relevant)
	add("constraint", f.Constraint)
	add("required", f.Required.Expr)
	add("readonly", f.ReadOnly.Expr)
	add("calculation", f.Calculation)
	add("default_expr", f.DefaultExpr)
	add("choice_filter", f.ChoiceFilter)
	add("repeat_count", f.RepeatCount)
	for _, t := range f.Trigger {
		add("trigger", "${"+t+"}")
	}
	for _, tx := range []struct {
		rule string
		t    form.Text
	}{{"label", f.Label}, {"help", f.Help}, {"guidance", f.Guidance}, {"constraint_message", f.ConstraintMessage}, {"required_message", f.RequiredMessage}} {
		for _, l := range tx.t.Languages() {
			if s := tx.t.In(l); strings.Contains(s, "${") && tx.t.Has(l) {
				add(tx.rule, s)
			}
		}
	}
	return out
}

// checkRefs refuses references to names no question has, and names several
// questions have: pyxform refuses them too.
func (c *converter) checkRefs() error {
	rows := map[string][]int{}
	for _, it := range c.items {
		if it.f.ID != "" {
			rows[it.f.ID] = append(rows[it.f.ID], it.row)
		}
	}
	for _, it := range c.items {
		if it.dropped {
			continue
		}
		for _, src := range c.sources(it) {
			for _, m := range reRef.FindAllStringSubmatch(src.text, -1) {
				name := strings.TrimSpace(m[1])
				if strings.HasPrefix(name, "last-saved#") || !form.ValidName(name) {
					continue // the engine says what is wrong with it
				}
				col := ruleColumns[src.rule]
				switch rs := rows[name]; {
				case len(rs) == 0:
					return &Error{Sheet: "survey", Row: it.row, Column: col, Msg: fmt.Sprintf("${%s} names no question of the form", name)}
				case len(rs) > 1:
					return &Error{Sheet: "survey", Row: it.row, Column: col, Msg: fmt.Sprintf("${%s} is ambiguous: rows %s have that name", name, joinInts(rs))}
				}
			}
		}
	}
	return nil
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// precheck parses every expression once and leaves out those the engine refuses,
// so the template is not checked again for each one.
func (c *converter) precheck() {
	for _, it := range c.items {
		if it.dropped {
			continue
		}
		f := &it.f
		for _, rule := range exprRules {
			src := f.Rule(rule)
			if strings.TrimSpace(src) == "" || rule == "trigger" || rule == "default" {
				continue
			}
			if _, err := expr.Parse(src); err != nil {
				c.dropRule(it, rule, rule+": "+err.Error())
			}
		}
		if !f.ConstraintMessage.IsZero() && f.Constraint == "" && !it.dropped {
			c.warn(rowKey{sheetSurvey, it.row, "constraint_message"}, "a constraint message without a constraint is never shown; ignored")
			f.ConstraintMessage = form.Text{}
		}
	}
}

// dropRule leaves a rule out of a field and reports it. A calculate question whose
// calculation goes goes with it.
func (c *converter) dropRule(it *item, rule, why string) {
	f := &it.f
	col := ruleColumns[rule]
	src := f.Rule(rule)
	if v, ok := it.exprCols[col]; ok {
		src = v
	}
	at := rowKey{sheetSurvey, it.row, col}
	switch rule {
	case "relevant":
		f.Relevant = ""
	case "constraint":
		f.Constraint = ""
		f.ConstraintMessage = form.Text{}
	case "required":
		f.Required = form.Cond{}
		f.RequiredMessage = form.Text{}
	case "readonly":
		f.ReadOnly = form.Cond{}
	case "calculation":
		f.Calculation = ""
	case "default_expr":
		f.DefaultExpr = ""
	case "default":
		f.Default = nil
	case "choice_filter":
		f.ChoiceFilter = ""
	case "repeat_count":
		f.RepeatCount = ""
	case "trigger":
		f.Trigger = nil
	}
	if it.generated && it.row == 0 {
		at = rowKey{sheetSurvey, 0, ""}
	}
	c.drop(at, fmt.Sprintf("%s %s", col, quote(src)), why)
	if f.Type == form.TypeCalculate && f.Calculation == "" && len(f.Trigger) == 0 && !it.dropped {
		if f.DefaultExpr != "" || f.Default != nil {
			f.Type = form.TypeHidden // still set once by its default
			return
		}
		c.dropItem(it, fmt.Sprintf("its %s was dropped, and a calculate question without a calculation holds nothing", col))
	}
}

// dropItem leaves a question (or an emptied group) out of the template.
func (c *converter) dropItem(it *item, why string) {
	it.dropped, it.dropWhy = true, why
	if c.dropped != nil {
		c.dropped[it.f.ID] = it.row
	}
	c.drop(rowKey{sheetSurvey, it.row, ""}, describe(it), why)
	if it.orOther != nil && !it.orOther.dropped {
		it.orOther.dropped = true
		c.dropped[it.orOther.f.ID] = it.row
	}
}

// assemble turns the items into fields, and maps each field's path to its item.
func (c *converter) assemble(items []*item, prefix string) ([]form.Field, map[string]*item) {
	paths := map[string]*item{}
	var walk func(items []*item, prefix string) []form.Field
	walk = func(items []*item, prefix string) []form.Field {
		var out []form.Field
		for _, it := range items {
			for _, x := range []*item{it, it.orOther} {
				if x == nil || x.dropped {
					continue
				}
				f := x.f
				p := f.ID
				if prefix != "" {
					p = prefix + "/" + f.ID
				}
				if _, dup := paths[p]; !dup {
					paths[p] = x
				}
				if f.Type == form.TypeGroup || f.Type == form.TypeRepeat {
					f.Fields = walk(x.kids, p)
					if f.Fields == nil {
						f.Fields = []form.Field{}
					}
				}
				out = append(out, f)
			}
		}
		return out
	}
	return walk(items, prefix), paths
}

// fix handles one refusal of the template check: it leaves the refused rule (or
// question) out, or refuses the form.
func (c *converter) fix(te *form.TemplateError, paths map[string]*item) error {
	if te.Field == "" {
		at := rowKey{sheetSettings, 2, c.set.cols[te.Rule]}
		switch te.Rule {
		case "instance_name":
			at.col = c.set.cols["instance_name"]
			c.drop(at, fmt.Sprintf("instance_name %q", c.tpl.InstanceName), te.Msg)
			c.tpl.InstanceName = ""
			return nil
		case "default_language":
			c.warn(at, te.Msg)
			c.tpl.DefaultLanguage = ""
			return nil
		case "choices":
			return &Error{Sheet: "choices", Msg: te.Msg}
		}
		return &Error{Msg: te.Msg}
	}
	it := paths[te.Field]
	if it == nil {
		return &Error{Sheet: "survey", Msg: te.Error()}
	}
	col := ruleColumns[te.Rule]
	refuse := func() error {
		if it.generated {
			return &Error{Sheet: "survey", Row: it.row, Column: col, Msg: fmt.Sprintf("question %q, which the importer adds: %s", it.f.ID, te.Msg)}
		}
		return &Error{Sheet: "survey", Row: it.row, Column: col, Msg: te.Msg}
	}
	if m := reAmbiguous.FindStringSubmatch(te.Msg); m != nil {
		return refuse()
	}
	if m := reNoField.FindStringSubmatch(te.Msg); m != nil {
		name := strings.TrimSpace(m[1])
		row, gone := c.dropped[name]
		if !gone {
			return refuse()
		}
		why := fmt.Sprintf("it refers to ${%s}, which was dropped (survey row %d)", name, row)
		switch te.Rule {
		case "label", "help", "guidance", "constraint_message", "required_message":
			c.fixText(it, te.Rule, name, why)
		default:
			c.dropRule(it, te.Rule, why)
		}
		return nil
	}
	switch te.Rule {
	case "relevant", "constraint", "calculation", "default_expr", "choice_filter", "repeat_count", "trigger", "default":
		if strings.Contains(te.Msg, "depends on itself") {
			return refuse()
		}
		c.dropRule(it, te.Rule, te.Msg)
		return nil
	case "required", "readonly":
		if strings.Contains(te.Msg, "does not apply") && (!askedType(it.f.Type) || it.f.Meta != "") {
			// ODK ignores required and readonly where nobody answers.
			c.warn(rowKey{sheetSurvey, it.row, col}, fmt.Sprintf("%s does not apply to a %s question; ignored", col, it.f.Type))
			if te.Rule == "required" {
				it.f.Required, it.f.RequiredMessage = form.Cond{}, form.Text{}
			} else {
				it.f.ReadOnly = form.Cond{}
			}
			return nil
		}
		c.dropRule(it, te.Rule, te.Msg)
		return nil
	case "constraint_message", "required_message":
		if strings.Contains(te.Msg, "does not apply") || strings.Contains(te.Msg, "without") {
			c.warn(rowKey{sheetSurvey, it.row, col}, te.Msg+"; ignored")
			if te.Rule == "constraint_message" {
				it.f.ConstraintMessage = form.Text{}
			} else {
				it.f.RequiredMessage = form.Text{}
			}
			return nil
		}
		c.fixText(it, te.Rule, "", te.Msg)
		return nil
	case "label", "help", "guidance":
		if strings.Contains(te.Msg, "label is required") {
			it.f.Label = form.Plain(it.f.ID)
			c.approx(rowKey{sheetSurvey, it.row, "label"}, describe(it)+" without a label", fmt.Sprintf("a question needs a label: its name %q is shown", it.f.ID))
			return nil
		}
		c.fixText(it, te.Rule, "", te.Msg)
		return nil
	case "parameters", "appearance":
		c.drop(rowKey{sheetSurvey, it.row, col}, fmt.Sprintf("%s of %s", col, describe(it)), te.Msg)
		if te.Rule == "parameters" {
			it.f.Parameters = nil
		} else {
			it.f.Appearance = ""
		}
		return nil
	case "fields":
		if strings.Contains(te.Msg, "at least one field") {
			why := fmt.Sprintf("a %s with no questions", it.f.Type)
			if len(it.kids) > 0 {
				why = fmt.Sprintf("a %s whose questions were all dropped", it.f.Type)
			}
			c.dropItem(it, why)
			return nil
		}
	}
	return refuse()
}

// fixText takes the references the engine refuses out of a field's text: those to
// name (a dropped question), or when name is "", every reference.
func (c *converter) fixText(it *item, rule, name, why string) {
	t := textOf(&it.f, rule)
	out := map[string]string{}
	for _, l := range t.Languages() {
		s := t.In(l)
		if !t.Has(l) {
			continue
		}
		if name != "" {
			s = strings.ReplaceAll(s, "${"+name+"}", "")
		} else {
			s = strings.ReplaceAll(s, "${", "$ {")
		}
		out[l] = s
	}
	nt := form.Texts(out)
	setText(&it.f, rule, nt)
	what := fmt.Sprintf("${%s} in %s", name, ruleColumns[rule])
	if name == "" {
		what = fmt.Sprintf("the references in %s %q", ruleColumns[rule], t.String())
	}
	c.drop(rowKey{sheetSurvey, it.row, ruleColumns[rule]}, what, why)
}

func textOf(f *form.Field, rule string) form.Text {
	switch rule {
	case "label":
		return f.Label
	case "help":
		return f.Help
	case "guidance":
		return f.Guidance
	case "constraint_message":
		return f.ConstraintMessage
	case "required_message":
		return f.RequiredMessage
	}
	return form.Text{}
}

func setText(f *form.Field, rule string, t form.Text) {
	switch rule {
	case "label":
		f.Label = t
	case "help":
		f.Help = t
	case "guidance":
		f.Guidance = t
	case "constraint_message":
		f.ConstraintMessage = t
	case "required_message":
		f.RequiredMessage = t
	}
}

var (
	reSelectedLit = regexp.MustCompile(`selected\(\s*\$\{([^}]+)\}\s*,\s*(?:'([^']*)'|"([^"]*)")\s*\)`)
	reEqualsLit   = regexp.MustCompile(`\$\{([^}]+)\}\s*!?=\s*(?:'([^']*)'|"([^"]*)")`)
)

// checkChoiceValues warns about expressions that compare a select with a value none
// of its choices has: ODK accepts them, and they are never true.
func (c *converter) checkChoiceValues() {
	byName := map[string]*item{}
	for _, it := range c.items {
		if !it.dropped && it.f.List != "" {
			byName[it.f.ID] = it
		}
	}
	if len(byName) == 0 {
		return
	}
	for _, it := range c.items {
		if it.dropped {
			continue
		}
		for _, src := range c.sources(it) {
			if src.rule == "label" || src.rule == "help" || src.rule == "guidance" {
				continue
			}
			for _, re := range []*regexp.Regexp{reSelectedLit, reEqualsLit} {
				for _, m := range re.FindAllStringSubmatch(src.text, -1) {
					sel := byName[strings.TrimSpace(m[1])]
					if sel == nil {
						continue
					}
					v := m[2] + m[3]
					if v == "" {
						continue
					}
					opts := c.tpl.Choices[sel.f.List]
					if !slices.ContainsFunc(opts, func(o form.Option) bool { return o.Value == v }) {
						c.warn(rowKey{sheetSurvey, it.row, ruleColumns[src.rule]},
							fmt.Sprintf("%q is not a choice of ${%s} (list %s), so this comparison is never true", v, sel.f.ID, sel.list))
					}
				}
			}
		}
	}
}
