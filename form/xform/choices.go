package xform

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/form/expr"
)

// list is a shared list of options, made of a secondary instance.
type list struct {
	name     string
	options  []form.Option
	valueCol string
	labelCol string // the column of the label ("" when itext)
	lossy    bool   // options were left out
}

// itemset is a select's itemset: its list and the filter to rewrite.
type itemset struct {
	el      *elem
	nodeset string
	list    *list
}

// row is an item of a secondary instance: its columns in order.
type row struct {
	cols  []string
	vals  map[string]string
	where string // the item's element path, or the file and line
	el    *elem
}

// choices reads a select's options: its items, or its itemset.
func (c *converter) choices(it *item) {
	e := it.n.ctl.el
	items := e.children(nsXForms, "item")
	set := e.child(nsXForms, "itemset")
	switch {
	case set != nil:
		if len(items) > 0 {
			c.dropped(it, items[0].path(), fmt.Sprintf("%d items beside the itemset", len(items)), "the itemset's options are used")
		}
		c.itemsetField(it, set)
	case len(items) == 0:
		c.drop(it, "the select has no options")
	default:
		c.inlineItems(it, items)
	}
	if a := it.f.Appearance; strings.Contains(a, "search(") {
		c.approx(it, e.path(), fmt.Sprintf("appearance %q", a), "options from an external file (search()) are not read: the options the form lists are offered")
		it.f.Appearance = removeSearch(a)
	}
}

// removeSearch removes a search(...) appearance.
func removeSearch(a string) string {
	i := strings.Index(a, "search(")
	j := strings.IndexByte(a[i:], ')')
	if j < 0 {
		return strings.TrimSpace(a[:i])
	}
	return strings.Join(strings.Fields(a[:i]+" "+a[i+j+1:]), " ")
}

func (c *converter) inlineItems(it *item, items []*elem) {
	var opts []form.Option
	seen := map[string]bool{}
	var sp spaced
	var dp dups
	unlabelled := false
	for _, e := range items {
		v := e.child(nsXForms, "value")
		value := ""
		if v != nil {
			value = strings.TrimSpace(v.allText())
		}
		o := form.Option{Value: value}
		if l := e.child(nsXForms, "label"); l != nil {
			t, media, _ := c.readText(it, l, it.n.path, "label")
			o.Label, o.Media = c.plain(it, t, "an option label"), media
		}
		o.Value = sp.fix(value)
		if why := badValue(o.Value, seen); why != "" {
			c.dropped(it, e.path(), fmt.Sprintf("option %q", value), why)
			continue
		}
		o.Value = dp.fix(o.Value, seen)
		seen[o.Value] = true
		if o.Label.Blank() {
			unlabelled = true
		}
		opts = append(opts, o)
	}
	sp.report(c, it, it.n.ctl.el.path(), "the select")
	dp.report(c, it, it.n.ctl.el.path(), "the select")
	if len(opts) == 0 {
		c.drop(it, "none of the select's options could be imported")
		return
	}
	if unlabelled {
		// A template's own options need labels; a shared list's may show a picture
		// or their value.
		l := &list{name: c.listName(it.f.ID), options: opts}
		c.lists["\x00inline\x00"+it.n.path] = l
		c.listOrder = append(c.listOrder, "\x00inline\x00"+it.n.path)
		it.f.List = l.name
		return
	}
	it.f.Options = opts
}

// spaced replaces white space in option values by '_', and counts them.
type spaced struct {
	n         int
	first, to string
}

func (s *spaced) fix(v string) string {
	if !strings.ContainsAny(v, " \t\r\n") || strings.TrimSpace(v) == "" {
		return v
	}
	to := strings.Join(strings.Fields(v), "_")
	if s.n == 0 {
		s.first, s.to = v, to
	}
	s.n++
	return to
}

func (s *spaced) report(c *converter, it *item, row, what string) {
	if s.n == 0 {
		return
	}
	c.approx(it, row, fmt.Sprintf("%d option value(s) of %s with white space, such as %q", s.n, what, s.first),
		fmt.Sprintf("option values have no white space (a multiple choice answer lists values separated by spaces): it is replaced by _, as %q; expressions that compare with the old values no longer match", s.to))
}

