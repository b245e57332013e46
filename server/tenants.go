package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/store"
)

// TenantsDir is the folder of tenant stores in the data folder.
const TenantsDir = "tenants"

// State keys the server keeps in each tenant's store.
const (
	stateEpoch  = "epoch"
	ledgerState = "ledger/"
)

// tenant is one open tenant store with its epoch and the ledger of its devices.
type tenant struct {
	name  string
	st    *store.Store
	epoch string

	mu     sync.Mutex        // serialises ledger updates
	ledger map[string]uint64 // device → highest change sequence held; a cache of the store's state
}

// tenants opens tenant stores on first use and keeps them open.
type tenants struct {
	dir  string
	log  *slog.Logger
	now  func() time.Time
	lock time.Duration

	mu     sync.Mutex
	open   map[string]*tenant
	closed bool
	// offline tenants are being restored: their store is not opened (restore.go).
	offline map[string]bool
	// onOpen runs on a store just opened, before its epoch is read and before it
	// serves: it carries out the purges the server's identity keeps (purgelog.go).
	onOpen func(ctx context.Context, name string, st *store.Store) error
	// onNewEpoch runs before a store made empty serves with the epoch just made for it
	// (checkpoint.go keeps the epochs the server made); onReady runs on a tenant just
	// opened, before it serves.
	onNewEpoch func(name, epoch, why string) error
	onReady    func(ctx context.Context, t *tenant)
	// damaged tenants are offline because their store is damaged: why, until a
	// restore replaces it (closeTenant) or the server restarts.
	damaged map[string]error
}

// ErrTenantDamaged: the tenant's store is damaged; the tenant is offline (503) until
// an operator restores it from a backup, while the other tenants serve.
var ErrTenantDamaged = errors.New("tenant offline: its data is damaged")

// damageAdvice ends the message of a damaged tenant store.
const damageAdvice = "restore the tenant from a backup (fieldformsd restore --tenant NAME --backup latest)"

// markDamaged takes a tenant offline for damage, closes its store if open, and logs
// it once. It returns the error its calls get.
func (ts *tenants) markDamaged(name string, cause error) error {
	ts.mu.Lock()
	if ts.damaged == nil {
		ts.damaged = map[string]error{}
	}
	first := ts.damaged[name] == nil
	if first {
		ts.damaged[name] = cause
	}
	t, open := ts.open[name]
	delete(ts.open, name)
	ts.mu.Unlock()
	if first {
		ts.log.Error("tenant offline: its store is damaged; the other tenants keep serving",
			"tenant", name, "err", cause, "action", strings.ReplaceAll(damageAdvice, "NAME", name))
	}
	if open {
		t.st.Close()
	}
	return fmt.Errorf("tenant %s: %w: %v", name, ErrTenantDamaged, cause)
}

// damagedNames are the tenants offline for damage, in name order, with the reason.
func (ts *tenants) damagedNames() map[string]error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return maps.Clone(ts.damaged)
}

func newTenants(dataDir string, log *slog.Logger, now func() time.Time, lock time.Duration) *tenants {
	return &tenants{dir: filepath.Join(dataDir, TenantsDir), log: log, now: now, lock: lock, open: map[string]*tenant{}}
}

// dirOf is where a tenant's store lives.
func (ts *tenants) dirOf(name string) string { return filepath.Join(ts.dir, name) }

