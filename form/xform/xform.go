package xform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fieldforms/fieldforms/form/xlsform"
)

// Error is a refusal: the form cannot be imported as it is. Path names the element
// the refusal is about, e.g. "/h:html/h:body/group[2]/input[3]" (empty when it is
// about the file as a whole).
type Error struct {
	Path string
	Msg  string

	err error // wrapped, e.g. ErrNotXForm
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Unwrap returns the error the refusal wraps, if any (ErrNotXForm).
func (e *Error) Unwrap() error { return e.err }

// ErrNotXForm is wrapped by the error for a file that is not XML, or not an XForm
// (no h:html root with a model and a primary instance).
var ErrNotXForm = errors.New("not an XForm")

// Import reads an XForm (at most MaxFileSize bytes) and converts it to a template,
// with a report of what was carried over, approximated or dropped. name is the
// file's name, for messages and the template ID when the form has none.
// opts.Files is where external secondary instances (jr://file/x.csv) are looked up.
func Import(ctx context.Context, name string, r io.Reader, opts xlsform.Options) (*xlsform.Report, error) {
	if opts.FileName == "" {
		opts.FileName = name
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Msg: fmt.Sprintf("%s is over the limit of %d bytes", baseName(opts.FileName), MaxFileSize)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := parseXML(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return convert(ctx, root, opts)
}

// ImportFile imports the XForm at path. External instances are looked up beside it
// unless opts.Files says otherwise.
func ImportFile(ctx context.Context, path string, opts xlsform.Options) (*xlsform.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if opts.Files == nil {
		opts.Files = os.DirFS(filepath.Dir(path))
	}
	if opts.FileName == "" {
		opts.FileName = filepath.Base(path)
	}
	return Import(ctx, path, f, opts)
}

func baseName(name string) string {
	if name == "" {
		return "the file"
	}
	return filepath.Base(name)
}
