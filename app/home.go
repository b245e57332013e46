package app

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// Texts of the home screen's search and filters.
const (
	searchPlaceholder = "Search forms"
	allTemplatesText  = "All templates"
	anyStatusText     = "Any status"
	draftText         = "Draft"
	submittedText     = "Submitted"
	liveText          = "Live"
	deletedText       = "Deleted"
	liveAndDelText    = "All"
	filtersText       = "Filters"
)

// homeScreen is the list of forms with its search box and filters.
type homeScreen struct {
	ui      *ui
	replica Replica

	records *recordList
	count   *widget.Label

	search     *widget.Entry
	template   *widget.Select
	status     *widget.Select
	from, to   *widget.DateEntry
	deleted    *widget.RadioGroup
	filtersBtn *widget.Button
	clearBtn   *widget.Button
	filters    *fyne.Container

	// templateIDs maps the template select's options to template IDs.
	templateIDs map[string]string

	view  fyne.CanvasObject
	ready bool // built: changes of the filters' initial values are not queries
}

func newHomeScreen(u *ui, replica Replica) *homeScreen {
	h := &homeScreen{ui: u, replica: replica, count: widget.NewLabel("")}
	h.count.Importance = widget.MediumImportance
	h.records = newRecordList(u, replica)
	h.records.onChange = h.showCount
	h.showCount()

	h.search = widget.NewEntry()
	h.search.SetPlaceHolder(searchPlaceholder)
	h.search.ActionItem = widget.NewIcon(theme.SearchIcon())
	h.search.OnChanged = func(string) { h.apply() }

	h.template = widget.NewSelect(nil, func(string) { h.apply() })
	h.loadTemplates()
	h.status = widget.NewSelect([]string{anyStatusText, draftText, submittedText}, func(string) { h.apply() })
	h.status.SetSelected(anyStatusText)
	h.from = widget.NewDateEntry()
	h.from.SetPlaceHolder("From")
	h.from.OnChanged = func(*time.Time) { h.apply() }
	h.to = widget.NewDateEntry()
	h.to.SetPlaceHolder("To")
	h.to.OnChanged = func(*time.Time) { h.apply() }
	h.deleted = widget.NewRadioGroup([]string{liveText, deletedText, liveAndDelText}, func(string) { h.apply() })
	h.deleted.Horizontal = true
	h.deleted.Required = true
	h.deleted.SetSelected(liveText)
	h.clearBtn = widget.NewButtonWithIcon("Clear filters", theme.ContentClearIcon(), h.clearFilters)

	h.filters = container.NewVBox(
		container.NewGridWithColumns(2, touch(h.template), touch(h.status)),
		container.NewGridWithColumns(2, touch(h.from), touch(h.to)),
		container.NewBorder(nil, nil, nil, touch(h.clearBtn), touch(h.deleted)),
	)
	h.filters.Hide()
	h.filtersBtn = widget.NewButtonWithIcon(filtersText, theme.ListIcon(), h.toggleFilters)

	top := container.NewVBox(
		container.NewBorder(nil, nil, nil, touch(h.filtersBtn), touch(h.search)),
		h.filters,
		h.count,
	)
	h.view = container.NewBorder(top, nil, nil, nil, h.records.view)
	h.ready = true
	h.showFilterCount()
	return h
}

// loadTemplates fills the template filter with the latest version of each
// template, by name.
func (h *homeScreen) loadTemplates() {
	latest := latestTemplates(h.replica.Templates())
	h.templateIDs = map[string]string{}
	options := []string{allTemplatesText}
	for _, t := range latest {
		name := t.Name
		if _, dup := h.templateIDs[name]; dup {
			name = fmt.Sprintf("%s (%s)", t.Name, t.ID)
		}
		h.templateIDs[name] = t.ID
		options = append(options, name)
	}
	if !slices.Equal(options, h.template.Options) {
		h.template.SetOptions(options)
	}
	if !slices.Contains(options, h.template.Selected) {
		h.template.SetSelected(allTemplatesText)
	}
}

