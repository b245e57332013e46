package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	bolt "go.etcd.io/bbolt"
)

const meterTemplate = `{"id": "meter", "version": 1, "name": "Meter reading", "title": ["meter_no"],
	"fields": [{"id": "meter_no", "type": "text", "label": "Meter"}, {"id": "reading", "type": "integer", "label": "Reading"},
	{"id": "remark", "type": "multiline", "label": "Remark"}]}`

var meter = form.TemplateKey{ID: "meter", Version: 1}

func putMeter(t testing.TB, stores ...*store.Store) {
	t.Helper()
	tpl, err := form.ParseTemplate([]byte(meterTemplate))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		if err := s.PutTemplate(context.Background(), tpl); err != nil {
			t.Fatal(err)
		}
	}
}

// refWords is the reference tokenizer: lowercase runs of letters and digits, at most
// 40 bytes, of every value a person typed (strings and numbers).
func refWords(r form.Record) map[string]bool {
	out := map[string]bool{}
	for id, fv := range r.Fields {
		if strings.HasPrefix(id, "_") || len(fv.Value) == 0 || !strings.ContainsRune(`"-0123456789`, rune(fv.Value[0])) {
			continue
		}
		for _, w := range strings.FieldsFunc(form.DisplayValue(fv.Value), func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
			w = strings.ToLower(w)
			if len(w) > 40 {
				w = w[:40]
			}
			out[w] = true
		}
	}
	return out
}

// refSearch is the brute-force answer to a query over every record.
func refSearch(all []form.Record, q store.Query) (ids []string, total int) {
	var qw []string
	for _, w := range strings.FieldsFunc(q.Text, func(c rune) bool { return !unicode.IsLetter(c) && !unicode.IsDigit(c) }) {
		w = strings.ToLower(w)
		if len(w) > 40 {
			w = w[:40]
		}
		qw = append(qw, w)
	}
	lastIsPrefix := !strings.HasSuffix(q.Text, " ")
	var hits []form.Record
	for _, r := range all {
		switch {
		case q.Deleted == store.LiveOnly && r.Deleted(), q.Deleted == store.DeletedOnly && !r.Deleted():
			continue
		case q.Template != "" && r.Template != q.Template, q.Status != "" && r.Status() != q.Status:
			continue
		}
		up := r.Updated().HLC.Millis()
		if !q.From.IsZero() && up < q.From.UnixMilli() || !q.To.IsZero() && up >= q.To.UnixMilli() {
			continue
		}
		words := refWords(r)
		ok := true
		for i, w := range qw {
			if i == len(qw)-1 && lastIsPrefix {
				found := false
				for have := range words {
					if strings.HasPrefix(have, w) {
						found = true
						break
					}
				}
				ok = ok && found
			} else {
				ok = ok && words[w]
			}
		}
		if ok {
			hits = append(hits, r)
		}
	}
	slices.SortFunc(hits, func(a, b form.Record) int {
		if ua, ub := a.Updated().HLC, b.Updated().HLC; ua != ub {
			if ub < ua {
				return -1
			}
			return 1
		}
		return strings.Compare(b.ID, a.ID)
	})
	limit := q.Limit
	if limit == 0 {
		limit = 50
	}
	for i := q.Offset; i < len(hits) && len(ids) < limit; i++ {
		ids = append(ids, hits[i].ID)
	}
	return ids, len(hits)
}