// badValue says why an option value cannot be carried over ("" if it can).
func badValue(v string, seen map[string]bool) string {
	switch {
	case v == "":
		return "an option needs a value"
	case strings.ContainsAny(v, " \t\r\n"):
		return "an option value cannot hold white space (a multiple choice answer lists values separated by spaces)"
	case len(v) > 256:
		return "an option value is at most 256 bytes"
	}
	return ""
}

// dups renames options whose value is taken (value_2, value_3...), and counts them.
type dups struct {
	n         int
	first, to string
	next      map[string]int // the next suffix to try, by value
}

func (d *dups) fix(v string, seen map[string]bool) string {
	if !seen[v] {
		return v
	}
	if d.next == nil {
		d.next = map[string]int{}
	}
	n := max(d.next[v], 2)
	for seen[fmt.Sprintf("%s_%d", v, n)] {
		n++
	}
	d.next[v] = n + 1
	to := fmt.Sprintf("%s_%d", v, n)
	if d.n == 0 {
		d.first, d.to = v, to
	}
	d.n++
	return to
}

func (d *dups) report(c *converter, it *item, row, what string) {
	if d.n == 0 {
		return
	}
	c.approx(it, row, fmt.Sprintf("%d option(s) of %s whose value another option has, such as %q", d.n, what, d.first),
		fmt.Sprintf("values in a list are unique: the later ones are renamed, as %q; answers and expressions with the old value mean the first option", d.to))
}

// instancePath is the path into a secondary instance an itemset reads.
type instancePath struct {
	id     string
	steps  []string
	preds  []string // of the last step
	random bool
}

// parseItemset reads an itemset's nodeset: instance('id')/root/item[filter], maybe
// in randomize(...). Paths to the form's own fields stay as written.
func parseItemset(nodeset string) (*instancePath, error) {
	var ip *instancePath
	const hole = "\x00"
	out, err := rewriteXPath(nodeset, func(p *xpath, inPred bool) (string, error) {
		if inPred || p.Instance == "" {
			return p.String(), nil
		}
		if ip != nil {
			return "", errors.New("it reads more than one secondary instance")
		}
		if p.Descendant || len(p.Preds[-1]) > 0 {
			return "", errors.New("it uses '//' or a predicate on instance()")
		}
		for i := range len(p.Steps) - 1 {
			if len(p.Preds[i]) > 0 {
				return "", errors.New("only the last step of the path may have a filter")
			}
		}
		ip = &instancePath{id: p.Instance[1 : len(p.Instance)-1], steps: p.Steps, preds: p.Preds[len(p.Steps)-1]}
		return hole, nil
	}, nil)
	if err != nil {
		return nil, err
	}
	if ip == nil {
		return nil, errors.New("it does not read a secondary instance (instance('id')/...)")
	}
	switch {
	case out == hole:
	case strings.HasPrefix(strings.ReplaceAll(out, " ", ""), "randomize("+hole):
		ip.random = true
	default:
		return nil, fmt.Errorf("%q is not a path into a secondary instance", nodeset)
	}
	if len(ip.steps) < 1 {
		return nil, errors.New("the path names no item")
	}
	return ip, nil
}

// column reads an itemset's value or label ref: a child of the item.
func column(ref string) (string, bool) {
	ref = strings.TrimPrefix(strings.TrimSpace(ref), "./")
	if ref == "" || expr.NameLen(ref) != len(ref) {
		return "", false
	}
	return ref, true
}