// refresh reads the records and templates again, after a sync brought news.
func (h *homeScreen) refresh() {
	h.loadTemplates()
	h.records.reload()
}

// latestTemplates returns the latest version of every template, by name.
func latestTemplates(all []*form.Template) []*form.Template {
	byID := map[string]*form.Template{}
	for _, t := range all {
		if cur, ok := byID[t.ID]; !ok || t.Version > cur.Version {
			byID[t.ID] = t
		}
	}
	out := make([]*form.Template, 0, len(byID))
	for _, t := range byID {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *form.Template) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// query is what the search box and the filters select.
func (h *homeScreen) query() Query {
	q := Query{Text: strings.TrimSpace(h.search.Text), Template: h.templateIDs[h.template.Selected]}
	switch h.status.Selected {
	case draftText:
		q.Status = form.StatusDraft
	case submittedText:
		q.Status = form.StatusSubmitted
	}
	if h.from.Date != nil {
		q.From = startOfDay(*h.from.Date)
	}
	if h.to.Date != nil {
		// The last day counts whole.
		q.To = startOfDay(*h.to.Date).AddDate(0, 0, 1)
	}
	switch h.deleted.Selected {
	case deletedText:
		q.Deleted = DeletedOnly
	case liveAndDelText:
		q.Deleted = LiveAndDeleted
	}
	return q
}

// startOfDay is the local midnight that starts t's day.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.Local)
}

// apply shows what the search and filters now select. The list coalesces
// queries that come while one is read, so this runs on every keystroke.
func (h *homeScreen) apply() {
	if !h.ready {
		return
	}
	h.records.setQuery(h.query())
	h.showFilterCount()
}

// showFilterCount shows on the Filters button how many filters are set.
func (h *homeScreen) showFilterCount() {
	n := h.activeFilters()
	if n == 0 {
		h.filtersBtn.SetText(filtersText)
		h.filtersBtn.Importance = widget.MediumImportance
		h.clearBtn.Disable()
	} else {
		h.filtersBtn.SetText(fmt.Sprintf("%s (%d)", filtersText, n))
		h.filtersBtn.Importance = widget.HighImportance
		h.clearBtn.Enable()
	}
	h.filtersBtn.Refresh()
}

// activeFilters counts the filters that narrow the list (the search box aside).
func (h *homeScreen) activeFilters() int {
	q, n := h.query(), 0
	for _, on := range []bool{q.Template != "", q.Status != "", !q.From.IsZero(), !q.To.IsZero(), q.Deleted != LiveOnly} {
		if on {
			n++
		}
	}
	return n
}

func (h *homeScreen) toggleFilters() {
	if h.filters.Visible() {
		h.filters.Hide()
	} else {
		h.filters.Show()
	}
	h.view.Refresh()
}

func (h *homeScreen) clearFilters() {
	h.template.SetSelected(allTemplatesText)
	h.status.SetSelected(anyStatusText)
	h.from.SetDate(nil)
	h.to.SetDate(nil)
	h.deleted.SetSelected(liveText)
	h.apply()
}

// showCount says how many forms the list holds.
func (h *homeScreen) showCount() {
	l := h.records
	switch {
	case l.err != nil && l.total == 0:
		h.count.SetText("")
	case isAllLive(l.reading):
		h.count.SetText(countText(l.total))
	case l.total == 1:
		h.count.SetText("1 form found")
	default:
		h.count.SetText(fmt.Sprintf("%s forms found", thousands(l.total)))
	}
}

// countText says how many forms there are.
func countText(n int) string {
	switch n {
	case 0:
		return "No forms"
	case 1:
		return "1 form"
	default:
		return thousands(n) + " forms"
	}
}

// thousands writes n with commas between groups of three digits,
// the same in every locale.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
