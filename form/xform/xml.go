package xform

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Namespaces of the XForms that ODK tools write.
const (
	nsXForms = "http://www.w3.org/2002/xforms"
	nsXHTML  = "http://www.w3.org/1999/xhtml"
	nsJR     = "http://openrosa.org/javarosa"
	nsODK    = "http://www.opendatakit.org/xforms"
	nsORX    = "http://openrosa.org/xforms"
	nsEV     = "http://www.w3.org/2001/xml-events"
)

// prefixes are the usual prefixes of the namespaces, for element paths in messages.
var prefixes = map[string]string{
	nsXForms: "", nsXHTML: "h", nsJR: "jr", nsODK: "odk", nsORX: "orx", nsEV: "ev",
	"http://www.opendatakit.org/xforms/entities": "entities",
}

// Limits on the XML read.
const (
	// MaxFileSize bounds the XForms Import reads.
	MaxFileSize = 8 << 20
	maxXMLDepth = 128
	maxElements = 1 << 20
)

// elem is an element of the XML document: its name, attributes, children and the
// text and elements inside it in order (for labels with <output/>).
type elem struct {
	space, local string // Space is the namespace URI, or the prefix when undeclared
	attrs        []xml.Attr
	kids         []*elem
	content      []any // string or *elem, in document order
	parent       *elem
	index        int // 1-based among the parent's children of the same name
	same         int // how many children of the parent have this name
	line         int
}

// text is the element's own character data, children left out.
func (e *elem) text() string {
	var b strings.Builder
	for _, c := range e.content {
		if s, ok := c.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

// allText is the character data of the element and of every element inside it.
func (e *elem) allText() string {
	var b strings.Builder
	var walk func(*elem)
	walk = func(e *elem) {
		for _, c := range e.content {
			switch c := c.(type) {
			case string:
				b.WriteString(c)
			case *elem:
				walk(c)
			}
		}
	}
	walk(e)
	return b.String()
}

// qname is the element's name with its usual prefix.
func (e *elem) qname() string { return qualify(e.space, e.local) }

func qualify(space, local string) string {
	p, ok := prefixes[space]
	if !ok {
		p = space
		if strings.Contains(p, "/") {
			p = "" // a namespace of its own: the local name alone
		}
	}
	if p == "" {
		return local
	}
	return p + ":" + local
}

// path is the element's path from the document's root, e.g.
// /h:html/h:body/group[2]/input[3]; the position is given among siblings of the
// same name when there are several.
func (e *elem) path() string {
	if e == nil {
		return ""
	}
	var parts []string
	for x := e; x != nil; x = x.parent {
		s := x.qname()
		if x.same > 1 {
			s += "[" + strconv.Itoa(x.index) + "]"
		}
		parts = append(parts, s)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// is reports an element of the namespace (or with that prefix, when undeclared)
// and local name. An empty ns matches any namespace.
func (e *elem) is(ns, local string) bool {
	return e != nil && e.local == local && (ns == "" || e.space == ns || e.space == prefixes[ns])
}

// attr returns an attribute by namespace and local name: ns "" is an attribute
// without a prefix. An undeclared prefix matches its usual namespace.
func (e *elem) attr(ns, local string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local != local {
			continue
		}
		if a.Name.Space == ns || ns != "" && a.Name.Space == prefixes[ns] {
			return a.Value, true
		}
	}
	return "", false
}

func (e *elem) get(ns, local string) string {
	v, _ := e.attr(ns, local)
	return v
}

// child returns the first child element with the name, or nil.
func (e *elem) child(ns, local string) *elem {
	for _, k := range e.kids {
		if k.is(ns, local) {
			return k
		}
	}
	return nil
}

// children returns the child elements with the name.
func (e *elem) children(ns, local string) []*elem {
	var out []*elem
	for _, k := range e.kids {
		if k.is(ns, local) {
			out = append(out, k)
		}
	}
	return out
}

// parseXML reads a document into a tree of elements. It reads no DTD or external
// entity (encoding/xml expands none but the five predefined ones), and refuses
// documents nested deeper than maxXMLDepth or with more than maxElements elements.
func parseXML(r io.Reader) (*elem, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	d.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return in, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported: save the form as UTF-8", charset)
	}
	var root, cur *elem
	n := 0
	depth := 0
	type key struct{ space, local string }
	var counts []map[key]int // per open element: its children by name
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			msg := err.Error()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				msg = fmt.Sprintf("malformed XML at line %d: %s", se.Line, se.Msg)
			}
			return nil, &Error{Path: cur.path(), Msg: msg, err: ErrNotXForm}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n++
			depth++
			if n > maxElements {
				return nil, &Error{Path: cur.path(), Msg: fmt.Sprintf("more than %d elements", maxElements)}
			}
			if depth > maxXMLDepth {
				return nil, &Error{Path: cur.path(), Msg: fmt.Sprintf("elements nest more than %d deep", maxXMLDepth)}
			}
			line, _ := d.InputPos()
			e := &elem{space: t.Name.Space, local: t.Name.Local, parent: cur, line: line}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				e.attrs = append(e.attrs, a)
			}
			if cur == nil {
				if root != nil {
					return nil, &Error{Msg: "more than one root element", err: ErrNotXForm}
				}
				root = e
			} else {
				c := counts[len(counts)-1]
				c[key{e.space, e.local}]++
				e.index = c[key{e.space, e.local}]
				cur.kids = append(cur.kids, e)
				cur.content = append(cur.content, e)
			}
			counts = append(counts, map[key]int{})
			cur = e
		case xml.EndElement:
			depth--
			if cur != nil {
				// Count the siblings of the same name, for paths.
				c := counts[len(counts)-1]
				counts = counts[:len(counts)-1]
				for _, k := range cur.kids {
					k.same = c[key{k.space, k.local}]
				}
				cur = cur.parent
			}
		case xml.CharData:
			if cur != nil {
				// Kept apart, not joined: joining text split by comments would be
				// quadratic.
				cur.content = append(cur.content, string(t))
			}
		}
	}
	if root == nil {
		return nil, &Error{Msg: "the file holds no XML element", err: ErrNotXForm}
	}
	return root, nil
}
