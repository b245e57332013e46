package app

// Saving: a debounced autosave of what changed since the last save, Save draft,
// and Submit, which first runs the form's own checks and shows every problem
// under its field.

import (
	"bytes"
	"errors"
	"fmt"

	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// updateDirty notes what is not saved yet: the keys whose values differ from
// those last saved, and entries that are not values yet or not stored yet.
func (v *formView) updateDirty() {
	v.dirty = map[string]bool{}
	for k := range v.changedKeys() {
		v.dirty[k] = true
	}
	for _, r := range v.rows {
		if r.bad || r.pending() {
			v.dirty[r.key] = true
		}
	}
}

// changedKeys returns the keys whose values differ from those last saved, with
// their values now (null for a cleared one).
func (v *formView) changedKeys() form.Values {
	cur := v.fm.Values()
	out := form.Values{}
	for k, val := range cur {
		if !sameValue(val, v.base[k]) {
			out[k] = orNull(val)
		}
	}
	for k, val := range v.base {
		if _, ok := cur[k]; !ok && !sameValue(val, nil) {
			out[k] = fieldNull
		}
	}
	return out
}

// submitProblems lists what stops the form from being submitted, in the order of
// the form: entries that are not values, and the form's own checks (required,
// constraints). Problems of fields with no row on screen come last.
func (v *formView) submitProblems() []form.FieldError {
	checked := map[string]form.FieldError{}
	var order []string
	var ve *form.ValidationError
	if err := v.fm.Check(); errors.As(err, &ve) {
		for _, fe := range ve.Fields {
			if r := v.byID[fe.Field]; r != nil && fe.Rule == "required" && r.pending() {
				continue // a drawn signature is stored with the submit
			}
			checked[fe.Field] = fe
			order = append(order, fe.Field)
		}
	}
	var out []form.FieldError
	for _, r := range v.rows {
		if r.input == nil || !v.fm.Relevant(r.key) {
			continue
		}
		if fe, bad := v.inputProblem(r); bad {
			out = append(out, fe)
		} else if fe, ok := checked[r.key]; ok {
			out = append(out, fe)
		}
		delete(checked, r.key)
	}
	for _, k := range order {
		if fe, ok := checked[k]; ok {
			out = append(out, fe)
		}
	}
	return out
}

// unsavable returns the rows whose entries cannot be saved as they are.
func (v *formView) unsavable() []*formRow {
	var out []*formRow
	for _, r := range v.rows {
		if r.bad {
			out = append(out, r)
		}
	}
	return out
}

// showProblems shows errors under their fields; replace clears the others first.
// With scroll, the form goes to the first field with a problem.
func (v *formView) showProblems(errs []form.FieldError, replace, scroll bool) {
	if replace {
		for _, r := range v.rows {
			r.setProblem("")
		}
	}
	var first *formRow
	for _, fe := range errs {
		r := v.byID[fe.Field]
		if r == nil || r.problem == nil {
			continue // a field of another template version, or not on screen: the state says it
		}
		r.showProblem(fe)
		if first == nil && v.fm.Relevant(r.key) {
			first = r
		}
	}
	v.relayout()
	v.jump.refresh()
	if scroll && first != nil {
		v.jumpTo(first)
	}
}

// offScreen says the problems of fields with no row, for the state line.
func (v *formView) offScreen(errs []form.FieldError) string {
	msg := ""
	for _, fe := range errs {
		if r := v.byID[fe.Field]; r == nil || r.problem == nil {
			msg += " " + fe.Error() + "."
		}
	}
	return msg
}

// scheduleAutosave saves the edits debounce after the latest one.
func (v *formView) scheduleAutosave() {
	v.stopAutosave()
	gen := v.timerGen
	v.stopTimer = v.after(v.debounce, func() {
		if gen != v.timerGen || v.finished {
			return // stopped, or superseded, after it fired
		}
		v.stopTimer = nil
		v.requestSave("", nil)
	})
}

func (v *formView) stopAutosave() {
	v.timerGen++
	if v.stopTimer != nil {
		v.stopTimer()
		v.stopTimer = nil
	}
}

// formSaveRequest is a save asked for, and what to do once it is done.
type formSaveRequest struct {
	status string // "" keeps the record's status
	then   []func(error)
	// refused is set when a submit was refused by the form's own checks: what
	// can be saved is, and then gets this error.
	refused error
}

func (q *formSaveRequest) finish(err error) {
	for _, f := range q.then {
		f(err)
	}
}

// requestSave saves the edits so far, with a status ("" keeps it); then, when not
// nil, gets the outcome. Saves run one at a time, so a new record is created once
// and later saves edit it.
func (v *formView) requestSave(status string, then func(error)) {
	if v.finished {
		return
	}
	v.stopAutosave()
	req := formSaveRequest{status: status}
	if then != nil {
		req.then = append(req.then, then)
	}
	if !v.saving {
		v.startSave(req)
		return
	}
	if v.queued == nil {
		v.queued = &formSaveRequest{}
	}
	v.queued.status = strongerStatus(v.queued.status, status)
	v.queued.then = append(v.queued.then, req.then...)
}

// strongerStatus merges two requested statuses: submitting wins over saving a
// draft, which wins over keeping the status.
func strongerStatus(a, b string) string {
	rank := map[string]int{"": 0, form.StatusDraft: 1, form.StatusSubmitted: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// formSaveJob is one save's snapshot: what is sent.
type formSaveJob struct {
	record   string
	template form.TemplateKey
	status   string
	values   form.Values
	blobs    map[string][]byte // signatures to store first, by key
	blobRevs map[string]int
	blobName map[string]string
}

// empty reports a job with nothing to write: it would change nothing, or create an
// empty draft.
func (j *formSaveJob) empty() bool {
	return len(j.values) == 0 && len(j.blobs) == 0 &&
		(j.status == "" || j.record == "" && j.status == form.StatusDraft)
}

// formSaveResult is what a save's background work hands back.
type formSaveResult struct {
	rec         form.Record
	attachments map[string]form.Attachment
	err         error
}

func (v *formView) startSave(req formSaveRequest) {
	if req.status == form.StatusSubmitted {
		if probs := v.submitProblems(); len(probs) > 0 {
			v.showProblems(probs, true, true)
			v.setState(fmt.Sprintf("Not submitted: %s attention; each says what is wrong under it.", fieldCount(len(probs), "field needs", "fields need"))+v.offScreen(probs),
				widget.DangerImportance)
			// What can be saved still is, as a draft would be.
			req.status, req.refused = "", errFormIncomplete
		} else {
			v.showProblems(nil, true, false)
			v.clearIrrelevant()
		}
	}
	job := v.snapshot(req.status)
	if job.empty() {
		req.finish(req.refused)
		return
	}
	v.saving = true
	if len(req.then) > 0 && req.refused == nil {
		// The worker asked for this save; autosaves go quietly.
		v.setState("Saving…", widget.LowImportance)
	}
	v.work.Go(func() {
		res := v.store(job)
		v.toUI(func() { v.saved(job, res, req) })
	})
}

// clearIrrelevant empties the answers of questions the form no longer asks, as
// they are not part of it (a hazard list when no hazard was found); before a
// submit only, so that switching an answer back and forth while filling in loses
// nothing.
func (v *formView) clearIrrelevant() {
	v.fm.ClearIrrelevant()
	for _, r := range v.rows {
		if r.input == nil || v.fm.Relevant(r.key) || !r.bad && !r.pending() {
			continue
		}
		v.showing = true
		r.input.show(fieldNull)
		v.showing = false
		r.bad, r.val = false, nil
		r.setProblem("")
	}
	v.refresh()
	v.updateDirty()
}

// snapshot takes what changed since the last save and can be saved; entries that
// are not values yet stay on screen, unsaved.
func (v *formView) snapshot(status string) *formSaveJob {
	job := &formSaveJob{record: v.recordID, template: v.tpl.Key(), status: status, values: form.Values{},
		blobs: map[string][]byte{}, blobRevs: map[string]int{}, blobName: map[string]string{}}
	if v.recordID != "" && status == v.status {
		job.status = ""
	}
	for k, val := range v.changedKeys() {
		if r := v.byID[k]; r != nil && (r.bad || r.pending()) {
			continue
		}
		job.values[k] = val
	}
	for _, r := range v.rows {
		if !r.pending() {
			continue
		}
		data, rev, err := r.input.(blobInput).blob()
		if err != nil {
			v.log.Error("render a signature", "field", r.field.Key(), "err", err)
			continue
		}
		job.blobs[r.key], job.blobRevs[r.key], job.blobName[r.key] = data, rev, r.field.ID+".png"
	}
	return job
}

// store runs a save off the UI goroutine: signatures first, then the record. It
// touches nothing of the screen.
func (v *formView) store(job *formSaveJob) formSaveResult {
	res := formSaveResult{attachments: map[string]form.Attachment{}}
	for key, data := range job.blobs {
		a, err := v.replica.AddAttachment(v.ctx, bytes.NewReader(data), "image/png", job.blobName[key])
		if err != nil {
			res.err = fmt.Errorf("store the signature: %w", err)
			return res
		}
		job.values[key] = fieldJSON(a)
		res.attachments[key] = a
	}
	res.rec, res.err = v.replica.Save(v.ctx, Edit{Record: job.record, Template: job.template, Values: job.values, Status: job.status})
	return res
}

// saved takes a save's outcome in, then starts the save asked for meanwhile.
func (v *formView) saved(job *formSaveJob, res formSaveResult, req formSaveRequest) {
	v.saving = false
	if res.err == nil {
		v.recordID, v.status = res.rec.ID, res.rec.Status()
		for k, val := range job.values {
			v.base[k] = val
		}
		for key, a := range res.attachments {
			r := v.byID[key]
			if r == nil {
				continue
			}
			b := r.input.(blobInput)
			b.stored(job.blobRevs[key], a)
			if !b.pending() {
				_ = v.fm.Set(key, fieldJSON(a))
				r.val = v.fm.Value(key)
			}
		}
		if req.refused == nil {
			v.showSaved(job)
		}
	} else {
		// A save the worker asked for (a button) goes to the problem.
		v.saveFailed(job, res.err, len(req.then) > 0)
	}
	v.updateDirty()
	v.updateButtons()
	if res.err == nil {
		res.err = req.refused
	}
	req.finish(res.err)
	if q := v.queued; q != nil && !v.finished {
		v.queued = nil
		v.startSave(*q)
	}
}

func (v *formView) showSaved(job *formSaveJob) {
	at := v.now().In(v.loc).Format("15:04")
	text := "Draft saved at " + at + "."
	switch {
	case job.status == form.StatusSubmitted:
		text = "Submitted at " + at + "."
	case v.status == form.StatusSubmitted:
		text = "Changes saved at " + at + "."
	}
	if bad := v.unsavable(); len(bad) > 0 {
		v.setState(text+" Not saved yet: "+v.rowLabels(bad)+" — see the message under it.", widget.WarningImportance)
		return
	}
	v.setState(text, widget.SuccessImportance)
}

func (v *formView) saveFailed(job *formSaveJob, err error, scroll bool) {
	var ve *form.ValidationError
	if errors.As(err, &ve) {
		// Field errors hold what was typed: they are shown, never logged.
		ids := make([]string, len(ve.Fields))
		for i, fe := range ve.Fields {
			ids[i] = fe.Field + ":" + fe.Rule
		}
		v.log.Info("form not saved: invalid", "record", job.record, "template", job.template, "fields", ids)
		v.showProblems(ve.Fields, job.status == form.StatusSubmitted, scroll)
		msg := "Not saved: " + fieldCount(len(ve.Fields), "field needs", "fields need") + " attention; each says what is wrong under it."
		if v.status == form.StatusSubmitted && job.status == "" {
			msg = "Not saved: a submitted form must stay complete. Fix the fields marked, or save it as a draft."
		}
		v.setState(msg+v.offScreen(ve.Fields), widget.DangerImportance)
		return
	}
	v.log.Warn("save form", "record", job.record, "template", job.template, "err", err)
	v.setState("Not saved: "+err.Error()+". What you entered stays here and is saved with your next change.", widget.DangerImportance)
}

// fieldCount is "1 field needs" or "3 fields need".
func fieldCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// saveDraft saves with the status draft and leaves, unless some entries cannot be
// saved: those are shown, and the form stays open.
func (v *formView) saveDraft() {
	v.requestSave(form.StatusDraft, func(err error) {
		if err != nil {
			return // shown by saveFailed
		}
		if bad := v.unsavable(); len(bad) > 0 {
			errs := make([]form.FieldError, len(bad))
			for i, r := range bad {
				errs[i], _ = v.inputProblem(r)
			}
			v.showProblems(errs, false, true)
			return
		}
		v.finish(v.recordID)
	})
}

// submitForm checks the whole form, saves it as submitted and leaves.
func (v *formView) submitForm() {
	v.requestSave(form.StatusSubmitted, func(err error) {
		if err == nil {
			v.finish(v.recordID)
		}
	})
}
