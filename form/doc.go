// Package form is Fieldforms' domain: templates and their fields, field values and
// their validation, the form engine that evaluates a template's expressions over a
// record's values, records (filled forms) with per-field stamps, the hybrid logical
// clock that orders edits, and the merge that makes every replica converge.
//
// It does no I/O, so the same rules run on a device, on the server and in tests.
// Its subpackages read what organisations already have: form/expr is the
// XLSForm/XPath expression language, form/xlsform reads XLSForms (.xlsx, .xls),
// form/xform ODK XForms, form/importer picks the reader for a file.
//
// # Templates
//
// A template is JSON. It holds what an XLSForm holds: fields at any depth of groups
// and repeats, each with a type (ODK's question types that a tablet can do), a
// label, hint and messages in one or several languages (a Text is a string or an
// object of language names to strings), rules written as expressions (relevant,
// constraint with its message, required as true or an expression with its message,
// readonly, calculation, default or default_expr, choice_filter, trigger,
// repeat_count), ${name} references inside texts, and shared lists of options
// (choices, with extra columns a choice filter reads). Templates of the first
// format — a flat list of fields with show_if conditions — are valid as they were.
//
// ParseTemplate checks a template completely and returns a *TemplateError that names
// the field (by its path, e.g. "household/members/age") and the rule that is wrong:
//
//	field "site_code": pattern "[": missing closing ]
//	field "summary/worst": calculation: ${severty} names no field of the form
//
// # Record keys
//
// A record keeps each value under the field's path: the names of the groups and
// repeats it is in, then its own, joined by '/'; each repeat's name carries the
// instance in brackets (a UUIDv7, or a position for a repeat whose count the form
// fixes), and the instance's own key says whether it exists:
//
//	location/village                 "hill_2"
//	members[1]/age                   41
//	defects[0190a0b4-…]              true   (false once removed)
//	defects[0190a0b4-…]/photo        [{"sha256": …}]
//
// So every field of every instance has its own stamp and merges on its own: two
// devices that add instances, or edit different instances, offline, keep all of
// it, and a removed instance keeps its values behind its marker.
//
// # The form engine
//
// Template.NewForm is a record being filled: it evaluates relevance (with that of
// the groups and instances a field is in), required and read-only rules,
// constraints with the form's own messages in the chosen language, calculations in
// dependency order, repeat counts, defaults and metadata (start, end, today, device,
// user, instance ID), choice filters and texts with their references. The app shows
// it, and the replica runs it on every save, so a record saved from a script holds
// the same calculated values as one saved from the app, and a record is submitted
// only when Form.Check finds nothing wrong.
//
// # Records and merge
//
// A record's values are kept per key, each with a Stamp: the HLC of the edit and the
// device that made it. Merge takes, per key, the value with the greater stamp. It is
// commutative, associative and idempotent, so replicas that have seen the same set
// of changes, in any order and with any duplicates, hold the same record, and the
// same Rev. The losing value of a concurrent edit is reported (in Merge's lost list,
// or as the Old side of a changed Diff when the incoming value wins) so the caller
// can keep it in the record's history.
//
// # Caveats
//
// A record's template ID and creation metadata never change after creation. Values
// are canonical JSON: canonicalisation must run (it runs inside Template.Check)
// before a value is stamped, or two replicas could hold equal values with different
// bytes. Calculated values are stored like answers and computed by the device that
// saves: after a merge of concurrent edits, a calculation reflects the inputs its
// device saw until the next save recomputes it. A release that knows only the first
// template format refuses templates that use the newer keys; upgrade every device
// before publishing such templates.
package form
