package app

// The inputs of positions, typed in where there is no GPS: one point
// (geolocation), a line of points (geotrace) and the outline of an area
// (geoshape).

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/driver/mobile"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/fieldforms/fieldforms/form"
)

// geoEntries are the latitude, longitude and accuracy of one point.
type geoEntries struct {
	lat, lon, acc *formEntry
	alt           float64 // kept from a stored point: there is no entry for it
	obj           fyne.CanvasObject
}

func newGeoEntries(h fieldHooks) *geoEntries {
	g := &geoEntries{}
	entry := func(placeholder string) *formEntry {
		e := newFormEntry(false)
		e.SetPlaceHolder(placeholder)
		e.keyboard = mobile.NumberKeyboard
		e.accept = fieldNumberRune(true)
		e.OnChanged = func(string) { h.changed() }
		return e
	}
	g.lat, g.lon, g.acc = entry("e.g. 51.5072"), entry("e.g. -0.1276"), entry("optional")
	caption := func(s string, e *formEntry) fyne.CanvasObject {
		l := widget.NewLabel(s)
		l.Importance = widget.LowImportance
		return container.NewVBox(l, e)
	}
	g.obj = container.NewGridWithColumns(3, caption("Latitude", g.lat), caption("Longitude", g.lon),
		caption("Accuracy (m)", g.acc))
	return g
}

func (g *geoEntries) parts() []fyne.Focusable { return []fyne.Focusable{g.lat, g.lon, g.acc} }

func (g *geoEntries) empty() bool {
	return strings.TrimSpace(g.lat.Text) == "" && strings.TrimSpace(g.lon.Text) == "" && strings.TrimSpace(g.acc.Text) == ""
}

