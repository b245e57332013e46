package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sort"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// The search index is a list of immutable segments, each a sorted dictionary of terms
// with the document numbers that hold them. Every version of a record gets a new
// document number, so an edit never rewrites old segments: the old number simply stops
// being live (the docs bucket no longer maps it) and merges drop it.

const (
	maxTermLen   = 40
	maxSegments  = 24
	smallResults = 2048 // at most this many hits are sorted directly; more walk by recency
)

// Special terms index the filters, so they intersect like words. They start with a
// byte no word contains.
func termTemplate(id string) string { return "\x01t" + id }
func termStatus(s string) string    { return "\x01s" + s }

var (
	termLive    = "\x01d0"
	termDeleted = "\x01d1"
)

// tokenize splits text into lowercase words of letters and digits.
func tokenize(s string, add func(string)) {
	tokenizeBytes([]byte(s), nil, func(w []byte) { add(string(w)) })
}

// tokenizeBytes is tokenize over bytes, with a scratch buffer; ASCII, the common case,
// needs no decoding.
func tokenizeBytes(s []byte, scratch []byte, add func([]byte)) []byte {
	word := scratch[:0]
	flush := func() {
		if len(word) > 0 {
			w := word
			if len(w) > maxTermLen {
				w = w[:maxTermLen]
				for len(w) > 0 && !utf8.Valid(w) {
					w = w[:len(w)-1]
				}
			}
			add(w)
			word = word[:0]
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				word = append(word, c)
			case 'A' <= c && c <= 'Z':
				word = append(word, c+'a'-'A')
			default:
				flush()
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			word = utf8.AppendRune(word, unicode.ToLower(r))
		} else {
			flush()
		}
		i += n
	}
	flush()
	return word
}

// recordTerms lists the distinct terms of a record. The terms share one string (a
// record's words are gathered in one buffer and kept once each), so a record's terms
// cost one allocation rather than one each plus a map.
func recordTerms(r *form.Record) []string {
	ts := wordSets.Get().(*wordSet)
	defer wordSets.Put(ts)
	ts.reset()
	add := func(w string) { ts.add([]byte(w)) }
	var scratch []byte
	for id, fv := range r.Fields {
		v := fv.Value
		if form.IsSystemField(id) || len(v) == 0 {
			continue
		}
		switch {
		case v[0] == '[' && bytes.Contains(v, []byte(`"sha256"`)):
			for _, name := range attachmentNames(v) {
				tokenize(name, add)
			}
		case v[0] == '"' || v[0] == '[' || v[0] == '-' || '0' <= v[0] && v[0] <= '9':
			// Quotes, brackets and commas separate words like spaces do, so the raw JSON
			// of strings without escapes, numbers and lists of choices splits as is.
			if bytes.IndexByte(v, '\\') >= 0 {
				scratch = tokenizeBytes([]byte(form.DisplayValue(v)), scratch, ts.add)
			} else {
				scratch = tokenizeBytes(v, scratch, ts.add)
			}
		}
	}
	add(termTemplate(r.Template))
	add(termStatus(r.Status()))
	if r.Deleted() {
		add(termDeleted)
	} else {
		add(termLive)
	}
	return ts.terms()
}

// wordSet gathers distinct words in one buffer, found again by an open-addressing
// table of their hashes.
type wordSet struct {
	buf   []byte
	spans [][2]int32 // each distinct word: buf[start:end]
	table []int32    // index+1 into spans, 0 for free; its length a power of two
}

var (
	wordSets = sync.Pool{New: func() any { return &wordSet{} }}
	wordSeed = maphash.MakeSeed()
)

func (ts *wordSet) reset() {
	ts.buf, ts.spans = ts.buf[:0], ts.spans[:0]
	if len(ts.table) != 256 {
		ts.table = make([]int32, 256)
	} else {
		clear(ts.table)
	}
}

func (ts *wordSet) add(w []byte) {
	if 2*(len(ts.spans)+1) > len(ts.table) {
		ts.grow()
	}
	mask := uint64(len(ts.table) - 1)
	for i := maphash.Bytes(wordSeed, w) & mask; ; i = (i + 1) & mask {
		e := ts.table[i]
		if e == 0 {
			ts.spans = append(ts.spans, [2]int32{int32(len(ts.buf)), int32(len(ts.buf) + len(w))})
			ts.buf = append(ts.buf, w...)
			ts.table[i] = int32(len(ts.spans))
			return
		}
		if sp := ts.spans[e-1]; bytes.Equal(ts.buf[sp[0]:sp[1]], w) {
			return
		}
	}
}

func (ts *wordSet) grow() {
	ts.table = make([]int32, 2*len(ts.table))
	mask := uint64(len(ts.table) - 1)
	for k, sp := range ts.spans {
		i := maphash.Bytes(wordSeed, ts.buf[sp[0]:sp[1]]) & mask
		for ts.table[i] != 0 {
			i = (i + 1) & mask
		}
		ts.table[i] = int32(k + 1)
	}
}

