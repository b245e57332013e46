package store

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
	return storeAuditValue(encodeV2(e.Seq, e.Time, []AuditEntry{e}))
}

// AuditCanonical returns a stored audit value's canonical bytes.
func AuditCanonical(v []byte) ([]byte, error) {
	b, err := auditCanonical(v)
	return append([]byte(nil), b...), err
}
