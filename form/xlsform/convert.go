package xlsform

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldforms/fieldforms/form"
)

// converter turns a workbook into a template and a report.
type converter struct {
	ctx  context.Context
	wb   *workbook
	opts Options
	rep  *Report
	tpl  *form.Template
	set  settings

	status    map[int]int // survey row → worst status
	typedRows []int       // survey rows with a type

	langs    []string
	langSeen map[string]bool
	defLang  string // settings default_language: the untranslated columns' language

	lists     map[string]*choiceList // by the choices sheet's list name
	listOrder []string
	listNames map[string]string // template list name → source
	files     map[string]*choiceList
	fileWhy   map[string]string
	fileNotes map[string]string

	cleanText bool
	survey    *sheet
	cols      []column
	root      []*item
	items     []*item        // every item, in row order
	dropped   map[string]int // names of dropped questions → their row
}

// item is one survey row on its way to a template field.
type item struct {
	row       int
	typ       string // the type cell
	f         form.Field
	kids      []*item
	parent    *item
	dropped   bool
	dropWhy   string
	generated bool              // made by the importer (or_other's text field)
	list      string            // the choices list a select names, as written
	exprCols  map[string]string // expression columns as written, by column
	orOther   *item             // the NAME_other text question or_other adds
}

func convert(ctx context.Context, wb *workbook, opts Options) (*Report, error) {
	c := &converter{
		ctx: ctx, wb: wb, opts: opts,
		rep:       &Report{},
		tpl:       &form.Template{},
		status:    map[int]int{},
		langSeen:  map[string]bool{},
		files:     map[string]*choiceList{},
		fileWhy:   map[string]string{},
		fileNotes: map[string]string{},
	}
	if opts.Now != nil {
		c.rep.started = opts.Now()
	}
	c.rep.Warnings = append(c.rep.Warnings, wb.warnings...)
	for i := range c.rep.Warnings {
		c.rep.Warnings[i].key = keyOfRow(c.rep.Warnings[i].Row)
	}
	if err := c.checkSheets(); err != nil {
		return nil, err
	}
	c.readSettings()
	c.cleanText = c.set.get("clean_text_values") == "" || yes(c.set.get("clean_text_values"))
	if l := c.set.get("default_language"); l != "" && !strings.EqualFold(l, "default") {
		c.defLang = l
	}
	if err := c.readSurveyHeader(); err != nil {
		return nil, err
	}
	if err := c.readChoices(); err != nil {
		return nil, err
	}
	if err := c.readSurvey(); err != nil {
		return nil, err
	}
	c.applySettings()
	if err := c.compile(); err != nil {
		return nil, err
	}
	c.finishReport()
	return c.rep, nil
}

// keyOfRow recovers the place of a reader's warning ("survey row 3").
func keyOfRow(s string) rowKey {
	var name string
	var row int
	if _, err := fmt.Sscanf(s, "%s row %d", &name, &row); err == nil {
		switch name {
		case "survey":
			return rowKey{sheetSurvey, row, ""}
		case "choices":
			return rowKey{sheetChoices, row, ""}
		case "settings":
			return rowKey{sheetSettings, row, ""}
		}
	}
	return rowKey{sheetOther, 0, s}
}

// checkSheets finds the survey sheet and reports the sheets that are not read.
func (c *converter) checkSheets() error {
	c.survey = c.wb.find("survey")
	if c.survey == nil && len(c.wb.sheets) == 1 {
		c.survey = c.wb.sheets[0] // pyxform reads a lone sheet as the survey
	}
	if c.survey == nil {
		names := make([]string, len(c.wb.sheets))
		for i, s := range c.wb.sheets {
			names[i] = strconv.Quote(s.name)
		}
		return &Error{Msg: fmt.Sprintf("the workbook has no sheet named survey (its sheets: %s)", strings.Join(names, ", ")), err: ErrNotXLSForm}
	}
	for _, s := range c.wb.sheets {
		if s == c.survey {
			continue
		}
		switch n := strings.ToLower(strings.TrimSpace(s.name)); n {
		case "survey", "choices", "settings":
		case "external_choices":
			c.drop(rowKey{sheetOther, 0, s.name}, "the external_choices sheet", "select_one_external questions, which read it, are not supported")
		case "entities":
			c.drop(rowKey{sheetOther, 0, s.name}, "the entities sheet", "ODK entities (records that update shared datasets) are not supported")
		case "osm":
			c.drop(rowKey{sheetOther, 0, s.name}, "the osm sheet", "OpenStreetMap questions are not supported")
		default:
			if !strings.HasPrefix(n, "_") {
				c.warn(rowKey{sheetOther, 0, s.name}, "not an XLSForm sheet (survey, choices, settings); not read")
			}
		}
	}
	return nil
}