// terms returns the words, sharing one string.
func (ts *wordSet) terms() []string {
	all := string(ts.buf)
	out := make([]string, len(ts.spans))
	for i, sp := range ts.spans {
		out[i] = all[sp[0]:sp[1]]
	}
	return out
}

func attachmentNames(v []byte) []string {
	var names []string
	for _, part := range bytes.Split(v, []byte(`"name":"`))[1:] {
		if end := bytes.IndexByte(part, '"'); end > 0 {
			names = append(names, string(part[:end]))
		}
	}
	return names
}

// segmentBuilder gathers what one transaction changes in the index: the postings of
// its records, and how the record counts move.
type segmentBuilder struct {
	postings         map[string][]uint32
	records, deleted int64
}

func (b *segmentBuilder) add(doc uint32, terms []string) {
	if b.postings == nil {
		b.postings = make(map[string][]uint32)
	}
	for _, t := range terms {
		b.postings[t] = append(b.postings[t], doc)
	}
}

// encodeSegment writes terms in order with their ascending document numbers:
//
//	u32 n | u32 offset × n | entries: u16 len, term, uvarint count, uvarint deltas
func encodeSegment(terms []string, lists func(i int) []uint32) []byte {
	var entries bytes.Buffer
	offsets := make([]uint32, len(terms))
	var tmp [binary.MaxVarintLen64]byte
	for i, t := range terms {
		offsets[i] = uint32(entries.Len())
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(t)))
		entries.Write(l[:])
		entries.WriteString(t)
		docs := lists(i)
		entries.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(docs)))])
		prev := uint32(0)
		for _, d := range docs {
			entries.Write(tmp[:binary.PutUvarint(tmp[:], uint64(d-prev))])
			prev = d
		}
	}
	out := make([]byte, 4+4*len(terms), 4+4*len(terms)+entries.Len())
	binary.BigEndian.PutUint32(out, uint32(len(terms)))
	for i, o := range offsets {
		binary.BigEndian.PutUint32(out[4+4*i:], o)
	}
	return append(out, entries.Bytes()...)
}

// segment reads an encoded segment in place.
type segment struct {
	data []byte
	n    int
	base int
}

func openSegment(data []byte) (segment, error) {
	if len(data) < 4 {
		return segment{}, fmt.Errorf("%w: index segment too short", ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(data))
	if 4+4*n > len(data) {
		return segment{}, fmt.Errorf("%w: index segment header", ErrCorrupt)
	}
	return segment{data: data, n: n, base: 4 + 4*n}, nil
}

func (s segment) entry(i int) (term []byte, rest []byte) {
	off := s.base + int(binary.BigEndian.Uint32(s.data[4+4*i:]))
	l := int(binary.BigEndian.Uint16(s.data[off:]))
	return s.data[off+2 : off+2+l], s.data[off+2+l:]
}

// lowerBound is the first entry whose term is >= t.
func (s segment) lowerBound(t []byte) int {
	return sort.Search(s.n, func(i int) bool {
		term, _ := s.entry(i)
		return bytes.Compare(term, t) >= 0
	})
}

// forEachDoc calls fn for every document number of the entry's list.
func forEachDoc(rest []byte, fn func(uint32)) {
	count, n := binary.Uvarint(rest)
	rest = rest[n:]
	d := uint32(0)
	for k := uint64(0); k < count; k++ {
		delta, n := binary.Uvarint(rest)
		rest = rest[n:]
		d += uint32(delta)
		fn(d)
	}
}

// bitset is a set of document numbers.
type bitset []uint64

func newBitset(max uint32) bitset { return make(bitset, max/64+1) }

func (b bitset) set(d uint32) {
	if int(d/64) < len(b) {
		b[d/64] |= 1 << (d % 64)
	}
}

func (b bitset) has(d uint32) bool { return int(d/64) < len(b) && b[d/64]&(1<<(d%64)) != 0 }

func (b bitset) and(o bitset) {
	for i := range b {
		if i < len(o) {
			b[i] &= o[i]
		} else {
			b[i] = 0
		}
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) each(fn func(uint32)) {
	for i, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			fn(uint32(i*64 + t))
			w &= w - 1
		}
	}
}

// termSet returns the documents holding term, or any term starting with it when
// prefix is set, across every segment.
func termSet(tx *bolt.Tx, term string, prefix bool, max uint32) (bitset, error) {
	out := newBitset(max)
	c := tx.Bucket(bucketSegments).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seg, err := openSegment(v)
		if err != nil {
			return nil, err
		}
		t := []byte(term)
		for i := seg.lowerBound(t); i < seg.n; i++ {
			got, rest := seg.entry(i)
			if !(bytes.Equal(got, t) || prefix && bytes.HasPrefix(got, t)) {
				break
			}
			forEachDoc(rest, out.set)
		}
	}
	return out, nil
}

