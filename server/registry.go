package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fieldforms/fieldforms/store"
)

// RegistryFile is the registry's file name in the data folder.
const RegistryFile = "registry.db"

var (
	bucketTenants = []byte("tenants") // name → tenantEntry
	bucketDevices = []byte("devices") // tenant "\x00" device → Device
	bucketEnrol   = []byte("enrol")   // secret hash → enrolment
)

// Errors of the registry.
var (
	// ErrInUse: another process has the data folder open.
	ErrInUse = errors.New("data folder in use by another process (is a server running?)")
	// ErrNoDevice: no such device in the tenant.
	ErrNoDevice = errors.New("no such device")
	// errEnrolment: an enrolment secret that is unknown, used or expired.
	errEnrolment = errors.New("enrolment code unknown, already used or expired")
)

// Device is what the registry knows of an enrolled device.
type Device struct {
	Tenant    string    `json:"tenant"`
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	User      string    `json:"user"`
	Admin     bool      `json:"admin"`
	TokenHash string    `json:"token_hash,omitempty"` // sha256 of the credential; empty once revoked
	Issued    time.Time `json:"issued"`               // when the current credential was issued
	Enrolled  time.Time `json:"enrolled"`
	// Reregistered is set when the device was recognised by its signed credential
	// after the registry lost it.
	Reregistered *time.Time `json:"reregistered,omitempty"`
	Revoked      *time.Time `json:"revoked,omitempty"`
	LastSeen     time.Time  `json:"last_seen"`
	LastSync     time.Time  `json:"last_sync"`
	// The device's own report of its queue (POST /v1/status).
	Pending      int        `json:"pending"`
	DeadLetters  int        `json:"dead_letters"`
	OldestUnsent *time.Time `json:"oldest_unsent,omitempty"`
	StatusAt     time.Time  `json:"status_at"`
	// The size of the device's latest audit checkpoint the server keeps, and the
	// problem found with its trail, if any (devicecheckpoint.go); set by listings.
	AuditCheckpoint int64  `json:"audit_checkpoint,omitempty"`
	AuditProblem    string `json:"audit_problem,omitempty"`
}

type tenantEntry struct {
	Created time.Time `json:"created"`
}

