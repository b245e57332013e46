package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// Re-stamping after a wrong clock.
//
// A device whose wall clock ran ahead stamps its edits in the future. Peers refuse
// such stamps (form.MaxClockSkew), and the replica's persisted clock, which never goes
// back so that a clock set back cannot reorder edits, keeps every later edit in the
// future too: without help the device's changes never reach anyone. Restamp is that
// help. Once the caller knows the wall clock is right again, it replaces the future
// stamps of this device's unsent changes — the outbox and the dead letters, which no
// peer accepted — with stamps from the corrected clock, in the same order, and sets
// the persisted clock back. Stamps anyone accepted (everything already in records but
// not in an unsent change) are never touched, and the new stamps order after all of
// them, so the latest local value still wins.

// RestampResult says what a Restamp did.
type RestampResult struct {
	Stamps   int      // distinct future stamps replaced
	Changes  int      // unsent changes (outbox and dead letters) rewritten
	Requeued int      // dead letters put back into the outbox
	Records  int      // records rewritten
	Dropped  int      // fields of unsent changes left out: they had already lost to an accepted edit
	Clock    form.HLC // the persisted clock afterwards
	Rewound  bool     // the clock was set back
}

// restampFault, when set by a test, runs between the steps of the transaction; an
// error aborts it (a crash at that point).
var restampFault func(step string) error

// unsentChange is an outbox entry or a dead letter.
type unsentChange struct {
	seq  uint64
	dead *DeadLetter // nil for an outbox entry
	ch   form.Change
}

// WallClock is the wall-clock reading the replica stamps its edits from.
func (s *Store) WallClock() time.Time { return s.now() }