func allRecords(t testing.TB, s *store.Store) []form.Record {
	t.Helper()
	var all []form.Record
	if err := s.ForEach(context.Background(), func(r form.Record) error { all = append(all, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return all
}

// checkSearch compares a search with the brute-force answer.
func checkSearch(t *testing.T, s *store.Store, all []form.Record, byID map[string]form.Record, q store.Query) {
	t.Helper()
	page, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	want, total := refSearch(all, q)
	got := make([]string, len(page.Items))
	for i, it := range page.Items {
		got[i] = it.ID
	}
	if page.Total != total || !slices.Equal(got, want) {
		t.Fatalf("search %s:\ngot  total %d %v\nwant total %d %v", fmtQuery(q), page.Total, got, total, want)
	}
	for _, it := range page.Items {
		r := byID[it.ID]
		if it.Template != r.Template || it.Version != r.Version || it.Status != r.Status() || it.Deleted != r.Deleted() ||
			!it.Updated.Equal(r.Updated().HLC.Time()) || !it.Created.Equal(r.Created.HLC.Time()) || it.Rev != r.Rev() || it.Title == "" {
			t.Fatalf("summary %+v for %s", it, r.Encode())
		}
	}
}

func fmtQuery(q store.Query) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{Text:%q", q.Text)
	if q.Template != "" {
		fmt.Fprintf(&b, " Template:%s", q.Template)
	}
	if q.Status != "" {
		fmt.Fprintf(&b, " Status:%s", q.Status)
	}
	fmt.Fprintf(&b, " Deleted:%d", q.Deleted)
	if !q.From.IsZero() {
		fmt.Fprintf(&b, " From:%s", q.From.Format(time.RFC3339Nano))
	}
	if !q.To.IsZero() {
		fmt.Fprintf(&b, " To:%s", q.To.Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&b, " Offset:%d Limit:%d}", q.Offset, q.Limit)
	return b.String()
}

var (
	searchWords = []string{"valve", "valves", "pump", "pumps", "pumping", "leak", "leaking", "north", "south", "gauge",
		"seal", "rust", "crack", "pipe", "filter", "motor", "belt", "noise", "Überdruck", "café"}
	searchNames = []string{"Ana Lima", "Bo Berg", "Cy Dorn", "Dee Ek", "Ana Berg"}
)

func someWords(rng *rand.Rand) string {
	n := 1 + rng.IntN(5)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = searchWords[rng.IntN(len(searchWords))]
	}
	return strings.Join(parts, []string{" ", ", ", "; ", " - "}[rng.IntN(4)])
}

// newValues makes the values of a new record of either template.
func newValues(rng *rand.Rand, n int, tpl form.TemplateKey, submitted bool) form.Values {
	if tpl == meter {
		return vals("meter_no", fmt.Sprintf("M-%04d", n), "reading", rng.IntN(5000), "remark", someWords(rng))
	}
	v := vals("site_code", fmt.Sprintf("S-%05d", n), "notes", someWords(rng))
	if submitted || rng.IntN(2) == 0 {
		v["inspector"], _ = json.Marshal(searchNames[rng.IntN(len(searchNames))])
		v["ok"] = json.RawMessage("true")
	}
	return v
}

// TestSearch compares Search with a brute-force filter over every record, on a replica
// built by many separate saves and applied batches, with edits, deletes and restores,
// so that the index holds dead document versions and has merged its segments.
func TestSearch(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	clk := newFakeClock(clockEpoch)
	dir := t.TempDir()
	s := openReplica(t, dir, "dev-search", clk)
	remote := openReplica(t, t.TempDir(), "dev-remote", clk)
	putMeter(t, s, remote)

	var local []string // records this replica created
	var pendingRemote []string
	tick := func() time.Time { return clk.Advance(time.Duration(1+rng.IntN(600)) * time.Second) }
	flushRemote := func() {
		if len(pendingRemote) == 0 {
			return
		}
		var recs []form.Record
		for _, id := range pendingRemote {
			recs = append(recs, mustGet(t, remote, id))
		}
		res, err := s.ApplyRecords(ctx, recs, "pull")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status == store.Rejected {
				t.Fatalf("remote record rejected: %v", r.Err)
			}
		}
		pendingRemote = pendingRemote[:0]
	}
	saves := 0
	for i := 0; i < 300; i++ {
		tick()
		tpl := inspection
		if rng.IntN(10) < 3 {
			tpl = meter
		}
		submitted := rng.IntN(5) == 0
		st := ""
		if submitted {
			st = form.StatusSubmitted
		}
		if rng.IntN(3) == 0 { // created on another device, pulled in batches
			r := mustSave(t, remote, store.Edit{Template: tpl, Author: "rem", Status: st, Values: newValues(rng, i, tpl, submitted)})
			pendingRemote = append(pendingRemote, r.ID)
			if len(pendingRemote) >= 8 {
				flushRemote()
			}
			continue
		}
		r := mustSave(t, s, store.Edit{Template: tpl, Author: "loc", Status: st, Values: newValues(rng, i, tpl, submitted)})
		local = append(local, r.ID)
		if saves++; saves%4 == 0 {
			// A read makes the applier commit what it holds: one index segment.
			if _, err := s.Count(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	flushRemote()
	// Edits of both kinds of record: new versions leave dead documents in the index.
	all := allRecords(t, s)
	for i := 0; i < 120; i++ {
		tick()
		r := all[rng.IntN(len(all))]
		cur := mustGet(t, s, r.ID)
		var err error
		switch op := rng.IntN(10); {
		case op < 2:
			_, err = s.Delete(ctx, "loc", r.ID)
		case op < 4:
			_, err = s.Restore(ctx, "loc", r.ID)
		case cur.Deleted():
			continue
		case op < 5 && cur.Template == "inspection":
			_, err = s.Save(ctx, store.Edit{Record: r.ID, Author: "loc", Status: form.StatusSubmitted,
				Values: vals("inspector", searchNames[rng.IntN(len(searchNames))], "ok", true)})
		case op < 6:
			_, err = s.Save(ctx, store.Edit{Record: r.ID, Author: "loc", Status: form.StatusDraft})
		case cur.Template == "meter":
			_, err = s.Save(ctx, store.Edit{Record: r.ID, Author: "loc", Values: vals("remark", someWords(rng), "reading", rng.IntN(5000))})
		default:
			_, err = s.Save(ctx, store.Edit{Record: r.ID, Author: "loc", Values: vals("notes", someWords(rng))})
		}
		if err != nil {
			t.Fatalf("edit %d of %s: %v", i, r.ID, err)
		}
		if i%5 == 0 {
			if _, err := s.Count(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Remote edits of local records, pulled in a batch: merges into existing records.
	for i := 0; i < 20; i++ {
		tick()
		id := local[rng.IntN(len(local))]
		cur := mustGet(t, s, id)
		if cur.Deleted() {
			continue
		}
		if _, err := remote.ApplyRecords(ctx, []form.Record{cur}, "pull"); err != nil {
			t.Fatal(err)
		}
		tick()
		if cur.Template == "meter" {
			mustSave(t, remote, store.Edit{Record: id, Author: "rem", Values: vals("remark", "remote "+someWords(rng))})
		} else {
			mustSave(t, remote, store.Edit{Record: id, Author: "rem", Values: vals("notes", "remote "+someWords(rng))})
		}
		pendingRemote = append(pendingRemote, id)
	}
	flushRemote()
	end := clk.Now()

	all = allRecords(t, s)
	byID := map[string]form.Record{}
	var times []time.Time
	deleted := 0
	for _, r := range all {
		byID[r.ID] = r
		times = append(times, r.Updated().HLC.Time())
		if r.Deleted() {
			deleted++
		}
	}
	if len(all) != 300 || deleted == 0 || deleted == len(all) {
		t.Fatalf("%d records, %d deleted", len(all), deleted)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if times[i].Equal(times[i-1]) {
			t.Fatalf("two records share the update time %s", times[i])
		}
	}

	texts := []string{"", "pump", "pum", "pump ", "pumps", "pumping", "p", "valve leak", "valve lea", "valves, leaking", "north pump ",
		"ana", "ana li", "ANA BERG", "s 0001", "S-00042", "m 00", "remote", "remote pu", "überdruck", "cafe", "café", "zzz", "rust crack seal",
		"12", "belt-noise", "  gauge  "}
	templates := []string{"", "inspection", "meter", "nope"}
	deletedModes := []store.DeletedFilter{store.LiveOnly, store.DeletedOnly, store.LiveAndDeleted}
	statuses := []string{"", form.StatusDraft, form.StatusSubmitted}
	ranges := [][2]time.Time{
		{}, {clockEpoch, end.Add(time.Hour)}, {times[100], times[200]}, {times[0], {}}, {{}, times[150]},
		{times[150], times[150]}, {times[150], times[151]}, {times[42].Add(-time.Millisecond), times[42].Add(time.Millisecond)},
		{end.Add(time.Hour), {}}, {{}, clockEpoch},
	}
	pages := [][2]int{{0, 0}, {0, 1}, {0, 7}, {7, 7}, {3, 1000}, {49, 50}, {295, 50}, {400, 10}}

	t.Run("Cross", func(t *testing.T) {
		n := 0
		for _, text := range texts {
			for _, tpl := range templates {
				for _, d := range deletedModes {
					// Every filter combination once with the whole result, then with a
					// random status, date range and page.
					checkSearch(t, s, all, byID, store.Query{Text: text, Template: tpl, Deleted: d, Limit: store.MaxPage})
					for k := 0; k < 3; k++ {
						rg := ranges[rng.IntN(len(ranges))]
						pg := pages[rng.IntN(len(pages))]
						checkSearch(t, s, all, byID, store.Query{Text: text, Template: tpl, Deleted: d, Status: statuses[rng.IntN(len(statuses))],
							From: rg[0], To: rg[1], Offset: pg[0], Limit: pg[1]})
						n++
					}
				}
			}
		}
		t.Logf("%d queries", n+len(texts)*len(templates)*len(deletedModes))
	})
	t.Run("Ranges", func(t *testing.T) {
		for _, rg := range ranges {
			for _, d := range deletedModes {
				for _, st := range statuses {
					checkSearch(t, s, all, byID, store.Query{Deleted: d, Status: st, From: rg[0], To: rg[1], Limit: store.MaxPage})
				}
			}
		}
		// From is inclusive and To exclusive, to the millisecond.
		p, _ := s.Search(ctx, store.Query{Deleted: store.LiveAndDeleted, From: times[150], To: times[151]})
		if p.Total != 1 || !p.Items[0].Updated.Equal(times[150]) {
			t.Fatalf("[t150, t151): %+v", p)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		// Walking every page of a query yields each hit once, in order.
		for _, q := range []store.Query{{}, {Deleted: store.LiveAndDeleted}, {Text: "p"}, {Template: "inspection", Deleted: store.LiveAndDeleted},
			{Status: form.StatusDraft, From: times[10]}} {
			want, total := refSearch(all, store.Query{Text: q.Text, Template: q.Template, Status: q.Status, Deleted: q.Deleted, From: q.From, Limit: store.MaxPage})
			var got []string
			for off := 0; off < total+20; off += 13 {
				q.Offset, q.Limit = off, 13
				p, err := s.Search(ctx, q)
				if err != nil || p.Total != total {
					t.Fatalf("%s: %+v %v", fmtQuery(q), p.Total, err)
				}
				for _, it := range p.Items {
					got = append(got, it.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("paged %s: %d ids, want %d", fmtQuery(q), len(got), len(want))
			}
		}
		p, err := s.List(ctx, 0, 10)
		want, total := refSearch(all, store.Query{Limit: 10})
		if err != nil || p.Total != total || len(p.Items) != 10 || p.Items[0].ID != want[0] {
			t.Fatalf("List: %+v %v", p, err)
		}
	})

	// The index has merged its segments: more were written than the index keeps (24),
	// at most that many remain; and a reopened replica answers the same.
	s.Close()
	db, err := bolt.Open(filepath.Join(dir, store.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var segs int
	var written uint64
	_ = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("segments"))
		segs, written = b.Stats().KeyN, b.Sequence()
		return nil
	})
	db.Close()
	if written <= 24 || segs > 24 || segs == 0 {
		t.Fatalf("%d segments written, %d kept: merging was not exercised", written, segs)
	}
	t.Logf("%d index segments written, %d after merges", written, segs)
	s2 := openReplica(t, dir, "dev-search", clk)
	for _, text := range texts {
		checkSearch(t, s2, all, byID, store.Query{Text: text, Deleted: store.LiveAndDeleted, Limit: store.MaxPage})
	}
	mustVerify(t, s2)
}

// TestSearchLarge: with more hits than are sorted directly, the search walks records by
// recency; the answers must be the same.
func TestSearchLarge(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-large", clk)
	putMeter(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2600
	base := clk.Now().UnixMilli() - n*1000
	var recs []form.Record
	for i := 0; i < n; i++ {
		st := form.Stamp{HLC: form.NewHLC(base+int64(i)*1000+int64(rng.IntN(900)), 0), Device: "dev-bulk"}
		fields := map[string]form.FieldValue{
			form.FieldStatus: {Value: json.RawMessage(`"draft"`), Stamp: st},
		}
		tpl := "inspection"
		if i%7 == 0 {
			tpl = "meter"
			fields["remark"] = form.FieldValue{Value: json.RawMessage(fmt.Sprintf("%q", someWords(rng))), Stamp: st}
			fields["meter_no"] = form.FieldValue{Value: json.RawMessage(fmt.Sprintf(`"M-%d"`, i)), Stamp: st}
		} else {
			fields["notes"] = form.FieldValue{Value: json.RawMessage(fmt.Sprintf("%q", someWords(rng))), Stamp: st}
			fields["site_code"] = form.FieldValue{Value: json.RawMessage(fmt.Sprintf(`"S-%05d"`, i)), Stamp: st}
		}
		if i%11 == 0 {
			fields[form.FieldDeleted] = form.FieldValue{Value: json.RawMessage("true"), Stamp: st}
		}
		if i%5 == 0 {
			fields[form.FieldStatus] = form.FieldValue{Value: json.RawMessage(`"submitted"`), Stamp: st}
		}
		recs = append(recs, form.Record{ID: form.NewID(), Template: tpl, Version: 1, Created: st, CreatedBy: "bulk", Fields: fields})
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	for i := 0; i < n; i += 200 {
		res, err := s.ApplyRecords(ctx, recs[i:min(i+200, n)], "bulk")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != store.Applied {
				t.Fatalf("%+v", r)
			}
		}
	}
	all := allRecords(t, s)
	byID := map[string]form.Record{}
	for _, r := range all {
		byID[r.ID] = r
	}
	for _, q := range []store.Query{
		{Template: "inspection"}, {Template: "inspection", Offset: 2000, Limit: 100}, {Text: "p"}, {Text: "p", Offset: 1500, Limit: 1000},
		{Status: form.StatusDraft}, {Status: form.StatusDraft, Deleted: store.LiveAndDeleted, Offset: 1990, Limit: 20},
		{Deleted: store.LiveAndDeleted, Offset: 2590, Limit: 20}, {}, {Offset: 2300}, {Offset: 2047, Limit: 5}, {Offset: 2048, Limit: 5}, {Text: "s"},
		{Text: "pump", Status: form.StatusDraft, Deleted: store.LiveAndDeleted},
		{Text: "s", From: time.UnixMilli(base + 500*1000), To: time.UnixMilli(base + 2500*1000)},
	} {
		checkSearch(t, s, all, byID, q)
	}
}

// The list of live records, near its top and far down, on a replica where nothing
// is deleted (the walk need not look at each record) and once a record is.
func TestSearchLiveListWithAndWithoutDeletions(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-live", clk)
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 2500
	base := clk.Now().UnixMilli() - n*1000
	var recs []form.Record
	for i := 0; i < n; i++ {
		st := form.Stamp{HLC: form.NewHLC(base+int64(i)*1000+int64(rng.IntN(900)), 0), Device: "dev-bulk"}
		recs = append(recs, form.Record{ID: form.NewID(), Template: "inspection", Version: 1, Created: st, CreatedBy: "bulk",
			Fields: map[string]form.FieldValue{
				"site_code": {Value: json.RawMessage(fmt.Sprintf(`"S-%05d"`, i)), Stamp: st},
				"notes":     {Value: json.RawMessage(fmt.Sprintf("%q", someWords(rng))), Stamp: st},
			}})
	}
	if _, err := s.ApplyRecords(ctx, recs, "bulk"); err != nil {
		t.Fatal(err)
	}
	queries := []store.Query{{}, {Offset: 1000}, {Offset: 2047, Limit: 5}, {Offset: 2048, Limit: 5}, {Offset: 2450, Limit: 100}, {Offset: 2499}}
	check := func() {
		t.Helper()
		all := allRecords(t, s)
		byID := map[string]form.Record{}
		for _, r := range all {
			byID[r.ID] = r
		}
		for _, q := range queries {
			checkSearch(t, s, all, byID, q)
		}
	}
	check()
	// The newest and one far down the list deleted: every later page moves up.
	for _, i := range []int{n - 1, 100} {
		if _, err := s.Delete(ctx, "ann", recs[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	check()
}
