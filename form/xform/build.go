package xform

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fieldforms/fieldforms/form"
)

const (
	whyAudit  = "audit logs of how a form was filled are not kept; Fieldforms keeps each record's history of changes instead"
	whySIM    = "deprecated: Android no longer lets apps read the SIM serial or subscriber ID"
	whyEntity = "ODK entities (records that create or update a dataset) are not supported"
)

// build makes an item of every node of the primary instance.
func (c *converter) build() error {
	c.byTarget = map[string][]*action{}
	for _, a := range c.actions {
		c.byTarget[a.target] = append(c.byTarget[a.target], a)
	}
	rootItem := &item{n: c.root}
	c.root.it = rootItem
	for _, k := range c.root.kids {
		rootItem.kids = append(rootItem.kids, c.buildNode(k))
	}
	c.top = sortByBody(rootItem.kids)
	c.applyActions()
	c.dropEmpty(c.top)
	for _, it := range c.items {
		if it.drop == "" && !it.consumed {
			c.labelIfNeeded(it)
		}
	}
	return nil
}

// sortByBody puts the items that have a place in the body in the body's order,
// leaving the others in their places of the instance.
func sortByBody(items []*item) []*item {
	var slots []int
	var placed []*item
	for i, it := range items {
		if it.n.ord >= 0 {
			slots = append(slots, i)
			placed = append(placed, it)
		}
	}
	sort.SliceStable(placed, func(i, j int) bool { return placed[i].n.ord < placed[j].n.ord })
	out := slices.Clone(items)
	for k, i := range slots {
		out[i] = placed[k]
	}
	return out
}

// drop leaves an item out of the template and reports why.
func (c *converter) drop(it *item, why string) {
	it.drop = why
	c.dropped(it, "", describe(it), why)
	it.status = statusDropped
}

// dropTree leaves out an item and every item inside it, with one report.
func (c *converter) dropTree(it *item, why string) {
	c.drop(it, why)
	var walk func(n *inode)
	walk = func(n *inode) {
		for _, k := range n.kids {
			ki := c.newItem(k)
			ki.drop = "it is inside " + it.n.path + ", which is dropped"
			ki.status = statusDropped
			it.kids = append(it.kids, ki)
			walk(k)
		}
	}
	walk(it.n)
}

func (c *converter) newItem(n *inode) *item {
	it := &item{n: n, row: n.path, elPath: n.el.path(), exprs: map[string]string{}, texts: map[string]rtext{}}
	it.f.ID = n.name
	n.it = it
	c.items = append(c.items, it)
	return it
}

func (c *converter) isMeta(n *inode) bool {
	return n != nil && n.parent == c.root && n.name == "meta" && !n.leaf
}

func (c *converter) buildNode(n *inode) *item {
	it := c.newItem(n)
	b := c.binds[n.path]
	switch {
	case n.ctl != nil:
		it.elPath = n.ctl.el.path()
	case n.rep != nil:
		it.elPath = n.rep.path()
	case n.grp != nil:
		it.elPath = n.grp.path()
	case b != nil:
		it.elPath = b.el.path()
	}
	if c.isMeta(n.parent) {
		switch n.name {
		case "instanceID":
			it.f.Type, it.f.Meta = form.TypeHidden, "instanceid"
			it.meta = true
			return it
		case "instanceName":
			it.f.Type = form.TypeCalculate
			if calc := strings.TrimSpace(b.get("calculate")); calc != "" {
				c.instanceName, c.instanceNameItem = calc, it
				it.consumed = true
			} else {
				c.drop(it, "an instance name without a calculation names no record")
			}
			return it
		case "deprecatedID":
			it.f.Type = form.TypeHidden
			c.drop(it, "an edited Fieldforms record keeps its ID and its history of changes")
			return it
		case "audit":
			it.f.Type = form.TypeFile
			c.drop(it, whyAudit)
			return it
		case "entity":
			it.f.Type = form.TypeGroup
			c.dropTree(it, whyEntity)
			return it
		}
	}
	if pre := b.get("jr:preload"); pre != "" {
		c.metaField(it, b, pre, strings.TrimSpace(b.get("jr:preloadParams")))
		if it.drop == "" {
			c.bindRules(it, b)
		}
		return it
	}
	switch {
	case !n.leaf:
		c.container(it, b)
	case n.ctl != nil:
		c.controlField(it, b)
	default:
		c.bindField(it, b)
	}
	if it.drop == "" {
		c.bindRules(it, b)
		if n.leaf {
			c.defaultValue(it)
		}
	}
	return it
}

