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

// AuditDecode decodes a stored audit value, as a tamperer who knows the format can.
func AuditDecode(v []byte) (AuditEntry, error) { return decodeAuditValue(v) }

// AuditReseal encodes e after prev (the previous entry's hash), sealed as the store
// seals entries, and returns the value to store and the entry's hash.
func AuditReseal(e AuditEntry, prev string) ([]byte, string) {
	e.Prev = prev
	b := e.sealEncode()
	return storeAuditValue(b), e.Hash
}
