package form

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// A fast reader for records and changes written in the canonical layout (Encode's,
// which is json.Marshal's): it walks the bytes once, without reflection. Anything
// else — other key orders, white space, unknown keys, escapes it does not handle —
// makes it give up, and the strict decoder reads the input instead, so the result and
// the errors are the same either way.

var errNotCanonical = errors.New("not in the canonical layout")

type scanner struct {
	b   []byte
	pos int
	err error
}

func (s *scanner) fail() {
	if s.err == nil {
		s.err = errNotCanonical
	}
}

func (s *scanner) lit(l string) {
	if s.err != nil {
		return
	}
	if len(s.b)-s.pos < len(l) || string(s.b[s.pos:s.pos+len(l)]) != l {
		s.fail()
		return
	}
	s.pos += len(l)
}

func (s *scanner) peek(c byte) bool { return s.err == nil && s.pos < len(s.b) && s.b[s.pos] == c }

// str reads a string with no escapes (others fall back to the strict decoder).
func (s *scanner) str() string {
	if s.err != nil || s.pos >= len(s.b) || s.b[s.pos] != '"' {
		s.fail()
		return ""
	}
	wide := false
	for i := s.pos + 1; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			// The strict decoder reads invalid UTF-8 as U+FFFD: leave that to it.
			if wide && !utf8.Valid(s.b[s.pos+1:i]) {
				s.fail()
				return ""
			}
			out := string(s.b[s.pos+1 : i])
			s.pos = i + 1
			return out
		case c >= 0x80:
			wide = true
		case c == '\\' || c < 0x20:
			s.fail()
			return ""
		}
	}
	s.fail()
	return ""
}

func (s *scanner) integer() int64 {
	if s.err != nil {
		return 0
	}
	start := s.pos
	if s.pos < len(s.b) && s.b[s.pos] == '-' {
		s.pos++
	}
	for s.pos < len(s.b) && '0' <= s.b[s.pos] && s.b[s.pos] <= '9' {
		s.pos++
	}
	n, err := strconv.ParseInt(string(s.b[start:s.pos]), 10, 64)
	if err != nil || s.pos == start || (s.b[start] == '0' && s.pos-start > 1) {
		s.fail()
	}
	return n
}

// value returns the bytes of one JSON value, which must be compact.
func (s *scanner) value() []byte {
	if s.err != nil {
		return nil
	}
	start, depth, in := s.pos, 0, false
	for i := s.pos; i < len(s.b); i++ {
		c := s.b[i]
		switch {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case in:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth == 0 {
				s.pos = i
				return s.b[start:i]
			}
			depth--
			if depth == 0 {
				s.pos = i + 1
				return s.b[start : i+1]
			}
		case c == ',' && depth == 0:
			s.pos = i
			return s.b[start:i]
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.fail()
			return nil
		}
	}
	s.fail()
	return nil
}

func (s *scanner) stamp() Stamp {
	var st Stamp
	s.lit(`{"t":`)
	h := s.str()
	if s.err == nil {
		if err := st.HLC.UnmarshalText([]byte(h)); err != nil {
			s.fail()
		}
	}
	s.lit(`,"d":`)
	st.Device = s.str()
	s.lit(`}`)
	return st
}

func (s *scanner) fields() map[string]FieldValue {
	s.lit(`{`)
	m := map[string]FieldValue{}
	prev := ""
	for first := true; s.err == nil && !s.peek('}'); first = false {
		if !first {
			s.lit(`,`)
		}
		id := s.str()
		if !first && id <= prev { // canonical order; also rules out duplicate keys
			s.fail()
		}
		prev = id
		s.lit(`:{"v":`)
		v := s.value()
		s.lit(`,"s":`)
		st := s.stamp()
		s.lit(`}`)
		if s.err == nil {
			if len(v) == 0 || !json.Valid(v) {
				s.fail()
			}
			m[id] = FieldValue{Value: append(json.RawMessage(nil), v...), Stamp: st}
		}
	}
	s.lit(`}`)
	return m
}

// fastRecord reads a record in the canonical layout.
func fastRecord(b []byte) (Record, error) {
	s := &scanner{b: b}
	var r Record
	s.lit(`{"id":`)
	r.ID = s.str()
	s.lit(`,"template":`)
	r.Template = s.str()
	s.lit(`,"version":`)
	r.Version = int(s.integer())
	s.lit(`,"created":`)
	r.Created = s.stamp()
	s.lit(`,"created_by":`)
	r.CreatedBy = s.str()
	s.lit(`,"fields":`)
	r.Fields = s.fields()
	s.lit(`}`)
	if s.err == nil && s.pos != len(b) {
		s.fail()
	}
	return r, s.err
}

// fastChange reads a change in the canonical layout.
func fastChange(b []byte) (Change, error) {
	s := &scanner{b: b}
	var c Change
	s.lit(`{"id":`)
	c.ID = s.str()
	s.lit(`,"record":`)
	c.Record = s.str()
	s.lit(`,"template":`)
	c.Template = s.str()
	s.lit(`,"version":`)
	c.Version = int(s.integer())
	s.lit(`,"created":`)
	c.Created = s.stamp()
	s.lit(`,"created_by":`)
	c.CreatedBy = s.str()
	s.lit(`,"fields":`)
	c.Fields = s.fields()
	s.lit(`,"author":`)
	c.Author = s.str()
	s.lit(`,"device":`)
	c.Device = s.str()
	s.lit(`}`)
	if s.err == nil && s.pos != len(b) {
		s.fail()
	}
	return c, s.err
}