// metaField reads a node that a jr:preload fills.
func (c *converter) metaField(it *item, b *bind, pre, params string) {
	f := &it.f
	it.meta = true
	f.Type = form.TypeHidden
	what := fmt.Sprintf("preload %s %q", pre, params)
	switch pre {
	case "timestamp":
		switch params {
		case "start", "end":
			f.Type, f.Meta = form.TypeDateTime, params
		default:
			c.drop(it, what+" is not a preload Fieldforms knows")
			return
		}
	case "date":
		if params != "today" {
			c.drop(it, what+" is not a preload Fieldforms knows")
			return
		}
		f.Type, f.Meta = form.TypeDate, "today"
	case "property":
		switch p := strings.TrimPrefix(strings.ToLower(params), "uri:"); p {
		case "deviceid", "username", "email", "phonenumber":
			f.Meta = p
		case "subscriberid", "simserial":
			c.drop(it, whySIM)
			return
		default:
			c.drop(it, what+" is not a property Fieldforms knows")
			return
		}
	case "uid":
		f.Meta = "instanceid"
	case "context":
		if !strings.EqualFold(params, "username") {
			c.drop(it, what+" is not a preload Fieldforms knows")
			return
		}
		f.Meta = "username"
	default:
		c.drop(it, what+" is not a preload Fieldforms knows")
		return
	}
	if it.n.ctl != nil {
		c.approx(it, "", describe(it), fmt.Sprintf("filled by itself (%s); its control %s is not shown", f.Meta, it.n.ctl.el.path()))
	}
	if calc := b.get("calculate"); calc != "" {
		c.approx(it, "", fmt.Sprintf("calculate %q of %s", calc, describe(it)), "the field is filled by its preload, "+f.Meta)
	}
}

// container reads a group or repeat of the instance.
func (c *converter) container(it *item, b *bind) {
	n := it.n
	f := &it.f
	f.Type = form.TypeGroup
	if n.rep != nil || n.tmpl {
		f.Type = form.TypeRepeat
	}
	var apps []string
	for _, e := range []*elem{n.grp, n.rep} {
		if e == nil {
			continue
		}
		if l := e.child(nsXForms, "label"); l != nil && it.texts["label"] == nil {
			t, media, _ := c.readText(it, l, n.path, "label")
			it.texts["label"] = t
			f.Media = media
		}
		if h := e.child(nsXForms, "hint"); h != nil && it.texts["help"] == nil {
			t, _, g := c.readText(it, h, n.path, "hint")
			it.texts["help"] = t
			if g != nil {
				it.texts["guidance"] = g
			}
		}
		if a := strings.TrimSpace(e.get("", "appearance")); a != "" {
			apps = append(apps, a)
		}
		for _, a := range e.attrs {
			k := qualify(a.Name.Space, a.Name.Local)
			switch k {
			case "ref", "nodeset", "bind", "appearance", "jr:count", "jr:noAddRemove":
			case "intent", "odk:intent":
				c.dropped(it, e.path(), fmt.Sprintf("intent %q", a.Value), "launching another app to fill a group is not supported; its questions are asked one by one")
			default:
				c.dropped(it, e.path(), fmt.Sprintf("attribute %s=%q", k, a.Value), "not carried over")
			}
		}
	}
	f.Appearance = strings.Join(apps, " ")
	if f.Type == form.TypeRepeat {
		if n.rep != nil {
			count := strings.TrimSpace(n.rep.get(nsJR, "count"))
			if count != "" {
				it.exprs["repeat_count"] = count
			}
			if nar := n.rep.get(nsJR, "noAddRemove"); nar != "" && isTrue(nar) {
				if count == "" {
					c.approx(it, n.rep.path(), "jr:noAddRemove", "workers can add and remove the repeat's instances")
				} else {
					c.warn(n.rep.path(), "jr:noAddRemove: the repeat has exactly repeat_count instances")
				}
			}
		} else {
			c.approx(it, "", describe(it)+" without a body repeat", "it is a repeat (its instance element is a jr:template) that workers can add instances to")
		}
		if n.tmpl && len(n.dups) > 0 && !(len(n.dups) == 1 && sameTree(n.dups[0], n.el)) {
			c.dropped(it, n.dups[0].path(), fmt.Sprintf("%d instance(s) of repeat %q written in the primary instance", len(n.dups), n.name),
				"a new record starts with no instance (or as many as repeat_count says)")
		}
	} else if len(n.dups) > 0 {
		c.dropped(it, n.dups[0].path(), fmt.Sprintf("%d more element(s) %q in the primary instance", len(n.dups), n.name), "only the first is a group of the template")
	}
	for _, k := range n.kids {
		it.kids = append(it.kids, c.buildNode(k))
	}
	it.kids = sortByBody(it.kids)
	if n.ord < 0 {
		for _, k := range it.kids {
			if k.n.ord >= 0 && (n.ord < 0 || k.n.ord < n.ord) {
				n.ord = k.n.ord
			}
		}
	}
}

