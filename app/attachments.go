package app

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/gif" // photos come as JPEG or PNG; signatures as PNG
	_ "image/jpeg"
	_ "image/png"
	"io"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

const (
	// maxPreviewBytes bounds what a preview reads; bigger files are offered
	// as files.
	maxPreviewBytes = 64 << 20
	// maxPreviewSide bounds the decoded preview, so a 48-megapixel photo
	// holds a few MB of memory, not 200.
	maxPreviewSide = 1600
	// previewWidth is how wide a photo shows in the record view.
	previewWidth = 320
)

// attachmentView shows one attachment: a photo or a signature as an image,
// fetched when the view opens, any other file by name with "Save a copy".
// Fetching can take a while, or fail while the device is offline and does
// not hold the bytes; the view says so, with a retry.
type attachmentView struct {
	env   *env
	a     form.Attachment
	image bool

	// Touched on the UI goroutine only.
	state    string // "pending", "failed", "shown", "" (a file not fetched)
	status   *widget.Label
	retry    *widget.Button
	retryRow fyne.CanvasObject // the retry button's row, hidden with it
	save     *widget.Button
	img      *canvas.Image
	box      *fyne.Container // holds the image once it is read
	view     fyne.CanvasObject
}

// Attachment states.
const (
	attachPending = "pending"
	attachFailed  = "failed"
	attachShown   = "shown"
)

func newAttachmentView(e *env, a form.Attachment, image bool) *attachmentView {
	v := &attachmentView{env: e, a: a, image: image, status: quiet(""), box: container.NewStack()}
	v.retry = widget.NewButtonWithIcon("Try again", theme.ViewRefreshIcon(), v.load)
	v.retryRow = container.NewHBox(touch(v.retry))
	v.retryRow.Hide()
	name := attachmentName(a)
	if image {
		v.view = container.NewVBox(v.box, v.status, v.retryRow)
		v.load()
		return v
	}
	v.save = widget.NewButtonWithIcon("Save a copy…", theme.DocumentSaveIcon(), v.saveCopy)
	label := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	label.Truncation = fyne.TextTruncateEllipsis
	info := quiet(fileInfo(a))
	v.view = container.NewBorder(nil, nil, widget.NewIcon(theme.FileIcon()), touch(v.save),
		container.NewVBox(label, info, v.status))
	v.status.Hide()
	return v
}

// attachmentName is what an attachment is called on screen.
func attachmentName(a form.Attachment) string {
	if a.Name != "" {
		return a.Name
	}
	if len(a.SHA256) >= 12 {
		return a.SHA256[:12]
	}
	return "attachment"
}

// fileInfo says what kind of file and how big.
func fileInfo(a form.Attachment) string {
	parts := []string{byteSize(a.Size)}
	if a.Type != "" {
		parts = append([]string{a.Type}, parts...)
	}
	return strings.Join(parts, " · ")
}

// load fetches and decodes the image in the background.
func (v *attachmentView) load() {
	v.state = attachPending
	v.retryRow.Hide()
	setMessage(v.status, "Loading "+attachmentName(v.a)+"…", widget.MediumImportance)
	v.env.ui.background(func(ctx context.Context) func() {
		img, err := readImage(ctx, v.env.d.Replica, v.a.SHA256)
		return func() {
			if err != nil {
				v.state = attachFailed
				setMessage(v.status, fmt.Sprintf("%s could not be shown: %s", attachmentName(v.a), errText(err)), widget.WarningImportance)
				v.retryRow.Show()
				return
			}
			v.state = attachShown
			v.img = canvas.NewImageFromImage(img)
			v.img.FillMode = canvas.ImageFillContain
			b := img.Bounds()
			h := float32(previewWidth) * float32(b.Dy()) / float32(max(b.Dx(), 1))
			v.img.SetMinSize(fyne.NewSize(previewWidth, min(max(h, 40), 2*previewWidth)))
			v.box.Objects = []fyne.CanvasObject{container.NewHBox(v.img)}
			v.box.Refresh()
			setMessage(v.status, "", widget.MediumImportance)
		}
	})
}

