package form

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// System fields live in a record's field map beside the template's fields, so they are
// stamped and merged like any other value.
const (
	FieldStatus  = "_status"  // "draft" or "submitted"
	FieldDeleted = "_deleted" // true marks a tombstone
)

// Record statuses.
const (
	StatusDraft     = "draft"
	StatusSubmitted = "submitted"
)

// Stamp orders edits: the HLC of the edit, then the device that made it.
type Stamp struct {
	HLC    HLC    `json:"t"`
	Device string `json:"d"`
}

// Compare returns -1, 0 or 1 as s is before, equal to or after o.
func (s Stamp) Compare(o Stamp) int {
	switch {
	case s.HLC < o.HLC:
		return -1
	case s.HLC > o.HLC:
		return 1
	}
	return strings.Compare(s.Device, o.Device)
}

// IsZero reports an unset stamp.
func (s Stamp) IsZero() bool { return s.HLC == 0 && s.Device == "" }

// FieldValue is one field's current value and the stamp of the edit that set it.
type FieldValue struct {
	Value json.RawMessage `json:"v"`
	Stamp Stamp           `json:"s"`
}

// Record is a filled form. Its ID, template and creation metadata never change; its
// fields, including the system fields, merge per field.
type Record struct {
	ID        string                `json:"id"`
	Template  string                `json:"template"`
	Version   int                   `json:"version"` // template version; merges to the highest
	Created   Stamp                 `json:"created"`
	CreatedBy string                `json:"created_by"`
	Fields    map[string]FieldValue `json:"fields"`
}

// Change is one edit of one record, as it travels in a device's outbox and over the
// wire. It carries the record's identity and creation metadata so that it can create
// the record on a replica that has never seen it.
type Change struct {
	ID        string                `json:"id"`
	Record    string                `json:"record"`
	Template  string                `json:"template"`
	Version   int                   `json:"version"`
	Created   Stamp                 `json:"created"`
	CreatedBy string                `json:"created_by"`
	Fields    map[string]FieldValue `json:"fields"`
	Author    string                `json:"author"`
	Device    string                `json:"device"`
}

// AsRecord returns the part of a record that the change carries. The record has its
// own field map, so merging into it leaves the change as it was.
func (c Change) AsRecord() Record {
	return Record{ID: c.Record, Template: c.Template, Version: c.Version, Created: c.Created,
		CreatedBy: c.CreatedBy, Fields: maps.Clone(c.Fields)}
}

// ChangeFrom makes a change that carries every field of r: a full copy, as used when a
// record is pushed whole to a server that lacks it.
func ChangeFrom(id string, r Record, author, device string) Change {
	return Change{ID: id, Record: r.ID, Template: r.Template, Version: r.Version, Created: r.Created,
		CreatedBy: r.CreatedBy, Fields: maps.Clone(r.Fields), Author: author, Device: device}
}

// NewID returns a new UUIDv7: unique, and ordered by creation time.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		panic("form: new id: " + err.Error()) // only when the system's randomness fails
	}
	return id.String()
}

// ValidID reports whether s is a UUID in its canonical lowercase form.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Value returns a field's value, or nil when it is absent.
func (r *Record) Value(id string) json.RawMessage { return r.Fields[id].Value }

// Values returns the record's template fields (not the system ones) as Values.
func (r *Record) Values() Values {
	v := make(Values, len(r.Fields))
	for id, fv := range r.Fields {
		if !IsSystemField(id) {
			v[id] = fv.Value
		}
	}
	return v
}

// Deleted reports whether the record is a tombstone.
func (r *Record) Deleted() bool { return bytes.Equal(r.Fields[FieldDeleted].Value, []byte("true")) }

// Status is the record's status, draft when unset.
func (r *Record) Status() string {
	switch string(r.Fields[FieldStatus].Value) {
	case `"` + StatusSubmitted + `"`:
		return StatusSubmitted
	case `"` + StatusDraft + `"`, "":
		return StatusDraft
	}
	var s string
	if json.Unmarshal(r.Fields[FieldStatus].Value, &s) != nil || s == "" {
		return StatusDraft
	}
	return s
}

// Updated is the stamp of the record's latest edit.
func (r *Record) Updated() Stamp {
	u := r.Created
	for _, fv := range r.Fields {
		if fv.Stamp.Compare(u) > 0 {
			u = fv.Stamp
		}
	}
	return u
}

// Diff is one field's move from one value to another.
type Diff struct {
	Field string          `json:"field"`
	Old   json.RawMessage `json:"old,omitempty"`
	New   json.RawMessage `json:"new"`
	Stamp Stamp           `json:"stamp"`
}

