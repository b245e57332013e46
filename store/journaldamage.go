package store

// Telling damage to the journal apart from a torn last write.
//
// Facts the writer guarantees (journal.append, journal.grow, journal.start):
//   - the file is zero-filled ahead of use, to a multiple of journalChunk, and grown
//     (and fsynced) before a frame is written that would come within frameHeaderLen
//     bytes of its end: every frame is followed by at least a frame header's worth of
//     bytes inside the file;
//   - frames of a generation lie end to end from journalHeader, with consecutive LSNs,
//     the first one following a save the database already held when the generation
//     began;
//   - a frame is written only after the one before it is durable, so only the last
//     frame can be torn, and no frame of the generation lies after a torn one.
//
// So a scan that finds a valid frame of the current generation after an unreadable
// stretch has found damage, not a torn write; a frame that runs into the end of the
// file, or a file that ends less than a header after its last frame, was cut; LSNs that
// skip a number lost a save. Whether any of that matters depends on the database: a
// save it already holds (LSN <= journal_applied) is not at stake.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
)

// ErrJournalDamaged: the journal is damaged in a way that may have lost acknowledged
// saves; the replica does not open until `fieldforms repair` (Repair) has recovered
// what it can. Errors that match it also match ErrCorrupt.
var ErrJournalDamaged = errors.New("journal damaged")

// LSNRange is a run of journal sequence numbers (saves), First through Last.
type LSNRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

func (r LSNRange) String() string {
	if r.First == r.Last {
		return fmt.Sprintf("#%d", r.First)
	}
	return fmt.Sprintf("#%d-#%d", r.First, r.Last)
}