// writeSegment stores a batch's postings as a new segment and merges when there are
// too many. It runs inside the apply transaction.
func writeSegment(tx *bolt.Tx, b *segmentBuilder) error {
	if b.records != 0 || b.deleted != 0 {
		m := tx.Bucket(bucketMeta)
		if err := errors.Join(
			m.Put(metaRecCount, u64(uint64(int64(getU64(m, metaRecCount))+b.records))),
			m.Put(metaDelCount, u64(uint64(int64(getU64(m, metaDelCount))+b.deleted))),
		); err != nil {
			return fmt.Errorf("index: counts: %w", err)
		}
		b.records, b.deleted = 0, 0
	}
	if len(b.postings) == 0 {
		return nil
	}
	terms := make([]string, 0, len(b.postings))
	for t := range b.postings {
		terms = append(terms, t)
	}
	sort.Strings(terms)
	data := encodeSegment(terms, func(i int) []uint32 { return b.postings[terms[i]] })
	bk := tx.Bucket(bucketSegments)
	seq, err := bk.NextSequence()
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if err := bk.Put(u64(seq), data); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return mergeSegments(tx)
}

// mergeSegments keeps the number of segments small. When there are more than
// maxSegments, it merges the newest run of segments, extended to older ones while
// they are at most twice the run's size, and drops the postings of documents that
// are no longer live. Merging only a run of the newest keeps each segment a range of
// consecutive document numbers, so lists concatenate in order; sizing the run against
// its predecessor rewrites each posting a logarithmic number of times.
func mergeSegments(tx *bolt.Tx) error {
	bk := tx.Bucket(bucketSegments)
	var keys [][]byte
	var segs []segment
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seg, err := openSegment(v)
		if err != nil {
			return err
		}
		keys = append(keys, append([]byte(nil), k...))
		segs = append(segs, seg)
	}
	if len(segs) <= maxSegments {
		return nil
	}
	from := len(segs) - 1
	total := len(segs[from].data)
	for from > 0 && (len(segs)-from < 2 || len(segs[from-1].data) <= 2*total) {
		from--
		total += len(segs[from].data)
	}
	// A k-way merge by term over the chosen segments, oldest first.
	group := segs[from:]
	live, err := liveDocsFrom(tx, minSegmentDoc(group))
	if err != nil {
		return err
	}
	pos := make([]int, len(group))
	var terms []string
	var lists [][]uint32
	for {
		var min []byte
		for g, s := range group {
			if pos[g] < s.n {
				t, _ := s.entry(pos[g])
				if min == nil || bytes.Compare(t, min) < 0 {
					min = t
				}
			}
		}
		if min == nil {
			break
		}
		var docs []uint32
		term := string(min)
		for g, s := range group {
			if pos[g] < s.n {
				if t, rest := s.entry(pos[g]); string(t) == term {
					forEachDoc(rest, func(d uint32) {
						if live.has(d) {
							docs = append(docs, d)
						}
					})
					pos[g]++
				}
			}
		}
		if len(docs) > 0 {
			terms = append(terms, term)
			lists = append(lists, docs)
		}
	}
	data := encodeSegment(terms, func(i int) []uint32 { return lists[i] })
	for _, k := range keys[from:] {
		if err := bk.Delete(k); err != nil {
			return fmt.Errorf("index merge: %w", err)
		}
	}
	if len(terms) == 0 {
		return nil
	}
	if err := bk.Put(keys[from], data); err != nil {
		return fmt.Errorf("index merge: %w", err)
	}
	return nil
}

// liveDocs is the set of document numbers that belong to a current record version.
func liveDocs(tx *bolt.Tx) (bitset, error) {
	return liveDocsFrom(tx, 0)
}

// liveDocsFrom is liveDocs for the document numbers from min on: a merge of the
// newest segments, the common one, reads only the end of the docs bucket instead of
// all of it (on 100,000 records loaded in pages of 1,000, these reads were most of
// the cost of merging).
func liveDocsFrom(tx *bolt.Tx, min uint32) (bitset, error) {
	max := maxDoc(tx)
	live := newBitset(max)
	c := tx.Bucket(bucketDocs).Cursor()
	for k, _ := c.Seek(u32(min)); k != nil; k, _ = c.Next() {
		if len(k) != 4 {
			return nil, errors.New("index: malformed document key")
		}
		live.set(binary.BigEndian.Uint32(k))
	}
	return live, nil
}

// minSegmentDoc is the smallest document number the segments hold.
func minSegmentDoc(segs []segment) uint32 {
	min := uint32(math.MaxUint32)
	for _, s := range segs {
		for i := 0; i < s.n; i++ {
			_, rest := s.entry(i)
			if count, n := binary.Uvarint(rest); count > 0 && n > 0 {
				if first, m := binary.Uvarint(rest[n:]); m > 0 && first < uint64(min) {
					min = uint32(first)
				}
			}
		}
	}
	if min == math.MaxUint32 {
		return 0
	}
	return min
}

func maxDoc(tx *bolt.Tx) uint32 {
	return uint32(tx.Bucket(bucketDocs).Sequence())
}
