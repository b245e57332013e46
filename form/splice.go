package form

import (
	"encoding/json"
	"fmt"
)

// AppendChangeFrom appends to dst what json.Marshal writes for
// ChangeFrom(changeID, r, author, device), where canon is r's canonical encoding
// (Record.Encode), without decoding r. The two layouts share everything from
// "template" to the end of "fields":
//
//	record: {"id":R,"template":…,"fields":{…}}
//	change: {"id":C,"record":R,"template":…,"fields":{…},"author":A,"device":D}
//
// so the change is the record's bytes with its head and tail rewritten. When canon
// is not in that layout (keys in another order, white space, anything it does not
// expect), it decodes the record and encodes the change the slow way, and returns an
// error only when canon is not a record at all. The fast path copies values as they
// are: it relies on canon being a canonical encoding, as the store's reads guarantee
// by checking it against the record's rev.
func AppendChangeFrom(dst, canon []byte, changeID, author, device string) ([]byte, error) {
	if idEnd, ok := spliceLayout(canon); ok {
		dst = append(dst, `{"id":`...)
		dst = AppendString(dst, changeID)
		dst = append(dst, `,"record":`...)
		dst = append(dst, canon[len(`{"id":`):idEnd]...)
		dst = append(dst, canon[idEnd:len(canon)-1]...)
		dst = append(dst, `,"author":`...)
		dst = AppendString(dst, author)
		dst = append(dst, `,"device":`...)
		dst = AppendString(dst, device)
		return append(dst, '}'), nil
	}
	r, err := DecodeRecord(canon)
	if err != nil {
		return dst, fmt.Errorf("change from record: %w", err)
	}
	b, err := json.Marshal(ChangeFrom(changeID, r, author, device))
	if err != nil {
		return dst, fmt.Errorf("change from record %s: %w", r.ID, err)
	}
	return append(dst, b...), nil
}

// spliceKeys are a record's keys in the order appendRecord writes them, with the
// kind of value each holds.
var spliceKeys = [...]struct {
	key  string
	kind byte // '"' string, '0' integer, '{' object
}{
	{`{"id":`, '"'},
	{`,"template":`, '"'},
	{`,"version":`, '0'},
	{`,"created":`, '{'},
	{`,"created_by":`, '"'},
	{`,"fields":`, '{'},
}

// spliceLayout reports whether canon has exactly appendRecord's keys in its order,
// each with a value of the right kind, compact, and nothing after the record; idEnd
// is the index just past the record ID's string.
func spliceLayout(canon []byte) (idEnd int, ok bool) {
	i := 0
	for k, sk := range spliceKeys {
		if len(canon)-i < len(sk.key) || string(canon[i:i+len(sk.key)]) != sk.key {
			return 0, false
		}
		i += len(sk.key)
		if i >= len(canon) || canon[i] != sk.kind && !(sk.kind == '0' && (canon[i] == '-' || '0' <= canon[i] && canon[i] <= '9')) {
			return 0, false
		}
		end, ok := skipValue(canon, i, 0)
		if !ok {
			return 0, false
		}
		if sk.kind == '0' && !validNumber(canon[i:end]) {
			return 0, false
		}
		if k == 0 {
			idEnd = end
		}
		i = end
	}
	return idEnd, i == len(canon)-1 && canon[i] == '}'
}

// maxSpliceDepth bounds the nesting skipValue follows; deeper values take the slow
// path, whose decoder has its own limits.
const maxSpliceDepth = 64

// skipValue returns the index just past the compact JSON value at b[i:]: a string,
// an object, an array or a literal (number, true, false, null, checked loosely: the
// store's rev check vouches for the bytes). White space outside strings, control
// characters in strings and unbalanced brackets are refused.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > maxSpliceDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		for i++; i < len(b); i++ {
			switch c := b[i]; {
			case c == '\\':
				i++
			case c == '"':
				return i + 1, true
			case c < 0x20:
				return 0, false
			}
		}
		return 0, false
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		i++
		if i < len(b) && b[i] == closing {
			return i + 1, true
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return 0, false
				}
				var ok bool
				if i, ok = skipValue(b, i, depth+1); !ok || i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i++
			}
			var ok bool
			if i, ok = skipValue(b, i, depth+1); !ok || i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ',':
				i++
			case closing:
				return i + 1, true
			default:
				return 0, false
			}
		}
	case c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z':
		j := i
		for j < len(b) && (b[j] == '-' || b[j] == '+' || b[j] == '.' || '0' <= b[j] && b[j] <= '9' || 'a' <= b[j] && b[j] <= 'z' || 'A' <= b[j] && b[j] <= 'Z') {
			j++
		}
		return j, true
	}
	return 0, false
}
