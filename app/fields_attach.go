package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// Sizes of attachment previews.
const (
	thumbSide      = 96  // on screen, in Fyne units
	thumbPixelSide = 240 // the largest side of a preview image, in pixels
	// defaultMaxFiles is how many files a photo or file field takes when the
	// template sets no max_files, as the form package checks.
	defaultMaxFiles = 10
)

// fieldAttachInput is a photo, file, audio or video field: the files attached, each
// with a preview (photos) or an icon, a button to remove it, and a button to add
// one. The form view does the choosing and storing; the input only shows the
// result.
type fieldAttachInput struct {
	kind   form.FieldType
	photo  bool
	limit  int
	items  []*attachItem
	adding []string // names of files being stored

	list *fyne.Container
	add  *widget.Button
	note *widget.Label
	obj  fyne.CanvasObject
	h    fieldHooks
}

type attachItem struct {
	att    form.Attachment
	thumb  *canvas.Image // photos only
	note   *widget.Label
	remove *widget.Button
	row    fyne.CanvasObject
}

func newFieldAttachInput(f *form.Field, h fieldHooks) *fieldAttachInput {
	in := &fieldAttachInput{kind: f.Type, photo: f.Type == form.TypePhoto, limit: f.MaxFiles, h: h}
	if in.limit == 0 {
		in.limit = defaultMaxFiles
	}
	label, icon := "Add a file", theme.FileIcon()
	switch f.Type {
	case form.TypePhoto:
		label, icon = "Add a photo", theme.MediaPhotoIcon()
	case form.TypeAudio:
		label, icon = "Add a recording", theme.MediaMusicIcon()
	case form.TypeVideo:
		label, icon = "Add a video", theme.MediaVideoIcon()
	}
	in.add = widget.NewButtonWithIcon(label, icon, h.pick)
	in.note = widget.NewLabel("")
	in.note.Importance = widget.LowImportance
	in.list = container.NewVBox()
	in.obj = container.NewVBox(in.list, container.NewHBox(formTouchTarget(in.add), in.note))
	in.refresh()
	return in
}

func (in *fieldAttachInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldAttachInput) focusable() fyne.Focusable { return nil }

// canAdd reports whether another file fits within max_files.
func (in *fieldAttachInput) canAdd() bool { return len(in.items)+len(in.adding) < in.limit }

// startAdding shows that a file is being stored.
func (in *fieldAttachInput) startAdding(name string) {
	in.adding = append(in.adding, name)
	in.refresh()
}

// doneAdding ends what startAdding showed.
func (in *fieldAttachInput) doneAdding(name string) {
	for i, n := range in.adding {
		if n == name {
			in.adding = append(in.adding[:i], in.adding[i+1:]...)
			break
		}
	}
	in.refresh()
}

// append adds a stored file, with its preview when it is a photo (nil when the
// image could not be read).
func (in *fieldAttachInput) append(a form.Attachment, preview image.Image) {
	it := in.newItem(a)
	if preview != nil {
		in.setPreview(it, preview, nil)
	} else if it.thumb != nil {
		in.setPreview(it, nil, errNoPreview)
	}
	in.items = append(in.items, it)
	in.refresh()
}

func (in *fieldAttachInput) newItem(a form.Attachment) *attachItem {
	it := &attachItem{att: a, note: widget.NewLabel(attachText(a))}
	it.note.Wrapping = fyne.TextWrapWord
	it.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { in.remove(it) })
	it.remove.Importance = widget.LowImportance
	icon := theme.FileIcon()
	switch in.kind {
	case form.TypeAudio:
		icon = theme.MediaMusicIcon()
	case form.TypeVideo:
		icon = theme.MediaVideoIcon()
	}
	var lead fyne.CanvasObject = widget.NewIcon(icon)
	if in.photo {
		it.thumb = canvas.NewImageFromImage(nil)
		it.thumb.FillMode = canvas.ImageFillContain
		it.thumb.SetMinSize(fyne.NewSquareSize(thumbSide))
		lead = it.thumb
	}
	it.row = container.NewBorder(nil, nil, lead, formTouchTarget(it.remove), it.note)
	return it
}