type enrolment struct {
	Tenant  string    `json:"tenant"`
	User    string    `json:"user"`
	Admin   bool      `json:"admin"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// registry is the small bbolt file of tenants, devices and enrolment secrets.
type registry struct {
	db *bolt.DB
}

func openRegistry(dataDir string, timeout time.Duration) (*registry, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	path := filepath.Join(dataDir, RegistryFile)
	// A cut or damaged file would make bbolt fault (SIGBUS) or panic as it maps it.
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		if err := store.CheckFile(path); err != nil {
			return nil, fmt.Errorf("open registry: %w", err)
		}
	}
	var db *bolt.DB
	err := safely(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
		return err
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open registry in %s: %w", dataDir, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	err = safely(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketTenants, bucketDevices, bucketEnrol, bucketDevCheckpoints} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open registry: %w", err)
	}
	return &registry{db: db}, nil
}

func (r *registry) close() error { return r.db.Close() }

func deviceKey(tenant, id string) []byte { return []byte(tenant + "\x00" + id) }

// ensureTenant records a tenant; it reports whether it was new.
func (r *registry) ensureTenant(name string, now time.Time) (bool, error) {
	if ok, err := r.hasTenant(name); err == nil && ok {
		return false, nil // most calls: no write transaction, no fsync
	}
	created := false
	err := r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTenants)
		if b.Get([]byte(name)) != nil {
			return nil
		}
		created = true
		return putJSON(b, []byte(name), tenantEntry{Created: now.UTC()})
	})
	if err != nil {
		return false, fmt.Errorf("registry: tenant %s: %w", name, err)
	}
	return created, nil
}

func (r *registry) hasTenant(name string) (bool, error) {
	found := false
	err := r.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketTenants).Get([]byte(name)) != nil
		return nil
	})
	return found, err
}

// device returns a device; ok is false when the registry lacks it.
func (r *registry) device(tenant, id string) (d Device, ok bool, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDevices).Get(deviceKey(tenant, id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &d)
	})
	if err != nil {
		return Device{}, false, fmt.Errorf("registry: device %s: %w", id, err)
	}
	return d, ok, nil
}

// devices lists a tenant's devices in ID order.
func (r *registry) devices(tenant string) ([]Device, error) {
	var out []Device
	err := r.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDevices).Cursor()
		prefix := []byte(tenant + "\x00")
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			var d Device
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("device %q: %w", k[len(prefix):], err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: devices of %s: %w", tenant, err)
	}
	return out, nil
}

func (r *registry) countDevices() (int, error) {
	n := 0
	err := r.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketDevices).Stats().KeyN
		return nil
	})
	return n, err
}

// updateDevice changes a device in one transaction. fn sees ok=false for a device the
// registry lacks and may create it; it returns false to leave the registry as it was.
func (r *registry) updateDevice(tenant, id string, fn func(d *Device, ok bool) (bool, error)) error {
	err := r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		var d Device
		v := b.Get(deviceKey(tenant, id))
		if v != nil {
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
		}
		write, err := fn(&d, v != nil)
		if err != nil || !write {
			return err
		}
		if tx.Bucket(bucketTenants).Get([]byte(tenant)) == nil {
			if err := putJSON(tx.Bucket(bucketTenants), []byte(tenant), tenantEntry{Created: d.Enrolled}); err != nil {
				return err
			}
		}
		return putJSON(b, deviceKey(tenant, id), d)
	})
	if err != nil {
		return fmt.Errorf("registry: device %s: %w", id, err)
	}
	return nil
}

// putEnrolment keeps a hashed one-time secret, and drops expired ones.
func (r *registry) putEnrolment(hash string, e enrolment, now time.Time) error {
	err := r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEnrol)
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var old enrolment
			if json.Unmarshal(v, &old) != nil || !now.Before(old.Expires) {
				stale = append(stale, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return putJSON(b, []byte(hash), e)
	})
	if err != nil {
		return fmt.Errorf("registry: enrolment: %w", err)
	}
	return nil
}

// redeem uses up an enrolment secret and registers the device fn makes from it, in one
// transaction: a secret works once, and only before it expires. old is the device's
// earlier entry when it enrolled before.
func (r *registry) redeem(hash, deviceID string, now time.Time, fn func(e enrolment, old *Device) (Device, error)) (Device, error) {
	var dev Device
	expired := false
	err := r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEnrol)
		v := b.Get([]byte(hash))
		if v == nil {
			return errEnrolment
		}
		var e enrolment
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		if err := b.Delete([]byte(hash)); err != nil {
			return err
		}
		if !now.Before(e.Expires) {
			expired = true // commit the removal, then refuse
			return nil
		}
		devs := tx.Bucket(bucketDevices)
		var old *Device
		if ov := devs.Get(deviceKey(e.Tenant, deviceID)); ov != nil {
			old = new(Device)
			if err := json.Unmarshal(ov, old); err != nil {
				return err
			}
		}
		var err error
		if dev, err = fn(e, old); err != nil {
			return err
		}
		if tx.Bucket(bucketTenants).Get([]byte(e.Tenant)) == nil {
			if err := putJSON(tx.Bucket(bucketTenants), []byte(e.Tenant), tenantEntry{Created: now.UTC()}); err != nil {
				return err
			}
		}
		return putJSON(devs, deviceKey(e.Tenant, dev.ID), dev)
	})
	if err == nil && expired {
		err = errEnrolment
	}
	return dev, err
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// check reads the registry, for readiness.
func (r *registry) check() error {
	return r.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDevices) == nil {
			return errors.New("registry: devices bucket missing")
		}
		return nil
	})
}
