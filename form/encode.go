package form

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The canonical encoding is exactly what encoding/json writes (compact, HTML
// characters escaped). These helpers write it without reflection; each falls back
// to encoding/json for input outside its plain fast path, so the bytes are always
// the same as json.Marshal's.

// AppendString appends s as a JSON string, as json.Marshal writes it.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			out, _ := json.Marshal(s)
			return append(b, out...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendRaw appends a JSON value as json.Marshal writes a json.RawMessage: compact,
// with HTML characters escaped. Invalid JSON is written as null.
func AppendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	if plainCompact(raw) {
		return append(b, raw...)
	}
	out, err := json.Marshal(raw)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
}

// plainCompact reports whether raw has no white space outside strings and nothing
// json.Marshal would escape (HTML characters, non-ASCII), so it is already written as
// json.Marshal would write it — provided it is valid JSON, which callers ensure.
func plainCompact(raw []byte) bool {
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= 0x80 || c == '<' || c == '>' || c == '&':
			return false
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// appendFloat writes a float64 as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func appendStamp(b []byte, s Stamp) []byte {
	b = append(b, `{"t":"`...)
	b = s.HLC.appendHex(b)
	b = append(b, `","d":`...)
	b = AppendString(b, s.Device)
	return append(b, '}')
}

// AppendStamp appends a stamp as json.Marshal writes it.
func AppendStamp(b []byte, s Stamp) []byte { return appendStamp(b, s) }

// appendRecord writes a record as json.Marshal writes it, with field IDs sorted.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"id":`...)
	b = AppendString(b, r.ID)
	b = append(b, `,"template":`...)
	b = AppendString(b, r.Template)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"created":`...)
	b = appendStamp(b, r.Created)
	b = append(b, `,"created_by":`...)
	b = AppendString(b, r.CreatedBy)
	b = append(b, `,"fields":{`...)
	ids := make([]string, 0, len(r.Fields))
	for id := range r.Fields {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		fv := r.Fields[id]
		b = AppendString(b, id)
		b = append(b, `:{"v":`...)
		b = AppendRaw(b, fv.Value)
		b = append(b, `,"s":`...)
		b = appendStamp(b, fv.Stamp)
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// fastString returns the string a JSON string literal holds when it has no escapes
// and no control characters; ok is false otherwise (decode it properly then).
func fastString(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// validNumber reports whether b is a JSON number.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}