// Restamp gives new stamps, from the wall clock as it reads now, to this device's
// stamps in unsent changes that lie in the future, and sets the persisted clock back
// to the last of them (or to now, or to the highest stamp that stays, whichever is
// later). Dead letters for which requeue returns true go back into the outbox at
// their place in the order, with their change IDs: a change refused is not applied,
// so sending it again under the same ID has one effect.
//
// The caller must know that the wall clock is right (it agrees with the server) and
// that every outbox entry was either never sent or answered: an entry sent and applied
// whose answer was lost would be applied under its old stamps. The replicator heals
// right after a push that emptied its outbox.
//
// It is one bbolt transaction: a crash leaves the replica as it was, and running it
// again does the work; running it when nothing is in the future changes nothing.
func (s *Store) Restamp(ctx context.Context, requeue func(DeadLetter) bool) (RestampResult, error) {
	var res RestampResult
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.barrier(ctx); err != nil {
		return res, fmt.Errorf("restamp: %w", err)
	}
	// Everything saved is in bbolt; the writer's copies would hold the old stamps.
	clear(s.dirty)
	clear(s.dirtyChanges)
	now := s.now()
	nowHLC := form.NewHLC(now.UnixMilli(), 0)
	cut := form.NewHLC(now.UnixMilli(), 0xffff) // a stamp above is in the future
	var newClock form.HLC
	nextAudit, lastHash := s.nextAudit, s.lastHash
	err := s.dbUpdate(func(tx *bolt.Tx) error {
		unsent, err := readUnsent(tx)
		if err != nil {
			return err
		}
		mine := func(st form.Stamp) bool { return st.Device == s.device && st.HLC > cut }
		future := map[form.HLC]bool{}
		touched := map[string]bool{}
		for _, u := range unsent {
			if mine(u.ch.Created) {
				future[u.ch.Created.HLC] = true
				touched[u.ch.Record] = true
			}
			for _, fv := range u.ch.Fields {
				if mine(fv.Stamp) {
					future[fv.Stamp.HLC] = true
					touched[u.ch.Record] = true
				}
			}
		}
		m := tx.Bucket(bucketMeta)
		persisted := form.HLC(getU64(m, metaClock))
		requeued := slices.ContainsFunc(unsent, func(u unsentChange) bool {
			return u.dead != nil && requeue != nil && requeue(*u.dead)
		})
		if len(future) == 0 && persisted <= cut && !requeued {
			newClock = persisted
			return nil
		}
		replaced := func(st form.Stamp) bool { return st.Device == s.device && future[st.HLC] }

		// The floor: the highest stamp that stays. Up to now, that is the persisted
		// clock (every stamp issued or merged is at or below it); beyond now, the
		// records say. New stamps order after it, so an edit accepted elsewhere never
		// wins over a later local one because of the heal, and no stamp is issued twice.
		floor := min(persisted, cut)
		c := tx.Bucket(bucketByUpdated).Cursor()
		for k, _ := c.Last(); k != nil && len(k) >= 8 && form.HLC(binary.BigEndian.Uint64(k)) > cut; k, _ = c.Prev() {
			id := string(k[8:])
			rec, err := getRecord(tx, id)
			if err != nil {
				return err
			}
			if !replaced(rec.Created) {
				floor = max(floor, rec.Created.HLC)
			}
			for _, fv := range rec.Fields {
				if replaced(fv.Stamp) {
					touched[id] = true
				} else {
					floor = max(floor, fv.Stamp.HLC)
				}
			}
		}

		// New stamps, in the order of the old ones.
		old := make([]form.HLC, 0, len(future))
		for h := range future {
			old = append(old, h)
		}
		slices.Sort(old)
		remap := make(map[form.HLC]form.HLC, len(old))
		// (A full counter carries into the milliseconds by itself: h+1 is the next reading.)
		next := max(nowHLC, floor+1)
		for _, h := range old {
			remap[h] = next
			next++
		}
		// The clock ends at the last new stamp used (one of a field left out is not).
		newClock = floor
		res.Stamps = len(old)
		restamp := func(st *form.Stamp) bool {
			if !replaced(*st) {
				return false
			}
			st.HLC = remap[st.HLC]
			newClock = max(newClock, st.HLC)
			return true
		}

		// Records, in key order.
		ids := make([]string, 0, len(touched))
		for id := range touched {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		current := make(map[string]form.Record, len(ids))
		var seg segmentBuilder
		var restamped []AuditEntry // the trail's entry: the revs this changes
		for _, id := range ids {
			rec, err := getRecord(tx, id)
			if errors.Is(err, ErrNotFound) {
				continue // purged here: its changes keep their fields
			}
			if err != nil {
				return err
			}
			current[id] = rec.Clone()
			changed := restamp(&rec.Created)
			for fid, fv := range rec.Fields {
				if restamp(&fv.Stamp) {
					rec.Fields[fid] = fv
					changed = true
				}
			}
			if changed {
				if err := s.putRecord(tx, &rec, &seg); err != nil {
					return err
				}
				res.Records++
				// The record's rev changed: the trail says so and records the new one.
				restamped = append(restamped, AuditEntry{Device: s.device, Action: ActionRestamp,
					Record: id, Rev: rec.Rev(), Note: "stamps of unsent changes made while the clock ran ahead replaced"})
			}
		}
		if err := writeSegment(tx, &seg); err != nil {
			return err
		}
		if err := s.appendAuditTx(tx, restamped...); err != nil {
			return err
		}
		if restampFault != nil {
			if err := restampFault("records"); err != nil {
				return err
			}
		}

		// Unsent changes, outbox first, each in key order.
		ob, db := tx.Bucket(bucketOutbox), tx.Bucket(bucketDead)
		for _, u := range unsent {
			ch := u.ch
			ch.Fields = make(map[string]form.FieldValue, len(u.ch.Fields))
			changed := restamp(&ch.Created)
			cur, have := current[ch.Record]
			for fid, fv := range u.ch.Fields {
				if replaced(fv.Stamp) && have {
					// A value that already lost to an edit someone accepted must keep
					// losing: with a new stamp it would win. It stays in the history.
					if w, ok := cur.Fields[fid]; ok && !replaced(w.Stamp) && w.Stamp.Compare(fv.Stamp) > 0 {
						res.Dropped++
						changed = true
						continue
					}
				}
				if restamp(&fv.Stamp) {
					changed = true
				}
				ch.Fields[fid] = fv
			}
			back := u.dead != nil && requeue != nil && requeue(*u.dead)
			if !changed && !back {
				continue
			}
			res.Changes++
			empty := len(ch.Fields) == 0 && ch.Created == u.ch.Created
			switch {
			case u.dead == nil && empty:
				if err := outboxDelete(tx, u.seq); err != nil {
					return err
				}
			case u.dead == nil:
				b, err := json.Marshal(ch)
				if err != nil {
					return err
				}
				if err := ob.Put(u64(u.seq), b); err != nil {
					return err
				}
			case empty:
				if err := db.Delete(u64(u.seq)); err != nil {
					return err
				}
			case back:
				b, err := json.Marshal(ch)
				if err != nil {
					return err
				}
				if err := outboxPut(tx, u.seq, ch.Record, b); err != nil {
					return err
				}
				if err := db.Delete(u64(u.seq)); err != nil {
					return err
				}
				res.Requeued++
			default:
				d := *u.dead
				d.Change = ch
				b, err := json.Marshal(d)
				if err != nil {
					return err
				}
				if err := db.Put(u64(u.seq), b); err != nil {
					return err
				}
			}
		}
		if restampFault != nil {
			if err := restampFault("changes"); err != nil {
				return err
			}
		}
		// The one place the persisted clock goes back.
		res.Rewound = newClock < persisted
		return m.Put(metaClock, u64(uint64(newClock)))
	})
	if err != nil {
		s.nextAudit, s.lastHash = nextAudit, lastHash
		return RestampResult{}, fmt.Errorf("restamp: %w", err)
	}
	res.Clock = newClock
	if res.Rewound || res.Stamps > 0 {
		s.clock.Rewind(newClock)
		s.log.Info("restamped changes made while the clock ran ahead", "stamps", res.Stamps,
			"changes", res.Changes, "requeued", res.Requeued, "records", res.Records, "clock", newClock.Time())
	}
	return res, nil
}

// readUnsent reads the outbox, then the dead letters, each in order.
func readUnsent(tx *bolt.Tx) ([]unsentChange, error) {
	var out []unsentChange
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		var ch form.Change
		if err := json.Unmarshal(v, &ch); err != nil {
			return fmt.Errorf("outbox %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, unsentChange{seq: binary.BigEndian.Uint64(k), ch: ch})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
		var d DeadLetter
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("dead letter %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, unsentChange{seq: binary.BigEndian.Uint64(k), dead: &d, ch: d.Change})
		return nil
	})
	return out, err
}