// itemsetField reads a select's itemset into a list of the template's choices.
func (c *converter) itemsetField(it *item, set *elem) {
	nodeset := set.get("", "nodeset")
	ip, err := parseItemset(nodeset)
	if err != nil {
		if strings.Contains(err.Error(), "does not read a secondary instance") {
			c.drop(it, fmt.Sprintf("its options come from %q, the form's own answers, which is not supported", nodeset))
		} else {
			c.drop(it, fmt.Sprintf("itemset %q: %v", nodeset, err))
		}
		return
	}
	if ip.random {
		c.approx(it, set.path(), "randomize()", "the options are offered in their order, not shuffled")
	}
	valRef, labRef := "", ""
	if v := set.child(nsXForms, "value"); v != nil {
		valRef = v.get("", "ref")
	}
	if l := set.child(nsXForms, "label"); l != nil {
		labRef = strings.TrimSpace(l.get("", "ref"))
	}
	valueCol, ok := column(valRef)
	if !ok {
		c.drop(it, fmt.Sprintf("itemset value ref %q is not a column of the items", valRef))
		return
	}
	labelCol, itextCol := "", ""
	if strings.HasPrefix(labRef, "jr:itext(") && strings.HasSuffix(labRef, ")") {
		itextCol, ok = column(labRef[len("jr:itext(") : len(labRef)-1])
	} else {
		labelCol, ok = column(labRef)
	}
	if !ok {
		c.drop(it, fmt.Sprintf("itemset label ref %q is not a column of the items", labRef))
		return
	}
	key := strings.Join(append([]string{ip.id, valueCol, labelCol, itextCol}, ip.steps...), "\x00")
	l, done := c.lists[key]
	if !done {
		rows, where, err := c.instanceRows(it, ip, set)
		if err != nil {
			return // reported
		}
		l = c.makeList(it, ip.id, rows, where, valueCol, labelCol, itextCol)
		c.lists[key] = l
		c.listOrder = append(c.listOrder, key)
	}
	if l == nil || len(l.options) == 0 {
		c.drop(it, fmt.Sprintf("secondary instance %q has no option that could be imported", ip.id))
		return
	}
	if l.lossy && it.status < statusApproximated {
		it.status = statusApproximated
	}
	it.f.List = l.name
	it.itemset = &itemset{el: set, nodeset: nodeset, list: l}
}

var errReported = errors.New("reported")

// instanceRows reads the items of a secondary instance: inline, or from a file.
func (c *converter) instanceRows(it *item, ip *instancePath, set *elem) ([]row, string, error) {
	in, ok := c.secondary[ip.id]
	if !ok {
		c.drop(it, fmt.Sprintf("the itemset reads instance('%s'), which the form does not have", ip.id))
		return nil, "", errReported
	}
	src := strings.TrimSpace(in.get("", "src"))
	if src == "" {
		if len(in.kids) != 1 {
			c.drop(it, fmt.Sprintf("secondary instance %q holds %d root elements, not one", ip.id, len(in.kids)))
			return nil, "", errReported
		}
		return elemRows(in.kids[0], ip.steps), in.path(), nil
	}
	name, ok := strings.CutPrefix(src, "jr://file-csv/")
	if !ok {
		name, ok = strings.CutPrefix(src, "jr://file/")
	}
	if !ok {
		c.drop(it, fmt.Sprintf("its options come from %s, which Fieldforms cannot read", src))
		return nil, "", errReported
	}
	if c.opts.Files == nil || !fs.ValidPath(name) {
		c.drop(it, fmt.Sprintf("its options come from the file %s, which was not given with the form", name))
		return nil, "", errReported
	}
	data, err := readLimited(c.opts.Files, name)
	if err != nil {
		c.drop(it, fmt.Sprintf("its options come from the file %s, which could not be read: %v", name, err))
		return nil, "", errReported
	}
	if strings.HasSuffix(strings.ToLower(name), ".geojson") {
		rows, err := geojsonRows(data, name)
		if err != nil {
			c.drop(it, fmt.Sprintf("%s: %v", name, err))
			return nil, "", errReported
		}
		return rows, name, nil
	}
	if strings.HasSuffix(strings.ToLower(name), ".csv") {
		rows, err := csvRows(data, name)
		if err != nil {
			c.drop(it, fmt.Sprintf("%s: %v", name, err))
			return nil, "", errReported
		}
		return rows, name, nil
	}
	root, err := parseXML(bytes.NewReader(data))
	if err != nil {
		c.drop(it, fmt.Sprintf("%s: %v", name, err))
		return nil, "", errReported
	}
	return elemRows(root, ip.steps), name, nil
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("over the limit of %d bytes", MaxFileSize)
	}
	return data, nil
}

