package form

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Expand turns values written as nested JSON into record keys, so a script can
// fill a form the way it reads:
//
//	{"site": {"code": "NW-0412"},                      a group: an object
//	 "defects": [{"what": "crack"},                    a repeat: a list, an object an instance
//	             {"_id": "0190…", "severity": 2},      an existing instance, by its ID
//	             {"_id": "0190…", "_removed": true}]}  an instance removed
//
// A new instance of a repeat with a count is numbered by its place in the list;
// one of a free repeat gets newID(). Keys already written as record keys
// ("site/code", "defects[0190…]/what") pass through, as does every other value.
func (t *Template) Expand(values Values, newID func() string) (Values, error) {
	if newID == nil {
		newID = NewID
	}
	out := make(Values, len(values))
	for k, v := range values {
		if err := t.expand(out, t.Fields, "", k, v, newID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *Template) expand(out Values, fields []Field, prefix, name string, v json.RawMessage, newID func() string) error {
	key := JoinKey(prefix, name)
	var f *Field
	for i := range fields {
		if fields[i].ID == name {
			f = &fields[i]
		}
	}
	v = bytes.TrimSpace(v)
	switch {
	case f == nil || len(v) == 0:
	case f.Type == TypeGroup && v[0] == '{':
		obj, err := decodeObject(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		for _, k := range obj.keys {
			if err := t.expand(out, f.Fields, key, k, obj.vals[k], newID); err != nil {
				return err
			}
		}
		return nil
	case f.Type == TypeRepeat && v[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return fmt.Errorf("%s: a repeat is a list of objects: %v", key, err)
		}
		for i, item := range items {
			obj, err := decodeObject(bytes.TrimSpace(item))
			if err != nil {
				return fmt.Errorf("%s item %d: %w", key, i+1, err)
			}
			id := ""
			if raw, ok := obj.vals["_id"]; ok {
				if json.Unmarshal(raw, &id) != nil || !ValidInstance(id) {
					return fmt.Errorf("%s item %d: _id %s is not an instance (a UUID, or a position for a repeat with a count)", key, i+1, raw)
				}
			} else if f.RepeatCount != "" {
				id = strconv.Itoa(i + 1)
			} else {
				id = newID()
			}
			ik := InstanceKey(prefix, name, id)
			removed := false
			if raw, ok := obj.vals["_removed"]; ok {
				if json.Unmarshal(raw, &removed) != nil {
					return fmt.Errorf("%s item %d: _removed is true or false", key, i+1)
				}
			}
			out[ik] = json.RawMessage(strconv.FormatBool(!removed))
			for _, k := range obj.keys {
				if k == "_id" || k == "_removed" {
					continue
				}
				if err := t.expand(out, f.Fields, ik, k, obj.vals[k], newID); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if _, dup := out[key]; dup {
		return fmt.Errorf("%s is given twice", key)
	}
	out[key] = v
	return nil
}

// object is a JSON object with its keys in order.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func decodeObject(b []byte) (object, error) {
	if len(b) == 0 || b[0] != '{' {
		return object{}, fmt.Errorf("expected an object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return object{}, err
	}
	o := object{vals: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return object{}, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return object{}, err
		}
		if _, dup := o.vals[k]; dup {
			return object{}, fmt.Errorf("%q is given twice", k)
		}
		o.keys = append(o.keys, k)
		o.vals[k] = v
	}
	return o, nil
}
