package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
	bolt "go.etcd.io/bbolt"
)

// Purge (promise P7): permanent deletion only on request, approved by two admins who
// are distinct from each other and from the requester. Admins are told apart by user
// name: one admin approving from two devices (or twice) counts once. Requests and
// approvals live in the registry (bucket "purges"). When the second valid approval
// arrives the purge runs: store.Purge removes the records' data, keeps every audit
// entry and adds one per record (actor: the final approver; note: the request, its
// requester, both approvers and the reason), and remembers the IDs so no replica can
// bring the records back; devices learn of it from the Purged list of their next
// pull. Attachments no remaining record refers to are forgotten at once and their
// blobs deleted from blob storage; deletions that cannot be made now (no blob storage
// in this process, or it fails) stay listed in the request and a serving process
// retries them (SweepPurgedBlobs).
//
// On the command line the operator names the admin with --user; the name must be an
// admin user of the tenant (one with an enrolled, unrevoked admin device), so a typo
// cannot pass for a second admin. Its device is recorded as "fieldformsd".

// Admin operations of purges.
const (
	OpPurgeRequest = "purge.request"
	OpPurgeApprove = "purge.approve"
	OpPurgeList    = "purge.list"

	// CLIDevice is the device recorded for admin steps taken on the server's command
	// line.
	CLIDevice = "fieldformsd"

	maxPurgeRecords = 1000
	maxPurgeReason  = 2000
	approvalsNeeded = 2
)

// Arguments of the purge admin operations.
type (
	PurgeRequestArgs struct {
		Tenant  string   `json:"tenant"`
		User    string   `json:"user"`
		Reason  string   `json:"reason"`
		Records []string `json:"records"`
	}
	PurgeApproveArgs struct {
		Tenant string `json:"tenant"`
		User   string `json:"user"`
		ID     string `json:"id"`
	}
)

var bucketPurges = []byte("purges") // tenant "\x00" request ID → purgeEntry

// purgeEntry is a request as the registry keeps it.
type purgeEntry struct {
	Tenant string           `json:"tenant"`
	Status wire.PurgeStatus `json:"status"`
	Blobs  []string         `json:"blobs,omitempty"` // SHA-256 of blobs still to delete
}

func (e purgeEntry) wire() wire.PurgeStatus {
	st := e.Status
	st.Records = slices.Clone(st.Records)
	st.Approvals = slices.Clone(st.Approvals)
	if st.Approvals == nil {
		st.Approvals = []wire.Approval{}
	}
	st.BlobsPending = len(e.Blobs)
	return st
}

// actor is who takes a purge step.
type actor struct{ user, device string }

func init() {
	RegisterAdminOp(OpPurgeRequest, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a PurgeRequestArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		t, err := s.adminTenant(ctx, a.Tenant, a.User)
		if err != nil {
			return nil, err
		}
		st, err := s.requestPurge(ctx, t, actor{a.User, CLIDevice}, a.Records, a.Reason)
		return st, plainError(err)
	})
	RegisterAdminOp(OpPurgeApprove, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a PurgeApproveArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		t, err := s.adminTenant(ctx, a.Tenant, a.User)
		if err != nil {
			return nil, err
		}
		st, err := s.approvePurge(ctx, t, actor{a.User, CLIDevice}, a.ID)
		return st, plainError(err)
	})
	RegisterAdminOp(OpPurgeList, func(ctx context.Context, s *Server, raw json.RawMessage) (any, error) {
		var a TenantArgs
		if err := decodeArgs(raw, &a); err != nil {
			return nil, err
		}
		if _, err := s.id.tenantKey(a.Tenant); err != nil {
			return nil, err
		}
		return s.purgeList(a.Tenant)
	})
}

