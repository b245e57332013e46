package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// The purge log (I10: a purge is forever). A purge decision — the signed notice
// (tenant, request, time, record IDs), the requester, the approvers and the reason —
// is kept with the server's identity, in the config folder, which survives a lost
// data folder: <config>/purges/<tenant>/<request>.json, one file a decision, written
// atomically and fsynced before the purge removes any data. The decision is signed
// under the tenant key (HMAC-SHA256, domain "fieldforms-purge-v1\x00"); so is the
// notice within it, which devices keep.
//
// Every time a tenant store is opened (a new server process, a restore, a data folder
// rebuilt empty), every decision of the log that the store does not hold yet is
// carried out on it before it serves, including for records the store does not hold:
// they are refused if a device pushes them. A device sends the notices it holds to a
// server that lacks them (POST /v1/purges); a notice whose signature verifies under
// the tenant key is kept in the log and carried out. A config folder of an earlier
// release has no log: the purges its registry records as done are written to it
// when the tenant is first opened.

const (
	purgesDir       = "purges"
	purgeLogDomain  = "fieldforms-purge-v1\x00"
	maxNoticesAPage = 100
)

// purgeDecision is one file of the purge log.
type purgeDecision struct {
	Notice    form.PurgeNotice `json:"notice"`
	Requester string           `json:"requester,omitempty"`
	Approvers []string         `json:"approvers,omitempty"`
	Reason    string           `json:"reason,omitempty"`
	// Source says where the decision came from when it was not made here: a device
	// that sent the notice, or the registry of an earlier release.
	Source string `json:"source,omitempty"`
	Sig    string `json:"sig"`
}

func (d purgeDecision) signedBytes() []byte {
	b := []byte(purgeLogDomain)
	add := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	add(d.Notice.Sig) // which covers the notice
	add(d.Requester)
	b = binary.BigEndian.AppendUint32(b, uint32(len(d.Approvers)))
	for _, a := range d.Approvers {
		add(a)
	}
	add(d.Reason)
	add(d.Source)
	return b
}

func (d *purgeDecision) sign(key []byte) {
	m := hmac.New(sha256.New, key)
	m.Write(d.signedBytes())
	d.Sig = base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (d purgeDecision) verify(tenant string, key []byte) error {
	if err := d.Notice.Verify(tenant, key); err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(d.Sig)
	m := hmac.New(sha256.New, key)
	m.Write(d.signedBytes())
	if err != nil || !hmac.Equal(sig, m.Sum(nil)) {
		return errors.New("the decision's signature does not verify under the tenant key")
	}
	return nil
}

func (id *identity) purgeLogDir(tenant string) string {
	return filepath.Join(id.dir, purgesDir, tenant)
}

// writePurge keeps a decision in the log, durably, before it returns. A decision of
// the same request kept already is left as it is.
func (id *identity) writePurge(d purgeDecision) error {
	dir := id.purgeLogDir(d.Notice.Tenant)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("purge log: %w", err)
	}
	syncDir(id.dir) // the folders just made, if any, are durable before the file
	syncDir(filepath.Dir(dir))
	path := filepath.Join(dir, d.Notice.Request+".json")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("purge log %s: %w", path, err)
	}
	return nil
}

// purgeLog reads a tenant's purge log, in request order, checking every decision's
// signature. A file that does not read, parse or verify is an error naming it: a
// purge the server cannot read must not be skipped.
func (id *identity) purgeLog(tenant string) ([]purgeDecision, error) {
	key, err := id.tenantKey(tenant)
	if err != nil {
		return nil, err
	}
	dir := id.purgeLogDir(tenant)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // a config folder of an earlier release, or no purge yet
	}
	if err != nil {
		return nil, fmt.Errorf("purge log: %w", err)
	}
	var out []purgeDecision
	for _, e := range ents {
		name := e.Name()
		req, ok := strings.CutSuffix(name, ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue // temporary files of an interrupted write
		}
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("purge log %s: %w", path, err)
		}
		var d purgeDecision
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("purge log %s: damaged: %w", path, err)
		}
		if err := d.verify(tenant, key); err != nil {
			return nil, fmt.Errorf("purge log %s: %w", path, err)
		}
		if d.Notice.Request != req {
			return nil, fmt.Errorf("purge log %s: holds request %s, not %s", path, d.Notice.Request, req)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b purgeDecision) int { return strings.Compare(a.Notice.Request, b.Notice.Request) })
	return out, nil
}