// addLang notes a named language, in the order first seen.
func (c *converter) addLang(lang string) {
	if lang == "" {
		lang = c.defLang
	}
	if lang != "" && !c.langSeen[lang] {
		c.langSeen[lang] = true
		c.langs = append(c.langs, lang)
	}
}

// text makes a Text of a column's texts by language. The untranslated column is the
// default language's when the settings name one.
func (c *converter) text(m map[string]string) form.Text {
	if len(m) == 0 {
		return form.Text{}
	}
	out := make(map[string]string, len(m))
	for lang, s := range m {
		if lang == "" && c.defLang != "" {
			if m[c.defLang] != "" {
				continue
			}
			lang = c.defLang
		}
		out[lang] = s
	}
	return form.Texts(out)
}

func (c *converter) readSurveyHeader() error {
	sh := c.survey
	if len(sh.rows) == 0 || blankRow(sh.rows[0]) {
		return &Error{Sheet: "survey", Row: 1, Msg: "the survey sheet has no header row (type, name, label, ...)"}
	}
	cols, dups := parseHeaders(sh.rows[0], surveyAliases)
	if len(dups) > 0 {
		return &Error{Sheet: "survey", Row: 1, Column: dups[0].raw, Msg: fmt.Sprintf("column %q is given twice (or under another name for the same column)", dups[0].raw)}
	}
	hasType := false
	for _, col := range cols {
		switch {
		case col.base == "type":
			hasType = true
		case col.base == "":
			c.warn(rowKey{sheetSurvey, 1, col.raw}, fmt.Sprintf("column %q is not an XLSForm column; ignored", col.raw))
		case translatable[col.base]:
			c.addLang(col.lang)
		}
	}
	if !hasType {
		return &Error{Sheet: "survey", Row: 1, Msg: "the survey sheet has no type column"}
	}
	c.cols = cols
	return nil
}

// rowData is one survey row's cells by meaning.
type rowData struct {
	r     int
	vals  map[string]string            // untranslatable columns
	texts map[string]map[string]string // translatable columns, by language
	extra []column                     // bind::, body::, instance:: and unsupported columns that are set
	cells map[string]string            // extra's values, by header
}

func (c *converter) rowData(r int) (rowData, bool) {
	d := rowData{r: r, vals: map[string]string{}, texts: map[string]map[string]string{}, cells: map[string]string{}}
	empty := true
	for _, col := range c.cols {
		v := c.survey.cell(r, col.idx)
		if v == "" {
			continue
		}
		if c.cleanText {
			v = collapseSpaces(v)
		}
		switch {
		case col.base == "":
			continue // unknown columns are reported once, from the header
		case translatable[col.base]:
			if d.texts[col.base] == nil {
				d.texts[col.base] = map[string]string{}
			}
			d.texts[col.base][col.lang] = v
		case col.base == "bind" || col.base == "body" || col.base == "instance" || strings.HasPrefix(col.base, "x:"):
			d.extra = append(d.extra, col)
			d.cells[col.raw] = v
		default:
			d.vals[col.base] = v
		}
		empty = false
	}
	return d, !empty
}

var reSpaces = regexp.MustCompile(` {2,}`)

func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	return reSpaces.ReplaceAllString(s, " ")
}

// yes reports an XLSForm yes: yes, true, TRUE(), ...
func yes(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "true()":
		return true
	}
	return false
}

func no(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "no", "false", "false()", "":
		return true
	}
	return false
}

// cond reads required and readonly: yes, no, or an expression.
func cond(s string) form.Cond {
	switch {
	case yes(s):
		return form.Cond{Const: true}
	case no(s):
		return form.Cond{}
	}
	return form.Cond{Expr: s}
}

// frame is an open group or repeat (or the survey itself) while rows are read.
type frame struct {
	it    *item // nil: the survey
	kind  string
	kids  *[]*item
	names map[string]int // name → row, among the frame's direct children
	lower map[string]int
}