// sameTree reports whether two instance elements hold the same elements and text.
func sameTree(a, b *elem) bool {
	if a.local != b.local || len(a.kids) != len(b.kids) || strings.TrimSpace(a.text()) != strings.TrimSpace(b.text()) {
		return false
	}
	for i := range a.kids {
		if !sameTree(a.kids[i], b.kids[i]) {
			return false
		}
	}
	return true
}

// dropEmpty leaves out groups and repeats none of whose fields is kept.
func (c *converter) dropEmpty(items []*item) bool {
	kept := false
	for _, it := range items {
		if it.drop != "" {
			continue
		}
		if it.f.Type == form.TypeGroup || it.f.Type == form.TypeRepeat {
			if !c.dropEmpty(it.kids) {
				c.drop(it, "it holds no field that could be imported")
				continue
			}
		}
		if !it.consumed {
			kept = true
		}
	}
	return kept
}

// The bind types of input controls.
var inputTypes = map[string]form.FieldType{
	"": form.TypeText, "string": form.TypeText,
	"int": form.TypeInteger, "integer": form.TypeInteger, "long": form.TypeInteger, "short": form.TypeInteger,
	"decimal": form.TypeDecimal, "double": form.TypeDecimal, "float": form.TypeDecimal,
	"date": form.TypeDate, "time": form.TypeTime, "datetime": form.TypeDateTime,
	"geopoint": form.TypeGeo, "geotrace": form.TypeGeoTrace, "geoshape": form.TypeGeoShape,
	"barcode": form.TypeBarcode,
}

func bindType(b *bind) string {
	t := strings.TrimSpace(b.get("type"))
	if i := strings.IndexByte(t, ':'); i >= 0 {
		t = t[i+1:]
	}
	return strings.ToLower(t)
}

