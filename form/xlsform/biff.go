package xlsform

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf16"

	"github.com/richardlehane/mscfb"
)

// Reading .xls (BIFF8, Excel 97-2003) workbooks: the OLE2 container is opened with
// mscfb, and the Workbook stream's records are read here. Only what an XLSForm needs
// is read: sheet names, and cells as text (shared strings, numbers, booleans,
// formula results); number formats only to tell dates.

// BIFF record types.
const (
	recFormula    = 0x0006
	recEOF        = 0x000A
	recFilePass   = 0x002F
	recDateMode   = 0x0022
	recContinue   = 0x003C
	recBoundSheet = 0x0085
	recMulRK      = 0x00BD
	recXF         = 0x00E0
	recSST        = 0x00FC
	recLabelSST   = 0x00FD
	recNumber     = 0x0203
	recLabel      = 0x0204
	recBoolErr    = 0x0205
	recString     = 0x0207
	recRK         = 0x027E
	recFormat     = 0x041E
	recBOF        = 0x0809
)

var errBIFF = errors.New("malformed .xls workbook")

// record is one BIFF record, with the CONTINUE records that follow it.
type record struct {
	typ  uint16
	data []byte
	more [][]byte // CONTINUE records' data
	pos  int      // offset of the record in the stream
}

// records reads the records of a stream from offset pos until the substream's EOF.
func records(stream []byte, pos int, fn func(r *record) error) error {
	var cur *record
	flush := func() error {
		if cur == nil {
			return nil
		}
		r := cur
		cur = nil
		return fn(r)
	}
	for pos+4 <= len(stream) {
		typ := binary.LittleEndian.Uint16(stream[pos:])
		n := int(binary.LittleEndian.Uint16(stream[pos+2:]))
		if pos+4+n > len(stream) {
			return fmt.Errorf("%w: record at %d runs past the end", errBIFF, pos)
		}
		data := stream[pos+4 : pos+4+n]
		if typ == recContinue && cur != nil {
			cur.more = append(cur.more, data)
			pos += 4 + n
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		cur = &record{typ: typ, data: data, pos: pos}
		pos += 4 + n
		if typ == recEOF {
			return flush()
		}
	}
	return flush()
}

// segReader reads a record and its CONTINUE records as one sequence of bytes,
// except in strings, where each CONTINUE starts with the flag byte of the rest.
type segReader struct {
	segs [][]byte
	i    int
	off  int
}

func (s *segReader) avail() int {
	for s.i < len(s.segs) && s.off >= len(s.segs[s.i]) {
		s.i++
		s.off = 0
	}
	if s.i >= len(s.segs) {
		return 0
	}
	return len(s.segs[s.i]) - s.off
}

func (s *segReader) bytes(n int) ([]byte, error) {
	if n <= 0 {
		if n < 0 {
			return nil, errBIFF
		}
		return nil, nil
	}
	if s.avail() >= n {
		b := s.segs[s.i][s.off : s.off+n]
		s.off += n
		return b, nil
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		a := s.avail()
		if a == 0 {
			return nil, fmt.Errorf("%w: a record ends early", errBIFF)
		}
		k := min(a, n-len(out))
		out = append(out, s.segs[s.i][s.off:s.off+k]...)
		s.off += k
	}
	return out, nil
}

func (s *segReader) u8() (int, error) {
	b, err := s.bytes(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (s *segReader) u16() (int, error) {
	b, err := s.bytes(2)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(b)), nil
}

func (s *segReader) u32() (int, error) {
	b, err := s.bytes(4)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

// chars reads n characters, 1 byte each (Latin-1) or 2 (UTF-16) by the flag;
// where the characters go on in a CONTINUE record, it starts with a new flag byte.
func (s *segReader) chars(n int, high bool) (string, error) {
	var u []uint16
	for n > 0 {
		if s.i >= len(s.segs) {
			return "", fmt.Errorf("%w: a string ends early", errBIFF)
		}
		if s.off >= len(s.segs[s.i]) {
			// The characters go on in the next CONTINUE record, after a flag byte.
			s.i++
			s.off = 0
			if s.i >= len(s.segs) || len(s.segs[s.i]) == 0 {
				return "", fmt.Errorf("%w: a string ends early", errBIFF)
			}
			high = s.segs[s.i][0]&1 != 0
			s.off = 1
		}
		seg := s.segs[s.i][s.off:]
		size := 1
		if high {
			size = 2
		}
		k := min(n, len(seg)/size)
		if k == 0 {
			return "", fmt.Errorf("%w: a string ends early", errBIFF)
		}
		for j := 0; j < k; j++ {
			if high {
				u = append(u, binary.LittleEndian.Uint16(seg[2*j:]))
			} else {
				u = append(u, uint16(seg[j]))
			}
		}
		s.off += k * size
		n -= k
	}
	return string(utf16.Decode(u)), nil
}

// str reads an XLUnicodeRichExtendedString; lenBytes is the size of its count (2,
// or 1 for a ShortXLUnicodeString).
func (s *segReader) str(lenBytes int) (string, error) {
	var n int
	var err error
	if lenBytes == 1 {
		n, err = s.u8()
	} else {
		n, err = s.u16()
	}
	if err != nil {
		return "", err
	}
	flags, err := s.u8()
	if err != nil {
		return "", err
	}
	runs, ext := 0, 0
	if flags&0x08 != 0 {
		if runs, err = s.u16(); err != nil {
			return "", err
		}
	}
	if flags&0x04 != 0 {
		if ext, err = s.u32(); err != nil {
			return "", err
		}
	}
	text, err := s.chars(n, flags&0x01 != 0)
	if err != nil {
		return "", err
	}
	if _, err := s.bytes(4 * runs); err != nil {
		return "", err
	}
	if ext < 0 || ext > 1<<24 {
		return "", errBIFF
	}
	if _, err := s.bytes(ext); err != nil {
		return "", err
	}
	return text, nil
}

// biffBook is what the globals substream says.
type biffBook struct {
	sst      []string
	xfFormat []int          // number format of each XF
	formats  map[int]string // custom number formats
	date1904 bool
	sheets   []biffSheet
}

type biffSheet struct {
	name string
	pos  int
}

// readXLS reads a BIFF8 workbook.
func readXLS(ctx context.Context, r io.ReaderAt, size int64) (wb *workbook, err error) {
	defer func() {
		if p := recover(); p != nil {
			wb, err = nil, &Error{Msg: fmt.Sprintf("the .xls workbook could not be read: %v", p), err: ErrNotXLSForm}
		}
	}()
	notXLS := func(msg string) error { return &Error{Msg: msg, err: ErrNotXLSForm} }
	doc, err := mscfb.New(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, notXLS("not an .xls workbook: " + err.Error())
	}
	var stream []byte
	for f, err := doc.Next(); err == nil; f, err = doc.Next() {
		if f.Name == "Workbook" || (f.Name == "Book" && stream == nil) {
			if f.Size > MaxFileSize {
				return nil, notXLS("the .xls workbook stream is too large")
			}
			b, err := io.ReadAll(io.LimitReader(f, MaxFileSize))
			if err != nil {
				return nil, notXLS("the .xls workbook could not be read: " + err.Error())
			}
			if f.Name == "Book" {
				return nil, notXLS("the .xls workbook is in the Excel 5.0/95 format; save it as .xlsx")
			}
			stream = b
		}
	}
	if stream == nil {
		return nil, notXLS("not an .xls workbook: it has no Workbook stream")
	}
	book := &biffBook{formats: map[int]string{}}
	first := true
	err = records(stream, 0, func(rec *record) error {
		if first {
			first = false
			if rec.typ != recBOF || len(rec.data) < 4 {
				return fmt.Errorf("%w: no BOF record", errBIFF)
			}
			if v := binary.LittleEndian.Uint16(rec.data); v != 0x0600 {
				return fmt.Errorf("the .xls workbook is in an old Excel format (BIFF version %#x); save it as .xlsx", v)
			}
			return nil
		}
		return book.global(rec)
	})
	if err != nil {
		return nil, notXLS(err.Error())
	}
	wb = &workbook{format: "xls"}
	for _, sh := range book.sheets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s := &sheet{name: sh.name}
		wb.sheets = append(wb.sheets, s)
		if !xlsformSheets[strings.ToLower(strings.TrimSpace(sh.name))] && len(book.sheets) > 1 {
			continue
		}
		if sh.pos < 0 || sh.pos >= len(stream) {
			return nil, &Error{Sheet: sh.name, Msg: "the sheet could not be read: it starts past the end of the file"}
		}
		if err := book.readSheet(stream, sh.pos, s); err != nil {
			return nil, &Error{Sheet: sh.name, Msg: "the sheet could not be read: " + err.Error()}
		}
	}
	return wb, nil
}

func (b *biffBook) global(rec *record) error {
	d := rec.data
	switch rec.typ {
	case recFilePass:
		return errors.New("the .xls workbook is protected by a password; remove the password or save it as .xlsx")
	case recDateMode:
		if len(d) >= 2 {
			b.date1904 = binary.LittleEndian.Uint16(d) == 1
		}
	case recXF:
		if len(d) >= 4 {
			b.xfFormat = append(b.xfFormat, int(binary.LittleEndian.Uint16(d[2:])))
		}
	case recFormat:
		if len(d) >= 2 {
			s := &segReader{segs: append([][]byte{d[2:]}, rec.more...)}
			if code, err := s.str(2); err == nil {
				b.formats[int(binary.LittleEndian.Uint16(d))] = code
			}
		}
	case recBoundSheet:
		if len(d) < 8 {
			return fmt.Errorf("%w: short BOUNDSHEET", errBIFF)
		}
		if d[5] != 0 { // not a worksheet: a chart, a macro sheet
			return nil
		}
		s := &segReader{segs: [][]byte{d[6:]}}
		name, err := s.str(1)
		if err != nil {
			return err
		}
		b.sheets = append(b.sheets, biffSheet{name: name, pos: int(binary.LittleEndian.Uint32(d))})
	case recSST:
		if len(d) < 8 {
			return fmt.Errorf("%w: short SST", errBIFF)
		}
		n := int(binary.LittleEndian.Uint32(d[4:]))
		if n < 0 || n > 1<<22 {
			return fmt.Errorf("%w: %d shared strings", errBIFF, n)
		}
		s := &segReader{segs: append([][]byte{d[8:]}, rec.more...)}
		b.sst = make([]string, 0, min(n, 1<<16))
		for i := 0; i < n; i++ {
			str, err := s.str(2)
			if err != nil {
				return fmt.Errorf("shared string %d of %d: %w", i+1, n, err)
			}
			b.sst = append(b.sst, str)
		}
	}
	return nil
}

// readSheet reads the cells of the worksheet substream at pos.
func (b *biffBook) readSheet(stream []byte, pos int, s *sheet) error {
	set := func(row, col int, v string) {
		if row >= maxSheetRows || col >= maxSheetCols || v == "" {
			return
		}
		for len(s.rows) <= row {
			s.rows = append(s.rows, nil)
		}
		for len(s.rows[row]) <= col {
			s.rows[row] = append(s.rows[row], "")
		}
		s.rows[row][col] = clean(v)
	}
	// A formula's string result is in the STRING record after it.
	pendRow, pendCol := -1, -1
	first := true
	return records(stream, pos, func(rec *record) error {
		d := rec.data
		if first {
			first = false
			if rec.typ != recBOF {
				return fmt.Errorf("%w: the sheet has no BOF record", errBIFF)
			}
			return nil
		}
		if rec.typ == recString {
			if pendRow >= 0 {
				s := &segReader{segs: append([][]byte{d}, rec.more...)}
				if v, err := s.str(2); err == nil {
					set(pendRow, pendCol, v)
				}
			}
			pendRow = -1
			return nil
		}
		pendRow = -1
		if len(d) < 6 {
			return nil
		}
		row := int(binary.LittleEndian.Uint16(d))
		col := int(binary.LittleEndian.Uint16(d[2:]))
		xf := int(binary.LittleEndian.Uint16(d[4:]))
		switch rec.typ {
		case recLabelSST:
			if len(d) >= 10 {
				if i := int(binary.LittleEndian.Uint32(d[6:])); i >= 0 && i < len(b.sst) {
					set(row, col, b.sst[i])
				}
			}
		case recLabel:
			r := &segReader{segs: append([][]byte{d[6:]}, rec.more...)}
			if v, err := r.str(2); err == nil {
				set(row, col, v)
			}
		case recNumber:
			if len(d) >= 14 {
				set(row, col, b.number(math.Float64frombits(binary.LittleEndian.Uint64(d[6:])), xf))
			}
		case recRK:
			if len(d) >= 10 {
				set(row, col, b.number(rkValue(binary.LittleEndian.Uint32(d[6:])), xf))
			}
		case recMulRK:
			for i, c := 0, col; 4+6*i+6 <= len(d)-2; i, c = i+1, c+1 {
				p := 4 + 6*i
				set(row, c, b.number(rkValue(binary.LittleEndian.Uint32(d[p+2:])), int(binary.LittleEndian.Uint16(d[p:]))))
			}
		case recBoolErr:
			if len(d) >= 8 && d[7] == 0 {
				if d[6] != 0 {
					set(row, col, "TRUE")
				} else {
					set(row, col, "FALSE")
				}
			}
		case recFormula:
			if len(d) < 14 {
				return nil
			}
			res := d[6:14]
			if res[6] == 0xFF && res[7] == 0xFF {
				switch res[0] {
				case 0: // a string, in the next STRING record
					pendRow, pendCol = row, col
				case 1:
					if res[2] != 0 {
						set(row, col, "TRUE")
					} else {
						set(row, col, "FALSE")
					}
				}
				return nil
			}
			set(row, col, b.number(math.Float64frombits(binary.LittleEndian.Uint64(res)), xf))
		}
		return nil
	})
}

// rkValue decodes an RK number: a 30-bit integer or the top of a float64, maybe
// divided by 100.
func rkValue(rk uint32) float64 {
	var n float64
	if rk&2 != 0 {
		n = float64(int32(rk) >> 2)
	} else {
		n = math.Float64frombits(uint64(rk&0xFFFFFFFC) << 32)
	}
	if rk&1 != 0 {
		n /= 100
	}
	return n
}

// number writes a number cell as text: a date when its format is a date's.
func (b *biffBook) number(n float64, xf int) string {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return ""
	}
	if xf >= 0 && xf < len(b.xfFormat) {
		id := b.xfFormat[xf]
		date := 14 <= id && id <= 22 || 27 <= id && id <= 36 || 45 <= id && id <= 47 || 50 <= id && id <= 58
		if code, ok := b.formats[id]; ok {
			date = isDateFormat(code)
		}
		if date {
			if s, ok := excelDate(n, b.date1904); ok {
				return s
			}
		}
	}
	return formatNumber(n)
}
