package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/fieldforms/fieldforms/form"
)

// openRecord shows a record in the main view (wide) and settles its reads.
func openRecord(t *testing.T, f *fakeReplica, id string) (*mainView, uiQueue, *testSaver) {
	t.Helper()
	v, q, s := testMain(t, Deps{Replica: f}, desktopSize)
	v.openRecord(id)
	q.settle(v.env.ui)
	return v, q, s
}

func TestRecordView(t *testing.T) {
	t.Run("Values", func(t *testing.T) {
		f := newFakeReplica(t)
		sig := f.addFile(t, pngBytes(t, 200, 80), "image/png", "signature.png")
		r := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "site-inspection"}, Status: form.StatusSubmitted, Values: values(t, map[string]any{
			"site_code": "NW-0412", "inspector": "Ana Lima", "inspection_date": "2026-02-10",
			"location": map[string]any{"lat": 51.5, "lon": -0.12}, "hazards_present": false,
			"overall_rating": "conditional", "corrective_actions": "Fence the excavation on the north side.",
			"inspector_signature": sig})})
		v, _, _ := openRecord(t, f, r.ID)
		rv := v.record
		texts := shownTexts(rv.view)
		for _, want := range []string{
			"NW-0412 · 2026-02-10",
			"Site details", "Fill this in on arrival, before walking the site.", // a note: heading and help
			"Site code", "NW-0412", "Inspector", "Ana Lima",
			"Location", "51.500000, -0.120000",
			"Were any hazards found?", "No",
			"Overall rating", "Pass with conditions", // the option's label, not its value
			"Corrective actions", "Fence the excavation on the north side.",
			"Inspector's signature",
		} {
			if !slices.Contains(texts, want) {
				t.Fatalf("%q not shown; shown: %q", want, texts)
			}
		}
		if !strings.HasPrefix(rv.meta.Text, "Site inspection (version 1) · Submitted · created by ana") {
			t.Fatalf("meta %q", rv.meta.Text)
		}
		// Fields hidden by show-if rules, with no value, are left out.
		if slices.Contains(texts, "Hazards found") || slices.Contains(texts, "Follow-up inspection") {
			t.Fatalf("hidden fields shown: %q", texts)
		}
		// The signature is fetched and shown as an image.
		if f.callCount("OpenAttachment") != 1 {
			t.Fatalf("%d attachment reads, want 1", f.callCount("OpenAttachment"))
		}
		if !rv.editBtn.Visible() || !rv.deleteBtn.Visible() || rv.restoreBtn.Visible() {
			t.Fatal("a live record shows no Edit and Delete, or shows Restore")
		}
	})

	t.Run("Photos", func(t *testing.T) {
		f := newFakeReplica(t)
		p1 := f.addFile(t, pngBytes(t, 1800, 200), "image/png", "scene-1.png")
		p2 := f.addFile(t, pngBytes(t, 30, 60), "image/png", "scene-2.png")
		doc := f.addFile(t, []byte("%PDF-1.4 witness"), "application/pdf", "witness.pdf")
		r := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "incident-report"}, Values: values(t, map[string]any{
			"photos": []form.Attachment{p1, p2}, "witness_statements": []form.Attachment{doc}})})
		// The device is offline and lacks the second photo's bytes; the
		// first photo is still on its way.
		gate := make(chan struct{})
		f.openGate = gate
		f.openErr = map[string]error{p2.SHA256: errNotDownloaded}

		v, q, saver := testMain(t, Deps{Replica: f}, desktopSize)
		v.openRecord(r.ID)
		q.until(t, "the record", func() bool { return v.record.loaded })
		photos := v.record.attachments
		if len(photos) != 3 {
			t.Fatalf("%d attachment views, want 3", len(photos))
		}
		for _, p := range photos[:2] {
			if p.state != attachPending || !strings.HasPrefix(p.status.Text, "Loading ") {
				t.Fatalf("photo %s before its bytes came: state %q, status %q", p.a.Name, p.state, p.status.Text)
			}
		}
		close(gate)
		q.settle(v.env.ui)
		if photos[0].state != attachShown || photos[0].img == nil {
			t.Fatalf("first photo: state %q", photos[0].state)
		}
		if b := photos[0].img.Image.Bounds(); b.Dx() > maxPreviewSide || b.Dy() > maxPreviewSide {
			t.Fatalf("an 1800×200 photo is kept at %v", b)
		}
		if photos[1].state != attachFailed || !photos[1].retryRow.Visible() || !strings.Contains(photos[1].status.Text, "not on this device") {
			t.Fatalf("missing photo: state %q, retry %v, status %q", photos[1].state, photos[1].retryRow.Visible(), photos[1].status.Text)
		}

		// Back online: Try again shows it.
		f.mu.Lock()
		f.openErr = nil
		f.mu.Unlock()
		test.Tap(photos[1].retry)
		q.settle(v.env.ui)
		if photos[1].state != attachShown || photos[1].retryRow.Visible() {
			t.Fatalf("after retry: state %q", photos[1].state)
		}

		// A file is listed, not fetched, until the worker saves a copy.
		file := photos[2]
		if file.state != "" || !slices.Contains(shownTexts(file.view), "witness.pdf") {
			t.Fatalf("file: state %q, texts %q", file.state, shownTexts(file.view))
		}
		out := &memWriter{name: "witness.pdf"}
		saver.next = out
		test.Tap(file.save)
		q.settle(v.env.ui)
		if out.String() != "%PDF-1.4 witness" || !out.closed || file.status.Text != "Saved to witness.pdf" {
			t.Fatalf("save a copy: wrote %q (closed %v), status %q", out.String(), out.closed, file.status.Text)
		}
	})

	t.Run("History", func(t *testing.T) {
		f := newFakeReplica(t)
		f.at(mustTime(t, "2026-03-01T09:00:00Z"))
		r := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "checklist"}, Values: values(t, map[string]any{"name": "Pump room", "area": "north"})})
		f.mustSave(t, Edit{Record: r.ID, Values: values(t, map[string]any{"area": "south", "ok": true}), Status: form.StatusSubmitted})
		v, _, _ := openRecord(t, f, r.ID)
		texts := shownTexts(v.record.history)
		want := []string{
			"2026-03-01 09:01 · Submitted by ana on device tablet-7",
			"Status: Draft → Submitted",
			"Area: North yard → South yard",
			"All in order?: set to Yes",
			"2026-03-01 09:00 · Created by ana on device tablet-7",
		}
		for _, w := range want {
			if !slices.Contains(texts, w) {
				t.Fatalf("history lacks %q; shown: %q", w, texts)
			}
		}
		if slices.Index(texts, want[0]) > slices.Index(texts, want[4]) {
			t.Fatalf("history is not newest first: %q", texts)
		}
	})

	t.Run("HistoryFails", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 1)
		f.histErr = errors.New("audit log unreadable")
		id := f.records[firstKey(f)].rec.ID
		v, _, _ := openRecord(t, f, id)
		if m := v.record.historyMsg; !m.Visible() || !strings.Contains(m.Text, "audit log unreadable") {
			t.Fatalf("history message %q", m.Text)
		}
		if !slices.Contains(shownTexts(v.record.view), "Form 1") {
			t.Fatal("a history failure hides the record")
		}
	})

	t.Run("DeleteAndRestore", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 3)
		v, q, _ := testMain(t, Deps{Replica: f}, desktopSize)
		w := v.env.w
		v.home.records.list.Select(0) // Form 3
		q.settle(v.env.ui)
		rv := v.record

		// Delete asks first; keeping it changes nothing.
		test.Tap(rv.deleteBtn)
		if texts := overlayTexts(w); !containsText(texts, deleteTitle) {
			t.Fatalf("Delete shows %q, want the confirmation", texts)
		}
		tapOverlayButton(t, w, "Keep it")
		q.settle(v.env.ui)
		if f.callCount("Delete") != 0 {
			t.Fatal("deleted although the worker kept it")
		}

		test.Tap(rv.deleteBtn)
		tapOverlayButton(t, w, "Delete")
		q.settle(v.env.ui)
		if f.callCount("Delete") != 1 {
			t.Fatalf("%d deletes", f.callCount("Delete"))
		}
		if !rv.banner.Visible() || rv.banner.Text != deletedBanner || !rv.restoreBtn.Visible() || rv.deleteBtn.Visible() || rv.editBtn.Visible() {
			t.Fatalf("after delete: banner %q (%v), restore %v, delete %v, edit %v",
				rv.banner.Text, rv.banner.Visible(), rv.restoreBtn.Visible(), rv.deleteBtn.Visible(), rv.editBtn.Visible())
		}
		if !strings.Contains(rv.meta.Text, "Deleted") {
			t.Fatalf("meta %q", rv.meta.Text)
		}
		if got, want := shownTitles(v.home.records), []string{"Form 2", "Form 1"}; !slices.Equal(got, want) {
			t.Fatalf("live list after delete: %q, want %q", got, want)
		}
		if !containsText(shownTexts(rv.history), "Deleted by ana") || !containsText(shownTexts(rv.history), "Deleted: set to Yes") {
			t.Fatalf("history after delete: %q", shownTexts(rv.history))
		}

		// The deleted form is found under Deleted, and Restore brings it back.
		v.home.deleted.SetSelected(deletedText)
		q.settle(v.env.ui)
		if got, want := shownTitles(v.home.records), []string{"Form 3"}; !slices.Equal(got, want) {
			t.Fatalf("Deleted: %q, want %q", got, want)
		}
		test.Tap(rv.restoreBtn)
		q.settle(v.env.ui)
		if rv.banner.Visible() || rv.restoreBtn.Visible() || !rv.deleteBtn.Visible() {
			t.Fatal("after restore the record still shows as deleted")
		}
		if got := shownTitles(v.home.records); len(got) != 0 {
			t.Fatalf("Deleted after restore: %q, want none", got)
		}
		v.home.deleted.SetSelected(liveText)
		q.settle(v.env.ui)
		if got, want := shownTitles(v.home.records), []string{"Form 3", "Form 2", "Form 1"}; !slices.Equal(got, want) {
			t.Fatalf("live list after restore: %q, want %q", got, want)
		}
	})

	t.Run("DeleteFails", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 1)
		v, q, _ := openRecord(t, f, f.records[firstKey(f)].rec.ID)
		f.mu.Lock()
		f.saveErr = errors.New("disk full")
		f.mu.Unlock()
		test.Tap(v.record.deleteBtn)
		tapOverlayButton(t, v.env.w, "Delete")
		q.settle(v.env.ui)
		if m := v.record.message; !m.Visible() || m.Text != "The form could not be deleted: disk full" {
			t.Fatalf("message %q", m.Text)
		}
		if v.record.banner.Visible() {
			t.Fatal("shown as deleted although the delete failed")
		}
	})

	t.Run("Procedures", func(t *testing.T) {
		f := newFakeReplica(t)
		doc := []byte("%PDF-1.4 lockout procedure")
		held := f.addFile(t, doc, "application/pdf", "lockout.pdf")
		missing := strings.Repeat("ab", 32)
		f.addTemplate(t, fmt.Sprintf(`{"id": "lockout", "version": 1, "name": "Lockout check", "fields": [{"id": "tag", "type": "text", "label": "Tag"}],
			"procedures": [{"name": "Lockout-tagout steps", "sha256": %q, "size": %d, "type": "application/pdf"},
			               {"name": "Confined spaces", "sha256": %q, "size": 2400000, "type": "application/pdf"}]}`, held.SHA256, len(doc), missing))
		r := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "lockout"}, Values: values(t, map[string]any{"tag": "LT-1"})})
		v, q, saver := openRecord(t, f, r.ID)
		texts := shownTexts(v.record.procedures)
		for _, want := range []string{"Procedures", "Lockout-tagout steps", "application/pdf · 26 bytes", "Confined spaces", "application/pdf · 2.4 MB"} {
			if !slices.Contains(texts, want) {
				t.Fatalf("procedures: %q not shown; shown %q", want, texts)
			}
		}
		rows := v.record.procs.rows

		// A procedure the device can fetch opens: it is saved where asked.
		out := &memWriter{name: "lockout.pdf"}
		saver.next = out
		test.Tap(rows[0].open)
		q.settle(v.env.ui)
		if out.String() != string(doc) || rows[0].status.Text != "Saved to lockout.pdf" {
			t.Fatalf("the procedure held: saved %q, status %q", out.String(), rows[0].status.Text)
		}

		// Offline, without a copy: it says when it will be available.
		test.Tap(rows[1].open)
		q.settle(v.env.ui)
		if rows[1].status.Text != procedureUnavailable || rows[1].open.Text != "Try again" {
			t.Fatalf("missing procedure: status %q, button %q", rows[1].status.Text, rows[1].open.Text)
		}
		if len(saver.names) != 1 {
			t.Fatalf("asked where to save %q; a procedure that could not be fetched is not offered", saver.names)
		}
	})
}

