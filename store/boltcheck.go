package store

// Checks of a bbolt file made with plain reads, before bbolt maps it: bbolt trusts
// its file, and a cut or damaged one makes it read outside the mapping (SIGBUS) or
// panic on a page it does not expect. Here every page id, offset and length is
// checked against the file before it is used, so damage is an error that says
// where, never a crash. The same walker serves Verify and SalvageDB.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrDamaged: a database file is damaged: cut, overwritten or with pages that are
// not what bbolt wrote. The error is a *DamageError that names the file, what is
// wrong and where; errors.Is(err, ErrCorrupt) holds for it too.
var ErrDamaged = errors.New("database damaged")

// DefaultDamageAdvice ends a DamageError on a device.
const DefaultDamageAdvice = "run `fieldforms repair`"

// DamageError says which file is damaged, what is wrong, where, and what to do.
type DamageError struct {
	File   string // the file's path
	What   string // what is wrong
	Where  string // a page and byte offset, when known
	Advice string // what to do
}

func (e *DamageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is damaged: %s", e.File, e.What)
	if e.Where != "" {
		fmt.Fprintf(&b, " (%s)", e.Where)
	}
	if e.Advice != "" {
		fmt.Fprintf(&b, "; %s", e.Advice)
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// Is makes errors.Is(err, ErrDamaged) and errors.Is(err, ErrCorrupt) true.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged || target == ErrCorrupt }

// bbolt's on-disk format (go.etcd.io/bbolt internal/common), in the byte order of
// the machines it runs on: little endian.
const (
	boltMagic          = 0xED0CDAED
	boltVersion        = 2
	boltPageHeader     = 16
	boltMetaOffset     = boltPageHeader
	boltMetaSumLen     = 56 // the meta's bytes its checksum covers
	boltMetaLen        = boltMetaSumLen + 8
	boltElemLen        = 16 // branch and leaf elements
	boltBranchFlag     = 0x01
	boltLeafFlag       = 0x02
	boltMetaFlag       = 0x04
	boltFreelistFlag   = 0x10
	boltBucketLeafFlag = 0x01
	boltNoFreelist     = ^uint64(0)
	boltMaxDepth       = 64 // deeper than any real tree: a cycle
)

var le = binary.LittleEndian

// boltMeta is a decoded meta page.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) exist
	txid     uint64
}

// boltFile is a bbolt file opened for plain reads.
type boltFile struct {
	path   string
	f      *os.File
	size   int64
	psize  int64
	meta   boltMeta
	advice string
	// visited holds the pages the walk has read (SalvageDB scans the others).
	visited map[uint64]bool
}

func (b *boltFile) damage(what, where string) *DamageError {
	return &DamageError{File: b.path, What: what, Where: where, Advice: b.advice}
}

func (b *boltFile) at(id uint64) string {
	return fmt.Sprintf("page %d, offset %d", id, id*uint64(b.psize))
}

func (b *boltFile) close() error { return b.f.Close() }

// readMeta decodes the meta page at off; it fails when the page is not a valid
// meta page (as bbolt's Meta.Validate).
func readMeta(f io.ReaderAt, off int64) (boltMeta, error) {
	var buf [boltMetaOffset + boltMetaLen]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return boltMeta{}, fmt.Errorf("cannot be read: %v", err)
	}
	m := buf[boltMetaOffset:]
	switch {
	case le.Uint32(m[0:]) != boltMagic:
		return boltMeta{}, errors.New("no bbolt magic number")
	case le.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("format version %d, not %d", le.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSumLen])
	if h.Sum64() != le.Uint64(m[boltMetaSumLen:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	return boltMeta{
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}, nil
}

// openBoltFile checks a bbolt file before bbolt maps it: a valid meta page, a file
// as long as the meta says, a root and a freelist page inside it and of the right
// kinds, and a freelist that names pages inside it. On damage it returns a
// *DamageError. advice ends the error.
func openBoltFile(path, advice string) (*boltFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	b := &boltFile{path: path, f: f, advice: advice}
	if err := b.check(); err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

func (b *boltFile) check() error {
	if err := b.readMetas(); err != nil {
		return err
	}
	return b.checkBounds()
}

// readMetas finds the meta page bbolt would use and the page size.
func (b *boltFile) readMetas() error {
	st, err := b.f.Stat()
	if err != nil {
		return err
	}
	b.size = st.Size()
	if b.size < 2*512 {
		return b.damage(fmt.Sprintf("the file is %d bytes, too short for bbolt's two meta pages", b.size), "")
	}
	// Meta page 0 gives the page size; if it is damaged, look for meta page 1 at
	// every page size bbolt can use.
	m0, err0 := readMeta(b.f, 0)
	var m1 boltMeta
	var err1 error = errors.New("not found")
	if err0 == nil {
		if !validPageSize(m0.pageSize) {
			return b.damage(fmt.Sprintf("meta page 0 gives page size %d", m0.pageSize), "page 0, offset 0")
		}
		m1, err1 = readMeta(b.f, int64(m0.pageSize))
	} else {
		for ps := int64(512); ps <= 1<<16; ps *= 2 {
			if m, err := readMeta(b.f, ps); err == nil && int64(m.pageSize) == ps {
				m1, err1 = m, nil
				break
			}
		}
	}
	var m boltMeta
	switch {
	case err0 != nil && err1 != nil:
		return b.damage("both meta pages are invalid: meta 0: "+err0.Error()+"; meta 1: "+err1.Error(), "pages 0 and 1")
	case err0 != nil:
		m = m1
	case err1 != nil:
		m = m0
	case m1.txid > m0.txid:
		m = m1
	default:
		m = m0
	}
	if !validPageSize(m.pageSize) {
		return b.damage(fmt.Sprintf("the meta page gives page size %d", m.pageSize), "")
	}
	b.meta, b.psize = m, int64(m.pageSize)
	if m.pgid < 3 || m.pgid > uint64(1)<<48 {
		return b.damage(fmt.Sprintf("the meta page's high-water mark is page %d", m.pgid), "")
	}
	return nil
}

// checkBounds checks the file's length, the root page and the freelist against the
// meta page.
func (b *boltFile) checkBounds() error {
	m := b.meta
	if need := int64(m.pgid) * b.psize; b.size < need {
		return b.damage(fmt.Sprintf("the file is cut: %d bytes, but its pages reach %d bytes", b.size, need),
			fmt.Sprintf("page %d, offset %d", b.size/b.psize, b.size))
	}
	if m.root < 2 || m.root >= m.pgid {
		return b.damage(fmt.Sprintf("the root bucket's page %d is outside the file's pages [2, %d)", m.root, m.pgid), "")
	}
	if _, err := b.page(m.root, boltBranchFlag|boltLeafFlag); err != nil {
		return err
	}
	if m.freelist != boltNoFreelist {
		if m.freelist < 2 || m.freelist >= m.pgid {
			return b.damage(fmt.Sprintf("the freelist's page %d is outside the file's pages [2, %d)", m.freelist, m.pgid), "")
		}
		ids, err := b.freelist()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id < 2 || id >= m.pgid {
				return b.damage(fmt.Sprintf("the freelist names page %d, outside the file's pages [2, %d)", id, m.pgid), b.at(m.freelist))
			}
		}
	}
	return nil
}

func validPageSize(ps uint32) bool { return ps >= 512 && ps <= 1<<16 && ps&(ps-1) == 0 }

// page reads page id with its overflow pages and checks its header: its own id,
// one of the kinds in flags, and an end inside the high-water mark.
func (b *boltFile) page(id uint64, flags uint16) ([]byte, error) {
	if id < 2 || id >= b.meta.pgid {
		return nil, b.damage(fmt.Sprintf("a reference to page %d, outside the file's pages [2, %d)", id, b.meta.pgid), "")
	}
	var hdr [boltPageHeader]byte
	if _, err := b.f.ReadAt(hdr[:], int64(id)*b.psize); err != nil {
		return nil, b.damage("page cannot be read: "+err.Error(), b.at(id))
	}
	if got := le.Uint64(hdr[0:]); got != id {
		return nil, b.damage(fmt.Sprintf("the page says it is page %d", got), b.at(id))
	}
	fl := le.Uint16(hdr[8:])
	if fl&flags == 0 || fl&(fl-1) != 0 {
		return nil, b.damage(fmt.Sprintf("page of kind %#x where a %s page belongs", fl, kindName(flags)), b.at(id))
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if id+overflow >= b.meta.pgid {
		return nil, b.damage(fmt.Sprintf("the page runs %d pages past the high-water mark %d", id+overflow+1-b.meta.pgid, b.meta.pgid), b.at(id))
	}
	buf := make([]byte, int64(overflow+1)*b.psize)
	if _, err := b.f.ReadAt(buf, int64(id)*b.psize); err != nil {
		return nil, b.damage("page cannot be read: "+err.Error(), b.at(id))
	}
	if b.visited != nil {
		for i := range overflow + 1 {
			b.visited[id+i] = true
		}
	}
	return buf, nil
}

func kindName(flags uint16) string {
	var names []string
	for _, k := range []struct {
		f uint16
		n string
	}{{boltBranchFlag, "branch"}, {boltLeafFlag, "leaf"}, {boltMetaFlag, "meta"}, {boltFreelistFlag, "freelist"}} {
		if flags&k.f != 0 {
			names = append(names, k.n)
		}
	}
	return strings.Join(names, " or ")
}

// freelist reads the page ids the freelist page holds.
func (b *boltFile) freelist() ([]uint64, error) {
	id := b.meta.freelist
	p, err := b.page(id, boltFreelistFlag)
	if err != nil {
		return nil, err
	}
	n, off := uint64(le.Uint16(p[10:])), uint64(boltPageHeader)
	if n == 0xFFFF {
		n, off = le.Uint64(p[boltPageHeader:]), boltPageHeader+8
	}
	if n > uint64(len(p))/8 || off+n*8 > uint64(len(p)) {
		return nil, b.damage(fmt.Sprintf("the freelist counts %d pages, more than its page holds", n), b.at(id))
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = le.Uint64(p[off+uint64(i)*8:])
	}
	return ids, nil
}

// kv is one leaf entry: a key and a value, or a nested bucket.
type kv struct {
	key, value []byte
	bucket     bool
}

// node decodes the elements of a branch or leaf page held in p (a page read by
// page, or an inline bucket's page), checking that every element lies inside it.
// For a branch page it returns the children's page ids; for a leaf its entries.
func (b *boltFile) node(p []byte, where string) (children []uint64, entries []kv, leaf bool, err error) {
	if len(p) < boltPageHeader {
		return nil, nil, false, b.damage("a page shorter than its header", where)
	}
	fl, n := le.Uint16(p[8:]), int(le.Uint16(p[10:]))
	if boltPageHeader+n*boltElemLen > len(p) {
		return nil, nil, false, b.damage(fmt.Sprintf("%d elements do not fit in the page", n), where)
	}
	switch fl {
	case boltBranchFlag:
		for i := range n {
			e := boltPageHeader + i*boltElemLen
			children = append(children, le.Uint64(p[e+8:]))
		}
		return children, nil, false, nil
	case boltLeafFlag:
		for i := range n {
			e := boltPageHeader + i*boltElemLen
			flags, pos, ksize, vsize := le.Uint32(p[e:]), uint64(le.Uint32(p[e+4:])), uint64(le.Uint32(p[e+8:])), uint64(le.Uint32(p[e+12:]))
			start := uint64(e) + pos
			if start+ksize+vsize > uint64(len(p)) {
				return nil, nil, false, b.damage(fmt.Sprintf("element %d reaches past the end of its page", i), where)
			}
			entries = append(entries, kv{
				key:    p[start : start+ksize],
				value:  p[start+ksize : start+ksize+vsize],
				bucket: flags&boltBucketLeafFlag != 0,
			})
		}
		return nil, entries, true, nil
	}
	return nil, nil, false, b.damage(fmt.Sprintf("page of kind %#x inside a bucket's tree", fl), where)
}

// walkBucket calls fn for every entry of the bucket tree rooted at page root (or
// the inline page when root is 0), in key order, and for every problem it meets;
// it goes on past a damaged page to the next one. path names the bucket.
func (b *boltFile) walkBucket(path []string, value []byte, fn func(path []string, e kv), bad func(error)) {
	if len(value) < 16 {
		bad(b.damage(fmt.Sprintf("bucket %q: a bucket header of %d bytes", strings.Join(path, "/"), len(value)), ""))
		return
	}
	root := le.Uint64(value)
	seen := map[uint64]bool{}
	var visit func(p []byte, where string, depth int)
	visit = func(p []byte, where string, depth int) {
		children, entries, _, err := b.node(p, where)
		if err != nil {
			bad(err)
			return
		}
		for _, e := range entries {
			if e.bucket {
				fn(path, e) // the bucket's header: its root and sequence
				sub := append(append([]string(nil), path...), string(e.key))
				b.walkBucketAt(sub, e.value, fn, bad, depth+1)
				continue
			}
			fn(path, e)
		}
		for _, c := range children {
			if depth >= boltMaxDepth || seen[c] {
				bad(b.damage(fmt.Sprintf("bucket %q: page %d is referred to twice (a loop)", strings.Join(path, "/"), c), b.at(c)))
				continue
			}
			seen[c] = true
			cp, err := b.page(c, boltBranchFlag|boltLeafFlag)
			if err != nil {
				bad(err)
				continue
			}
			visit(cp, b.at(c), depth+1)
		}
	}
	if root == 0 {
		visit(value[16:], fmt.Sprintf("inline bucket %q", strings.Join(path, "/")), 0)
		return
	}
	seen[root] = true
	p, err := b.page(root, boltBranchFlag|boltLeafFlag)
	if err != nil {
		bad(err)
		return
	}
	visit(p, b.at(root), 0)
}

func (b *boltFile) walkBucketAt(path []string, value []byte, fn func([]string, kv), bad func(error), depth int) {
	if depth > boltMaxDepth {
		bad(b.damage("buckets nested too deep (a loop)", ""))
		return
	}
	b.walkBucket(path, value, fn, bad)
}

// walk visits every entry of every bucket of the file; see walkBucket.
func (b *boltFile) walk(fn func(path []string, e kv), bad func(error)) {
	var root [16]byte
	le.PutUint64(root[:], b.meta.root)
	b.walkBucket(nil, root[:], fn, bad)
}

// checkDBFile is the check Open makes before bbolt maps path: it returns nil for a
// missing or empty file (a new replica), a *DamageError for damage. A database
// missing or empty while the journal is there is damage too: the replica is not
// new, and opening it empty would lose what it held.
func checkDBFile(dir, advice string) error {
	path := filepath.Join(dir, DBFile)
	st, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err != nil || st.Size() == 0 {
		if js, jerr := os.Stat(filepath.Join(dir, JournalFile)); jerr == nil && js.Size() > 0 {
			what := "it is missing"
			if err == nil {
				what = "it is empty (0 bytes)"
			}
			return &DamageError{File: path, What: what + ", but the replica's journal.log is there", Advice: advice}
		}
		return nil
	}
	b, err := openBoltFile(path, advice)
	if err != nil {
		return err
	}
	if err := b.checkBranches(); err != nil {
		b.close()
		return err
	}
	return b.close()
}

// checkBranches reads the branch pages of every top-level bucket's tree, and no
// leaf page but the root bucket's: a few pages in a hundred, so Open stays quick.
// bbolt trusts a branch page's element count, and where the file holds zeros past
// its pages (bbolt grows a file ahead of use, and on Windows to its whole memory
// map) a count too large makes its cursor read children from those zeros and
// descend for ever, until memory runs out: a fatal error no guard can catch. Here a
// branch whose elements do not fit in its page, a child outside the file's pages or
// met twice, or a tree whose levels disagree is damage. bbolt's trees are balanced
// (a split adds a level at the root, a merge removes one there), so every leaf is
// as deep as the first one; leaves are not read.
func (b *boltFile) checkBranches() error {
	// The root bucket holds only the top-level buckets' headers: a page or two, read
	// whole.
	var buckets []kv
	pages := []uint64{b.meta.root}
	seen := map[uint64]bool{b.meta.root: true}
	for len(pages) > 0 {
		id := pages[0]
		pages = pages[1:]
		if len(seen) > 1024 {
			return b.damage("the root bucket spans more pages than any real one", b.at(id))
		}
		p, err := b.page(id, boltBranchFlag|boltLeafFlag)
		if err != nil {
			return err
		}
		children, entries, _, err := b.node(p, b.at(id))
		if err != nil {
			return err
		}
		for _, c := range children {
			if seen[c] {
				return b.damage(fmt.Sprintf("the root bucket: page %d is referred to twice (a loop)", c), b.at(id))
			}
			seen[c] = true
			pages = append(pages, c)
		}
		for _, e := range entries {
			if e.bucket {
				buckets = append(buckets, kv{key: bytes.Clone(e.key), value: bytes.Clone(e.value), bucket: true})
			}
		}
	}
	for _, bk := range buckets {
		if len(bk.value) < 16 {
			return b.damage(fmt.Sprintf("bucket %q: a bucket header of %d bytes", bk.key, len(bk.value)), "")
		}
		if id := le.Uint64(bk.value); id != 0 {
			if err := b.checkTreeBranches(string(bk.key), id); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTreeBranches checks the branch pages of the bucket tree rooted at page root.
func (b *boltFile) checkTreeBranches(name string, root uint64) error {
	// The depth of the leaves: down the first children.
	depth := 0
	for id := root; ; depth++ {
		if depth > boltMaxDepth {
			return b.damage(fmt.Sprintf("bucket %q: its tree is deeper than any real one (a loop)", name), b.at(id))
		}
		p, err := b.page(id, boltBranchFlag|boltLeafFlag)
		if err != nil {
			return err
		}
		children, _, leaf, err := b.node(p, b.at(id))
		if err != nil {
			return err
		}
		if leaf {
			break
		}
		if len(children) == 0 {
			return b.damage(fmt.Sprintf("bucket %q: a branch page without elements", name), b.at(id))
		}
		id = children[0]
	}
	seen := map[uint64]bool{root: true}
	level := []uint64{root}
	for d := 0; d < depth; d++ {
		var next []uint64
		for _, id := range level {
			p, err := b.page(id, boltBranchFlag)
			if err != nil {
				return err
			}
			children, _, _, err := b.node(p, b.at(id))
			if err != nil {
				return err
			}
			if len(children) == 0 {
				return b.damage(fmt.Sprintf("bucket %q: a branch page without elements", name), b.at(id))
			}
			for _, c := range children {
				if c < 2 || c >= b.meta.pgid {
					return b.damage(fmt.Sprintf("bucket %q: a reference to page %d, outside the file's pages [2, %d)", name, c, b.meta.pgid), b.at(id))
				}
				if seen[c] {
					return b.damage(fmt.Sprintf("bucket %q: page %d is referred to twice (a loop)", name, c), b.at(id))
				}
				seen[c] = true
			}
			next = append(next, children...)
		}
		level = next
	}
	return nil
}

// checkPages reads every page of the database file reachable from its root, with
// plain reads, and returns the damage it finds (at most limit problems). bbolt's own
// check runs in a goroutine of its own, where a panic on a damaged page cannot be
// caught: it is safe to run only once this finds nothing.
func checkPages(path, advice string, limit int) (problems []error) {
	err := guarded(path, advice, func() error {
		b, err := openBoltFile(path, advice)
		if err != nil {
			return err
		}
		defer b.close()
		b.walk(func([]string, kv) {}, func(err error) {
			if len(problems) < limit {
				problems = append(problems, err)
			}
		})
		return nil
	})
	if err != nil {
		problems = append([]error{err}, problems...)
	}
	return problems
}

// CheckFile makes the checks Open makes before bbolt maps a database file: meta
// pages, length, root and freelist pages. It returns a *DamageError for damage,
// nil for a file bbolt can map; pages deeper in the file are not read (CheckDB and
// Verify read them all).
func CheckFile(path string) error {
	return guarded(path, "", func() error {
		b, err := openBoltFile(path, "")
		if err != nil {
			return err
		}
		return b.close()
	})
}
