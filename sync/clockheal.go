package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// A device clock that ran ahead.
//
// The server refuses stamps more than form.MaxClockSkew ahead of its clock, and the
// replica's clock never goes back on its own, so a device whose clock ran ahead had
// its changes refused, and every edit after them too, even once the clock was set
// right. The replicator now measures the device's clock against the server's (the
// Date header of every answer, corrected by half the round trip), keeps changes
// refused for clock skew as held rather than lost, does not send them again while the
// clock is still wrong, and — at the first sync where the clock agrees with the
// server's — has the replica stamp them anew (store.Restamp) and sends them. The
// server's rule is unchanged: nothing from the future is ever absorbed.

// keyClock keeps the last clock measurement and what was held or healed (ClockStatus).
const keyClock = "sync/clock"

// ClockTolerance is how far the device's clock may be from the server's and count as
// right: far inside form.MaxClockSkew, far outside the Date header's one second.
const ClockTolerance = 2 * time.Minute

// clockNoteFor is how long the status tells of a heal.
const clockNoteFor = 24 * time.Hour

// ClockStatus is what the replicator knows of the device's clock.
type ClockStatus struct {
	// Offset is the device's clock minus the server's at MeasuredAt (the server's time
	// then); zero MeasuredAt means never measured.
	Offset     time.Duration `json:"offset"`
	MeasuredAt time.Time     `json:"measured_at,omitzero"`
	// Held is the number of changes refused for a clock that ran ahead, waiting for
	// the clock to be right.
	Held int `json:"held"`
	// Restamped is the number of changes stamped anew by the last heal, at
	// RestampedAt (the server's time).
	Restamped   int       `json:"restamped,omitempty"`
	RestampedAt time.Time `json:"restamped_at,omitzero"`
}

// Right reports a measured clock within ClockTolerance of the server's.
func (c ClockStatus) Right() bool { return !c.MeasuredAt.IsZero() && c.Offset.Abs() <= ClockTolerance }

// Message says in plain words what the user should know of the clock at now (the
// device's clock), or "" when there is nothing to say.
func (c ClockStatus) Message(now time.Time) string {
	measured := !c.MeasuredAt.IsZero()
	switch {
	case c.Held > 0 && measured && c.Offset > ClockTolerance:
		return fmt.Sprintf("this device's clock is %s ahead of the server's: %d change(s) held for it wait until the clock is right", approx(c.Offset), c.Held)
	case c.Held > 0 && measured && c.Offset < -ClockTolerance:
		return fmt.Sprintf("this device's clock is %s behind the server's: %d change(s) held for a clock that ran ahead wait until the clock is right", approx(-c.Offset), c.Held)
	case c.Held > 0:
		return fmt.Sprintf("%d change(s) held for a clock that ran ahead; they are sent once this device's clock agrees with the server's", c.Held)
	case c.Restamped > 0 && now.Sub(c.RestampedAt) < clockNoteFor:
		return fmt.Sprintf("%d change(s) re-stamped after the clock was corrected at %s", c.Restamped, c.RestampedAt.UTC().Format(time.RFC3339))
	case measured && c.Offset > ClockTolerance:
		return fmt.Sprintf("this device's clock is %s ahead of the server's", approx(c.Offset))
	case measured && c.Offset < -ClockTolerance:
		return fmt.Sprintf("this device's clock is %s behind the server's", approx(-c.Offset))
	}
	return ""
}

// approx renders a positive offset the way a person says it: "48 h", "5 min", "30 s".
func approx(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%d h", d.Round(time.Hour)/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%d min", d.Round(time.Minute)/time.Minute)
	}
	return fmt.Sprintf("%d s", d.Round(time.Second)/time.Second)
}

// ClockInfo reads what the replica keeps of its clock, without contacting the server.
func ClockInfo(ctx context.Context, st *store.Store) (ClockStatus, error) {
	var cs ClockStatus
	b, err := st.State(ctx, keyClock)
	if err != nil || b == nil {
		return cs, err
	}
	if err := json.Unmarshal(b, &cs); err != nil {
		return ClockStatus{}, fmt.Errorf("clock state: %w", err)
	}
	return cs, nil
}

