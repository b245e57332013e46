package store

import (
	"slices"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

// HoldApplier makes the applier of every store wait before it applies saves, until
// the returned function is called: saves made meanwhile are journalled but not in
// the database, as a crash leaves them. Tests that use it must not run in parallel.
func HoldApplier() (release func()) {
	ch := make(chan struct{})
	hold := func() { <-ch }
	applyHold.Store(&hold)
	return func() {
		applyHold.Store(nil)
		close(ch)
	}
}

// AuditDecode decodes a stored audit value's first item, as a tamperer who knows
// the format can.
func AuditDecode(v []byte) (AuditEntry, error) { return decodeAuditValue(v) }

// AuditEncode encodes e as the store writes an entry of one record change.
func AuditEncode(e AuditEntry) []byte {
	canon, _ := encodeV2(e.Seq, e.Time, []AuditEntry{e})
	return storeAuditValue(canon)
}

// AuditCanonical returns a stored audit value's canonical bytes.
func AuditCanonical(v []byte) ([]byte, error) {
	b, err := auditCanonical(v)
	return append([]byte(nil), b...), err
}

// LegacyAuditBytes is the size of the entry the previous release wrote for applying
// a record this replica lacked: the record's every field copied in full, chained by
// hash.
func LegacyAuditBytes(r form.Record, seq uint64, actor string) int {
	e := AuditEntry{Seq: seq, Time: time.Now().UTC(), Actor: actor, Device: r.Updated().Device, Action: ActionApply,
		Record: r.ID, Note: "new record", Prev: strings.Repeat("0", 64)}
	for id, fv := range r.Fields {
		e.Diff = append(e.Diff, form.Diff{Field: id, New: fv.Value, Stamp: fv.Stamp})
	}
	slices.SortFunc(e.Diff, func(a, b form.Diff) int { return strings.Compare(a.Field, b.Field) })
	return len(e.sealEncode())
}

// SetRewriteHook sets the function called at the named points of a conversion or
// a compaction (upgrade.go); nil removes it.
func SetRewriteHook(fn func(stage string)) { rewriteHook = fn }

// BucketFill is each bucket's fill as the store sets it (fill.go), by name.
func BucketFill() map[string]float64 {
	m := map[string]float64{}
	for _, b := range bucketFill {
		m[string(b.name)] = b.fill
	}
	return m
}

// TimeApplyStages times the stages of every apply until the returned function is
// called; it returns the time each stage took, by name (summed over the workers for
// the stages before the transaction).
func TimeApplyStages() (stop func() map[string]time.Duration) {
	t := &stageTimer{}
	applyTimer.Store(t)
	return func() map[string]time.Duration {
		applyTimer.Store(nil)
		m := map[string]time.Duration{}
		for i := range t.ns {
			m[stageNames[i]] = time.Duration(t.ns[i].Load())
		}
		return m
	}
}

// SetMaxUnapplied sets how many records merged batches may hold unapplied before a
// writer waits, and returns a function putting the bound back.
func SetMaxUnapplied(n int) (restore func()) {
	old := maxUnapplied
	maxUnapplied = n
	return func() { maxUnapplied = old }
}
