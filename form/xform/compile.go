package xform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fieldforms/fieldforms/form"
)

// compile builds the template and has form check it. A rule the engine refuses is
// left out of its field, reported, and the template checked again; other refusals
// refuse the form.
func (c *converter) compile() error {
	tpl := c.tpl
	tpl.Languages = c.langs
	if c.defLang != "" {
		tpl.DefaultLanguage = c.defLang
	}
	used := map[string]bool{}
	walkKept(c.top, func(it *item) {
		if it.f.List != "" {
			used[it.f.List] = true
		}
	})
	for _, key := range c.listOrder {
		l := c.lists[key]
		if l != nil && used[l.name] && len(l.options) > 0 {
			if tpl.Choices == nil {
				tpl.Choices = map[string][]form.Option{}
			}
			tpl.Choices[l.name] = l.options
		}
	}
	c.checkDefaults()
	limit := 4*len(c.items) + 64
	for attempt := 0; ; attempt++ {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		keys := map[string]*item{}
		fields := c.assemble(c.top, "", keys)
		if len(fields) == 0 {
			msg := "no field of the form can be imported"
			for _, d := range c.rep.Dropped {
				msg += fmt.Sprintf(" (%d dropped; the first: %s: %s: %s)", len(c.rep.Dropped), d.Row, d.What, d.Why)
				break
			}
			return &Error{Path: c.root.el.path(), Msg: msg}
		}
		tpl.Fields = fields
		data := tpl.Encode()
		if len(data) > form.MaxTemplateBytes {
			return &Error{Msg: fmt.Sprintf("the template would be %d bytes, over the limit of %d", len(data), form.MaxTemplateBytes)}
		}
		t, err := form.ParseTemplate(data)
		if err == nil {
			c.rep.Template = t
			return nil
		}
		var te *form.TemplateError
		if !errors.As(err, &te) {
			return &Error{Path: c.root.el.path(), Msg: err.Error()}
		}
		if attempt >= limit {
			return &Error{Path: c.root.el.path(), Msg: "the form could not be made valid: " + err.Error()}
		}
		if err := c.fix(te, keys); err != nil {
			return err
		}
	}
}

// assemble makes the template's fields of the kept items, and indexes the items by
// their key.
func (c *converter) assemble(items []*item, prefix string, keys map[string]*item) []form.Field {
	var out []form.Field
	for _, it := range items {
		if it.drop != "" || it.consumed {
			continue
		}
		f := it.f
		key := f.ID
		if prefix != "" {
			key = prefix + "/" + f.ID
		}
		keys[key] = it
		if f.Type == form.TypeGroup || f.Type == form.TypeRepeat {
			f.Fields = c.assemble(it.kids, key, keys)
		}
		out = append(out, f)
	}
	return out
}

// fixable are the rules that can be left out of a field, and what each is called.
var fixable = map[string]string{
	"relevant": "relevant", "constraint": "constraint", "required": "required", "readonly": "readonly",
	"calculation": "calculate", "default_expr": "default (setvalue)", "default": "default",
	"choice_filter": "choice filter", "repeat_count": "jr:count", "trigger": "trigger",
	"constraint_message": "constraint message", "required_message": "required message",
}

// fix leaves out what the template check refused, or refuses the form.
func (c *converter) fix(te *form.TemplateError, keys map[string]*item) error {
	if te.Field == "" {
		if te.Rule == "instance_name" && c.tpl.InstanceName != "" {
			c.dropped(c.instanceNameItem, "", fmt.Sprintf("instance name %q", c.tpl.InstanceName), te.Msg)
			c.tpl.InstanceName = ""
			return nil
		}
		path := c.root.el.path()
		if te.Rule == "choices" {
			path = c.model.path()
		}
		return &Error{Path: path, Msg: te.Msg}
	}
	it := keys[te.Field]
	if it == nil {
		return &Error{Path: c.root.el.path(), Msg: te.Error()}
	}
	what, ok := fixable[te.Rule]
	if !ok || it.f.Rule(te.Rule) == "" && !(te.Rule == "required" && it.f.Required.Const) && !(te.Rule == "readonly" && it.f.ReadOnly.Const) {
		return &Error{Path: it.elPath, Msg: te.Msg}
	}
	v := it.f.Rule(te.Rule)
	if v == "" {
		v = "true()"
	}
	c.dropped(it, "", fmt.Sprintf("%s %q", what, v), te.Msg)
	c.clearRule(it, te.Rule)
	return nil
}

// checkDefaults checks each default value on a template of its field alone, so
// that bad defaults are left out before the whole template is checked (once for
// each would be slow on a large form).
func (c *converter) checkDefaults() {
	walkKept(c.top, func(it *item) {
		if it.f.Default == nil {
			return
		}
		g := form.Field{ID: "f", Type: it.f.Type, Label: form.Plain("f"), Options: it.f.Options, List: it.f.List,
			Min: it.f.Min, Max: it.f.Max, Step: it.f.Step, MaxFiles: it.f.MaxFiles, Default: it.f.Default}
		t := form.Template{ID: "t", Version: 1, Name: "t", Fields: []form.Field{g}}
		if g.List != "" {
			t.Choices = map[string][]form.Option{g.List: c.tpl.Choices[g.List]}
		}
		_, err := form.ParseTemplate(t.Encode())
		var te *form.TemplateError
		if errors.As(err, &te) && te.Rule == "default" {
			msg := strings.Replace(te.Msg, `field "f": `, "", 1)
			msg = strings.TrimPrefix(msg, "default "+string(it.f.Default)+": ")
			c.dropped(it, "", fmt.Sprintf("default %s", it.f.Default), msg)
			c.clearRule(it, "default")
		}
	})
}