func (c *converter) readSurvey() error {
	stack := []*frame{{kind: "survey", kids: &c.root, names: map[string]int{}, lower: map[string]int{}}}
	for i := 1; i < len(c.survey.rows); i++ {
		if i%256 == 0 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		r := i + 1
		d, ok := c.rowData(r)
		if !ok {
			continue
		}
		typ := d.vals["type"]
		if typ == "" {
			c.warn(rowKey{sheetSurvey, r, ""}, "a row without a type is not a question; ignored")
			continue
		}
		c.typedRows = append(c.typedRows, r)
		at := rowKey{sheetSurvey, r, ""}
		if k, ok := settingAliases[snake(typ)]; ok && (k == "form_title" || k == "form_id") {
			// pyxform reads "set form title" and "set form id" rows as settings, with
			// the value in the name column; the settings sheet wins.
			if v := d.vals["name"]; v != "" && c.set.vals[k] == "" {
				c.set.vals[k], c.set.cols[k], c.set.where[k] = v, "name", rowKey{sheetSurvey, r, "name"}
			}
			continue
		}
		if v, ok := d.vals["disabled"]; ok && yes(v) {
			c.drop(at, fmt.Sprintf("%s %q", typ, d.vals["name"]), "the row is disabled (its disabled column says yes)")
			continue
		}
		pt := parseType(typ)
		if !pt.known {
			return &Error{Sheet: "survey", Row: r, Column: "type", Msg: fmt.Sprintf("unknown question type %q", typ)}
		}
		top := stack[len(stack)-1]
		if pt.end != "" {
			if top.it == nil || top.kind != pt.end {
				if top.it == nil {
					return &Error{Sheet: "survey", Row: r, Column: "type", Msg: fmt.Sprintf("%q closes no open %s", typ, pt.end)}
				}
				return &Error{Sheet: "survey", Row: r, Column: "type", Msg: fmt.Sprintf("%q does not close %s %q of row %d; close it first", typ, top.kind, top.it.f.ID, top.it.row)}
			}
			stack = stack[:len(stack)-1]
			continue
		}
		name := d.vals["name"]
		if name == "" && pt.spec.t == form.TypeNote && pt.begin == "" && pt.sel == "" {
			name = fmt.Sprintf("generated_note_name_%d", r)
		}
		if name == "" && pt.spec.drop == "" {
			what := "a question"
			if pt.begin != "" {
				what = "a " + pt.begin
			}
			return &Error{Sheet: "survey", Row: r, Column: "name", Msg: what + " needs a name"}
		}
		if pt.spec.drop == "" {
			if !form.ValidName(name) {
				return &Error{Sheet: "survey", Row: r, Column: "name", Msg: fmt.Sprintf("name %q is not valid: names start with a letter or _, then letters, digits, -, . or _ (no spaces)", name)}
			}
			if form.IsSystemField(name) {
				return &Error{Sheet: "survey", Row: r, Column: "name", Msg: fmt.Sprintf("name %q is kept for Fieldforms' own record fields; rename the question", name)}
			}
			if prev, dup := top.names[name]; dup {
				where := "the survey"
				if top.it != nil {
					where = fmt.Sprintf("%s %q", top.kind, top.it.f.ID)
				}
				return &Error{Sheet: "survey", Row: r, Column: "name", Msg: fmt.Sprintf("name %q is already used in %s (row %d); names are unique in their group or repeat", name, where, prev)}
			}
			if prev, dup := top.lower[strings.ToLower(name)]; dup {
				c.warn(rowKey{sheetSurvey, r, "name"}, fmt.Sprintf("name %q differs only in case from the name of row %d; some tools will confuse them", name, prev))
			}
			top.names[name] = r
			top.lower[strings.ToLower(name)] = r
		}
		it := &item{row: r, typ: typ, exprCols: map[string]string{}}
		if top.it != nil {
			it.parent = top.it
		}
		it.f.ID = name
		*top.kids = append(*top.kids, it)
		c.items = append(c.items, it)
		if pt.begin != "" {
			if err := c.container(it, d, pt); err != nil {
				return err
			}
			stack = append(stack, &frame{it: it, kind: pt.begin, kids: &it.kids, names: map[string]int{}, lower: map[string]int{}})
			continue
		}
		if err := c.question(it, d, pt); err != nil {
			return err
		}
		if sub := it.orOther; sub != nil {
			if prev, dup := top.names[sub.f.ID]; dup {
				return &Error{Sheet: "survey", Row: r, Column: "type", Msg: fmt.Sprintf("or_other adds a question named %q, which row %d already uses", sub.f.ID, prev)}
			}
			top.names[sub.f.ID] = r
			c.items = append(c.items, sub)
		}
	}
	if len(stack) > 1 {
		top := stack[len(stack)-1]
		return &Error{Sheet: "survey", Row: top.it.row, Column: "type", Msg: fmt.Sprintf("begin %s %q has no end %s", top.kind, top.it.f.ID, top.kind)}
	}
	if len(c.typedRows) == 0 {
		return &Error{Sheet: "survey", Msg: "the survey sheet has no questions"}
	}
	return nil
}

