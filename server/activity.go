package server

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/sync/wire"
	bolt "go.etcd.io/bbolt"
)

// activity gathers what devices did (last seen, last sync, their queue reports) in
// memory and writes it to the registry now and then, so a busy device does not cost a
// registry write per call.
type activity struct {
	s  *Server
	mu sync.Mutex
	m  map[deviceRef]*deviceActivity
}

type deviceRef struct{ tenant, device string }

type deviceActivity struct {
	seen, synced time.Time
	status       *wire.DeviceStatus
	statusAt     time.Time
}

func newActivity(s *Server) *activity { return &activity{s: s, m: map[deviceRef]*deviceActivity{}} }

func (a *activity) get(ref deviceRef) *deviceActivity {
	d := a.m[ref]
	if d == nil {
		d = &deviceActivity{}
		a.m[ref] = d
	}
	return d
}

func (a *activity) seen(tenant, device string, now time.Time, synced bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.get(deviceRef{tenant, device})
	d.seen = now
	if synced {
		d.synced = now
	}
}

func (a *activity) status(tenant, device string, st wire.DeviceStatus, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.get(deviceRef{tenant, device})
	d.status, d.statusAt, d.seen = &st, now, now
}

// flush writes what was gathered in one registry transaction.
func (a *activity) flush() error {
	a.mu.Lock()
	m := a.m
	a.m = map[deviceRef]*deviceActivity{}
	a.mu.Unlock()
	if len(m) == 0 {
		return nil
	}
	err := a.s.reg.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		for ref, act := range m {
			k := deviceKey(ref.tenant, ref.device)
			v := b.Get(k)
			if v == nil {
				continue // revoked and removed, or never registered
			}
			var d Device
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			if act.seen.After(d.LastSeen) {
				d.LastSeen = act.seen.UTC()
			}
			if act.synced.After(d.LastSync) {
				d.LastSync = act.synced.UTC()
			}
			if act.status != nil {
				d.Pending, d.DeadLetters, d.OldestUnsent = act.status.Pending, act.status.DeadLetters, act.status.OldestUnsent
				d.StatusAt = act.statusAt.UTC()
			}
			if err := putJSON(b, k, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Put it back so the next flush tries again; newer news wins.
		a.mu.Lock()
		for ref, act := range m {
			if _, ok := a.m[ref]; !ok {
				a.m[ref] = act
			}
		}
		a.mu.Unlock()
		return fmt.Errorf("registry: device activity: %w", err)
	}
	return nil
}
