package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

const (
	// pageSize is how many records one read fetches: many screenfuls, and still
	// a quick read on a tablet.
	pageSize = 100
	// maxCachedPages bounds what a long scroll through a large replica keeps in
	// memory; pages far from the one on screen are dropped first.
	maxCachedPages = 20
)

// Texts the record list shows.
const (
	emptyText      = "No forms yet — forms filled in on this device appear here, with or without a network."
	untitledText   = "(untitled)"
	loadingText    = "Loading…"
	unreadableText = "This form could not be read"
	timeLayout     = "2006-01-02 15:04"
)

// recordList shows the replica's live records, newest change first, in a
// virtual list: it reads only the pages that rows on screen fall in, and keeps
// a bounded number of them. The first page is read while the list is built, so
// the first window opens with its rows; later pages are read in the background.
type recordList struct {
	ctx     context.Context
	replica Replica
	log     *slog.Logger

	// onChange is called after the total or the read error changed.
	onChange func()
	// toUI runs a function on the UI goroutine (fyne.Do): the one place where
	// background reads hand their answers to the UI. Tests replace it with a
	// queue they drain on the test goroutine, because Fyne's test driver runs
	// fyne.Do at once on the calling goroutine, alongside the test's own calls.
	toUI func(func())
	// reads tracks background reads until their answer has been handed over.
	reads sync.WaitGroup

	// The state below is touched only on the UI goroutine.
	total   int
	err     error // the latest failed read, cleared by a successful one
	pages   map[int][]RecordSummary
	reading map[int]bool // pages with a read under way
	failed  map[int]bool // pages whose read failed; read again by reload
	// gen is bumped whenever the cached pages are dropped, so the answers of
	// reads started before are ignored.
	gen int
	// stale is set by reload: the pages still shown are replaced wholesale by
	// the next answer.
	stale bool

	list    *widget.List
	message *widget.Label // the empty state, or why nothing can be shown
	view    fyne.CanvasObject
}

// newRecordList builds the list and reads its first page.
func newRecordList(ctx context.Context, replica Replica, log *slog.Logger) *recordList {
	l := &recordList{
		ctx: ctx, replica: replica, log: log, toUI: fyne.Do,
		pages:   map[int][]RecordSummary{},
		reading: map[int]bool{},
		failed:  map[int]bool{},
	}
	l.list = widget.NewList(l.length, func() fyne.CanvasObject { return newRecordRow() }, l.updateRow)
	l.message = widget.NewLabel("")
	l.message.Alignment = fyne.TextAlignCenter
	l.message.Wrapping = fyne.TextWrapWord
	l.view = container.NewStack(l.list, container.NewVBox(layout.NewSpacer(), l.message, layout.NewSpacer()))

	items, total, err := replica.Page(ctx, 0, pageSize)
	if err != nil {
		l.readFailed(0, err)
	} else {
		l.pages[0], l.total = items, total
	}
	l.showState()
	return l
}

func (l *recordList) length() int { return l.total }

func (l *recordList) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	row := o.(*recordRow)
	p, i := id/pageSize, id%pageSize
	items, ok := l.pages[p]
	switch {
	case ok && i < len(items):
		row.show(items[i])
	case ok:
		// Only an answer whose rows and total disagree gets here: show
		// nothing rather than a wrong row.
		row.placeholder("")
	case l.failed[p]:
		row.placeholder(unreadableText)
	default:
		row.placeholder(loadingText)
		l.read(p)
	}
}

// read fetches a page in the background, unless a read of it is under way.
func (l *recordList) read(p int) {
	if l.reading[p] {
		return
	}
	l.reading[p] = true
	gen := l.gen
	l.reads.Go(func() {
		items, total, err := l.replica.Page(l.ctx, p*pageSize, pageSize)
		l.toUI(func() { l.applyRead(gen, p, items, total, err) })
	})
}

