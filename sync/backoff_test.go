package sync

import (
	"testing"
	"time"
)

// fakeClock is a backoff.Clock that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// The retry schedule grows, stays within its jitter bounds, respects the cap, and
// never gives up, however long the device stays offline.
func TestBackoffSchedule(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := New(nil, Options{Clock: clk, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute})
	b := r.NewBackOff()
	want := time.Second
	for i := 0; i < 10_000; i++ { // 10,000 failures: weeks of being offline
		d := b.NextBackOff()
		if d < 0 {
			t.Fatalf("attempt %d: gave up", i)
		}
		lo, hi := time.Duration(float64(want)*0.5), time.Duration(float64(want)*1.5)
		if d < lo || d > hi {
			t.Fatalf("attempt %d: waited %v, want within [%v, %v]", i, d, lo, hi)
		}
		if d > time.Duration(float64(5*time.Minute)*1.5) {
			t.Fatalf("attempt %d: %v is over the cap", i, d)
		}
		clk.t = clk.t.Add(d)
		want = min(want*2, 5*time.Minute)
	}
	if clk.t.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) < 7*24*time.Hour {
		t.Fatalf("schedule covered only %v", clk.t.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	}
	// Success resets it.
	b.Reset()
	if d := b.NextBackOff(); d > 1500*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}