// controlField reads a node a body control asks for.
func (c *converter) controlField(it *item, b *bind) {
	n := it.n
	ctl := n.ctl
	e := ctl.el
	f := &it.f
	typ := bindType(b)
	app := strings.TrimSpace(e.get("", "appearance"))
	switch ctl.kind {
	case "input":
		t, ok := inputTypes[typ]
		if typ == "note" {
			t, ok = form.TypeNote, true
			it.note = true
		}
		if !ok {
			t = form.TypeText
			c.approx(it, "", fmt.Sprintf("input of type %q", b.get("type")), "a text question")
		}
		f.Type = t
		if t == form.TypeText && hasToken(app, "multiline") {
			f.Type = form.TypeMultiline
			app = removeToken(app, "multiline")
		}
		if t == form.TypeText && (typ == "" || typ == "string") && isTrue(b.get("readonly")) && strings.TrimSpace(b.get("calculate")) == "" && n.text == "" && !c.isSetTarget(n) {
			f.Type = form.TypeNote
			it.note = true
		}
	case "textarea":
		f.Type = form.TypeMultiline
	case "secret":
		f.Type = form.TypeText
		c.approx(it, "", describe(it)+" (secret)", "a text question: what is typed is shown")
	case "select1":
		f.Type = form.TypeChoice
	case "select":
		f.Type = form.TypeMultiChoice
	case "rank":
		f.Type = form.TypeRank
	case "range":
		f.Type = form.TypeRange
		c.rangeField(it, e, typ)
	case "upload":
		mt := strings.ToLower(strings.TrimSpace(e.get("", "mediatype")))
		f.MaxFiles = 1
		switch {
		case strings.HasPrefix(mt, "image/"):
			f.Type = form.TypePhoto
			switch {
			case hasToken(app, "signature"):
				f.Type, f.MaxFiles = form.TypeSignature, 0
				app = removeToken(app, "signature")
			case hasToken(app, "draw"):
				f.Type, f.MaxFiles = form.TypeSignature, 0
				app = removeToken(app, "draw")
				c.approx(it, "", describe(it)+" with appearance draw", "a signature pad: a blank canvas drawn on with one colour")
			case hasToken(app, "annotate"):
				app = removeToken(app, "annotate")
				c.approx(it, "", describe(it)+" with appearance annotate", "a photo question: the photo cannot be drawn on")
			}
		case strings.HasPrefix(mt, "audio/"):
			f.Type = form.TypeAudio
		case strings.HasPrefix(mt, "video/"):
			f.Type = form.TypeVideo
		case strings.HasPrefix(mt, "osm/"):
			f.Type = form.TypeFile
			c.drop(it, "OpenStreetMap questions are not supported")
			return
		default:
			f.Type = form.TypeFile
		}
	case "trigger":
		f.Type = form.TypeAcknowledge
	}
	f.Appearance = app
	if ctl.grp != "" && !strings.HasPrefix(n.path, ctl.grp+"/") {
		c.approx(it, e.path(), describe(it)+" outside its data node's group", fmt.Sprintf("the body shows it in %s; Fieldforms shows it where its data node is", ctl.grp))
	}
	if l := e.child(nsXForms, "label"); l != nil {
		t, media, _ := c.readText(it, l, n.path, "label")
		it.texts["label"] = t
		f.Media = media
	}
	if h := e.child(nsXForms, "hint"); h != nil {
		t, _, g := c.readText(it, h, n.path, "hint")
		it.texts["help"] = t
		if g != nil {
			it.texts["guidance"] = g
		}
	}
	for _, a := range e.attrs {
		k := qualify(a.Name.Space, a.Name.Local)
		switch k {
		case "ref", "bind", "appearance":
		case "mediatype":
			if ctl.kind != "upload" {
				c.dropped(it, e.path(), fmt.Sprintf("mediatype %q", a.Value), "it applies to uploads only")
			}
		case "start", "end", "step":
			if ctl.kind != "range" {
				c.dropped(it, e.path(), fmt.Sprintf("%s %q", k, a.Value), "it applies to ranges only")
			}
		case "rows", "autoplay", "accuracyThreshold", "unacceptableAccuracyThreshold", "odk:quality", "quality", "incremental", "odk:buttons-orientation":
			setParam(f, strings.TrimPrefix(k, "odk:"), a.Value)
		case "intent", "odk:intent":
			c.approx(it, e.path(), fmt.Sprintf("intent %q", a.Value), "the other app is not launched: the worker answers the question in Fieldforms")
		default:
			c.dropped(it, e.path(), fmt.Sprintf("attribute %s=%q", k, a.Value), "not carried over")
		}
	}
	for _, k := range e.kids {
		switch {
		case k.is(nsXForms, "label"), k.is(nsXForms, "hint"), actionKind(k) != "":
		case k.is(nsXForms, "item"), k.is(nsXForms, "itemset"):
			if !isSelect(ctl.kind) {
				c.dropped(it, k.path(), "<"+k.qname()+">", "options apply to selects only")
			}
		default:
			c.dropped(it, k.path(), "<"+k.qname()+">", "not carried over")
		}
	}
	if isSelect(ctl.kind) {
		c.choices(it)
	}
}

func isSelect(kind string) bool { return kind == "select1" || kind == "select" || kind == "rank" }

func setParam(f *form.Field, k, v string) {
	if f.Parameters == nil {
		f.Parameters = map[string]string{}
	}
	f.Parameters[k] = v
}