// isClockSkew reports a dead letter refused because its stamps lay too far ahead.
func isClockSkew(d store.DeadLetter) bool {
	return strings.HasPrefix(d.Reason, wire.CodeClockSkew+":")
}

// clockReading is one measurement of the device's clock against the server's.
type clockReading struct {
	offset time.Duration
	server time.Time
	ok     bool
}

// noteClock measures the device's clock against a response's Date header: the
// server's time, truncated to the second, somewhere between sending and receiving.
func (c *Client) noteClock(sent, received time.Time, date string) {
	if date == "" {
		return
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return
	}
	server := t.Add(500 * time.Millisecond)
	mid := sent.Add(received.Sub(sent) / 2)
	c.clock.Lock()
	c.offset = clockReading{offset: mid.Sub(server), server: server.UTC(), ok: true}
	c.clock.Unlock()
}

// ClockOffset is the device's clock minus the server's at the latest answer, and the
// server's time then; ok is false before any answer carried a Date.
func (c *Client) ClockOffset() (offset time.Duration, server time.Time, ok bool) {
	c.clock.Lock()
	defer c.clock.Unlock()
	return c.offset.offset, c.offset.server, c.offset.ok
}

// healClock runs after a push that emptied the outbox: every change sent has its
// answer, so the changes left unsent are exactly those no one accepted. It records
// the clock's offset and the held changes and, when the clock is right and changes
// are held (or the replica's clock stands far ahead), re-stamps and sends them.
func (r *Replicator) healClock(ctx context.Context, c *Client, rep *Report) error {
	cs, err := ClockInfo(ctx, r.st)
	if err != nil {
		r.log.Warn("clock state unreadable; starting afresh", "err", err)
		cs = ClockStatus{}
	}
	before := cs
	if cs.Held, err = r.heldForClock(ctx); err != nil {
		return err
	}
	wall := r.st.WallClock()
	ahead := r.st.Clock().Last().Time().After(wall.Add(form.MaxClockSkew))
	if cs.Held > 0 || ahead {
		// The push may have sent nothing: read the server's clock now, from the one
		// call that carries no data.
		if _, err := c.Do(ctx, http.MethodGet, "/readyz", nil, nil, nil); err != nil && Temporary(err) {
			return err
		}
	}
	off, at, measured := c.ClockOffset()
	if measured {
		cs.Offset, cs.MeasuredAt = off, at
	}
	if measured && cs.Right() && (cs.Held > 0 || ahead) {
		res, err := r.st.Restamp(ctx, isClockSkew)
		if err != nil {
			return err
		}
		if res.Changes > 0 {
			cs.Restamped, cs.RestampedAt = res.Changes, at
			rep.Restamped += res.Changes
		}
		r.log.Info("the clock is right again; changes held for it are stamped anew", "offset", off,
			"changes", res.Changes, "requeued", res.Requeued, "records", res.Records, "dropped", res.Dropped)
		if err := r.saveClock(ctx, cs); err != nil {
			return err
		}
		before = cs
		if err := r.push(ctx, c, rep); err != nil {
			return err
		}
		if cs.Held, err = r.heldForClock(ctx); err != nil {
			return err
		}
	}
	if cs.Held == before.Held && cs.Restamped == before.Restamped && (cs.Offset-before.Offset).Abs() < time.Second &&
		cs.MeasuredAt.Sub(before.MeasuredAt) < time.Hour {
		return nil // nothing worth a write
	}
	return r.saveClock(ctx, cs)
}

func (r *Replicator) saveClock(ctx context.Context, cs ClockStatus) error {
	b, err := json.Marshal(cs)
	if err != nil {
		return err
	}
	return r.st.SetState(ctx, map[string][]byte{keyClock: b})
}

func (r *Replicator) heldForClock(ctx context.Context) (int, error) {
	dead, err := r.st.DeadLetters(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dead {
		if isClockSkew(d) {
			n++
		}
	}
	return n, nil
}
