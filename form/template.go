package form

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldType names the kind of value a field holds.
type FieldType string

// The field types a template may use. The first fifteen are those of the first
// template format; the rest came with XLSForm's: structure (group, repeat), ODK's
// other question types, and fields that hold a value without asking for it.
const (
	TypeText        FieldType = "text"
	TypeMultiline   FieldType = "multiline"
	TypeInteger     FieldType = "integer"
	TypeDecimal     FieldType = "decimal"
	TypeDate        FieldType = "date"
	TypeTime        FieldType = "time"
	TypeDateTime    FieldType = "datetime"
	TypeChoice      FieldType = "choice"
	TypeMultiChoice FieldType = "multichoice"
	TypeYesNo       FieldType = "yesno"
	TypeSignature   FieldType = "signature"
	TypePhoto       FieldType = "photo"
	TypeFile        FieldType = "file"
	TypeGeo         FieldType = "geolocation"
	TypeNote        FieldType = "note"

	TypeGroup       FieldType = "group"       // a section of fields
	TypeRepeat      FieldType = "repeat"      // fields filled in once per instance
	TypeRange       FieldType = "range"       // a number between min and max, by step
	TypeRank        FieldType = "rank"        // every option, in the order chosen
	TypeGeoTrace    FieldType = "geotrace"    // a line of points
	TypeGeoShape    FieldType = "geoshape"    // a closed polygon of points
	TypeBarcode     FieldType = "barcode"     // the text a scanned code holds
	TypeAudio       FieldType = "audio"       // recordings
	TypeVideo       FieldType = "video"       // videos
	TypeAcknowledge FieldType = "acknowledge" // "OK" once acknowledged
	TypeHidden      FieldType = "hidden"      // a value never shown: a default, or set by a script
	TypeCalculate   FieldType = "calculate"   // the result of a calculation
)

// FieldTypes lists every field type, in the order the documentation gives them.
var FieldTypes = []FieldType{TypeText, TypeMultiline, TypeInteger, TypeDecimal, TypeDate,
	TypeTime, TypeDateTime, TypeChoice, TypeMultiChoice, TypeYesNo, TypeSignature, TypePhoto,
	TypeFile, TypeGeo, TypeNote, TypeGroup, TypeRepeat, TypeRange, TypeRank, TypeGeoTrace,
	TypeGeoShape, TypeBarcode, TypeAudio, TypeVideo, TypeAcknowledge, TypeHidden, TypeCalculate}

// Limits on templates and values. They bound what one device can push into every other.
const (
	MaxTemplateBytes = 4 << 20
	MaxFields        = 3000 // questions, groups and repeats, at every depth
	MaxDepth         = 16   // groups and repeats inside each other
	MaxOptions       = 20000
	MaxTextLength    = 65536 // characters in one text value
	MaxValueBytes    = 1 << 18
	MaxFiles         = 50
	MaxInstances     = 1000 // instances of one repeat in one record
	maxIDLength      = 64
	maxNameLength    = 128
)

// Template describes a form: its fields, their rules and linked procedures.
type Template struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// VersionLabel is the version as the form's author wrote it (XLSForm's settings
	// version, e.g. "2024031501"); Version orders a template's versions.
	VersionLabel string `json:"version_label,omitempty"`
	Name         string `json:"name"`
	Description  string `json:"description,omitempty"`
	// Languages names the languages the texts are given in, as the form names them
	// ("French (fr)"), in the form's order; DefaultLanguage is the one shown first.
	// A text's "" language is the form's untranslated column.
	Languages       []string `json:"languages,omitempty"`
	DefaultLanguage string   `json:"default_language,omitempty"`
	Title           []string `json:"title,omitempty"` // field keys whose values make a record's title
	// InstanceName is an expression whose value titles a record (XLSForm's
	// instance_name); it wins over Title.
	InstanceName string  `json:"instance_name,omitempty"`
	Fields       []Field `json:"fields"`
	// Choices are named lists of options that choice fields share (XLSForm's choices
	// sheet), by list name.
	Choices    map[string][]Option `json:"choices,omitempty"`
	Procedures []Procedure         `json:"procedures,omitempty"`

	byKey     map[string]*Field // by schema path: group and repeat names, then the field's
	byName    map[string][]*Field
	all       []*Field // every field, groups and repeats included, in document order
	calcOrder []*Field // calculations in dependency order
	lists     map[string]*choiceList
	instName  *compiledExpr
	computes  bool // some field's value is computed, defaulted or counted
}

