package form

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form/expr"
)

// Context is what a form being filled reads from its surroundings. Zero fields
// have sensible defaults: the system clock, new UUIDv7s, the default language.
type Context struct {
	Now      func() time.Time
	NewID    func() string
	Device   string
	User     string
	Record   string // the record's ID, for the instanceid metadata
	Language string // a name of Template.Languages; "" for the default
}

func (c Context) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Context) newID() string {
	if c.NewID != nil {
		return c.NewID()
	}
	return NewID()
}

// Form is a record being filled in: the template, the values by record key, and
// what the template's expressions make of them — which fields are relevant and
// required, calculations, repeat counts, defaults, metadata, constraints. It is not
// safe for concurrent use.
type Form struct {
	tpl  *Template
	ctx  Context
	vals Values
	orig Values
	// inst lists each repeat's live instances by the repeat's key under its parent
	// ("defects", "hh[1]/members"), in order.
	inst map[string][]string
	// relevance is cached until the next change.
	relevant map[string]bool
}

// NewForm starts filling values in (a record's template values; the map is not
// kept). Use Start for a new record.
func (t *Template) NewForm(values Values, ctx Context) *Form {
	f := &Form{tpl: t, ctx: ctx, vals: make(Values, len(values)), orig: make(Values, len(values))}
	for k, v := range values {
		if IsSystemField(k) {
			continue
		}
		f.vals[k] = v
		f.orig[k] = v
	}
	f.reindex()
	return f
}

// Template is the form's template.
func (f *Form) Template() *Template { return f.tpl }

// Context is what the form reads from its surroundings.
func (f *Form) Context() Context { return f.ctx }

// SetLanguage chooses the language of labels, hints and messages.
func (f *Form) SetLanguage(lang string) { f.ctx.Language = lang }

// Value returns the value under a key, nil when there is none.
func (f *Form) Value(key string) json.RawMessage { return f.vals[key] }

// Values returns every value the form holds, by key. Removed instances keep their
// values; their marker says they are gone.
func (f *Form) Values() Values {
	out := make(Values, len(f.vals))
	for k, v := range f.vals {
		out[k] = v
	}
	return out
}

// Changes returns the keys whose values differ from those the form started with,
// with their new values (null for a cleared one).
func (f *Form) Changes() Values {
	out := Values{}
	for k, v := range f.vals {
		if o, ok := f.orig[k]; !ok || !bytes.Equal(o, v) {
			if !ok && bytes.Equal(v, null) {
				continue
			}
			out[k] = v
		}
	}
	return out
}

func (f *Form) changed() { f.relevant = nil }

// reindex rebuilds the list of live instances from the instance markers.
func (f *Form) reindex() {
	f.inst = map[string][]string{}
	for k, v := range f.vals {
		if !strings.HasSuffix(k, "]") || !bytes.Equal(v, []byte("true")) {
			continue
		}
		i := strings.LastIndexByte(k, '[')
		f.inst[k[:i]] = append(f.inst[k[:i]], k[i+1:len(k)-1])
	}
	for _, ids := range f.inst {
		sortInstances(ids)
	}
	f.changed()
}

// sortInstances orders instances: positions by number, UUIDv7s by time.
func sortInstances(ids []string) {
	slices.SortFunc(ids, compareInstances)
}

// Instances returns the keys of a repeat's live instances under parent (the key of
// the group or instance the repeat is in; "" at the top), in order.
func (f *Form) Instances(parent string, repeat *Field) []string {
	base := JoinKey(parent, repeat.ID)
	ids := f.inst[base]
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = base + "[" + id + "]"
	}
	return out
}

// Start fills what a new record starts with: metadata (start, today, device,
// user, instance ID), defaults, the instances of repeats with a count, and
// calculations. It does not overwrite values the form already has.
func (f *Form) Start() {
	now := f.ctx.now()
	for _, fl := range f.tpl.all {
		if fl.repeat != nil {
			continue
		}
		for _, key := range f.concreteKeys(fl) {
			if _, ok := f.vals[key]; ok {
				continue
			}
			if v := f.metaValue(fl, now, true); v != nil {
				f.vals[key] = v
			}
		}
	}
	f.applyDefaults("", nil)
	f.Recalculate()
}

// Finish stamps the end metadata; the store calls it on a save that changes
// something.
func (f *Form) Finish() {
	now := f.ctx.now()
	for _, fl := range f.tpl.all {
		if fl.Meta == "end" {
			for _, key := range f.concreteKeys(fl) {
				f.vals[key] = marshal(now.Format(time.RFC3339Nano))
			}
		}
	}
}

func (f *Form) metaValue(fl *Field, now time.Time, start bool) json.RawMessage {
	switch fl.Meta {
	case "start":
		return marshal(now.Format(time.RFC3339Nano))
	case "today":
		return marshal(now.Format(dateLayout))
	case "deviceid":
		return nonEmpty(f.ctx.Device)
	case "username":
		return nonEmpty(f.ctx.User)
	case "instanceid":
		if f.ctx.Record != "" {
			return marshal("uuid:" + f.ctx.Record)
		}
	}
	return nil
}

func nonEmpty(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return marshal(s)
}

