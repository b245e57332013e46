package main

// The UI's figures over a replica of the peer benchmark's 100,000 documents, in
// the real store through the real adapters, with Fyne's test driver. They print
// as `name value unit` lines (make bench collects them).

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/app"
	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/benchdata"
	"github.com/fieldforms/fieldforms/store"
)

// uiBenchPage is app's page size: a list reads this many records at a time.
const uiBenchPage = 100

// BenchmarkUI100k measures, over 100,000 records:
//
//	ui_first_page_100k_ms    NewMainWindow until the first page of the list is on
//	                         screen (the store already open, as main opens it first)
//	ui_search_100k_ms        the last keystroke of a word typed fast until the list
//	                         shows its answer: the median over ten words, and
//	                         ui_search_100k_max_ms the slowest
//	ui_scroll_max_rows_read  the most rows one scroll step read (a screen down, or
//	                         a jump as a drag of the scroll bar makes), and
//	                         ui_scroll_read_max_ms the slowest of those reads
//	ui_rss_100k_mb           the process's resident memory after scrolling, from
//	                         /proc/self/status; _anon_ the heap and stacks, _file_
//	                         the pages of mapped files (the binary; the replica's
//	                         memory map, whose pages the app gives back after each
//	                         read of the list), which the kernel can drop and read
//	                         again; ui_rss_peak_100k_mb the highest while the window
//	                         opened, searched and scrolled (VmHWM, reset once the
//	                         replica is filled), and ui_rss_100k_budget_mb the
//	                         budget of issue 11
//
// It fails if a scroll step reads more than the two pages the rows on screen
// can fall in.
func BenchmarkUI100k(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "replica")
	newest := fillUIBenchReplica(b, dir, n)
	// The filling process's memory is not the app's: drop it before opening
	// the replica as the app does.
	runtime.GC()
	debug.FreeOSMemory()

	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// The peak from here on is the app's, not the filling's (Linux: "5" resets
	// VmHWM).
	peakReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	reads := &readLog{Replica: replica{st: st}}
	q := make(chan func(), 1<<16)
	a := test.NewTempApp(b)
	d := app.Deps{Replica: reads, Do: func(fn func()) { q <- fn }}

	for b.Loop() {
		t0 := time.Now()
		w := app.NewMainWindow(ctx, a, d)
		w.Resize(fyne.NewSize(1024, 768))
		titles := listTitles(w)
		firstPage := time.Since(t0)
		if len(titles) < 5 || titles[0] != newest {
			b.Fatalf("first page shows %q, want a screenful starting with %q", titles, newest)
		}
		uiFigure("ui_first_page_100k_ms", ms(firstPage), "ms")

		search := findSearchBox(b, w)
		var lat []time.Duration
		for _, word := range []string{"valve", "pump", "corrosion", "inspection", "leak", "north", "gasket", "alarm", "vibration", "sensor"} {
			search.SetText("")
			settleUI(b, q, reads)
			want, total := expectedAnswer(b, ctx, st, word)
			// Typed fast: the first keystroke's search is under way when the
			// last comes.
			test.Type(search, word[:len(word)-1])
			t0 := time.Now()
			test.Type(search, word[len(word)-1:])
			drainUntil(b, q, fmt.Sprintf("the answer to %q", word), func() bool {
				got := listTitles(w)
				return len(got) > 0 && got[0] == want && strings.Contains(strings.Join(labels(w.Content()), "\n"), thousands(total)+" forms found")
			})
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		uiFigure("ui_search_100k_ms", ms(lat[len(lat)/2]), "ms")
		uiFigure("ui_search_100k_max_ms", ms(lat[len(lat)-1]), "ms")
		search.SetText("")
		settleUI(b, q, reads)

		// Scrolling, a screen at a time, then in jumps: every step reads at
		// most the pages its rows fall in.
		list := findList(b, w)
		screen := list.Size().Height
		reads.take()
		maxRows := 0
		var slowest time.Duration
		step := func(scroll func()) {
			scroll()
			settleUI(b, q, reads)
			rows := 0
			for _, r := range reads.take() {
				rows += r.limit
				slowest = max(slowest, r.took)
			}
			maxRows = max(maxRows, rows)
		}
		for i := 1; i <= 300; i++ {
			step(func() { list.ScrollToOffset(float32(i) * screen) })
		}
		// Jumps, as dragging the scroll bar makes them (List.ScrollTo, for the
		// keyboard, also rebuilds the list's rows).
		rng := rand.New(rand.NewPCG(1, 2))
		rowHeight := screen / float32(len(listTitles(w)))
		for range 200 {
			step(func() { list.ScrollToOffset(float32(rng.IntN(n)) * rowHeight) })
		}
		list.ScrollToBottom()
		settleUI(b, q, reads)
		if got := listTitles(w); len(got) == 0 || got[0] == "Loading…" {
			b.Fatalf("bottom of the list shows %q", got)
		}
		// Rows on screen straddle at most two pages.
		if maxRows > 2*uiBenchPage {
			b.Fatalf("one scroll step read %d rows; the screen shows %.0f px of 70 px rows", maxRows, screen)
		}
		uiFigure("ui_scroll_max_rows_read", float64(maxRows), "rows")
		uiFigure("ui_scroll_read_max_ms", ms(slowest), "ms")
		if rss, anon, file, ok := residentMB(); ok {
			uiFigure("ui_rss_100k_mb", rss, "MB")
			uiFigure("ui_rss_anon_100k_mb", anon, "MB")
			uiFigure("ui_rss_file_100k_mb", file, "MB")
			if peak, ok := statusMB("VmHWM"); ok && peakReset {
				uiFigure("ui_rss_peak_100k_mb", peak, "MB")
			}
			uiFigure("ui_rss_100k_budget_mb", 200, "MB")
		}
		w.Close()
	}
}