// adminTenant opens a tenant for a command-line admin step, after checking the user
// is one of its admins.
func (s *Server) adminTenant(ctx context.Context, tenantName, user string) (*tenant, error) {
	t, err := s.tenant(ctx, tenantName)
	if err != nil {
		return nil, err
	}
	if user == "" {
		return nil, errors.New("no admin user named (--user NAME)")
	}
	devs, err := s.reg.devices(tenantName)
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		if d.User == user && d.Admin && d.Revoked == nil {
			return t, nil
		}
	}
	return nil, fmt.Errorf("user %q is not an admin of tenant %s: only users with an enrolled admin device (fieldformsd enroll --admin) may request or approve purges", user, tenantName)
}

func (s *Server) handlePurgeRequest(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.PurgeRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	return s.requestPurge(r.Context(), c.t, actor{c.User, c.Device}, req.Records, req.Reason)
}

func (s *Server) handlePurgeApprove(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.PurgeApproval
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	return s.approvePurge(r.Context(), c.t, actor{c.User, c.Device}, req.ID)
}

func (s *Server) handlePurgeList(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	if len(r.URL.Query()) > 0 {
		return nil, badRequest("purge list takes no query parameters")
	}
	list, err := s.purgeList(c.Tenant)
	if err != nil {
		return nil, err
	}
	return wire.PurgeList{Requests: list, Server: s.serverInfo(r.Context(), c)}, nil
}

// requestPurge records a request to purge records that the tenant holds.
func (s *Server) requestPurge(ctx context.Context, t *tenant, by actor, ids []string, reason string) (wire.PurgeStatus, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case len(ids) == 0:
		return wire.PurgeStatus{}, badRequest("records: name at least one record to purge")
	case len(ids) > maxPurgeRecords:
		return wire.PurgeStatus{}, tooLarge("records: %d; at most %d a request", len(ids), maxPurgeRecords)
	case reason == "":
		return wire.PurgeStatus{}, badRequest("reason: say why the records must be deleted for good")
	case len(reason) > maxPurgeReason:
		return wire.PurgeStatus{}, badRequest("reason: longer than %d bytes", maxPurgeReason)
	}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if !form.ValidID(id) {
			return wire.PurgeStatus{}, badRequest("records[%d] %q: not a record ID (a UUID)", i, clip(id, 80))
		}
		if seen[id] {
			return wire.PurgeStatus{}, badRequest("records[%d]: %s is named twice", i, id)
		}
		seen[id] = true
		if _, err := t.st.Get(ctx, id); errors.Is(err, store.ErrNotFound) {
			if purged, _ := t.st.IsPurged(ctx, id); purged {
				return wire.PurgeStatus{}, errorf(http.StatusConflict, wire.CodePurged, "records[%d]: %s was purged already", i, id)
			}
			return wire.PurgeStatus{}, errorf(http.StatusNotFound, wire.CodeNotFound, "records[%d]: no record %s in this tenant", i, id)
		} else if err != nil {
			return wire.PurgeStatus{}, err
		}
	}
	e := purgeEntry{Tenant: t.name, Status: wire.PurgeStatus{
		ID: form.NewID(), Records: slices.Clone(ids), Reason: reason,
		Requester: by.user, RequesterDevice: by.device, Requested: s.now().UTC(), Approvals: []wire.Approval{},
	}}
	if err := s.reg.putPurge(e); err != nil {
		return wire.PurgeStatus{}, err
	}
	if err := t.st.RecordEvent(ctx, by.user, by.device, store.ActionPurgeRequest,
		fmt.Sprintf("purge request %s: %s", e.Status.ID, reason), ids...); err != nil {
		return wire.PurgeStatus{}, fmt.Errorf("purge request %s: audit: %w", e.Status.ID, err)
	}
	s.auditPurgeStep(t, by, "request", e)
	return e.wire(), nil
}

