package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// DeletedFilter chooses live records, deleted ones, or both.
type DeletedFilter int

// Deleted criteria.
const (
	LiveOnly DeletedFilter = iota
	DeletedOnly
	LiveAndDeleted
)

// Query selects records. Every criterion is optional; the zero Query lists live
// records, newest change first.
type Query struct {
	Text     string        // words that must all occur in the values; the last may be a prefix
	Template string        // template ID
	Status   string        // draft or submitted
	From, To time.Time     // last change within [From, To)
	Deleted  DeletedFilter // live (default), deleted, or both
	Offset   int
	Limit    int // 0 means 50
}

// Page is one page of results, newest change first, and how many match in all.
type Page struct {
	Items []Summary
	Total int
}

// MaxPage bounds Query.Limit.
const MaxPage = 1000

// List returns a page of live records, newest change first.
func (s *Store) List(ctx context.Context, offset, limit int) (Page, error) {
	return s.Search(ctx, Query{Offset: offset, Limit: limit})
}

// Search finds records through the index. Words match whole words, except the last,
// which also matches as a prefix so results follow typing.
func (s *Store) Search(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	if q.Limit > MaxPage || q.Offset < 0 {
		return Page{}, fmt.Errorf("search: %w: offset %d, limit %d (at most %d)", ErrBadInput, q.Offset, q.Limit, MaxPage)
	}
	if q.Status != "" && q.Status != form.StatusDraft && q.Status != form.StatusSubmitted {
		return Page{}, fmt.Errorf("search: %w: status %q", ErrBadInput, q.Status)
	}
	type term struct {
		t      string
		prefix bool
	}
	var terms []term
	var words []string
	tokenize(q.Text, func(w string) { words = append(words, w) })
	for i, w := range words {
		terms = append(terms, term{t: w, prefix: i == len(words)-1 && !strings.HasSuffix(q.Text, " ")})
	}
	if q.Template != "" {
		terms = append(terms, term{t: termTemplate(q.Template)})
	}
	if q.Status != "" {
		terms = append(terms, term{t: termStatus(q.Status)})
	}
	switch q.Deleted {
	case LiveOnly:
		terms = append(terms, term{t: termLive})
	case DeletedOnly:
		terms = append(terms, term{t: termDeleted})
	}
	var page Page
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var hits bitset // nil: every record matches
		// Filters alone on an unfiltered text match nearly everything; the live filter
		// is only worth a bitmap when something else narrows the set, or when the page
		// is far down the list: the walk would read the metadata of every record above
		// it to skip the deleted ones, scattered over the file.
		onlyLive := len(terms) == 1 && q.Deleted == LiveOnly && q.Offset < smallResults
		if onlyLive && getU64(tx.Bucket(bucketMeta), metaDelCount) == 0 {
			// Nothing is deleted: every record is live, and the walk reads the
			// metadata of the page's records alone.
			terms, onlyLive = nil, false
		}
		if !onlyLive {
			max := maxDoc(tx)
			for _, t := range terms {
				set, err := termSet(tx, t.t, t.prefix, max)
				if err != nil {
					return err
				}
				if hits == nil {
					hits = set
				} else {
					hits.and(set)
				}
			}
		}
		if hits != nil && q.From.IsZero() && q.To.IsZero() {
			// The term lists and the docs bucket lie in different parts of the file,
			// and the kernel maps a run of pages around each one read: give back
			// the first before reading the second, so a search holds one at a time.
			s.releaseInTx(tx)
			live, err := liveDocs(tx)
			if err != nil {
				return err
			}
			s.releaseInTx(tx)
			hits.and(live)
			if n := hits.count(); n <= smallResults {
				if err := s.sortHits(tx, hits, n, q, &page); err != nil {
					return err
				}
				markPending(tx, &page)
				return nil
			}
		}
		if err := s.walkRecent(tx, hits, onlyLive, q, &page); err != nil {
			return err
		}
		markPending(tx, &page)
		return nil
	})
	return page, err
}

