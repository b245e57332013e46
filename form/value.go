package form

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Values maps field IDs to JSON values. JSON null clears a field.
type Values map[string]json.RawMessage

// FieldError says which field breaks which rule.
type FieldError struct {
	Field string
	Rule  string
	Msg   string
}

func (e FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

// ValidationError lists every field error of a set of values, in template order.
type ValidationError struct {
	Template TemplateKey
	Fields   []FieldError
}

// ErrInvalidValue is matched by errors.Is for every *ValidationError.
var ErrInvalidValue = errors.New("invalid value")

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Error()
	}
	return fmt.Sprintf("template %s: %s", e.Template, strings.Join(msgs, "; "))
}

// Is lets errors.Is(err, ErrInvalidValue) match.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidValue }

// For returns the error for one field, if any.
func (e *ValidationError) For(field string) (FieldError, bool) {
	for _, f := range e.Fields {
		if f.Field == field {
			return f, true
		}
	}
	return FieldError{}, false
}

// Attachment is the value of a signature, and each element of a photo or file value:
// a reference to bytes kept by content hash.
type Attachment struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	Name   string `json:"name,omitempty"`
}

// Geo is the value of a geolocation field. Accuracy is in metres; zero means unknown.
type Geo struct {
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	Accuracy float64 `json:"accuracy,omitempty"`
}

// bound is a parsed min or max: numbers as themselves, dates and times as ordinals.
type bound struct {
	set bool
	n   float64
}

const (
	dateLayout = "2006-01-02"
)

func parseBound(f *Field, rule string, raw json.RawMessage) (bound, error) {
	if raw == nil {
		return bound{}, nil
	}
	n, err := f.ordinal(raw)
	if err != nil {
		return bound{}, &TemplateError{Field: f.ID, Rule: rule, Msg: fmt.Sprintf("%s %s: %v", rule, raw, err)}
	}
	return bound{set: true, n: n}, nil
}

// ordinal maps a value of an ordered type to a number that sorts like the value.
func (f *Field) ordinal(raw json.RawMessage) (float64, error) {
	switch f.Type {
	case TypeInteger:
		n, err := parseInteger(raw)
		return float64(n), err
	case TypeDecimal:
		return parseDecimal(raw)
	case TypeDate:
		t, err := parseDate(raw)
		return float64(t.Unix()), err
	case TypeTime:
		s, err := parseTimeOfDay(raw)
		return float64(s), err
	case TypeDateTime:
		t, err := parseDateTime(raw)
		return dateTimeOrdinal(t), err
	case TypeMultiChoice:
		n, err := parseInteger(raw)
		if err == nil && n < 0 {
			err = errors.New("must not be negative")
		}
		return float64(n), err
	}
	return 0, fmt.Errorf("%s has no order", f.Type)
}

func parseString(raw json.RawMessage) (string, error) {
	if s, ok := fastString(raw); ok {
		return s, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' {
		return "", errors.New("expected a string")
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errors.New("expected a string")
	}
	return s, nil
}

func parseInteger(raw json.RawMessage) (int64, error) {
	var n json.Number
	if err := strictNumber(raw, &n); err != nil {
		return 0, errors.New("expected a whole number")
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		// 1.0 and 1e3 are whole numbers written another way.
		f, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, errors.New("expected a whole number")
		}
		return int64(f), nil
	}
	return v, nil
}

func parseDecimal(raw json.RawMessage) (float64, error) {
	var n json.Number
	if err := strictNumber(raw, &n); err != nil {
		return 0, errors.New("expected a number")
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, errors.New("number out of range")
	}
	return f, nil
}

func strictNumber(raw json.RawMessage, n *json.Number) error {
	raw = bytes.TrimSpace(raw)
	if !validNumber(raw) {
		return errors.New("not a number")
	}
	*n = json.Number(raw)
	return nil
}

func parseDate(raw json.RawMessage) (time.Time, error) {
	s, err := parseString(raw)
	if err != nil {
		return time.Time{}, errors.New("expected a date as \"YYYY-MM-DD\"")
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date as YYYY-MM-DD", s)
	}
	return t, nil
}