// applyDefaults sets the defaults of the fields directly in scope (the top of the
// form when repeat is nil, else the instance scope of repeat) that have no value.
func (f *Form) applyDefaults(scope string, repeat *Field) {
	for _, fl := range f.tpl.all {
		if fl.repeat != repeat || (fl.Default == nil && fl.exprs.def == nil) {
			continue
		}
		for _, key := range f.keysUnder(scope, fl) {
			if _, ok := f.vals[key]; ok {
				continue
			}
			if fl.Default != nil {
				f.vals[key] = fl.Default
				continue
			}
			if v, ok := f.compute(fl, fl.exprs.def, key); ok && !bytes.Equal(v, null) {
				f.vals[key] = v
			}
		}
	}
	f.changed()
}

// keysUnder returns the keys of field fl inside scope ("" or an instance key of
// fl's repeat), without entering other repeats.
func (f *Form) keysUnder(scope string, fl *Field) []string {
	rel := fl.key
	if fl.repeat != nil {
		rel = strings.TrimPrefix(fl.key, fl.repeat.key+"/")
	}
	return []string{JoinKey(scope, rel)}
}

// AddInstance adds an instance to a repeat under parent and returns its key. The
// instance gets the defaults of its fields.
func (f *Form) AddInstance(parent string, repeat *Field) (string, error) {
	if repeat.Type != TypeRepeat {
		return "", fmt.Errorf("add instance: %s is a %s, not a repeat", repeat.key, repeat.Type)
	}
	if repeat.exprs.count != nil {
		return "", fmt.Errorf("add instance: %s has as many instances as its repeat_count says", repeat.key)
	}
	base := JoinKey(parent, repeat.ID)
	if n := len(f.inst[base]); n >= MaxInstances || repeat.max.set && float64(n) >= repeat.max.n {
		return "", fmt.Errorf("add instance: %s has %d instances, the most it may have", repeat.key, n)
	}
	id := f.ctx.newID()
	key := base + "[" + id + "]"
	f.vals[key] = json.RawMessage("true")
	f.reindex()
	f.applyDefaults(key, repeat)
	f.Recalculate()
	return key, nil
}

// CanAddInstance reports whether AddInstance would add an instance to the repeat
// under parent: the repeat's count is not fixed by the form, and it has fewer
// instances than its max.
func (f *Form) CanAddInstance(parent string, repeat *Field) bool {
	if repeat.Type != TypeRepeat || repeat.exprs.count != nil {
		return false
	}
	n := len(f.inst[JoinKey(parent, repeat.ID)])
	return n < MaxInstances && !(repeat.max.set && float64(n) >= repeat.max.n)
}

// RemoveInstance removes a repeat instance. Its values stay in the record, behind
// the instance's marker, so a concurrent edit on another device is not lost.
func (f *Form) RemoveInstance(key string) error {
	if !strings.HasSuffix(key, "]") || !bytes.Equal(f.vals[key], []byte("true")) {
		return fmt.Errorf("remove instance: %s is not a live instance", key)
	}
	fl, ok := f.tpl.Field(key)
	if !ok || fl.Type != TypeRepeat {
		return fmt.Errorf("remove instance: %s is not an instance of a repeat", key)
	}
	if fl.exprs.count != nil {
		return fmt.Errorf("remove instance: %s has as many instances as its repeat_count says", fl.key)
	}
	f.vals[key] = json.RawMessage("false")
	f.reindex()
	f.Recalculate()
	return nil
}

// Set checks a value and sets it, runs the calculations its change triggers and
// recalculates. Null clears.
func (f *Form) Set(key string, raw json.RawMessage) error {
	if err := f.set(key, raw); err != nil {
		return err
	}
	f.Recalculate()
	return nil
}

// SetAll checks every value first and sets them all, or none; the error is a
// *ValidationError naming every bad one.
func (f *Form) SetAll(values Values) error {
	vals, err := f.tpl.Check(values)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	// Instances before their fields, in key order.
	slices.Sort(keys)
	for _, k := range keys {
		f.setChecked(k, vals[k])
	}
	f.reindex()
	f.Recalculate()
	return nil
}

func (f *Form) set(key string, raw json.RawMessage) error {
	vals, err := f.tpl.Check(Values{key: raw})
	if err != nil {
		return err
	}
	f.setChecked(key, vals[key])
	if strings.HasSuffix(key, "]") {
		f.reindex()
	}
	return nil
}

func (f *Form) setChecked(key string, v json.RawMessage) {
	old, had := f.vals[key]
	if had && bytes.Equal(old, v) || !had && bytes.Equal(v, null) {
		return
	}
	f.vals[key] = v
	f.changed()
	fl, ok := f.tpl.Field(key)
	if !ok {
		return
	}
	// Calculations triggered by this field run now, once.
	for _, g := range f.tpl.all {
		if !slices.Contains(g.exprs.trigger, fl) {
			continue
		}
		for _, gk := range f.resolveFrom(key, g) {
			if g.exprs.calculation == nil {
				f.vals[gk] = null
				continue
			}
			if nv, ok := f.compute(g, g.exprs.calculation, gk); ok {
				f.vals[gk] = nv
			}
		}
	}
}

// Recalculate brings repeat counts and calculations up to date.
func (f *Form) Recalculate() {
	for range 3 { // counts may read calculations and calculations counts
		f.calculate()
		if !f.applyCounts() {
			return
		}
	}
	f.calculate()
}

func (f *Form) calculate() {
	for _, fl := range f.tpl.calcOrder {
		for _, key := range f.concreteKeys(fl) {
			v, ok := f.compute(fl, fl.exprs.calculation, key)
			if !ok {
				continue
			}
			if old, had := f.vals[key]; had && bytes.Equal(old, v) || !had && bytes.Equal(v, null) {
				continue
			}
			f.vals[key] = v
			f.changed()
		}
	}
}

