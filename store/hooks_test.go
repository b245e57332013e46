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

// SetRewriteHook sets the function called at the named points of a conversion or
// a compaction (upgrade.go); nil removes it.
func SetRewriteHook(fn func(stage string)) { rewriteHook = fn }
