package app

import (
	"context"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

func TestMainWindow(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		a := test.NewTempApp(t)
		f := newFakeReplica(t)
		f.fill(t, 10_000)
		w := NewMainWindow(t.Context(), a, Deps{Replica: f, Logger: testLogger(t)})
		t.Cleanup(w.Close)
		w.Resize(tabletSize)
		if got := w.Title(); got != "Fieldforms" {
			t.Fatalf("title %q", got)
		}
		texts := shownTexts(w.Content())
		for _, want := range []string{"Fieldforms", "10,000 forms", "Form 10000", pickText} {
			if !slices.Contains(texts, want) {
				t.Fatalf("%q not shown; labels shown: %q", want, texts)
			}
		}
	})

	t.Run("NoSyncNoBar", func(t *testing.T) {
		v, _, _ := testMain(t, Deps{Replica: newFakeReplica(t)}, tabletSize)
		if v.bar != nil {
			t.Fatal("a sync bar without a sync engine")
		}
		if texts := shownTexts(v.content); containsText(texts, "Last sync") {
			t.Fatalf("sync texts shown without a sync engine: %q", texts)
		}
	})
}

// shown reports whether o and every container it sits in are visible, as far
// as the main view's panes go.
func paneShown(v *mainView, pane *fyne.Container) bool {
	return pane.Visible() && pane.Size().Width > 0
}

func TestLayout(t *testing.T) {
	f := newFakeReplica(t)
	f.fill(t, 50)
	v, q, _ := testMain(t, Deps{Replica: f}, portraitSize)
	w := v.env.w

	// Upright tablet: one column, the list.
	if v.wide || !paneShown(v, v.listPane) || v.pane.Visible() {
		t.Fatalf("portrait: wide %v, list shown %v, detail shown %v; want the list alone", v.wide, paneShown(v, v.listPane), v.pane.Visible())
	}
	if got := v.listPane.Size().Width; got < portraitSize.Width-20 {
		t.Fatalf("portrait: list %v wide in a %v window, want all of it", got, portraitSize.Width)
	}

	// Tapping a row opens the form over the list, with a way back.
	v.home.records.list.Select(0)
	q.settle(v.env.ui)
	if v.listPane.Visible() || !paneShown(v, v.pane) || !v.back.Visible() {
		t.Fatalf("portrait, form open: list shown %v, detail shown %v, back shown %v", v.listPane.Visible(), v.pane.Visible(), v.back.Visible())
	}
	if texts := shownTexts(v.pane); !slices.Contains(texts, "Form 50") {
		t.Fatalf("the open form shows %q, want Form 50", texts)
	}
	test.Tap(v.back)
	if !v.listPane.Visible() || v.pane.Visible() {
		t.Fatal("Back did not return to the list")
	}

	// Turned sideways (or a laptop): list and form side by side.
	v.home.records.list.Select(1)
	q.settle(v.env.ui)
	w.Resize(desktopSize)
	if !v.wide || !paneShown(v, v.listPane) || !paneShown(v, v.pane) || v.back.Visible() {
		t.Fatalf("wide: wide %v, list %v, detail %v, back %v; want both panes and no Back",
			v.wide, v.listPane.Visible(), v.pane.Visible(), v.back.Visible())
	}
	if lw, dw := v.listPane.Size().Width, v.pane.Size().Width; lw+dw > desktopSize.Width || dw < lw {
		t.Fatalf("wide: list %v and detail %v in %v", lw, dw, desktopSize.Width)
	}
	if texts := shownTexts(v.pane); !slices.Contains(texts, "Form 49") {
		t.Fatalf("the open form shows %q, want Form 49", texts)
	}

	// Back to portrait with the form open: the form, full screen.
	w.Resize(portraitSize)
	if v.wide || v.listPane.Visible() || !v.pane.Visible() || !v.back.Visible() {
		t.Fatal("portrait again: want the open form alone, with Back")
	}
}

