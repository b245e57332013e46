package store

import "errors"

// Errors returned by the store. Each is wrapped with what was being done.
var (
	// ErrInUse: another process holds the replica open.
	ErrInUse = errors.New("replica in use by another process")
	// ErrNotFound: no record, template, attachment or outbox entry with that key.
	ErrNotFound = errors.New("not found")
	// ErrUnknownTemplate: a record refers to a template version the store lacks.
	ErrUnknownTemplate = errors.New("unknown template version")
	// ErrDeleted: the record is deleted; restore it before editing.
	ErrDeleted = errors.New("record is deleted")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
	// ErrCorrupt: the journal or database holds something it cannot have written.
	ErrCorrupt = errors.New("replica corrupt")
	// ErrBadInput: the request itself is malformed (as opposed to invalid values,
	// which are form.ErrInvalidValue).
	ErrBadInput = errors.New("bad input")
)
