package app

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // photos the file dialog may hand over
	_ "image/jpeg"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"

	"github.com/fieldforms/fieldforms/form"
)

// pick lets the worker choose a file for a photo, file, audio or video field.
func (v *formView) pick(r *formRow) {
	in, ok := r.input.(*fieldAttachInput)
	if !ok || v.finished || !in.canAdd() {
		return
	}
	var filter storage.FileFilter
	if k, ok := mediaKinds[in.kind]; ok {
		filter = storage.NewMimeTypeFileFilter([]string{k.prefix + "*"})
	}
	v.pickFile(filter, func(rc fyne.URIReadCloser, err error) {
		switch {
		case err != nil:
			if r.setProblem("The file could not be opened: " + err.Error()) {
				v.relayout()
			}
		case rc == nil:
			// Cancelled: nothing changes.
		default:
			v.addFile(r, in, rc)
		}
	})
}

func (v *formView) showFileOpen(filter storage.FileFilter, picked func(fyne.URIReadCloser, error)) {
	d := dialog.NewFileOpen(picked, v.win)
	if filter != nil {
		d.SetFilter(filter)
	}
	if s := v.win.Canvas().Size(); s.Width > 0 {
		d.Resize(fyne.NewSize(s.Width*0.9, s.Height*0.9))
	}
	d.Show()
}

// addFile copies a chosen file into the replica's attachments, reading it while
// the dialog's reader is still open (on iOS the file is only reachable through
// it), and adds it to the field.
func (v *formView) addFile(r *formRow, in *fieldAttachInput, rc fyne.URIReadCloser) {
	name := attachmentFileName(rc.URI().Name())
	in.startAdding(name)
	kind := in.kind
	v.work.Go(func() {
		a, preview, err := v.storeFile(rc, name, kind)
		v.toUI(func() {
			in.doneAdding(name)
			if err != nil {
				v.log.Warn("attach file", "field", r.field.Key(), "err", err)
				if r.setProblem(fmt.Sprintf("“%s” was not added: %v.", name, err)) {
					v.relayout()
				}
				return
			}
			r.setProblem("")
			in.append(a, preview)
			v.edited(r)
		})
	})
}

// storeFile reads a chosen file into the replica, off the UI goroutine. A photo is
// read whole, to be previewed as well; a photo, recording or video must be one.
func (v *formView) storeFile(rc fyne.URIReadCloser, name string, kind form.FieldType) (form.Attachment, image.Image, error) {
	defer rc.Close()
	mediaType := attachmentMediaType(rc.URI())
	if k, ok := mediaKinds[kind]; ok && !strings.HasPrefix(mediaType, k.prefix) {
		return form.Attachment{}, nil, errors.New(k.not)
	}
	if kind != form.TypePhoto {
		a, err := v.replica.AddAttachment(v.ctx, rc, mediaType, name)
		return a, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, maxPhotoBytes+1))
	if err != nil {
		return form.Attachment{}, nil, fmt.Errorf("reading it failed: %w", err)
	}
	if len(data) > maxPhotoBytes {
		return form.Attachment{}, nil, fmt.Errorf("it is larger than %s", formByteSize(maxPhotoBytes))
	}
	a, err := v.replica.AddAttachment(v.ctx, bytes.NewReader(data), mediaType, name)
	if err != nil {
		return form.Attachment{}, nil, err
	}
	var preview image.Image
	if img, _, err := image.Decode(bytes.NewReader(data)); err == nil {
		preview = formThumbnail(img, thumbPixelSide)
	}
	return a, preview, nil
}

// attachmentMediaType is a file's media type without parameters; it may read the
// file, so it runs off the UI goroutine.
func attachmentMediaType(u fyne.URI) string {
	t, _, err := mime.ParseMediaType(u.MimeType())
	if err != nil || !strings.Contains(t, "/") || len(t) > 255 {
		return "application/octet-stream"
	}
	return t
}

// attachmentFileName makes a chosen file's name fit an attachment: no path
// separators, at most 255 bytes.
func attachmentFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		name = "file"
	}
	return name
}

// loadImage reads a stored image in the background, scaled down to side pixels,
// and calls show with it on the UI goroutine.
func (v *formView) loadImage(a form.Attachment, side int, show func(image.Image, error)) {
	v.work.Go(func() {
		img, err := v.readImage(a.SHA256, side)
		v.toUI(func() { show(img, err) })
	})
}

func (v *formView) readImage(sha string, side int) (image.Image, error) {
	rc, err := v.replica.OpenAttachment(v.ctx, sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxPhotoBytes))
	if err != nil {
		return nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoPreview, err)
	}
	return formThumbnail(img, side), nil
}