// common sets what every kind of row may have: texts, rules, appearance,
// parameters, and reports the columns that are not carried over.
func (c *converter) common(it *item, d rowData) error {
	f := &it.f
	f.Label = c.text(d.texts["label"])
	f.Help = c.text(d.texts["hint"])
	f.Guidance = c.text(d.texts["guidance_hint"])
	f.ConstraintMessage = c.text(d.texts["constraint_message"])
	f.RequiredMessage = c.text(d.texts["required_message"])
	for _, kind := range mediaKinds {
		if t := c.text(d.texts["media:"+kind]); !t.IsZero() {
			if f.Media == nil {
				f.Media = form.Media{}
			}
			f.Media[kind] = t
		}
	}
	f.Relevant = d.vals["relevant"]
	f.Constraint = d.vals["constraint"]
	f.Calculation = d.vals["calculation"]
	f.ChoiceFilter = d.vals["choice_filter"]
	f.RepeatCount = d.vals["repeat_count"]
	f.Required = cond(d.vals["required"])
	f.ReadOnly = cond(d.vals["readonly"])
	f.Appearance = d.vals["appearance"]
	for _, k := range []string{"relevant", "constraint", "calculation", "choice_filter", "repeat_count", "required", "readonly", "default", "trigger"} {
		if v := d.vals[k]; v != "" {
			it.exprCols[k] = v
		}
	}
	if p := d.vals["parameters"]; p != "" {
		params, err := parseParameters(p)
		if err != nil {
			return &Error{Sheet: "survey", Row: it.row, Column: "parameters", Msg: err.Error()}
		}
		f.Parameters = params
	}
	if t := d.vals["trigger"]; t != "" {
		names, err := parseTrigger(t)
		if err != nil {
			return &Error{Sheet: "survey", Row: it.row, Column: "trigger", Msg: err.Error()}
		}
		f.Trigger = names
	}
	for _, col := range d.extra {
		v := d.cells[col.raw]
		at := rowKey{sheetSurvey, it.row, col.raw}
		switch col.base {
		case "bind", "body", "instance":
			c.drop(at, fmt.Sprintf("%s %s", col.raw, quote(v)), fmt.Sprintf("an XForm %s attribute (%s) that Fieldforms templates have no place for", col.base, col.attr))
		default:
			c.drop(at, fmt.Sprintf("%s %s", col.raw, quote(v)), unsupportedColumns[strings.TrimPrefix(col.base, "x:")])
		}
	}
	return nil
}

var unsupportedColumns = map[string]string{
	"autoplay":            "media are not played by themselves",
	"rows":                "the height of a text box is not set per question",
	"intent":              "launching another app to fill a question is not supported",
	"save_to":             "ODK entities are not supported",
	"noapperrorstring":    "launching another app to fill a question is not supported",
	"sms_field":           "the SMS submission format is not supported",
	"sms_option":          "the SMS submission format is not supported",
	"sms_separator":       "the SMS submission format is not supported",
	"sms_allow_media":     "the SMS submission format is not supported",
	"sms_date_format":     "the SMS submission format is not supported",
	"sms_datetime_format": "the SMS submission format is not supported",
	"sms_response":        "the SMS submission format is not supported",
	"compact_tag":         "the compact (SMS) submission format is not supported",
	"flat":                "a flat instance has no meaning for Fieldforms records",
}