// ErrMergeMismatch is returned when two records with the same ID disagree about
// something that never changes.
var ErrMergeMismatch = errors.New("records do not match")

// Merge folds in into r. Per field the value with the greater stamp wins. It returns
// the fields that changed in r and the incoming values that lost to what r held (a
// concurrent edit's loser, which the caller keeps in the record's history). Merge
// changes nothing when it returns an error.
func (r *Record) Merge(in Record) (changed, lost []Diff, err error) {
	if r.ID != in.ID {
		return nil, nil, fmt.Errorf("merge %s into %s: %w: different ids", in.ID, r.ID, ErrMergeMismatch)
	}
	if r.Template != in.Template {
		return nil, nil, fmt.Errorf("merge %s: %w: template %q, incoming %q", r.ID, ErrMergeMismatch, r.Template, in.Template)
	}
	if in.Version > r.Version {
		r.Version = in.Version
	}
	// Creation metadata should agree; if it ever does not, the earliest wins so that
	// every replica picks the same.
	if c := in.Created.Compare(r.Created); c < 0 || c == 0 && in.CreatedBy < r.CreatedBy {
		r.Created, r.CreatedBy = in.Created, in.CreatedBy
	}
	if r.Fields == nil {
		r.Fields = make(map[string]FieldValue, len(in.Fields))
	}
	ids := make([]string, 0, len(in.Fields))
	for id := range in.Fields {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		inv := in.Fields[id]
		cur, ok := r.Fields[id]
		if !ok || wins(inv, cur) {
			r.Fields[id] = inv
			if !ok || !bytes.Equal(cur.Value, inv.Value) {
				changed = append(changed, Diff{Field: id, Old: cur.Value, New: inv.Value, Stamp: inv.Stamp})
			}
			continue
		}
		if inv.Stamp.Compare(cur.Stamp) != 0 && !bytes.Equal(cur.Value, inv.Value) {
			lost = append(lost, Diff{Field: id, Old: inv.Value, New: cur.Value, Stamp: inv.Stamp})
		}
	}
	return changed, lost, nil
}

// wins reports whether a beats b. Equal stamps with different bytes can only come from a
// corrupted peer; comparing the bytes keeps the merge deterministic even then.
func wins(a, b FieldValue) bool {
	if c := a.Stamp.Compare(b.Stamp); c != 0 {
		return c > 0
	}
	return bytes.Compare(a.Value, b.Value) > 0
}

// Clone returns a deep copy of r.
func (r Record) Clone() Record {
	c := r
	c.Fields = make(map[string]FieldValue, len(r.Fields))
	for id, fv := range r.Fields {
		fv.Value = append(json.RawMessage(nil), fv.Value...)
		c.Fields[id] = fv
	}
	return c
}

// Encode returns the record's canonical encoding: fixed key order, sorted field IDs,
// compact values. Equal records encode to equal bytes.
func (r *Record) Encode() []byte {
	// A nil map and an empty one are the same record: both encode as {}. The buffer
	// is sized for the whole record (a field is its name, value and a stamp of about
	// 50 bytes), so it is not copied as it grows.
	n := 256 + len(r.ID) + len(r.Template) + len(r.CreatedBy) + len(r.Created.Device)
	for id, fv := range r.Fields {
		n += len(id) + len(fv.Value) + len(fv.Stamp.Device) + 48
	}
	return appendRecord(make([]byte, 0, n), r)
}

// Rev is a hash of the canonical encoding: equal on every replica that merged the same
// set of changes.
func (r *Record) Rev() string {
	sum := sha256.Sum256(r.Encode())
	return hex.EncodeToString(sum[:16])
}

// DecodeRecord reads a record's encoding and checks its structure (not its values
// against a template; that needs the template).
func DecodeRecord(data []byte) (Record, error) { return decodeRecord(data, true) }

// decodeRecord is DecodeRecord; without fast, it reads with the strict decoder only.
func decodeRecord(data []byte, fast bool) (Record, error) {
	var r Record
	err := errNotCanonical
	if fast {
		r, err = fastRecord(data)
	}
	if err != nil {
		r = Record{}
		if err := strictDecode(data, &r); err != nil {
			return Record{}, fmt.Errorf("decode record: %w", err)
		}
	}
	compactValues(r.Fields)
	// The fast scanner checked every value as JSON (compacting keeps it JSON): the
	// shape check need not parse them again.
	if err := r.checkShape(err != nil); err != nil {
		return Record{}, fmt.Errorf("decode record: %w", err)
	}
	return r, nil
}

// DecodeChange reads a change's encoding and checks its structure.
func DecodeChange(data []byte) (Change, error) { return decodeChange(data, true) }

