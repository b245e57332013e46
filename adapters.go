package main

// The seam between the UI and the rest: app declares what it needs (app.Replica,
// app.Sync); these adapters provide it from the store and the sync engine.

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/app"
	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// replica adapts the store to what the UI reads and writes.
type replica struct {
	st   *store.Store
	sync *syncEngine // nil in tests and headless use: no waking, no fetching
}

var _ app.Replica = replica{}

func (r replica) Page(ctx context.Context, offset, limit int) ([]app.RecordSummary, int, error) {
	return r.Search(ctx, app.Query{Offset: offset, Limit: limit})
}

// Search reads a page of the list and gives back the replica's pages it read
// (store.ReleaseMapped): a search or a jump down the list may walk much of the
// index, and the kernel maps whole runs of the file around each page read, so the
// app's memory would otherwise grow with every query towards the file's size.
func (r replica) Search(ctx context.Context, q app.Query) ([]app.RecordSummary, int, error) {
	p, err := r.st.Search(ctx, store.Query{Text: q.Text, Template: q.Template, Status: q.Status, From: q.From, To: q.To,
		Deleted: store.DeletedFilter(q.Deleted), Offset: q.Offset, Limit: q.Limit})
	_ = r.st.ReleaseMapped()
	if err != nil {
		return nil, 0, err
	}
	rows := make([]app.RecordSummary, len(p.Items))
	for i, s := range p.Items {
		rows[i] = app.RecordSummary{ID: s.ID, Template: s.Template, TemplateName: r.templateName(s.Template, s.Version),
			Title: s.Title, Status: s.Status, Deleted: s.Deleted, Updated: s.Updated.Local(), Pending: s.Pending}
	}
	return rows, p.Total, nil
}

// templateName is a template version's display name, or "" when the replica lacks
// that version.
func (r replica) templateName(id string, version int) string {
	t, err := r.st.Template(form.TemplateKey{ID: id, Version: version})
	if err != nil {
		return ""
	}
	return t.Name
}

func (r replica) Get(ctx context.Context, id string) (form.Record, error) { return r.st.Get(ctx, id) }

func (r replica) Templates() []*form.Template { return r.st.Templates() }

func (r replica) Template(k form.TemplateKey) (*form.Template, error) {
	if k.Version == 0 {
		return r.st.LatestTemplate(k.ID)
	}
	return r.st.Template(k)
}

func (r replica) author(ctx context.Context) string {
	if cred, err := ffsync.LoadCredential(ctx, r.st); err == nil && cred.User != "" {
		return cred.User
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return os.Getenv("USERNAME")
}

func (r replica) woke(rec form.Record, err error) (form.Record, error) {
	if err == nil && r.sync != nil {
		r.sync.Wake()
	}
	return rec, err
}

func (r replica) Save(ctx context.Context, e app.Edit) (form.Record, error) {
	return r.woke(r.st.Save(ctx, store.Edit{Record: e.Record, Template: e.Template, Values: e.Values, Status: e.Status, Author: r.author(ctx)}))
}

func (r replica) Delete(ctx context.Context, id string) (form.Record, error) {
	return r.woke(r.st.Delete(ctx, r.author(ctx), id))
}

func (r replica) Restore(ctx context.Context, id string) (form.Record, error) {
	return r.woke(r.st.Restore(ctx, r.author(ctx), id))
}

func (r replica) History(ctx context.Context, id string) ([]app.HistoryEntry, error) {
	entries, err := r.st.History(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]app.HistoryEntry, len(entries))
	for i, e := range entries {
		h := app.HistoryEntry{Time: e.Time.Local(), Actor: e.Actor, Device: e.Device, Action: e.Action, Note: e.Note}
		for _, d := range e.Diff {
			h.Changes = append(h.Changes, app.FieldChange{Field: d.Field, Old: form.DisplayValue(d.Old), New: form.DisplayValue(d.New)})
		}
		out[i] = h
	}
	return out, nil
}

func (r replica) AddAttachment(ctx context.Context, rd io.Reader, mediaType, name string) (form.Attachment, error) {
	return r.st.PutAttachment(ctx, rd, mediaType, name)
}

func (r replica) OpenAttachment(ctx context.Context, sha string) (io.ReadCloser, error) {
	f, err := r.st.OpenAttachment(sha)
	if err == nil || !errors.Is(err, store.ErrNotFound) || r.sync == nil {
		return f, err
	}
	if err := ffsync.FetchAttachment(ctx, r.st, sha, ffsync.ClientOptions{}); err != nil {
		return nil, err
	}
	return r.st.OpenAttachment(sha)
}

