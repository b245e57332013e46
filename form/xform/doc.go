// Package xform imports ODK XForms (XML) into Fieldforms templates, with a report
// of what was carried over exactly, approximated or dropped: the forms that ODK
// Central and Collect, KoboToolbox, Enketo and SurveyCTO hand out, as pyxform
// writes them from XLSForms (https://getodk.github.io/xforms-spec/).
//
// Import reads at most MaxFileSize (8 MiB) with encoding/xml: no DTD, no external
// entity (a document that uses an entity it declares is
// refused as malformed XML), at most 128 levels of
// nesting and 1,048,576 elements. It returns an xlsform.Report: the template
// (checked by form.ParseTemplate), the number of fields carried over exactly
// (Imported), and what was approximated, dropped or is worth a warning. Each
// entry's Row is an instance path (/data/group/q) for what concerns a field, or an
// element path (/h:html/h:body/group[2]/input[3]) for what concerns an element.
// Every node of the primary instance below its root is one item, counted once:
// imported exactly, approximated (kept, with something changed or lost, reported)
// or dropped (left out, reported). A refusal is an *Error naming an element path;
// a file that is not XML or not an XForm wraps ErrNotXForm.
//
// # What maps to what
//
//   - Form: h:title → Name (first line); the primary instance root's id → ID
//     (lower case, other characters '-', reported when changed; the file name
//     when there is none); version → VersionLabel; Version is 1. The calculate of
//     meta/instanceName → InstanceName.
//   - Structure: the primary instance gives the fields and their nesting; the body
//     gives the order (controls in body order, fields without a control keep their
//     place in the instance), labels, hints and appearances. An instance element
//     with children is a group, or a repeat when the body has a <repeat> for it or
//     it is a jr:template. Groups without a body group have no label. jr:count →
//     RepeatCount. Names that are not Fieldforms names (or _status, _deleted) are
//     changed, and reported.
//   - Controls and their bind type: input string → text (appearance multiline →
//     multiline), int → integer, decimal, date, time, dateTime → datetime,
//     geopoint → geolocation, geotrace, geoshape, barcode; textarea → multiline;
//     select1 → choice, select → multichoice, odk:rank → rank; range (start, end,
//     step) → range; upload image/* → photo (appearance signature → signature),
//     audio/* → audio, video/* → video, others → file; trigger → acknowledge; an
//     input whose bind is readonly="true()", of type string (or note), with no
//     calculation, default or setvalue → note. A bind with no control: calculate →
//     calculate; otherwise hidden. rows, autoplay, accuracyThreshold,
//     unacceptableAccuracyThreshold, odk:quality and orx:max-pixels → Parameters.
//   - Options: inline items → Options (or a list of Choices named after the field
//     when an option has no label text, e.g. pictures only); an itemset
//     instance('id')/root/item[filter] → a Choices list made of the secondary
//     instance (value column → Value, label column or jr:itext(itextId) → Label
//     with media, every other column → Filter) and ChoiceFilter from the
//     predicate: the value column is read as name, the label column as label,
//     current()/../x and /data/x as ${x}. Several predicates are joined with and.
//     External instances (jr://file-csv/x.csv, jr://file/x.xml, jr://file/x.geojson)
//     are read from opts.Files; ImportFile looks beside the form.
//   - Binds: relevant, constraint, required ("true()" → true, else the expression),
//     readonly, calculate → the field's rules; jr:constraintMsg and jr:requiredMsg
//     (plain or jr:itext) → messages. Preloads: timestamp start/end → datetime
//     start/end, date today → date today, property deviceid, username, email,
//     phonenumber → hidden fields with that Meta, uid and meta/instanceID → hidden
//     instanceid (the record's ID, kept in the meta group).
//   - Actions: setvalue on odk-instance-first-load or odk-new-repeat → Default (a
//     literal: the element's text, a quoted string or a number) or DefaultExpr;
//     setvalue on xforms-value-changed inside a control → Calculation on its target,
//     with Trigger naming the control's field.
//   - Texts: labels and hints, plain or jr:itext('id') per translation (lang
//     "default" is the untranslated text ""; default="true()" → DefaultLanguage);
//     the guidance form → Guidance; image, audio, video and big-image forms → Media
//     (jr://images/ and the like stripped). <output value="/data/x"/> → ${x}.
//   - Defaults: the text of a leaf of the primary instance → Default in the field's
//     JSON format (a select_multiple's values become a list, a geopoint an object).
//   - Expressions: a path to a field whose name is unique in the template becomes
//     ${name}; other paths stay paths, with the template's names (the engine reads
//     /root/a/b whatever the root is called). ., .. and ../.. stay as written.
//     jr:choice-name(v, '/data/q') names its select as '${q}'.
//
// # Approximated
//
// Option values with white space (joined with _) or taken by an earlier option
// (renamed value_2, ...), reported once per list; appearance draw (a signature
// pad) and annotate (a photo), secret inputs (plain text), odk:intent (answered in
// Fieldforms), randomize() (options in order), search() appearances (the options
// the form lists), odk-instance-load (computed once), odk:setgeopoint on first load
// (a location question the worker records), jr:noAddRemove without jr:count,
// repeats without a body repeat, body groups without a ref or bound to a value
// (their label and appearance are lost; their questions stay), controls placed
// outside their node's group, questions without a label (their name is shown),
// outputs that are not one field with a unique name, a literal ${ in a text,
// changed IDs, names and language names.
//
// # Dropped, with why
//
// Rules the engine refuses (its message is reported): pulldata(), jr:itext() in
// expressions, paths into secondary instances outside an itemset, predicates on
// paths to fields (use indexed-repeat()), '//', attributes, references to fields
// that are dropped or do not exist, rules on types they do not apply to, and what
// the template check refuses (bad defaults, calculation cycles). Also: selects
// whose options come from the form's own answers (a repeat) or from a file not
// given; OSM questions; SIM serial and subscriber ID; deprecatedID; audits;
// entities (meta/entity, entities:saveto); background audio; setgeopoint on other
// events; xforms-ready and other events; texts of form short; hint media; repeat
// instances written in the primary instance beyond pyxform's one copy of the
// template; the submission element (URL, encryption key); unknown elements and
// attributes of the head, model, binds and body.
//
// # Caveats
//
// required on a calculate, hidden field, group or repeat has no effect in ODK and
// is left out with a warning (on a note it blocks the form in Collect: dropped).
// A field referred to from several places keeps a path when its name is not unique;
// trigger names and texts cannot, so those parts are dropped or approximated.
// meta/instanceID holds the record's ID, without the "uuid:" prefix ODK writes.
// Bind types of calculations (int, date...) are not kept: a calculate holds text,
// as in XLSForm. Items of an itemset read from an XML or CSV file take their
// columns from the file, not from the form. Options dropped from a shared list are
// reported once, at the list; every select that uses the list is approximated.
// xlsform.Report's Rows() counts survey rows and is 0 for an XForm (its Text()
// then says how many fields were carried over exactly); Clean() means nothing was
// dropped.
package xform
