package form

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// HLC is a hybrid logical clock reading: 48 bits of Unix milliseconds, then 16 bits
// of a counter that orders events within the same millisecond.
type HLC uint64

// MaxClockSkew is how far ahead of the local clock a remote stamp may be. A stamp
// further ahead is refused, not absorbed: absorbing it would drag every later local
// stamp into the future with it.
const MaxClockSkew = 24 * time.Hour

// ErrClockSkew is returned for a stamp further ahead of local time than MaxClockSkew.
var ErrClockSkew = errors.New("clock skew")

// NewHLC builds a reading from milliseconds and a counter.
func NewHLC(ms int64, counter uint16) HLC { return HLC(uint64(ms)<<16 | uint64(counter)) }

// Millis is the wall-clock part in Unix milliseconds.
func (h HLC) Millis() int64 { return int64(h >> 16) }

// Counter is the logical part.
func (h HLC) Counter() uint16 { return uint16(h) }

// Time is the wall-clock part as a time.Time in UTC.
func (h HLC) Time() time.Time { return time.UnixMilli(h.Millis()).UTC() }

// String renders the reading as 16 hex digits, which sort like the numbers.
func (h HLC) String() string { return string(h.appendHex(make([]byte, 0, 16))) }

func (h HLC) appendHex(b []byte) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[uint64(h)>>uint(shift)&0xf])
	}
	return b
}

// ParseHLC reads the form written by String.
func ParseHLC(s string) (HLC, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("parse hlc %q: want 16 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("parse hlc %q: %w", s, err)
	}
	return HLC(v), nil
}

// MarshalText implements encoding.TextMarshaler.
func (h HLC) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *HLC) UnmarshalText(b []byte) error {
	v, err := ParseHLC(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Clock issues HLC readings. It is safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	now  func() time.Time
	last HLC
	skew time.Duration
}

// NewClock returns a clock reading physical time from now (time.Now when nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now, skew: MaxClockSkew}
}

// Now returns a reading greater than every reading this clock issued or observed.
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.now().UnixMilli()
	if pt > c.last.Millis() {
		c.last = NewHLC(pt, 0)
	} else {
		c.last = c.next(c.last)
	}
	return c.last
}

// next is the smallest reading after h; a full counter carries into the milliseconds.
func (c *Clock) next(h HLC) HLC {
	if h.Counter() == 0xffff {
		return NewHLC(h.Millis()+1, 0)
	}
	return h + 1
}

// Check reports ErrClockSkew when remote is further ahead of local time than the bound.
func (c *Clock) Check(remote HLC) error {
	limit := c.now().Add(c.skew).UnixMilli()
	if remote.Millis() > limit {
		return fmt.Errorf("%w: stamp %s is %s ahead of this clock (limit %s)", ErrClockSkew,
			remote.Time().Format(time.RFC3339), remote.Time().Sub(c.now()).Round(time.Second), c.skew)
	}
	return nil
}

// Observe moves the clock past a remote reading, so later local edits order after it.
// A reading beyond the skew bound is refused and leaves the clock unchanged.
func (c *Clock) Observe(remote HLC) error {
	if err := c.Check(remote); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if remote > c.last {
		c.last = remote
	}
	return nil
}

// Restore moves the clock past a reading this replica issued itself, however far
// ahead it is: the replica's own past is not a remote's claim, and ignoring it would
// let a clock set back order new edits before earlier ones.
func (c *Clock) Restore(h HLC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h > c.last {
		c.last = h
	}
}

// Last is the latest reading this clock issued or observed, without issuing one.
func (c *Clock) Last() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Rewind sets the clock back to h, so the next reading follows h instead of a later
// reading. It is for one case only: readings that were issued while the wall clock
// ran ahead, that no other replica ever accepted, and that have all been replaced by
// readings at or below h. Anywhere else a clock going back would reorder edits.
func (c *Clock) Rewind(h HLC) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = h
}
