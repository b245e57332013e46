package form_test

import (
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// fakeClock is a physical clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

func (f *fakeClock) Add(d time.Duration) { f.Set(f.Now().Add(d)) }

func TestHLCParts(t *testing.T) {
	h := form.NewHLC(1_767_225_600_123, 7)
	if h.Millis() != 1_767_225_600_123 || h.Counter() != 7 {
		t.Errorf("Millis, Counter = %d, %d", h.Millis(), h.Counter())
	}
	if got := h.Time(); !got.Equal(time.UnixMilli(1_767_225_600_123)) || got.Location() != time.UTC {
		t.Errorf("Time = %v", got)
	}
	if form.NewHLC(5, 0xffff) >= form.NewHLC(6, 0) {
		t.Errorf("a full counter does not sort before the next millisecond")
	}
}

func TestClockMonotonicFrozen(t *testing.T) {
	fc := newFakeClock()
	c := form.NewClock(fc.Now)
	ms := fc.Now().UnixMilli()
	for i := range 1000 {
		if got, want := c.Now(), form.NewHLC(ms, uint16(i)); got != want {
			t.Fatalf("reading %d = %s, want %s", i, got, want)
		}
	}
	// Time moves on: the counter starts again.
	fc.Add(time.Millisecond)
	if got := c.Now(); got != form.NewHLC(ms+1, 0) {
		t.Errorf("after 1ms: %s", got)
	}
	// Time goes back: readings keep growing.
	fc.Add(-time.Hour)
	if got := c.Now(); got != form.NewHLC(ms+1, 1) {
		t.Errorf("after the clock went back: %s", got)
	}
}

func TestClockCounterCarry(t *testing.T) {
	fc := newFakeClock()
	c := form.NewClock(fc.Now)
	ms := fc.Now().UnixMilli()
	if err := c.Observe(form.NewHLC(ms, 0xfffe)); err != nil {
		t.Fatal(err)
	}
	want := []form.HLC{form.NewHLC(ms, 0xffff), form.NewHLC(ms+1, 0), form.NewHLC(ms+1, 1)}
	for i, w := range want {
		if got := c.Now(); got != w {
			t.Errorf("reading %d = %s (%d+%d), want %s", i, got, got.Millis()-ms, got.Counter(), w)
		}
	}
	// The physical clock catching up with the carried milliseconds: still increasing.
	fc.Add(time.Millisecond)
	if got := c.Now(); got != form.NewHLC(ms+1, 2) {
		t.Errorf("after catching up: %s", got)
	}
	fc.Add(time.Millisecond)
	if got := c.Now(); got != form.NewHLC(ms+2, 0) {
		t.Errorf("after passing: %s", got)
	}
}

func TestClockObserve(t *testing.T) {
	t.Run("OKAhead", func(t *testing.T) {
		fc := newFakeClock()
		c := form.NewClock(fc.Now)
		local := c.Now()
		remote := form.NewHLC(local.Millis()+int64(time.Hour/time.Millisecond), 42)
		if err := c.Check(remote); err != nil {
			t.Fatalf("Check = %v", err)
		}
		if err := c.Observe(remote); err != nil {
			t.Fatalf("Observe = %v", err)
		}
		if got := c.Now(); got != remote+1 {
			t.Errorf("Now after Observe = %s, want %s", got, remote+1)
		}
	})
	t.Run("OKBehind", func(t *testing.T) {
		fc := newFakeClock()
		c := form.NewClock(fc.Now)
		local := c.Now()
		if err := c.Observe(form.NewHLC(local.Millis()-1000, 9)); err != nil {
			t.Fatal(err)
		}
		if got := c.Now(); got != local+1 {
			t.Errorf("Now = %s, want %s", got, local+1)
		}
	})
	t.Run("OKAtTheBound", func(t *testing.T) {
		fc := newFakeClock()
		c := form.NewClock(fc.Now)
		remote := form.NewHLC(fc.Now().Add(form.MaxClockSkew).UnixMilli(), 0xffff)
		if err := c.Observe(remote); err != nil {
			t.Fatalf("Observe at exactly MaxClockSkew = %v", err)
		}
		if got := c.Now(); got <= remote {
			t.Errorf("Now = %s, not after %s", got, remote)
		}
	})
	t.Run("ErrClockSkew", func(t *testing.T) {
		fc := newFakeClock()
		c := form.NewClock(fc.Now)
		last := c.Now()
		remote := form.NewHLC(fc.Now().Add(form.MaxClockSkew).UnixMilli()+1, 0)
		if err := c.Check(remote); !errors.Is(err, form.ErrClockSkew) {
			t.Errorf("Check = %v, want ErrClockSkew", err)
		}
		err := c.Observe(remote)
		if !errors.Is(err, form.ErrClockSkew) {
			t.Fatalf("Observe = %v, want ErrClockSkew", err)
		}
		if got := c.Now(); got != last+1 {
			t.Errorf("clock moved: Now = %s, want %s", got, last+1)
		}
		// Once local time has caught up, the same stamp is fine.
		fc.Add(time.Hour)
		if err := c.Observe(remote); err != nil {
			t.Errorf("Observe after catching up = %v", err)
		}
	})
	t.Run("ErrClockSkewFarFuture", func(t *testing.T) {
		c := form.NewClock(newFakeClock().Now)
		if err := c.Observe(form.HLC(^uint64(0))); !errors.Is(err, form.ErrClockSkew) {
			t.Errorf("Observe(max) = %v", err)
		}
	})
}

func TestClockRealTime(t *testing.T) {
	c := form.NewClock(nil)
	a := c.Now()
	if d := time.Since(a.Time()); d < 0 || d > time.Minute {
		t.Errorf("Now is %v away from time.Now", d)
	}
	if b := c.Now(); b <= a {
		t.Errorf("%s after %s", b, a)
	}
}

func TestClockConcurrent(t *testing.T) {
	fc := newFakeClock()
	c := form.NewClock(fc.Now)
	const workers, n = 8, 2000
	out := make([][]form.HLC, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				if w == 0 && i%100 == 0 {
					fc.Add(time.Millisecond)
				}
				if w == 1 && i%50 == 0 {
					_ = c.Observe(form.NewHLC(fc.Now().UnixMilli(), uint16(i)))
				}
				out[w] = append(out[w], c.Now())
			}
		})
	}
	wg.Wait()
	seen := map[form.HLC]bool{}
	for _, list := range out {
		if !sort.SliceIsSorted(list, func(i, j int) bool { return list[i] < list[j] }) {
			t.Errorf("one goroutine's readings are not increasing")
		}
		for _, h := range list {
			if seen[h] {
				t.Fatalf("reading %s issued twice", h)
			}
			seen[h] = true
		}
	}
}