// get returns a tenant's open store, opening (and, when new, creating it with a new
// epoch) on first use. The caller has checked that the tenant exists.
func (ts *tenants) get(ctx context.Context, name string) (*tenant, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return nil, store.ErrClosed
	}
	if ts.offline[name] {
		return nil, fmt.Errorf("tenant %s: %w", name, ErrTenantOffline)
	}
	if cause := ts.damaged[name]; cause != nil {
		return nil, fmt.Errorf("tenant %s: %w: %v", name, ErrTenantDamaged, cause)
	}
	// offline takes the tenant offline for damage; markDamaged takes ts.mu itself.
	offline := func(cause error) error {
		ts.mu.Unlock()
		defer ts.mu.Lock()
		return ts.markDamaged(name, cause)
	}
	if t, ok := ts.open[name]; ok {
		if d := t.st.Damaged(); d != nil {
			// Damage met since it opened: offline from now on.
			return nil, offline(d)
		}
		return t, nil
	}
	st, err := store.Open(ctx, ts.dirOf(name), store.Options{
		LockTimeout:  ts.lock,
		Logger:       ts.log.With("tenant", name),
		Now:          ts.now,
		DamageAdvice: strings.ReplaceAll(damageAdvice, "NAME", name),
	})
	if errors.Is(err, store.ErrInUse) {
		return nil, fmt.Errorf("tenant %s: %w", name, ErrInUse)
	}
	if errors.Is(err, store.ErrDamaged) || errors.Is(err, store.ErrJournalDamaged) {
		return nil, offline(err)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", name, err)
	}
	if ts.onOpen != nil {
		if err := ts.onOpen(ctx, name, st); err != nil {
			st.Close()
			return nil, fmt.Errorf("tenant %s: %w", name, err)
		}
	}
	t := &tenant{name: name, st: st, ledger: map[string]uint64{}}
	newEpoch := func(epoch string) error {
		if ts.onNewEpoch == nil {
			return nil
		}
		return ts.onNewEpoch(name, epoch, "a new, empty tenant store")
	}
	if t.epoch, err = ensureEpoch(ctx, st, newEpoch); err != nil {
		st.Close()
		if errors.Is(err, store.ErrDamaged) {
			return nil, offline(err)
		}
		return nil, fmt.Errorf("tenant %s: %w", name, err)
	}
	ts.open[name] = t
	ts.log.Info("tenant store open", "tenant", name, "epoch", t.epoch)
	if ts.onReady != nil {
		ts.onReady(ctx, t)
	}
	return t, nil
}

// ensureEpoch reads the store's epoch, making one for a store that has none: a new
// store, or one made empty after the data folder was lost.
func ensureEpoch(ctx context.Context, st *store.Store, made func(string) error) (string, error) {
	v, err := st.State(ctx, stateEpoch)
	if err != nil {
		return "", fmt.Errorf("read epoch: %w", err)
	}
	if len(v) == 32 {
		return string(v), nil
	}
	epoch, err := randomHex(16)
	if err != nil {
		return "", err
	}
	if err := made(epoch); err != nil {
		return "", err
	}
	if err := st.SetState(ctx, map[string][]byte{stateEpoch: []byte(epoch)}); err != nil {
		return "", fmt.Errorf("write epoch: %w", err)
	}
	return epoch, nil
}

// each calls fn for every open tenant, in name order.
func (ts *tenants) each(fn func(*tenant) error) error {
	ts.mu.Lock()
	list := make([]*tenant, 0, len(ts.open))
	for _, t := range ts.open {
		list = append(list, t)
	}
	ts.mu.Unlock()
	slices.SortFunc(list, func(a, b *tenant) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	for _, t := range list {
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

// closeTenant closes one tenant's store, so its files can be replaced (a restore); the
// next get opens it again.
func (ts *tenants) closeTenant(name string) error {
	ts.mu.Lock()
	t, ok := ts.open[name]
	delete(ts.open, name)
	delete(ts.damaged, name) // its files are being replaced: the next get tries again
	ts.mu.Unlock()
	if !ok {
		return nil
	}
	return t.st.Close()
}

// close closes every store, after each has applied what it acknowledged.
func (ts *tenants) close() error {
	ts.mu.Lock()
	ts.closed = true
	open := ts.open
	ts.open = map[string]*tenant{}
	ts.mu.Unlock()
	var errs []error
	for _, t := range open {
		errs = append(errs, t.st.Close())
	}
	return errors.Join(errs...)
}

// ledgerOf is the highest change sequence of the device that the tenant holds.
func (t *tenant) ledgerOf(ctx context.Context, device string) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loadLedger(ctx, device)
}

func (t *tenant) loadLedger(ctx context.Context, device string) (uint64, error) {
	if v, ok := t.ledger[device]; ok {
		return v, nil
	}
	raw, err := t.st.State(ctx, ledgerState+device)
	if err != nil {
		return 0, fmt.Errorf("read ledger: %w", err)
	}
	var n uint64
	if raw != nil {
		if n, err = strconv.ParseUint(string(raw), 10, 64); err != nil {
			return 0, fmt.Errorf("read ledger of %s: %w", device, err)
		}
	}
	t.ledger[device] = n
	return n, nil
}

// advanceLedger raises the device's ledger to seq (never lowers it) and returns it.
// It is written after the changes it covers are committed, so it never claims more
// than the store holds.
func (t *tenant) advanceLedger(ctx context.Context, device string, seq uint64) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, err := t.loadLedger(ctx, device)
	if err != nil || seq <= cur {
		return cur, err
	}
	if err := t.st.SetState(ctx, map[string][]byte{ledgerState + device: []byte(strconv.FormatUint(seq, 10))}); err != nil {
		return cur, fmt.Errorf("write ledger: %w", err)
	}
	t.ledger[device] = seq
	return seq, nil
}
