package form

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Values maps record keys (field paths, see ParseKey) to JSON values. JSON null
// clears a field.
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

// Geo is the value of a geolocation field, and each point of a geotrace or
// geoshape. Altitude and accuracy are in metres; zero accuracy means unknown.
type Geo struct {
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	Altitude float64 `json:"alt,omitempty"`
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
	case TypeDecimal, TypeRange:
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
	case TypeMultiChoice, TypeRepeat:
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
	if v, ok := f.canonicalAlready(raw); ok {
		return v, nil
	}
	return f.canonicalSlow(raw)
}

// canonicalAlready returns raw when it is a valid value of the field, already in its
// canonical encoding, found without parsing it into a Go value or allocating: the
// common case of a record written by a replica. It returns false whenever it is not
// sure; canonicalSlow then decides (and words every error).
func (f *Field) canonicalAlready(raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) == 0 || len(raw) > MaxValueBytes {
		return nil, false
	}
	switch f.Type {
	case TypeText, TypeMultiline, TypeBarcode, TypeHidden, TypeCalculate:
		in, ok := plainASCIIString(raw)
		// No line breaks (no control characters at all); every character a byte.
		if !ok || len(in) > MaxTextLength || f.MaxLength != nil && len(in) > *f.MaxLength ||
			f.MinLength != nil && len(in) < *f.MinLength && len(in) > 0 || f.re != nil && len(in) > 0 && !f.re.Match(in) {
			return nil, false
		}
		return raw, true
	case TypeChoice:
		in, ok := plainASCIIString(raw)
		if !ok {
			return nil, false
		}
		if f.list != nil {
			_, ok = f.list.index[string(in)]
		} else {
			_, ok = f.options[string(in)]
		}
		return raw, ok
	case TypeYesNo:
		return raw, string(raw) == "true" || string(raw) == "false"
	case TypeInteger:
		// -?[1-9][0-9]* or 0, short enough not to overflow: strconv.AppendInt's form.
		neg := raw[0] == '-'
		digits := raw
		if neg {
			digits = raw[1:]
		}
		if len(digits) == 0 || len(digits) > 15 || digits[0] == '0' && (len(digits) > 1 || neg) {
			return nil, false
		}
		var n int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				return nil, false
			}
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return raw, f.rangeHolds(float64(n))
	case TypeDecimal:
		if len(raw) > 32 || !validNumber(raw) {
			return nil, false
		}
		n, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(n, 0) || !f.rangeHolds(n) {
			return nil, false
		}
		if n == 0 {
			n = 0 // -0 is 0
		}
		var buf [40]byte
		return raw, bytes.Equal(appendFloat(buf[:0], n), raw)
	case TypeDate:
		t, ok := plainDate(raw)
		return raw, ok && f.rangeHolds(float64(t.Unix()))
	case TypeDateTime:
		in, ok := plainASCIIString(raw)
		if !ok || len(in) > 64 {
			return nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, string(in))
		if err != nil || !f.rangeHolds(dateTimeOrdinal(t)) {
			return nil, false
		}
		var buf [64]byte
		return raw, bytes.Equal(t.AppendFormat(buf[:0], time.RFC3339Nano), in)
	}
	return nil, false
}

// rangeHolds reports whether checkRange passes n.
func (f *Field) rangeHolds(n float64) bool {
	return !(f.min.set && n < f.min.n) && !(f.max.set && n > f.max.n)
}

// plainASCIIString returns the characters of a JSON string of printable ASCII that
// needs no escape in the canonical encoding (no quote, backslash or HTML character).
func plainASCIIString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return nil, false
		}
	}
	return in, true
}

