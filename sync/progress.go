package sync

import (
	"fmt"
	"time"
)

// meter measures long work (a rebuild, a first sync) for the status: how far, how
// fast, and how long is left at that pace.
type meter struct {
	what  string
	total int
	start time.Time
	now   func() time.Time
}

func newMeter(what string, total int, now func() time.Time) *meter {
	if now == nil {
		now = time.Now
	}
	return &meter{what: what, total: total, start: now(), now: now}
}

// at is the progress when done items of total are done. The rate is over the whole
// work so far; the time left is unknown (zero) until a second has passed or while
// nothing is done, so a first quick batch does not promise what the rest will not
// keep.
func (m *meter) at(done int) *Progress {
	p := &Progress{What: m.what, Done: done, Total: m.total}
	el := m.now().Sub(m.start)
	if el <= 0 || done <= 0 {
		return p
	}
	p.Rate = float64(done) / el.Seconds()
	if el >= time.Second && m.total > done {
		p.Left = time.Duration(float64(m.total-done) / p.Rate * float64(time.Second)).Round(time.Second)
	}
	return p
}

// String is one line for a terminal: "sending records to the server: 40000 of 100000
// (8213 a second, about 7s left)".
func (p Progress) String() string {
	out := fmt.Sprintf("%s: %d of %d", p.What, p.Done, p.Total)
	switch {
	case p.Rate > 0 && p.Left > 0:
		out += fmt.Sprintf(" (%.0f a second, about %v left)", p.Rate, p.Left)
	case p.Rate > 0:
		out += fmt.Sprintf(" (%.0f a second)", p.Rate)
	}
	return out
}