// rangeField reads a range's start, end and step (ODK's defaults: 1, 10, 1).
func (c *converter) rangeField(it *item, e *elem, typ string) {
	f := &it.f
	num := func(k, def string) json.RawMessage {
		v := strings.TrimSpace(e.get("", k))
		if v == "" {
			c.warn(e.path(), fmt.Sprintf("the range has no %s: %s is used", k, def))
			v = def
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			c.warn(e.path(), fmt.Sprintf("range %s %q is not a number: %s is used", k, v, def))
			x, _ = strconv.ParseFloat(def, 64)
		}
		return json.RawMessage(strconv.FormatFloat(x, 'f', -1, 64))
	}
	f.Min, f.Max, f.Step = num("start", "1"), num("end", "10"), num("step", "1")
	if typ != "" && typ != "int" && typ != "integer" && typ != "decimal" {
		c.warn(e.path(), fmt.Sprintf("a range of type %q is read as a number", typ))
	}
}

// isSetTarget reports a node that a setvalue sets.
func (c *converter) isSetTarget(n *inode) bool {
	for _, a := range c.byTarget[n.path] {
		if a.kind == "setvalue" {
			return true
		}
	}
	return false
}

// bindField reads a node that no control asks for.
func (c *converter) bindField(it *item, b *bind) {
	f := &it.f
	f.Type = form.TypeHidden
	if strings.TrimSpace(b.get("calculate")) != "" {
		f.Type = form.TypeCalculate
	}
	for _, a := range c.byTarget[it.n.path] {
		if a.kind == "setgeopoint" && slices.Contains(a.events, "odk-instance-first-load") {
			f.Type = form.TypeGeo
			f.Label = form.Plain(it.n.name)
			c.approx(it, a.el.path(), "odk:setgeopoint", "a location question labelled with its name: the worker records it, it is not taken by itself when the form is opened")
			return
		}
	}
	if bt := bindType(b); bt == "binary" && f.Type == form.TypeHidden {
		c.warn(it.row, "a binary node without an upload control is kept as a hidden text field")
	}
}

