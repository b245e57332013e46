// Package importer imports a form file of any kind Fieldforms reads — an XLSForm
// (.xlsx, .xls) or an ODK XForm (.xml) — into a template with a report of what was
// carried over, approximated or dropped. It picks the reader by the file's content
// where it can, else by its name.
package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldforms/fieldforms/form/xlsform"
)

// Report is what an import made and what happened to each part of the form.
type Report = xlsform.Report

// Options tune an import.
type Options = xlsform.Options

// Kinds lists the file name extensions Import reads.
var Kinds = []string{".xlsx", ".xls", ".xml"}

// ErrUnknownKind is returned for a file that is none of Kinds.
var ErrUnknownKind = errors.New("not a form file: want an XLSForm (.xlsx, .xls) or an XForm (.xml)")

// maxFile bounds what Import reads.
const maxFile = xlsform.MaxFileSize

// ImportFile imports the form in the file at path. Files the form names (a
// select_one_from_file's CSV) are looked up beside it, unless opts.Files says where.
func ImportFile(ctx context.Context, path string, opts Options) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxFile)
	}
	if opts.Files == nil {
		opts.Files = os.DirFS(filepath.Dir(path))
	}
	if opts.FileName == "" {
		opts.FileName = filepath.Base(path)
	}
	return Import(ctx, filepath.Base(path), data, opts)
}

// Import imports a form from its bytes; name is the file's name.
func Import(ctx context.Context, name string, data []byte, opts Options) (*Report, error) {
	if opts.FileName == "" {
		opts.FileName = name
	}
	switch k := kind(name, data); k {
	case ".xlsx", ".xls":
		// The reader goes by the name: give it the kind the content has (an .xls
		// saved with an .xlsx name is common).
		return xlsform.ImportBytes(ctx, strings.TrimSuffix(name, filepath.Ext(name))+k, data, opts)
	case ".xml":
		return importXForm(ctx, name, data, opts)
	}
	return nil, fmt.Errorf("%s: %w", name, ErrUnknownKind)
}

// kind says what a file holds: a ZIP is an .xlsx, an OLE2 compound file an .xls,
// XML an XForm; else its extension says.
func kind(name string, data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return ".xlsx"
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		return ".xls"
	case bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), " \t\r\n"), []byte("<")):
		return ".xml"
	}
	return strings.ToLower(filepath.Ext(name))
}
