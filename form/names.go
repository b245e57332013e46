package form

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names and keys.
//
// A field's name is an XML name as XLSForm allows it: a letter or '_', then letters,
// digits, '-', '.' or '_' (letters and digits of any script). Names are unique among
// the fields of one group or repeat.
//
// A record keys each value by the field's path: the names of the groups and repeats
// it is in and its own, joined by '/'. Each repeat's name carries the instance in
// brackets, so every field of every instance has its own key, and its own stamp:
//
//	site/code                          a field in the group site
//	defects[0190a0b4-…]/photo          photo of one instance of the repeat defects
//	defects[0190a0b4-…]                the instance itself: true while it exists, false once removed
//	members[2]/age                     an instance of a repeat with a fixed count: its position
//
// An instance a worker adds has a new UUIDv7, so instances two devices add offline
// never collide and sort in the order they were made; the instances of a repeat
// with repeat_count are numbered, so every device makes the same ones.

// System fields are the record's own, beside the template's.
func IsSystemField(key string) bool { return key == FieldStatus || key == FieldDeleted }

// ValidName reports whether s is a valid field or list name.
func ValidName(s string) bool {
	if s == "" || len(s) > maxNameLength {
		return false
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			return false
		case r == '_' || unicode.IsLetter(r):
		case i == 0:
			return false
		case r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r):
		default:
			return false
		}
	}
	return true
}

// maxKeyLength bounds a record key: a path of names and instances.
const maxKeyLength = 1024

// KeyStep is one step of a record key: a name, and for a repeat the instance.
type KeyStep struct {
	Name     string
	Instance string // "" for a group or a field
}

// ParseKey splits a record key into its steps. It checks the grammar only; whether
// the names exist is the template's business.
func ParseKey(key string) ([]KeyStep, bool) {
	if key == "" || len(key) > maxKeyLength {
		return nil, false
	}
	steps := make([]KeyStep, 0, strings.Count(key, "/")+1)
	for part := range strings.SplitSeq(key, "/") {
		st := KeyStep{Name: part}
		if i := strings.IndexByte(part, '['); i >= 0 {
			if !strings.HasSuffix(part, "]") {
				return nil, false
			}
			st.Name, st.Instance = part[:i], part[i+1:len(part)-1]
			if !ValidInstance(st.Instance) {
				return nil, false
			}
		}
		if !ValidName(st.Name) {
			return nil, false
		}
		steps = append(steps, st)
	}
	return steps, true
}

// ValidInstance reports whether s names a repeat instance: a UUID, or a position
// 1-9999 (for a repeat with a fixed count).
func ValidInstance(s string) bool {
	if ValidID(s) {
		return true
	}
	if s == "" || len(s) > 4 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ValidKey reports whether s is a well-formed record key (or a system field).
func ValidKey(s string) bool {
	if IsSystemField(s) {
		return true
	}
	if len(s) <= maxKeyLength && strings.IndexByte(s, '/') < 0 && strings.IndexByte(s, '[') < 0 {
		return ValidName(s) // a top-level name: what ParseKey checks of it, without its steps
	}
	_, ok := ParseKey(s)
	return ok
}

// SchemaPath strips the instances from a record key: defects[…]/photo → defects/photo.
func SchemaPath(key string) (string, bool) {
	if strings.IndexByte(key, '[') < 0 {
		return key, ValidKey(key)
	}
	steps, ok := ParseKey(key)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for i, st := range steps {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(st.Name)
	}
	return b.String(), true
}

// InstanceKey is the key of one instance of a repeat: its parent's key (an instance
// of an enclosing repeat, a group's key, or "" at the top), the repeat's name and the
// instance.
func InstanceKey(parent, name, instance string) string {
	if parent == "" {
		return name + "[" + instance + "]"
	}
	return parent + "/" + name + "[" + instance + "]"
}

// JoinKey appends a name to a key.
func JoinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "/" + name
}

// positionInstance is the instance of the n-th instance of a repeat with a count.
func positionInstance(n int) string { return strconv.Itoa(n) }

// CompareKeys orders record keys as a form shows them: instances of a repeat in
// their order (positions by number, UUIDv7s by time), other steps by name.
func CompareKeys(a, b string) int {
	for a != "" && b != "" {
		sa, ra, _ := strings.Cut(a, "/")
		sb, rb, _ := strings.Cut(b, "/")
		if c := compareStep(sa, sb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return strings.Compare(a, b)
}

func compareStep(a, b string) int {
	na, ia, _ := strings.Cut(a, "[")
	nb, ib, _ := strings.Cut(b, "[")
	if c := strings.Compare(na, nb); c != 0 {
		return c
	}
	return compareInstances(strings.TrimSuffix(ia, "]"), strings.TrimSuffix(ib, "]"))
}

// compareInstances orders instances: positions by number, UUIDv7s by time.
func compareInstances(a, b string) int {
	if len(a) != len(b) && len(a) <= 4 && len(b) <= 4 {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// CompareKeys orders record keys as the form shows them: by the order of the
// fields, step by step, and the instances of a repeat in their order. Keys the
// template does not know come last, by name.
func (t *Template) CompareKeys(a, b string) int {
	pa, oka := ParseKey(a)
	pb, okb := ParseKey(b)
	switch {
	case !oka || !okb:
		if oka != okb {
			if oka {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	}
	fields := t.Fields
	for i := 0; i < len(pa) && i < len(pb); i++ {
		ia, ib := -1, -1
		for j := range fields {
			if fields[j].ID == pa[i].Name {
				ia = j
			}
			if fields[j].ID == pb[i].Name {
				ib = j
			}
		}
		if ia < 0 || ib < 0 {
			if ia != ib {
				if ia < 0 {
					return 1
				}
				return -1
			}
			return CompareKeys(a, b)
		}
		if ia != ib {
			return ia - ib
		}
		if c := compareInstances(pa[i].Instance, pb[i].Instance); c != 0 {
			return c
		}
		fields = fields[ia].Fields
	}
	return len(pa) - len(pb)
}