// applyCounts makes the instances of each repeat with a count match it; it reports
// whether anything changed. A form holds at most MaxRecordKeys values: counts
// that would make more instances than that make as many as fit.
func (f *Form) applyCounts() bool {
	changed := false
	for _, fl := range f.tpl.all {
		if fl.Type != TypeRepeat || fl.exprs.count == nil {
			continue
		}
		var added []string
		for _, parent := range f.parentKeys(fl) {
			base := JoinKey(parent, fl.ID)
			n := f.eval(fl.exprs.count, base).Number()
			if math.IsNaN(n) || n < 0 {
				n = 0
			}
			want := int(math.Min(math.Trunc(n), MaxInstances))
			for _, id := range f.inst[base] {
				if p, err := strconv.Atoi(id); err != nil || p > want {
					f.vals[base+"["+id+"]"] = json.RawMessage("false")
					changed = true
				}
			}
			for i := 1; i <= want && len(f.vals) < MaxRecordKeys; i++ {
				key := base + "[" + positionInstance(i) + "]"
				if cur, had := f.vals[key]; had && bytes.Equal(cur, []byte("true")) {
					continue
				}
				f.vals[key] = json.RawMessage("true")
				added = append(added, key)
				changed = true
			}
		}
		if changed {
			// Instances of the repeats inside this one are counted next, in these.
			f.reindex()
		}
		for _, key := range added {
			f.applyDefaults(key, fl)
		}
	}
	return changed
}

// parentKeys returns the keys of every place a repeat (or any field) sits: its
// parent group's or instance's keys.
func (f *Form) parentKeys(fl *Field) []string {
	if fl.parent == nil {
		return []string{""}
	}
	if fl.parent.Type == TypeRepeat {
		var out []string
		for _, pk := range f.parentKeys(fl.parent) {
			out = append(out, f.Instances(pk, fl.parent)...)
		}
		return out
	}
	pks := f.parentKeys(fl.parent)
	for i, pk := range pks {
		pks[i] = JoinKey(pk, fl.parent.ID)
	}
	return pks
}

// concreteKeys returns the keys of a field in every live instance of the repeats
// it is in. For a repeat, the keys are those of its instances.
func (f *Form) concreteKeys(fl *Field) []string {
	pks := f.parentKeys(fl)
	if fl.Type == TypeRepeat {
		var out []string
		for _, pk := range pks {
			out = append(out, f.Instances(pk, fl)...)
		}
		return out
	}
	for i, pk := range pks {
		pks[i] = JoinKey(pk, fl.ID)
	}
	return pks
}

// compute evaluates a calculation or default of fl at key as the field's value.
func (f *Form) compute(fl *Field, ce *compiledExpr, key string) (json.RawMessage, bool) {
	v := f.eval(ce, key)
	raw, err := fl.fromExpr(v)
	if err != nil {
		return nil, false
	}
	c, err := fl.canonical(raw)
	if err != nil {
		return nil, false
	}
	return c, true
}

// eval evaluates an expression of the field at key.
func (f *Form) eval(ce *compiledExpr, key string) expr.Value {
	return ce.e.Eval(&env{form: f, ce: ce, key: key})
}

// Relevant reports whether the field at key is shown and its value kept: its own
// rule holds, and so do those of the groups and instances it is in.
func (f *Form) Relevant(key string) bool {
	if f.relevant == nil {
		f.relevant = map[string]bool{}
	}
	if r, ok := f.relevant[key]; ok {
		return r
	}
	r := f.relevantUncached(key)
	f.relevant[key] = r
	return r
}

func (f *Form) relevantUncached(key string) bool {
	fl, ok := f.tpl.Field(key)
	if !ok {
		return false
	}
	if fl.Type == TypeRepeat && !strings.HasSuffix(key, "]") {
		// The repeat as a whole (whether instances may be added): its rule read in
		// its parent's place, where its parent is relevant. Each instance has its
		// own relevance too.
		if ce := fl.exprs.relevant; ce != nil && !f.eval(ce, key).Bool() {
			return false
		}
		return f.parentRelevant(key)
	}
	if fl.ShowIf != nil && !f.tpl.Visible(fl.key, f.vals) {
		return false
	}
	if ce := fl.exprs.relevant; ce != nil && !f.eval(ce, key).Bool() {
		return false
	}
	return f.parentRelevant(key)
}

func (f *Form) parentRelevant(key string) bool {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return true
	}
	return f.Relevant(key[:i])
}

// Required reports whether the field at key must be answered before submitting.
func (f *Form) Required(key string) bool {
	fl, ok := f.tpl.Field(key)
	if !ok || !fl.Required.Set() {
		return false
	}
	if fl.Required.Expr == "" {
		return fl.Required.Const
	}
	return f.eval(fl.exprs.required, key).Bool()
}

// ReadOnly reports whether the field at key may not be changed by the worker: it
// says so, is computed, or is in a read-only group.
func (f *Form) ReadOnly(key string) bool {
	fl, ok := f.tpl.Field(key)
	if !ok {
		return true
	}
	if fl.exprs.calculation != nil && len(fl.exprs.trigger) == 0 || fl.Meta != "" {
		return true
	}
	if fl.ReadOnly.Expr != "" && f.eval(fl.exprs.readonly, key).Bool() || fl.ReadOnly.Const {
		return true
	}
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return f.ReadOnly(key[:i])
	}
	return false
}

