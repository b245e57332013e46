package app

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// minTouch is the smallest height of anything a finger taps (Apple's 44 pt).
const minTouch = 44

// touch makes o at least a fingertip tall.
func touch(o fyne.CanvasObject) fyne.CanvasObject {
	return container.New(minHeightLayout{minTouch}, o)
}

// minHeightLayout stretches its objects over its area and asks for at least
// height.
type minHeightLayout struct{ height float32 }

func (l minHeightLayout) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objects {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

func (l minHeightLayout) MinSize(objects []fyne.CanvasObject) fyne.Size {
	var s fyne.Size
	for _, o := range objects {
		if o.Visible() {
			s = s.Max(o.MinSize())
		}
	}
	return s.Max(fyne.NewSize(0, l.height))
}

// setVisible shows or hides objects together: a button and the box that
// makes it a fingertip tall, which would otherwise keep its place.
func setVisible(visible bool, objects ...fyne.CanvasObject) {
	for _, o := range objects {
		if visible {
			o.Show()
		} else {
			o.Hide()
		}
	}
}

// heading is a section's title.
func heading(text string) *widget.Label {
	l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	l.SizeName = theme.SizeNameSubHeadingText
	l.Wrapping = fyne.TextWrapWord
	return l
}

// wrapped is a label whose text wraps at the width it is given.
func wrapped(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// quiet is a wrapped label for secondary text: hints and descriptions. It
// keeps the full text colour, which stays readable on a tablet in the sun
// (the theme's low-importance colour is that of disabled text).
func quiet(text string) *widget.Label {
	return wrapped(text)
}

// setMessage shows text in l with an importance, or hides l when text is empty.
func setMessage(l *widget.Label, text string, importance widget.Importance) {
	l.Importance = importance
	l.SetText(text)
	if text == "" {
		l.Hide()
	} else {
		l.Show()
	}
}

// byteSize writes a size for people: 512 bytes, 12 KB, 3.4 MB.
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.0f KB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	}
}
