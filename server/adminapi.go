package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// The admin API (promises P5-P8): search with the Deleted criterion, a record with its
// history, restore, export, the audit trail and purge requests. Every call needs a
// credential enrolled with --admin; others get 403.

func init() {
	extraRoutes = append(extraRoutes, func(s *Server, rt *router) {
		rt.handle("GET /v1/admin/search", roleAdmin, s.handleSearch)
		rt.handle("GET /v1/admin/records/{id}", roleAdmin, s.handleRecord)
		rt.handle("POST /v1/admin/restore", roleAdmin, s.handleRestore)
		rt.handle("GET /v1/admin/export", roleAdmin, s.handleExport)
		rt.handle("GET /v1/admin/audit", roleAdmin, s.handleAudit)
		rt.handle("POST /v1/admin/purge/request", roleAdmin, s.handlePurgeRequest)
		rt.handle("POST /v1/admin/purge/approve", roleAdmin, s.handlePurgeApprove)
		rt.handle("GET /v1/admin/purge", roleAdmin, s.handlePurgeList)
	})
	RegisterAdminOp(OpAudit, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a AuditArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		t, err := s.tenant(ctx, a.Tenant)
		if err != nil {
			return nil, err
		}
		resp, err := s.auditPage(ctx, t, a)
		return resp, plainError(err)
	})
}

// OpAudit reads a tenant's audit trail (and checks its chain) for `fieldformsd audit`.
const OpAudit = "audit"

// AuditArgs select audit entries: a record's history, or the trail after a sequence
// number; Verify walks the whole chain too.
type AuditArgs struct {
	Tenant string `json:"tenant"`
	Record string `json:"record,omitempty"`
	After  uint64 `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"` // default 1000, at most 10000
	Verify bool   `json:"verify,omitempty"`
}

// Audit page sizes.
const (
	defaultAuditPage = 1000
	maxAuditPage     = 10000
)

// plainError turns an API error into its message, for the command line.
func plainError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return errors.New(ae.msg)
	}
	return err
}

// query reads a request's query parameters, refusing any it does not know.
func query(r *http.Request, known ...string) (map[string]string, error) {
	q := r.URL.Query()
	out := make(map[string]string, len(q))
	for k, v := range q {
		ok := false
		for _, n := range known {
			ok = ok || n == k
		}
		if !ok {
			return nil, badRequest("query parameter %q: unknown; use %v", k, known)
		}
		if len(v) > 1 {
			return nil, badRequest("query parameter %q: given %d times", k, len(v))
		}
		out[k] = v[0]
	}
	return out, nil
}

