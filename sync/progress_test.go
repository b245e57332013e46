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

func TestProgressString(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want string
	}{
		{Progress{What: "comparing with the server"}, "comparing with the server: 0 of 0"},
		{Progress{What: "receiving records", Done: 1000, Total: 2500, Rate: 1234.4}, "receiving records: 1000 of 2500 (1234 a second)"},
		{Progress{What: "sending records to the server", Done: 40000, Total: 100000, Rate: 8213.4, Left: 7 * time.Second},
			"sending records to the server: 40000 of 100000 (8213 a second, about 7s left)"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}