// Problem returns what is wrong with the answer at key, for submitting: required
// but missing, or failing its constraint. A field that is not relevant has none.
func (f *Form) Problem(key string) (FieldError, bool) {
	fl, ok := f.tpl.Field(key)
	if !ok || !fl.HoldsValue() || !f.Relevant(key) {
		return FieldError{}, false
	}
	v := f.vals[key]
	if IsEmpty(v) {
		if fl.Asked() && f.Required(key) {
			msg := f.text(fl, textRequiredMsg, fl.RequiredMessage, key)
			if msg == "" {
				msg = fmt.Sprintf("%s is required", f.text(fl, textLabel, fl.Label, key))
			}
			return FieldError{Field: key, Rule: "required", Msg: msg}, true
		}
		return FieldError{}, false
	}
	if ce := fl.exprs.constraint; ce != nil && !f.eval(ce, key).Bool() {
		msg := f.text(fl, textConstraintMsg, fl.ConstraintMessage, key)
		if msg == "" {
			msg = fmt.Sprintf("the answer is not allowed (%s)", fl.Constraint)
		}
		return FieldError{Field: key, Rule: "constraint", Msg: msg}, true
	}
	return FieldError{}, false
}

// CanRefuse reports whether Form.Check can find a problem in any values of the
// template: some field holding a value may be required or has a constraint. When it
// is false, every form of the template passes Check, and a submitted record need not
// be checked.
func (t *Template) CanRefuse() bool {
	for _, fl := range t.all {
		if !fl.HoldsValue() {
			continue
		}
		if fl.Constraint != "" || fl.exprs.constraint != nil || fl.Asked() && fl.Required.Set() && (fl.Required.Expr != "" || fl.Required.Const) {
			return true
		}
	}
	return false
}

