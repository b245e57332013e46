package xform

import (
	"fmt"
	"strings"
)

// readInstance reads the primary instance into a tree of nodes, and indexes the
// secondary instances by id.
func (c *converter) readInstance() error {
	var primary *elem
	for _, in := range c.model.kids {
		if !in.is(nsXForms, "instance") {
			continue
		}
		if primary == nil {
			primary = in
			continue
		}
		id := in.get("", "id")
		if id == "" {
			c.warn(in.path(), "a secondary instance without an id cannot be read; ignored")
			continue
		}
		if _, dup := c.secondary[id]; dup {
			c.warn(in.path(), fmt.Sprintf("a second instance with id %q; the first is used", id))
			continue
		}
		c.secondary[id] = in
	}
	if primary == nil {
		return &Error{Path: c.model.path(), Msg: "the model has no <instance>", err: ErrNotXForm}
	}
	if len(primary.kids) != 1 {
		return &Error{Path: primary.path(), Msg: fmt.Sprintf("the primary instance must hold one root element, not %d", len(primary.kids)), err: ErrNotXForm}
	}
	if src := primary.get("", "src"); src != "" {
		return &Error{Path: primary.path(), Msg: "the primary instance is an external file (" + src + ")", err: ErrNotXForm}
	}
	re := primary.kids[0]
	c.root = &inode{name: re.local, path: "/" + re.local, el: re, ord: -1}
	c.nodes[c.root.path] = c.root
	c.readNode(c.root)
	if c.root.leaf {
		return &Error{Path: re.path(), Msg: "the primary instance's root element holds no field", err: ErrNotXForm}
	}
	return nil
}

func (c *converter) readNode(n *inode) {
	n.leaf = len(n.el.kids) == 0
	if n.leaf {
		n.text = strings.TrimSpace(n.el.text())
		return
	}
	byName := map[string]*inode{}
	for _, k := range n.el.kids {
		_, tmpl := k.attr(nsJR, "template")
		if prev, ok := byName[k.local]; ok {
			if tmpl && !prev.tmpl {
				// The template defines the repeat; the instance read first is data.
				prev.dups = append(prev.dups, prev.el)
				prev.el, prev.tmpl = k, true
				var forget func(n *inode)
				forget = func(n *inode) {
					for _, k := range n.kids {
						delete(c.nodes, k.path)
						forget(k)
					}
				}
				forget(prev)
				prev.kids = nil
				c.readNode(prev)
			} else {
				prev.dups = append(prev.dups, k)
			}
			continue
		}
		kn := &inode{name: k.local, path: n.path + "/" + k.local, el: k, parent: n, tmpl: tmpl, ord: -1}
		byName[k.local] = kn
		n.kids = append(n.kids, kn)
		c.nodes[kn.path] = kn
		c.readNode(kn)
	}
}

