package app

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// The signature pad's size on screen and the PNG's size in pixels: both 3:1, so a
// signature keeps its shape.
const (
	signaturePadWidth, signaturePadHeight = 480, 160
	signatureWidth, signatureHeight       = 600, 200
	// signatureInkWidth is the pen's width in pad units.
	signatureInkWidth = 2.5
	// signatureHint is shown on an empty pad.
	signatureHint = "Sign here with a finger, a pen or the mouse"
)

var (
	signatureInk   = color.NRGBA{R: 0x10, G: 0x20, B: 0x60, A: 0xff}
	signaturePaper = color.White
)

// signaturePad is a surface to sign on: drags draw strokes, a tap draws a dot. It
// keeps the strokes and renders them, on screen and as a PNG. It may show a
// signature saved before instead, and then takes no strokes until Clear. It knows
// nothing of storage.
type signaturePad struct {
	widget.BaseWidget
	// OnChanged is called when a stroke ends.
	OnChanged func()

	strokes [][]fyne.Position // in pad units
	drawing bool
	// saved is a signature saved before, shown until Clear; savedNote says
	// why it is not shown when it cannot be read.
	saved     image.Image
	locked    bool
	savedNote string
}

var (
	_ fyne.Draggable     = (*signaturePad)(nil)
	_ fyne.Tappable      = (*signaturePad)(nil)
	_ desktop.Cursorable = (*signaturePad)(nil)
)

func newSignaturePad() *signaturePad {
	p := &signaturePad{}
	p.ExtendBaseWidget(p)
	return p
}

func (p *signaturePad) MinSize() fyne.Size {
	return fyne.NewSize(signaturePadWidth, signaturePadHeight)
}

// Cursor is a cross over the pad, for a mouse.
func (p *signaturePad) Cursor() desktop.Cursor { return desktop.CrosshairCursor }

// Dragged extends the stroke under way, or starts one where the drag began.
func (p *signaturePad) Dragged(e *fyne.DragEvent) {
	if p.locked {
		return
	}
	at := p.clamp(e.Position)
	if !p.drawing {
		p.drawing = true
		p.strokes = append(p.strokes, []fyne.Position{p.clamp(e.Position.Subtract(e.Dragged))})
	}
	last := len(p.strokes) - 1
	p.strokes[last] = append(p.strokes[last], at)
	p.Refresh()
}

// DragEnd ends the stroke.
func (p *signaturePad) DragEnd() {
	if !p.drawing {
		return
	}
	p.drawing = false
	p.changed()
}

// Tapped draws a dot: the i's and full stops of a signature.
func (p *signaturePad) Tapped(e *fyne.PointEvent) {
	if p.locked {
		return
	}
	p.strokes = append(p.strokes, []fyne.Position{p.clamp(e.Position)})
	p.Refresh()
	p.changed()
}

func (p *signaturePad) changed() {
	if p.OnChanged != nil {
		p.OnChanged()
	}
}

func (p *signaturePad) clamp(at fyne.Position) fyne.Position {
	size := p.padSize()
	return fyne.NewPos(min(max(at.X, 0), size.Width), min(max(at.Y, 0), size.Height))
}

func (p *signaturePad) padSize() fyne.Size {
	if s := p.Size(); s.Width > 0 && s.Height > 0 {
		return s
	}
	return p.MinSize()
}

// Clear empties the pad, dropping a saved signature too; it does not call
// OnChanged.
func (p *signaturePad) Clear() {
	p.strokes, p.drawing = nil, false
	p.saved, p.locked, p.savedNote = nil, false, ""
	p.Refresh()
}

// showSaved shows a saved signature, or a note when there is no image of it, and
// takes no strokes until Clear.
func (p *signaturePad) showSaved(img image.Image, note string) {
	p.strokes, p.drawing = nil, false
	p.saved, p.locked, p.savedNote = img, true, note
	p.Refresh()
}