// parseTimeOfDay returns seconds since midnight of "HH:MM" or "HH:MM:SS".
func parseTimeOfDay(raw json.RawMessage) (int, error) {
	s, err := parseString(raw)
	if err != nil {
		return 0, errors.New("expected a time as \"HH:MM\"")
	}
	for _, layout := range []string{"15:04", "15:04:05"} {
		if len(s) == len(layout) {
			if t, err := time.Parse(layout, s); err == nil {
				return t.Hour()*3600 + t.Minute()*60 + t.Second(), nil
			}
		}
	}
	return 0, fmt.Errorf("%q is not a time as HH:MM or HH:MM:SS", s)
}

func parseDateTime(raw json.RawMessage) (time.Time, error) {
	s, err := parseString(raw)
	if err != nil {
		return time.Time{}, errors.New("expected a date-time as RFC 3339, e.g. \"2026-01-02T15:04:05Z\"")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date-time as RFC 3339", s)
	}
	return t, nil
}

// dateTimeOrdinal is seconds since 1970 with the fraction. (UnixNano overflows, and
// wraps around, outside the years 1678-2262.)
func dateTimeOrdinal(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// canonicalString returns raw when it is already the canonical encoding of s.
func canonicalString(raw json.RawMessage, s string) json.RawMessage {
	if len(raw) == len(s)+2 && plainCompact(raw) {
		return raw
	}
	return marshal(s)
}

func marshal(v any) json.RawMessage {
	switch x := v.(type) {
	case string:
		return AppendString(nil, x)
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case float64:
		if !math.IsInf(x, 0) && !math.IsNaN(x) {
			return appendFloat(nil, x)
		}
	case bool:
		return strconv.AppendBool(nil, x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("form: marshal canonical value: " + err.Error()) // plain data only
	}
	return b
}

// null is the canonical cleared value.
var null = json.RawMessage("null")

// IsEmpty reports whether a value counts as not answered: absent, null, "" or [].
func IsEmpty(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || bytes.Equal(v, null) || bytes.Equal(v, []byte(`""`)) || bytes.Equal(v, []byte(`[]`))
}

// canonical checks a value against the field's type and rules and returns its one
// canonical encoding. Null is always allowed: it clears the field.
func (f *Field) canonical(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxValueBytes {
		return nil, fieldErr(f, "size", "value of %d bytes is over the limit of %d", len(raw), MaxValueBytes)
	}
	if len(raw) == 0 || bytes.Equal(raw, null) {
		return null, nil
	}
	wrap := func(err error) error { return fieldErr(f, "type", "%s: %v", f.Type, err) }
	switch f.Type {
	case TypeNote:
		return nil, fieldErr(f, "type", "a note holds no value")
	case TypeText, TypeMultiline:
		s, err := parseString(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if f.Type == TypeText && strings.ContainsAny(s, "\r\n") {
			return nil, fieldErr(f, "type", "text: line breaks belong in a multiline field")
		}
		n := runeLen(s)
		if n > MaxTextLength {
			return nil, fieldErr(f, "max_length", "%d characters is over the limit of %d", n, MaxTextLength)
		}
		if f.MaxLength != nil && n > *f.MaxLength {
			return nil, fieldErr(f, "max_length", "%d characters is more than max_length %d", n, *f.MaxLength)
		}
		if f.MinLength != nil && n < *f.MinLength && n > 0 {
			return nil, fieldErr(f, "min_length", "%d characters is fewer than min_length %d", n, *f.MinLength)
		}
		if f.re != nil && s != "" && !f.re.MatchString(s) {
			return nil, fieldErr(f, "pattern", "%q does not match pattern %q", s, f.Pattern)
		}
		return canonicalString(raw, s), nil
	case TypeInteger:
		n, err := parseInteger(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if err := f.checkRange(float64(n), raw); err != nil {
			return nil, err
		}
		return marshal(n), nil
	case TypeDecimal:
		n, err := parseDecimal(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if err := f.checkRange(n, raw); err != nil {
			return nil, err
		}
		if n == 0 {
			n = 0 // -0 is 0
		}
		return marshal(n), nil
	case TypeDate:
		t, err := parseDate(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if err := f.checkRange(float64(t.Unix()), raw); err != nil {
			return nil, err
		}
		return marshal(t.Format(dateLayout)), nil
	case TypeTime:
		secs, err := parseTimeOfDay(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if err := f.checkRange(float64(secs), raw); err != nil {
			return nil, err
		}
		s := fmt.Sprintf("%02d:%02d", secs/3600, secs/60%60)
		if secs%60 != 0 {
			s += fmt.Sprintf(":%02d", secs%60)
		}
		return marshal(s), nil
	case TypeDateTime:
		t, err := parseDateTime(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if err := f.checkRange(dateTimeOrdinal(t), raw); err != nil {
			return nil, err
		}
		return marshal(t.Format(time.RFC3339Nano)), nil
	case TypeChoice:
		s, err := parseString(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if _, ok := f.options[s]; !ok {
			return nil, fieldErr(f, "options", "%q is not one of the options", s)
		}
		return canonicalString(raw, s), nil
	case TypeMultiChoice:
		var list []string
		if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
			return nil, fieldErr(f, "type", "multichoice: expected a list of option values")
		}
		seen := map[string]bool{}
		for _, s := range list {
			if _, ok := f.options[s]; !ok {
				return nil, fieldErr(f, "options", "%q is not one of the options", s)
			}
			if seen[s] {
				return nil, fieldErr(f, "options", "%q is chosen twice", s)
			}
			seen[s] = true
		}
		if len(list) > 0 {
			if f.min.set && float64(len(list)) < f.min.n {
				return nil, fieldErr(f, "min", "%d chosen, at least %s needed", len(list), f.Min)
			}
			if f.max.set && float64(len(list)) > f.max.n {
				return nil, fieldErr(f, "max", "%d chosen, at most %s allowed", len(list), f.Max)
			}
		}
		sort.Slice(list, func(i, j int) bool { return f.options[list[i]] < f.options[list[j]] })
		if list == nil {
			list = []string{}
		}
		return marshal(list), nil
	case TypeYesNo:
		var b bool
		if raw[0] != 't' && raw[0] != 'f' || json.Unmarshal(raw, &b) != nil {
			return nil, fieldErr(f, "type", "yesno: expected true or false")
		}
		return marshal(b), nil
	case TypeSignature:
		var a Attachment
		if err := strictDecode(raw, &a); err != nil {
			return nil, fieldErr(f, "type", "signature: expected an attachment {sha256, size, type}: %v", err)
		}
		if err := checkAttachment(a); err != nil {
			return nil, fieldErr(f, "type", "signature: %v", err)
		}
		if a.Type != "image/png" {
			return nil, fieldErr(f, "type", "signature: type %q, want image/png", a.Type)
		}
		return marshal(a), nil
	case TypePhoto, TypeFile:
		var list []Attachment
		if raw[0] != '[' {
			return nil, fieldErr(f, "type", "%s: expected a list of attachments", f.Type)
		}
		if err := strictDecode(raw, &list); err != nil {
			return nil, fieldErr(f, "type", "%s: expected a list of attachments {sha256, size, type}: %v", f.Type, err)
		}
		limit := f.MaxFiles
		if limit == 0 {
			limit = 10
		}
		if len(list) > limit {
			return nil, fieldErr(f, "max_files", "%d files, at most %d allowed", len(list), limit)
		}
		for i, a := range list {
			if err := checkAttachment(a); err != nil {
				return nil, fieldErr(f, "type", "%s %d: %v", f.Type, i+1, err)
			}
			if f.Type == TypePhoto && !strings.HasPrefix(a.Type, "image/") {
				return nil, fieldErr(f, "type", "photo %d: type %q is not an image", i+1, a.Type)
			}
		}
		if list == nil {
			list = []Attachment{}
		}
		return marshal(list), nil
	case TypeGeo:
		var g Geo
		if raw[0] != '{' || strictDecode(raw, &g) != nil {
			return nil, fieldErr(f, "type", "geolocation: expected {\"lat\": …, \"lon\": …, \"accuracy\": …}")
		}
		if !(g.Lat >= -90 && g.Lat <= 90) || !(g.Lon >= -180 && g.Lon <= 180) || !(g.Accuracy >= 0) {
			return nil, fieldErr(f, "range", "geolocation: lat must be within ±90, lon within ±180, accuracy 0 or more")
		}
		for _, p := range []*float64{&g.Lat, &g.Lon, &g.Accuracy} {
			if *p == 0 {
				*p = 0 // -0 is 0
			}
		}
		return marshal(g), nil
	}
	return nil, fieldErr(f, "type", "unknown type %q", f.Type)
}

func (f *Field) checkRange(n float64, raw json.RawMessage) error {
	if f.min.set && n < f.min.n {
		return fieldErr(f, "min", "%s is less than min %s", raw, f.Min)
	}
	if f.max.set && n > f.max.n {
		return fieldErr(f, "max", "%s is more than max %s", raw, f.Max)
	}
	return nil
}

func checkAttachment(a Attachment) error {
	switch {
	case !validSHA256(a.SHA256):
		return errors.New("sha256 must be 64 lowercase hex digits")
	case a.Size < 0:
		return errors.New("size must not be negative")
	case a.Type == "" || len(a.Type) > 255 || !strings.Contains(a.Type, "/"):
		return fmt.Errorf("type %q is not a media type", a.Type)
	case len(a.Name) > 255 || strings.ContainsAny(a.Name, "/\\\x00"):
		return fmt.Errorf("name %q is not a plain file name", a.Name)
	}
	return nil
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if !atEOF(dec) {
		return errors.New("unexpected data after the value")
	}
	return nil
}

// atEOF reports whether nothing but white space follows the value dec has read.
// (dec.More is not enough: it reports false for a stray '}' or ']'.)
func atEOF(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err == io.EOF
}

func fieldErr(f *Field, rule, format string, args ...any) FieldError {
	return FieldError{Field: f.ID, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// Check validates values against the template and returns them in canonical form.
// Unknown fields, notes and system fields (which start with '_') are errors. Required
// fields are not checked here: a draft may be incomplete; see CheckComplete.
func (t *Template) Check(values Values) (Values, error) {
	out := make(Values, len(values))
	verr := &ValidationError{Template: t.Key()}
	for id, raw := range values {
		f, ok := t.byID[id]
		if !ok {
			verr.Fields = append(verr.Fields, FieldError{Field: id, Rule: "unknown", Msg: fmt.Sprintf("no such field in template %s", t.Key())})
			continue
		}
		v, err := f.canonical(raw)
		if err == nil && len(v) > MaxValueBytes {
			// Escaping can make the canonical form longer than the input.
			err = fieldErr(f, "size", "value of %d bytes (canonical) is over the limit of %d", len(v), MaxValueBytes)
		}
		if err != nil {
			var fe FieldError
			if !errors.As(err, &fe) {
				fe = FieldError{Field: id, Rule: "type", Msg: err.Error()}
			}
			verr.Fields = append(verr.Fields, fe)
			continue
		}
		out[id] = v
	}
	if len(verr.Fields) > 0 {
		t.sortErrors(verr.Fields)
		return nil, verr
	}
	return out, nil
}

// CheckComplete reports required fields that are visible but have no answer, as a
// submitted form must have them. values are the record's full current values.
func (t *Template) CheckComplete(values Values) error {
	verr := &ValidationError{Template: t.Key()}
	for i := range t.Fields {
		f := &t.Fields[i]
		if f.Required && t.Visible(f.ID, values) && IsEmpty(values[f.ID]) {
			verr.Fields = append(verr.Fields, FieldError{Field: f.ID, Rule: "required", Msg: fmt.Sprintf("%s is required", f.Label)})
		}
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	return nil
}

// Visible reports whether a field is shown given the current values: its show-if
// holds and the field it depends on is itself visible.
func (t *Template) Visible(id string, values Values) bool {
	for depth := 0; depth <= len(t.Fields); depth++ {
		f, ok := t.byID[id]
		if !ok {
			return false
		}
		c := f.ShowIf
		if c == nil {
			return true
		}
		src := t.byID[c.Field]
		if !c.holds(src, values[c.Field]) {
			return false
		}
		id = c.Field
	}
	return false
}

func (c *Condition) holds(src *Field, raw json.RawMessage) bool {
	if IsEmpty(raw) {
		return false
	}
	if c.NotEmpty {
		return true
	}
	want := c.In
	if c.Equals != nil {
		want = []json.RawMessage{c.Equals}
	}
	if src.Type == TypeMultiChoice {
		var got []string
		if json.Unmarshal(raw, &got) != nil {
			return false
		}
		for _, w := range want {
			var s string
			if json.Unmarshal(w, &s) != nil {
				continue
			}
			for _, g := range got {
				if g == s {
					return true
				}
			}
		}
		return false
	}
	have, err := src.canonical(raw)
	if err != nil {
		return false
	}
	for _, w := range want {
		if cw, err := src.canonical(w); err == nil && bytes.Equal(cw, have) {
			return true
		}
	}
	return false
}

func (t *Template) sortErrors(errs []FieldError) {
	pos := func(id string) int {
		for i := range t.Fields {
			if t.Fields[i].ID == id {
				return i
			}
		}
		return len(t.Fields)
	}
	sort.SliceStable(errs, func(i, j int) bool {
		pi, pj := pos(errs[i].Field), pos(errs[j].Field)
		if pi != pj {
			return pi < pj
		}
		return errs[i].Field < errs[j].Field
	})
}

// RecordTitle renders a short title for a record from the template's title fields, or from
// its first text fields when the template names none.
func (t *Template) RecordTitle(values Values) string {
	ids := t.Title
	if len(ids) == 0 {
		for _, f := range t.Fields {
			if f.Type == TypeText || f.Type == TypeChoice {
				ids = append(ids, f.ID)
				if len(ids) == 2 {
					break
				}
			}
		}
	}
	var parts []string
	for _, id := range ids {
		if s := t.FieldDisplay(id, values[id]); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " · ")
}

// FieldDisplay renders a field's value as a person reads it: choices by their labels,
// everything else as DisplayValue does.
func (t *Template) FieldDisplay(id string, raw json.RawMessage) string {
	f, ok := t.byID[id]
	if !ok || (f.Type != TypeChoice && f.Type != TypeMultiChoice) || IsEmpty(raw) {
		return DisplayValue(raw)
	}
	var chosen []string
	if f.Type == TypeChoice {
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return DisplayValue(raw)
		}
		chosen = []string{v}
	} else if json.Unmarshal(raw, &chosen) != nil {
		return DisplayValue(raw)
	}
	labels := make([]string, len(chosen))
	for i, v := range chosen {
		labels[i] = v
		if n, ok := f.options[v]; ok {
			labels[i] = f.Options[n].Label
		}
	}
	return strings.Join(labels, ", ")
}

// DisplayValue renders a value as plain text for lists and exports.
func DisplayValue(raw json.RawMessage) string {
	if IsEmpty(raw) {
		return ""
	}
	if s, ok := fastString(raw); ok {
		return s
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				if n, _ := m["name"].(string); n != "" {
					parts = append(parts, n)
					continue
				}
				if h, _ := m["sha256"].(string); len(h) >= 12 {
					parts = append(parts, h[:12])
					continue
				}
			}
			parts = append(parts, DisplayValue(marshal(e)))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		if lat, ok := x["lat"].(float64); ok {
			lon, _ := x["lon"].(float64)
			s := fmt.Sprintf("%.6f, %.6f", lat, lon)
			if acc, ok := x["accuracy"].(float64); ok && acc > 0 {
				s += fmt.Sprintf(" (±%gm)", acc)
			}
			return s
		}
		if h, _ := x["sha256"].(string); len(h) >= 12 {
			return "signature " + h[:12]
		}
	}
	return string(raw)
}