// Field is one question of a template, or a group or repeat of them.
type Field struct {
	ID       string    `json:"id"`
	Type     FieldType `json:"type"`
	Label    Text      `json:"label,omitzero"`
	Help     Text      `json:"help,omitzero"`
	Guidance Text      `json:"guidance,omitzero"`
	// Required is true, false or an expression; RequiredMessage says what to do.
	Required        Cond `json:"required,omitzero"`
	RequiredMessage Text `json:"required_message,omitzero"`
	// Min and Max bound numbers (integer, decimal, range), dates, times and
	// date-times, written in the field's own value format, the number of choices of a
	// multichoice and the number of instances of a repeat.
	Min       json.RawMessage `json:"min,omitempty"`
	Max       json.RawMessage `json:"max,omitempty"`
	Step      json.RawMessage `json:"step,omitempty"` // range only
	MinLength *int            `json:"min_length,omitempty"`
	MaxLength *int            `json:"max_length,omitempty"`
	Pattern   string          `json:"pattern,omitempty"`
	Options   []Option        `json:"options,omitempty"`
	List      string          `json:"list,omitempty"` // a list of Template.Choices, instead of Options
	MaxFiles  int             `json:"max_files,omitempty"`
	ShowIf    *Condition      `json:"show_if,omitempty"`

	// Expressions (package form/expr): when the field is shown, what it must hold,
	// what it computes, what it starts with, which options it offers.
	Relevant          string          `json:"relevant,omitempty"`
	Constraint        string          `json:"constraint,omitempty"`
	ConstraintMessage Text            `json:"constraint_message,omitzero"`
	ReadOnly          Cond            `json:"readonly,omitzero"`
	Calculation       string          `json:"calculation,omitempty"`
	Default           json.RawMessage `json:"default,omitempty"`      // a value
	DefaultExpr       string          `json:"default_expr,omitempty"` // or an expression, evaluated once
	ChoiceFilter      string          `json:"choice_filter,omitempty"`
	// Trigger names the fields whose change makes Calculation run; without it, the
	// calculation runs whenever what it reads changes.
	Trigger    []string          `json:"trigger,omitempty"`
	Appearance string            `json:"appearance,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	Media      Media             `json:"media,omitempty"`
	// Meta fills the field by itself: start, end, today, deviceid, username,
	// instanceid, email, phonenumber.
	Meta string `json:"meta,omitempty"`
	// RepeatCount fixes the number of a repeat's instances: a number or an expression.
	RepeatCount string  `json:"repeat_count,omitempty"`
	Fields      []Field `json:"fields,omitempty"` // a group's or a repeat's

	re       *regexp.Regexp
	min, max bound
	step     float64
	options  map[string]int
	key      string // schema path, e.g. household/members/age
	parent   *Field // the enclosing group or repeat; nil at the top
	repeat   *Field // the nearest enclosing repeat; nil outside any
	depth    int
	list     *choiceList
	exprs    fieldExprs
}

// Option is one answer of a choice field. Filter holds the option's other columns
// (XLSForm's choices sheet), which a choice filter reads.
type Option struct {
	Value  string            `json:"value"`
	Label  Text              `json:"label,omitzero"`
	Filter map[string]string `json:"filter,omitempty"`
	Media  Media             `json:"media,omitempty"`
}

// Media names files shown with a text, by kind (image, audio, video, big-image),
// each per language.
type Media map[string]Text

// Cond is a rule that is true, false, or an expression: JSON true, false or a string.
type Cond struct {
	Const bool
	Expr  string
}

// IsZero reports a rule that is false and has no expression.
func (c Cond) IsZero() bool { return !c.Const && c.Expr == "" }

// Set reports whether the rule can hold: it is true or an expression.
func (c Cond) Set() bool { return c.Const || c.Expr != "" }

// MarshalJSON writes the expression, or the constant.
func (c Cond) MarshalJSON() ([]byte, error) {
	if c.Expr != "" {
		return AppendString(nil, c.Expr), nil
	}
	return strconv.AppendBool(nil, c.Const), nil
}

// UnmarshalJSON reads true, false or an expression.
func (c *Cond) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "true", string(b) == "false":
		*c = Cond{Const: string(b) == "true"}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Cond{Expr: s}
		return nil
	}
	return errors.New("expected true, false or an expression")
}

// Condition shows a field only when another field's value matches: it equals Equals,
// is one of In, or (with NotEmpty) has any value. For a multichoice field, "equals"
// means the value is among the chosen ones.
type Condition struct {
	Field    string            `json:"field"`
	Equals   json.RawMessage   `json:"equals,omitempty"`
	In       []json.RawMessage `json:"in,omitempty"`
	NotEmpty bool              `json:"not_empty,omitempty"`
}

// Procedure is a document linked to a template, kept in blob storage by content hash.
type Procedure struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Type   string `json:"type,omitempty"`
}

// TemplateError says which field of a template breaks which rule. Field is empty for
// an error about the template as a whole.
type TemplateError struct {
	Field string
	Rule  string
	Msg   string
}

func (e *TemplateError) Error() string {
	if e.Field == "" {
		return "template: " + e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Msg)
}

// ErrInvalidTemplate is matched by errors.Is for every *TemplateError.
var ErrInvalidTemplate = errors.New("invalid template")

// Is lets errors.Is(err, ErrInvalidTemplate) match.
func (e *TemplateError) Is(target error) bool { return target == ErrInvalidTemplate }

// ValidTemplateID reports whether s is a well-formed template ID: 1-64 characters of
// a-z, 0-9, '_', '.', '-', starting with a letter or digit.
func ValidTemplateID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLength || !isLowerAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// MakeTemplateID makes a template ID of another system's form ID (XLSForm's
// form_id, an XForm's id): lower case, characters other than a-z 0-9 _ . -
// become '-', starting with a letter or digit, at most 64 characters; "form" when
// nothing is left.
func MakeTemplateID(s string) string {
	if t := strings.TrimSpace(s); ValidTemplateID(t) {
		return t
	}
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '_' || r == '.' || r == '-':
			if b.Len() > 0 {
				b.WriteRune(r)
			}
		default:
			if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
				b.WriteByte('-')
			}
		}
	}
	id := b.String()
	if len(id) > maxIDLength {
		id = id[:maxIDLength]
	}
	id = strings.TrimRight(id, "-")
	if id == "" || !ValidTemplateID(id) {
		return "form"
	}
	return id
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// ParseTemplate reads and checks a template. Unknown keys are errors, so a typo in a
// rule name is not silently ignored.
func ParseTemplate(data []byte) (*Template, error) {
	if len(data) > MaxTemplateBytes {
		return nil, &TemplateError{Rule: "size", Msg: fmt.Sprintf("%d bytes is over the limit of %d", len(data), MaxTemplateBytes)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var t Template
	if err := dec.Decode(&t); err != nil {
		return nil, &TemplateError{Rule: "json", Msg: jsonErrorMessage(data, err)}
	}
	if !atEOF(dec) {
		return nil, &TemplateError{Rule: "json", Msg: "unexpected data after the template object"}
	}
	if err := t.compile(); err != nil {
		return nil, err
	}
	return &t, nil
}

// jsonErrorMessage turns a decoding error into a message that says where.
func jsonErrorMessage(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Offset counts the offending byte; the position is that byte's.
		line, col := position(data, max(se.Offset-1, 0))
		return fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, se.Error())
	case errors.As(err, &te):
		line, col := position(data, te.Offset)
		where := te.Field
		if where == "" {
			where = "value"
		}
		return fmt.Sprintf("%s at line %d, column %d: expected %s, got JSON %s", where, line, col, te.Type, te.Value)
	}
	return "malformed JSON: " + err.Error()
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// compile checks the template and prepares its rules.
func (t *Template) compile() error {
	if !ValidTemplateID(t.ID) {
		return &TemplateError{Rule: "id", Msg: fmt.Sprintf("id %q must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit", t.ID)}
	}
	if t.Version < 1 {
		return &TemplateError{Rule: "version", Msg: fmt.Sprintf("version %d must be 1 or more", t.Version)}
	}
	if strings.TrimSpace(t.Name) == "" {
		return &TemplateError{Rule: "name", Msg: "name is required"}
	}
	if len(t.VersionLabel) > 256 || strings.ContainsAny(t.VersionLabel, "\r\n") {
		return &TemplateError{Rule: "version_label", Msg: "version_label must be one line of at most 256 bytes"}
	}
	if len(t.Fields) == 0 {
		return &TemplateError{Rule: "fields", Msg: "a template needs at least one field"}
	}
	if err := t.compileLanguages(); err != nil {
		return err
	}
	if err := t.compileLists(); err != nil {
		return err
	}
	t.byKey = map[string]*Field{}
	t.byName = map[string][]*Field{}
	t.all = nil
	if err := t.compileFields(t.Fields, nil, 0); err != nil {
		return err
	}
	for _, id := range t.Title {
		f, ok := t.byKey[id]
		if !ok {
			return &TemplateError{Rule: "title", Msg: fmt.Sprintf("title names unknown field %q", id)}
		}
		if !f.HoldsValue() {
			return &TemplateError{Rule: "title", Msg: fmt.Sprintf("title names %s %q, which holds no value", f.Type, id)}
		}
		if f.repeat != nil {
			return &TemplateError{Rule: "title", Msg: fmt.Sprintf("title names %q, which is inside repeat %q", id, f.repeat.key)}
		}
	}
	for i, p := range t.Procedures {
		if strings.TrimSpace(p.Name) == "" || !validSHA256(p.SHA256) || p.Size < 0 {
			return &TemplateError{Rule: "procedures", Msg: fmt.Sprintf("procedure %d needs a name, a sha256 of 64 lowercase hex digits and a size", i+1)}
		}
	}
	return t.compileExprs()
}

// compileLanguages checks the language list: distinct names of one line each.
func (t *Template) compileLanguages() error {
	seen := map[string]bool{}
	for _, l := range t.Languages {
		if strings.TrimSpace(l) == "" || len(l) > 64 || strings.ContainsAny(l, "\r\n") {
			return &TemplateError{Rule: "languages", Msg: fmt.Sprintf("language %q must be a name of one line, 1-64 bytes", l)}
		}
		if seen[l] {
			return &TemplateError{Rule: "languages", Msg: fmt.Sprintf("language %q is listed twice", l)}
		}
		seen[l] = true
	}
	if t.DefaultLanguage != "" && !seen[t.DefaultLanguage] {
		return &TemplateError{Rule: "default_language", Msg: fmt.Sprintf("default_language %q is not one of languages", t.DefaultLanguage)}
	}
	return nil
}

// compileFields checks fields at one level and, depth first, the fields inside them.
func (t *Template) compileFields(fields []Field, parent *Field, depth int) error {
	siblings := make(map[string]bool, len(fields))
	for i := range fields {
		f := &fields[i]
		where := "field " + strconv.Itoa(i+1)
		if parent != nil {
			where += " of " + parent.key
		}
		if f.ID == "" {
			return &TemplateError{Rule: "id", Msg: where + " has no id"}
		}
		key := f.ID
		if parent != nil {
			key = parent.key + "/" + f.ID
		}
		if !ValidName(f.ID) {
			return &TemplateError{Field: key, Rule: "id", Msg: fmt.Sprintf("id must be 1-%d bytes: a letter or '_', then letters, digits, '-', '.' or '_'", maxNameLength)}
		}
		if IsSystemField(f.ID) {
			return &TemplateError{Field: key, Rule: "id", Msg: "id " + f.ID + " is kept for the record's own fields"}
		}
		if siblings[f.ID] {
			return &TemplateError{Field: key, Rule: "duplicate", Msg: "duplicate field id"}
		}
		siblings[f.ID] = true
		if len(t.all) >= MaxFields {
			return &TemplateError{Rule: "fields", Msg: fmt.Sprintf("%d fields is over the limit of %d", countFields(t.Fields), MaxFields)}
		}
		f.key, f.parent, f.depth = key, parent, depth
		f.repeat = nil
		for p := parent; p != nil; p = p.parent {
			if p.Type == TypeRepeat {
				f.repeat = p
				break
			}
		}
		t.all = append(t.all, f)
		if err := t.compileField(f); err != nil {
			return err
		}
		// Known once checked: a show-if may only name an earlier field.
		t.byKey[key] = f
		t.byName[f.ID] = append(t.byName[f.ID], f)
		if f.IsContainer() {
			if depth+1 >= MaxDepth {
				return &TemplateError{Field: key, Rule: "fields", Msg: fmt.Sprintf("groups and repeats nest more than %d deep", MaxDepth)}
			}
			if len(f.Fields) == 0 {
				return &TemplateError{Field: key, Rule: "fields", Msg: fmt.Sprintf("a %s needs at least one field", f.Type)}
			}
			if err := t.compileFields(f.Fields, f, depth+1); err != nil {
				return err
			}
		} else if f.Fields != nil {
			return &TemplateError{Field: key, Rule: "fields", Msg: fmt.Sprintf("fields does not apply to a %s field; only groups and repeats hold fields", f.Type)}
		}
	}
	return nil
}

func countFields(fields []Field) int {
	n := len(fields)
	for i := range fields {
		n += countFields(fields[i].Fields)
	}
	return n
}

// valueTypes are the types whose fields hold an answer.
var valueTypes = []FieldType{TypeText, TypeMultiline, TypeInteger, TypeDecimal, TypeDate, TypeTime, TypeDateTime,
	TypeChoice, TypeMultiChoice, TypeYesNo, TypeSignature, TypePhoto, TypeFile, TypeGeo, TypeRange, TypeRank,
	TypeGeoTrace, TypeGeoShape, TypeBarcode, TypeAudio, TypeVideo, TypeAcknowledge, TypeHidden, TypeCalculate}

// askTypes are the value types a worker answers (not hidden or computed ones).
var askTypes = valueTypes[:len(valueTypes)-2]

// metaTypes says which type a metadata field has.
var metaTypes = map[string][]FieldType{
	"start": {TypeDateTime}, "end": {TypeDateTime}, "today": {TypeDate},
	"deviceid": {TypeText, TypeHidden}, "username": {TypeText, TypeHidden}, "instanceid": {TypeText, TypeHidden},
	"email": {TypeText, TypeHidden}, "phonenumber": {TypeText, TypeHidden},
}

// IsContainer reports a group or a repeat.
func (f *Field) IsContainer() bool { return f.Type == TypeGroup || f.Type == TypeRepeat }

// holdsValue is valueTypes as a set: HoldsValue is asked for every value checked.
var holdsValue = func() map[FieldType]bool {
	m := make(map[FieldType]bool, len(valueTypes))
	for _, t := range valueTypes {
		m[t] = true
	}
	return m
}()

// HoldsValue reports whether the field holds an answer or a computed value.
func (f *Field) HoldsValue() bool { return holdsValue[f.Type] }

// Asked reports whether a worker is asked for the field's value: it holds a value, is
// not hidden, computed or metadata.
func (f *Field) Asked() bool {
	return f.Meta == "" && slices.Contains(askTypes, f.Type)
}

// Key is the field's schema path: the names of the groups and repeats it is in, and
// its own, joined by '/'. A record keys the field's value by it, with each repeat's
// name followed by the instance in brackets.
func (f *Field) Key() string { return f.key }

// Parent is the group or repeat the field is in, or nil.
func (f *Field) Parent() *Field { return f.parent }

// Repeat is the nearest repeat the field is in, or nil.
func (f *Field) Repeat() *Field { return f.repeat }

// Depth is how many groups and repeats the field is in.
func (f *Field) Depth() int { return f.depth }

// Rule returns a rule of the field as its template writes it, by the rule's name
// in TemplateError.Rule: an expression (relevant, constraint, required, readonly,
// calculation, default_expr, choice_filter, repeat_count), the default value, the
// trigger's names joined by ", ", or a message in the default language; "" for a
// rule the field does not have.
func (f *Field) Rule(rule string) string {
	switch rule {
	case "relevant":
		return f.Relevant
	case "constraint":
		return f.Constraint
	case "required":
		return f.Required.Expr
	case "readonly":
		return f.ReadOnly.Expr
	case "calculation":
		return f.Calculation
	case "default_expr":
		return f.DefaultExpr
	case "default":
		return string(f.Default)
	case "choice_filter":
		return f.ChoiceFilter
	case "repeat_count":
		return f.RepeatCount
	case "trigger":
		return strings.Join(f.Trigger, ", ")
	case "constraint_message":
		return f.ConstraintMessage.String()
	case "required_message":
		return f.RequiredMessage.String()
	}
	return ""
}

// Computes reports whether saving an edit can set more than the edit: the template
// has calculations, defaults, metadata, triggers or repeat counts.
func (t *Template) Computes() bool { return t.computes }

// RangeStep returns a range field's start (min), end (max) and step.
func (f *Field) RangeStep() (start, end, step float64) { return f.min.n, f.max.n, f.step }

// ChoiceOptions returns the options of a choice, multichoice or rank field: its own,
// or its list's.
func (f *Field) ChoiceOptions() []Option {
	if f.list != nil {
		return f.list.options
	}
	return f.Options
}

// Option returns the option with the given value.
func (f *Field) Option(value string) (Option, bool) {
	if f.list != nil {
		if i, ok := f.list.index[value]; ok {
			return f.list.options[i], true
		}
		return Option{}, false
	}
	if i, ok := f.options[value]; ok {
		return f.Options[i], true
	}
	return Option{}, false
}

func (f *Field) optionIndex(value string) (int, bool) {
	if f.list != nil {
		i, ok := f.list.index[value]
		return i, ok
	}
	i, ok := f.options[value]
	return i, ok
}

// choiceList is a checked list of options.
type choiceList struct {
	name    string
	options []Option
	index   map[string]int
}

// compileLists checks the template's shared lists of options.
func (t *Template) compileLists() error {
	t.lists = make(map[string]*choiceList, len(t.Choices))
	names := make([]string, 0, len(t.Choices))
	for name := range t.Choices {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !ValidName(name) {
			return &TemplateError{Rule: "choices", Msg: fmt.Sprintf("list name %q must be a letter or '_', then letters, digits, '-', '.' or '_'", name)}
		}
		l := &choiceList{name: name, options: t.Choices[name]}
		idx, err := checkOptions(l.options, false)
		if err != nil {
			return &TemplateError{Rule: "choices", Msg: "list " + name + ": " + err.Error()}
		}
		l.index = idx
		t.lists[name] = l
	}
	return nil
}

// checkOptions checks a list of options and indexes them by value. Inline options
// (the first template format) need a label; a shared list's option may show its value.
func checkOptions(opts []Option, needLabel bool) (map[string]int, error) {
	if len(opts) == 0 {
		return nil, errors.New("no options")
	}
	if len(opts) > MaxOptions {
		return nil, fmt.Errorf("%d options is over the limit of %d", len(opts), MaxOptions)
	}
	idx := make(map[string]int, len(opts))
	for i, o := range opts {
		if o.Value == "" {
			return nil, fmt.Errorf("option %d has an empty value", i+1)
		}
		if strings.ContainsAny(o.Value, " \t\r\n") {
			return nil, fmt.Errorf("option %q has white space in its value; a multiple choice answer lists values separated by spaces", o.Value)
		}
		if len(o.Value) > 256 {
			return nil, fmt.Errorf("option %d: a value of %d bytes is over the limit of 256", i+1, len(o.Value))
		}
		if _, dup := idx[o.Value]; dup {
			return nil, fmt.Errorf("duplicate option value %q", o.Value)
		}
		if needLabel && o.Label.Blank() {
			return nil, fmt.Errorf("option %q has no label", o.Value)
		}
		for k := range o.Filter {
			if !ValidName(k) {
				return nil, fmt.Errorf("option %q: column %q is not a name", o.Value, k)
			}
		}
		idx[o.Value] = i
	}
	return idx, nil
}

func (t *Template) compileField(f *Field) error {
	ferr := func(rule, format string, args ...any) error {
		return &TemplateError{Field: f.key, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	}
	if !slices.Contains(FieldTypes, f.Type) {
		return ferr("type", "unknown type %q (known: %s)", f.Type, typeList())
	}
	// A question shows something: a label, a hint or a picture. Groups, repeats and
	// fields that are never shown need none.
	shown := f.Type == TypeNote || f.Asked()
	if shown && f.Label.Blank() && f.Help.Blank() && len(f.Media) == 0 {
		return ferr("label", "label is required")
	}
	// Each rule applies to some types only; a rule on the wrong type is a mistake worth
	// reporting rather than ignoring.
	allowed := func(rule string, set bool, types ...FieldType) error {
		if !set || slices.Contains(types, f.Type) {
			return nil
		}
		return ferr(rule, "%s does not apply to a %s field", rule, f.Type)
	}
	held := valueTypes
	for _, c := range []error{
		allowed("required", f.Required.Set(), askTypes...),
		allowed("min", f.Min != nil, TypeInteger, TypeDecimal, TypeDate, TypeTime, TypeDateTime, TypeMultiChoice, TypeRange, TypeRepeat),
		allowed("max", f.Max != nil, TypeInteger, TypeDecimal, TypeDate, TypeTime, TypeDateTime, TypeMultiChoice, TypeRange, TypeRepeat),
		allowed("step", f.Step != nil, TypeRange),
		allowed("min_length", f.MinLength != nil, TypeText, TypeMultiline),
		allowed("max_length", f.MaxLength != nil, TypeText, TypeMultiline),
		allowed("pattern", f.Pattern != "", TypeText, TypeMultiline),
		allowed("options", f.Options != nil, TypeChoice, TypeMultiChoice, TypeRank),
		allowed("list", f.List != "", TypeChoice, TypeMultiChoice, TypeRank),
		allowed("max_files", f.MaxFiles != 0, TypePhoto, TypeFile, TypeAudio, TypeVideo),
		allowed("constraint", f.Constraint != "", held...),
		allowed("constraint_message", !f.ConstraintMessage.IsZero(), held...),
		allowed("required_message", !f.RequiredMessage.IsZero(), askTypes...),
		allowed("readonly", f.ReadOnly.Set(), append([]FieldType{TypeGroup, TypeNote}, held...)...),
		allowed("calculation", f.Calculation != "", held...),
		allowed("default", f.Default != nil, held...),
		allowed("default_expr", f.DefaultExpr != "", held...),
		allowed("choice_filter", f.ChoiceFilter != "", TypeChoice, TypeMultiChoice, TypeRank),
		allowed("trigger", f.Trigger != nil, held...),
		allowed("repeat_count", f.RepeatCount != "", TypeRepeat),
	} {
		if c != nil {
			return c
		}
	}
	if f.Type == TypeCalculate && f.Calculation == "" && len(f.Trigger) == 0 {
		return ferr("calculation", "a calculate field needs a calculation")
	}
	if f.Default != nil && f.DefaultExpr != "" {
		return ferr("default", "give default or default_expr, not both")
	}
	if f.ShowIf != nil && f.Relevant != "" {
		return ferr("show_if", "give show_if or relevant, not both")
	}
	if f.ShowIf != nil && f.parent != nil {
		return ferr("show_if", "show_if applies to fields outside groups and repeats; use relevant")
	}
	if !f.ConstraintMessage.IsZero() && f.Constraint == "" {
		return ferr("constraint_message", "constraint_message without a constraint")
	}
	if f.Meta != "" {
		types, ok := metaTypes[f.Meta]
		if !ok {
			return ferr("meta", "unknown meta %q (known: start, end, today, deviceid, username, instanceid, email, phonenumber)", f.Meta)
		}
		if !slices.Contains(types, f.Type) {
			return ferr("meta", "meta %s is a %s field, not %s", f.Meta, types[0], f.Type)
		}
	}
	for k := range f.Parameters {
		if k == "" || len(k) > 64 {
			return ferr("parameters", "parameter names are 1-64 bytes")
		}
	}
	if f.MinLength != nil && (*f.MinLength < 0 || *f.MinLength > MaxTextLength) {
		return ferr("min_length", "min_length %d must be between 0 and %d", *f.MinLength, MaxTextLength)
	}
	if f.MaxLength != nil && (*f.MaxLength < 1 || *f.MaxLength > MaxTextLength) {
		return ferr("max_length", "max_length %d must be between 1 and %d", *f.MaxLength, MaxTextLength)
	}
	if f.MinLength != nil && f.MaxLength != nil && *f.MinLength > *f.MaxLength {
		return ferr("min_length", "min_length %d is greater than max_length %d", *f.MinLength, *f.MaxLength)
	}
	if f.Pattern != "" {
		if _, err := syntax.Parse(f.Pattern, syntax.Perl); err != nil {
			msg := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				msg = string(se.Code)
			}
			return ferr("pattern", "pattern %q: %s", f.Pattern, msg)
		}
		// The whole value must match, as in ODK's regex constraint. The wrapped form
		// can still fail (one more level of nesting than the pattern alone).
		re, err := regexp.Compile(`^(?:` + f.Pattern + `)$`)
		if err != nil {
			msg := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				msg = string(se.Code)
			}
			return ferr("pattern", "pattern %q: %s", f.Pattern, msg)
		}
		f.re = re
	}
	f.list = nil
	if f.Type == TypeChoice || f.Type == TypeMultiChoice || f.Type == TypeRank {
		switch {
		case f.List != "" && f.Options != nil:
			return ferr("list", "give options or list, not both")
		case f.List != "":
			l, ok := t.lists[f.List]
			if !ok {
				return ferr("list", "list %q is not among the template's choices", f.List)
			}
			f.list = l
		case len(f.Options) == 0:
			return ferr("options", "a %s field needs options", f.Type)
		default:
			idx, err := checkOptions(f.Options, true)
			if err != nil {
				return ferr("options", "%v", err)
			}
			f.options = idx
		}
	}
	if f.MaxFiles < 0 || f.MaxFiles > MaxFiles {
		return ferr("max_files", "max_files %d must be between 1 and %d", f.MaxFiles, MaxFiles)
	}
	var err error
	if f.min, err = parseBound(f, "min", f.Min); err != nil {
		return err
	}
	if f.max, err = parseBound(f, "max", f.Max); err != nil {
		return err
	}
	if f.min.set && f.max.set && f.min.n > f.max.n && f.Type != TypeRange {
		return ferr("min", "min %s is greater than max %s", f.Min, f.Max)
	}
	if f.Type == TypeRange {
		if err := f.compileRange(); err != nil {
			return err
		}
	}
	if f.Type == TypeRepeat && f.RepeatCount != "" && (f.Min != nil || f.Max != nil) {
		return ferr("repeat_count", "a repeat with repeat_count has exactly that many instances; min and max do not apply")
	}
	if f.Default != nil {
		if f.HoldsValue() && f.Type != TypeCalculate {
			v, err := f.canonical(f.Default)
			if err != nil {
				return ferr("default", "default %s: %v", f.Default, err)
			}
			f.Default = v
		}
	}
	if f.ShowIf != nil {
		if err := t.compileCondition(f); err != nil {
			return err
		}
	}
	return nil
}

// compileRange checks a range's start (min), end (max) and step, as ODK does: the
// step divides the distance between them.
func (f *Field) compileRange() error {
	ferr := func(rule, format string, args ...any) error {
		return &TemplateError{Field: f.key, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	}
	if !f.min.set || !f.max.set {
		return ferr("min", "a range needs min and max")
	}
	f.step = 1
	if f.Step != nil {
		s, err := parseDecimal(f.Step)
		if err != nil || s <= 0 {
			return ferr("step", "step %s must be a number above 0", f.Step)
		}
		f.step = s
	}
	if f.min.n == f.max.n {
		return ferr("max", "min and max of a range are both %s", f.Min)
	}
	n := math.Abs(f.max.n-f.min.n) / f.step
	if math.Abs(n-math.Round(n)) > 1e-9*max(1, n) {
		return ferr("step", "step %g does not divide the range from %s to %s", f.step, f.Min, f.Max)
	}
	if n > 1e6 {
		return ferr("step", "%g steps is over the limit of 1000000", n)
	}
	return nil
}

// compileCondition checks a show-if rule. It may only refer to an earlier field, which
// rules out cycles and matches the order a worker fills the form in.
func (t *Template) compileCondition(f *Field) error {
	c := f.ShowIf
	ferr := func(format string, args ...any) error {
		return &TemplateError{Field: f.key, Rule: "show_if", Msg: "show_if: " + fmt.Sprintf(format, args...)}
	}
	src, ok := t.byKey[c.Field]
	if !ok || src.parent != nil {
		for _, later := range t.Fields {
			if later.ID == c.Field {
				return ferr("field %q comes later in the form; a condition may only refer to an earlier field", c.Field)
			}
		}
		return ferr("unknown field %q", c.Field)
	}
	if !src.HoldsValue() {
		return ferr("field %q is a %s and holds no value", c.Field, src.Type)
	}
	n := 0
	if c.Equals != nil {
		n++
	}
	if c.In != nil {
		n++
	}
	if c.NotEmpty {
		n++
	}
	if n != 1 {
		return ferr("give exactly one of equals, in, not_empty")
	}
	probe := func(v json.RawMessage) error {
		if IsEmpty(v) {
			// holds is false for an empty answer, so this would hide the field for good.
			return ferr("%s never matches: a field without an answer hides what depends on it", v)
		}
		if src.Type == TypeMultiChoice {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return ferr("%s is not an option of %q", v, c.Field)
			}
			if _, ok := src.optionIndex(s); !ok {
				return ferr("%s is not an option of %q", v, c.Field)
			}
			return nil
		}
		if _, err := src.canonical(v); err != nil {
			return ferr("%s is not a valid value for %q: %v", v, c.Field, err)
		}
		return nil
	}
	if c.Equals != nil {
		if err := probe(c.Equals); err != nil {
			return err
		}
	}
	for _, v := range c.In {
		if err := probe(v); err != nil {
			return err
		}
	}
	if c.In != nil && len(c.In) == 0 {
		return ferr("in needs at least one value")
	}
	return nil
}

func typeList() string {
	s := make([]string, len(FieldTypes))
	for i, t := range FieldTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Field returns the field a record key or schema path names: "site/code",
// "defects[0190...]/photo" and "defects/photo" all name the field photo of the repeat
// defects. A repeat's instance key ("defects[...]") names the repeat.
func (t *Template) Field(key string) (*Field, bool) {
	if f, ok := t.byKey[key]; ok {
		return f, true
	}
	path, ok := SchemaPath(key)
	if !ok {
		return nil, false
	}
	f, ok := t.byKey[path]
	return f, ok
}

// All returns every field, groups and repeats included, in the order of the form.
func (t *Template) All() []*Field { return t.all }

// FieldsNamed returns the fields with the given name, in the order of the form.
func (t *Template) FieldsNamed(name string) []*Field { return t.byName[name] }

// List returns a shared list of options.
func (t *Template) List(name string) ([]Option, bool) {
	l, ok := t.lists[name]
	if !ok {
		return nil, false
	}
	return l.options, true
}

// Key identifies one version of a template.
func (t *Template) Key() TemplateKey { return TemplateKey{ID: t.ID, Version: t.Version} }

// TemplateKey identifies one version of a template.
type TemplateKey struct {
	ID      string
	Version int
}

func (k TemplateKey) String() string { return fmt.Sprintf("%s@%d", k.ID, k.Version) }

// Encode returns the template's canonical JSON.
func (t *Template) Encode() []byte {
	b, err := json.Marshal(t)
	if err != nil {
		panic("form: encode template: " + err.Error()) // only plain data: cannot happen
	}
	return b
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }
