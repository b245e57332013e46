package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/fieldforms/fieldforms/form"
)

// tabletSize is the window size the UI is tested at.
var tabletSize = fyne.NewSize(1024, 768)

// fakeReplica serves generated records and counts the reads it answers.
type fakeReplica struct {
	Replica // methods the list does not use; calling one panics
	mu      sync.Mutex
	rows    []RecordSummary
	err     error
	reads   []int // the offset of every read, in order
}

// newFakeReplica makes n records, newest first: row i is titled "Form n-i".
func newFakeReplica(n int) *fakeReplica {
	f := &fakeReplica{rows: make([]RecordSummary, n)}
	base := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	for i := range f.rows {
		f.rows[i] = RecordSummary{
			ID:           fmt.Sprintf("rec-%05d", n-i),
			Template:     "site-inspection",
			TemplateName: "Site inspection",
			Title:        fmt.Sprintf("Form %d", n-i),
			Status:       form.StatusDraft,
			Updated:      base.Add(-time.Duration(i) * time.Minute),
		}
	}
	return f
}

func (f *fakeReplica) Page(ctx context.Context, offset, limit int) ([]RecordSummary, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads = append(f.reads, offset)
	if f.err != nil {
		return nil, 0, f.err
	}
	end := min(offset+limit, len(f.rows))
	if offset > end {
		offset = end
	}
	return slices.Clone(f.rows[offset:end]), len(f.rows), nil
}

// readOffsets returns the offsets read so far.
func (f *fakeReplica) readOffsets() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reads)
}

// prepend adds newer records at the top, as a save or a pull would.
func (f *fakeReplica) prepend(titles ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rows []RecordSummary
	for _, t := range titles {
		rows = append(rows, RecordSummary{ID: "new-" + t, Template: "incident-report", Title: t, Status: form.StatusSubmitted})
	}
	f.rows = append(rows, f.rows...)
}

// uiQueue stands in for the UI goroutine's queue: background reads post their
// answers to it, and the test runs them on its own goroutine, which plays the
// UI goroutine. (Fyne's test driver would run fyne.Do on the reading goroutine,
// alongside the test's own calls into the widgets.)
type uiQueue chan func()

func (q uiQueue) post(fn func()) { q <- fn }

// showList puts a record list in a tablet-sized test window.
func showList(t *testing.T, r Replica) (*recordList, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	l := newRecordList(t.Context(), r, testLogger(t))
	q := make(uiQueue, 1000)
	l.toUI = q.post
	w := test.NewTempWindow(t, l.view)
	w.Resize(tabletSize)
	return l, q
}

// settle applies the answers of background reads, and of the reads those set
// off, until no read is left.
func (q uiQueue) settle(l *recordList) {
	for {
		l.reads.Wait()
		select {
		case fn := <-q:
			fn()
		default:
			return
		}
	}
}

// testLogger sends log lines to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// shownRows returns the rows on screen, top to bottom.
func shownRows(l *recordList) []*recordRow {
	var rows []*recordRow
	walkShown(l.list, func(o fyne.CanvasObject) {
		if r, ok := o.(*recordRow); ok {
			rows = append(rows, r)
		}
	})
	slices.SortFunc(rows, func(a, b *recordRow) int { return int(a.Position().Y - b.Position().Y) })
	return rows
}

// shownTitles returns the titles of the rows on screen, top to bottom.
func shownTitles(l *recordList) []string {
	var titles []string
	for _, r := range shownRows(l) {
		titles = append(titles, r.title.Text)
	}
	return titles
}