// fakeFormScreen stands in for the form screen (formview.go, tested on its
// own): it shows which record it was opened for.
func fakeFormScreen(opened *[]FormTarget) func(context.Context, fyne.Window, Deps, FormTarget, func(string)) fyne.CanvasObject {
	return func(_ context.Context, _ fyne.Window, d Deps, target FormTarget, _ func(string)) fyne.CanvasObject {
		if d.Do == nil {
			panic("the form screen gets no bridge to the UI goroutine")
		}
		*opened = append(*opened, target)
		return widget.NewLabel("form screen")
	}
}

func TestNewForm(t *testing.T) {
	f := newFakeReplica(t)
	v, _, _ := testMain(t, Deps{Replica: f}, tabletSize)
	var opened []FormTarget
	v.formScreen = fakeFormScreen(&opened)
	test.Tap(v.newBtn)
	if v.picker == nil {
		t.Fatal("New form shows no template picker")
	}
	texts := shownTexts(v.pane)
	for _, want := range []string{"Site inspection", "Routine health, safety and progress inspection of a construction or utility site.",
		"Incident report", "Equipment maintenance", "Delivery receipt", "Checklist"} {
		if !slices.Contains(texts, want) {
			t.Fatalf("picker does not show %q; shown: %q", want, texts)
		}
	}
	// By name: Checklist, Delivery receipt, Equipment maintenance, Household survey, Incident report,
	// Site inspection, Water point inspection.
	if got := v.picker.choices[5].Key(); got != (form.TemplateKey{ID: "site-inspection", Version: 1}) {
		t.Fatalf("sixth choice %v", got)
	}
	for _, b := range v.picker.buttons {
		if h := b.Size().Height; h < minTouch {
			t.Fatalf("button %q is %v tall, less than %d", b.Text, h, minTouch)
		}
	}
	test.Tap(v.picker.buttons[5])
	if texts := shownTexts(v.pane); !slices.Contains(texts, "form screen") || !slices.Contains(texts, "New form") {
		t.Fatalf("picking a template shows %q, want the form screen", texts)
	}
	if want := (FormTarget{Template: form.TemplateKey{ID: "site-inspection", Version: 1}}); len(opened) != 1 || opened[0] != want {
		t.Fatalf("form screen opened for %+v, want %+v", opened, want)
	}
	// Leaving the form screen without saving goes back to the list.
	v.formDone("")
	if v.open {
		t.Fatal("the form screen stays open after it is done")
	}
}

func TestEditOpensFormScreen(t *testing.T) {
	f := newFakeReplica(t)
	f.fill(t, 1)
	v, q, _ := testMain(t, Deps{Replica: f}, tabletSize)
	var opened []FormTarget
	v.formScreen = fakeFormScreen(&opened)
	v.home.records.list.Select(0)
	q.settle(v.env.ui)
	test.Tap(v.record.editBtn)
	if texts := shownTexts(v.pane); !slices.Contains(texts, "form screen") || !slices.Contains(texts, "Edit form") {
		t.Fatalf("Edit shows %q, want the form screen", texts)
	}
	id := v.editing
	if len(opened) != 1 || opened[0] != (FormTarget{Record: id}) {
		t.Fatalf("form screen opened for %+v, want record %s", opened, id)
	}
	// Saved: the list and the record show the saved state.
	f.mustSave(t, Edit{Record: id, Values: values(t, map[string]any{"name": "Renamed"})})
	v.formDone(id)
	q.settle(v.env.ui)
	if got := shownTitles(v.home.records); len(got) != 1 || got[0] != "Renamed" {
		t.Fatalf("list after the edit: %q", got)
	}
	if !slices.Contains(shownTexts(v.record.view), "Renamed") {
		t.Fatal("the record view does not show the edit")
	}
	test.Tap(v.record.editBtn)
	v.formDone("")
	q.settle(v.env.ui)
	if v.record == nil || v.record.id != id {
		t.Fatal("leaving the edit does not show the record again")
	}
}

