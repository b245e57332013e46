package sync

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	now := t0
	m := newMeter("sending records to the server", 100_000, func() time.Time { return now })
	cases := []struct {
		after time.Duration
		done  int
		rate  float64
		left  time.Duration
	}{
		{0, 0, 0, 0}, // nothing yet
		{500 * time.Millisecond, 5_000, 10_000, 0}, // too early to promise a time
		{2 * time.Second, 20_000, 10_000, 8 * time.Second},
		{4 * time.Second, 25_000, 6_250, 12 * time.Second},
		{10 * time.Second, 100_000, 10_000, 0}, // done
	}
	for _, c := range cases {
		now = t0.Add(c.after)
		p := m.at(c.done)
		if p.What != "sending records to the server" || p.Done != c.done || p.Total != 100_000 || p.Rate != c.rate || p.Left != c.left {
			t.Errorf("after %v, %d done: %+v; want rate %v, left %v", c.after, c.done, *p, c.rate, c.left)
		}
	}
}