func TestHLCText(t *testing.T) {
	for _, h := range []form.HLC{0, 1, form.NewHLC(1_767_225_600_123, 0xabcd), form.HLC(^uint64(0))} {
		s := h.String()
		if len(s) != 16 {
			t.Errorf("String(%d) = %q", uint64(h), s)
		}
		got, err := form.ParseHLC(s)
		if err != nil || got != h {
			t.Errorf("ParseHLC(%q) = %d, %v", s, uint64(got), err)
		}
		b, err := h.MarshalText()
		if err != nil || string(b) != s {
			t.Errorf("MarshalText = %s, %v", b, err)
		}
		var back form.HLC
		if err := back.UnmarshalText(b); err != nil || back != h {
			t.Errorf("UnmarshalText(%s) = %d, %v", b, uint64(back), err)
		}
	}
	// The text sorts like the numbers.
	a, b := form.NewHLC(0x0fff, 0xffff), form.NewHLC(0x1000, 0)
	if !(a.String() < b.String()) {
		t.Errorf("%s does not sort before %s", a, b)
	}
	for _, s := range []string{"", "123", "0x00000000000001", "000000000000000g", "+000000000000001", "0000_00000000001", "00000000000000001", " 000000000000001"} {
		if _, err := form.ParseHLC(s); err == nil {
			t.Errorf("ParseHLC(%q) succeeded", s)
		}
		var h form.HLC
		if err := h.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("UnmarshalText(%q) succeeded", s)
		}
	}
	// Upper case is read (and written back in lower case).
	if h, err := form.ParseHLC("00000000000000FF"); err != nil || h != 255 {
		t.Errorf("ParseHLC upper case = %d, %v", uint64(h), err)
	}

	t.Run("StampJSON", func(t *testing.T) {
		s := form.Stamp{HLC: form.NewHLC(1_767_225_600_123, 2), Device: "dev-1"}
		b, err := json.Marshal(s)
		if err != nil || string(b) != `{"t":"019b76daa87b0002","d":"dev-1"}` {
			t.Fatalf("Marshal = %s, %v", b, err)
		}
		var back form.Stamp
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("Unmarshal = %+v, %v", back, err)
		}
		if err := json.Unmarshal([]byte(`{"t":123,"d":"x"}`), &back); err == nil {
			t.Errorf("a numeric HLC was accepted")
		}
	})
}

