package app

import (
	"context"
	"fmt"
	"time"

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
	noMatchText    = "No forms match. Change the search or the filters."
	untitledText   = "(untitled)"
	loadingText    = "Loading…"
	unreadableText = "This form could not be read"
	notSentText    = "not sent yet"
	timeLayout     = "2006-01-02 15:04"
)

// recordList shows the records a Query selects, newest change first, in a
// virtual list: it reads only the pages that rows on screen fall in, and keeps
// a bounded number of them. The first page is read while the list is built, so
// the first window opens with its rows; later pages are read in the background.
//
// A new query (a keystroke in the search box) starts its read at once when no
// other is under way; queries that come while one is read wait, and only the
// latest of them is read next. So a fast typist never queues searches, and the
// list shows the answer to the last keystroke one read after it.
type recordList struct {
	ui      *ui
	replica Replica

	// onChange is called after the total or the read error changed.
	onChange func()
	// onSelect is called when a row is tapped.
	onSelect func(RecordSummary)

	// The state below is touched only on the UI goroutine.
	query   Query // the latest query asked for
	reading Query // the query the cached pages (and reads of generation gen) answer
	total   int
	err     error // the latest failed read, cleared by a successful one
	pages   map[int][]RecordSummary
	pending map[int]bool // pages with a read under way
	failed  map[int]bool // pages whose read failed; read again by reload
	// gen is bumped whenever the cached pages are dropped, so the answers of
	// reads started before are ignored.
	gen int
	// stale is set by reload: the pages still shown are replaced wholesale by
	// the next answer.
	stale bool
	// queryRead is set while the first page of a new query is read; dirty when
	// another query came meanwhile.
	queryRead, dirty bool
	// bound maps the row widgets to the items they show, so that a page read
	// while it scrolls updates the rows in place: refreshing the whole list
	// would also drop every row it holds in reserve, and make new ones.
	bound     map[*recordRow]widget.ListItemID
	lastBound widget.ListItemID
	// selected is the record of the selected row, and selIdx its index.
	selected string
	selIdx   widget.ListItemID

	list    *widget.List
	message *widget.Label // the empty state, or why nothing can be shown
	view    fyne.CanvasObject
}

// newRecordList builds the list and reads the first page of live records.
func newRecordList(u *ui, replica Replica) *recordList {
	l := &recordList{
		ui: u, replica: replica,
		pages:   map[int][]RecordSummary{},
		pending: map[int]bool{},
		failed:  map[int]bool{},
		bound:   map[*recordRow]widget.ListItemID{},
	}
	l.list = widget.NewList(l.length, func() fyne.CanvasObject { return newRecordRow() }, l.updateRow)
	l.list.OnSelected = l.onSelected
	l.message = widget.NewLabel("")
	l.message.Alignment = fyne.TextAlignCenter
	l.message.Wrapping = fyne.TextWrapWord
	l.view = container.NewStack(l.list, container.NewVBox(layout.NewSpacer(), l.message, layout.NewSpacer()))

	items, total, err := l.fetch(u.ctx, Query{}, 0)
	if err != nil {
		l.readFailed(0, err)
	} else {
		l.pages[0], l.total = items, total
	}
	l.showState()
	return l
}

// fetch reads page p of q: the plain list of live records through Page, which
// the replica answers fastest, anything else through Search.
func (l *recordList) fetch(ctx context.Context, q Query, p int) ([]RecordSummary, int, error) {
	if isAllLive(q) {
		return l.replica.Page(ctx, p*pageSize, pageSize)
	}
	q.Offset, q.Limit = p*pageSize, pageSize
	return l.replica.Search(ctx, q)
}

// isAllLive reports whether q selects every live record.
func isAllLive(q Query) bool {
	return q.Text == "" && q.Template == "" && q.Status == "" && q.From.IsZero() && q.To.IsZero() && q.Deleted == LiveOnly
}

func (l *recordList) length() int { return l.total }

// summary returns the row with list index id, if its page is read.
func (l *recordList) summary(id widget.ListItemID) (RecordSummary, bool) {
	items, ok := l.pages[id/pageSize]
	if !ok || id%pageSize >= len(items) {
		return RecordSummary{}, false
	}
	return items[id%pageSize], true
}

