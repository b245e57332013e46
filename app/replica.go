package app

import (
	"context"
	"time"
)

// RecordSummary is what the UI shows of a record in lists.
type RecordSummary struct {
	ID           string
	Template     string // template ID
	TemplateName string // the template's display name; empty shows Template
	Title        string // made from the record's title fields; may be empty
	Status       string // form.StatusDraft or form.StatusSubmitted
	Deleted      bool
	Updated      time.Time // the record's latest change, in the zone it is shown in
}

// Replica is the part of the device's local replica the UI reads.
type Replica interface {
	// Page returns at most limit live records, newest change first, starting at
	// offset, and how many live records there are in all.
	Page(ctx context.Context, offset, limit int) ([]RecordSummary, int, error)
}
