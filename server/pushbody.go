package server

import (
	"encoding/json"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// A push body in the layout clients send (json.Marshal of wire.PushRequest:
// {"changes":[{"seq":N,"change":{...}},...]}, compact) is read in one pass here: the
// envelope is cut into its changes without a second scan of the whole body, and each
// change is checked once, by form.DecodeChange. Anything else goes to the strict
// decoder, so a malformed body is refused with the same error (unknown fields, byte
// offsets) either way.

// decodePush reads a push body and decodes its changes (decoded[i], or errs[i] for
// a change that is refused alone). err refuses the whole body, as does a batch of
// more than wire.MaxPushChanges, before its changes are decoded.
func decodePush(data []byte) (req pushBody, decoded []form.Change, errs []error, err error) {
	return decodePushWith(data, true)
}

// decodePushWith is decodePush; without fast, the strict decoder reads every body.
func decodePushWith(data []byte, fast bool) (req pushBody, decoded []form.Change, errs []error, err error) {
	if fast {
		if req, ok := cutPushBody(data); ok {
			if len(req.Changes) > wire.MaxPushChanges {
				return pushBody{}, nil, nil, tooLarge("push of %d changes; at most %d a batch", len(req.Changes), wire.MaxPushChanges)
			}
			decoded, errs = decodeChanges(req.Changes)
			if changesAreJSON(req.Changes, errs) {
				return req, decoded, errs, nil
			}
			// A change that is not JSON makes the whole body malformed: the strict
			// decoder says where.
		}
	}
	req = pushBody{}
	if err := decodeStrict(data, &req); err != nil {
		return pushBody{}, nil, nil, err
	}
	if len(req.Changes) > wire.MaxPushChanges {
		return pushBody{}, nil, nil, tooLarge("push of %d changes; at most %d a batch", len(req.Changes), wire.MaxPushChanges)
	}
	decoded, errs = decodeChanges(req.Changes)
	return req, decoded, errs, nil
}

// changesAreJSON reports whether every change is one JSON value. A change
// form.DecodeChange accepted is; only refused ones are checked again.
func changesAreJSON(items []pushItem, errs []error) bool {
	for i, err := range errs {
		if err != nil && !json.Valid(items[i].Change) {
			return false
		}
	}
	return true
}

// cutPushBody cuts a body in the clients' layout into its items, without checking
// that each change is JSON (changesAreJSON does, after decoding). ok is false for
// any other layout.
func cutPushBody(b []byte) (req pushBody, ok bool) {
	lit := func(i int, l string) int {
		if i < 0 || len(b)-i < len(l) || string(b[i:i+len(l)]) != l {
			return -1
		}
		return i + len(l)
	}
	i := lit(0, `{"changes":`)
	if i < 0 {
		return pushBody{}, false
	}
	if j := lit(i, "null"); j >= 0 {
		i = j
	} else if i = lit(i, "["); i < 0 {
		return pushBody{}, false
	} else if j := lit(i, "]"); j >= 0 {
		req.Changes, i = []pushItem{}, j
	} else {
		for {
			var it pushItem
			if i = lit(i, `{"seq":`); i < 0 {
				return pushBody{}, false
			}
			it.Seq, i = cutUint(b, i)
			if i = lit(i, `,"change":`); i < 0 {
				return pushBody{}, false
			}
			end := skipValue(b, i)
			if end < 0 {
				return pushBody{}, false
			}
			it.Change, i = b[i:end:end], end
			if i = lit(i, "}"); i < 0 {
				return pushBody{}, false
			}
			req.Changes = append(req.Changes, it)
			if j := lit(i, ","); j >= 0 {
				i = j
				continue
			}
			if i = lit(i, "]"); i < 0 {
				return pushBody{}, false
			}
			break
		}
	}
	if i = lit(i, "}"); i < 0 {
		return pushBody{}, false
	}
	for ; i < len(b); i++ {
		if c := b[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return pushBody{}, false
		}
	}
	return req, true
}

// cutUint reads a JSON number that is a uint64 as the strict decoder takes it
// (digits, no leading zero, no overflow) at b[i:], and returns it and the index after
// it; the index is -1 for anything else.
func cutUint(b []byte, i int) (uint64, int) {
	start := i
	var n uint64
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, -1
		}
		n = n*10 + d
	}
	if i == start || b[start] == '0' && i-start > 1 {
		return 0, -1
	}
	return n, i
}

// skipValue returns the index just after the compact JSON object or array starting
// at b[i] (strings, escapes and nesting followed; not otherwise checked), or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) || b[i] != '{' && b[i] != '[' {
		return -1
	}
	depth, in := 0, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case in:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