// elemRows finds the items a path names below an instance's root element: the
// first step is the root itself.
func elemRows(root *elem, steps []string) []row {
	match := func(e *elem, step string) bool {
		if step == "*" {
			return true
		}
		if i := strings.IndexByte(step, ':'); i >= 0 {
			step = step[i+1:]
		}
		return e.local == step
	}
	if !match(root, steps[0]) {
		return nil
	}
	cur := []*elem{root}
	for _, s := range steps[1:] {
		var next []*elem
		for _, e := range cur {
			for _, k := range e.kids {
				if match(k, s) {
					next = append(next, k)
				}
			}
		}
		cur = next
	}
	rows := make([]row, 0, len(cur))
	for _, e := range cur {
		r := row{vals: map[string]string{}, where: e.path(), el: e}
		for _, k := range e.kids {
			if _, dup := r.vals[k.local]; dup {
				continue
			}
			r.cols = append(r.cols, k.local)
			r.vals[k.local] = strings.TrimSpace(k.allText())
		}
		rows = append(rows, r)
	}
	return rows
}

// csvRows reads a CSV file of options: a header row, then one option a row.
func csvRows(data []byte, name string) ([]row, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("no header row: %v", err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(head[i])
	}
	var rows []row
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		rw := row{vals: map[string]string{}, where: fmt.Sprintf("%s line %d", name, line)}
		for i, v := range rec {
			if i >= len(head) || head[i] == "" {
				continue
			}
			if _, dup := rw.vals[head[i]]; dup {
				continue
			}
			rw.cols = append(rw.cols, head[i])
			rw.vals[head[i]] = strings.TrimSpace(v)
		}
		rows = append(rows, rw)
	}
	return rows, nil
}

// makeList turns the items of a secondary instance into a list of options.
func (c *converter) makeList(it *item, id string, rows []row, where, valueCol, labelCol, itextCol string) *list {
	l := &list{name: c.listName(id), valueCol: valueCol, labelCol: labelCol}
	seen := map[string]bool{}
	var sp spaced
	var dp dups
	defer func() {
		if sp.n > 0 || dp.n > 0 {
			l.lossy = true
		}
		sp.report(c, nil, where, fmt.Sprintf("list %q", id))
		dp.report(c, nil, where, fmt.Sprintf("list %q", id))
	}()
	for _, r := range rows {
		v := sp.fix(r.vals[valueCol])
		if why := badValue(v, seen); why != "" {
			c.dropped(nil, r.where, fmt.Sprintf("option %q of list %q", v, id), why)
			l.lossy = true
			continue
		}
		v = dp.fix(v, seen)
		seen[v] = true
		o := form.Option{Value: v}
		if itextCol != "" {
			if tid := r.vals[itextCol]; tid != "" {
				t, media, _ := c.itextText(it, r.el, tid, it.n.path, "label")
				o.Label, o.Media = c.plain(it, t, "an option label"), media
			}
		} else {
			m := map[string]string{"": r.vals[labelCol]}
			for _, col := range r.cols {
				if lang, ok := strings.CutPrefix(col, labelCol+"::"); ok {
					m[strings.TrimSpace(lang)] = r.vals[col]
				}
			}
			o.Label = form.Texts(m)
		}
		for _, col := range r.cols {
			if col == valueCol || col == labelCol || col == itextCol || strings.Contains(col, "::") || !form.ValidName(col) {
				continue
			}
			if o.Filter == nil {
				o.Filter = map[string]string{}
			}
			o.Filter[col] = r.vals[col]
		}
		l.options = append(l.options, o)
	}
	if len(rows) == 0 {
		c.warn(where, fmt.Sprintf("secondary instance %q has no items", id))
	}
	if len(l.options) > form.MaxOptions {
		c.approx(nil, where, fmt.Sprintf("list %q of %d options", id, len(l.options)), fmt.Sprintf("only the first %d are kept", form.MaxOptions))
		l.options = l.options[:form.MaxOptions]
		l.lossy = true
	}
	return l
}