// bindRules reads the rules of a node's bind.
func (c *converter) bindRules(it *item, b *bind) {
	if b == nil {
		return
	}
	f := &it.f
	for _, k := range slices.Sorted(mapKeys(b.attrs)) {
		v := b.attrs[k]
		tv := strings.TrimSpace(v)
		switch k {
		case "type", "jr:preload", "jr:preloadParams":
		case "relevant":
			if tv != "" && !isTrue(tv) {
				it.exprs["relevant"] = tv
			}
		case "constraint":
			if tv != "" && !isTrue(tv) && !it.meta {
				it.exprs["constraint"] = tv
			}
		case "jr:constraintMsg":
			if !it.meta {
				it.texts["constraint_message"] = c.attrText(it, b.el, tv, it.n.path)
			}
		case "required":
			switch {
			case it.meta || tv == "" || isFalse(tv):
			case !askedType(f.Type):
				// ODK ignores it too: nothing is lost.
				c.warn(it.row, fmt.Sprintf("required %q has no effect on a %s field; not carried over", tv, f.Type))
			case isTrue(tv):
				f.Required = form.Cond{Const: true}
			default:
				it.exprs["required"] = tv
			}
		case "jr:requiredMsg":
			if !it.meta {
				it.texts["required_message"] = c.attrText(it, b.el, tv, it.n.path)
			}
		case "readonly":
			switch {
			case it.meta || it.note || tv == "" || isFalse(tv):
			case f.Type == form.TypeCalculate || f.Type == form.TypeHidden:
				// never shown: read-only anyway
			case isTrue(tv):
				f.ReadOnly = form.Cond{Const: true}
			default:
				it.exprs["readonly"] = tv
			}
		case "calculate":
			if !it.meta && tv != "" {
				it.exprs["calculation"] = tv
			}
		case "orx:max-pixels", "odk:max-pixels":
			setParam(f, "max-pixels", tv)
		case "saveIncomplete", "jr:saveIncomplete":
			c.dropped(it, b.el.path(), "saveIncomplete", "drafts are saved as the worker goes, always")
		case "jr:noAppErrorString":
			c.dropped(it, b.el.path(), fmt.Sprintf("jr:noAppErrorString %q", v), "the message for a missing app is not carried over")
		case "entities:saveto":
			c.dropped(it, b.el.path(), fmt.Sprintf("entities:saveto %q", v), whyEntity)
		default:
			if strings.HasPrefix(k, "odk:location-") {
				continue // audit settings, reported with the audit
			}
			c.dropped(it, b.el.path(), fmt.Sprintf("bind attribute %s=%q", k, v), "not carried over")
		}
	}
	if it.note && f.Type == form.TypeNote {
		delete(it.exprs, "readonly")
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// defaultValue reads the text of the node in the primary instance: its default.
func (c *converter) defaultValue(it *item) {
	f := &it.f
	v := it.n.text
	if v == "" {
		return
	}
	what := fmt.Sprintf("default %q of %s", v, describe(it))
	switch {
	case it.meta:
		c.warn(it.row, what+": the field is filled by itself ("+f.Meta+"); the default is ignored")
	case f.Type == form.TypeNote:
		c.dropped(it, "", what, "a note holds no value")
	case it.exprs["calculation"] != "":
		c.warn(it.row, what+": the calculation sets the value; the default is ignored")
	case f.Type == form.TypePhoto, f.Type == form.TypeFile, f.Type == form.TypeAudio, f.Type == form.TypeVideo, f.Type == form.TypeSignature:
		c.dropped(it, "", what, "a file as a default value is not carried over")
	default:
		f.Default = literalDefault(v, f.Type)
	}
}

// literalDefault writes a value as the field type's JSON.
func literalDefault(s string, t form.FieldType) json.RawMessage {
	str := func(s string) json.RawMessage { b, _ := json.Marshal(s); return b }
	switch t {
	case form.TypeInteger, form.TypeDecimal, form.TypeRange:
		if n, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return json.RawMessage(strconv.FormatFloat(n, 'f', -1, 64))
		}
		return str(s) // not a number: the template check says so
	case form.TypeMultiChoice, form.TypeRank:
		b, _ := json.Marshal(append([]string{}, strings.Fields(s)...))
		return b
	case form.TypeGeo, form.TypeGeoTrace, form.TypeGeoShape:
		if v, ok := form.XFormGeoValue(t, s); ok {
			return v
		}
		return str(s)
	}
	return str(s)
}

// applyActions carries the setvalue actions over: defaults, and calculations a
// change of another field triggers.
func (c *converter) applyActions() {
	for _, a := range c.actions {
		t := c.nodes[a.target]
		it := t.it
		what := fmt.Sprintf("<%s event=%q ref=%q>", a.el.qname(), strings.Join(a.events, " "), a.target)
		if it == nil || it.drop != "" || it.consumed {
			why := "its target is not a field of the template"
			if it != nil && it.drop != "" {
				why = "its target is dropped: " + it.drop
			}
			c.dropped(it, a.el.path(), what, why)
			continue
		}
		if !t.leaf {
			c.dropped(it, a.el.path(), what, "it sets a group")
			continue
		}
		switch a.kind {
		case "recordaudio":
			c.dropped(it, a.el.path(), what, "recording audio in the background while the form is filled is not supported")
			continue
		case "setgeopoint":
			if it.f.Type == form.TypeGeo && slices.Contains(a.events, "odk-instance-first-load") && t.ctl == nil {
				continue // made a location question in bindField
			}
			c.dropped(it, a.el.path(), what, "taking a location by itself is not supported")
			continue
		}
		if it.meta {
			c.dropped(it, a.el.path(), what, "the field is filled by itself ("+it.f.Meta+")")
			continue
		}
		value, isExpr := strings.TrimSpace(a.value), a.hasValue
		if !isExpr {
			value = strings.TrimSpace(a.literal)
		}
		for _, ev := range a.events {
			switch ev {
			case "odk-instance-first-load", "odk-new-repeat", "odk-instance-load":
				c.setDefault(it, a, value, isExpr)
				if ev == "odk-instance-load" {
					c.approx(it, a.el.path(), what, "computed once, when the record is made, not each time it is opened")
				}
			case "xforms-value-changed":
				c.setTriggered(it, a, what, value, isExpr)
			default:
				c.dropped(it, a.el.path(), fmt.Sprintf("%s (event %s)", what, ev), "the event is not supported")
			}
		}
	}
}

func (c *converter) setDefault(it *item, a *action, value string, isExpr bool) {
	f := &it.f
	if lit, ok := constantLiteral(value); isExpr && ok {
		value, isExpr = lit, false
	}
	if isExpr {
		if prev := it.exprs["default_expr"]; prev != "" {
			if prev != value {
				c.dropped(it, a.el.path(), fmt.Sprintf("setvalue %q", value), fmt.Sprintf("the field's default is set already (%q)", prev))
			}
			return
		}
		if f.Default != nil {
			if it.n.text == "" {
				c.dropped(it, a.el.path(), fmt.Sprintf("setvalue %q", value), fmt.Sprintf("the field's default is set already (%s)", f.Default))
				return
			}
			c.warn(it.row, fmt.Sprintf("the default %q of the instance is replaced by the setvalue's %q", it.n.text, value))
			f.Default = nil
		}
		it.exprs["default_expr"] = value
		it.defaultEl = a.el
	} else {
		if prev := it.exprs["default_expr"]; prev != "" {
			c.dropped(it, a.el.path(), fmt.Sprintf("setvalue %q", value), fmt.Sprintf("the field's default is set already (%q)", prev))
			return
		}
		raw := literalDefault(value, f.Type)
		if f.Default != nil && it.n.text != "" {
			c.warn(it.row, fmt.Sprintf("the default %q of the instance is replaced by the setvalue's %q", it.n.text, value))
		}
		f.Default = raw
	}
	if f.Type == form.TypeCalculate && it.exprs["calculation"] == "" {
		f.Type = form.TypeHidden
	}
}

// constantLiteral reads an expression that is a string or a number alone.
func constantLiteral(s string) (string, bool) {
	toks := lexXPath(s)
	if len(toks) == 1 && toks[0].kind == tkStr {
		return toks[0].text[1 : len(toks[0].text)-1], true
	}
	if len(toks) == 1 && toks[0].kind == tkNum {
		return toks[0].text, true
	}
	if len(toks) == 2 && toks[0].kind == tkOp && toks[0].text == "-" && toks[1].kind == tkNum {
		return "-" + toks[1].text, true
	}
	return "", false
}

func (c *converter) setTriggered(it *item, a *action, what, value string, isExpr bool) {
	f := &it.f
	if a.src == nil || a.src.it == nil {
		c.dropped(it, a.el.path(), what, "a value-changed event outside a control is not supported")
		return
	}
	if !isExpr {
		q, ok := quoteXPath(value)
		if !ok {
			c.dropped(it, a.el.path(), what, "its value holds both kinds of quote, which an expression cannot write")
			return
		}
		value = q
	}
	if prev, ok := it.exprs["calculation"]; ok && (it.trigCalc == "" || prev != it.trigCalc) {
		if it.trigCalc == "" {
			c.dropped(it, a.el.path(), what, "the field has a calculation already")
		} else {
			c.dropped(it, a.el.path(), what, fmt.Sprintf("another change sets the field to %q", it.trigCalc))
		}
		return
	}
	it.exprs["calculation"] = value
	it.trigCalc = value
	if !slices.Contains(it.trig, a.src.it) {
		it.trig = append(it.trig, a.src.it)
	}
	if f.Type == form.TypeHidden {
		f.Type = form.TypeCalculate
	}
}

// labelIfNeeded gives a question without a label its name, as a label.
func (c *converter) labelIfNeeded(it *item) {
	f := &it.f
	shown := f.Type == form.TypeNote || (!it.meta && askedType(f.Type))
	if !shown || it.texts["label"] != nil && !it.texts["label"].blank() || it.texts["help"] != nil && !it.texts["help"].blank() || len(f.Media) > 0 || !f.Label.Blank() {
		return
	}
	it.texts["label"] = rtext{"": rich{it.n.name}}
	c.approx(it, "", describe(it)+" without a label", fmt.Sprintf("a question needs a label: its name %q is shown", it.n.name))
}

// askedType is a type a worker answers or reads.
func askedType(t form.FieldType) bool {
	switch t {
	case form.TypeHidden, form.TypeCalculate, form.TypeGroup, form.TypeRepeat:
		return false
	}
	return true
}

func hasToken(s, tok string) bool { return slices.Contains(strings.Fields(s), tok) }

func removeToken(s, tok string) string {
	return strings.Join(slices.DeleteFunc(strings.Fields(s), func(x string) bool { return x == tok }), " ")
}

// quoteXPath writes s as an XPath string literal.
func quoteXPath(s string) (string, bool) {
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'", true
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, true
	}
	return "", false
}
