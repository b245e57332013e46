package form

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// FieldType names the kind of value a field holds.
type FieldType string

// The field types a template may use.
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
)

// FieldTypes lists every field type, in the order the documentation gives them.
var FieldTypes = []FieldType{TypeText, TypeMultiline, TypeInteger, TypeDecimal, TypeDate,
	TypeTime, TypeDateTime, TypeChoice, TypeMultiChoice, TypeYesNo, TypeSignature, TypePhoto,
	TypeFile, TypeGeo, TypeNote}

// Limits on templates and values. They bound what one device can push into every other.
const (
	MaxTemplateBytes = 1 << 20
	MaxFields        = 500
	MaxOptions       = 1000
	MaxTextLength    = 65536 // characters in one text value
	MaxValueBytes    = 1 << 18
	MaxFiles         = 50
	maxIDLength      = 64
)

// Template describes a form: its fields, their rules and linked procedures.
type Template struct {
	ID          string      `json:"id"`
	Version     int         `json:"version"`
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Title       []string    `json:"title,omitempty"` // field IDs whose values make a record's title
	Fields      []Field     `json:"fields"`
	Procedures  []Procedure `json:"procedures,omitempty"`

	byID map[string]*Field
}

// Field is one question of a template.
type Field struct {
	ID       string    `json:"id"`
	Type     FieldType `json:"type"`
	Label    string    `json:"label"`
	Help     string    `json:"help,omitempty"`
	Required bool      `json:"required,omitempty"`
	// Min and Max bound numbers (integer, decimal), dates, times and date-times, written
	// in the field's own value format, and the number of choices of a multichoice.
	Min       json.RawMessage `json:"min,omitempty"`
	Max       json.RawMessage `json:"max,omitempty"`
	MinLength *int            `json:"min_length,omitempty"`
	MaxLength *int            `json:"max_length,omitempty"`
	Pattern   string          `json:"pattern,omitempty"`
	Options   []Option        `json:"options,omitempty"`
	MaxFiles  int             `json:"max_files,omitempty"`
	ShowIf    *Condition      `json:"show_if,omitempty"`

	re       *regexp.Regexp
	min, max bound
	options  map[string]int
}

// Option is one answer of a choice field.
type Option struct {
	Value string `json:"value"`
	Label string `json:"label"`
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

// validFieldID: 1-64 characters of a-z, 0-9 and '_', starting with a letter.
func validFieldID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLength || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '_' {
			return false
		}
	}
	return true
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
	if len(t.Fields) == 0 {
		return &TemplateError{Rule: "fields", Msg: "a template needs at least one field"}
	}
	if len(t.Fields) > MaxFields {
		return &TemplateError{Rule: "fields", Msg: fmt.Sprintf("%d fields is over the limit of %d", len(t.Fields), MaxFields)}
	}
	t.byID = make(map[string]*Field, len(t.Fields))
	for i := range t.Fields {
		f := &t.Fields[i]
		if f.ID == "" {
			return &TemplateError{Rule: "id", Msg: fmt.Sprintf("field %d has no id", i+1)}
		}
		if !validFieldID(f.ID) {
			return &TemplateError{Field: f.ID, Rule: "id", Msg: "id must be 1-64 characters of a-z, 0-9 and '_', starting with a letter"}
		}
		if _, dup := t.byID[f.ID]; dup {
			return &TemplateError{Field: f.ID, Rule: "duplicate", Msg: "duplicate field id"}
		}
		if err := t.compileField(f); err != nil {
			return err
		}
		t.byID[f.ID] = f
	}
	for _, id := range t.Title {
		f, ok := t.byID[id]
		if !ok {
			return &TemplateError{Rule: "title", Msg: fmt.Sprintf("title names unknown field %q", id)}
		}
		if f.Type == TypeNote {
			return &TemplateError{Rule: "title", Msg: fmt.Sprintf("title names note %q, which holds no value", id)}
		}
	}
	for i, p := range t.Procedures {
		if strings.TrimSpace(p.Name) == "" || !validSHA256(p.SHA256) || p.Size < 0 {
			return &TemplateError{Rule: "procedures", Msg: fmt.Sprintf("procedure %d needs a name, a sha256 of 64 lowercase hex digits and a size", i+1)}
		}
	}
	return nil
}