func TestStampCompare(t *testing.T) {
	a := form.Stamp{HLC: 5, Device: "b"}
	for _, tt := range []struct {
		o    form.Stamp
		want int
	}{
		{form.Stamp{HLC: 4, Device: "z"}, 1},
		{form.Stamp{HLC: 6, Device: "a"}, -1},
		{form.Stamp{HLC: 5, Device: "a"}, 1},
		{form.Stamp{HLC: 5, Device: "c"}, -1},
		{form.Stamp{HLC: 5, Device: "b"}, 0},
	} {
		if got := a.Compare(tt.o); got != tt.want {
			t.Errorf("Compare(%v) = %d", tt.o, got)
		}
		if got := tt.o.Compare(a); got != -tt.want {
			t.Errorf("reverse Compare(%v) = %d", tt.o, got)
		}
	}
	if !(form.Stamp{}).IsZero() || a.IsZero() || (form.Stamp{Device: "x"}).IsZero() {
		t.Errorf("IsZero")
	}
}

// Restore takes the clock forward to its own past reading however far ahead, never
// back; Rewind sets it to the reading given; Last issues nothing.
func TestClockRestoreRewind(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	ahead := form.NewHLC(now.Add(48*time.Hour).UnixMilli(), 3)
	for _, tc := range []struct {
		name string
		do   func(c *form.Clock)
		want form.HLC
	}{
		{"restore far ahead", func(c *form.Clock) { c.Restore(ahead) }, ahead},
		{"restore never goes back", func(c *form.Clock) { c.Restore(ahead); c.Restore(ahead - 1) }, ahead},
		{"rewind goes back", func(c *form.Clock) { c.Restore(ahead); c.Rewind(form.NewHLC(now.UnixMilli(), 0)) }, form.NewHLC(now.UnixMilli(), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := form.NewClock(func() time.Time { return now })
			tc.do(c)
			if got := c.Last(); got != tc.want {
				t.Fatalf("last %s, want %s", got, tc.want)
			}
			if got := c.Last(); got != tc.want {
				t.Fatalf("Last issued a reading: %s", got)
			}
			if next := c.Now(); next != tc.want+1 {
				t.Fatalf("next reading %s, want %s", next, tc.want+1)
			}
		})
	}
	// Observe, for a remote reading, still refuses one that far ahead.
	c := form.NewClock(func() time.Time { return now })
	if err := c.Observe(ahead); err == nil || c.Last() != 0 {
		t.Fatalf("observe of a reading 48 h ahead: %v, last %s", err, c.Last())
	}
}