// Empty reports whether nothing is drawn.
func (p *signaturePad) Empty() bool { return len(p.strokes) == 0 }

// PNG renders the strokes on white, signatureWidth × signatureHeight pixels.
func (p *signaturePad) PNG() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, signatureWidth, signatureHeight))
	fillSignature(img, signaturePaper)
	p.render(img)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// render draws the strokes onto img, scaled from the pad's size to img's.
func (p *signaturePad) render(img *image.RGBA) {
	size := p.padSize()
	b := img.Bounds()
	sx, sy := float64(b.Dx())/float64(size.Width), float64(b.Dy())/float64(size.Height)
	r := signatureInkWidth / 2 * math.Min(sx, sy)
	for _, s := range p.strokes {
		prev := s[0]
		inkStamp(img, float64(prev.X)*sx, float64(prev.Y)*sy, r)
		for _, at := range s[1:] {
			inkLine(img, float64(prev.X)*sx, float64(prev.Y)*sy, float64(at.X)*sx, float64(at.Y)*sy, r)
			prev = at
		}
	}
}

// inkLine draws a round-ended line of radius r by stamping discs along it.
func inkLine(img *image.RGBA, x0, y0, x1, y1, r float64) {
	n := int(math.Hypot(x1-x0, y1-y0)/math.Max(r/2, 0.5)) + 1
	for i := 1; i <= n; i++ {
		t := float64(i) / float64(n)
		inkStamp(img, x0+(x1-x0)*t, y0+(y1-y0)*t, r)
	}
}

// inkStamp inks a disc of radius r centred on (cx, cy), with soft edges.
func inkStamp(img *image.RGBA, cx, cy, r float64) {
	b := img.Bounds()
	for y := max(int(cy-r-1), b.Min.Y); y <= min(int(cy+r+1), b.Max.Y-1); y++ {
		for x := max(int(cx-r-1), b.Min.X); x <= min(int(cx+r+1), b.Max.X-1); x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			a := math.Min(math.Max(r+0.5-d, 0), 1)
			if a == 0 {
				continue
			}
			i := img.PixOffset(x, y)
			px := img.Pix[i : i+4 : i+4]
			ink := [4]float64{float64(signatureInk.R), float64(signatureInk.G), float64(signatureInk.B), 255}
			for c := range 4 { // premultiplied "over"
				px[c] = uint8(ink[c]*a + float64(px[c])*(1-a) + 0.5)
			}
		}
	}
}

func fillSignature(img *image.RGBA, c color.Color) {
	r, g, b, a := c.RGBA()
	px := [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:i+4], px[:])
	}
}

func (p *signaturePad) CreateRenderer() fyne.WidgetRenderer {
	th := p.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	r := &signatureRenderer{pad: p,
		paper:    canvas.NewRectangle(signaturePaper),
		baseline: canvas.NewLine(color.NRGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}),
		hint:     canvas.NewText(signatureHint, color.NRGBA{R: 0x77, G: 0x77, B: 0x77, A: 0xff}),
		saved:    canvas.NewImageFromImage(nil),
	}
	r.paper.StrokeColor = th.Color(theme.ColorNameInputBorder, v)
	r.paper.StrokeWidth = th.Size(theme.SizeNameInputBorder)
	r.paper.CornerRadius = th.Size(theme.SizeNameInputRadius)
	r.hint.TextSize = th.Size(theme.SizeNameCaptionText)
	r.saved.FillMode = canvas.ImageFillContain
	r.ink = canvas.NewRaster(func(w, h int) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		p.render(img)
		return img
	})
	r.Refresh()
	return r
}

type signatureRenderer struct {
	pad      *signaturePad
	paper    *canvas.Rectangle
	baseline *canvas.Line
	hint     *canvas.Text
	saved    *canvas.Image
	ink      *canvas.Raster
}