// BenchmarkFormOpen200 measures opening the form screen on a new record of a
// 200-field template (groups, a counted repeat, relevants, calculations, choice
// lists and a choice filter), in the real store through the real adapters:
//
//	form_open_200_fields_ms  NewFormView until the form is built (every row of
//	                         every page) and its first page laid out in a
//	                         1024×768 window (Fyne's test driver: no GPU
//	                         drawing), the median of nine opens
func BenchmarkFormOpen200(b *testing.B) {
	ctx := context.Background()
	tpl := formBenchTemplate(b)
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "replica"), store.Options{Device: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.PutTemplate(ctx, tpl); err != nil {
		b.Fatal(err)
	}
	q := make(chan func(), 1024)
	a := test.NewTempApp(b)
	d := app.Deps{Replica: replica{st: st}, Do: func(fn func()) { q <- fn }}
	target := app.FormTarget{Template: tpl.Key()}

	for b.Loop() {
		var opens []time.Duration
		for range 9 {
			w := a.NewWindow("Form")
			w.Resize(fyne.NewSize(1024, 768))
			t0 := time.Now()
			w.SetContent(app.NewFormView(ctx, w, d, target, nil))
			drainUntil(b, q, "the form", func() bool { return findButton(w.Content(), "Submit") != nil })
			opens = append(opens, time.Since(t0))
			if got := labels(w.Content()); !slices.Contains(got, "Consent *") {
				b.Fatalf("the form shows %q, not its first question", got)
			}
			w.Close()
		}
		slices.Sort(opens)
		uiFigure("form_open_200_fields_ms", ms(opens[len(opens)/2]), "ms")
	}
}