// decide signs a request's purge decision and keeps it in the log; a decision kept
// already (a purge retried) is returned as it is.
func (s *Server) decide(tenant string, e purgeEntry, source string) (purgeDecision, error) {
	if logged, err := s.id.purgeLog(tenant); err != nil {
		return purgeDecision{}, err
	} else if i := slices.IndexFunc(logged, func(d purgeDecision) bool { return d.Notice.Request == e.Status.ID }); i >= 0 {
		return logged[i], nil
	}
	key, err := s.id.tenantKey(tenant)
	if err != nil {
		return purgeDecision{}, err
	}
	when := s.now().UTC()
	if e.Status.Done != nil {
		when = e.Status.Done.UTC()
	}
	d := purgeDecision{
		Notice:    form.PurgeNotice{Tenant: tenant, Request: e.Status.ID, Time: when, Records: slices.Clone(e.Status.Records)},
		Requester: e.Status.Requester, Reason: e.Status.Reason, Source: source,
	}
	for _, a := range e.Status.Approvals {
		d.Approvers = append(d.Approvers, a.User)
	}
	d.Notice.Sign(key)
	d.sign(key)
	if err := s.id.writePurge(d); err != nil {
		return purgeDecision{}, err
	}
	return d, nil
}

// applyPurgeLog carries out on a tenant store every purge of the log it does not
// hold yet. It runs on every store the server opens, before the store serves.
//
// A store that lacked a purge is older than the server's identity (a copy put back,
// a data folder rebuilt): it gets a new epoch, so every device reconciles, gives back
// what the store lacks, and learns the purges it missed.
func (s *Server) applyPurgeLog(ctx context.Context, tenant string, st *store.Store) error {
	n, err := s.applyPurgeLogN(ctx, tenant, st, "carried out again from the server's purge log")
	if err != nil || n == 0 {
		return err
	}
	epoch, err := randomHex(16)
	if err != nil {
		return err
	}
	if err := s.epochMadeHere(tenant, epoch, "purges of the purge log carried out again"); err != nil {
		return err
	}
	if err := st.SetState(ctx, map[string][]byte{stateEpoch: []byte(epoch)}); err != nil {
		return fmt.Errorf("write epoch: %w", err)
	}
	s.log.Warn("the tenant store lacked purges of the purge log: carried out, and a new epoch so devices reconcile",
		"tenant", tenant, "purges", n, "epoch", epoch)
	return nil
}

// applyPurgeLogN is applyPurgeLog that returns how many purges removed or marked
// anything in the store.
func (s *Server) applyPurgeLogN(ctx context.Context, tenant string, st *store.Store, why string) (int, error) {
	if err := s.migratePurges(tenant); err != nil {
		return 0, err
	}
	log, err := s.id.purgeLog(tenant)
	if err != nil || len(log) == 0 {
		return 0, err
	}
	held, err := st.PurgeNotices(ctx, "", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range log {
		if slices.ContainsFunc(held, func(h form.PurgeNotice) bool { return h.Request == d.Notice.Request }) {
			continue
		}
		res, err := st.ApplyPurgeNotice(ctx, d.Notice, CLIDevice, CLIDevice, why)
		if err != nil {
			return n, fmt.Errorf("purge request %s: %w", d.Notice.Request, err)
		}
		if err := forgetAttachments(ctx, st, res.Orphans); err != nil {
			return n, fmt.Errorf("purge request %s: %w", d.Notice.Request, err)
		}
		if res.Marked > 0 { // else only the notice was new here (a purge of an earlier release)
			n++
		}
		s.log.Info("purge carried out from the purge log", "tenant", tenant, "request", d.Notice.Request,
			"records_removed", len(res.Removed), "ids_marked", res.Marked)
	}
	return n, nil
}

// forgetAttachments drops the server's state of attachments a purge left unused.
func forgetAttachments(ctx context.Context, st *store.Store, orphans []form.Attachment) error {
	forget := make(map[string][]byte, len(orphans))
	for _, a := range orphans {
		if validSHA256(a.SHA256) {
			forget[attachmentStateKey+a.SHA256] = nil
		}
	}
	if len(forget) == 0 {
		return nil
	}
	return st.SetState(ctx, forget)
}

// migratePurges writes to the log the purges the registry records as done that it
// lacks: purges carried out by an earlier release, which kept them in the data
// folder only.
func (s *Server) migratePurges(tenant string) error {
	list, err := s.reg.purges(tenant)
	if err != nil || len(list) == 0 {
		return err
	}
	for _, st := range list {
		if st.Done == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.id.purgeLogDir(tenant), st.ID+".json")); err == nil {
			continue
		}
		if _, err := s.decide(tenant, purgeEntry{Tenant: tenant, Status: st}, "registry"); err != nil {
			return err
		}
		s.log.Info("purge written to the purge log from the registry", "tenant", tenant, "request", st.ID)
	}
	return nil
}

