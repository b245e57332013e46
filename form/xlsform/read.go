package xlsform

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// workbook is a spreadsheet read into text cells: what every later step works on.
type workbook struct {
	sheets   []*sheet
	format   string    // "xlsx" or "xls"
	warnings []Warning // found while reading (cells that could not be read)
}

// sheet holds one worksheet's cells as text. rows[0] is spreadsheet row 1 (the
// header), rows[i] row i+1; trailing empty cells may be missing.
type sheet struct {
	name string
	rows [][]string
}

// cell returns the text of row r (1-based) and column c (0-based), "" when absent.
func (s *sheet) cell(r, c int) string {
	if r < 1 || r > len(s.rows) || c < 0 || c >= len(s.rows[r-1]) {
		return ""
	}
	return s.rows[r-1][c]
}

// find returns the sheet named name, case-insensitively, or nil.
func (wb *workbook) find(name string) *sheet {
	for _, s := range wb.sheets {
		if strings.EqualFold(strings.TrimSpace(s.name), name) {
			return s
		}
	}
	return nil
}

// Limits on what is read, so a hostile file cannot take all memory.
const (
	maxSheetRows = 100000
	maxSheetCols = 1000
	maxCellBytes = 1 << 20
)

// xlsformSheets are the sheets whose cells are read; others are only named.
var xlsformSheets = map[string]bool{"survey": true, "choices": true, "settings": true}

// readXLSX reads an Office Open XML workbook.
func readXLSX(ctx context.Context, r io.ReaderAt, size int64) (wb *workbook, err error) {
	defer func() {
		if p := recover(); p != nil {
			wb, err = nil, &Error{Msg: fmt.Sprintf("the workbook could not be read: %v", p), err: ErrNotXLSForm}
		}
	}()
	f, err := excelize.OpenReader(io.NewSectionReader(r, 0, size), excelize.Options{
		UnzipSizeLimit:    256 << 20,
		UnzipXMLSizeLimit: 64 << 20,
	})
	if err != nil {
		return nil, &Error{Msg: "not an .xlsx workbook: " + err.Error(), err: ErrNotXLSForm}
	}
	defer f.Close()
	date1904 := false
	if p, err := f.GetWorkbookProps(); err == nil && p.Date1904 != nil {
		date1904 = *p.Date1904
	}
	wb = &workbook{format: "xlsx"}
	names := f.GetSheetList()
	for _, name := range names {
		s := &sheet{name: name}
		wb.sheets = append(wb.sheets, s)
		if !xlsformSheets[strings.ToLower(strings.TrimSpace(name))] && len(names) > 1 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		raw, err := f.GetRows(name, excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, &Error{Sheet: name, Msg: "the sheet could not be read: " + err.Error()}
		}
		shown, err := f.GetRows(name)
		if err != nil {
			// Formatting failed (a broken number format): the raw values will do.
			shown = nil
		}
		if len(raw) > maxSheetRows {
			return nil, &Error{Sheet: name, Msg: fmt.Sprintf("%d rows is over the limit of %d", len(raw), maxSheetRows)}
		}
		s.rows = make([][]string, len(raw))
		for i, row := range raw {
			if len(row) > maxSheetCols {
				row = row[:maxSheetCols]
			}
			out := make([]string, len(row))
			for j, v := range row {
				if v == "" {
					continue
				}
				var disp string
				if i < len(shown) && j < len(shown[i]) {
					disp = shown[i][j]
				}
				out[j] = xlsxValue(f, name, i+1, j, v, disp, date1904)
			}
			s.rows[i] = out
		}
	}
	return wb, nil
}

// xlsxValue turns a cell's stored value into the text pyxform would read: booleans
// as TRUE and FALSE, whole numbers without a decimal point, other numbers in their
// shortest form, dates as YYYY-MM-DD (with THH:MM:SS when they have a time), times
// as HH:MM:SS.
func xlsxValue(f *excelize.File, sheetName string, row, col int, raw, shown string, date1904 bool) string {
	if raw == shown {
		return clean(raw)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return clean(raw)
	}
	if (raw == "1" || raw == "0") && (shown == "TRUE" || shown == "FALSE") {
		return shown
	}
	if shown != "" && shown != formatNumber(n) {
		if axis, err := excelize.CoordinatesToCellName(col+1, row); err == nil && isDateCell(f, sheetName, axis) {
			if s, ok := excelDate(n, date1904); ok {
				return s
			}
		}
	}
	return formatNumber(n)
}

// isDateCell reports whether a cell's number format shows a date or a time.
func isDateCell(f *excelize.File, sheetName, axis string) bool {
	idx, err := f.GetCellStyle(sheetName, axis)
	if err != nil {
		return false
	}
	st, err := f.GetStyle(idx)
	if err != nil || st == nil {
		return false
	}
	if st.CustomNumFmt != nil {
		return isDateFormat(*st.CustomNumFmt)
	}
	id := st.NumFmt
	return 14 <= id && id <= 22 || 27 <= id && id <= 36 || 45 <= id && id <= 47 || 50 <= id && id <= 58
}

// isDateFormat reports whether a number format code has date or time parts outside
// quoted text and [colour] sections.
func isDateFormat(code string) bool {
	inQuote, inBracket := false, false
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case inQuote:
			inQuote = c != '"'
		case inBracket:
			if c == ']' {
				inBracket = false
			}
		case c == '"':
			inQuote = true
		case c == '[':
			inBracket = true
		case c == '\\' || c == '_' || c == '*':
			i++
		case strings.IndexByte("yYmMdDhHsS", c) >= 0:
			return true
		}
	}
	return false
}

// excelDate writes a spreadsheet date serial number as a date, date-time or time.
func excelDate(n float64, date1904 bool) (string, bool) {
	if n < 0 || n > 2958465 {
		return "", false
	}
	if n < 1 {
		secs := int(math.Round(n * 86400))
		return fmt.Sprintf("%02d:%02d:%02d", secs/3600%24, secs/60%60, secs%60), true
	}
	t, err := excelize.ExcelDateToTime(n, date1904)
	if err != nil {
		return "", false
	}
	t = t.Round(time.Second)
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("2006-01-02"), true
	}
	return t.Format("2006-01-02T15:04:05"), true
}

// formatNumber writes a number as pyxform does: whole numbers as integers, others in
// the shortest form that reads back exactly.
func formatNumber(n float64) string {
	a := math.Abs(n)
	if n == math.Trunc(n) && a < 1e16 {
		return strconv.FormatInt(int64(n), 10)
	}
	if a >= 1e-4 && a < 1e16 {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return strconv.FormatFloat(n, 'g', -1, 64)
}

// clean trims a cell and replaces no-break spaces with spaces, as pyxform does, and
// typographic quotes with plain ones.
func clean(s string) string {
	if len(s) > maxCellBytes {
		s = s[:maxCellBytes]
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "") // the .xls reader pads strings split across records
	}
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\u00a0\u2018\u2019\u201c\u201d") {
		s = smartQuotes.Replace(s)
	}
	return s
}

var smartQuotes = strings.NewReplacer("\u00a0", " ", "\u2018", "'", "\u2019", "'", "\u201c", `"`, "\u201d", `"`)

// oleMagic starts every OLE2 compound file, .xls workbooks among them.
const oleMagic = "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
