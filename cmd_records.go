package main

// Commands on the replica's templates and records: templates, record new, edit,
// delete, restore, list and show.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func init() {
	registerCommand(&cliCommand{
		name:    "templates",
		args:    "[--json]",
		summary: "list the template versions in the replica",
		help: `Prints one line a template version, tab-separated: ID, version, name, and the
number of fields that take an answer (notes excluded). With --json, prints a
JSON array of the templates themselves.`,
		setup: func(fs *flag.FlagSet) cliRun {
			asJSON := fs.Bool("json", false, "print a JSON array of the templates")
			return func(e *cliEnv, _ []string) error { return listTemplates(e, *asJSON) }
		},
	})
	registerCommand(&cliCommand{
		name:    "record new",
		args:    "--template ID[@VERSION] --json OBJECT [--submit] [--author NAME]",
		summary: "fill in a new form; prints the new record's ID",
		help: valuesHelp + `
Without @VERSION the template's latest version is used. The record is a draft
unless --submit is given, which needs every required field answered.`,
		setup: func(fs *flag.FlagSet) cliRun {
			tpl := fs.String("template", "", "the template `ID`, or ID@VERSION")
			vals := fs.String("json", "", "the values: a JSON `object` of field IDs to values, - for standard input, @FILE for a file")
			submit := fs.Bool("submit", false, "submit the form (every required field must be answered)")
			author := fs.String("author", "", "who fills it in (default: the enrolled user, else the system's user)")
			return func(e *cliEnv, _ []string) error { return newRecord(e, *tpl, *vals, *submit, *author) }
		},
	})
	registerCommand(&cliCommand{
		name:    "record edit",
		args:    "ID [--json OBJECT] [--submit] [--author NAME]",
		summary: "change fields of a record, or submit it",
		help: valuesHelp + `
Only the fields given change; null clears a field. A submitted record must stay
complete.`,
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) cliRun {
			vals := fs.String("json", "", "the values to set: a JSON `object` of field IDs to values, - for standard input, @FILE for a file")
			submit := fs.Bool("submit", false, "submit the form (every required field must be answered)")
			author := fs.String("author", "", "who edits it (default: the enrolled user, else the system's user)")
			return func(e *cliEnv, args []string) error { return editRecord(e, args[0], *vals, *submit, *author) }
		},
	})
	registerCommand(&cliCommand{
		name:    "record delete",
		args:    "ID [--author NAME]",
		summary: "delete a record (soft: it can be found with --deleted and restored)",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) cliRun {
			author := fs.String("author", "", "who deletes it (default: the enrolled user, else the system's user)")
			return func(e *cliEnv, args []string) error { return setDeleted(e, args[0], true, *author) }
		},
	})
	registerCommand(&cliCommand{
		name:    "record restore",
		args:    "ID [--author NAME]",
		summary: "bring back a deleted record as it was",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) cliRun {
			author := fs.String("author", "", "who restores it (default: the enrolled user, else the system's user)")
			return func(e *cliEnv, args []string) error { return setDeleted(e, args[0], false, *author) }
		},
	})
	registerCommand(&cliCommand{
		name:    "record list",
		args:    "[--deleted|--all] [--json] [--template ID] [--status S] [--search TEXT] [--limit N] [--offset N]",
		summary: "list records, the most recently changed first",
		help: `Prints one line a record, tab-separated: ID, template, status, last change
(RFC 3339, UTC), title, and "deleted" for a deleted record. Live records only,
unless --deleted (deleted ones only) or --all. --search matches whole words in
the values, the last word also as a prefix.`,
		setup: func(fs *flag.FlagSet) cliRun {
			var q store.Query
			deleted := fs.Bool("deleted", false, "deleted records only")
			all := fs.Bool("all", false, "live and deleted records")
			asJSON := fs.Bool("json", false, "print a JSON array")
			fs.StringVar(&q.Template, "template", "", "only records of this template `ID`")
			fs.StringVar(&q.Status, "status", "", "only records with this `status`: draft or submitted")
			fs.StringVar(&q.Text, "search", "", "only records whose values hold these `words`")
			limit := fs.Int("limit", 50, "at most `N` records; 0 for all")
			fs.IntVar(&q.Offset, "offset", 0, "skip the first `N` records")
			return func(e *cliEnv, _ []string) error {
				switch {
				case *deleted && *all:
					return cliUsagef("--deleted and --all exclude each other")
				case *deleted:
					q.Deleted = store.DeletedOnly
				case *all:
					q.Deleted = store.LiveAndDeleted
				}
				return listRecords(e, q, *limit, *asJSON)
			}
		},
	})
	registerCommand(&cliCommand{
		name:    "record show",
		args:    "ID [--json] [--lang LANGUAGE]",
		summary: "show a record: values, status, and its history",
		help: `Labels and choices are shown in the language the locale (LANG) asks for when
the form has it, else in the form's default language; --lang names another: a
language of the form ("Français (fr)") or a locale ("fr").`,
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) cliRun {
			asJSON := fs.Bool("json", false, "print JSON")
			lang := fs.String("lang", "", "show labels in this `language`")
			return func(e *cliEnv, args []string) error { return showRecord(e, args[0], *asJSON, *lang) }
		},
	})
}

