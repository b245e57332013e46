package xform

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fieldforms/fieldforms/form"
)

// mediaForms are the itext forms that name a file shown with a text.
var mediaForms = map[string]bool{"image": true, "audio": true, "video": true, "big-image": true}

// itextID reads jr:itext('id'); ok is false for anything else.
func itextID(ref string) (string, bool) {
	toks := lexXPath(ref)
	if len(toks) == 4 && toks[0].kind == tkName && toks[0].text == "jr:itext" && toks[1].kind == tkLParen &&
		toks[2].kind == tkStr && toks[3].kind == tkRParen {
		return toks[2].text[1 : len(toks[2].text)-1], true
	}
	return "", false
}

// langs lists the languages in the form's order, the untranslated one first.
func (c *converter) allLangs() []string { return append([]string{""}, c.langs...) }

// readText reads a <label> or <hint>: its own text (with outputs), or the
// translations jr:itext('id') names, with their media and guidance.
func (c *converter) readText(it *item, e *elem, ctx, what string) (rtext, form.Media, rtext) {
	ref := strings.TrimSpace(e.get("", "ref"))
	if ref == "" {
		return rtext{"": c.rich(e, ctx)}, nil, nil
	}
	id, ok := itextID(ref)
	if !ok {
		c.dropped(it, e.path(), fmt.Sprintf("%s ref=%q", what, ref), "a text read from an expression or the instance is not supported")
		return rtext{"": c.rich(e, ctx)}, nil, nil
	}
	return c.itextText(it, e, id, ctx, what)
}

// itextText resolves an itext id to its translations.
func (c *converter) itextText(it *item, e *elem, id, ctx, what string) (rtext, form.Media, rtext) {
	tr := c.itext[id]
	if tr == nil {
		c.dropped(it, e.path(), fmt.Sprintf("%s jr:itext(%q)", what, id), "the form has no translation with that id")
		return nil, nil, nil
	}
	t := rtext{}
	var media form.Media
	var guidance rtext
	for _, lang := range c.allLangs() {
		forms := tr[lang]
		for _, f := range slices.Sorted(mapKeys(forms)) {
			v := forms[f]
			switch {
			case f == "":
				t[lang] = c.rich(v, ctx)
			case f == "long":
				if _, has := forms[""]; !has {
					t[lang] = c.rich(v, ctx)
				}
			case f == "guidance":
				if guidance == nil {
					guidance = rtext{}
				}
				guidance[lang] = c.rich(v, ctx)
			case mediaForms[f]:
				name := mediaName(v.allText())
				if name == "" {
					continue
				}
				if what != "label" {
					c.dropped(it, v.path(), fmt.Sprintf("%s %s %q", what, f, name), "media are shown with labels only")
					continue
				}
				if media == nil {
					media = form.Media{}
				}
				media[f] = media[f].With(lang, name)
			default:
				c.dropped(it, v.path(), fmt.Sprintf("%s text of form %q", what, f), "only the text, guidance, image, audio, video and big-image forms are carried over")
			}
		}
	}
	return t, media, guidance
}

// attrText reads a message attribute (jr:constraintMsg): a text, or jr:itext('id').
func (c *converter) attrText(it *item, e *elem, v, ctx string) rtext {
	if id, ok := itextID(v); ok {
		t, _, _ := c.itextText(it, e, id, ctx, "message")
		return t
	}
	if v == "" {
		return nil
	}
	return rtext{"": rich{v}}
}

// rich reads the text of an element, with its <output/>s.
func (c *converter) rich(e *elem, ctx string) rich {
	var r rich
	for _, x := range e.content {
		switch x := x.(type) {
		case string:
			r = append(r, x)
		case *elem:
			if x.is(nsXForms, "output") {
				v := x.get("", "value")
				if v == "" {
					v = x.get("", "ref")
				}
				r = append(r, output{value: strings.TrimSpace(v), ctx: ctx, el: x})
				continue
			}
			r = append(r, c.rich(x, ctx)...)
		}
	}
	return r
}

// mediaName is the file name of a media reference: jr://images/a.png is a.png.
func mediaName(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"jr://images/", "jr://audio/", "jr://video/", "jr://file/"} {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

// blank reports a text with nothing but white space and no output.
func (t rtext) blank() bool {
	for _, r := range t {
		for _, x := range r {
			switch x := x.(type) {
			case string:
				if strings.TrimSpace(x) != "" {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

// plain renders a text whose outputs cannot be resolved (an option's label): the
// outputs are left out, and reported.
func (c *converter) plain(it *item, t rtext, what string) form.Text {
	m := map[string]string{}
	for lang, r := range t {
		var b strings.Builder
		for _, x := range r {
			switch x := x.(type) {
			case string:
				b.WriteString(x)
			case output:
				c.approx(it, x.el.path(), fmt.Sprintf("<output value=%q/> in %s", x.value, what), "left out: option labels show no values")
			}
		}
		m[lang] = strings.TrimSpace(b.String())
	}
	return form.Texts(m)
}
