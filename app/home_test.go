package app

import (
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/fieldforms/fieldforms/form"
)

// homeReplica holds records of several templates, statuses and days, one of
// them deleted:
//
//	2026-02-10  site inspection NW-0412, submitted
//	2026-02-20  delivery receipt DN00000001, draft
//	2026-02-25  incident report (reported by Cleo), draft, deleted
//	2026-03-01  checklist "Pump room", draft
func homeReplica(t *testing.T) *fakeReplica {
	f := newFakeReplica(t)
	f.at(mustTime(t, "2026-02-10T10:00:00Z"))
	f.mustSave(t, Edit{Template: form.TemplateKey{ID: "site-inspection"}, Status: form.StatusSubmitted, Values: values(t, map[string]any{
		"site_code": "NW-0412", "inspector": "Ana Lima", "inspection_date": "2026-02-10", "location": map[string]any{"lat": 51.5, "lon": -0.12},
		"hazards_present": false, "overall_rating": "pass", "inspector_signature": f.addFile(t, pngBytes(t, 40, 20), "image/png", "signature.png")})})
	f.at(mustTime(t, "2026-02-20T10:00:00Z"))
	f.mustSave(t, Edit{Template: form.TemplateKey{ID: "delivery-receipt"}, Values: values(t, map[string]any{"delivery_number": "DN00000001", "supplier": "other"})})
	f.at(mustTime(t, "2026-02-25T10:00:00Z"))
	ir := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "incident-report"}, Values: values(t, map[string]any{"reported_by": "Cleo"})})
	if _, err := f.Delete(t.Context(), ir.ID); err != nil {
		t.Fatal(err)
	}
	f.at(mustTime(t, "2026-03-01T10:00:00Z"))
	f.mustSave(t, Edit{Template: form.TemplateKey{ID: "checklist"}, Values: values(t, map[string]any{"name": "Pump room"})})
	return f
}

func TestSearch(t *testing.T) {
	f := homeReplica(t)
	v, q, _ := testMain(t, Deps{Replica: f}, tabletSize)
	h := v.home
	if got, want := shownTitles(h.records), []string{"Pump room", "DN00000001 · Other", "NW-0412 · 2026-02-10"}; !slices.Equal(got, want) { // choices by their labels
		t.Fatalf("rows %q, want %q", got, want)
	}
	if h.count.Text != "3 forms" {
		t.Fatalf("count %q", h.count.Text)
	}

	// Typing searches as you type; the list follows the last keystroke.
	test.Type(h.search, "ana li")
	q.settle(v.env.ui)
	if got, want := shownTitles(h.records), []string{"NW-0412 · 2026-02-10"}; !slices.Equal(got, want) {
		t.Fatalf("after typing %q: rows %q, want %q", h.search.Text, got, want)
	}
	if h.count.Text != "1 form found" {
		t.Fatalf("count %q", h.count.Text)
	}
	searches := f.callCount("Search")
	if searches < 2 || searches > len("ana li") {
		t.Fatalf("%d searches for %d keystrokes", searches, len("ana li"))
	}

	// A search that finds nothing says so.
	h.search.SetText("zebra")
	q.settle(v.env.ui)
	if !h.records.message.Visible() || h.records.message.Text != noMatchText {
		t.Fatalf("no match: message %q visible %v", h.records.message.Text, h.records.message.Visible())
	}

	// Clearing the box lists every live record again, through Page.
	pages := f.callCount("Page")
	h.search.SetText("")
	q.settle(v.env.ui)
	if got := shownTitles(h.records); len(got) != 3 {
		t.Fatalf("after clearing: rows %q", got)
	}
	if f.callCount("Page") != pages+1 {
		t.Fatal("the plain list is not read through Page")
	}
}

func TestFilters(t *testing.T) {
	f := homeReplica(t)
	v, q, _ := testMain(t, Deps{Replica: f}, tabletSize)
	h := v.home
	if h.filters.Visible() {
		t.Fatal("filters shown before Filters is tapped")
	}
	test.Tap(h.filtersBtn)
	if !h.filters.Visible() {
		t.Fatal("Filters does not show the filters")
	}
	rows := func() []string {
		q.settle(v.env.ui)
		return shownTitles(h.records)
	}

	// Deleted: the deleted form only, then all.
	h.deleted.SetSelected(deletedText)
	if got, want := rows(), []string{untitledText}; !slices.Equal(got, want) {
		t.Fatalf("Deleted: rows %q, want %q", got, want)
	}
	if row := shownRows(h.records)[0]; row.detail.Text != "Incident report · Deleted" {
		t.Fatalf("deleted row says %q", row.detail.Text)
	}
	h.deleted.SetSelected(liveAndDelText)
	if got := rows(); len(got) != 4 {
		t.Fatalf("All: rows %q, want 4", got)
	}
	if h.filtersBtn.Text != "Filters (1)" {
		t.Fatalf("Filters button says %q", h.filtersBtn.Text)
	}

	// Template, with All: the incident report, deleted as it is.
	h.template.SetSelected("Incident report")
	if got, want := rows(), []string{untitledText}; !slices.Equal(got, want) {
		t.Fatalf("template: rows %q, want %q", got, want)
	}
	if qs := f.readQueries(); qs[len(qs)-1].Template != "incident-report" || qs[len(qs)-1].Deleted != LiveAndDeleted {
		t.Fatalf("last query %+v", qs[len(qs)-1])
	}
	h.template.SetSelected(allTemplatesText)

	// Status.
	h.status.SetSelected(submittedText)
	if got, want := rows(), []string{"NW-0412 · 2026-02-10"}; !slices.Equal(got, want) {
		t.Fatalf("submitted: rows %q, want %q", got, want)
	}
	h.status.SetSelected(anyStatusText)

	// Date range: 2026-02-20 to 2026-02-25, both days whole.
	from, to := time.Date(2026, 2, 20, 0, 0, 0, 0, time.Local), time.Date(2026, 2, 25, 0, 0, 0, 0, time.Local)
	h.from.SetDate(&from)
	h.to.SetDate(&to)
	got := rows()
	last := f.readQueries()[len(f.readQueries())-1]
	if !last.From.Equal(from) || !last.To.Equal(to.AddDate(0, 0, 1)) {
		t.Fatalf("date range query [%v, %v)", last.From, last.To)
	}
	// The records are stamped in UTC; which of them fall in local days
	// depends on the machine's zone, so only the bounds of the answer are
	// checked here.
	for _, title := range got {
		if title == "Pump room" || title == "NW-0412 · 2026-02-10" {
			t.Fatalf("date range: %q is outside it (rows %q)", title, got)
		}
	}
	if h.filtersBtn.Text != "Filters (3)" {
		t.Fatalf("Filters button says %q", h.filtersBtn.Text)
	}

	// Clear filters: the live records again.
	test.Tap(h.clearBtn)
	if got := rows(); len(got) != 3 {
		t.Fatalf("after Clear filters: rows %q", got)
	}
	if h.filtersBtn.Text != filtersText || !h.clearBtn.Disabled() {
		t.Fatalf("after Clear filters: button %q, clear enabled %v", h.filtersBtn.Text, !h.clearBtn.Disabled())
	}
}
