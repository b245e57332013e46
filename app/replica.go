package app

import (
	"context"
	"io"
	"time"

	"github.com/fieldforms/fieldforms/form"
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
	Pending      bool      // has changes not yet acknowledged by the server
}

// Deleted criteria of a Query.
const (
	LiveOnly = iota
	DeletedOnly
	LiveAndDeleted
)

// Query selects records; the zero Query lists live records, newest first.
type Query struct {
	Text     string
	Template string
	Status   string
	From, To time.Time // last change within [From, To); zero: open
	Deleted  int       // LiveOnly, DeletedOnly or LiveAndDeleted
	Offset   int
	Limit    int
}

// Edit is one save from a screen: a new record (Record empty) or an edit.
type Edit struct {
	Record   string           // empty creates a record
	Template form.TemplateKey // for a new record
	Values   form.Values      // fields to set; JSON null clears
	Status   string           // "" keeps; form.StatusDraft or form.StatusSubmitted
}

// HistoryEntry is one line of a record's history.
type HistoryEntry struct {
	Time    time.Time
	Actor   string
	Device  string
	Action  string // create, edit, submit, delete, restore, apply, conflict, purge
	Changes []FieldChange
	Note    string
}

// FieldChange is one field's move from one value to another.
type FieldChange struct {
	Field    string
	Old, New string // as shown (form.DisplayValue)
}

// VerifyReport is the result of checking the local data.
type VerifyReport struct {
	Records, AuditEntries int
	Problems              []string
}

// Replica is the device's local replica, as the UI uses it. Every method may do I/O:
// call them off the UI goroutine where they could be slow, and hand results back
// through fyne.Do.
type Replica interface {
	// Page returns at most limit live records, newest change first, starting at
	// offset, and how many live records there are in all.
	Page(ctx context.Context, offset, limit int) ([]RecordSummary, int, error)
	// Search returns a page of records matching q and how many match in all.
	Search(ctx context.Context, q Query) ([]RecordSummary, int, error)
	// Get returns a record.
	Get(ctx context.Context, id string) (form.Record, error)
	// Templates lists every template version; Template returns one.
	Templates() []*form.Template
	Template(k form.TemplateKey) (*form.Template, error)
	// Save validates and saves an edit durably; a *form.ValidationError names the
	// fields and rules that failed.
	Save(ctx context.Context, e Edit) (form.Record, error)
	// Delete (soft) and Restore.
	Delete(ctx context.Context, id string) (form.Record, error)
	Restore(ctx context.Context, id string) (form.Record, error)
	// History returns a record's history, oldest first.
	History(ctx context.Context, id string) ([]HistoryEntry, error)
	// AddAttachment stores bytes (a photo, a file, a signature PNG) and returns the
	// value to put in the record.
	AddAttachment(ctx context.Context, r io.Reader, mediaType, name string) (form.Attachment, error)
	// OpenAttachment opens an attachment's bytes, fetching them from the server if
	// this device does not hold them (which can fail while offline).
	OpenAttachment(ctx context.Context, sha256 string) (io.ReadCloser, error)
	// Export writes everything to a ZIP; Verify checks the local data.
	Export(ctx context.Context, w io.Writer) error
	Verify(ctx context.Context) (VerifyReport, error)
}

// Sync states, in plain words (they are shown as they are).
const (
	SyncNotEnrolled = "not enrolled"
	SyncOffline     = "offline"
	SyncSyncing     = "syncing"
	SyncIdle        = "up to date"
	SyncRebuilding  = "rebuilding the server"
	SyncError       = "needs attention"
	SyncStopped     = "stopped"
)

// SyncStatus is what the always-visible status bar shows.
type SyncStatus struct {
	State        string // one of the Sync* constants
	Message      string // plain words, may be empty
	Pending      int
	DeadLetters  int
	LastSuccess  time.Time
	Server       string
	ServerHealth string // "ready", "unreachable", ... ; empty when unknown
	User         string
	Admin        bool
	// Progress of long work (first sync, rebuild, export); Total 0 when none.
	ProgressWhat        string
	ProgressDone, Total int
	// ProgressRate is items a second so far and ProgressLeft the time the rest takes
	// at that pace; zero when not known yet.
	ProgressRate float64
	ProgressLeft time.Duration
}

// DeadLetter is a change the server refused for good.
type DeadLetter struct {
	Seq    uint64
	Record string
	Reason string
	Time   time.Time
}

// Sync is the replication engine as the UI uses it.
type Sync interface {
	Status() SyncStatus
	// Subscribe calls fn on every status change from another goroutine; the UI must
	// hand the update to its own thread with fyne.Do. It returns a cancel function.
	Subscribe(fn func(SyncStatus)) func()
	// Wake asks for a sync now (after a save).
	Wake()
	// Pause stops syncing (the app left the foreground) after flushing; Resume
	// starts again.
	Pause()
	Resume()
	// Enroll redeems an enrolment code; deviceName is shown to the operator.
	Enroll(ctx context.Context, code, deviceName string) error
	// Reseed pushes the whole replica to the server (admin), reporting progress
	// through the status.
	Reseed(ctx context.Context) error
	DeadLetters(ctx context.Context) ([]DeadLetter, error)
	RetryDeadLetter(ctx context.Context, seq uint64) error
}