// Check returns every problem of the form as a submitted record must not have them:
// a *ValidationError in the form's order, or nil.
func (f *Form) Check() error {
	verr := &ValidationError{Template: f.tpl.Key()}
	for _, fl := range f.tpl.all {
		if !fl.HoldsValue() {
			continue
		}
		for _, key := range f.concreteKeys(fl) {
			if p, ok := f.Problem(key); ok {
				verr.Fields = append(verr.Fields, p)
			}
		}
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	return nil
}

// Label is the field's label at key in the form's language, with its ${}
// references filled in.
func (f *Form) Label(key string) string {
	fl, ok := f.tpl.Field(key)
	if !ok {
		return ""
	}
	return f.text(fl, textLabel, fl.Label, key)
}

// Hint is the field's hint at key, as Label.
func (f *Form) Hint(key string) string {
	fl, ok := f.tpl.Field(key)
	if !ok {
		return ""
	}
	return f.text(fl, textHelp, fl.Help, key)
}

func (f *Form) text(fl *Field, kind textKind, t Text, key string) string {
	lang := f.ctx.Language
	if lang == "" {
		lang = f.tpl.DefaultLanguage
	}
	s := t.In(lang)
	byLang := fl.exprs.texts[kind]
	if byLang == nil {
		return s
	}
	in := byLang[lang]
	if in == nil || !t.Has(lang) {
		in = byLang[""]
		if in == nil {
			// In falls back to the default text, then to the first language.
			for _, l := range t.Languages() {
				if t.m[l] == s {
					in = byLang[l]
					break
				}
			}
		}
	}
	if in == nil {
		return s
	}
	var b strings.Builder
	for i, lit := range in.lits {
		b.WriteString(lit)
		if i < len(in.refs) {
			b.WriteString(f.displayExpr(in.refs[i], key))
		}
	}
	return b.String()
}

// displayExpr renders the value a ${name} reference in a text stands for.
func (f *Form) displayExpr(ce *compiledExpr, key string) string {
	v := f.eval(ce, key)
	if len(ce.refs) == 1 {
		if g := ce.refs[0]; g.Type == TypeChoice || g.Type == TypeMultiChoice {
			var labels []string
			for _, s := range strings.Fields(v.String()) {
				if o, ok := g.Option(s); ok && !o.Label.IsZero() {
					labels = append(labels, f.optionLabel(o))
				} else {
					labels = append(labels, s)
				}
			}
			return strings.Join(labels, ", ")
		}
	}
	return v.String()
}

func (f *Form) optionLabel(o Option) string {
	lang := f.ctx.Language
	if lang == "" {
		lang = f.tpl.DefaultLanguage
	}
	if s := o.Label.In(lang); s != "" {
		return s
	}
	return o.Value
}

// Display renders the value at key as a person reads it, in the form's language:
// choices by their labels, an instance's marker as present or removed, everything
// else as DisplayValue does.
func (f *Form) Display(key string) string {
	raw := f.vals[key]
	fl, ok := f.tpl.Field(key)
	switch {
	case !ok || IsEmpty(raw):
		return DisplayValue(raw)
	case fl.Type == TypeRepeat && strings.HasSuffix(key, "]"):
		if bytes.Equal(raw, []byte("true")) {
			return "present"
		}
		return "removed"
	case fl.Type == TypeChoice || fl.Type == TypeMultiChoice || fl.Type == TypeRank:
		var labels []string
		for _, v := range strings.Fields(fl.exprValue(raw).String()) {
			if o, ok := fl.Option(v); ok {
				labels = append(labels, f.optionLabel(o))
			} else {
				labels = append(labels, v)
			}
		}
		return strings.Join(labels, ", ")
	}
	return DisplayValue(raw)
}

// Live reports whether key is in no removed repeat instance.
func (f *Form) Live(key string) bool {
	for i := strings.IndexByte(key, ']'); i >= 0; {
		if !bytes.Equal(f.vals[key[:i+1]], []byte("true")) {
			return false
		}
		j := strings.IndexByte(key[i+1:], ']')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return true
}

// OptionLabel is an option's label in the form's language, or its value.
func (f *Form) OptionLabel(o Option) string { return f.optionLabel(o) }

// Options returns the options the field at key offers now: all of them, or those
// its choice filter lets through.
func (f *Form) Options(key string) []Option {
	fl, ok := f.tpl.Field(key)
	if !ok {
		return nil
	}
	all := fl.ChoiceOptions()
	ce := fl.exprs.choiceFilter
	if ce == nil {
		return all
	}
	out := make([]Option, 0, len(all))
	e := &env{form: f, ce: ce, key: key}
	for i := range all {
		e.option = &all[i]
		if ce.e.Eval(e).Bool() {
			out = append(out, all[i])
		}
	}
	return out
}

// Title renders the record's title: the instance name, else the title fields.
func (f *Form) Title() string {
	if f.tpl.instName != nil {
		return strings.TrimSpace(f.eval(f.tpl.instName, "").String())
	}
	return f.tpl.RecordTitle(f.vals)
}

// ItemKind says what an item of a form's outline is.
type ItemKind uint8

// The kinds of items.
const (
	ItemField    ItemKind = iota // a question, note, or computed field
	ItemGroup                    // the start of a group; its fields follow, one level deeper
	ItemRepeat                   // a repeat as a whole: its instances follow
	ItemInstance                 // the start of one instance of a repeat; its fields follow
)

// Item is one line of a form's outline, in the order of the form.
type Item struct {
	Kind     ItemKind
	Key      string // the record key (a repeat's: its key under its parent, without instance)
	Parent   string // the key of the group or instance it is in; "" at the top
	Field    *Field
	Depth    int
	Position int // an instance's, from 1
}

// Items returns the form's outline: every group, repeat, instance and field, in
// order, relevant or not.
func (f *Form) Items() []Item {
	var out []Item
	var walk func(fields []Field, parent string, depth int)
	walk = func(fields []Field, parent string, depth int) {
		for i := range fields {
			fl := &fields[i]
			key := JoinKey(parent, fl.ID)
			switch fl.Type {
			case TypeGroup:
				out = append(out, Item{Kind: ItemGroup, Key: key, Parent: parent, Field: fl, Depth: depth})
				walk(fl.Fields, key, depth+1)
			case TypeRepeat:
				out = append(out, Item{Kind: ItemRepeat, Key: key, Parent: parent, Field: fl, Depth: depth})
				for n, ik := range f.Instances(parent, fl) {
					out = append(out, Item{Kind: ItemInstance, Key: ik, Parent: parent, Field: fl, Depth: depth + 1, Position: n + 1})
					walk(fl.Fields, ik, depth+2)
				}
			default:
				out = append(out, Item{Kind: ItemField, Key: key, Parent: parent, Field: fl, Depth: depth})
			}
		}
	}
	walk(f.tpl.Fields, "", 0)
	return out
}

// ClearIrrelevant clears the values of fields that are not relevant, as a
// submitted form holds no answer to a question it did not ask.
func (f *Form) ClearIrrelevant() {
	for _, fl := range f.tpl.all {
		if !fl.HoldsValue() {
			continue
		}
		for _, key := range f.concreteKeys(fl) {
			if !IsEmpty(f.vals[key]) && !f.Relevant(key) {
				f.vals[key] = null
			}
		}
	}
	f.changed()
}

// resolveFrom returns the keys of target as seen from the field at ctxKey: the
// repeats both are in are taken at ctxKey's instances, the others at all their
// live instances.
func (f *Form) resolveFrom(ctxKey string, target *Field) []string {
	keys, _ := f.resolve(ctxKey, target)
	return keys
}

// resolve is resolveFrom that also reports whether target has several places (or
// none) as seen from ctxKey: it is in a repeat ctxKey is not in.
func (f *Form) resolve(ctxKey string, target *Field) (keys []string, many bool) {
	// The chain of target's ancestors and itself, from the top.
	chain := make([]*Field, target.depth+1)
	for g, i := target, target.depth; g != nil; g, i = g.parent, i-1 {
		chain[i] = g
	}
	keys = []string{""}
	rest := ctxKey
	shared := true
	for _, g := range chain {
		var step, inst string
		if shared && rest != "" {
			step, rest, _ = strings.Cut(rest, "/")
			name := step
			if i := strings.IndexByte(step, '['); i >= 0 {
				name, inst = step[:i], step[i+1:len(step)-1]
			}
			shared = name == g.ID
		} else {
			shared = false
		}
		switch {
		case g.Type == TypeRepeat && shared && inst != "":
			for i := range keys {
				keys[i] = InstanceKey(keys[i], g.ID, inst)
			}
		case g.Type == TypeRepeat && (g != target || !shared):
			many = true
			var next []string
			for _, k := range keys {
				next = append(next, f.Instances(k, g)...)
			}
			keys = next
		default:
			for i := range keys {
				keys[i] = JoinKey(keys[i], g.ID)
			}
		}
	}
	return keys, many
}

// env is what an expression of a form reads.
type env struct {
	form   *Form
	ce     *compiledExpr
	key    string  // where the expression is evaluated
	option *Option // the option a choice filter is looking at
}

func (e *env) Ref(i int) expr.Value {
	if i < 0 || i >= len(e.ce.refs) {
		return expr.Str("")
	}
	return e.valueOf(e.ce.refs[i])
}

func (e *env) valueOf(g *Field) expr.Value {
	if g.repeat == nil && g.Type != TypeRepeat {
		// Outside every repeat a field has one place, its schema path.
		return e.form.exprValue(g, g.key)
	}
	keys, many := e.form.resolve(e.key, g)
	if g.Type == TypeRepeat {
		nodes := make([]expr.Value, len(keys))
		for i := range keys {
			nodes[i] = expr.Str("")
		}
		return expr.Nodes(nodes...)
	}
	if !many && len(keys) == 1 {
		return e.form.exprValue(g, keys[0])
	}
	nodes := make([]expr.Value, len(keys))
	for i, k := range keys {
		nodes[i] = e.form.exprValue(g, k)
	}
	return expr.Nodes(nodes...)
}

func (e *env) Path(p expr.Path) expr.Value {
	if e.option != nil && !p.Absolute && len(p.Steps) == 1 {
		switch s := p.Steps[0]; s {
		case "name":
			return expr.Str(e.option.Value)
		case "label":
			return expr.Str(e.form.optionLabel(*e.option))
		case ".", "..":
		default:
			return expr.Str(e.option.Filter[s])
		}
	}
	if len(p.Steps) > 0 && strings.HasPrefix(p.Steps[0], "instance(") {
		return e.instancePath(p)
	}
	g := e.resolvePath(p)
	if g == nil {
		return expr.Str("")
	}
	v := e.valueOf(g)
	for _, pr := range p.Predicates {
		if pr.Step != len(p.Steps)-1 {
			return expr.Str("") // filters on the steps before the last are not read
		}
		nodes := v.Nodes()
		kept := make([]expr.Value, 0, len(nodes))
		for i, n := range nodes {
			if e.holds(pr.Expr, &predEnv{env: e, pred: pr.Expr, node: n, pos: i + 1}, i+1) {
				kept = append(kept, n)
			}
		}
		v = expr.Nodes(kept...)
	}
	return v
}

// holds reports whether a predicate keeps the pos-th candidate: a number is a
// position, anything else a condition.
func (e *env) holds(pred *expr.Expr, pe *predEnv, pos int) bool {
	if c, ok := pred.Constant(); ok && c.Kind() == expr.Number {
		return c.Number() == float64(pos)
	}
	v := pred.Eval(pe)
	if v.Kind() == expr.Number {
		return v.Number() == float64(pos)
	}
	return v.Bool()
}

// instancePath reads a template's list of options as XForms' secondary instance
// of the same name: instance('list')/root/item[filter]/column, where a column is
// name, label, or one of the options' other columns. Without a column the items
// stand for their names.
func (e *env) instancePath(p expr.Path) expr.Value {
	name := strings.TrimSuffix(strings.TrimPrefix(p.Steps[0], "instance("), ")")
	name = strings.Trim(name, `'"`)
	opts, ok := e.form.tpl.List(name)
	if !ok || len(p.Steps) < 3 || len(p.Steps) > 4 || p.Steps[1] != "root" || p.Steps[2] != "item" {
		return expr.Str("")
	}
	items := make([]*Option, len(opts))
	for i := range opts {
		items[i] = &opts[i]
	}
	for _, pr := range p.Predicates {
		if pr.Step != 2 {
			return expr.Str("")
		}
		kept := items[:0:0]
		for i, o := range items {
			if e.holds(pr.Expr, &predEnv{env: e, pred: pr.Expr, option: o, pos: i + 1}, i+1) {
				kept = append(kept, o)
			}
		}
		items = kept
	}
	col := "name"
	if len(p.Steps) == 4 {
		col = p.Steps[3]
	}
	nodes := make([]expr.Value, len(items))
	for i, o := range items {
		nodes[i] = expr.Str(optionColumn(e.form, o, col))
	}
	return expr.Nodes(nodes...)
}

func optionColumn(f *Form, o *Option, col string) string {
	switch col {
	case "name":
		return o.Value
	case "label":
		return f.optionLabel(*o)
	}
	return o.Filter[col]
}

// predEnv is what a predicate reads: its candidate (a node of a path, or an option
// of a list) as "." and through relative paths, its position, and, through its own
// ${name} references and current(), the form where the whole expression is read.
type predEnv struct {
	env    *env
	pred   *expr.Expr
	node   expr.Value
	option *Option
	pos    int
}

func (pe *predEnv) Ref(i int) expr.Value {
	refs := pe.pred.Refs()
	if i < 0 || i >= len(refs) {
		return expr.Str("")
	}
	fs := pe.env.form.tpl.byName[refs[i]]
	if len(fs) == 0 {
		return expr.Str("")
	}
	return pe.env.valueOf(fs[0])
}

func (pe *predEnv) Path(p expr.Path) expr.Value {
	if len(p.Steps) > 0 && p.Steps[0] == "current()" {
		if len(p.Steps) == 1 {
			return pe.env.Current()
		}
		q := p
		q.Steps = p.Steps[1:]
		return pe.env.Path(q)
	}
	if pe.option != nil && !p.Absolute && len(p.Steps) == 1 && p.Steps[0] != ".." {
		if p.Steps[0] == "." {
			return expr.Str(pe.option.Value)
		}
		return expr.Str(optionColumn(pe.env.form, pe.option, p.Steps[0]))
	}
	if !p.Absolute && len(p.Steps) == 1 && p.Steps[0] == "." {
		return pe.Current()
	}
	return pe.env.Path(p)
}

func (pe *predEnv) Current() expr.Value {
	if pe.option != nil {
		return expr.Str(pe.option.Value)
	}
	return pe.node
}

func (pe *predEnv) Position() int                              { return pe.pos }
func (pe *predEnv) Now() time.Time                             { return pe.env.Now() }
func (pe *predEnv) UUID() string                               { return pe.env.UUID() }
func (pe *predEnv) ChoiceLabel(name, value string) string      { return pe.env.ChoiceLabel(name, value) }
func (pe *predEnv) IndexedRepeat(args []expr.Value) expr.Value { return pe.env.IndexedRepeat(args) }

// resolvePath finds the field a location path names, or nil.
func (e *env) resolvePath(p expr.Path) *Field {
	t := e.form.tpl
	var cur *Field
	steps := p.Steps
	if p.Absolute {
		if len(steps) == 0 {
			return nil
		}
		steps = steps[1:] // the form's root element, whatever its name
	} else {
		cur = e.ce.owner
	}
	for _, s := range steps {
		switch s {
		case ".":
		case "..":
			if cur == nil {
				return nil
			}
			cur = cur.parent
		default:
			var fields []Field
			if cur == nil {
				fields = t.Fields
			} else {
				fields = cur.Fields
			}
			var next *Field
			for i := range fields {
				if fields[i].ID == s {
					next = &fields[i]
				}
			}
			if next == nil {
				return nil
			}
			cur = next
		}
	}
	return cur
}

func (e *env) Current() expr.Value {
	if e.ce.owner == nil {
		return expr.Str("")
	}
	return e.form.exprValue(e.ce.owner, e.key)
}

func (e *env) Position() int {
	k := e.key
	for {
		i := strings.LastIndexByte(k, ']')
		if i < 0 {
			return 0
		}
		k = k[:i+1]
		j := strings.LastIndexByte(k, '[')
		base, id := k[:j], k[j+1:len(k)-1]
		if n := slices.Index(e.form.inst[base], id); n >= 0 {
			return n + 1
		}
		k = base
	}
}

func (e *env) Now() time.Time { return e.form.ctx.now() }

func (e *env) UUID() string { return e.form.ctx.newID() }

func (e *env) ChoiceLabel(name, value string) string {
	fs := e.form.tpl.byName[name]
	if len(fs) == 0 {
		return ""
	}
	var labels []string
	for _, v := range strings.Fields(value) {
		o, ok := fs[0].Option(v)
		if !ok {
			continue
		}
		labels = append(labels, e.form.optionLabel(o))
	}
	return strings.Join(labels, " ")
}

// IndexedRepeat answers indexed-repeat(${field}, ${repeat}, n[, ${repeat2}, n2…]):
// the field's value in the n-th instance of the repeat.
func (e *env) IndexedRepeat(args []expr.Value) expr.Value {
	if len(args) < 3 || len(args)%2 == 0 {
		return expr.Str("")
	}
	ref := func(v expr.Value) *Field {
		i, ok := v.RefIndex()
		if !ok || i < 0 || i >= len(e.ce.refs) {
			return nil
		}
		return e.ce.refs[i]
	}
	target := ref(args[0])
	if target == nil {
		return expr.Str("")
	}
	scope := e.key
	for i := 1; i+1 < len(args); i += 2 {
		rep := ref(args[i])
		n := int(args[i+1].Number())
		if rep == nil || rep.Type != TypeRepeat || n < 1 {
			return expr.Str("")
		}
		// The repeat's place as seen from the scope; then its n-th instance.
		parents := e.form.resolveFrom(scope, rep)
		if len(parents) == 0 {
			return expr.Str("")
		}
		base := parents[0]
		if j := strings.LastIndexByte(base, '['); j >= 0 && strings.HasSuffix(base, "]") {
			base = base[:j]
		}
		ids := e.form.inst[base]
		if n > len(ids) {
			return expr.Str("")
		}
		scope = base + "[" + ids[n-1] + "]"
	}
	keys := e.form.resolveFrom(scope, target)
	if len(keys) == 0 {
		return expr.Str("")
	}
	return e.form.exprValue(target, keys[0])
}

// exprValue is the value at key as expressions see it.
func (f *Form) exprValue(fl *Field, key string) expr.Value {
	raw := f.vals[key]
	if IsEmpty(raw) {
		return expr.Str("")
	}
	return fl.exprValue(raw)
}

// exprValue converts a stored value of the field to what expressions see: numbers
// as numbers, dates as dates, choices as their values (space-separated for several),
// attachments by file name, points as "lat lon alt accuracy", as in an XForm.
func (f *Field) exprValue(raw json.RawMessage) expr.Value {
	switch f.Type {
	case TypeInteger, TypeDecimal, TypeRange:
		n, err := parseDecimal(raw)
		if err != nil {
			return expr.Str(DisplayValue(raw))
		}
		return expr.Num(n)
	case TypeDate:
		t, err := parseDate(raw)
		if err != nil {
			break
		}
		return expr.DateV(t)
	case TypeDateTime:
		t, err := parseDateTime(raw)
		if err != nil {
			break
		}
		return expr.DateTimeV(t)
	case TypeYesNo:
		return expr.BoolV(bytes.Equal(raw, []byte("true")))
	case TypeMultiChoice, TypeRank:
		if s, ok := spaceSeparated(raw); ok {
			return expr.Str(s)
		}
		var list []string
		if json.Unmarshal(raw, &list) == nil {
			return expr.Str(strings.Join(list, " "))
		}
	case TypeGeo:
		var g Geo
		if json.Unmarshal(raw, &g) == nil {
			return expr.Str(g.xform())
		}
	case TypeGeoTrace, TypeGeoShape:
		var pts []Geo
		if json.Unmarshal(raw, &pts) == nil {
			parts := make([]string, len(pts))
			for i, p := range pts {
				parts[i] = p.xform()
			}
			return expr.Str(strings.Join(parts, ";"))
		}
	case TypeSignature:
		var a Attachment
		if json.Unmarshal(raw, &a) == nil {
			return expr.Str(a.fileName())
		}
	case TypePhoto, TypeFile, TypeAudio, TypeVideo:
		var list []Attachment
		if json.Unmarshal(raw, &list) == nil {
			names := make([]string, len(list))
			for i, a := range list {
				names[i] = a.fileName()
			}
			return expr.Str(strings.Join(names, " "))
		}
	}
	if s, ok := fastString(raw); ok {
		return expr.Str(s)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return expr.Str(s)
	}
	return expr.Str(DisplayValue(raw))
}

func (g Geo) xform() string {
	return strconv.FormatFloat(g.Lat, 'f', -1, 64) + " " + strconv.FormatFloat(g.Lon, 'f', -1, 64) + " " +
		strconv.FormatFloat(g.Altitude, 'f', -1, 64) + " " + strconv.FormatFloat(g.Accuracy, 'f', -1, 64)
}

func (a Attachment) fileName() string {
	if a.Name != "" {
		return a.Name
	}
	return a.SHA256
}

// fromExpr converts what an expression computed into a value of the field's type;
// an empty result clears the field.
func (f *Field) fromExpr(v expr.Value) (json.RawMessage, error) {
	if v.Kind() == expr.NodeSet {
		nodes := v.Nodes()
		if len(nodes) == 0 {
			return null, nil
		}
		v = nodes[0]
	}
	s := v.String()
	if v.Kind() == expr.String && s == "" {
		return null, nil
	}
	switch f.Type {
	case TypeInteger, TypeDecimal, TypeRange:
		n := v.Number()
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return null, nil
		}
		if f.Type == TypeInteger {
			n = math.Trunc(n)
		}
		return marshal(n), nil
	case TypeDate:
		if v.Kind() == expr.Number {
			return marshal(time.Unix(0, 0).UTC().AddDate(0, 0, int(math.Floor(v.Number()))).Format(dateLayout)), nil
		}
		if len(s) >= 10 {
			s = s[:10]
		}
		return marshal(s), nil
	case TypeDateTime:
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return marshal(t.Format(time.RFC3339Nano)), nil
		}
		return marshal(s), nil
	case TypeYesNo:
		return marshal(v.Bool()), nil
	case TypeMultiChoice, TypeRank:
		list := strings.Fields(s)
		if list == nil {
			list = []string{}
		}
		return marshal(list), nil
	case TypeGeo:
		g, err := parseXFormPoint(s)
		if err != nil {
			return nil, err
		}
		return marshal(g), nil
	case TypeText, TypeMultiline, TypeChoice, TypeBarcode, TypeHidden, TypeCalculate, TypeAcknowledge:
		if f.Type == TypeText {
			s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
		}
		return marshal(s), nil
	}
	return nil, fmt.Errorf("a %s field cannot be computed", f.Type)
}