// container reads a begin group / begin repeat row.
func (c *converter) container(it *item, d rowData, pt parsedType) error {
	if err := c.common(it, d); err != nil {
		return err
	}
	f := &it.f
	at := rowKey{sheetSurvey, it.row, ""}
	switch pt.begin {
	case "group":
		f.Type = form.TypeGroup
	case "repeat":
		f.Type = form.TypeRepeat
	case "table-list":
		f.Type = form.TypeGroup
		f.Appearance = strings.TrimSpace("table-list " + f.Appearance)
	case "loop":
		f.Type = form.TypeGroup
		it.dropped = true
		it.dropWhy = fmt.Sprintf("begin loop (the group repeated once per choice of list %s) is not supported; a repeat does the same", pt.over)
		c.drop(at, fmt.Sprintf("%s %q", it.typ, f.ID), it.dropWhy)
		return nil
	}
	if hasToken(f.Appearance, "table-list") {
		c.approx(rowKey{sheetSurvey, it.row, "appearance"}, fmt.Sprintf("%s %q with appearance table-list", pt.begin, f.ID),
			"a group with appearance table-list: its questions are shown together on one page, each with its choices, not as one table")
	}
	if d.vals["default"] != "" {
		c.drop(rowKey{sheetSurvey, it.row, "default"}, fmt.Sprintf("default %q", d.vals["default"]), fmt.Sprintf("a %s holds no value", pt.begin))
	}
	return nil
}

func hasToken(s, tok string) bool { return slices.Contains(strings.Fields(s), tok) }

