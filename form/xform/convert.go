package xform

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/xlsform"
)

// Statuses of an imported item: the worst part of it decides.
const (
	statusImported = iota
	statusApproximated
	statusDropped
)

// converter holds the state of one import.
type converter struct {
	ctx  context.Context
	opts xlsform.Options
	rep  *xlsform.Report
	tpl  *form.Template

	doc, head, model, body *elem

	root      *inode            // the primary instance's root element
	nodes     map[string]*inode // by instance path, /data/a/b
	binds     map[string]*bind  // by instance path
	bindIDs   map[string]string // bind id → instance path
	secondary map[string]*elem  // secondary instances by id
	itext     map[string]map[string]map[string]*elem
	langs     []string // the form's languages, Fieldforms names ("" for "default")
	defLang   string
	langName  map[string]string // XForm language → Fieldforms language

	actions  []*action
	byTarget map[string][]*action
	top      []*item
	order    int // body order counter

	items     []*item        // every field item, in instance order
	names     map[string]int // kept fields by name
	lists     map[string]*list
	listOrder []string

	instanceName     string // the calculate of meta/instanceName, raw
	instanceNameItem *item
}

// inode is an element of the primary instance.
type inode struct {
	name   string // the element's local name
	path   string // /data/group/q
	el     *elem
	parent *inode
	kids   []*inode
	leaf   bool
	text   string // the default value, trimmed
	tmpl   bool   // jr:template: a repeat's template

	ctl  *control // the body control bound to it
	grp  *elem    // the body group with this ref
	rep  *elem    // the body repeat with this nodeset
	it   *item
	ord  int // body order: of the control, group or repeat; -1 when none
	dups []*elem
}

// bind is the merged binds of one instance node.
type bind struct {
	el    *elem // the first bind element
	attrs map[string]string
	path  string
}

func (b *bind) get(k string) string {
	if b == nil {
		return ""
	}
	return b.attrs[k]
}

// item is a field of the template being built, with where it comes from.
type item struct {
	n      *inode
	f      form.Field
	kids   []*item
	status int
	drop   string // why the item is left out ("" if kept)
	row    string // the report's place: the instance path
	elPath string // the element a refusal names: the control, the bind or the instance element

	// Expressions and texts as the XForm writes them, rewritten once the fields are
	// known (see exprs.go). The keys are template rule names.
	exprs   map[string]string
	texts   map[string]rtext // label, help, guidance, constraint_message, required_message
	trig    []*item          // fields whose change runs the calculation (setvalue)
	itemset *itemset

	meta      bool   // filled by itself (a preload, instanceID): its bind's rules do not apply
	note      bool   // a read-only input made a note
	consumed  bool   // carried over as part of the template, not as a field (instanceName)
	defaultEl *elem  // the setvalue of default_expr
	trigCalc  string // the calculation a setvalue triggered by another field sets
}

// rtext is a text per language (Fieldforms names), with <output/>s to resolve.
type rtext map[string]rich

// rich is a text with outputs: strings and outputs in order.
type rich []any

// output is an <output value="..."/> inside a text.
type output struct {
	value string
	ctx   string // the instance path relative values are read from
	el    *elem
}

func (c *converter) approx(it *item, row, what, how string) {
	if row == "" && it != nil {
		row = it.row
	}
	c.rep.Approximated = append(c.rep.Approximated, xlsform.Approximated{Row: row, What: what, How: how})
	if it != nil && it.status < statusApproximated {
		it.status = statusApproximated
	}
}

func (c *converter) dropped(it *item, row, what, why string) {
	if row == "" && it != nil {
		row = it.row
	}
	c.rep.Dropped = append(c.rep.Dropped, xlsform.Dropped{Row: row, What: what, Why: why})
	// A part of the item is left out: the item itself is approximated (drop marks
	// an item left out as a whole).
	if it != nil && it.status < statusApproximated {
		it.status = statusApproximated
	}
}

func (c *converter) warn(row, msg string) {
	c.rep.Warnings = append(c.rep.Warnings, xlsform.Warning{Row: row, Message: msg})
}

// describe names an item in the report: its kind and name.
func describe(it *item) string {
	kind := string(it.f.Type)
	if kind == "" {
		kind = "field"
	}
	return fmt.Sprintf("%s %q", kind, it.n.name)
}

func convert(ctx context.Context, doc *elem, opts xlsform.Options) (*xlsform.Report, error) {
	c := &converter{
		ctx: ctx, opts: opts, doc: doc,
		rep:       &xlsform.Report{},
		tpl:       &form.Template{Version: 1},
		nodes:     map[string]*inode{},
		binds:     map[string]*bind{},
		bindIDs:   map[string]string{},
		secondary: map[string]*elem{},
		itext:     map[string]map[string]map[string]*elem{},
		langName:  map[string]string{},
		lists:     map[string]*list{},
	}
	steps := []func() error{c.readHead, c.readInstance, c.readItext, c.readBinds, c.readModelRest, c.readBody, c.build, c.settings, c.resolve, c.compile}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(); err != nil {
			return nil, err
		}
	}
	c.finishReport()
	return c.rep, nil
}