func (r replica) Export(ctx context.Context, w io.Writer) error {
	defer r.st.ReleaseMapped() // the export read every record
	return r.st.Export(ctx, w)
}

func (r replica) Verify(ctx context.Context) (app.VerifyReport, error) {
	defer r.st.ReleaseMapped() // the check read every page
	rep, err := r.st.Verify(ctx)
	return app.VerifyReport{Records: rep.Records, AuditEntries: rep.AuditEntries, Problems: rep.Problems}, err
}

// syncEngine adapts the replicator to what the UI needs.
type syncEngine struct {
	st  *store.Store
	rep *ffsync.Replicator
	ctx context.Context

	mu         sync.Mutex
	running    bool
	stopHealth context.CancelFunc

	// health is the server's /readyz, asked every minute while running; under hmu,
	// not mu, because status callbacks read it while Pause holds mu waiting for the
	// replicator to stop.
	hmu    sync.Mutex
	health string
}

var _ app.Sync = (*syncEngine)(nil)

func (s *syncEngine) convert(st ffsync.Status) app.SyncStatus {
	out := app.SyncStatus{State: string(st.State), Message: st.Message, Pending: st.Pending, DeadLetters: st.DeadLetters,
		LastSuccess: st.LastSuccess, Server: st.Server}
	if cred, err := ffsync.LoadCredential(s.ctx, s.st); err == nil {
		out.User, out.Admin = cred.User, cred.Admin
	}
	if p := st.Progress; p != nil {
		out.ProgressWhat, out.ProgressDone, out.Total = p.What, p.Done, p.Total
		out.ProgressRate, out.ProgressLeft = p.Rate, p.Left
	}
	s.hmu.Lock()
	out.ServerHealth = s.health
	s.hmu.Unlock()
	return out
}

// watchHealth asks the server's /readyz now and every minute until ctx ends.
func (s *syncEngine) watchHealth(ctx context.Context) {
	for {
		if cred, err := ffsync.LoadCredential(ctx, s.st); err == nil {
			h := serverHealth(ctx, cred)
			s.hmu.Lock()
			s.health = h
			s.hmu.Unlock()
		}
		t := time.NewTimer(time.Minute)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *syncEngine) Status() app.SyncStatus { return s.convert(s.rep.Info(s.ctx)) }

func (s *syncEngine) Subscribe(fn func(app.SyncStatus)) func() {
	return s.rep.Subscribe(func(st ffsync.Status) { fn(s.convert(st)) })
}

func (s *syncEngine) Wake() { s.rep.Wake() }

// Pause stops syncing; everything saved is already durable, so there is nothing to
// flush beyond what the store does on every save.
func (s *syncEngine) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		s.rep.Stop()
		s.stopHealth()
		s.running = false
	}
}

func (s *syncEngine) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		s.rep.Start(s.ctx)
		ctx, cancel := context.WithCancel(s.ctx)
		s.stopHealth = cancel
		go s.watchHealth(ctx)
		s.running = true
	}
}

func (s *syncEngine) Enroll(ctx context.Context, code, deviceName string) error {
	c, err := wire.ParseEnrollCode(code)
	if err != nil {
		return err
	}
	cred, err := ffsync.Enroll(ctx, c, s.st.Device(), deviceName, ffsync.ClientOptions{})
	if err != nil {
		return err
	}
	if err := ffsync.SaveCredential(ctx, s.st, cred); err != nil {
		return err
	}
	s.rep.ResetSession() // a new server: forget the old session
	s.Resume()
	s.Wake()
	return nil
}

func (s *syncEngine) Reseed(ctx context.Context) error {
	_, err := s.rep.Reseed(ctx)
	return err
}

func (s *syncEngine) DeadLetters(ctx context.Context) ([]app.DeadLetter, error) {
	dead, err := s.st.DeadLetters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]app.DeadLetter, len(dead))
	for i, d := range dead {
		out[i] = app.DeadLetter{Seq: d.Seq, Record: d.Change.Record, Reason: d.Reason, Time: d.Time.Local()}
	}
	return out, nil
}

func (s *syncEngine) RetryDeadLetter(ctx context.Context, seq uint64) error {
	if err := s.st.Retry(ctx, seq); err != nil {
		return err
	}
	s.Wake()
	return nil
}