func (g *geoEntries) show(p *form.Geo) {
	if p == nil {
		g.lat.SetText("")
		g.lon.SetText("")
		g.acc.SetText("")
		g.alt = 0
		return
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	g.lat.SetText(num(p.Lat))
	g.lon.SetText(num(p.Lon))
	g.acc.SetText("")
	if p.Accuracy != 0 {
		g.acc.SetText(num(p.Accuracy))
	}
	g.alt = p.Altitude
}

// point reads the point typed; ok is false when nothing is.
func (g *geoEntries) point() (p form.Geo, ok bool, err error) {
	lat, lon, acc := strings.TrimSpace(g.lat.Text), strings.TrimSpace(g.lon.Text), strings.TrimSpace(g.acc.Text)
	if lat == "" && lon == "" && acc == "" {
		return form.Geo{}, false, nil
	}
	if lat == "" || lon == "" {
		return form.Geo{}, true, fieldInputError("Enter both the latitude and the longitude.")
	}
	p.Altitude = g.alt
	for _, part := range []struct {
		text, name string
		to         *float64
	}{{lat, "The latitude", &p.Lat}, {lon, "The longitude", &p.Lon}, {acc, "The accuracy", &p.Accuracy}} {
		if part.text == "" {
			continue
		}
		raw, err := parseFieldNumber(part.text, true)
		if err != nil {
			return form.Geo{}, true, fieldInputError(part.name + " must be a number.")
		}
		*part.to, _ = strconv.ParseFloat(string(raw), 64)
	}
	return p, true, nil
}

// fieldGeoInput: a position typed in where there is no GPS: latitude, longitude and the
// accuracy in metres.
type fieldGeoInput struct {
	*geoEntries
}

func newFieldGeoInput(h fieldHooks) *fieldGeoInput {
	in := &fieldGeoInput{newGeoEntries(h)}
	// Moving from the latitude to the longitude is not leaving the field.
	left := groupLeft(h, in.parts)
	in.lat.onLeft, in.lon.onLeft, in.acc.onLeft = left, left, left
	return in
}

func (in *fieldGeoInput) object() fyne.CanvasObject { return in.obj }
func (in *fieldGeoInput) focusable() fyne.Focusable { return in.lat }

func (in *fieldGeoInput) show(raw json.RawMessage) {
	var g *form.Geo
	_ = json.Unmarshal(raw, &g) // null or malformed: shown empty
	in.geoEntries.show(g)
}

func (in *fieldGeoInput) value() (json.RawMessage, error) {
	g, ok, err := in.point()
	if err != nil {
		return nil, err
	}
	if !ok {
		return fieldNull, nil
	}
	return fieldJSON(g), nil
}

// fieldGeoPointsInput: a geotrace or a geoshape, as points typed one under the
// other, each with a button that removes it, and a button that adds one. Points
// left blank do not count.
type fieldGeoPointsInput struct {
	points []*geoPoint
	list   *fyne.Container
	add    *widget.Button
	obj    fyne.CanvasObject
	h      fieldHooks
}

// geoPoint is one point of a line or a shape.
type geoPoint struct {
	*geoEntries
	caption *widget.Label
	remove  *widget.Button
	row     fyne.CanvasObject
}

func newFieldGeoPointsInput(f *form.Field, h fieldHooks) *fieldGeoPointsInput {
	in := &fieldGeoPointsInput{h: h, list: container.NewVBox()}
	in.add = widget.NewButtonWithIcon("Add a point", theme.ContentAddIcon(), func() {
		p := in.addPoint()
		in.draw()
		if c := fyne.CurrentApp().Driver().CanvasForObject(in.obj); c != nil {
			c.Focus(p.lat)
		}
	})
	in.obj = container.NewVBox(in.list, container.NewHBox(formTouchTarget(in.add)))
	least := 2
	if f.Type == form.TypeGeoShape {
		least = 3
	}
	for range least {
		in.addPoint()
	}
	in.draw()
	return in
}

func (in *fieldGeoPointsInput) addPoint() *geoPoint {
	p := &geoPoint{geoEntries: newGeoEntries(in.h), caption: widget.NewLabel("")}
	p.caption.TextStyle.Bold = true
	left := groupLeft(in.h, in.parts)
	p.lat.onLeft, p.lon.onLeft, p.acc.onLeft = left, left, left
	p.remove = widget.NewButtonWithIcon("Remove", theme.DeleteIcon(), func() { in.removePoint(p) })
	p.remove.Importance = widget.LowImportance
	p.row = container.NewBorder(p.caption, nil, nil, container.NewVBox(formTouchTarget(p.remove)), p.obj)
	in.points = append(in.points, p)
	return p
}

func (in *fieldGeoPointsInput) removePoint(p *geoPoint) {
	for i, x := range in.points {
		if x == p {
			in.points = append(in.points[:i], in.points[i+1:]...)
			in.draw()
			in.h.changed()
			in.h.settled()
			return
		}
	}
}

// parts are the entries of every point: moving between them is not leaving
// the field.
func (in *fieldGeoPointsInput) parts() []fyne.Focusable {
	var out []fyne.Focusable
	for _, p := range in.points {
		out = append(out, p.geoEntries.parts()...)
	}
	return out
}

func (in *fieldGeoPointsInput) draw() {
	rows := make([]fyne.CanvasObject, len(in.points))
	for i, p := range in.points {
		p.caption.SetText(fmt.Sprintf("Point %d", i+1))
		rows[i] = p.row
	}
	in.list.Objects = rows
	in.list.Refresh()
}

func (in *fieldGeoPointsInput) object() fyne.CanvasObject { return in.obj }

func (in *fieldGeoPointsInput) focusable() fyne.Focusable {
	if len(in.points) == 0 {
		return nil
	}
	return in.points[0].lat
}

func (in *fieldGeoPointsInput) show(raw json.RawMessage) {
	var pts []form.Geo
	_ = json.Unmarshal(raw, &pts) // null or malformed: the blank points a new one has
	for len(in.points) < len(pts) {
		in.addPoint()
	}
	for i, p := range in.points {
		if i < len(pts) {
			p.geoEntries.show(&pts[i])
		} else {
			p.geoEntries.show(nil)
		}
	}
	in.draw()
}

func (in *fieldGeoPointsInput) value() (json.RawMessage, error) {
	var pts []form.Geo
	for i, p := range in.points {
		g, ok, err := p.point()
		if err != nil {
			return nil, fieldInputError(fmt.Sprintf("Point %d: %s", i+1, err.Error()))
		}
		if ok {
			pts = append(pts, g)
		}
	}
	if len(pts) == 0 {
		return fieldNull, nil
	}
	return fieldJSON(pts), nil
}

// groupLeft returns a focus-lost handler for the parts of one field: it calls
// h.left once the focus has moved on, unless it moved to another part.
func groupLeft(h fieldHooks, parts func() []fyne.Focusable) func() {
	return func() {
		h.later(func() {
			for _, p := range parts() {
				if c := fyne.CurrentApp().Driver().CanvasForObject(p.(fyne.CanvasObject)); c != nil && c.Focused() == p {
					return
				}
			}
			h.left()
		})
	}
}
