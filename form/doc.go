// Package form is Fieldforms' domain: templates and their fields, field values and
// their validation, records (filled forms) with per-field stamps, the hybrid logical
// clock that orders edits, and the merge that makes every replica converge.
//
// It is pure Go and does no I/O, so the same rules run on a device, on the server and
// in tests.
//
// # Templates
//
// A template is JSON. ParseTemplate checks it completely and returns a *TemplateError
// that names the field and the rule that is wrong, for example:
//
//	field "site_code": pattern "[": missing closing ]
//
// # Records and merge
//
// A record's values are kept per field, each with a Stamp: the HLC of the edit and the
// device that made it. Merge takes, per field, the value with the greater stamp. It is
// commutative, associative and idempotent, so replicas that have seen the same set of
// changes, in any order and with any duplicates, hold the same record, and the same
// Rev. The losing value of a concurrent edit is reported (in Merge's lost list, or as
// the Old side of a changed Diff when the incoming value wins) so the caller can keep
// it in the record's history.
//
// # Caveats
//
// A record's template ID and creation metadata never change after creation. Values are
// canonical JSON: canonicalisation must run (it runs inside Template.Check) before a value
// is stamped, or two replicas could hold equal values with different bytes.
package form
