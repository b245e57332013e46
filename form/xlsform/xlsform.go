package xlsform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// Options tune an import.
type Options struct {
	FileName string           // for messages and the template ID fallback
	Files    fs.FS            // where files the form names (select_one_from_file CSV/XML) are looked up; nil: none
	Now      func() time.Time // optional
}

// Report is an imported template and what happened to each part of the form.
type Report struct {
	Template     *form.Template `json:"template"`
	Imported     int            `json:"imported"` // survey rows carried over exactly
	Approximated []Approximated `json:"approximated"`
	Dropped      []Dropped      `json:"dropped"`
	Warnings     []Warning      `json:"warnings"`

	rows    int       // survey rows with a type
	started time.Time // when the import started (Options.Now)
}

// Approximated is a part of the form carried over with a different behaviour.
type Approximated struct {
	Row  string `json:"row"`
	What string `json:"what"`
	How  string `json:"how"`

	key rowKey
}

// Dropped is a part of the form left out of the template.
type Dropped struct {
	Row  string `json:"row"`
	What string `json:"what"`
	Why  string `json:"why"`

	key rowKey
}

// Warning is something worth a look that changed nothing.
type Warning struct {
	Row     string `json:"row"`
	Message string `json:"message"`

	key rowKey
}

// Error is a refusal: the form cannot be imported as it is. Row is the spreadsheet's
// 1-based row number (0 when the error is not about one row); Column is the column's
// header ("" when not about one column).
type Error struct {
	Sheet  string
	Row    int
	Column string
	Msg    string

	err error // wrapped, e.g. ErrNotXLSForm
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Sheet != "" {
		b.WriteString(e.Sheet)
		b.WriteString(" sheet")
		if e.Row > 0 {
			fmt.Fprintf(&b, ", row %d", e.Row)
		}
		if e.Column != "" {
			fmt.Fprintf(&b, ", column %s", e.Column)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the error the refusal wraps, if any (ErrNotXLSForm).
func (e *Error) Unwrap() error { return e.err }

// ErrNotXLSForm is wrapped by the error for a file that is not a workbook, or has no
// survey sheet.
var ErrNotXLSForm = errors.New("not an XLSForm")

// MaxFileSize bounds the workbooks Import reads.
const MaxFileSize = 64 << 20

// Import reads an XLSForm workbook, chosen by the extension of name: .xlsx (also
// .xlsm) or .xls. Other files are refused with an error wrapping ErrNotXLSForm.
func Import(ctx context.Context, name string, r io.ReaderAt, size int64, opts Options) (rep *Report, err error) {
	defer func() {
		// A bug here must not take the caller down with it.
		if p := recover(); p != nil {
			rep, err = nil, &Error{Msg: fmt.Sprintf("internal error while importing %s: %v", baseName(name), p)}
		}
	}()
	if opts.FileName == "" {
		opts.FileName = name
	}
	if size < 0 || size > MaxFileSize {
		return nil, &Error{Msg: fmt.Sprintf("%s: %d bytes is over the limit of %d", baseName(name), size, MaxFileSize)}
	}
	var wb *workbook
	ext := strings.ToLower(filepath.Ext(name))
	if ext != ".xlsx" && ext != ".xlsm" && ext != ".xls" {
		return nil, &Error{Msg: fmt.Sprintf("%s: expected an XLSForm workbook (.xlsx or .xls), not %q", baseName(name), ext), err: ErrNotXLSForm}
	}
	// The content decides: an .xls saved under the name .xlsx (or the other way
	// round) is still read.
	magic := make([]byte, 8)
	n, _ := r.ReadAt(magic, 0)
	switch {
	case n >= 4 && string(magic[:4]) == "PK\x03\x04":
		wb, err = readXLSX(ctx, r, size)
	case n == 8 && string(magic) == oleMagic:
		wb, err = readXLS(ctx, r, size)
	case ext == ".xls":
		return nil, &Error{Msg: baseName(name) + ": not an .xls workbook (no OLE2 signature)", err: ErrNotXLSForm}
	default:
		return nil, &Error{Msg: baseName(name) + ": not an .xlsx workbook (not a zip archive)", err: ErrNotXLSForm}
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return convert(ctx, wb, opts)
}

// ImportFile imports the workbook at path. Files the form names are looked up beside
// it unless opts.Files says otherwise.
func ImportFile(ctx context.Context, path string, opts Options) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if opts.Files == nil {
		opts.Files = os.DirFS(filepath.Dir(path))
	}
	if opts.FileName == "" {
		opts.FileName = filepath.Base(path)
	}
	return Import(ctx, path, f, fi.Size(), opts)
}

// ImportBytes imports a workbook held in memory.
func ImportBytes(ctx context.Context, name string, data []byte, opts Options) (*Report, error) {
	return Import(ctx, name, bytes.NewReader(data), int64(len(data)), opts)
}

func baseName(name string) string {
	if name == "" {
		return "the file"
	}
	return filepath.Base(name)
}
