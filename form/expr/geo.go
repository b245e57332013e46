package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// earthRadius is the radius JavaRosa uses for area() and distance(), in metres.
const earthRadius = 6378100

type latLon struct{ lat, lon float64 }

// points reads the geopoints of the arguments: each node is a geopoint
// ("lat lon [alt [acc]]") or a geotrace/geoshape (geopoints separated by ';').
// Empty nodes are skipped.
func (c *evalCtx) points(args []*node, name string) ([]latLon, error) {
	var pts []latLon
	for _, x := range args {
		v := c.eval(x)
		for i, k := 0, size(v); i < k; i++ {
			s := nodeAt(v, i).String()
			for part := range strings.SplitSeq(s, ";") {
				if strings.TrimSpace(part) == "" {
					continue
				}
				p, ok := parsePoint(part)
				if !ok {
					return nil, fmt.Errorf("%s(): %q is not a geopoint", name, strings.TrimSpace(part))
				}
				pts = append(pts, p)
			}
		}
	}
	return pts, nil
}

func parsePoint(s string) (latLon, bool) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 4 {
		return latLon{}, false
	}
	lat, err1 := strconv.ParseFloat(f[0], 64)
	lon, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || !(math.Abs(lat) <= 90) || !(math.Abs(lon) <= 180) {
		return latLon{}, false
	}
	for _, x := range f[2:] {
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			return latLon{}, false
		}
	}
	return latLon{lat, lon}, true
}

func rad(deg float64) float64 { return deg * math.Pi / 180 }

// area is the area enclosed by the points in square metres, computed as JavaRosa
// does: the points are projected onto a plane around the first one and the polygon
// is summed as triangles from it. Fewer than 3 points enclose nothing.
func area(pts []latLon) float64 {
	if len(pts) < 3 {
		return 0
	}
	circ := 2 * math.Pi * earthRadius
	ref := pts[0]
	xs := make([]float64, 0, len(pts)-1)
	ys := make([]float64, 0, len(pts)-1)
	for _, p := range pts[1:] {
		ys = append(ys, (p.lat-ref.lat)*circ/360)
		xs = append(xs, (p.lon-ref.lon)*circ*math.Cos(rad(p.lat))/360)
	}
	sum := 0.0
	for i := 1; i < len(xs); i++ {
		sum += (ys[i-1]*xs[i] - xs[i-1]*ys[i]) / 2
	}
	return math.Abs(sum)
}

// distance is the length of the path through the points in metres (spherical law of
// cosines, as JavaRosa).
func distance(pts []latLon) float64 {
	total := 0.0
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		cosD := math.Sin(rad(p.lat))*math.Sin(rad(q.lat)) +
			math.Cos(rad(p.lat))*math.Cos(rad(q.lat))*math.Cos(rad(p.lon-q.lon))
		total += math.Acos(math.Max(-1, math.Min(1, cosD))) * earthRadius
	}
	return total
}

// inPolygon reports whether p is inside the closed polygon (even-odd rule).
func inPolygon(p latLon, poly []latLon) bool {
	in := false
	for i := 1; i < len(poly); i++ {
		a, b := poly[i-1], poly[i]
		if (b.lat > p.lat) != (a.lat > p.lat) &&
			p.lon < (a.lon-b.lon)*(p.lat-b.lat)/(a.lat-b.lat)+b.lon {
			in = !in
		}
	}
	return in
}
