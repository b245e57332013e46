package xform

import (
	"fmt"
	"strings"
)

// control is a body element that asks for a value.
type control struct {
	el   *elem
	kind string // input, select1, select, rank, range, upload, trigger, textarea, secret
	path string
	grp  string // the instance path of the body group or repeat it is in
}

func controlKind(e *elem) string {
	if e.is(nsODK, "rank") {
		return "rank"
	}
	if e.space != nsXForms && e.space != "" {
		return ""
	}
	switch e.local {
	case "input", "select1", "select", "range", "upload", "trigger", "textarea", "secret":
		return e.local
	}
	return ""
}

// readBody walks the body: its groups, repeats and controls, tied to the nodes
// of the primary instance.
func (c *converter) readBody() error {
	if c.body == nil {
		c.warn(c.doc.path(), "the form has no <h:body>: every field is hidden or computed")
		return nil
	}
	return c.walkBody(c.body, c.root.path, "")
}

// ref reads the node an element binds: ref, nodeset or bind.
func (c *converter) ref(e *elem, ctx string, attrs ...string) (string, string, bool) {
	for _, a := range attrs {
		if v, ok := e.attr("", a); ok {
			p, ok := c.resolveRef(v, ctx)
			return p, v, ok
		}
	}
	if id, ok := e.attr("", "bind"); ok {
		p, ok := c.bindIDs[id]
		return p, "bind " + id, ok
	}
	return "", "", false
}

func (c *converter) walkBody(e *elem, ctx, grp string) error {
	for _, k := range e.kids {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		switch {
		case k.is(nsXForms, "label"), k.is(nsXForms, "hint"):
			// read by the group or repeat
		case k.is(nsXForms, "group"):
			if _, has := k.attr("", "ref"); !has {
				if _, has := k.attr("", "bind"); !has {
					// A group of the body only: its questions are in the enclosing group.
					var lost []string
					if k.child(nsXForms, "label") != nil {
						lost = append(lost, "label")
					}
					if a := k.get("", "appearance"); a != "" {
						lost = append(lost, fmt.Sprintf("appearance %q", a))
					}
					if len(lost) > 0 {
						verb := " is"
						if len(lost) > 1 {
							verb = " are"
						}
						c.approx(nil, k.path(), "group without ref", "its questions are kept where their data nodes are; its "+strings.Join(lost, " and ")+verb+" not carried over (a Fieldforms group is a node of the record)")
					}
					if err := c.walkBody(k, ctx, grp); err != nil {
						return err
					}
					continue
				}
			}
			path, ref, ok := c.ref(k, ctx, "ref")
			n := c.nodes[path]
			if !ok || n == nil {
				return &Error{Path: k.path(), Msg: fmt.Sprintf("group ref %q names no node of the primary instance", ref)}
			}
			if n.leaf {
				// A group bound to a value (JavaRosa allows it, for its relevance): its
				// questions stay where their data nodes are.
				c.approx(nil, k.path(), fmt.Sprintf("group ref %q", ref), "it names a value, not a group of the instance: its questions are kept where their data nodes are; its label and its bind's rules (relevant) are not applied to them")
				if err := c.walkBody(k, ctx, grp); err != nil {
					return err
				}
				continue
			}
			if n.grp != nil {
				c.approx(nil, k.path(), fmt.Sprintf("second group for %s", path), "its questions are kept; only the first group's label and appearance are carried over")
			} else {
				n.grp = k
			}
			if n.ord < 0 {
				n.ord = c.order
				c.order++
			}
			if err := c.walkBody(k, path, path); err != nil {
				return err
			}
		case k.is(nsXForms, "repeat"):
			path, ref, ok := c.ref(k, ctx, "nodeset", "ref")
			n := c.nodes[path]
			if !ok || n == nil {
				return &Error{Path: k.path(), Msg: fmt.Sprintf("repeat nodeset %q names no node of the primary instance", ref)}
			}
			if n.leaf {
				return &Error{Path: k.path(), Msg: fmt.Sprintf("repeat nodeset %q names a value, not a group of the primary instance", ref)}
			}
			if n.rep != nil {
				return &Error{Path: k.path(), Msg: fmt.Sprintf("a second repeat for %s", path)}
			}
			n.rep = k
			if n.ord < 0 {
				n.ord = c.order
				c.order++
			}
			if err := c.walkBody(k, path, path); err != nil {
				return err
			}
		case actionKind(k) != "":
			c.readAction(k, ctx, nil)
		case controlKind(k) != "":
			if err := c.readControl(k, ctx, grp); err != nil {
				return err
			}
		default:
			c.dropped(nil, k.path(), "<"+k.qname()+">", "it is not an XForms control Fieldforms knows")
		}
	}
	return nil
}

func (c *converter) readControl(k *elem, ctx, grp string) error {
	path, ref, ok := c.ref(k, ctx, "ref")
	if ref == "" {
		return &Error{Path: k.path(), Msg: fmt.Sprintf("<%s> has no ref", k.qname())}
	}
	n := c.nodes[path]
	if !ok || n == nil {
		return &Error{Path: k.path(), Msg: fmt.Sprintf("ref %q names no node of the primary instance", ref)}
	}
	if !n.leaf {
		return &Error{Path: k.path(), Msg: fmt.Sprintf("ref %q names a group of the primary instance, not a value", ref)}
	}
	if n.ctl != nil {
		c.dropped(nil, k.path(), fmt.Sprintf("second control for %s", path), fmt.Sprintf("%s already asks for the value", n.ctl.el.path()))
		return nil
	}
	n.ctl = &control{el: k, kind: controlKind(k), path: path, grp: grp}
	n.ord = c.order
	c.order++
	for _, a := range k.kids {
		if actionKind(a) != "" {
			c.readAction(a, path, n)
		}
	}
	return nil
}