// readImage fetches an attachment and decodes it, scaled down to a preview.
func readImage(ctx context.Context, r Replica, sha string) (image.Image, error) {
	rc, err := r.OpenAttachment(ctx, sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	img, _, err := image.Decode(io.LimitReader(rc, maxPreviewBytes))
	if err != nil {
		return nil, fmt.Errorf("not an image this app can show (%w)", err)
	}
	return shrink(img, maxPreviewSide), nil
}

// shrink scales img down (nearest pixel) so that neither side is longer than
// side; smaller images are returned as they are.
func shrink(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	nw, nh := side, h*side/w
	if h > w {
		nw, nh = w*side/h, side
	}
	nw, nh = max(nw, 1), max(nh, 1)
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	for y := range nh {
		sy := b.Min.Y + y*h/nh
		for x := range nw {
			out.Set(x, y, img.At(b.Min.X+x*w/nw, sy))
		}
	}
	return out
}

// saveCopy asks where to save the file, then fetches it there.
func (v *attachmentView) saveCopy() {
	v.env.saveFile(attachmentName(v.a), func(w fyne.URIWriteCloser) {
		v.state = attachPending
		v.save.Disable()
		setMessage(v.status, "Fetching "+attachmentName(v.a)+"…", widget.MediumImportance)
		v.env.ui.background(func(ctx context.Context) func() {
			err := copyAttachment(ctx, v.env.d.Replica, v.a.SHA256, w)
			return func() {
				v.save.Enable()
				if err != nil {
					v.state = attachFailed
					setMessage(v.status, fmt.Sprintf("Not saved: %s", errText(err)), widget.WarningImportance)
					return
				}
				v.state = attachShown
				setMessage(v.status, "Saved to "+w.URI().Name(), widget.SuccessImportance)
			}
		})
	})
}

// copyAttachment writes an attachment's bytes to w and closes w.
func copyAttachment(ctx context.Context, r Replica, sha string, w io.WriteCloser) error {
	rc, err := r.OpenAttachment(ctx, sha)
	if err != nil {
		w.Close()
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Procedures are documents linked to a template. The device does not keep a
// copy of them yet, so opening one fetches it from the server; offline, that
// fails until it has been downloaded.
const procedureUnavailable = "Available once downloaded: this device has no copy yet and cannot reach the server. Try again when it is online."

// procedureList lists a template's procedures, each with an Open button that
// fetches it and offers to save a copy.
type procedureList struct {
	env  *env
	rows []*procedureRow
	view fyne.CanvasObject
}

type procedureRow struct {
	p      form.Procedure
	open   *widget.Button
	status *widget.Label
}

func newProcedureList(e *env, procs []form.Procedure) fyne.CanvasObject {
	return newProcedures(e, procs).view
}

func newProcedures(e *env, procs []form.Procedure) *procedureList {
	l := &procedureList{env: e}
	box := container.NewVBox()
	for _, p := range procs {
		r := &procedureRow{p: p, status: quiet("")}
		r.status.Hide()
		r.open = widget.NewButtonWithIcon("Open", theme.FileTextIcon(), func() { l.open(r) })
		name := widget.NewLabelWithStyle(p.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		name.Wrapping = fyne.TextWrapWord
		info := quiet(fileInfo(form.Attachment{Type: p.Type, Size: p.Size}))
		box.Add(container.NewBorder(nil, nil, widget.NewIcon(theme.FileTextIcon()), touch(r.open),
			container.NewVBox(name, info, r.status)))
		l.rows = append(l.rows, r)
	}
	l.view = box
	return l
}

// open fetches a procedure; once it has the bytes, it asks where to save them.
func (l *procedureList) open(r *procedureRow) {
	r.open.Disable()
	setMessage(r.status, "Fetching…", widget.MediumImportance)
	l.env.ui.background(func(ctx context.Context) func() {
		data, err := readAll(ctx, l.env.d.Replica, r.p.SHA256)
		return func() {
			r.open.Enable()
			if err != nil {
				l.env.ui.log.Info("procedure not available", "procedure", r.p.Name, "err", err)
				r.open.SetText("Try again")
				setMessage(r.status, procedureUnavailable, widget.WarningImportance)
				return
			}
			r.open.SetText("Open")
			setMessage(r.status, "Downloaded ("+byteSize(int64(len(data)))+").", widget.SuccessImportance)
			l.env.saveFile(r.p.Name, func(w fyne.URIWriteCloser) {
				l.env.ui.background(func(context.Context) func() {
					_, err := w.Write(data)
					if cerr := w.Close(); err == nil {
						err = cerr
					}
					return func() {
						if err != nil {
							setMessage(r.status, "Not saved: "+errText(err), widget.WarningImportance)
							return
						}
						setMessage(r.status, "Saved to "+w.URI().Name(), widget.SuccessImportance)
					}
				})
			})
		}
	})
}

// readAll fetches an attachment's bytes.
func readAll(ctx context.Context, r Replica, sha string) ([]byte, error) {
	rc, err := r.OpenAttachment(ctx, sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(rc, maxPreviewBytes+1)); err != nil {
		return nil, err
	}
	if b.Len() > maxPreviewBytes {
		return nil, fmt.Errorf("larger than %s", byteSize(maxPreviewBytes))
	}
	return b.Bytes(), nil
}