// listName makes a list name of an instance id: a valid name, not yet used.
func (c *converter) listName(id string) string {
	base := id
	if !form.ValidName(base) {
		var b strings.Builder
		for i, r := range id {
			switch {
			case r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
				b.WriteRune(r)
			case i > 0 && (r == '-' || r == '.' || '0' <= r && r <= '9'):
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		base = b.String()
		if len(base) > 100 {
			base = base[:100]
		}
		if !form.ValidName(base) {
			base = "list"
		}
	}
	name := base
	for n := 2; c.tplListUsed(name); n++ {
		name = fmt.Sprintf("%s_%d", base, n)
	}
	return name
}

func (c *converter) tplListUsed(name string) bool {
	for _, l := range c.lists {
		if l != nil && l.name == name {
			return true
		}
	}
	return false
}

// geojsonRows reads a GeoJSON feature collection as ODK does: one item a feature,
// its properties as columns, its id as column id (unless a property has the name),
// and its geometry as column geometry in ODK's format ("lat lon 0 0", points
// separated by "; ").
func geojsonRows(data []byte, name string) ([]row, error) {
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			ID         any            `json:"id"`
			Properties map[string]any `json:"properties"`
			Geometry   *struct {
				Type        string          `json:"type"`
				Coordinates json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, fmt.Errorf("not GeoJSON: %v", err)
	}
	if fc.Type != "FeatureCollection" {
		return nil, fmt.Errorf("a GeoJSON file of options is a FeatureCollection, not %q", fc.Type)
	}
	str := func(v any) string {
		switch v := v.(type) {
		case nil:
			return ""
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			return strconv.FormatBool(v)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	var rows []row
	for i, f := range fc.Features {
		r := row{vals: map[string]string{}, where: fmt.Sprintf("%s feature %d", name, i+1)}
		add := func(k, v string) {
			if _, dup := r.vals[k]; !dup {
				r.cols = append(r.cols, k)
				r.vals[k] = v
			}
		}
		if f.Geometry != nil {
			if g, ok := odkGeometry(f.Geometry.Type, f.Geometry.Coordinates); ok {
				add("geometry", g)
			}
		}
		keys := make([]string, 0, len(f.Properties))
		for k := range f.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			add(k, str(f.Properties[k]))
		}
		if f.ID != nil {
			add("id", str(f.ID))
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// odkGeometry writes a GeoJSON Point, LineString or Polygon as ODK writes a
// geopoint, geotrace or geoshape.
func odkGeometry(typ string, coords json.RawMessage) (string, bool) {
	point := func(p []float64) string {
		if len(p) < 2 {
			return ""
		}
		alt := 0.0
		if len(p) > 2 {
			alt = p[2]
		}
		return strconv.FormatFloat(p[1], 'f', -1, 64) + " " + strconv.FormatFloat(p[0], 'f', -1, 64) + " " + strconv.FormatFloat(alt, 'f', -1, 64) + " 0"
	}
	join := func(ps [][]float64) string {
		parts := make([]string, len(ps))
		for i, p := range ps {
			parts[i] = point(p)
		}
		return strings.Join(parts, "; ")
	}
	switch typ {
	case "Point":
		var p []float64
		if json.Unmarshal(coords, &p) != nil {
			return "", false
		}
		return point(p), true
	case "LineString":
		var ps [][]float64
		if json.Unmarshal(coords, &ps) != nil {
			return "", false
		}
		return join(ps), true
	case "Polygon":
		var rings [][][]float64
		if json.Unmarshal(coords, &rings) != nil || len(rings) == 0 {
			return "", false
		}
		return join(rings[0]), true
	}
	return "", false
}