func (r *signatureRenderer) Layout(size fyne.Size) {
	r.paper.Resize(size)
	r.saved.Resize(size)
	r.ink.Resize(size)
	y := size.Height * 0.75
	r.baseline.Position1 = fyne.NewPos(size.Width*0.05, y)
	r.baseline.Position2 = fyne.NewPos(size.Width*0.95, y)
	r.hint.Move(fyne.NewPos(size.Width*0.05, y+4))
}

func (r *signatureRenderer) MinSize() fyne.Size { return r.pad.MinSize() }

func (r *signatureRenderer) Refresh() {
	p := r.pad
	r.saved.Image = p.saved
	r.saved.Hidden = p.saved == nil
	switch {
	case p.savedNote != "":
		r.hint.Text = p.savedNote
	case p.locked:
		r.hint.Text = ""
	default:
		r.hint.Text = signatureHint
	}
	r.hint.Hidden = !p.Empty() || r.hint.Text == ""
	r.saved.Refresh()
	r.hint.Refresh()
	r.ink.Refresh()
}

func (r *signatureRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.paper, r.baseline, r.hint, r.saved, r.ink}
}

func (r *signatureRenderer) Destroy() {}

// fieldSignatureInput is a signature field: the pad and a Clear button. Its value is
// a PNG attachment, stored when the form is saved; until then it is pending.
type fieldSignatureInput struct {
	pad   *signaturePad
	clear *fyne.Container
	obj   fyne.CanvasObject
	h     fieldHooks

	rev         int              // bumped by every stroke and by Clear
	attached    *form.Attachment // the stored PNG of revision attachedRev
	attachedRev int
	saved       *form.Attachment // a signature saved before and shown, until Clear
}

// pendingSignature stands for a drawn signature not yet stored: a value for deciding
// what to show and what is missing, never saved.
var pendingSignature = json.RawMessage(`{"pending":true}`)

func newFieldSignatureInput(h fieldHooks) *fieldSignatureInput {
	in := &fieldSignatureInput{pad: newSignaturePad(), h: h}
	in.pad.OnChanged = func() {
		in.rev++
		h.changed()
	}
	in.clear = formButton("Clear", theme.ContentClearIcon(), func() {
		in.pad.Clear()
		in.saved = nil
		in.rev++
		h.changed()
	})
	in.obj = container.NewVBox(container.NewHBox(in.pad, layout.NewSpacer()), container.NewHBox(in.clear))
	return in
}

func (in *fieldSignatureInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldSignatureInput) focusable() fyne.Focusable { return nil }

func (in *fieldSignatureInput) show(raw json.RawMessage) {
	in.pad.Clear()
	in.saved, in.attached = nil, nil
	var a *form.Attachment
	if json.Unmarshal(raw, &a) != nil || a == nil {
		return
	}
	in.saved = a
	in.pad.showSaved(nil, "Loading the signature…")
	in.h.image(*a, signatureWidth, func(img image.Image, err error) {
		if in.saved != a {
			return // cleared or replaced meanwhile
		}
		if err != nil {
			in.pad.showSaved(nil, "Signed; the signature is not on this device yet. Clear to sign again.")
			return
		}
		in.pad.showSaved(img, "")
	})
}

func (in *fieldSignatureInput) value() (json.RawMessage, error) {
	switch {
	case in.saved != nil:
		return fieldJSON(*in.saved), nil
	case in.pad.Empty():
		return fieldNull, nil
	case in.attached != nil && in.attachedRev == in.rev:
		return fieldJSON(*in.attached), nil
	}
	return pendingSignature, nil
}

func (in *fieldSignatureInput) pending() bool {
	return in.saved == nil && !in.pad.Empty() && (in.attached == nil || in.attachedRev != in.rev)
}

func (in *fieldSignatureInput) blob() ([]byte, int, error) {
	data, err := in.pad.PNG()
	return data, in.rev, err
}

func (in *fieldSignatureInput) stored(rev int, a form.Attachment) {
	if rev == in.rev {
		in.attached, in.attachedRev = &a, rev
	}
}
