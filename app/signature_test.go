package app

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

func TestSignaturePad(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		test.NewTempApp(t)
		pad := newSignaturePad()
		ends := 0
		pad.OnChanged = func() { ends++ }
		w := test.NewTempWindow(t, pad)
		w.SetPadded(false)
		w.Resize(pad.MinSize())
		if !pad.Empty() {
			t.Fatal("a new pad is not empty")
		}

		// A stroke with the mouse or a finger: it has moved by (200, -80) to
		// reach (240, 40).
		test.Drag(w.Canvas(), fyne.NewPos(240, 40), 200, -80)
		test.Tap(pad) // a dot
		if pad.Empty() || len(pad.strokes) != 2 || ends != 2 {
			t.Fatalf("strokes %v, %d ends reported", pad.strokes, ends)
		}
		if s := pad.strokes[0]; s[0] != fyne.NewPos(40, 120) || s[len(s)-1] != fyne.NewPos(240, 40) {
			t.Fatalf("stroke %v, want from (40,120) to (240,40)", s)
		}

		data, err := pad.PNG()
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != signatureWidth || b.Dy() != signatureHeight {
			t.Fatalf("PNG %v", b)
		}
		// The stroke's ends, scaled by 600/480, are inked; a far corner is paper.
		for _, p := range []image.Point{{50, 150}, {300, 50}} {
			if r, g, b, _ := img.At(p.X, p.Y).RGBA(); (r+g+b)/3 > 0x8000 {
				t.Errorf("pixel %v is not inked", p)
			}
		}
		if r, g, b, _ := img.At(590, 190).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff {
			t.Error("the paper is not white")
		}
		// The pad draws on screen too.
		if n := formInked(w.Canvas().Capture()); n < 100 {
			t.Fatalf("%d inked pixels on screen", n)
		}

		pad.Clear()
		if !pad.Empty() {
			t.Fatal("Clear left strokes")
		}
	})

	t.Run("Saved", func(t *testing.T) {
		// A saved signature is shown, and takes no strokes until Clear.
		test.NewTempApp(t)
		pad := newSignaturePad()
		test.NewTempWindow(t, pad)
		pad.showSaved(image.NewRGBA(image.Rect(0, 0, 600, 200)), "")
		test.Tap(pad)
		drawStroke(pad, fyne.NewPos(10, 10), fyne.NewPos(100, 100))
		if !pad.Empty() {
			t.Fatal("drew over a saved signature")
		}
		pad.Clear()
		test.Tap(pad)
		if pad.Empty() {
			t.Fatal("after Clear, the pad takes no strokes")
		}
	})

	t.Run("OutsideThePad", func(t *testing.T) {
		test.NewTempApp(t)
		pad := newSignaturePad()
		test.NewTempWindow(t, pad)
		drawStroke(pad, fyne.NewPos(-50, 10), fyne.NewPos(1000, 500))
		for _, p := range pad.strokes[0] {
			if s := pad.Size(); p.X < 0 || p.Y < 0 || p.X > s.Width || p.Y > s.Height {
				t.Fatalf("point %v outside the pad %v", p, s)
			}
		}
	})
}

// formFindButton finds a shown button by its text.
func formFindButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var found *widget.Button
	formWalk(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == text {
			found = b
		}
	})
	if found == nil {
		t.Fatalf("no button %q", text)
	}
	return found
}