func (t *Template) compileField(f *Field) error {
	ferr := func(rule, format string, args ...any) error {
		return &TemplateError{Field: f.ID, Rule: rule, Msg: fmt.Sprintf(format, args...)}
	}
	known := false
	for _, k := range FieldTypes {
		if f.Type == k {
			known = true
		}
	}
	if !known {
		return ferr("type", "unknown type %q (known: %s)", f.Type, typeList())
	}
	if strings.TrimSpace(f.Label) == "" {
		return ferr("label", "label is required")
	}
	// Each rule applies to some types only; a rule on the wrong type is a mistake worth
	// reporting rather than ignoring.
	allowed := func(rule string, set bool, types ...FieldType) error {
		if !set {
			return nil
		}
		for _, ty := range types {
			if f.Type == ty {
				return nil
			}
		}
		return ferr(rule, "%s does not apply to a %s field", rule, f.Type)
	}
	for _, c := range []error{
		allowed("required", f.Required, TypeText, TypeMultiline, TypeInteger, TypeDecimal, TypeDate, TypeTime, TypeDateTime, TypeChoice, TypeMultiChoice, TypeYesNo, TypeSignature, TypePhoto, TypeFile, TypeGeo),
		allowed("min", f.Min != nil, TypeInteger, TypeDecimal, TypeDate, TypeTime, TypeDateTime, TypeMultiChoice),
		allowed("max", f.Max != nil, TypeInteger, TypeDecimal, TypeDate, TypeTime, TypeDateTime, TypeMultiChoice),
		allowed("min_length", f.MinLength != nil, TypeText, TypeMultiline),
		allowed("max_length", f.MaxLength != nil, TypeText, TypeMultiline),
		allowed("pattern", f.Pattern != "", TypeText, TypeMultiline),
		allowed("options", f.Options != nil, TypeChoice, TypeMultiChoice),
		allowed("max_files", f.MaxFiles != 0, TypePhoto, TypeFile),
	} {
		if c != nil {
			return c
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
	if f.Type == TypeChoice || f.Type == TypeMultiChoice {
		if len(f.Options) == 0 {
			return ferr("options", "a %s field needs options", f.Type)
		}
		if len(f.Options) > MaxOptions {
			return ferr("options", "%d options is over the limit of %d", len(f.Options), MaxOptions)
		}
		f.options = make(map[string]int, len(f.Options))
		for i, o := range f.Options {
			if o.Value == "" {
				return ferr("options", "option %d has an empty value", i+1)
			}
			if _, dup := f.options[o.Value]; dup {
				return ferr("options", "duplicate option value %q", o.Value)
			}
			if strings.TrimSpace(o.Label) == "" {
				return ferr("options", "option %q has no label", o.Value)
			}
			f.options[o.Value] = i
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
	if f.min.set && f.max.set && f.min.n > f.max.n {
		return ferr("min", "min %s is greater than max %s", f.Min, f.Max)
	}
	if f.ShowIf != nil {
		if err := t.compileCondition(f); err != nil {
			return err
		}
	}
	return nil
}

// compileCondition checks a show-if rule. It may only refer to an earlier field, which
// rules out cycles and matches the order a worker fills the form in.
func (t *Template) compileCondition(f *Field) error {
	c := f.ShowIf
	ferr := func(format string, args ...any) error {
		return &TemplateError{Field: f.ID, Rule: "show_if", Msg: "show_if: " + fmt.Sprintf(format, args...)}
	}
	src, ok := t.byID[c.Field]
	if !ok {
		for _, later := range t.Fields {
			if later.ID == c.Field {
				return ferr("field %q comes later in the form; a condition may only refer to an earlier field", c.Field)
			}
		}
		return ferr("unknown field %q", c.Field)
	}
	if src.Type == TypeNote {
		return ferr("field %q is a note and holds no value", c.Field)
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
			if _, ok := src.options[s]; !ok {
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

// Field returns the field with the given ID.
func (t *Template) Field(id string) (*Field, bool) {
	f, ok := t.byID[id]
	return f, ok
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