func rangesString(rs []LSNRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func countRanges(rs []LSNRange) int {
	n := 0
	for _, r := range rs {
		n += int(r.Last - r.First + 1)
	}
	return n
}

// JournalDamage is damage to the journal that may have lost acknowledged saves. It
// matches ErrJournalDamaged and ErrCorrupt.
type JournalDamage struct {
	Path   string // the journal file
	Offset int64  // byte offset of the first damage; -1 when it is the whole file
	What   string // what is wrong there
	// Applied is the last save the database holds: the saves at stake come after it.
	Applied uint64
	// Readable are the saves beyond Applied that valid frames still hold: Repair
	// recovers them.
	Readable []LSNRange
	// Unreadable are the saves beyond Applied that no valid frame holds.
	Unreadable []LSNRange
	// Unknown: saves after the last one known may be lost too, how many is unknown.
	Unknown bool
	// Advice ends the message: what to do. Empty means run 'fieldforms repair'.
	Advice string
}

func (d *JournalDamage) Is(target error) bool {
	return target == ErrJournalDamaged || target == ErrCorrupt
}

// AtStake is the number of saves known to be at stake (readable and not).
func (d *JournalDamage) AtStake() int { return countRanges(d.Readable) + countRanges(d.Unreadable) }

// Stake says in words which saves are at stake.
func (d *JournalDamage) Stake() string {
	n := d.AtStake()
	if n == 0 {
		if d.Unknown {
			return fmt.Sprintf("saves after #%d are at stake (how many is unknown)", d.Applied)
		}
		return "no save is at stake"
	}
	last := d.Applied
	for _, r := range append(slices.Clone(d.Readable), d.Unreadable...) {
		last = max(last, r.Last)
	}
	s := fmt.Sprintf("%d saves at stake (#%d-#%d)", n, d.Applied+1, last)
	if n == 1 {
		s = fmt.Sprintf("1 save at stake (#%d)", last)
	}
	if u := countRanges(d.Unreadable); u > 0 {
		s += fmt.Sprintf(", %d of them unreadable (%s)", u, rangesString(d.Unreadable))
	}
	if d.Unknown {
		s += fmt.Sprintf(", and any saved after #%d (how many is unknown)", last)
	}
	return s
}

func (d *JournalDamage) Error() string {
	where := d.Path
	if d.Offset >= 0 {
		where = fmt.Sprintf("%s at byte %d", d.Path, d.Offset)
	}
	sep := ": "
	if d.Offset < 0 {
		sep = " "
	}
	advice := d.Advice
	if advice == "" {
		advice = "run 'fieldforms repair'"
	}
	return fmt.Sprintf("journal %s%s%s; %s; %s", where, sep, d.What, d.Stake(), advice)
}

// scannedFrame is a valid frame found in the file.
type scannedFrame struct {
	fr       *frame
	off, end int
	gen      uint64
}

// journalGap is an unreadable stretch with a valid frame of the generation after it.
type journalGap struct {
	off, next int
	what      string
}

// journalScan is what a journal file holds.
type journalScan struct {
	size     int
	headerOK bool
	gen      uint64
	frames   []scannedFrame // valid frames of gen, in file order
	gaps     []journalGap
	tailOff  int            // where the frames of gen end
	cut      string         // the file was cut short after tailOff: how
	torn     string         // a torn frame at tailOff (the only loss allowed): what it looks like
	tornSize int            // its size in bytes, -1 when its header cannot say
	any      []scannedFrame // with a damaged header: valid frames of any generation
}

var framePayloadStart = []byte(`{"lsn":`)

// findFrame returns the offset of the first valid frame of generation gen (any
// generation when gen is 0) that starts at or after from, or -1. Frames are found by
// the start of their payload, which is always framePayloadStart.
func findFrame(data []byte, from int, gen uint64) (int, *frame, uint64) {
	for i := from + frameHeaderLen; i < len(data); {
		k := bytes.Index(data[i:], framePayloadStart)
		if k < 0 {
			return -1, nil, 0
		}
		start := i + k - frameHeaderLen
		i += k + 1
		g := binary.LittleEndian.Uint64(data[start+8 : start+16])
		if gen != 0 && g != gen || g == 0 {
			continue
		}
		if fr, _, err := readFrame(data[start:], g); err == nil {
			return start, fr, g
		}
	}
	return -1, nil, 0
}

// scanJournal reads every valid frame of the current generation, past damage, and
// classifies what ends them.
func scanJournal(data []byte) journalScan {
	sc := journalScan{size: len(data), tornSize: -1}
	if len(data) < journalHeader || string(data[:4]) != string(journalMagic) ||
		crc32.Checksum(data[4:12], castagnoli) != binary.LittleEndian.Uint32(data[12:16]) {
		// Without the generation, frames of every generation are candidates.
		for off := 0; ; {
			at, fr, g := findFrame(data, off, 0)
			if at < 0 {
				break
			}
			n := frameHeaderLen + int(binary.LittleEndian.Uint32(data[at:]))
			sc.any = append(sc.any, scannedFrame{fr: fr, off: at, end: at + n, gen: g})
			sc.gen = max(sc.gen, g)
			off = at + n
		}
		return sc
	}
	sc.headerOK = true
	sc.gen = binary.LittleEndian.Uint64(data[4:12])
	off := journalHeader
	for {
		fr, n, err := readFrame(data[off:], sc.gen)
		if err == nil {
			sc.frames = append(sc.frames, scannedFrame{fr: fr, off: off, end: off + n, gen: sc.gen})
			off += n
			continue
		}
		next, _, _ := findFrame(data, off+1, sc.gen)
		if next >= 0 && next <= off {
			next = -1
		}
		if next < 0 {
			sc.tailOff = off
			sc.classifyTail(data, off, err)
			return sc
		}
		sc.gaps = append(sc.gaps, journalGap{off: off, next: next, what: describeBadFrame(data[off:], sc.gen, err)})
		off = next
	}
}

// describeBadFrame says what is at the start of b, where a frame of gen was expected.
func describeBadFrame(b []byte, gen uint64, err error) string {
	if len(b) < frameHeaderLen {
		return "the file ends inside a frame header"
	}
	n := binary.LittleEndian.Uint32(b)
	g := binary.LittleEndian.Uint64(b[8:16])
	switch {
	case n == 0 && g == 0:
		return "zeroed frame header"
	case g != gen && errors.Is(err, errEndOfLog):
		return fmt.Sprintf("a frame of an earlier generation (%d)", g)
	case g != gen:
		return "corrupt frame header"
	case int(n) > maxFrame:
		return fmt.Sprintf("corrupt frame header (length %d)", n)
	case frameHeaderLen+int(n) > len(b):
		return "a frame that runs past the end of the file"
	default:
		return fmt.Sprintf("corrupt frame (%v)", err)
	}
}

// classifyTail says what follows the last frame of the generation, at off.
func (sc *journalScan) classifyTail(data []byte, off int, err error) {
	rest := data[off:]
	if len(rest) < frameHeaderLen {
		if len(rest) == 0 {
			sc.cut = "the file ends right after a frame, where at least a frame header of zeros must follow (it was cut short)"
		} else {
			sc.cut = fmt.Sprintf("the file ends %d bytes after the last frame, inside where the next header goes (it was cut short)", len(rest))
		}
		return
	}
	n := int(binary.LittleEndian.Uint32(rest))
	g := binary.LittleEndian.Uint64(rest[8:16])
	switch {
	case n == 0 && g == 0:
		// The end of the log, unless a frame's payload follows a zeroed header: a
		// torn write whose first block never reached the disk, or damage to the last
		// frame; either way that save cannot be told from one never acknowledged.
		if bytes.HasPrefix(rest[frameHeaderLen:], framePayloadStart) {
			sc.torn = "a zeroed frame header followed by a frame's data"
		}
	case errors.Is(err, errEndOfLog):
		// A whole frame of an earlier generation: the end of this one.
	case g == sc.gen && n <= maxFrame && frameHeaderLen+n > len(rest):
		sc.cut = fmt.Sprintf("the frame at byte %d runs %d bytes past the end of the file (it was cut short)", off, frameHeaderLen+n-len(rest))
	default:
		sc.torn = describeBadFrame(rest, sc.gen, err)
		if g == sc.gen && n <= maxFrame {
			sc.tornSize = frameHeaderLen + n
		}
	}
}

// journalFindings is what a scan means for a database that holds saves up to applied.
type journalFindings struct {
	// damage describes the first damage found, with the saves at stake; nil when
	// the journal is sound.
	damage *JournalDamage
	// atStake: the damage may have lost a save beyond applied (the replica must not
	// open until repaired). Damage confined to applied saves is not.
	atStake bool
	replay  []*frame // valid frames beyond applied, in LSN order
}

// assessJournal weighs a scan against the database. With a damaged header, valid
// frames of every generation count.
func assessJournal(path string, sc journalScan, applied uint64) journalFindings {
	var fd journalFindings
	d := &JournalDamage{Path: path, Offset: -1, Applied: applied}
	type finding struct {
		off  int
		what string
	}
	var found []finding
	frames := sc.frames
	if !sc.headerOK {
		frames = sc.any
		d.Unknown = true
		switch {
		case sc.size == 0:
			found = append(found, finding{-1, "is empty (cut to 0 bytes)"})
		case sc.size < journalHeader:
			found = append(found, finding{-1, fmt.Sprintf("is cut to %d bytes, shorter than its header", sc.size)})
		default:
			found = append(found, finding{0, "unreadable header"})
		}
	}
	for _, g := range sc.gaps {
		found = append(found, finding{g.off, fmt.Sprintf("%s, with valid frames after it (the next at byte %d)", g.what, g.next)})
	}
	if sc.cut != "" {
		d.Unknown = true
		found = append(found, finding{sc.tailOff, sc.cut})
	}
	// Which saves beyond applied do valid frames hold, and do they follow each other?
	byLSN := map[uint64]scannedFrame{}
	disorder := false
	for i, f := range frames {
		lsn := f.fr.LSN
		if sc.headerOK && i > 0 {
			prev := frames[i-1].fr.LSN
			afterGap := slices.ContainsFunc(sc.gaps, func(g journalGap) bool { return g.next == f.off })
			if lsn != prev+1 && !(afterGap && lsn > prev) {
				found = append(found, finding{f.off, fmt.Sprintf("save #%d follows save #%d (the sequence does not follow)", lsn, prev)})
				if lsn <= prev && lsn > applied {
					disorder = true
				}
			}
		}
		if lsn <= applied {
			continue
		}
		if old, dup := byLSN[lsn]; !dup || f.gen > old.gen {
			byLSN[lsn] = f
		}
	}
	lsns := make([]uint64, 0, len(byLSN))
	for l := range byLSN {
		lsns = append(lsns, l)
	}
	slices.Sort(lsns)
	want := applied + 1
	for _, l := range lsns {
		if l > want {
			d.Unreadable = append(d.Unreadable, LSNRange{want, l - 1})
		}
		if n := len(d.Readable); n > 0 && d.Readable[n-1].Last+1 == l {
			d.Readable[n-1].Last = l
		} else {
			d.Readable = append(d.Readable, LSNRange{l, l})
		}
		want = l + 1
		fd.replay = append(fd.replay, byLSN[l].fr)
	}
	if sc.headerOK && len(sc.frames) > 0 && sc.frames[0].fr.LSN > applied+1 {
		found = append(found, finding{sc.frames[0].off, fmt.Sprintf("the journal begins at save #%d but the database holds saves only up to #%d", sc.frames[0].fr.LSN, applied)})
	}
	if len(found) == 0 {
		return fd
	}
	slices.SortStableFunc(found, func(a, b finding) int { return a.off - b.off })
	d.Offset, d.What = int64(found[0].off), found[0].what
	fd.damage = d
	fd.atStake = len(d.Unreadable) > 0 || d.Unknown || disorder
	return fd
}