// markPending flags the page's records that have changes not yet acknowledged.
func markPending(tx *bolt.Tx, page *Page) {
	pr := tx.Bucket(bucketPendingRec)
	for i := range page.Items {
		page.Items[i].Pending = pr.Get([]byte(page.Items[i].ID)) != nil
	}
}

// sortHits reads the metadata of a small set of hits and sorts it by last change.
func (s *Store) sortHits(tx *bolt.Tx, hits bitset, n int, q Query, page *Page) error {
	docs := tx.Bucket(bucketDocs)
	metas := tx.Bucket(bucketRecMeta)
	type hit struct {
		id string
		m  recMeta
	}
	all := make([]hit, 0, n)
	var err error
	hits.each(func(d uint32) {
		if err != nil {
			return
		}
		id := docs.Get(u32(d))
		if id == nil {
			return
		}
		var m recMeta
		if m, err = decodeMeta(metas.Get(id)); err == nil {
			all = append(all, hit{string(id), m})
		}
	})
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].m.updated != all[j].m.updated {
			return all[i].m.updated > all[j].m.updated
		}
		return all[i].id > all[j].id
	})
	page.Total = len(all)
	for i := q.Offset; i < len(all) && len(page.Items) < q.Limit; i++ {
		page.Items = append(page.Items, all[i].m.summary(all[i].id))
	}
	return nil
}

// walkRecent goes through records newest change first, within the date range, keeping
// those in hits (all when hits is nil, live ones when onlyLive).
func (s *Store) walkRecent(tx *bolt.Tx, hits bitset, onlyLive bool, q Query, page *Page) error {
	metas := tx.Bucket(bucketRecMeta)
	c := tx.Bucket(bucketByUpdated).Cursor()
	var k, v []byte
	if q.To.IsZero() {
		k, v = c.Last()
	} else {
		k, v = c.Seek(u64(uint64(form.NewHLC(q.To.UnixMilli(), 0))))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	var low uint64
	if !q.From.IsZero() {
		low = uint64(form.NewHLC(q.From.UnixMilli(), 0))
	}
	// Without a date range the total is known from counters, so the walk can stop at
	// the end of the page.
	total := -1
	if q.From.IsZero() && q.To.IsZero() {
		switch {
		case hits == nil && !onlyLive:
			total = int(getU64(tx.Bucket(bucketMeta), metaRecCount))
		case hits == nil && onlyLive:
			m := tx.Bucket(bucketMeta)
			total = int(getU64(m, metaRecCount) - getU64(m, metaDelCount))
		case hits != nil:
			total = hits.count()
		}
	}
	matched := 0
	for ; k != nil && len(k) > 8; k, v = c.Prev() {
		if binary.BigEndian.Uint64(k) < low {
			break
		}
		if hits != nil && !hits.has(binary.BigEndian.Uint32(v)) {
			continue
		}
		id := k[8:]
		var m recMeta
		needMeta := onlyLive || matched >= q.Offset && len(page.Items) < q.Limit
		if needMeta {
			var err error
			if m, err = decodeMeta(metas.Get(id)); err != nil {
				return err
			}
			if onlyLive && m.deleted {
				continue
			}
		}
		if matched >= q.Offset && len(page.Items) < q.Limit {
			page.Items = append(page.Items, m.summary(string(id)))
		}
		matched++
		if total >= 0 && len(page.Items) >= q.Limit {
			break
		}
	}
	if total < 0 {
		total = matched
	} else if k == nil && hits == nil && matched != total {
		// The walk went through the whole index: it must have met every record the
		// counters count. A damaged index page would otherwise drop records from
		// lists silently.
		return fmt.Errorf("%w: the recency index lists %d records where the replica counts %d", ErrCorrupt, matched, total)
	}
	page.Total = total
	return nil
}