// formBenchTemplate is a template of 200 fields as a long survey has them: two
// questions, a repeat counted by an answer, eight groups of questions with
// calculations, notes, relevants and cascading choices, and a summary.
func formBenchTemplate(b *testing.B) *form.Template {
	b.Helper()
	var top []string
	top = append(top, `{"id":"intro","type":"text","label":"Interviewer"}`,
		`{"id":"consent","type":"choice","list":"yn","label":"Consent","required":true}`)
	var people []string
	for i := 1; i <= 9; i++ {
		kind := map[bool]string{true: `"type":"integer"`, false: `"type":"text"`}[i%3 == 0]
		id := fmt.Sprintf("p%d", i)
		if i == 3 {
			id = "age"
		}
		people = append(people, fmt.Sprintf(`{"id":"%s",%s,"label":"Person question %d"}`, id, kind, i))
	}
	top = append(top, `{"id":"people","type":"repeat","label":"Person","repeat_count":"${g1_q2}","fields":[`+strings.Join(people, ",")+`]}`)
	for g := 1; g <= 8; g++ {
		q := func(n int) string { return fmt.Sprintf("g%d_q%d", g, n) }
		fields := []string{
			fmt.Sprintf(`{"id":"%s","type":"text","label":"Section %d question 1"}`, q(1), g),
			fmt.Sprintf(`{"id":"%s","type":"integer","label":"How many?","default":4,"constraint":". <= 30"}`, q(2)),
			fmt.Sprintf(`{"id":"%s","type":"decimal","label":"How much?"}`, q(3)),
			fmt.Sprintf(`{"id":"%s","type":"choice","list":"yn","label":"Any problem?"}`, q(4)),
			fmt.Sprintf(`{"id":"%s","type":"choice","list":"region","label":"Region"}`, q(5)),
			fmt.Sprintf(`{"id":"%s","type":"choice","list":"district","label":"District","choice_filter":"region = ${%s}"}`, q(6), q(5)),
			fmt.Sprintf(`{"id":"%s","type":"multichoice","list":"yn","label":"Which?"}`, q(7)),
			fmt.Sprintf(`{"id":"%s","type":"date","label":"When?"}`, q(8)),
			fmt.Sprintf(`{"id":"%s","type":"text","label":"Why so many?","relevant":"${%s} > 3"}`, q(9), q(2)),
			fmt.Sprintf(`{"id":"%s","type":"calculate","label":"Twice as many","calculation":"${%s} * 2"}`, q(10), q(2)),
			fmt.Sprintf(`{"id":"%s","type":"note","label":"Twice as many: ${%s}"}`, q(11), q(10)),
		}
		for n := 12; n <= 21; n++ {
			rel := ""
			if n%2 == 0 {
				rel = fmt.Sprintf(`,"relevant":"${%s} = 'yes'"`, q(4))
			}
			fields = append(fields, fmt.Sprintf(`{"id":"%s","type":"text","label":"Section %d question %d"%s}`, q(n), g, n, rel))
		}
		top = append(top, fmt.Sprintf(`{"id":"g%d","type":"group","label":"Section %d","relevant":"${consent} = 'yes'","fields":[%s]}`,
			g, g, strings.Join(fields, ",")))
	}
	var summary []string
	for n := 1; n <= 10; n++ {
		summary = append(summary, fmt.Sprintf(`{"id":"s%d","type":"calculate","calculation":"${g%d_q2} + ${g%d_q3}"}`, n, n%8+1, n%8+1))
	}
	summary = append(summary, `{"id":"eldest","type":"calculate","label":"Eldest","calculation":"max(${age})"}`)
	top = append(top, `{"id":"summary","type":"group","label":"Summary","fields":[`+strings.Join(summary, ",")+`]}`)
	js := `{"id":"bench-200","version":1,"name":"Two hundred fields","choices":{
		"yn":[{"value":"yes","label":"Yes"},{"value":"no","label":"No"}],
		"region":[{"value":"north","label":"North"},{"value":"south","label":"South"}],
		"district":[{"value":"hill","label":"Hill","filter":{"region":"north"}},{"value":"lake","label":"Lake","filter":{"region":"north"}},
			{"value":"coast","label":"Coast","filter":{"region":"south"}}]},
		"fields":[` + strings.Join(top, ",") + `]}`
	tpl, err := form.ParseTemplate([]byte(js))
	if err != nil {
		b.Fatal(err)
	}
	if n := len(tpl.All()); n != 200 {
		b.Fatalf("the template has %d fields, want 200", n)
	}
	return tpl
}

// findButton returns the visible button with the given text, or nil.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	var found *widget.Button
	walkUI(o, func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.Button); ok && x.Text == text && found == nil {
			found = x
		}
	})
	return found
}

func uiFigure(name string, value float64, unit string) {
	fmt.Printf("%s %.4g %s\n", name, value, unit)
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// fillUIBenchReplica makes a replica of n benchmark records in dir and returns
// the title of the newest.
func fillUIBenchReplica(b *testing.B, dir string, n int) string {
	b.Helper()
	ctx := context.Background()
	lines, err := benchdata.LoadLines(n)
	if err != nil {
		b.Fatal(err)
	}
	tpls, err := benchdata.Templates()
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(ctx, dir, store.Options{Device: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, t := range tpls {
		if err := st.PutTemplate(ctx, t); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 1000
	for i := 0; i < n; i += batch {
		recs, err := benchdata.Read(bytes.NewReader(bytes.Join(lines[i:min(i+batch, n)], []byte("\n"))))
		if err != nil {
			b.Fatal(err)
		}
		res, err := st.ApplyRecords(ctx, recs, "bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Status != store.Applied {
				b.Fatalf("record %s: %s %v", r.ID, r.Status, r.Err)
			}
		}
	}
	p, err := st.List(ctx, 0, 1)
	if err != nil || len(p.Items) != 1 || p.Total != n {
		b.Fatalf("replica: %v, %d items of %d", err, len(p.Items), p.Total)
	}
	return p.Items[0].Title
}

// expectedAnswer is what the list should show for a search: its first title
// and how many match.
func expectedAnswer(b *testing.B, ctx context.Context, st *store.Store, text string) (string, int) {
	b.Helper()
	p, err := st.Search(ctx, store.Query{Text: text, Limit: 1})
	if err != nil || len(p.Items) == 0 {
		b.Fatalf("search %q: %v, %d items", text, err, len(p.Items))
	}
	// The pages this reference read mapped are the benchmark's, not the app's.
	if err := st.ReleaseMapped(); err != nil {
		b.Fatal(err)
	}
	return p.Items[0].Title, p.Total
}

// readLog is the UI's replica, counting the rows each read asks for.
type readLog struct {
	app.Replica
	mu       sync.Mutex
	log      []readCall
	inflight int
}

type readCall struct {
	offset, limit int
	took          time.Duration
}

func (r *readLog) begin() time.Time {
	r.mu.Lock()
	r.inflight++
	r.mu.Unlock()
	return time.Now()
}

func (r *readLog) end(offset, limit int, start time.Time) {
	r.mu.Lock()
	r.log = append(r.log, readCall{offset, limit, time.Since(start)})
	r.inflight--
	r.mu.Unlock()
}

func (r *readLog) Page(ctx context.Context, offset, limit int) ([]app.RecordSummary, int, error) {
	defer r.end(offset, limit, r.begin())
	return r.Replica.Page(ctx, offset, limit)
}

func (r *readLog) Search(ctx context.Context, q app.Query) ([]app.RecordSummary, int, error) {
	defer r.end(q.Offset, q.Limit, r.begin())
	return r.Replica.Search(ctx, q)
}

// take returns the reads since the last take.
func (r *readLog) take() []readCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

func (r *readLog) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight > 0
}

// drainUntil runs what the window's background work hands to the UI, on this
// goroutine (which plays the UI goroutine), until cond holds.
func drainUntil(b *testing.B, q chan func(), what string, cond func() bool) {
	b.Helper()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case fn := <-q:
			fn()
		case <-deadline:
			b.Fatalf("timed out waiting for %s", what)
		}
	}
}