func TestLifecycle(t *testing.T) {
	type hooks interface {
		OnEnteredForeground() func()
		OnExitedForeground() func()
	}
	for _, mobile := range []bool{true, false} {
		name := map[bool]string{true: "Tablet", false: "Desktop"}[mobile]
		t.Run(name, func(t *testing.T) {
			s := newFakeSync(SyncStatus{State: SyncIdle})
			v, q, _ := testMain(t, Deps{Replica: newFakeReplica(t), Sync: s}, tabletSize)
			v.mobile = mobile
			lc := v.env.app.Lifecycle()
			v.wireLifecycle(lc)
			h := lc.(hooks)
			h.OnExitedForeground()()
			h.OnEnteredForeground()()
			q.settle(v.env.ui)
			pauses, resumes, wakes := s.callCount("Pause"), s.callCount("Resume"), s.callCount("Wake")
			if mobile && (pauses != 1 || resumes != 1) {
				t.Fatalf("tablet: %d pauses, %d resumes; want sync paused in the background and resumed", pauses, resumes)
			}
			if !mobile && (pauses != 0 || wakes != 1) {
				t.Fatalf("desktop: %d pauses, %d wakes; want sync to keep running, woken on return", pauses, wakes)
			}
		})
	}
}

func TestMainWindowMarkup(t *testing.T) {
	f := newFakeReplica(t)
	f.at(mustTime(t, "2026-02-27T08:00:00Z"))
	f.mustSave(t, Edit{Template: form.TemplateKey{ID: "incident-report"}, Values: values(t, map[string]any{"reported_by": "Ana"})})
	f.at(mustTime(t, "2026-03-01T16:05:00Z"))
	f.mustSave(t, Edit{Template: form.TemplateKey{ID: "site-inspection"}, Values: values(t, map[string]any{"site_code": "NW-0412", "inspection_date": "2026-03-01"})})
	s := newFakeSync(SyncStatus{State: SyncOffline, Message: "server not reachable", Pending: 2, LastSuccess: mustTime(t, "2026-03-01T11:58:00Z")})
	v, _, _ := testMain(t, Deps{Replica: f, Sync: s}, tabletSize)
	test.AssertRendersToMarkup(t, "main_window.xml", v.env.w.Canvas())
}

func TestSyncBringsNews(t *testing.T) {
	f := newFakeReplica(t)
	f.fill(t, 2)
	s := newFakeSync(SyncStatus{State: SyncIdle, LastSuccess: mustTime(t, "2026-03-01T11:00:00Z")})
	v, q, _ := testMain(t, Deps{Replica: f, Sync: s}, desktopSize)
	v.home.records.list.Select(0) // Form 2, open beside the list
	q.settle(v.env.ui)

	// A pull brings a form from another device, and a template.
	f.fill(t, 1) // "Form 1" again, newest now
	f.addTemplate(t, `{"id": "fuel-log", "version": 1, "name": "Fuel log", "fields": [{"id": "litres", "type": "decimal", "label": "Litres"}]}`)
	s.publish(SyncStatus{State: SyncSyncing, LastSuccess: mustTime(t, "2026-03-01T11:00:00Z")})
	q.settle(v.env.ui)
	if got := shownTitles(v.home.records); len(got) != 2 {
		t.Fatalf("rows %q before the sync finished", got)
	}
	s.publish(SyncStatus{State: SyncIdle, LastSuccess: mustTime(t, "2026-03-01T11:30:00Z")})
	q.settle(v.env.ui)
	if got, want := shownTitles(v.home.records), []string{"Form 1", "Form 2", "Form 1"}; !slices.Equal(got, want) {
		t.Fatalf("rows after the sync %q, want %q", got, want)
	}
	if !slices.Contains(v.home.template.Options, "Fuel log") {
		t.Fatalf("template filter %q lacks the new template", v.home.template.Options)
	}
	// The open form moved down a row: the highlight does not stay on the
	// row it left.
	if v.home.records.selected != "" {
		t.Fatal("the highlight stays on a row that now shows another form")
	}
	if v.record == nil || !slices.Contains(shownTexts(v.record.view), "Form 2") {
		t.Fatal("the open form was closed by the sync")
	}
}