func removeToken(s, tok string) string {
	var out []string
	for _, t := range strings.Fields(s) {
		if t != tok {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}

// question reads a question row.
func (c *converter) question(it *item, d rowData, pt parsedType) error {
	f := &it.f
	at := rowKey{sheetSurvey, it.row, ""}
	if pt.spec.drop != "" {
		it.dropped, it.dropWhy = true, pt.spec.drop
		c.drop(at, describe(it), pt.spec.drop)
		return nil
	}
	if err := c.common(it, d); err != nil {
		return err
	}
	f.Type, f.Meta, f.MaxFiles = pt.spec.t, pt.spec.meta, pt.spec.maxFiles
	if pt.spec.approx != "" {
		c.approx(rowKey{sheetSurvey, it.row, "type"}, describe(it), pt.spec.approx)
	}
	if pt.sel != "" {
		if done, err := c.selectQuestion(it, d, pt); err != nil || done {
			return err
		}
	}
	switch f.Type {
	case form.TypeText:
		if hasToken(f.Appearance, "multiline") {
			f.Type = form.TypeMultiline
			f.Appearance = removeToken(f.Appearance, "multiline")
		}
	case form.TypeRange:
		if err := c.rangeParams(it); err != nil {
			return err
		}
	case form.TypePhoto:
		switch {
		case hasToken(f.Appearance, "signature"):
			f.Type, f.MaxFiles = form.TypeSignature, 0
			f.Appearance = removeToken(f.Appearance, "signature")
		case hasToken(f.Appearance, "draw"):
			f.Type, f.MaxFiles = form.TypeSignature, 0
			f.Appearance = removeToken(f.Appearance, "draw")
			c.approx(rowKey{sheetSurvey, it.row, "appearance"}, describe(it)+" with appearance draw", "a signature pad: a blank canvas drawn on with one colour")
		case hasToken(f.Appearance, "annotate"):
			c.approx(rowKey{sheetSurvey, it.row, "appearance"}, describe(it)+" with appearance annotate", "a photo question: the photo cannot be drawn on")
		}
	case form.TypeCalculate:
		if f.Calculation == "" && len(f.Trigger) == 0 {
			if d.vals["default"] == "" {
				return &Error{Sheet: "survey", Row: it.row, Column: "calculation", Msg: fmt.Sprintf("calculate %q has no calculation", f.ID)}
			}
			f.Type = form.TypeHidden // a value set once, by its default
		}
	case form.TypeNote:
		f.ReadOnly = form.Cond{} // a note is read-only anyway
		delete(it.exprCols, "readonly")
		if f.Calculation != "" {
			c.drop(rowKey{sheetSurvey, it.row, "calculation"}, fmt.Sprintf("calculation %q", f.Calculation),
				"a note holds no value; show a computed value in its label with ${name} of a calculate question")
			f.Calculation = ""
			delete(it.exprCols, "calculation")
		}
	}
	if dv := d.vals["default"]; dv != "" {
		c.setDefault(it, dv)
	}
	if f.Meta == "" && askedType(f.Type) && f.Label.Blank() && f.Help.Blank() && len(f.Media) == 0 {
		f.Label = form.Plain(f.ID)
		c.approx(rowKey{sheetSurvey, it.row, "label"}, describe(it)+" without a label", fmt.Sprintf("a question needs a label: its name %q is shown", f.ID))
	}
	return nil
}

// askedType is a type a worker answers or reads.
func askedType(t form.FieldType) bool {
	switch t {
	case form.TypeHidden, form.TypeCalculate, form.TypeGroup, form.TypeRepeat:
		return false
	}
	return true
}

func describe(it *item) string {
	if it.f.ID == "" {
		return it.typ
	}
	return fmt.Sprintf("%s %q", it.typ, it.f.ID)
}

// setDefault reads the default column: an expression (pyxform's rule for dynamic
// defaults) or a value in the field's format.
func (c *converter) setDefault(it *item, dv string) {
	f := &it.f
	if defaultIsDynamic(dv, f.Type) {
		f.DefaultExpr = dv
		return
	}
	raw, ok := literalDefault(dv, f.Type)
	if !ok {
		c.drop(rowKey{sheetSurvey, it.row, "default"}, fmt.Sprintf("default %q", dv), fmt.Sprintf("a %s question takes no default value", f.Type))
		delete(it.exprCols, "default")
		return
	}
	f.Default = raw
}

// rangeParams moves a range's start, end and step to Min, Max and Step (ODK's
// defaults: 1, 10, 1).
func (c *converter) rangeParams(it *item) error {
	f := &it.f
	vals := map[string]string{"start": "1", "end": "10", "step": "1"}
	for k := range vals {
		if v, ok := f.Parameters[k]; ok {
			vals[k] = v
			delete(f.Parameters, k)
		}
	}
	if len(f.Parameters) == 0 {
		f.Parameters = nil
	}
	num := func(k string) (json.RawMessage, error) {
		v := vals[k]
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, &Error{Sheet: "survey", Row: it.row, Column: "parameters", Msg: fmt.Sprintf("range %s %q is not a number", k, v)}
		}
		return json.RawMessage(formatNumber(n)), nil
	}
	var err error
	if f.Min, err = num("start"); err != nil {
		return err
	}
	if f.Max, err = num("end"); err != nil {
		return err
	}
	if f.Step, err = num("step"); err != nil {
		return err
	}
	return nil
}

// selectQuestion reads select_one, select_multiple, rank and their from_file forms.
// done reports a question dropped (or finished) here.
func (c *converter) selectQuestion(it *item, d rowData, pt parsedType) (done bool, err error) {
	f := &it.f
	at := rowKey{sheetSurvey, it.row, "type"}
	switch pt.sel {
	case "one":
		f.Type = form.TypeChoice
	case "multiple":
		f.Type = form.TypeMultiChoice
	case "rank":
		f.Type = form.TypeRank
	case "external":
		it.dropped, it.dropWhy = true, "select_one_external reads choices from an external CSV file through the external_choices sheet, which is not supported"
		c.drop(rowKey{sheetSurvey, it.row, ""}, describe(it), it.dropWhy)
		return true, nil
	}
	it.list = pt.list
	if strings.Contains(pt.list, "${") {
		it.dropped, it.dropWhy = true, fmt.Sprintf("choices taken from the answers of a repeat (%s) are not supported", pt.list)
		c.drop(rowKey{sheetSurvey, it.row, ""}, describe(it), it.dropWhy)
		return true, nil
	}
	var cl *choiceList
	ext := strings.ToLower(pathExt(pt.list))
	if pt.fromFile || ext == ".csv" || ext == ".xml" || ext == ".geojson" {
		var why string
		cl, why = c.fileList(pt.list, f.Parameters)
		if cl == nil {
			it.dropped, it.dropWhy = true, why
			c.drop(rowKey{sheetSurvey, it.row, ""}, describe(it), why)
			return true, nil
		}
		delete(f.Parameters, "value")
		delete(f.Parameters, "label")
		if len(f.Parameters) == 0 {
			f.Parameters = nil
		}
		c.warn(at, fmt.Sprintf("the choices of %s are copied into the template: a changed file needs a new import", pt.list))
		if note := c.fileNotes[pt.list]; note != "" {
			c.warn(at, note)
		}
	} else {
		cl = c.lists[pt.list]
		if cl == nil {
			if len(c.lists) == 0 {
				return false, &Error{Sheet: "survey", Row: it.row, Column: "type", Msg: fmt.Sprintf("list %q is not in the choices sheet (the form has no choices sheet, or it is empty)", pt.list)}
			}
			return false, &Error{Sheet: "survey", Row: it.row, Column: "type", Msg: fmt.Sprintf("list %q is not in the choices sheet", pt.list)}
		}
	}
	if cl.tooBig {
		it.dropped, it.dropWhy = true, fmt.Sprintf("list %s has %d choices, over the limit of %d", pt.list, len(cl.options), form.MaxOptions)
		c.drop(rowKey{sheetSurvey, it.row, ""}, describe(it), it.dropWhy)
		return true, nil
	}
	f.List = c.useList(cl)
	if pt.orOther {
		c.orOther(it, cl)
	}
	return false, nil
}

func pathExt(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i:]
	}
	return ""
}