// settleUI runs what background work hands to the UI until no read is under
// way and nothing has come for 20 ms.
func settleUI(b *testing.B, q chan func(), r *readLog) {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case fn := <-q:
			fn()
			continue
		case <-time.After(20 * time.Millisecond):
		}
		if !r.busy() && len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatal("the window's reads never settled")
		}
	}
}

// listTitles returns the bold labels of the list's rows on screen (the
// records' titles), top to bottom.
func listTitles(w fyne.Window) []string {
	var list *widget.List
	walkUI(w.Content(), func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.List); ok && list == nil {
			list = l
		}
	})
	if list == nil {
		return nil
	}
	type row struct {
		y    float32
		text string
	}
	var rows []row
	d := fyne.CurrentApp().Driver()
	walkUI(list, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok && l.TextStyle.Bold {
			rows = append(rows, row{d.AbsolutePositionForObject(l).Y, l.Text})
		}
	})
	slices.SortFunc(rows, func(a, b row) int { return int(a.y - b.y) })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.text
	}
	return out
}

func labels(o fyne.CanvasObject) []string {
	var out []string
	walkUI(o, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok {
			out = append(out, l.Text)
		}
	})
	return out
}

func findSearchBox(b *testing.B, w fyne.Window) *widget.Entry {
	var e *widget.Entry
	walkUI(w.Content(), func(o fyne.CanvasObject) {
		if x, ok := o.(*widget.Entry); ok && x.PlaceHolder == "Search forms" {
			e = x
		}
	})
	if e == nil {
		b.Fatal("no search box")
	}
	return e
}

func findList(b *testing.B, w fyne.Window) *widget.List {
	var list *widget.List
	walkUI(w.Content(), func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.List); ok && list == nil {
			list = l
		}
	})
	if list == nil {
		b.Fatal("no list")
	}
	return list
}

// walkUI calls fn for o and every visible object inside it.
func walkUI(o fyne.CanvasObject, fn func(fyne.CanvasObject)) {
	if o == nil || !o.Visible() {
		return
	}
	fn(o)
	switch o := o.(type) {
	case *fyne.Container:
		for _, c := range o.Objects {
			walkUI(c, fn)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(o).Objects() {
			walkUI(c, fn)
		}
	}
}

// thousands writes n as the UI does: commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// residentMB reads the process's resident set size (Linux), in all and split
// into anonymous memory (the heap, stacks) and pages of mapped files (the
// replica's memory map, the binary), which the kernel can drop and read again.
func residentMB() (total, anon, file float64, ok bool) {
	total, ok = statusMB("VmRSS")
	anon, _ = statusMB("RssAnon")
	file, _ = statusMB("RssFile")
	return total, anon, file, ok
}

// statusMB reads one of the memory figures of /proc/self/status (Linux), in MiB.
func statusMB(key string) (float64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, found := strings.CutPrefix(line, key+":"); found {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err == nil {
				return float64(n) / 1024, true
			}
		}
	}
	return 0, false
}
