package store

// SetRestampFault sets the hook Restamp runs between its steps, for the crash test.
func SetRestampFault(f func(step string) error) { restampFault = f }