// decodeChange is DecodeChange; without fast, it reads with the strict decoder only.
func decodeChange(data []byte, fast bool) (Change, error) {
	var c Change
	err := errNotCanonical
	if fast {
		c, err = fastChange(data)
	}
	if err != nil {
		c = Change{}
		if err := strictDecode(data, &c); err != nil {
			return Change{}, fmt.Errorf("decode change: %w", err)
		}
	}
	if !ValidID(c.ID) {
		return Change{}, fmt.Errorf("decode change: id %q is not a UUID", c.ID)
	}
	compactValues(c.Fields)
	r := c.AsRecord()
	// As in decodeRecord: values the fast scanner read are JSON already.
	if err := r.checkShape(err != nil); err != nil {
		return Change{}, fmt.Errorf("decode change %s: %w", c.ID, err)
	}
	if !validDevice(c.Device) || len(c.Author) > 256 {
		return Change{}, fmt.Errorf("decode change %s: %w: device or author is malformed", c.ID, ErrShape)
	}
	return c, nil
}

// MaxRecordKeys bounds the values of one record: every field of every repeat
// instance, and each instance's own marker.
const MaxRecordKeys = 20000

// ErrShape is matched by errors.Is for a record or change that is malformed.
var ErrShape = errors.New("malformed record")

// CheckShape checks what can be checked without the template: IDs, stamps, system
// field values, that every value is JSON of a bounded size.
func (r *Record) CheckShape() error { return r.checkShape(true) }

// CheckShapeForTemplate is CheckShape for a record whose template-field values are
// checked against the template next (Template.Check parses each one fully): it skips
// checking them as JSON here, which would parse them twice.
func (r *Record) CheckShapeForTemplate() error { return r.checkShape(false) }

func (r *Record) checkShape(values bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrShape, fmt.Sprintf(format, args...))
	}
	if !ValidID(r.ID) {
		return bad("record id %q is not a UUID", r.ID)
	}
	if !ValidTemplateID(r.Template) {
		return bad("record %s: template id %q is malformed", r.ID, r.Template)
	}
	if r.Version < 1 {
		return bad("record %s: template version %d must be 1 or more", r.ID, r.Version)
	}
	if r.Created.HLC == 0 || !validDevice(r.Created.Device) {
		return bad("record %s: creation stamp is missing or malformed", r.ID)
	}
	if len(r.CreatedBy) > 256 {
		return bad("record %s: created_by is too long", r.ID)
	}
	if len(r.Fields) > MaxRecordKeys {
		return bad("record %s: %d fields is over the limit", r.ID, len(r.Fields))
	}
	for id, fv := range r.Fields {
		switch {
		case id == FieldStatus && (string(fv.Value) == `"`+StatusDraft+`"` || string(fv.Value) == `"`+StatusSubmitted+`"`):
		case id == FieldStatus:
			var s string
			if json.Unmarshal(fv.Value, &s) != nil || s != StatusDraft && s != StatusSubmitted {
				return bad("record %s: %s must be %q or %q, got %s", r.ID, id, StatusDraft, StatusSubmitted, fv.Value)
			}
		case id == FieldDeleted:
			if !bytes.Equal(fv.Value, []byte("true")) && !bytes.Equal(fv.Value, []byte("false")) {
				return bad("record %s: %s must be true or false, got %s", r.ID, id, fv.Value)
			}
		case !ValidKey(id):
			return bad("record %s: field key %q is malformed", r.ID, id)
		case len(fv.Value) == 0 || len(fv.Value) > MaxValueBytes || values && !json.Valid(fv.Value):
			return bad("record %s: field %q: value is not JSON of at most %d bytes", r.ID, id, MaxValueBytes)
		}
		if fv.Stamp.HLC == 0 || !validDevice(fv.Stamp.Device) {
			return bad("record %s: field %q: stamp is missing or malformed", r.ID, id)
		}
	}
	return nil
}

// validDevice accepts device IDs of 1-64 printable ASCII characters without spaces.
func validDevice(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// ValidDevice reports whether s is a well-formed device ID.
func ValidDevice(s string) bool { return validDevice(s) }

// compactValues rewrites values as Encode writes them (no insignificant white space,
// HTML characters escaped), so that equal values compare equal as bytes and the size
// limit CheckShape applies holds for the re-encoded record too.
func compactValues(fields map[string]FieldValue) {
	for id, fv := range fields {
		if len(fv.Value) == 0 {
			continue // not JSON: CheckShape says so
		}
		if plainCompact(fv.Value) {
			continue
		}
		if b, err := json.Marshal(fv.Value); err == nil && !bytes.Equal(b, fv.Value) {
			fv.Value = b
			fields[id] = fv
		}
	}
}
