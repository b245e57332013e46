package expr

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// daysFromCivil returns the day number (days since 1970-01-01) of a calendar date.
// time.Date normalises out-of-range months and days.
func daysFromCivil(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// civil returns the calendar date of a day number.
func civil(days int64) (int, time.Month, int) {
	return time.Unix(days*86400, 0).UTC().Date()
}

func formatDate(days int64) string {
	y, m, d := civil(days)
	b := make([]byte, 0, 10)
	b = appendYear(b, y)
	b = append(b, '-')
	b = append2(b, int(m))
	b = append(b, '-')
	b = append2(b, d)
	return string(b)
}

func formatDateTime(ms float64, off int32) string {
	if math.IsNaN(ms) || math.IsInf(ms, 0) {
		return ""
	}
	t := time.UnixMilli(int64(ms) + int64(off)*1000).UTC()
	y, m, d := t.Date()
	b := make([]byte, 0, 29)
	b = appendYear(b, y)
	b = append(b, '-')
	b = append2(b, int(m))
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, t.Hour())
	b = append(b, ':')
	b = append2(b, t.Minute())
	b = append(b, ':')
	b = append2(b, t.Second())
	b = append(b, '.')
	b = appendPad(b, t.Nanosecond()/1e6, 3)
	o := int(off)
	if o < 0 {
		b = append(b, '-')
		o = -o
	} else {
		b = append(b, '+')
	}
	b = append2(b, o/3600)
	b = append(b, ':')
	b = append2(b, o/60%60)
	return string(b)
}

func appendYear(b []byte, y int) []byte {
	if y < 0 {
		b = append(b, '-')
		y = -y
	}
	return appendPad(b, y, 4)
}

func append2(b []byte, n int) []byte { return appendPad(b, n, 2) }

func appendPad(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// wall returns the wall-clock fields of a Date or DateTime value.
func wall(v Value) time.Time {
	if v.kind == Date {
		return time.Unix(int64(v.num)*86400, 0).UTC()
	}
	return time.UnixMilli(int64(v.num) + int64(v.off)*1000).UTC()
}

var errNotDate = errors.New("not a date")

// parseDateString parses the date and date-time forms ODK writes and reads:
//
//	YYYY-MM-DD
//	YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH[[:]MM]]
//
// (months and days may have one digit; a space may stand for the 'T'). A date-time
// without an offset is on the wall clock of loc. It returns a Date or a DateTime.
func parseDateString(s string, loc *time.Location) (Value, error) {
	s = trimXMLSpace(s)
	p := scan{s: s}
	y, ok := p.digits(4, 4)
	if !ok || !p.eat('-') {
		return Value{}, errNotDate
	}
	m, ok := p.digits(1, 2)
	if !ok || !p.eat('-') {
		return Value{}, errNotDate
	}
	d, ok := p.digits(1, 2)
	if !ok || m < 1 || m > 12 || d < 1 || d > daysIn(y, time.Month(m)) {
		return Value{}, errNotDate
	}
	if p.done() {
		return Value{kind: Date, num: float64(daysFromCivil(y, time.Month(m), d))}, nil
	}
	if !p.eat('T') && !p.eat(' ') {
		return Value{}, errNotDate
	}
	h, mi, sec, ms, off, hasOff, ok := p.clock()
	if !ok || !p.done() {
		return Value{}, errNotDate
	}
	return dateTimeAt(y, time.Month(m), d, h, mi, sec, ms, off, hasOff, loc), nil
}

// parseTimeString parses a time of day HH:MM[:SS[.fff]][zone], as a time question
// stores it.
func parseTimeString(s string) (h, mi, sec, ms, off int, hasOff, ok bool) {
	p := scan{s: trimXMLSpace(s)}
	h, mi, sec, ms, off, hasOff, ok = p.clock()
	return h, mi, sec, ms, off, hasOff, ok && p.done()
}

func dateTimeAt(y int, m time.Month, d, h, mi, sec, ms, off int, hasOff bool, loc *time.Location) Value {
	if hasOff {
		t := time.Date(y, m, d, h, mi, sec, ms*1e6, time.UTC)
		return Value{kind: DateTime, num: float64(t.UnixMilli() - int64(off)*1000), off: int32(off)}
	}
	return DateTimeV(time.Date(y, m, d, h, mi, sec, ms*1e6, loc))
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

type scan struct {
	s string
	i int
}

func (p *scan) done() bool { return p.i == len(p.s) }

func (p *scan) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// digits reads min to max decimal digits.
func (p *scan) digits(min, max int) (int, bool) {
	n, k := 0, 0
	for k < max && p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		n = n*10 + int(p.s[p.i]-'0')
		p.i++
		k++
	}
	return n, k >= min
}

// clock reads HH:MM[:SS[.fff...]][Z|±HH[[:]MM]].
func (p *scan) clock() (h, mi, sec, ms, off int, hasOff, ok bool) {
	if h, ok = p.digits(1, 2); !ok || !p.eat(':') {
		return
	}
	if mi, ok = p.digits(2, 2); !ok {
		return
	}
	if p.eat(':') {
		if sec, ok = p.digits(2, 2); !ok {
			return
		}
		if p.eat('.') {
			start := p.i
			f, k := 0, 0
			for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
				if k < 3 {
					f = f*10 + int(p.s[p.i]-'0')
					k++
				}
				p.i++
			}
			if p.i == start {
				return 0, 0, 0, 0, 0, false, false
			}
			for ; k < 3; k++ {
				f *= 10
			}
			ms = f
		}
	}
	if h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi != 0 || sec != 0 || ms != 0)) {
		return 0, 0, 0, 0, 0, false, false
	}
	switch {
	case p.eat('Z'):
		hasOff = true
	case p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-'):
		sign := 1
		if p.s[p.i] == '-' {
			sign = -1
		}
		p.i++
		oh, ok2 := p.digits(2, 2)
		if !ok2 || oh > 23 {
			return 0, 0, 0, 0, 0, false, false
		}
		om := 0
		colon := p.eat(':')
		if colon || p.i < len(p.s) {
			if om, ok2 = p.digits(2, 2); !ok2 || om > 59 {
				return 0, 0, 0, 0, 0, false, false
			}
		}
		off = sign * (oh*3600 + om*60)
		hasOff = true
	}
	return h, mi, sec, ms, off, hasOff, true
}