// purgeList is the registry's purge requests with those of the purge log it lacks
// (after a lost data folder), newest first, each saying whether it is logged.
func (s *Server) purgeList(tenant string) ([]wire.PurgeStatus, error) {
	list, err := s.reg.purges(tenant)
	if err != nil {
		return nil, err
	}
	log, err := s.id.purgeLog(tenant)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].Logged = slices.ContainsFunc(log, func(d purgeDecision) bool { return d.Notice.Request == list[i].ID })
	}
	for _, d := range log {
		if slices.ContainsFunc(list, func(st wire.PurgeStatus) bool { return st.ID == d.Notice.Request }) {
			continue
		}
		done := d.Notice.Time
		st := wire.PurgeStatus{ID: d.Notice.Request, Records: slices.Clone(d.Notice.Records), Reason: d.Reason,
			Requester: d.Requester, Approvals: []wire.Approval{}, Done: &done, Logged: true}
		for _, a := range d.Approvers {
			st.Approvals = append(st.Approvals, wire.Approval{User: a, Time: done})
		}
		list = append(list, st)
	}
	slices.SortFunc(list, func(a, b wire.PurgeStatus) int { return strings.Compare(b.ID, a.ID) })
	return list, nil
}

// Devices and purge notices.

func init() {
	extraRoutes = append(extraRoutes, func(s *Server, rt *router) {
		rt.handle("GET /v1/purges", roleDevice, s.handlePurgeNotices)
		rt.handle("POST /v1/purges", roleDevice, s.handlePurgeNoticesPush)
	})
}

// handlePurgeNotices lists the tenant's purge notices after a request ID, a page at
// a time.
func (s *Server) handlePurgeNotices(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	q := r.URL.Query()
	for k := range q {
		if k != "after" && k != "limit" {
			return nil, badRequest("query parameter %q: unknown; use after and limit", k)
		}
	}
	after := q.Get("after")
	if after != "" && !form.ValidID(after) {
		return nil, badRequest("after %q: a purge request ID (a UUID)", clip(after, 80))
	}
	limit := maxNoticesAPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, badRequest("limit %q: a whole number from 1 to %d", v, maxNoticesAPage)
		}
		limit = min(n, maxNoticesAPage)
	}
	list, err := c.t.st.PurgeNotices(r.Context(), after, limit+1)
	if err != nil {
		return nil, fmt.Errorf("purge notices: %w", err)
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	if list == nil {
		list = []form.PurgeNotice{}
	}
	return wire.PurgeNotices{Notices: list, More: more, Server: s.serverInfo(r.Context(), c)}, nil
}

// handlePurgeNoticesPush takes the purge notices a device holds that the server
// lacks (a server whose config folder was restored from an older copy). Only a notice
// signed with this tenant's key is taken; it is kept in the purge log and carried
// out.
func (s *Server) handlePurgeNoticesPush(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.PurgeNoticesPush
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Notices) > maxNoticesAPage {
		return nil, tooLarge("%d purge notices; at most %d a request", len(req.Notices), maxNoticesAPage)
	}
	key, err := s.id.tenantKey(c.Tenant)
	if err != nil {
		return nil, err
	}
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	results := make([]wire.NoticeResult, len(req.Notices))
	for i, n := range req.Notices {
		res := &results[i]
		res.Request = n.Request
		if err := n.Verify(c.Tenant, key); err != nil {
			res.Status, res.Code, res.Message = wire.StatusRejected, wire.CodeInvalid, fmt.Sprintf("notices[%d]: %v", i, err)
			s.log.Warn("a device sent a purge notice that does not verify", "tenant", c.Tenant, "device", c.Device, "err", err)
			continue
		}
		d := purgeDecision{Notice: n, Source: "device " + c.Device}
		d.sign(key)
		if err := s.id.writePurge(d); err != nil {
			return nil, err
		}
		out, err := c.t.st.ApplyPurgeNotice(r.Context(), n, c.User, c.Device, "purge notice sent back by a device")
		if err != nil {
			return nil, fmt.Errorf("purge notice %s: %w", n.Request, err)
		}
		if err := forgetAttachments(r.Context(), c.t.st, out.Orphans); err != nil {
			return nil, fmt.Errorf("purge notice %s: %w", n.Request, err)
		}
		res.Status = wire.StatusUnchanged
		if out.New {
			res.Status = wire.StatusApplied
			s.log.Warn("purge learned again from a device", "tenant", c.Tenant, "device", c.Device, "request", n.Request,
				"records_removed", len(out.Removed))
		}
	}
	return wire.PurgeNoticesResponse{Results: results, Server: s.serverInfo(r.Context(), c)}, nil
}

// noticesOf is the notices of purged IDs a pull answer names, for devices to keep.
func noticesOf(ctx context.Context, st *store.Store, ids []string) []form.PurgeNotice {
	if len(ids) == 0 {
		return nil
	}
	list, err := st.PurgeNoticesOf(ctx, ids)
	if err != nil {
		return nil // the IDs still go: the device drops the records without a notice
	}
	return list
}