// XFormGeoValue turns a point, line or shape as XForms write it ("lat lon alt
// accuracy", points separated by ';') into the value a geolocation, geotrace or
// geoshape field holds; ok is false for anything else.
func XFormGeoValue(t FieldType, s string) (json.RawMessage, bool) {
	switch t {
	case TypeGeo:
		g, err := parseXFormPoint(s)
		if err != nil {
			return nil, false
		}
		return marshal(g), true
	case TypeGeoTrace, TypeGeoShape:
		pts := []Geo{}
		for part := range strings.SplitSeq(s, ";") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			g, err := parseXFormPoint(part)
			if err != nil {
				return nil, false
			}
			pts = append(pts, g)
		}
		return marshal(pts), true
	}
	return nil, false
}

// parseXFormPoint reads "lat lon [alt [accuracy]]".
func parseXFormPoint(s string) (Geo, error) {
	parts := strings.Fields(s)
	if len(parts) < 2 || len(parts) > 4 {
		return Geo{}, fmt.Errorf("%q is not a point as \"lat lon alt accuracy\"", s)
	}
	var nums [4]float64
	for i, p := range parts {
		n, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return Geo{}, fmt.Errorf("%q is not a point as \"lat lon alt accuracy\"", s)
		}
		nums[i] = n
	}
	return Geo{Lat: nums[0], Lon: nums[1], Altitude: nums[2], Accuracy: nums[3]}, nil
}

// spaceSeparated turns a list of plain strings, as ["a","b"], into "a b" without
// decoding JSON; ok is false for anything else (escapes, other values).
func spaceSeparated(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '[' || raw[len(raw)-1] != ']' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if len(in) == 0 {
		return "", true
	}
	b := make([]byte, 0, len(in))
	for len(in) > 0 {
		if in[0] != '"' {
			return "", false
		}
		end := bytes.IndexByte(in[1:], '"')
		if end < 0 {
			return "", false
		}
		item := in[1 : 1+end]
		if bytes.IndexByte(item, '\\') >= 0 || bytes.IndexByte(item, ' ') >= 0 {
			return "", false
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, item...)
		in = in[2+end:]
		if len(in) > 0 {
			if in[0] != ',' || len(in) == 1 {
				return "", false
			}
			in = in[1:]
		}
	}
	return string(b), true
}