func (l *recordList) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	row := o.(*recordRow)
	l.bind(row, id)
	p := id / pageSize
	s, ok := l.summary(id)
	_, read := l.pages[p]
	switch {
	case ok:
		row.show(s)
	case read:
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

// maxBound bounds the rows remembered: the list makes rows as it needs them and
// drops the ones it holds in reserve now and then.
const maxBound = 4 * pageSize

// bind notes that row shows item id. Rows far from the one bound last cannot
// be on screen: they are forgotten once many are remembered.
func (l *recordList) bind(row *recordRow, id widget.ListItemID) {
	l.bound[row] = id
	l.lastBound = id
	if len(l.bound) > maxBound {
		for r, i := range l.bound {
			if abs(i-id) > pageSize {
				delete(l.bound, r)
			}
		}
	}
}

// showPage puts a page that has just been read in the rows that show it.
func (l *recordList) showPage(p int) {
	for row, id := range l.bound {
		if id/pageSize != p {
			continue
		}
		if s, ok := l.summary(id); ok {
			row.show(s)
		} else if l.failed[p] {
			row.placeholder(unreadableText)
		}
	}
}

func (l *recordList) onSelected(id widget.ListItemID) {
	s, ok := l.summary(id)
	if !ok {
		// A row still loading: nothing to open yet.
		l.list.Unselect(id)
		return
	}
	l.selected, l.selIdx = s.ID, id
	if l.onSelect != nil {
		l.onSelect(s)
	}
}

// unselect clears the highlighted row.
func (l *recordList) unselect() {
	l.selected = ""
	l.list.UnselectAll()
}

// read fetches a page in the background, unless a read of it is under way.
func (l *recordList) read(p int) {
	if l.pending[p] {
		return
	}
	l.pending[p] = true
	gen, q := l.gen, l.reading
	l.ui.background(func(ctx context.Context) func() {
		items, total, err := l.fetch(ctx, q, p)
		return func() { l.applyRead(gen, p, items, total, err) }
	})
}

// applyRead takes a background read's answer in, on the UI goroutine.
func (l *recordList) applyRead(gen, p int, items []RecordSummary, total int, err error) {
	if gen != l.gen {
		return
	}
	delete(l.pending, p)
	if l.queryRead {
		// The first answer to a new query replaces what was shown: the
		// query's read is over, and the next one may start.
		l.queryRead = false
		defer l.nextQuery()
	}
	if err != nil {
		l.readFailed(p, err)
		l.showState()
		l.showPage(p)
		return
	}
	l.err = nil
	if l.stale || total != l.total {
		// Records were added or removed since the other pages were read (or
		// they answer another query), so their rows have moved: keep only
		// this answer and read the rest again.
		l.gen++
		l.stale = false
		l.pages = map[int][]RecordSummary{p: items}
		l.pending = map[int]bool{}
		l.failed = map[int]bool{}
		l.total = total
		l.bound = map[*recordRow]widget.ListItemID{}
		if s, ok := l.summary(l.selIdx); l.selected != "" && (!ok || s.ID != l.selected) {
			// The selected record moved: its row is no longer the one
			// highlighted.
			l.unselect()
		}
		l.showState()
		l.list.Refresh()
		return
	}
	l.pages[p] = items
	l.evictFarFrom(p)
	l.showState()
	l.showPage(p)
}

// nextQuery reads the query that came while the last one was read.
func (l *recordList) nextQuery() {
	if l.dirty {
		l.dirty = false
		l.startQuery()
	}
}

func (l *recordList) readFailed(p int, err error) {
	l.ui.log.Warn("read records", "offset", p*pageSize, "err", err)
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

// setQuery shows the records q selects. The rows shown stay until the answer
// replaces them.
func (l *recordList) setQuery(q Query) {
	q.Offset, q.Limit = 0, 0
	l.query = q
	if l.queryRead {
		l.dirty = true
		return
	}
	l.startQuery()
}

// reload reads the records again, for when they may have changed. The rows
// shown stay until the new answer replaces them.
func (l *recordList) reload() { l.setQuery(l.query) }

func (l *recordList) startQuery() {
	other := l.reading != l.query
	l.reading = l.query
	l.gen++
	l.stale = true
	l.pending = map[int]bool{}
	l.failed = map[int]bool{}
	l.queryRead = true
	l.read(0)
	if other {
		// Another query: its answer starts at the top, and the selected
		// index would point at another record.
		l.unselect()
		if l.list.GetScrollOffset() != 0 {
			l.list.ScrollToTop()
		}
	}
}

// showState shows the list, or the empty state, or why nothing can be shown,
// and tells the screen.
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
		if isAllLive(l.reading) {
			l.message.SetText(emptyText)
		} else {
			l.message.SetText(noMatchText)
		}
		l.message.Show()
		l.list.Hide()
	}
	if l.onChange != nil {
		l.onChange()
	}
}

// recordRow is one row of the record list: the title and the time of the
// latest change on the first line, the template, the status and whether the
// server has it below. Its two lines make it taller than a fingertip.
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
	r.updated.Importance = widget.MediumImportance
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
	detail := templateLabel(s) + " · " + statusText(s)
	if s.Pending {
		detail += " · " + notSentText
	}
	importance := widget.MediumImportance
	if s.Deleted {
		importance = widget.DangerImportance
	}
	if r.detail.Importance != importance {
		r.detail.Importance = importance
		r.detail.Text = "" // refresh below, with the new colour
	}
	setText(r.title, title)
	setText(r.detail, detail)
	setText(r.updated, formatTime(s.Updated))
}

func (r *recordRow) placeholder(text string) {
	setText(r.title, text)
	setText(r.detail, "")
	setText(r.updated, "")
}

// setText changes a label's text only when it differs: a refresh measures and
// shapes the text again, which is most of what updating a row costs.
func setText(l *widget.Label, text string) {
	if l.Text != text {
		l.SetText(text)
	}
}

// templateLabel is the name a list shows for a record's template.
func templateLabel(s RecordSummary) string {
	if s.TemplateName != "" {
		return s.TemplateName
	}
	return s.Template
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

// formatTime shows a time in the UI; the zero time shows nothing.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(timeLayout)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