func (c *converter) finishReport() {
	if c.rep.Approximated == nil {
		c.rep.Approximated = []xlsform.Approximated{}
	}
	if c.rep.Dropped == nil {
		c.rep.Dropped = []xlsform.Dropped{}
	}
	if c.rep.Warnings == nil {
		c.rep.Warnings = []xlsform.Warning{}
	}
	c.rep.Imported = 0
	for _, it := range c.items {
		if it.status == statusImported && it.drop == "" {
			c.rep.Imported++
		}
	}
}

// readHead finds the parts of the document and checks that it is an XForm.
func (c *converter) readHead() error {
	d := c.doc
	if !d.is(nsXHTML, "html") && !(d.local == "html" && d.space == "") {
		return &Error{Path: d.path(), Msg: fmt.Sprintf("the root element is <%s>, not <h:html>", d.qname()), err: ErrNotXForm}
	}
	c.head = d.child(nsXHTML, "head")
	if c.head == nil {
		c.head = d.child("", "head")
	}
	if c.head == nil {
		return &Error{Path: d.path(), Msg: "no <h:head>", err: ErrNotXForm}
	}
	c.model = c.head.child(nsXForms, "model")
	if c.model == nil {
		c.model = c.head.child("", "model")
	}
	if c.model == nil {
		return &Error{Path: c.head.path(), Msg: "no <model>", err: ErrNotXForm}
	}
	c.body = d.child(nsXHTML, "body")
	if c.body == nil {
		c.body = d.child("", "body")
	}
	for _, k := range c.head.kids {
		switch {
		case k == c.model, k.local == "title":
		default:
			c.dropped(nil, k.path(), "<"+k.qname()+">", "it is not part of an XForm's head that Fieldforms reads")
		}
	}
	for _, k := range d.kids {
		if k != c.head && k != c.body {
			c.dropped(nil, k.path(), "<"+k.qname()+">", "it is not part of an XForm")
		}
	}
	return nil
}

// settings sets the template's ID, name and version label.
func (c *converter) settings() error {
	tpl := c.tpl
	root := c.root.el
	stem := strings.TrimSuffix(filepath.Base(c.opts.FileName), filepath.Ext(c.opts.FileName))
	if c.opts.FileName == "" {
		stem = ""
	}
	id := strings.TrimSpace(root.get("", "id"))
	src := id
	if src == "" {
		src = stem
	}
	tpl.ID = form.MakeTemplateID(src)
	switch {
	case id != "" && tpl.ID != id:
		c.approx(nil, root.path(), fmt.Sprintf("form id %q", id), fmt.Sprintf("template IDs are 1-64 lower-case letters, digits, '_', '.' and '-': the ID is %q", tpl.ID))
	case id == "":
		c.warn(root.path(), fmt.Sprintf("the primary instance has no id attribute: the template ID %q is made from the file name", tpl.ID))
	}
	title := ""
	if t := c.head.child("", "title"); t != nil {
		title = strings.TrimSpace(t.allText())
		tpl.Name = firstLine(title)
		if tpl.Name != title {
			c.approx(nil, t.path(), fmt.Sprintf("title %q", title), "a template name is one line: only the first is kept")
		}
	}
	if tpl.Name == "" {
		tpl.Name = firstLine(id)
	}
	if tpl.Name == "" {
		tpl.Name = stem
	}
	if strings.TrimSpace(tpl.Name) == "" {
		tpl.Name = "Untitled form"
	}
	v := root.get("", "version")
	if v == "" {
		v = root.get(nsORX, "version") // older forms
	}
	if v != "" {
		tpl.VersionLabel = v
		if len(v) > 256 || strings.ContainsAny(v, "\r\n") {
			tpl.VersionLabel = firstLine(v)
			if len(tpl.VersionLabel) > 256 {
				tpl.VersionLabel = tpl.VersionLabel[:256]
			}
			c.approx(nil, root.path(), fmt.Sprintf("version %q", v), fmt.Sprintf("a version label is one line of at most 256 bytes: %q", tpl.VersionLabel))
		}
	}
	for _, a := range root.attrs {
		switch {
		case a.Name.Space == "" && (a.Name.Local == "id" || a.Name.Local == "version"):
		case a.Name.Local == "version" && (a.Name.Space == nsORX || a.Name.Space == "orx") && root.get("", "version") == "":
		case a.Name.Local == "template" && (a.Name.Space == nsJR || a.Name.Space == "jr"):
		default:
			c.dropped(nil, root.path(), fmt.Sprintf("attribute %s=%q of the primary instance", qualify(a.Name.Space, a.Name.Local), a.Value),
				"it has no meaning for Fieldforms records")
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}