// resolveRef turns a ref or nodeset (absolute, or relative to the instance path
// ctx) into an instance path. Prefixes of steps are dropped (orx:meta is meta).
func (c *converter) resolveRef(ref, ctx string) (string, bool) {
	ref = strings.TrimSpace(ref)
	if rest, ok := strings.CutPrefix(ref, "current()/"); ok {
		ref = "./" + rest // current() is the context node
	}
	if ref == "" || strings.ContainsAny(ref, "[]()'\" \t\n") || strings.Contains(ref, "//") {
		return "", false
	}
	var steps []string
	if strings.HasPrefix(ref, "/") {
		ref = ref[1:]
	} else {
		steps = strings.Split(strings.TrimPrefix(ctx, "/"), "/")
		if ctx == "" {
			steps = nil
		}
	}
	for _, s := range strings.Split(ref, "/") {
		switch s {
		case ".":
		case "..":
			if len(steps) == 0 {
				return "", false
			}
			steps = steps[:len(steps)-1]
		case "":
			return "", false
		default:
			if i := strings.IndexByte(s, ':'); i >= 0 {
				s = s[i+1:]
			}
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return "", false
	}
	return "/" + strings.Join(steps, "/"), true
}

// readItext reads the translations: text id → language → form → value element.
func (c *converter) readItext() error {
	it := c.model.child(nsXForms, "itext")
	if it == nil {
		return nil
	}
	seen := map[string]bool{}
	short := 0
	defer func() {
		if short > 0 {
			c.dropped(nil, it.path(), fmt.Sprintf("%d texts of form \"short\"", short), "Fieldforms shows a question's full label everywhere")
		}
	}()
	for _, tr := range it.kids {
		if !tr.is(nsXForms, "translation") {
			c.dropped(nil, tr.path(), "<"+tr.qname()+">", "only translations are read from itext")
			continue
		}
		lang := strings.TrimSpace(tr.get("", "lang"))
		name := lang
		if lang == "default" || lang == "" {
			name = ""
		} else if len(name) > 64 || strings.ContainsAny(name, "\r\n") {
			name = firstLine(name)
			if len(name) > 64 {
				name = name[:64]
			}
			c.approx(nil, tr.path(), fmt.Sprintf("language %q", lang), fmt.Sprintf("a language name is one line of at most 64 bytes: %q", name))
		}
		if seen[name] {
			c.warn(tr.path(), fmt.Sprintf("a second translation %q; its texts are merged with the first's", lang))
		} else {
			seen[name] = true
			if name != "" {
				c.langs = append(c.langs, name)
			}
		}
		c.langName[lang] = name
		if d := tr.get("", "default"); d != "" && isTrue(d) {
			c.defLang = name
		}
		for _, t := range tr.kids {
			if !t.is(nsXForms, "text") {
				continue
			}
			id := t.get("", "id")
			if c.itext[id] == nil {
				c.itext[id] = map[string]map[string]*elem{}
			}
			if c.itext[id][name] == nil {
				c.itext[id][name] = map[string]*elem{}
			}
			for _, v := range t.kids {
				if !v.is(nsXForms, "value") {
					continue
				}
				f := v.get("", "form")
				if f == "short" {
					short++
					continue
				}
				if _, dup := c.itext[id][name][f]; !dup {
					c.itext[id][name][f] = v
				}
			}
		}
	}
	return nil
}

// isTrue reads an XPath boolean written as an attribute: true() or true.
func isTrue(s string) bool {
	s = strings.ToLower(strings.Join(strings.Fields(s), ""))
	return s == "true()" || s == "true" || s == "yes"
}

func isFalse(s string) bool {
	s = strings.ToLower(strings.Join(strings.Fields(s), ""))
	return s == "false()" || s == "false" || s == "no"
}

// readBinds reads the binds, merged by the node they bind.
func (c *converter) readBinds() error {
	for _, b := range c.model.kids {
		if !b.is(nsXForms, "bind") {
			continue
		}
		for _, k := range b.kids {
			if k.is(nsXForms, "bind") {
				c.dropped(nil, k.path(), "nested bind", "binds inside binds are not read")
			}
		}
		ref := b.get("", "nodeset")
		if ref == "" {
			ref = b.get("", "ref")
		}
		path, ok := c.resolveRef(ref, c.root.path)
		if !ok || c.nodes[path] == nil {
			c.dropped(nil, b.path(), fmt.Sprintf("bind of %q", ref), c.whyNoNode(ref))
			continue
		}
		bd := c.binds[path]
		if bd == nil {
			bd = &bind{el: b, attrs: map[string]string{}, path: path}
			c.binds[path] = bd
		}
		for _, a := range b.attrs {
			k := qualify(a.Name.Space, a.Name.Local)
			switch k {
			case "nodeset", "ref":
				continue
			case "id":
				c.bindIDs[a.Value] = path
				continue
			}
			if prev, dup := bd.attrs[k]; dup && prev != a.Value {
				c.warn(b.path(), fmt.Sprintf("%s is bound twice for %s (%q and %q); the first is used", k, path, prev, a.Value))
				continue
			}
			bd.attrs[k] = a.Value
		}
	}
	return nil
}

// action is a setvalue (or odk:setgeopoint, odk:recordaudio) element.
type action struct {
	el       *elem
	kind     string // setvalue, setgeopoint, recordaudio
	events   []string
	target   string // instance path of ref
	value    string // the value attribute: an expression
	hasValue bool
	literal  string // the element's text, when there is no value attribute
	src      *inode // the control the action is in; nil in the model or a repeat
}

func actionKind(e *elem) string {
	switch {
	case e.is(nsXForms, "setvalue"):
		return "setvalue"
	case e.is(nsODK, "setgeopoint"):
		return "setgeopoint"
	case e.is(nsODK, "recordaudio"):
		return "recordaudio"
	}
	return ""
}

// readAction reads an action element; ctx is the instance path its relative ref
// is read from.
func (c *converter) readAction(e *elem, ctx string, src *inode) {
	a := &action{el: e, kind: actionKind(e), src: src}
	ev := e.get(nsEV, "event")
	if ev == "" {
		ev = e.get("", "event")
	}
	a.events = strings.Fields(ev)
	ref := e.get("", "ref")
	if ref == "" {
		if id := e.get("", "bind"); id != "" {
			ref = c.bindIDs[id]
		}
	}
	path, ok := c.resolveRef(ref, ctx)
	if !ok || c.nodes[path] == nil {
		c.dropped(nil, e.path(), fmt.Sprintf("<%s ref=%q>", e.qname(), ref), c.whyNoNode(ref))
		return
	}
	a.target = path
	a.value, a.hasValue = e.attr("", "value")
	a.literal = e.allText()
	c.actions = append(c.actions, a)
}

// readModelRest reads the model's actions and reports what is not carried over.
func (c *converter) readModelRest() error {
	for _, a := range c.model.attrs {
		if a.Name.Local == "entities-version" {
			c.dropped(nil, c.model.path(), fmt.Sprintf("entities version %q", a.Value), "ODK entities (records that create or update a dataset) are not supported")
		}
	}
	for _, k := range c.model.kids {
		switch {
		case k.is(nsXForms, "instance"), k.is(nsXForms, "itext"), k.is(nsXForms, "bind"):
		case actionKind(k) != "":
			c.readAction(k, c.root.path, nil)
		case k.is(nsXForms, "submission"):
			var parts []string
			for _, a := range k.attrs {
				parts = append(parts, qualify(a.Name.Space, a.Name.Local))
			}
			why := "records are sent to the Fieldforms server the device is enrolled with"
			if _, ok := k.attr("", "base64RsaPublicKey"); ok {
				why += "; forms encrypted with a public key are not supported: records are protected in transit and on the server, not per form"
			}
			c.dropped(nil, k.path(), "submission ("+strings.Join(parts, ", ")+")", why)
		default:
			c.dropped(nil, k.path(), "<"+k.qname()+">", "it is not an element of the model that Fieldforms reads")
		}
	}
	return nil
}

// whyNoNode says why a ref that names no node is not carried over.
func (c *converter) whyNoNode(ref string) string {
	switch {
	case strings.Contains(ref, "/meta/entity"):
		return whyEntity
	case strings.Contains(ref, "@"):
		return "it names an attribute of the instance; Fieldforms keeps values of fields only"
	}
	return "it names no node of the primary instance"
}