const valuesHelp = `The values are a JSON object of field IDs to values, for example
  '{"site_code": "NW-0412", "inspection_date": "2026-03-02", "workers_on_site": 12,
    "hazards_present": false, "location": {"lat": 51.5, "lon": -0.12}}'
Text, dates ("YYYY-MM-DD"), times ("HH:MM") and choices are strings, numbers are
numbers, yes/no is true or false, multiple choice is a list. Attach files with
'fieldforms attach'. 'fieldforms templates --json' lists every field and rule.
`

// maxValuesInput bounds --json read from a file or standard input.
const maxValuesInput = 16 << 20

// parseValues reads the --json argument: a JSON object of field IDs to values,
// given inline, as - for standard input or as @FILE.
func parseValues(e *cliEnv, arg string) (form.Values, error) {
	data := []byte(arg)
	switch {
	case arg == "-":
		b, err := io.ReadAll(io.LimitReader(e.stdin, maxValuesInput+1))
		if err != nil {
			return nil, fmt.Errorf("--json: read standard input: %w", err)
		}
		data = b
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, fmt.Errorf("--json: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxValuesInput+1))
		if err != nil {
			return nil, fmt.Errorf("--json: read %s: %w", arg[1:], err)
		}
		data = b
	}
	if len(data) > maxValuesInput {
		return nil, fmt.Errorf("--json: more than %d bytes", maxValuesInput)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New(`--json: want a JSON object of field IDs to values, like {"field": "value"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	jsonErr := func(err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("--json: invalid JSON at byte %d: %v", se.Offset, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errors.New("--json: invalid JSON: unexpected end")
		}
		return fmt.Errorf("--json: invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != nil { // the '{'
		return nil, jsonErr(err)
	}
	vals := form.Values{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(err)
		}
		key, _ := tok.(string) // Token only returns a string for a key
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, jsonErr(err)
		}
		if _, dup := vals[key]; dup {
			return nil, fmt.Errorf("--json: field %q is given twice", key)
		}
		vals[key] = v
	}
	if _, err := dec.Token(); err != nil { // the '}'
		return nil, jsonErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("--json: unexpected data after the object")
	}
	return vals, nil
}

// parseTemplateRef reads ID or ID@VERSION.
func parseTemplateRef(s string) (form.TemplateKey, error) {
	id, ver, hasVer := strings.Cut(s, "@")
	k := form.TemplateKey{ID: id}
	if !form.ValidTemplateID(id) {
		return k, fmt.Errorf("--template: %q is not a template ID (see 'fieldforms templates')", s)
	}
	if hasVer {
		n, err := strconv.Atoi(ver)
		if err != nil || n < 1 {
			return k, fmt.Errorf("--template: version %q is not a positive whole number", ver)
		}
		k.Version = n
	}
	return k, nil
}

// findTemplate returns the template version k names (the latest when Version is 0).
func findTemplate(st *store.Store, k form.TemplateKey) (*form.Template, error) {
	var t *form.Template
	var err error
	if k.Version == 0 {
		t, err = st.LatestTemplate(k.ID)
	} else {
		t, err = st.Template(k)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnknownTemplate) {
		if k.Version == 0 {
			return nil, fmt.Errorf("unknown template %q (see 'fieldforms templates')", k.ID)
		}
		return nil, fmt.Errorf("unknown template version %s (see 'fieldforms templates')", k)
	}
	return t, err
}

// getRecord returns the record with an ID given on the command line.
func getRecord(e *cliEnv, id string) (form.Record, error) {
	if !form.ValidID(id) {
		return form.Record{}, fmt.Errorf("%q is not a record ID (a UUID, as 'fieldforms record list' prints)", id)
	}
	r, err := e.st.Get(e.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if purged, perr := e.st.IsPurged(e.ctx, id); perr == nil && purged {
			return form.Record{}, fmt.Errorf("record %s was permanently deleted (purged by the organisation's admins); it cannot be shown, edited or restored", id)
		}
		return form.Record{}, fmt.Errorf("no record %s in this replica", id)
	}
	return r, err
}

// checkComplete refuses a record that would be submitted with required fields
// unanswered.
func checkComplete(t *form.Template, fm *form.Form) error {
	err := fm.Check()
	var verr *form.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var missing, broken []string
	for _, fe := range verr.Fields {
		s := fmt.Sprintf("%q", fe.Field)
		if fe.Rule != "required" {
			broken = append(broken, s+": "+fe.Msg)
			continue
		}
		if f, ok := t.Field(fe.Field); ok && !f.Label.IsZero() {
			s += " (" + f.Label.String() + ")"
		}
		missing = append(missing, s)
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "required fields have no answer (rule required): "+strings.Join(missing, ", "))
	}
	if len(broken) > 0 {
		parts = append(parts, "answers break their constraint: "+strings.Join(broken, "; "))
	}
	return fmt.Errorf("cannot submit: %s", strings.Join(parts, "; "))
}

func listTemplates(e *cliEnv, asJSON bool) error {
	ts := e.st.Templates()
	if asJSON {
		list := make([]json.RawMessage, len(ts))
		for i, t := range ts {
			list[i] = t.Encode()
		}
		return writeJSON(e.stdout, list)
	}
	for _, t := range ts {
		n := 0
		for _, f := range t.All() {
			if f.HoldsValue() {
				n++
			}
		}
		fmt.Fprintf(e.stdout, "%s\t%d\t%s\t%d\n", t.ID, t.Version, cell(t.Name), n)
	}
	return nil
}

func newRecord(e *cliEnv, ref, valuesArg string, submit bool, authorFlag string) error {
	if ref == "" {
		return cliUsagef("--template is required")
	}
	if valuesArg == "" {
		return cliUsagef("--json is required (use '{}' for an empty form)")
	}
	k, err := parseTemplateRef(ref)
	if err != nil {
		return err
	}
	vals, err := parseValues(e, valuesArg)
	if err != nil {
		return err
	}
	t, err := findTemplate(e.st, k)
	if err != nil {
		return err
	}
	author, err := e.author(authorFlag)
	if err != nil {
		return err
	}
	if vals, err = t.Expand(vals, nil); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	checked, err := t.Check(vals)
	if err != nil {
		return err
	}
	edit := store.Edit{Template: t.Key(), Values: checked, Author: author}
	if submit {
		// As the replica will: the new record's defaults and calculations, then
		// the values given.
		fm := t.NewForm(nil, form.Context{User: author})
		fm.Start()
		if err := fm.SetAll(checked); err != nil {
			return err
		}
		if err := checkComplete(t, fm); err != nil {
			return err
		}
		edit.Status = form.StatusSubmitted
	}
	r, err := e.st.Save(e.ctx, edit)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, r.ID)
	return nil
}

func editRecord(e *cliEnv, id, valuesArg string, submit bool, authorFlag string) error {
	if valuesArg == "" && !submit {
		return cliUsagef("nothing to change: give --json, --submit or both")
	}
	vals := form.Values{}
	if valuesArg != "" {
		var err error
		if vals, err = parseValues(e, valuesArg); err != nil {
			return err
		}
	}
	cur, err := getRecord(e, id)
	if err != nil {
		return err
	}
	if cur.Deleted() {
		return fmt.Errorf("record %s is deleted; restore it first", id)
	}
	k := form.TemplateKey{ID: cur.Template, Version: cur.Version}
	t, err := findTemplate(e.st, k)
	if err != nil {
		return err
	}
	author, err := e.author(authorFlag)
	if err != nil {
		return err
	}
	if vals, err = t.Expand(vals, nil); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	checked, err := t.Check(vals)
	if err != nil {
		return err
	}
	edit := store.Edit{Record: id, Values: checked, Author: author}
	if submit {
		edit.Status = form.StatusSubmitted
	}
	if submit || cur.Status() == form.StatusSubmitted {
		fm := t.NewForm(cur.Values(), form.Context{User: author, Record: id})
		if err := fm.SetAll(checked); err != nil {
			return err
		}
		if err := checkComplete(t, fm); err != nil {
			return err
		}
	}
	_, err = e.st.Save(e.ctx, edit)
	return err
}

func setDeleted(e *cliEnv, id string, del bool, authorFlag string) error {
	if _, err := getRecord(e, id); err != nil {
		return err
	}
	author, err := e.author(authorFlag)
	if err != nil {
		return err
	}
	if del {
		_, err = e.st.Delete(e.ctx, author, id)
	} else {
		_, err = e.st.Restore(e.ctx, author, id)
	}
	return err
}

// summaryJSON is a record in record list --json.
type summaryJSON struct {
	ID       string    `json:"id"`
	Template string    `json:"template"`
	Version  int       `json:"version"`
	Title    string    `json:"title"`
	Status   string    `json:"status"`
	Deleted  bool      `json:"deleted"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	Rev      string    `json:"rev"`
}

func listRecords(e *cliEnv, q store.Query, limit int, asJSON bool) error {
	switch {
	case limit < 0:
		return cliUsagef("--limit must not be negative")
	case q.Offset < 0:
		return cliUsagef("--offset must not be negative")
	case q.Status != "" && q.Status != form.StatusDraft && q.Status != form.StatusSubmitted:
		return cliUsagef("--status %q: want %s or %s", q.Status, form.StatusDraft, form.StatusSubmitted)
	case q.Template != "" && !form.ValidTemplateID(q.Template):
		return cliUsagef("--template %q is not a template ID", q.Template)
	}
	var items []store.Summary
	for {
		q.Limit = store.MaxPage
		if limit > 0 {
			q.Limit = min(store.MaxPage, limit-len(items))
		}
		p, err := e.st.Search(e.ctx, q)
		if err != nil {
			return err
		}
		items = append(items, p.Items...)
		q.Offset += len(p.Items)
		if len(p.Items) == 0 || q.Offset >= p.Total || limit > 0 && len(items) >= limit {
			break
		}
	}
	if q.Offset == len(items) && limit == 0 && q.Deleted == store.LiveAndDeleted &&
		q.Text == "" && q.Template == "" && q.Status == "" {
		// Every record was asked for: the index must list as many as the replica holds,
		// or a record would go missing from the list unseen.
		n, err := e.st.Count(e.ctx)
		if err != nil {
			return err
		}
		if n != len(items) {
			return fmt.Errorf("%s is damaged: its index lists %d records, but it holds %d; run `fieldforms verify`, then `fieldforms repair`",
				filepath.Join(e.st.Dir(), store.DBFile), len(items), n)
		}
	}
	if asJSON {
		list := make([]summaryJSON, len(items))
		for i, s := range items {
			list[i] = summaryJSON{ID: s.ID, Template: s.Template, Version: s.Version, Title: s.Title,
				Status: s.Status, Deleted: s.Deleted, Created: s.Created.UTC(), Updated: s.Updated.UTC(), Rev: s.Rev}
		}
		return writeJSON(e.stdout, list)
	}
	for _, s := range items {
		line := strings.Join([]string{s.ID, s.Template, s.Status, s.Updated.UTC().Format(time.RFC3339), cell(s.Title)}, "\t")
		if s.Deleted {
			line += "\tdeleted"
		}
		fmt.Fprintln(e.stdout, line)
	}
	return nil
}

// valueJSON is one answered field in record show --json.
type valueJSON struct {
	Label   string          `json:"label,omitempty"`
	Type    form.FieldType  `json:"type,omitempty"`
	Value   json.RawMessage `json:"value"`
	Display string          `json:"display"`
}

// recordJSON is record show --json.
type recordJSON struct {
	ID           string               `json:"id"`
	Template     string               `json:"template"`
	Version      int                  `json:"version"`
	TemplateName string               `json:"template_name,omitempty"`
	Title        string               `json:"title"`
	Status       string               `json:"status"`
	Deleted      bool                 `json:"deleted"`
	Created      time.Time            `json:"created"`
	CreatedBy    string               `json:"created_by"`
	Device       string               `json:"device"`
	Updated      time.Time            `json:"updated"`
	Rev          string               `json:"rev"`
	Values       map[string]valueJSON `json:"values"`
	History      []store.AuditEntry   `json:"history"`
}

// cliLanguage is the language to show a template in: the one --lang names (a
// language of the template, or a locale), else the one the locale asks for.
func cliLanguage(t *form.Template, flag string) string {
	if slices.Contains(t.Languages, flag) {
		return flag
	}
	if flag != "" {
		return form.MatchLanguage(t.Languages, flag)
	}
	for _, env := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := os.Getenv(env); v != "" {
			return form.MatchLanguage(t.Languages, v)
		}
	}
	return ""
}

func showRecord(e *cliEnv, id string, asJSON bool, lang string) error {
	r, err := getRecord(e, id)
	if err != nil {
		return err
	}
	hist, err := e.st.History(e.ctx, id)
	if err != nil {
		return err
	}
	t, err := e.st.Template(form.TemplateKey{ID: r.Template, Version: r.Version})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrUnknownTemplate) {
		return err
	}
	vals := r.Values()
	for id, v := range vals {
		if form.IsEmpty(v) { // cleared
			delete(vals, id)
		}
	}
	// Fields in the template's order, repeat instances in theirs; the values of
	// removed instances are not shown (their markers say they were removed).
	var fm *form.Form
	if t != nil {
		fm = t.NewForm(vals, form.Context{Language: cliLanguage(t, lang)})
		for id := range vals {
			if !fm.Live(id) && !strings.HasSuffix(id, "]") {
				delete(vals, id)
			}
		}
	}
	order := slices.SortedFunc(maps.Keys(vals), form.CompareKeys)
	if t != nil {
		slices.SortStableFunc(order, t.CompareKeys)
	}
	out := recordJSON{
		ID: r.ID, Template: r.Template, Version: r.Version, Status: r.Status(), Deleted: r.Deleted(),
		Created: r.Created.HLC.Time(), CreatedBy: r.CreatedBy, Device: r.Created.Device,
		Updated: r.Updated().HLC.Time(), Rev: r.Rev(), Values: map[string]valueJSON{}, History: hist,
	}
	if t != nil {
		out.TemplateName = t.Name
		out.Title = fm.Title()
	}
	if out.History == nil {
		out.History = []store.AuditEntry{}
	}
	for _, id := range order {
		v := valueJSON{Value: vals[id], Display: form.DisplayValue(vals[id])}
		if t != nil {
			if f, ok := t.Field(id); ok {
				v.Label, v.Type, v.Display = fm.Label(id), f.Type, fm.Display(id)
			}
		}
		out.Values[id] = v
	}
	if asJSON {
		return writeJSON(e.stdout, out)
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	name := ""
	if out.TemplateName != "" {
		name = " (" + out.TemplateName + ")"
	}
	fmt.Fprintf(tw, "id\t%s\n", r.ID)
	fmt.Fprintf(tw, "template\t%s@%d%s\n", r.Template, r.Version, cell(name))
	fmt.Fprintf(tw, "title\t%s\n", cell(out.Title))
	fmt.Fprintf(tw, "status\t%s\n", out.Status)
	fmt.Fprintf(tw, "deleted\t%s\n", map[bool]string{true: "yes", false: "no"}[out.Deleted])
	fmt.Fprintf(tw, "created\t%s by %s on device %s\n", out.Created.Format(time.RFC3339), cell(out.CreatedBy), out.Device)
	fmt.Fprintf(tw, "updated\t%s\n", out.Updated.Format(time.RFC3339))
	fmt.Fprintf(tw, "rev\t%s\n", out.Rev)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nvalues:")
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, id := range order {
		v := out.Values[id]
		label := id
		if v.Label != "" {
			label = v.Label + " (" + id + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", cell(label), cell(v.Display))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nhistory:")
	for _, a := range hist {
		line := fmt.Sprintf("  %s  %s  by %s on device %s", a.Time.UTC().Format(time.RFC3339), a.Action, cell(a.Actor), a.Device)
		if a.Note != "" {
			line += "  (" + cell(a.Note) + ")"
		}
		fmt.Fprintln(e.stdout, line)
		for _, d := range a.Diff {
			if form.IsEmpty(d.Old) {
				fmt.Fprintf(e.stdout, "      %s: %s\n", d.Field, shown(d.New))
			} else {
				fmt.Fprintf(e.stdout, "      %s: %s → %s\n", d.Field, shown(d.Old), shown(d.New))
			}
		}
	}
	return nil
}

// shown renders a value in history: its display text, or (empty).
func shown(raw json.RawMessage) string {
	if form.IsEmpty(raw) {
		return "(empty)"
	}
	return cell(form.DisplayValue(raw))
}

// cell makes text safe for one tab-separated cell: no tabs, no line breaks.
func cell(s string) string {
	if !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	return strings.NewReplacer("\t", " ", "\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