func intParam(q map[string]string, name string, def, lo, hi int) (int, error) {
	v, ok := q[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s %q: a whole number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// timeParam reads an RFC 3339 time or a date (midnight UTC).
func timeParam(q map[string]string, name string) (time.Time, error) {
	v := q[name]
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, badRequest("%s %q: an RFC 3339 time (2024-05-01T08:00:00Z) or a date (2024-05-01)", name, v)
}

// handleSearch searches the tenant's records, deleted ones too when asked.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	q, err := query(r, "q", "template", "status", "deleted", "from", "to", "offset", "limit")
	if err != nil {
		return nil, err
	}
	sq := store.Query{Text: q["q"], Template: q["template"], Status: q["status"]}
	switch q["deleted"] {
	case "", "live":
		sq.Deleted = store.LiveOnly
	case "deleted":
		sq.Deleted = store.DeletedOnly
	case "all":
		sq.Deleted = store.LiveAndDeleted
	default:
		return nil, badRequest("deleted %q: use live, deleted or all", q["deleted"])
	}
	if sq.Status != "" && sq.Status != form.StatusDraft && sq.Status != form.StatusSubmitted {
		return nil, badRequest("status %q: use %s or %s", sq.Status, form.StatusDraft, form.StatusSubmitted)
	}
	if sq.From, err = timeParam(q, "from"); err != nil {
		return nil, err
	}
	if sq.To, err = timeParam(q, "to"); err != nil {
		return nil, err
	}
	if !sq.From.IsZero() && !sq.To.IsZero() && !sq.From.Before(sq.To) {
		return nil, badRequest("from %s is not before to %s", q["from"], q["to"])
	}
	if sq.Offset, err = intParam(q, "offset", 0, 0, 1<<30); err != nil {
		return nil, err
	}
	if sq.Limit, err = intParam(q, "limit", 50, 1, store.MaxPage); err != nil {
		return nil, err
	}
	page, err := c.t.st.Search(r.Context(), sq)
	if errors.Is(err, store.ErrBadInput) {
		return nil, badRequest("%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	items := make([]wire.Summary, len(page.Items))
	for i, it := range page.Items {
		items[i] = wire.Summary{ID: it.ID, Template: it.Template, Version: it.Version, Title: it.Title, Status: it.Status,
			Deleted: it.Deleted, Created: it.Created, Updated: it.Updated, Rev: it.Rev}
	}
	return wire.SearchResponse{Items: items, Total: page.Total, Server: s.serverInfo(r.Context(), c)}, nil
}

// record reads a record, or says it is unknown or purged.
func record(ctx context.Context, t *tenant, id string) (form.Record, error) {
	if !form.ValidID(id) {
		return form.Record{}, badRequest("record ID %q: not a UUID", clip(id, 80))
	}
	rec, err := t.st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if purged, perr := t.st.IsPurged(ctx, id); perr == nil && purged {
			return form.Record{}, errorf(http.StatusGone, wire.CodePurged, "record %s was permanently deleted (purged); its audit trail remains", id)
		}
		return form.Record{}, errorf(http.StatusNotFound, wire.CodeNotFound, "no record %s in this tenant", id)
	}
	return rec, err
}

func auditEntries(es []store.AuditEntry) []wire.AuditEntry {
	out := make([]wire.AuditEntry, len(es))
	for i, e := range es {
		out[i] = wire.AuditEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Device: e.Device, Action: e.Action,
			Record: e.Record, Change: e.Change, Diff: e.Diff, Note: e.Note, Prev: e.Prev, Hash: e.Hash}
	}
	return out
}

func (s *Server) recordResponse(ctx context.Context, c *caller, rec form.Record) (wire.RecordResponse, error) {
	hist, err := c.t.st.History(ctx, rec.ID)
	if err != nil {
		return wire.RecordResponse{}, fmt.Errorf("history %s: %w", rec.ID, err)
	}
	return wire.RecordResponse{Record: rec, History: auditEntries(hist), Server: s.serverInfo(ctx, c)}, nil
}

// handleRecord returns a record with its history.
func (s *Server) handleRecord(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	if len(r.URL.Query()) > 0 {
		return nil, badRequest("records/{id} takes no query parameters")
	}
	rec, err := record(r.Context(), c.t, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return s.recordResponse(r.Context(), c, rec)
}

// handleRestore brings back a deleted record. The restore is a change like any
// device's, authored by the admin and their device, so it syncs to every device and
// the audit trail says who restored the record from where. Restoring a live record
// changes nothing.
func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.RestoreRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	ctx := r.Context()
	rec, err := record(ctx, c.t, req.ID)
	if err != nil {
		return nil, err
	}
	if rec.Deleted() {
		stamp := form.Stamp{HLC: c.t.st.Clock().Now(), Device: c.t.st.Device()}
		ch := form.Change{ID: form.NewID(), Record: rec.ID, Template: rec.Template, Version: rec.Version,
			Created: rec.Created, CreatedBy: rec.CreatedBy,
			Fields: map[string]form.FieldValue{form.FieldDeleted: {Value: json.RawMessage("false"), Stamp: stamp}},
			Author: c.User, Device: c.Device}
		res, err := c.t.st.ApplyChanges(context.WithoutCancel(ctx), []form.Change{ch})
		if err != nil {
			return nil, fmt.Errorf("restore %s: %w", rec.ID, err)
		}
		if res[0].Status == store.Rejected {
			return nil, errorf(http.StatusConflict, rejectionCode(res[0].Err), "restore %s: %s", rec.ID, store.RejectionReason(res[0].Err))
		}
		s.log.Info("record restored", "tenant", c.Tenant, "device", c.Device, "record", rec.ID)
		if rec, err = c.t.st.Get(ctx, rec.ID); err != nil {
			return nil, err
		}
	}
	return s.recordResponse(ctx, c, rec)
}

// handleExport streams the tenant's data as one ZIP (records as JSON and CSV per
// template, templates, the audit trail). A failure half way aborts the connection,
// so a client never mistakes a truncated file for a whole one.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	if len(r.URL.Query()) > 0 {
		return nil, badRequest("export takes no query parameters")
	}
	// A large tenant takes longer than the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(6 * time.Hour))
	s.setServerHeaders(w, r, c)
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="fieldforms-%s-%s.zip"`, c.Tenant, s.now().UTC().Format("20060102-150405")))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if err := c.t.st.Export(r.Context(), w); err != nil {
		s.log.Error("export failed half way; connection aborted", "tenant", c.Tenant, "err", err)
		panic(http.ErrAbortHandler)
	}
	s.log.Info("tenant exported", "tenant", c.Tenant, "device", c.Device)
	return nil, nil
}

// handleAudit pages through the audit trail, or a record's history, and checks the
// chain when asked (verify=1).
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	q, err := query(r, "record", "after", "limit", "verify")
	if err != nil {
		return nil, err
	}
	a := AuditArgs{Record: q["record"]}
	if v := q["after"]; v != "" {
		if a.After, err = strconv.ParseUint(v, 10, 64); err != nil {
			return nil, badRequest("after %q: an audit sequence number", v)
		}
	}
	if a.Limit, err = intParam(q, "limit", defaultAuditPage, 1, maxAuditPage); err != nil {
		return nil, err
	}
	switch q["verify"] {
	case "", "0", "false":
	case "1", "true":
		a.Verify = true
	default:
		return nil, badRequest("verify %q: use 1 or 0", q["verify"])
	}
	resp, err := s.auditPage(r.Context(), c.t, a)
	if err != nil {
		return nil, err
	}
	resp.Server = s.serverInfo(r.Context(), c)
	return resp, nil
}

// auditPage reads audit entries as a asks, for the API and the command line.
func (s *Server) auditPage(ctx context.Context, t *tenant, a AuditArgs) (wire.AuditResponse, error) {
	if a.Limit == 0 {
		a.Limit = defaultAuditPage
	}
	if a.Limit < 0 || a.Limit > maxAuditPage {
		return wire.AuditResponse{}, badRequest("limit %d: from 1 to %d", a.Limit, maxAuditPage)
	}
	var entries []store.AuditEntry
	var err error
	if a.Record != "" {
		if !form.ValidID(a.Record) {
			return wire.AuditResponse{}, badRequest("record ID %q: not a UUID", clip(a.Record, 80))
		}
		all, herr := t.st.History(ctx, a.Record)
		for _, e := range all {
			if e.Seq > a.After && len(entries) < a.Limit {
				entries = append(entries, e)
			}
		}
		err = herr
	} else {
		entries, err = t.st.Audit(ctx, a.After, a.Limit)
	}
	if err != nil {
		return wire.AuditResponse{}, fmt.Errorf("audit: %w", err)
	}
	resp := wire.AuditResponse{Entries: auditEntries(entries)}
	if a.Verify {
		n, err := t.st.VerifyAudit(ctx)
		var p *store.AuditProblem
		switch {
		case errors.As(err, &p):
			resp.Problem = p.Error()
		case err != nil:
			return wire.AuditResponse{}, fmt.Errorf("verify audit: %w", err)
		}
		ok := err == nil
		resp.Verified, resp.Checked = &ok, n
		// The trail against the checkpoint this server signed last (checkpoint.go).
		ws, werr := s.verifyWitness(ctx, t)
		switch {
		case werr != nil:
			return wire.AuditResponse{}, fmt.Errorf("verify audit checkpoint: %w", werr)
		default:
			resp.TreeSize, resp.CheckpointSize = ws.tree.N, ws.tree.N
			if ws.last != nil {
				resp.CheckpointSize = ws.last.Tree.N // the one checked against
			}
			if ws.problem != "" {
				ok = false
				resp.Problem = strings.TrimPrefix(resp.Problem+"; "+ws.problem, "; ")
			}
		}
	}
	return resp, nil
}