// approvePurge adds an admin's approval and, with the second valid one, runs the
// purge. An approval a request already has changes nothing (but retries a purge that
// failed half way). The requester cannot approve.
func (s *Server) approvePurge(ctx context.Context, t *tenant, by actor, id string) (wire.PurgeStatus, error) {
	if !form.ValidID(id) {
		return wire.PurgeStatus{}, badRequest("purge request ID %q: not a UUID", clip(id, 80))
	}
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	e, ok, err := s.reg.purge(t.name, id)
	if err != nil {
		return wire.PurgeStatus{}, err
	}
	if !ok {
		return wire.PurgeStatus{}, errorf(http.StatusNotFound, wire.CodeNotFound, "no purge request %s in this tenant", id)
	}
	if by.user == e.Status.Requester {
		s.log.Warn("purge approval refused: the requester", "tenant", t.name, "request", id, "user", by.user)
		return wire.PurgeStatus{}, errorf(http.StatusForbidden, wire.CodeForbidden,
			"purge request %s: %s requested it and cannot approve it; two other admins must", id, by.user)
	}
	already := slices.ContainsFunc(e.Status.Approvals, func(a wire.Approval) bool { return a.User == by.user })
	switch {
	case e.Status.Done != nil && already:
		return e.wire(), nil
	case e.Status.Done != nil:
		return wire.PurgeStatus{}, errorf(http.StatusConflict, wire.CodeConflict,
			"purge request %s was carried out already, at %s", id, e.Status.Done.Format(time.RFC3339))
	case !already:
		e.Status.Approvals = append(e.Status.Approvals, wire.Approval{User: by.user, Device: by.device, Time: s.now().UTC()})
		if err := s.reg.putPurge(e); err != nil {
			return wire.PurgeStatus{}, err
		}
		if err := t.st.RecordEvent(ctx, by.user, by.device, store.ActionPurgeApprove,
			fmt.Sprintf("purge request %s approved (%d of %d)", id, len(e.Status.Approvals), approvalsNeeded), e.Status.Records...); err != nil {
			return wire.PurgeStatus{}, fmt.Errorf("purge request %s: audit: %w", id, err)
		}
		s.auditPurgeStep(t, by, "approve", e)
	}
	if len(e.Status.Approvals) < approvalsNeeded {
		return e.wire(), nil
	}
	// Run to the end even if the caller goes away: the approval is recorded.
	if err := s.runPurge(context.WithoutCancel(ctx), t, by, &e); err != nil {
		return wire.PurgeStatus{}, err
	}
	return e.wire(), nil
}

// runPurge carries out an approved request. The caller holds purgeMu.
func (s *Server) runPurge(ctx context.Context, t *tenant, by actor, e *purgeEntry) error {
	st := &e.Status
	approvers := make([]string, len(st.Approvals))
	for i, a := range st.Approvals {
		approvers[i] = a.User
	}
	note := fmt.Sprintf("purge request %s, requested by %s, approved by %s: %s",
		st.ID, st.Requester, strings.Join(approvers, " and "), st.Reason)
	// The signed decision goes to the purge log, with the server's identity, before
	// any data is removed: from then on the purge is carried out on every store this
	// server opens, whatever happens to the data folder (purgelog.go).
	d, err := s.decide(t.name, *e, "")
	if err != nil {
		s.log.Error("purge not logged, nothing removed; approving again retries it", "tenant", t.name, "request", st.ID, "err", err)
		return fmt.Errorf("purge request %s: %w", st.ID, err)
	}
	res, err := t.st.ApplyPurgeNotice(ctx, d.Notice, by.user, by.device, note)
	if err != nil {
		s.log.Error("purge failed; approving again retries it", "tenant", t.name, "request", st.ID, "err", err)
		return fmt.Errorf("purge request %s: %w", st.ID, err)
	}
	orphans := res.Orphans
	// The attachments are gone for this tenant now, whatever happens to their blobs.
	forget := make(map[string][]byte, len(orphans))
	for _, a := range orphans {
		if validSHA256(a.SHA256) && !slices.Contains(e.Blobs, a.SHA256) {
			e.Blobs = append(e.Blobs, a.SHA256)
			forget[attachmentStateKey+a.SHA256] = nil
		}
	}
	if len(forget) > 0 {
		if err := t.st.SetState(ctx, forget); err != nil {
			return fmt.Errorf("purge request %s: forget attachments: %w", st.ID, err)
		}
	}
	now := s.now().UTC()
	st.Done = &now
	if err := s.reg.putPurge(*e); err != nil {
		return err
	}
	s.auditPurgeStep(t, by, "run", *e)
	s.deletePurgedBlobs(ctx, t, e)
	return nil
}