// firstKey returns some record's ID.
func firstKey(f *fakeReplica) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.records {
		return k
	}
	return ""
}

// TestRecordViewSections shows a record of a form with groups, a repeat and two
// languages: a section per group, one per member, labels and choices in the
// language chosen for the template, computed values, and no hidden fields.
func TestRecordViewSections(t *testing.T) {
	f := newFakeReplica(t)
	r := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "household-survey"}, Values: values(t, map[string]any{
		"enumerator": "ana", "consent": "OK",
		"location/region": "north", "location/district": "hill", "location/village": "hill_2",
		"household/head_name": "Kofi Mensah", "household/size": 2,
		"members[1]": true, "members[1]/position": "1", "members[1]/name": "Kofi", "members[1]/relation": "head", "members[1]/age": 45,
		"members[2]": true, "members[2]/position": "2", "members[2]/name": "Ama", "members[2]/relation": "child", "members[2]/age": 9,
		"summary/eldest": "45", "summary/children": "1", "summary/water": "borehole",
		"summary/needs": []string{"school", "water", "health", "income"},
	})})
	v, q, _ := testMain(t, Deps{Replica: f}, desktopSize)
	texts := func() []string {
		v.openRecord(r.ID)
		q.settle(v.env.ui)
		return shownTexts(v.record.view)
	}
	got := texts()
	for _, want := range []string{
		"Location", "Region", "North", "Village", "Bansi",
		"Household", "Name of the head of household", "Kofi Mensah",
		"Member 1", "Name of member 1", "Kofi", "Relation to Kofi Mensah", "Head of household",
		"Member 2", "Name of member 2", "Ama", "Child",
		"Living conditions", "2 people, eldest 45 years old.", "Borehole", "Schooling > Clean water > Health care > Income",
	} {
		if !slices.Contains(got, want) {
			t.Fatalf("%q not shown; shown: %q", want, got)
		}
	}
	if i, j := slices.Index(got, "Member 2"), slices.Index(got, "Ama"); i < 0 || j < i {
		t.Fatalf("member 2's answers are not under its heading: %q", got)
	}
	// The enumerator is metadata; the school question is asked of Ama alone.
	vals := shownTexts(v.record.values)
	if slices.Contains(vals, "ana") || !slices.Contains(vals, "Does Ama go to school?") || slices.Contains(vals, "Does Kofi go to school?") {
		t.Fatalf("values shown: %q", vals)
	}
	if hist := shownTexts(v.record.history); !slices.Contains(hist, "Member: added") || !slices.Contains(hist, "enumerator: set to ana") {
		t.Fatalf("history %q", hist)
	}

	// In the language chosen for the template.
	v.env.prefs().SetString(formLanguagePref+"household-survey", "Français (fr)")
	got = texts()
	for _, want := range []string{"Localisation", "Région", "Nord", "Membre 2", "Lien avec Kofi Mensah", "Enfant", "Forage"} {
		if !slices.Contains(got, want) {
			t.Fatalf("%q not shown in French; shown: %q", want, got)
		}
	}
}