// dateFromDays returns the Date of day number floor(n).
func dateFromDays(n float64) (Value, error) {
	f := math.Floor(n)
	if math.IsInf(f, 0) || math.Abs(f) > maxDays {
		return Value{}, fmt.Errorf("%s is out of range for a date", formatNum(n))
	}
	return Value{kind: Date, num: f}, nil
}

// dateTimeFromDays returns the DateTime whose wall clock in loc is n decimal days
// after 1970-01-01T00:00.
func dateTimeFromDays(n float64, loc *time.Location) (Value, error) {
	if math.IsInf(n, 0) || math.Abs(n) > maxDays {
		return Value{}, fmt.Errorf("%s is out of range for a date", formatNum(n))
	}
	days := math.Floor(n)
	ms := math.Round((n - days) * msPerDay)
	return DateTimeV(time.Date(1970, 1, 1+int(days), 0, 0, 0, int(ms)*1e6, loc)), nil
}

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
var dayNames = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// formatDateFields formats a wall-clock time with ODK's format-date() escapes.
func formatDateFields(t time.Time, f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(f) {
			return "", errors.New("format ends with %")
		}
		var buf [8]byte
		switch c = f[i]; c {
		case '%':
			b.WriteByte('%')
		case 'Y':
			b.Write(appendYear(buf[:0], t.Year()))
		case 'y':
			b.Write(appendPad(buf[:0], t.Year()%100, 2))
		case 'm':
			b.Write(append2(buf[:0], int(t.Month())))
		case 'n':
			b.WriteString(strconv.Itoa(int(t.Month())))
		case 'b':
			b.WriteString(monthNames[t.Month()-1])
		case 'd':
			b.Write(append2(buf[:0], t.Day()))
		case 'e':
			b.WriteString(strconv.Itoa(t.Day()))
		case 'H':
			b.Write(append2(buf[:0], t.Hour()))
		case 'h':
			b.WriteString(strconv.Itoa(t.Hour()))
		case 'M':
			b.Write(append2(buf[:0], t.Minute()))
		case 'S':
			b.Write(append2(buf[:0], t.Second()))
		case '3':
			b.Write(appendPad(buf[:0], t.Nanosecond()/1e6, 3))
		case 'a':
			b.WriteString(dayNames[t.Weekday()])
		case 'W':
			_, w := t.ISOWeek()
			b.WriteString(strconv.Itoa(w))
		default:
			r := f[i:]
			if n := len(r); n > 4 {
				r = r[:4]
			}
			return "", fmt.Errorf("unknown escape %%%s in format", firstRune(r))
		}
	}
	return b.String(), nil
}

func firstRune(s string) string {
	for i := range s {
		if i > 0 {
			return s[:i]
		}
	}
	return s
}