// plainDate reads "YYYY-MM-DD" as time.Parse(dateLayout) does, for a real date only.
func plainDate(raw []byte) (time.Time, bool) {
	if len(raw) != 12 || raw[0] != '"' || raw[11] != '"' || raw[5] != '-' || raw[8] != '-' {
		return time.Time{}, false
	}
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, m, d := num(raw[1:5]), num(raw[6:8]), num(raw[9:11])
	if y < 0 || m < 1 || m > 12 || d < 1 || d > 28 && time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() != d {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// canonicalSlow is canonical for any input.
func (f *Field) canonicalSlow(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxValueBytes {
		return nil, fieldErr(f, "size", "value of %d bytes is over the limit of %d", len(raw), MaxValueBytes)
	}
	if len(raw) == 0 || bytes.Equal(raw, null) {
		return null, nil
	}
	wrap := func(err error) error { return fieldErr(f, "type", "%s: %v", f.Type, err) }
	switch f.Type {
	case TypeNote, TypeGroup, TypeRepeat:
		return nil, fieldErr(f, "type", "a %s holds no value", f.Type)
	case TypeText, TypeMultiline, TypeBarcode, TypeHidden, TypeCalculate:
		s, err := parseString(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if (f.Type == TypeText || f.Type == TypeBarcode) && strings.ContainsAny(s, "\r\n") {
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
	case TypeRange:
		n, err := parseDecimal(raw)
		if err != nil {
			return nil, wrap(err)
		}
		lo, hi := min(f.min.n, f.max.n), max(f.min.n, f.max.n)
		if n < lo || n > hi {
			return nil, fieldErr(f, "range", "%s is outside the range from %s to %s", raw, f.Min, f.Max)
		}
		if k := (n - f.min.n) / f.step; math.Abs(k-math.Round(k)) > 1e-9*max(1, math.Abs(k)) {
			return nil, fieldErr(f, "step", "%s is not a step of %g from %s", raw, f.step, f.Min)
		}
		if n == 0 {
			n = 0
		}
		return marshal(n), nil
	case TypeAcknowledge:
		s, err := parseString(raw)
		if err != nil || s != "OK" {
			return nil, fieldErr(f, "type", "acknowledge: expected \"OK\"")
		}
		return canonicalString(raw, s), nil
	case TypeChoice:
		s, err := parseString(raw)
		if err != nil {
			return nil, wrap(err)
		}
		if _, ok := f.optionIndex(s); !ok {
			return nil, fieldErr(f, "options", "%q is not one of the options", s)
		}
		return canonicalString(raw, s), nil
	case TypeRank:
		var list []string
		if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
			return nil, fieldErr(f, "type", "rank: expected a list of option values, the first ranked first")
		}
		seen := map[string]bool{}
		for _, s := range list {
			if _, ok := f.optionIndex(s); !ok {
				return nil, fieldErr(f, "options", "%q is not one of the options", s)
			}
			if seen[s] {
				return nil, fieldErr(f, "options", "%q is ranked twice", s)
			}
			seen[s] = true
		}
		if list == nil {
			list = []string{}
		}
		return marshal(list), nil
	case TypeMultiChoice:
		var list []string
		if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
			return nil, fieldErr(f, "type", "multichoice: expected a list of option values")
		}
		seen := map[string]bool{}
		for _, s := range list {
			if _, ok := f.optionIndex(s); !ok {
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
		sort.Slice(list, func(i, j int) bool {
			a, _ := f.optionIndex(list[i])
			b, _ := f.optionIndex(list[j])
			return a < b
		})
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
	case TypePhoto, TypeFile, TypeAudio, TypeVideo:
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
			if prefix := mediaPrefix[f.Type]; prefix != "" && !strings.HasPrefix(a.Type, prefix) {
				return nil, fieldErr(f, "type", "%s %d: type %q is not %s", f.Type, i+1, a.Type, mediaKind[f.Type])
			}
		}
		if list == nil {
			list = []Attachment{}
		}
		return marshal(list), nil
	case TypeGeo:
		var g Geo
		if raw[0] != '{' || strictDecode(raw, &g) != nil {
			return nil, fieldErr(f, "type", "geolocation: expected {\"lat\": …, \"lon\": …, \"alt\": …, \"accuracy\": …}")
		}
		if err := g.check(); err != nil {
			return nil, fieldErr(f, "range", "geolocation: %v", err)
		}
		return marshal(g), nil
	case TypeGeoTrace, TypeGeoShape:
		var pts []Geo
		if raw[0] != '[' || strictDecode(raw, &pts) != nil {
			return nil, fieldErr(f, "type", "%s: expected a list of points {\"lat\": …, \"lon\": …}", f.Type)
		}
		least := 2
		if f.Type == TypeGeoShape {
			least = 3
		}
		if len(pts) > 0 && len(pts) < least {
			return nil, fieldErr(f, "points", "%s: %d points, at least %d needed", f.Type, len(pts), least)
		}
		for i := range pts {
			if err := pts[i].check(); err != nil {
				return nil, fieldErr(f, "range", "%s point %d: %v", f.Type, i+1, err)
			}
		}
		if pts == nil {
			pts = []Geo{}
		}
		return marshal(pts), nil
	}
	return nil, fieldErr(f, "type", "unknown type %q", f.Type)
}

// mediaPrefix is the media type an attachment list field takes, and mediaKind says it.
var (
	mediaPrefix = map[FieldType]string{TypePhoto: "image/", TypeAudio: "audio/", TypeVideo: "video/"}
	mediaKind   = map[FieldType]string{TypePhoto: "an image", TypeAudio: "a recording", TypeVideo: "a video"}
)

// check checks a point's ranges and turns -0 into 0.
func (g *Geo) check() error {
	if !(g.Lat >= -90 && g.Lat <= 90) || !(g.Lon >= -180 && g.Lon <= 180) || !(g.Accuracy >= 0) ||
		math.IsNaN(g.Altitude) || math.IsInf(g.Altitude, 0) {
		return errors.New("lat must be within ±90, lon within ±180, accuracy 0 or more")
	}
	for _, p := range []*float64{&g.Lat, &g.Lon, &g.Altitude, &g.Accuracy} {
		if *p == 0 {
			*p = 0 // -0 is 0
		}
	}
	return nil
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
	return FieldError{Field: f.key, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}

// Check validates values against the template and returns them in canonical form.
// values are keyed by record key (see ParseKey): a field's path, with the instance of
// each repeat it is in; a repeat instance's own key takes true (it exists) or false
// (it was removed). Unknown keys, groups, notes and system fields are errors.
// Required fields and constraints are not checked here: a draft may be incomplete;
// see CheckComplete.
func (t *Template) Check(values Values) (Values, error) {
	out := make(Values, len(values))
	verr := &ValidationError{Template: t.Key()}
	for key, raw := range values {
		v, err := t.checkValue(key, raw)
		if err != nil {
			var fe FieldError
			if !errors.As(err, &fe) {
				fe = FieldError{Rule: "type", Msg: err.Error()}
			}
			fe.Field = key
			verr.Fields = append(verr.Fields, fe)
			continue
		}
		out[key] = v
	}
	if len(verr.Fields) > 0 {
		t.sortErrors(verr.Fields)
		return nil, verr
	}
	return out, nil
}

func (t *Template) checkValue(key string, raw json.RawMessage) (json.RawMessage, error) {
	f, marker, err := t.resolveKey(key)
	if err != nil {
		return nil, err
	}
	if marker {
		switch string(bytes.TrimSpace(raw)) {
		case "true", "false":
			return json.RawMessage(bytes.TrimSpace(raw)), nil
		}
		return nil, FieldError{Rule: "type", Msg: "a repeat instance takes true (it exists) or false (it was removed)"}
	}
	v, err := f.canonical(raw)
	if err == nil && len(v) > MaxValueBytes {
		// Escaping can make the canonical form longer than the input.
		err = fieldErr(f, "size", "value of %d bytes (canonical) is over the limit of %d", len(v), MaxValueBytes)
	}
	return v, err
}

// resolveKey finds the field a record key names, checking that each repeat on the
// way has an instance and nothing else does. marker is set for a repeat instance's
// own key.
func (t *Template) resolveKey(key string) (f *Field, marker bool, err error) {
	// The common case first: a top-level field, found without formatting anything.
	if f, ok := t.byKey[key]; ok && f.repeat == nil && f.Type != TypeRepeat && f.HoldsValue() && !IsSystemField(key) {
		return f, false, nil
	}
	unknown := FieldError{Rule: "unknown", Msg: fmt.Sprintf("no such field in template %s", t.Key())}
	if IsSystemField(key) {
		return nil, false, unknown
	}
	if f, ok := t.byKey[key]; ok && f.repeat == nil && f.Type != TypeRepeat {
		if !f.HoldsValue() {
			return nil, false, FieldError{Rule: "type", Msg: fmt.Sprintf("a %s holds no value", f.Type)}
		}
		return f, false, nil
	}
	steps, ok := ParseKey(key)
	if !ok {
		return nil, false, unknown
	}
	fields := t.Fields
	for i, st := range steps {
		var next *Field
		for j := range fields {
			if fields[j].ID == st.Name {
				next = &fields[j]
				break
			}
		}
		if next == nil {
			return nil, false, unknown
		}
		last := i == len(steps)-1
		switch {
		case next.Type == TypeRepeat && st.Instance == "":
			return nil, false, FieldError{Rule: "instance", Msg: fmt.Sprintf("%s is a repeat: name the instance, as %s[ID]", next.key, st.Name)}
		case next.Type == TypeRepeat && next.RepeatCount != "" && len(st.Instance) > 4:
			return nil, false, FieldError{Rule: "instance", Msg: fmt.Sprintf("the instances of %s are numbered, as its repeat_count fixes them", next.key)}
		case next.Type == TypeRepeat && next.RepeatCount == "" && len(st.Instance) <= 4:
			return nil, false, FieldError{Rule: "instance", Msg: fmt.Sprintf("an instance of %s is named by a UUID", next.key)}
		case next.Type != TypeRepeat && st.Instance != "":
			return nil, false, FieldError{Rule: "instance", Msg: fmt.Sprintf("%s is not a repeat and has no instances", next.key)}
		}
		if last {
			if next.Type == TypeRepeat {
				return next, true, nil
			}
			if !next.HoldsValue() {
				return nil, false, FieldError{Rule: "type", Msg: fmt.Sprintf("a %s holds no value", next.Type)}
			}
			return next, false, nil
		}
		if !next.IsContainer() {
			return nil, false, unknown
		}
		fields = next.Fields
	}
	return nil, false, unknown
}

// CheckComplete reports what a submitted form must not have: required fields that
// are relevant but have no answer, and answers that break their constraint. values
// are the record's full current values; expressions that read the clock read now.
func (t *Template) CheckComplete(values Values) error {
	return t.NewForm(values, Context{}).Check()
}

// Visible reports whether a top-level field's show-if rule holds given the current
// values, and the field it depends on is itself visible. (Relevance of the newer
// expression rules, groups and repeats: Form.Relevant.)
func (t *Template) Visible(id string, values Values) bool {
	for depth := 0; depth <= len(t.Fields); depth++ {
		f, ok := t.byKey[id]
		if !ok {
			return false
		}
		c := f.ShowIf
		if c == nil {
			return true
		}
		src := t.byKey[c.Field]
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
	pos := func(key string) int {
		f, ok := t.Field(key)
		if !ok {
			return len(t.all)
		}
		return slices.Index(t.all, f)
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
	if t.instName != nil {
		return t.NewForm(values, Context{}).Title()
	}
	ids := t.Title
	if len(ids) == 0 {
		for _, f := range t.all {
			if (f.Type == TypeText || f.Type == TypeChoice) && f.repeat == nil && f.Meta == "" {
				ids = append(ids, f.key)
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
	f, ok := t.Field(id)
	if !ok || (f.Type != TypeChoice && f.Type != TypeMultiChoice && f.Type != TypeRank) || IsEmpty(raw) {
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
		if o, ok := f.Option(v); ok && !o.Label.IsZero() {
			labels[i] = o.Label.In(t.DefaultLanguage)
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