// walkShown calls fn for o and every visible object inside it, through the
// renderers the canvas already uses.
func walkShown(o fyne.CanvasObject, fn func(fyne.CanvasObject)) {
	if !o.Visible() {
		return
	}
	fn(o)
	switch o := o.(type) {
	case *fyne.Container:
		for _, c := range o.Objects {
			walkShown(c, fn)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(o).Objects() {
			walkShown(c, fn)
		}
	}
}

func TestRecordList(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFakeReplica(10_000)
		l, _ := showList(t, f)
		if n := l.list.Length(); n != 10_000 {
			t.Fatalf("list length %d, want 10000", n)
		}
		titles := shownTitles(l)
		if len(titles) < 5 {
			t.Fatalf("%d rows on screen at %v, want a screenful: %q", len(titles), tabletSize, titles)
		}
		for i, title := range titles {
			if want := fmt.Sprintf("Form %d", 10_000-i); title != want {
				t.Fatalf("row %d shows %q, want %q (all: %q)", i, title, want, titles)
			}
		}
		if reads := f.readOffsets(); len(reads) > 2 || reads[0] != 0 {
			t.Fatalf("showing the first rows read at offsets %v; want only the first page", reads)
		}
	})

	t.Run("RowText", func(t *testing.T) {
		f := newFakeReplica(0)
		f.rows = []RecordSummary{
			{ID: "a", Template: "site-inspection", TemplateName: "Site inspection", Title: "NW-0412 · 2026-03-01",
				Status: form.StatusSubmitted, Updated: time.Date(2026, 3, 1, 16, 5, 0, 0, time.UTC)},
			{ID: "b", Template: "incident-report", Status: form.StatusDraft, Updated: time.Date(2026, 2, 27, 8, 0, 0, 0, time.UTC)},
			{ID: "c", Template: "delivery-receipt", TemplateName: "Delivery receipt", Title: "DR-7", Deleted: true},
		}
		l, _ := showList(t, f)
		var got []string
		for _, r := range shownRows(l) {
			got = append(got, r.title.Text+" | "+r.detail.Text+" | "+r.updated.Text)
		}
		want := []string{
			"NW-0412 · 2026-03-01 | Site inspection · Submitted | 2026-03-01 16:05",
			"(untitled) | incident-report · Draft | 2026-02-27 08:00",
			"DR-7 | Delivery receipt · Deleted | ",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if l.message.Visible() {
			t.Fatalf("message %q shown beside the rows", l.message.Text)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		l, _ := showList(t, newFakeReplica(0))
		if !l.message.Visible() || l.message.Text != emptyText {
			t.Fatalf("message %q (visible %v), want the empty state", l.message.Text, l.message.Visible())
		}
		if !strings.HasPrefix(l.message.Text, "No forms yet") {
			t.Fatalf("empty state %q", l.message.Text)
		}
		if l.list.Visible() {
			t.Fatal("the empty list is shown beside the empty state")
		}
	})

	t.Run("ScrollReadsOnlyThePageShown", func(t *testing.T) {
		f := newFakeReplica(10_000)
		l, q := showList(t, f)
		l.list.ScrollToBottom()
		for _, title := range shownTitles(l) {
			if title != loadingText {
				t.Fatalf("row shows %q before its page was read", title)
			}
		}
		q.settle(l)

		titles := shownTitles(l)
		if len(titles) == 0 || titles[len(titles)-1] != "Form 1" {
			t.Fatalf("rows at the bottom: %q, want them to end with Form 1", titles)
		}
		if reads := f.readOffsets(); !slices.Equal(reads, []int{0, 9900}) {
			t.Fatalf("reads at offsets %v, want [0 9900]", reads)
		}
	})

	t.Run("CacheIsBounded", func(t *testing.T) {
		f := newFakeReplica((maxCachedPages + 10) * pageSize)
		l, q := showList(t, f)
		for p := 1; p < maxCachedPages+10; p++ {
			l.list.ScrollTo(p*pageSize + pageSize/2)
			q.settle(l)
		}
		if n := len(l.pages); n > maxCachedPages {
			t.Fatalf("%d pages cached, want at most %d", n, maxCachedPages)
		}
		if _, ok := l.pages[maxCachedPages+9]; !ok {
			t.Fatal("the page on screen was dropped from the cache")
		}
	})

	t.Run("ReloadAfterNewRecords", func(t *testing.T) {
		f := newFakeReplica(3)
		l, q := showList(t, f)
		f.prepend("Newest")
		l.reload()
		if got, want := shownTitles(l), []string{"Form 3", "Form 2", "Form 1"}; !slices.Equal(got, want) {
			t.Fatalf("while reloading, rows %q; want the rows read before, %q", got, want)
		}
		q.settle(l)
		if n := l.list.Length(); n != 4 {
			t.Fatalf("length %d after reload, want 4", n)
		}
		if got, want := shownTitles(l), []string{"Newest", "Form 3", "Form 2", "Form 1"}; !slices.Equal(got, want) {
			t.Fatalf("rows %q, want %q", got, want)
		}
	})

	t.Run("TotalChangedWhileScrolling", func(t *testing.T) {
		f := newFakeReplica(1_000)
		l, q := showList(t, f)
		f.prepend("Newer 1", "Newer 2")
		l.list.ScrollToBottom()
		q.settle(l)
		if n := l.list.Length(); n != 1_002 {
			t.Fatalf("length %d, want 1002 once a read saw the new total", n)
		}
		if _, ok := l.pages[0]; ok {
			t.Fatal("the first page, read before the records moved, is still cached")
		}
	})

	t.Run("ErrRead", func(t *testing.T) {
		f := newFakeReplica(0)
		f.err = errors.New("disk on fire")
		l, q := showList(t, f)
		if !l.message.Visible() || !strings.Contains(l.message.Text, "disk on fire") {
			t.Fatalf("message %q (visible %v), want the read error", l.message.Text, l.message.Visible())
		}

		// Reading works again: a reload shows the records.
		f.mu.Lock()
		f.err = nil
		f.rows = newFakeReplica(2).rows
		f.mu.Unlock()
		l.reload()
		q.settle(l)
		if got, want := shownTitles(l), []string{"Form 2", "Form 1"}; !slices.Equal(got, want) || l.message.Visible() {
			t.Fatalf("after reload: rows %q, message visible %v; want rows %q", got, l.message.Visible(), want)
		}
	})

	t.Run("ErrReadLaterPage", func(t *testing.T) {
		f := newFakeReplica(1_000)
		l, q := showList(t, f)
		f.mu.Lock()
		f.err = errors.New("disk on fire")
		f.mu.Unlock()
		l.list.ScrollToBottom()
		q.settle(l)
		for _, title := range shownTitles(l) {
			if title != unreadableText {
				t.Fatalf("row of an unreadable page shows %q", title)
			}
		}
		if l.message.Visible() {
			t.Fatal("the whole-list message hides the rows that were read")
		}
		if reads := len(f.readOffsets()); reads != 2 {
			t.Fatalf("%d reads, want 2: a failed page is not read again until a reload", reads)
		}
	})
}