// deletePurgedBlobs deletes the blobs a purge left, as far as it can now, and
// records what is left. The caller holds purgeMu.
func (s *Server) deletePurgedBlobs(ctx context.Context, t *tenant, e *purgeEntry) {
	if s.blob == nil || len(e.Blobs) == 0 {
		return
	}
	var left []string
	for _, sha := range e.Blobs {
		if err := s.blob.delete(ctx, t.name, sha); err != nil {
			s.log.Warn("purge: a blob could not be deleted yet; it will be retried", "tenant", t.name, "request", e.Status.ID, "sha256", sha, "err", err)
			left = append(left, sha)
		}
	}
	e.Blobs = left
	if err := s.reg.putPurge(*e); err != nil {
		s.log.Error("purge: cannot record deleted blobs", "tenant", t.name, "request", e.Status.ID, "err", err)
	}
}

// SweepPurgedBlobs deletes blobs that purges carried out without blob storage (an
// admin command run while no server ran) or that failed to delete before. serve runs
// it at start; it does nothing without blob storage.
func (s *Server) SweepPurgedBlobs(ctx context.Context) error {
	if s.blob == nil {
		return nil
	}
	pending, err := s.reg.purgesWithBlobs()
	if err != nil {
		return err
	}
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	for _, e := range pending {
		t, err := s.tenant(ctx, e.Tenant)
		if err != nil {
			s.log.Warn("purge: tenant unavailable for blob deletion", "tenant", e.Tenant, "err", err)
			continue
		}
		s.deletePurgedBlobs(ctx, t, &e)
	}
	return nil
}

// auditPurgeStep records a step of a purge request. The registry entry is the record
// of requests and approvals; the tenant's audit trail gets the purge itself (one
// entry a record, whose note names the request, requester and approvers). The store
// has no call to append other entries; with one, requests and approvals would go
// into the trail here too.
func (s *Server) auditPurgeStep(t *tenant, by actor, step string, e purgeEntry) {
	st := e.Status
	s.log.Info("purge "+step, "tenant", t.name, "request", st.ID, "user", by.user, "device", by.device,
		"records", len(st.Records), "approvals", len(st.Approvals), "blobs_pending", len(e.Blobs))
}

// Registry side.

func purgeKey(tenant, id string) []byte { return []byte(tenant + "\x00" + id) }

func (r *registry) putPurge(e purgeEntry) error {
	err := r.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPurges)
		if err != nil {
			return err
		}
		return putJSON(b, purgeKey(e.Tenant, e.Status.ID), e)
	})
	if err != nil {
		return fmt.Errorf("registry: purge request %s: %w", e.Status.ID, err)
	}
	return nil
}

func (r *registry) purge(tenant, id string) (e purgeEntry, ok bool, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPurges)
		if b == nil {
			return nil
		}
		v := b.Get(purgeKey(tenant, id))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return e, false, fmt.Errorf("registry: purge request %s: %w", id, err)
	}
	return e, ok, nil
}

// purges lists a tenant's purge requests, newest first.
func (r *registry) purges(tenant string) ([]wire.PurgeStatus, error) {
	out := []wire.PurgeStatus{}
	err := r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPurges)
		if b == nil {
			return nil
		}
		prefix := []byte(tenant + "\x00")
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var e purgeEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("purge request %q: %w", k[len(prefix):], err)
			}
			out = append(out, e.wire())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: purge requests of %s: %w", tenant, err)
	}
	slices.Reverse(out) // IDs are UUIDv7: in order of creation
	return out, nil
}

func (r *registry) purgesWithBlobs() ([]purgeEntry, error) {
	var out []purgeEntry
	err := r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPurges)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var e purgeEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("purge request %q: %w", k, err)
			}
			if len(e.Blobs) > 0 {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}
