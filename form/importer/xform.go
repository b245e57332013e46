package importer

import (
	"bytes"
	"context"

	"github.com/fieldforms/fieldforms/form/xform"
)

func importXForm(ctx context.Context, name string, data []byte, opts Options) (*Report, error) {
	return xform.Import(ctx, name, bytes.NewReader(data), opts)
}
