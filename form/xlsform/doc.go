// Package xlsform imports XLSForms (.xlsx, .xls) into Fieldforms templates, with a
// report of what was carried over exactly, what was approximated and what was
// dropped, row by row: nothing is left out silently.
//
// An XLSForm is the spreadsheet format of ODK, KoboToolbox and SurveyCTO
// (https://xlsform.org). Import reads its survey, choices and settings sheets and
// follows pyxform, the reference converter, where the specification is silent.
// XForms (.xml) are imported elsewhere.
//
// # Reading
//
// Sheet names and column headers are matched without regard to case; headers are
// trimmed and snake-cased (pyxform's aliases are known: "list name", caption,
// relevance, jr:count...). Translated columns are written label::English (en) (or,
// in old forms, label:English); the untranslated column is the language "" of a
// form.Text, or the settings' default_language when it names one. Cells are read as
// pyxform reads them: trimmed, typographic quotes made plain, whole numbers without
// a decimal point, booleans as TRUE and FALSE, runs of spaces in survey cells made
// one (unless the setting clean_text_values is no). Dates typed into cells become
// YYYY-MM-DD. A workbook with a single sheet has that sheet read as the survey.
//
// # Mapping
//
//	text                     text; appearance multiline → multiline
//	integer, decimal         integer, decimal
//	range                    range; parameters start, end, step → Min, Max, Step (1, 10, 1)
//	select_one L             choice with List L; select_multiple → multichoice; rank → rank
//	select_one L or_other    + an "other" option (in a copy of L) and a text NAME_other (approximated)
//	select_one_from_file F   the choices of F (CSV, XML, GeoJSON from Options.Files) as a list named F
//	date, time, dateTime     date, time, datetime
//	geopoint, geotrace, geoshape  geolocation, geotrace, geoshape
//	image                    photo (one file); appearance signature → signature;
//	                         draw → signature (approximated); annotate → photo (approximated)
//	audio, video, file       audio, video, file (one file)
//	barcode, acknowledge (trigger), note, hidden, calculate   the same
//	start, end, today        datetime, datetime, date with Meta
//	deviceid, username, phonenumber, email    hidden with Meta
//	begin/end group, repeat  group, repeat (nested); repeat_count → RepeatCount
//
// Columns: name, label, hint (Help), guidance_hint (Guidance), required and readonly
// (yes, true, true() → true; no, false, empty → false; else an expression),
// required_message, constraint, constraint_message, relevant, calculation,
// choice_filter, appearance, parameters (name=value pairs → Parameters), trigger
// (${a}, ${b} → Trigger), default and media (image, big-image, audio, video).
// Expressions are kept as written. A default is an expression (DefaultExpr) when
// pyxform would call it dynamic (an operator, a function call or a ${reference});
// otherwise it is a value in the field's JSON format: 3, "2024-01-01", ["a","b"].
// The choices sheet's other columns become each option's Filter, which a
// choice_filter reads. Settings: form_title → Name, form_id → ID (made a valid
// template ID: lower case, other characters '-'), version → VersionLabel,
// instance_name → InstanceName, default_language → DefaultLanguage. Version stays 1:
// the server numbers the versions it publishes.
//
// # Checking
//
// The template is then checked by form.ParseTemplate. A rule the engine refuses (an
// expression with pulldata(), a function it does not know, a syntax error; a rule
// that does not apply to the field's type) is left out of that field and reported
// with the survey row, the column and the engine's message, and the template is
// checked again. A calculate question whose calculation goes is dropped too, and
// rules that refer to a dropped question go with it. What pyxform refuses is refused
// with an *Error naming the sheet, row and column: an unknown question type, a bad
// or missing name, a name used twice in one group, a ${name} that names no question
// or several, a select of a list the choices sheet lacks, a duplicate choice (unless
// allow_choice_duplicates is yes), unbalanced begin and end rows, duplicate column
// headers. Mistakes ODK tolerates are warnings: a constraint message without a
// constraint, a comparison with a value that is not a choice of the select.
//
// # Approximated and dropped
//
// Approximated: or_other; image with appearance draw or annotate; start-geopoint (a
// location question the worker fills); groups with appearance table-list (shown as a
// page of questions); questions without a label (their name is shown); choice values
// with spaces (joined with '_'); duplicate choices allowed by the settings (renamed
// NAME_2); the settings style, and a form_id that is not a valid template ID.
//
// Dropped, each with why: audit, simserial, subscriberid, background-audio,
// background-geopoint, osm, xml-external, csv-external, select_one_external (and the
// external_choices sheet), begin loop, entities; choices from a repeat's answers
// (select_one ${repeat}); a select_one_from_file whose file is missing; bind::,
// body::, instance:: and other XForm-only columns (autoplay, intent, rows,
// sms_field...); the settings public_key, submission_url, auto_send, auto_delete.
//
// # Report
//
// Every survey row with a type is counted once: Imported (carried over exactly), or
// else approximated or dropped (in part or whole); its entries in Approximated and
// Dropped name the row ("survey row 12, column relevant"). Rows without a type are
// not questions and only warn. The lists are sorted by row.
//
// # Caveats
//
// Choices loaded from files are copied into the template: a changed file needs a new
// import. .xls (Excel 97-2003) workbooks are read by this package's own BIFF8 reader
// (the OLE2 container by mscfb): cells as saved, formulas by their last computed
// value; Excel 5.0/95 and password-protected workbooks are refused. The file's
// content decides how it is read, whatever its extension says. Rows after 60 empty
// rows are read (pyxform stops there). A begin loop is dropped with everything
// inside it. Question types are matched as written, as pyxform does ("Text" is
// unknown). Expressions are checked by the engine as it is today: as it learns
// functions, fewer rules are dropped.
package xlsform
