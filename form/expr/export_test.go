package expr

// SetCatchPanics switches the panic safety net of Parse and Eval on or off, so that
// the fuzz test sees the panics it is looking for.
func SetCatchPanics(on bool) (was bool) {
	was, catchPanics = catchPanics, on
	return was
}