// useList puts a list into the template's choices and returns its name there.
func (c *converter) useList(cl *choiceList) string {
	if c.tpl.Choices == nil {
		c.tpl.Choices = map[string][]form.Option{}
	}
	c.tpl.Choices[cl.name] = cl.options
	return cl.name
}

// orOther does what pyxform does for select_one LIST or_other: an "other" choice and
// a text question NAME_other shown when it is chosen. The choice goes into a copy of
// the list, so other questions of the same list do not get it.
func (c *converter) orOther(it *item, cl *choiceList) {
	f := &it.f
	if !slices.ContainsFunc(cl.options, func(o form.Option) bool { return o.Value == "other" }) {
		name := cl.name + "_or_other"
		if opts, ok := c.tpl.Choices[name]; ok && len(opts) == len(cl.options)+1 && c.listNames[name] == "(or_other)" {
			f.List = name // made already, for another question of the list
		} else {
			langs := map[string]string{}
			for _, o := range cl.options {
				for _, l := range o.Label.Languages() {
					langs[l] = "Other"
				}
			}
			if len(langs) == 0 {
				langs[""] = "Other"
			}
			if c.listNames[name] != "" {
				name = c.listName(name, 0)
			}
			c.listNames[name] = "(or_other)"
			other := &choiceList{name: name, file: cl.file}
			other.options = append(slices.Clone(cl.options), form.Option{Value: "other", Label: form.Texts(langs)})
			f.List = c.useList(other)
		}
	}
	name := f.ID + "_other"
	sub := &item{row: it.row, typ: "text", generated: true, parent: it.parent, exprCols: map[string]string{}}
	sub.f = form.Field{ID: name, Type: form.TypeText, Label: form.Plain("Specify other."),
		Relevant: fmt.Sprintf("selected(${%s}, 'other')", f.ID)}
	it.orOther = sub
	c.approx(rowKey{sheetSurvey, it.row, "type"}, it.typ,
		fmt.Sprintf("an \"other\" choice, and a text question %s shown when it is chosen (as pyxform does)", name))
}

// parseParameters reads the parameters column: name=value pairs separated by
// spaces, commas or semicolons. Names are lower-cased, and values too except label
// and value (column names) and references, as pyxform does.
func parseParameters(s string) (map[string]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch ch := s[i]; {
		case ch == '=':
			toks = append(toks, "=")
			i++
		case ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == ',' || ch == ';':
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r,;=", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	out := map[string]string{}
	for i := 0; i < len(toks); i += 3 {
		if i+2 >= len(toks) || toks[i] == "=" || toks[i+1] != "=" || toks[i+2] == "=" {
			return nil, fmt.Errorf("parameters %q: expected name=value pairs separated by spaces", s)
		}
		k, v := strings.ToLower(toks[i]), toks[i+2]
		if k != "label" && k != "value" && !strings.Contains(v, "${") {
			v = strings.ToLower(v)
		}
		out[k] = v
	}
	return out, nil
}

// parseTrigger reads the trigger column: ${a}, or ${a}, ${b}.
func parseTrigger(s string) ([]string, error) {
	var names []string
	for _, m := range reRef.FindAllStringSubmatch(s, -1) {
		name := strings.TrimSpace(m[1])
		if !form.ValidName(name) {
			return nil, fmt.Errorf("trigger %q: %q is not a question name", s, name)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if rest := strings.Trim(reRef.ReplaceAllString(s, ""), " ,;\t\r\n"); rest != "" || len(names) == 0 {
		return nil, fmt.Errorf("trigger %q: name the questions as ${name}, separated by commas", s)
	}
	return names, nil
}
