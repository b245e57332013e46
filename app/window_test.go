package app

import (
	"errors"
	"slices"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

func TestMainWindow(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		a := test.NewTempApp(t)
		w := NewMainWindow(t.Context(), a, Deps{Replica: newFakeReplica(10_000), Logger: testLogger(t)})
		t.Cleanup(w.Close)
		w.Resize(tabletSize)
		if got := w.Title(); got != "Fieldforms" {
			t.Fatalf("title %q", got)
		}
		var labels []string
		walkShown(w.Content(), func(o fyne.CanvasObject) {
			if l, ok := o.(*widget.Label); ok {
				labels = append(labels, l.Text)
			}
		})
		if !slices.Contains(labels, "10000 forms · offline") {
			t.Fatalf("no status in the header; labels shown: %q", labels)
		}
		if !slices.Contains(labels, "Form 10000") {
			t.Fatalf("the newest form is not shown; labels shown: %q", labels)
		}
	})

	tests := []struct {
		name       string
		replica    *fakeReplica
		status     string
		importance widget.Importance
	}{
		{"Empty", newFakeReplica(0), "No forms · offline", widget.MediumImportance},
		{"One", newFakeReplica(1), "1 form · offline", widget.MediumImportance},
		{"ErrRead", &fakeReplica{err: errors.New("disk on fire")}, "No forms · offline · some forms could not be read", widget.DangerImportance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			test.NewTempApp(t)
			v := newMainView(t.Context(), Deps{Replica: tt.replica})
			test.NewTempWindow(t, v.content).Resize(tabletSize)
			if v.status.Text != tt.status || v.status.Importance != tt.importance {
				t.Fatalf("status %q (importance %v), want %q (%v)", v.status.Text, v.status.Importance, tt.status, tt.importance)
			}
		})
	}

	t.Run("StatusFollowsReload", func(t *testing.T) {
		test.NewTempApp(t)
		f := newFakeReplica(2)
		v := newMainView(t.Context(), Deps{Replica: f})
		q := make(uiQueue, 10)
		v.records.toUI = q.post
		test.NewTempWindow(t, v.content).Resize(tabletSize)
		f.prepend("Newest")
		v.records.reload()
		q.settle(v.records)
		if want := "3 forms · offline"; v.status.Text != want {
			t.Fatalf("status %q after reload, want %q", v.status.Text, want)
		}
	})
}

func TestMainWindowMarkup(t *testing.T) {
	f := newFakeReplica(0)
	f.rows = []RecordSummary{
		{ID: "a", Template: "site-inspection", TemplateName: "Site inspection", Title: "NW-0412 · 2026-03-01",
			Status: form.StatusSubmitted, Updated: time.Date(2026, 3, 1, 16, 5, 0, 0, time.UTC)},
		{ID: "b", Template: "incident-report", TemplateName: "Incident report", Status: form.StatusDraft,
			Updated: time.Date(2026, 2, 27, 8, 0, 0, 0, time.UTC)},
	}
	w := NewMainWindow(t.Context(), test.NewTempApp(t), Deps{Replica: f})
	t.Cleanup(w.Close)
	w.Resize(tabletSize)
	test.AssertRendersToMarkup(t, "main_window.xml", w.Canvas())
}
