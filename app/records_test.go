package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/fieldforms/fieldforms/form"
)

// showList puts a record list in a tablet-sized test window.
func showList(t *testing.T, r Replica) (*recordList, uiQueue) {
	t.Helper()
	test.NewTempApp(t)
	u, q := testUI(t, t.Context())
	l := newRecordList(u, r)
	w := test.NewTempWindow(t, l.view)
	w.Resize(tabletSize)
	return l, q
}

// settleList applies the answers of the list's background reads.
func settleList(l *recordList, q uiQueue) { q.settle(l.ui) }

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

func TestRecordList(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 10_000)
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
		if reads := f.readOffsets(); len(reads) != 1 || reads[0] != 0 {
			t.Fatalf("showing the first rows read at offsets %v; want only the first page", reads)
		}
	})

	t.Run("RowText", func(t *testing.T) {
		f := newFakeReplica(t)
		f.at(time.Date(2026, 2, 27, 8, 0, 0, 0, time.UTC))
		f.mustSave(t, Edit{Template: form.TemplateKey{ID: "incident-report"}, Values: values(t, map[string]any{"reported_by": "Ana"})})
		f.at(time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC))
		dr := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "delivery-receipt"}, Values: values(t, map[string]any{"delivery_number": "DN00000007"})})
		f.mustSave(t, Edit{Record: dr.ID, Values: values(t, map[string]any{"recipient_name": "Bo"})})
		if _, err := f.Delete(t.Context(), dr.ID); err != nil {
			t.Fatal(err)
		}
		f.at(time.Date(2026, 3, 1, 16, 5, 0, 0, time.UTC))
		si := f.mustSave(t, Edit{Template: form.TemplateKey{ID: "checklist"}, Values: values(t, map[string]any{"name": "NW-0412", "ok": true}), Status: form.StatusSubmitted})
		f.setPending(si.ID, true)

		l, q := showList(t, f)
		l.setQuery(Query{Deleted: LiveAndDeleted})
		settleList(l, q)
		var got []string
		for _, r := range shownRows(l) {
			got = append(got, r.title.Text+" | "+r.detail.Text+" | "+r.updated.Text)
		}
		want := []string{
			"NW-0412 | Checklist · Submitted · not sent yet | 2026-03-01 16:05",
			"DN00000007 | Delivery receipt · Deleted | 2026-02-28 10:02",
			"(untitled) | Incident report · Draft | 2026-02-27 08:00",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if l.message.Visible() {
			t.Fatalf("message %q shown beside the rows", l.message.Text)
		}
		for _, r := range shownRows(l) {
			if h := r.Size().Height; h < minTouch {
				t.Fatalf("row %q is %v tall, less than a fingertip (%d)", r.title.Text, h, minTouch)
			}
		}
	})

	t.Run("Empty", func(t *testing.T) {
		l, q := showList(t, newFakeReplica(t))
		if !l.message.Visible() || l.message.Text != emptyText {
			t.Fatalf("message %q (visible %v), want the empty state", l.message.Text, l.message.Visible())
		}
		if l.list.Visible() {
			t.Fatal("the empty list is shown beside the empty state")
		}
		l.setQuery(Query{Text: "nothing"})
		settleList(l, q)
		if l.message.Text != noMatchText {
			t.Fatalf("message %q for a search that finds nothing, want %q", l.message.Text, noMatchText)
		}
	})

	t.Run("ScrollReadsOnlyThePageShown", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 10_000)
		l, q := showList(t, f)
		l.list.ScrollToBottom()
		for _, title := range shownTitles(l) {
			if title != loadingText {
				t.Fatalf("row shows %q before its page was read", title)
			}
		}
		settleList(l, q)

		titles := shownTitles(l)
		if len(titles) == 0 || titles[len(titles)-1] != "Form 1" {
			t.Fatalf("rows at the bottom: %q, want them to end with Form 1", titles)
		}
		if reads := f.readOffsets(); !slices.Equal(reads, []int{0, 9900}) {
			t.Fatalf("reads at offsets %v, want [0 9900]", reads)
		}
	})

	t.Run("CacheIsBounded", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, (maxCachedPages+10)*pageSize)
		l, q := showList(t, f)
		for p := 1; p < maxCachedPages+10; p++ {
			l.list.ScrollTo(p*pageSize + pageSize/2)
			settleList(l, q)
		}
		if n := len(l.pages); n > maxCachedPages {
			t.Fatalf("%d pages cached, want at most %d", n, maxCachedPages)
		}
		if _, ok := l.pages[maxCachedPages+9]; !ok {
			t.Fatal("the page on screen was dropped from the cache")
		}
	})

	t.Run("ReloadAfterNewRecords", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 3)
		l, q := showList(t, f)
		f.mustSave(t, Edit{Template: form.TemplateKey{ID: "checklist"}, Values: values(t, map[string]any{"name": "Newest"})})
		l.reload()
		if got, want := shownTitles(l), []string{"Form 3", "Form 2", "Form 1"}; !slices.Equal(got, want) {
			t.Fatalf("while reloading, rows %q; want the rows read before, %q", got, want)
		}
		settleList(l, q)
		if n := l.list.Length(); n != 4 {
			t.Fatalf("length %d after reload, want 4", n)
		}
		if got, want := shownTitles(l), []string{"Newest", "Form 3", "Form 2", "Form 1"}; !slices.Equal(got, want) {
			t.Fatalf("rows %q, want %q", got, want)
		}
	})

	t.Run("TotalChangedWhileScrolling", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 1_000)
		l, q := showList(t, f)
		f.fill(t, 2)
		l.list.ScrollToBottom()
		settleList(l, q)
		if n := l.list.Length(); n != 1_002 {
			t.Fatalf("length %d, want 1002 once a read saw the new total", n)
		}
		if _, ok := l.pages[0]; ok {
			t.Fatal("the first page, read before the records moved, is still cached")
		}
	})

	t.Run("QueriesWhileReadingAreCoalesced", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 300)
		l, q := showList(t, f)
		for _, text := range []string{"f", "fo", "for", "form", "form 42"} {
			l.setQuery(Query{Text: text})
		}
		settleList(l, q)
		var texts []string
		for _, qq := range f.readQueries()[1:] {
			texts = append(texts, qq.Text)
		}
		// The first keystroke is read at once; the rest wait for it, and only
		// the latest of them is read.
		if want := []string{"f", "form 42"}; !slices.Equal(texts, want) {
			t.Fatalf("searches %q, want %q", texts, want)
		}
		if got := shownTitles(l); len(got) == 0 || got[0] != "Form 42" {
			t.Fatalf("rows %q, want the answer to the last keystroke", got)
		}
	})

	t.Run("ErrRead", func(t *testing.T) {
		f := newFakeReplica(t)
		f.readErr = errors.New("disk on fire")
		l, q := showList(t, f)
		if !l.message.Visible() || !strings.Contains(l.message.Text, "disk on fire") {
			t.Fatalf("message %q (visible %v), want the read error", l.message.Text, l.message.Visible())
		}

		// Reading works again: a reload shows the records.
		f.mu.Lock()
		f.readErr = nil
		f.mu.Unlock()
		f.fill(t, 2)
		l.reload()
		settleList(l, q)
		if got, want := shownTitles(l), []string{"Form 2", "Form 1"}; !slices.Equal(got, want) || l.message.Visible() {
			t.Fatalf("after reload: rows %q, message visible %v; want rows %q", got, l.message.Visible(), want)
		}
	})

	t.Run("ErrReadLaterPage", func(t *testing.T) {
		f := newFakeReplica(t)
		f.fill(t, 1_000)
		l, q := showList(t, f)
		f.mu.Lock()
		f.readErr = errors.New("disk on fire")
		f.mu.Unlock()
		l.list.ScrollToBottom()
		settleList(l, q)
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