// applyRead takes a background read's answer in, on the UI goroutine.
func (l *recordList) applyRead(gen, p int, items []RecordSummary, total int, err error) {
	if gen != l.gen {
		return
	}
	delete(l.reading, p)
	if err != nil {
		l.readFailed(p, err)
		l.showState()
		l.list.Refresh()
		return
	}
	l.err = nil
	if l.stale || total != l.total {
		// Records were added or removed since the other pages were read, so
		// their rows have moved: keep only this answer and read the rest again.
		l.gen++
		l.stale = false
		l.pages = map[int][]RecordSummary{p: items}
		l.reading = map[int]bool{}
		l.failed = map[int]bool{}
		l.total = total
	} else {
		l.pages[p] = items
		l.evictFarFrom(p)
	}
	l.showState()
	l.list.Refresh()
}

func (l *recordList) readFailed(p int, err error) {
	l.log.Warn("read records", "offset", p*pageSize, "err", err)
	l.failed[p] = true
	l.err = err
}

// evictFarFrom drops the cached pages furthest from page p until at most
// maxCachedPages remain.
func (l *recordList) evictFarFrom(p int) {
	for len(l.pages) > maxCachedPages {
		far, dist := -1, -1
		for q := range l.pages {
			if d := abs(q - p); d > dist {
				far, dist = q, d
			}
		}
		delete(l.pages, far)
	}
}

// reload reads the records again, for when they may have changed. The rows
// shown stay until the new answer replaces them.
func (l *recordList) reload() {
	l.gen++
	l.stale = true
	l.reading = map[int]bool{}
	l.failed = map[int]bool{}
	l.read(0)
}

// showState shows the list, or the empty state, or why nothing can be shown,
// and tells the header.
func (l *recordList) showState() {
	switch {
	case l.total > 0:
		l.message.Hide()
		l.list.Show()
	case l.err != nil:
		l.message.Importance = widget.DangerImportance
		l.message.SetText(fmt.Sprintf("The forms on this device could not be read: %v", l.err))
		l.message.Show()
		l.list.Hide()
	default:
		l.message.Importance = widget.MediumImportance
		l.message.SetText(emptyText)
		l.message.Show()
		l.list.Hide()
	}
	if l.onChange != nil {
		l.onChange()
	}
}

// recordRow is one row of the record list: the title and the time of the
// latest change on the first line, the template and the status below.
type recordRow struct {
	widget.BaseWidget
	title, updated, detail *widget.Label
}

func newRecordRow() *recordRow {
	r := &recordRow{
		title:   widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		updated: widget.NewLabel(""),
		detail:  widget.NewLabel(""),
	}
	r.title.Truncation = fyne.TextTruncateEllipsis
	r.detail.Truncation = fyne.TextTruncateEllipsis
	r.updated.Importance = widget.LowImportance
	r.ExtendBaseWidget(r)
	return r
}

func (r *recordRow) CreateRenderer() fyne.WidgetRenderer {
	top := container.NewBorder(nil, nil, nil, r.updated, r.title)
	return widget.NewSimpleRenderer(container.New(layout.NewCustomPaddedVBoxLayout(0), top, r.detail))
}

func (r *recordRow) show(s RecordSummary) {
	title := s.Title
	if title == "" {
		title = untitledText
	}
	name := s.TemplateName
	if name == "" {
		name = s.Template
	}
	updated := ""
	if !s.Updated.IsZero() {
		updated = s.Updated.Format(timeLayout)
	}
	r.title.SetText(title)
	r.detail.SetText(name + " · " + statusText(s))
	r.updated.SetText(updated)
}

func (r *recordRow) placeholder(text string) {
	r.title.SetText(text)
	r.detail.SetText("")
	r.updated.SetText("")
}

// statusText is how a record's status reads in a list.
func statusText(s RecordSummary) string {
	switch {
	case s.Deleted:
		return "Deleted"
	case s.Status == form.StatusSubmitted:
		return "Submitted"
	case s.Status == form.StatusDraft, s.Status == "":
		return "Draft"
	default:
		return s.Status
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