func (in *fieldAttachInput) setPreview(it *attachItem, img image.Image, err error) {
	if err != nil {
		it.note.SetText(attachText(it.att) + "\nNo preview: " + previewProblem(err))
		return
	}
	it.thumb.Image = img
	it.thumb.Refresh()
}

// errNoPreview is the error of an image that was read but cannot be decoded.
var errNoPreview = errors.New("this kind of image cannot be shown here")

// previewProblem says why a stored photo is not shown: it cannot be decoded, or its
// bytes could not be read (not downloaded yet, and no network).
func previewProblem(err error) string {
	if errors.Is(err, errNoPreview) {
		return "this kind of image cannot be shown here."
	}
	return "not on this device yet."
}

func (in *fieldAttachInput) remove(it *attachItem) {
	for i, x := range in.items {
		if x == it {
			in.items = append(in.items[:i], in.items[i+1:]...)
			in.refresh()
			in.h.changed()
			return
		}
	}
}

func (in *fieldAttachInput) refresh() {
	rows := make([]fyne.CanvasObject, len(in.items))
	for i, it := range in.items {
		rows[i] = it.row
	}
	in.list.Objects = rows
	in.list.Refresh()
	if in.canAdd() {
		in.add.Enable()
	} else {
		in.add.Disable()
	}
	note := fmt.Sprintf("%d of at most %d", len(in.items), in.limit)
	if len(in.adding) > 0 {
		note += " · adding " + strings.Join(in.adding, ", ") + "…"
	}
	in.note.SetText(note)
}

func (in *fieldAttachInput) show(raw json.RawMessage) {
	var list []form.Attachment
	_ = json.Unmarshal(raw, &list) // null or malformed: none
	in.items = nil
	for _, a := range list {
		it := in.newItem(a)
		in.items = append(in.items, it)
		if it.thumb != nil {
			in.h.image(a, thumbPixelSide, func(img image.Image, err error) { in.setPreview(it, img, err) })
		}
	}
	in.refresh()
}

func (in *fieldAttachInput) value() (json.RawMessage, error) {
	if len(in.items) == 0 {
		return fieldNull, nil
	}
	list := make([]form.Attachment, len(in.items))
	for i, it := range in.items {
		list[i] = it.att
	}
	return fieldJSON(list), nil
}

// mediaKinds are the media types the attachment fields take, and how a file of
// another type is described.
var mediaKinds = map[form.FieldType]struct{ prefix, not string }{
	form.TypePhoto: {"image/", "it is not a photo"},
	form.TypeAudio: {"audio/", "it is not a recording"},
	form.TypeVideo: {"video/", "it is not a video"},
}

// attachText is how an attached file reads: its name and size.
func attachText(a form.Attachment) string {
	name := a.Name
	if name == "" {
		name = a.SHA256[:min(12, len(a.SHA256))]
	}
	return name + " · " + formByteSize(a.Size)
}

// formByteSize writes a size for people: 512 bytes, 12 KB, 3.4 MB.
func formByteSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.0f KB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
}

// formThumbnail scales img down so its larger side is at most side pixels, by
// averaging the pixels each output pixel covers. Smaller images are returned as
// they are.
func formThumbnail(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side || w == 0 || h == 0 {
		return img
	}
	tw, th := side, max(1, h*side/w)
	if h > w {
		tw, th = max(1, w*side/h), side
	}
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := range th {
		y0, y1 := b.Min.Y+y*h/th, b.Min.Y+max((y+1)*h/th, y*h/th+1)
		for x := range tw {
			x0, x1 := b.Min.X+x*w/tw, b.Min.X+max((x+1)*w/tw, x*w/tw+1)
			// Sample at most 4×4 pixels of the block: enough for a preview.
			sx, sy := max(1, (x1-x0)/4), max(1, (y1-y0)/4)
			var r, g, bl, a, n uint64
			for yy := y0; yy < y1; yy += sy {
				for xx := x0; xx < x1; xx += sx {
					cr, cg, cb, ca := img.At(xx, yy).RGBA()
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] =
				uint8(r/n>>8), uint8(g/n>>8), uint8(bl/n>>8), uint8(a/n>>8)
		}
	}
	return out
}
