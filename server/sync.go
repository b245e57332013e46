package server

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// pushItem is wire.PushChange with the change left raw, so a malformed change is
// refused alone and the rest of the batch still applies.
type pushItem struct {
	Seq    uint64          `json:"seq"`
	Change json.RawMessage `json:"change"`
}

type pushBody struct {
	Changes []pushItem `json:"changes"`
}

// handlePush merges a batch of a device's outbox. Each change gets its own result;
// the ledger moves to the highest sequence in the batch, rejected ones included (they
// will not come again), after the changes are committed.
func (s *Server) handlePush(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	req, decoded, errs, err := decodePush(data)
	if err != nil {
		return nil, err
	}
	results := make([]wire.PushResult, len(req.Changes))
	changes := make([]form.Change, 0, len(req.Changes))
	index := make([]int, 0, len(req.Changes)) // changes[k] is results[index[k]]
	seen := make(map[string]bool, len(req.Changes))
	var maxSeq uint64
	for i, it := range req.Changes {
		maxSeq = max(maxSeq, it.Seq)
		res := &results[i]
		res.Seq, res.Status = it.Seq, wire.StatusRejected
		ch, err := decoded[i], errs[i]
		if err != nil {
			res.ID = looseChangeID(it.Change)
			res.Code, res.Message = wire.CodeBadRequest, fmt.Sprintf("changes[%d]: %v", i, err)
			continue
		}
		res.ID = ch.ID
		switch {
		case seen[ch.ID]:
			res.Code, res.Message = wire.CodeDuplicate, fmt.Sprintf("changes[%d]: change %s appears more than once in the batch", i, ch.ID)
			continue
		case ch.Device != c.Device:
			res.Code, res.Message = wire.CodeForbidden, fmt.Sprintf("changes[%d]: change %s was made by device %q; a device pushes only its own changes", i, ch.ID, ch.Device)
			continue
		}
		seen[ch.ID] = true
		changes = append(changes, ch)
		index = append(index, i)
	}
	if len(changes) > 0 {
		by := make([]store.Attribution, len(changes))
		for k, ch := range changes {
			by[k] = attribution(c, ch)
		}
		// A submitted record is checked against its template as the device checks it.
		applied, err := c.t.st.ApplyChangesWith(r.Context(), changes, store.ApplyOptions{By: by, CheckSubmitted: true})
		if err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		for k, a := range applied {
			res := &results[index[k]]
			switch a.Status {
			case store.Applied:
				res.Status, res.Rev = wire.StatusApplied, a.Rev
			case store.Unchanged:
				res.Status, res.Rev = wire.StatusUnchanged, a.Rev
			case store.Duplicate:
				res.Status = wire.StatusDuplicate
			default:
				res.Status, res.Code, res.Message = wire.StatusRejected, rejectionCode(a.Err), store.RejectionReason(a.Err)
			}
		}
	}
	rejected := 0
	for _, res := range results {
		if res.Status == wire.StatusRejected {
			rejected++
		}
	}
	if _, err := c.t.advanceLedger(r.Context(), c.Device, maxSeq); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	s.metrics.pushes.Add(1)
	s.metrics.pushChanges.Add(int64(len(results)))
	s.metrics.pushRejected.Add(int64(rejected))
	s.act.seen(c.Tenant, c.Device, s.now(), true)
	cursor := s.answerPushRevs(r.Context(), r, c, changes, index, results)
	return wire.PushResponse{Results: results, Cursor: cursor, Server: s.serverInfo(r.Context(), c)}, nil
}

// attribution is who the audit names for a pushed change: the user and device of the
// verified credential, never what the change says. What it says is kept as a claim
// when it differs, and values made on other devices (a device giving back what a
// rebuilt server lost, by reconcile or reseed) are recorded as restored by the caller
// and made by their author on their device.
func attribution(c *caller, ch form.Change) store.Attribution {
	a := store.Attribution{Actor: c.User, Device: c.Device}
	var notes []string
	others := map[string]bool{}
	for _, fv := range ch.Fields {
		if fv.Stamp.Device != c.Device {
			others[fv.Stamp.Device] = true
		}
	}
	if len(others) > 0 {
		maker := ch.Created.Device
		if maker == c.Device {
			maker = "" // created here, edited elsewhere: name the editors' devices only
		}
		made := fmt.Sprintf("restored from device %s; made by %s on device %s", c.Device, strconv.Quote(ch.CreatedBy), maker)
		delete(others, maker)
		if maker == "" {
			made = fmt.Sprintf("restored from device %s; values made on other devices", c.Device)
		}
		if len(others) > 0 {
			devs := slices.Sorted(maps.Keys(others))
			made += " (values also from device " + strings.Join(devs, ", ") + ")"
		}
		notes = append(notes, made)
	} else if ch.Created.Device == c.Device && ch.CreatedBy != c.User {
		notes = append(notes, "claimed creator "+strconv.Quote(ch.CreatedBy))
	}
	if ch.Author != c.User {
		notes = append(notes, "claimed author "+strconv.Quote(ch.Author))
	}
	a.Note = strings.Join(notes, "; ")
	return a
}

// decodeChanges decodes and checks each change, on every core: for a full batch it
// is a good part of a push's work.
func decodeChanges(items []pushItem) ([]form.Change, []error) {
	out, errs := make([]form.Change, len(items)), make([]error, len(items))
	const chunk = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := min(runtime.GOMAXPROCS(0), (len(items)+chunk-1)/chunk); w > 0; w-- {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= len(items) {
					return
				}
				for i := start; i < min(start+chunk, len(items)); i++ {
					out[i], errs[i] = form.DecodeChange(items[i].Change)
				}
			}
		}()
	}
	wg.Wait()
	return out, errs
}

// looseChangeID finds a malformed change's ID, if it has one, to name it in the result.
func looseChangeID(raw json.RawMessage) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil || len(v.ID) > 64 {
		return ""
	}
	return v.ID
}

// rejectionCode maps a store's reason for refusing a change to a wire code.
func rejectionCode(err error) string {
	switch {
	case errors.Is(err, store.ErrPurged):
		return wire.CodePurged
	case errors.Is(err, form.ErrClockSkew):
		return wire.CodeClockSkew
	case errors.Is(err, store.ErrUnknownTemplate):
		return wire.CodeUnknownTemplate
	case errors.Is(err, form.ErrInvalidValue):
		return wire.CodeInvalid
	case errors.Is(err, form.ErrShape), errors.Is(err, store.ErrBadInput), errors.Is(err, form.ErrMergeMismatch):
		return wire.CodeBadRequest
	}
	return wire.CodeBadRequest
}

// Cursors are opaque to devices: the epoch, the feed position and a MAC with the
// tenant's key, so a cursor is only ever good for the tenant and epoch that issued it.
const cursorLen = 16 + 8 + 12

func (s *Server) makeCursor(c *caller, pos uint64) string {
	b := make([]byte, 0, cursorLen)
	ep, _ := hex.DecodeString(c.t.epoch)
	b = append(b, ep...)
	b = binary.BigEndian.AppendUint64(b, pos)
	b = append(b, s.cursorMAC(c.Tenant, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) cursorMAC(tenant string, b []byte) []byte {
	key, _ := s.id.tenantKey(tenant)
	m := hmac.New(sha256.New, key)
	m.Write([]byte("fieldforms-cursor-v1\x00"))
	m.Write(b)
	return m.Sum(nil)[:12]
}

// readCursor returns the feed position of a cursor: 0 for none, 409 epoch_changed
// for one of an earlier epoch, 403 for one this tenant never issued.
func (s *Server) readCursor(c *caller, cur string) (uint64, error) {
	if cur == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil || len(b) != cursorLen {
		return 0, badRequest("cursor: malformed; pass back the cursor a pull or reconcile returned, or none to start over")
	}
	if !hmac.Equal(s.cursorMAC(c.Tenant, b[:24]), b[24:]) {
		return 0, errorf(http.StatusForbidden, wire.CodeForbidden, "cursor: not issued to this tenant")
	}
	ep, _ := hex.DecodeString(c.t.epoch)
	if !bytes.Equal(b[:16], ep) {
		return 0, errorf(http.StatusConflict, wire.CodeEpochChanged, "cursor: from an earlier epoch of the server's data; reconcile and start over")
	}
	return binary.BigEndian.Uint64(b[16:24]), nil
}

// handlePull sends records changed after the cursor, in feed order.
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	q := r.URL.Query()
	for k := range q {
		if k != "cursor" && k != "limit" && k != "revs" {
			return nil, badRequest("query parameter %q: unknown; use cursor, limit and revs", k)
		}
	}
	revsOnly := false
	switch q.Get("revs") {
	case "", "0":
	case "1":
		revsOnly = true
	default:
		return nil, badRequest("revs %q: 0 or 1", q.Get("revs"))
	}
	limit := wire.DefaultPullLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > wire.MaxPullRecords {
			return nil, badRequest("limit %q: a whole number from 1 to %d", v, wire.MaxPullRecords)
		}
		limit = n
	}
	pos, err := s.readCursor(c, q.Get("cursor"))
	if err != nil {
		return nil, err
	}
	if revsOnly {
		revs, purged, last, err := c.t.st.FeedRevs(r.Context(), pos, limit)
		if err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		head, err := c.t.st.FeedHead(r.Context())
		if err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		items := make([]wire.Item, len(revs))
		for i, x := range revs {
			items[i] = wire.Item{ID: x.ID, Rev: x.Rev}
		}
		s.metrics.pulls.Add(1)
		s.act.seen(c.Tenant, c.Device, s.now(), true)
		return wire.PullResponse{Records: []form.Record{}, Items: items, Purged: purged, Notices: noticesOf(r.Context(), c.t.st, purged),
			Cursor: s.makeCursor(c, last), More: last < head, Remaining: int(head - min(head, last)), Server: s.serverInfo(r.Context(), c)}, nil
	}
	page, err := c.t.st.FeedPage(r.Context(), pos, limit)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	head, err := c.t.st.FeedHead(r.Context())
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if page.Records == nil {
		page.Records = []form.Record{}
	}
	s.metrics.pulls.Add(1)
	s.metrics.pulledRecords.Add(int64(len(page.Records)))
	s.act.seen(c.Tenant, c.Device, s.now(), true)
	return wire.PullResponse{
		Records: page.Records, Purged: page.Purged, Notices: noticesOf(r.Context(), c.t.st, page.Purged),
		Cursor: s.makeCursor(c, page.Last), More: page.Last < head, Remaining: int(head - min(head, page.Last)),
		Server: s.serverInfo(r.Context(), c),
	}, nil
}

// handleFetch returns the records asked for by ID that the tenant holds.
func (s *Server) handleFetch(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.FetchRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.IDs) > wire.MaxFetch {
		return nil, tooLarge("fetch of %d records; at most %d a request", len(req.IDs), wire.MaxFetch)
	}
	recs, err := c.t.st.GetMany(r.Context(), req.IDs)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if recs == nil {
		recs = []form.Record{}
	}
	s.metrics.fetches.Add(1)
	return wire.FetchResponse{Records: recs, Server: s.serverInfo(r.Context(), c)}, nil
}

// handleTemplates lists every template version of the tenant.
func (s *Server) handleTemplates(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	if len(r.URL.Query()) > 0 {
		return nil, badRequest("templates takes no query parameters")
	}
	key, err := s.id.tenantKey(c.Tenant)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	tpls := c.t.st.Templates()
	out := make([]json.RawMessage, len(tpls))
	sigs := make([]string, len(tpls))
	for i, t := range tpls {
		out[i] = t.Encode()
		sigs[i] = templateSignature(key, c.Tenant, t)
	}
	return wire.TemplatesResponse{Templates: out, Signatures: sigs, Server: s.serverInfo(r.Context(), c)}, nil
}

// handleTemplatesPush stores template versions a device sends. An admin's device
// publishes; any other device may only return versions signed with the tenant key (a
// rebuilt server gets its templates back this way), each other template is rejected
// alone with forbidden. Versions are immutable: the same version with other content
// is a conflict.
func (s *Server) handleTemplatesPush(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.TemplatesPush
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Templates) > wire.MaxTemplatesPush {
		return nil, tooLarge("push of %d templates; at most %d a request", len(req.Templates), wire.MaxTemplatesPush)
	}
	if len(req.Signatures) != 0 && len(req.Signatures) != len(req.Templates) {
		return nil, badRequest("signatures: %d for %d templates; send one per template (\"\" for none) or none", len(req.Signatures), len(req.Templates))
	}
	key, err := s.id.tenantKey(c.Tenant)
	if err != nil {
		return nil, fmt.Errorf("templates push: %w", err)
	}
	results := make([]wire.TemplateResult, len(req.Templates))
	for i, raw := range req.Templates {
		sig := ""
		if len(req.Signatures) > 0 {
			sig = req.Signatures[i]
		}
		allow := func(tpl *form.Template) string {
			switch {
			case c.Admin:
				return ""
			case sig == "":
				return fmt.Sprintf("templates[%d]: %s version %d: publishing a template needs an admin's credential; "+
					"a device may only return a template the tenant signed, and this one has no signature", i, tpl.ID, tpl.Version)
			case !validTemplateSignature(key, c.Tenant, tpl, sig):
				return fmt.Sprintf("templates[%d]: %s version %d: its signature is not the tenant's signature of this template version; "+
					"publishing a template needs an admin's credential", i, tpl.ID, tpl.Version)
			}
			return ""
		}
		results[i] = s.putTemplate(r, c.t, raw, i, allow)
		switch results[i].Status {
		case wire.StatusApplied:
			how := "returned with the tenant's signature"
			if c.Admin {
				how = "published by an admin"
			}
			s.log.Info("template added", "tenant", c.Tenant, "device", c.Device, "user", c.User, "template", results[i].ID, "version", results[i].Version, "how", how)
		case wire.StatusRejected:
			if results[i].Code == wire.CodeForbidden {
				s.log.Warn("template refused: not an admin and not signed", "tenant", c.Tenant, "device", c.Device, "user", c.User, "template", results[i].ID, "version", results[i].Version)
			}
		}
	}
	return wire.TemplatesPushResponse{Results: results, Server: s.serverInfo(r.Context(), c)}, nil
}

// putTemplate checks and stores one template, and says what happened. allow says why
// the caller may not store it ("" when it may).
func (s *Server) putTemplate(r *http.Request, t *tenant, raw json.RawMessage, i int, allow func(*form.Template) string) wire.TemplateResult {
	tpl, err := form.ParseTemplate(raw)
	if err != nil {
		var head struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		_ = json.Unmarshal(raw, &head)
		return wire.TemplateResult{ID: head.ID, Version: head.Version, Status: wire.StatusRejected, Code: wire.CodeInvalid,
			Message: fmt.Sprintf("templates[%d]: %v", i, err)}
	}
	res := wire.TemplateResult{ID: tpl.ID, Version: tpl.Version}
	if why := allow(tpl); why != "" {
		res.Status, res.Code, res.Message = wire.StatusRejected, wire.CodeForbidden, why
		return res
	}
	if old, err := t.st.Template(tpl.Key()); err == nil && bytes.Equal(old.Encode(), tpl.Encode()) {
		res.Status = wire.StatusUnchanged
		return res
	}
	switch err := t.st.PutTemplate(r.Context(), tpl); {
	case errors.Is(err, store.ErrTemplateConflict):
		res.Status, res.Code, res.Message = wire.StatusRejected, wire.CodeConflict,
			fmt.Sprintf("templates[%d]: %s version %d exists with other content; a changed template needs a new version", i, tpl.ID, tpl.Version)
	case errors.Is(err, form.ErrInvalidTemplate):
		res.Status, res.Code, res.Message = wire.StatusRejected, wire.CodeInvalid, fmt.Sprintf("templates[%d]: %v", i, err)
	case err != nil:
		res.Status, res.Code, res.Message = wire.StatusRejected, wire.CodeInternal, fmt.Sprintf("templates[%d]: not stored", i)
		s.log.Error("store template", "tenant", t.name, "err", err)
	default:
		res.Status = wire.StatusApplied
	}
	return res
}

// handleStatus records a device's report of its queue, for monitoring.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.DeviceStatus
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if req.Pending < 0 || req.DeadLetters < 0 {
		return nil, badRequest("pending and dead_letters must not be negative")
	}
	s.act.status(c.Tenant, c.Device, req, s.now())
	return wire.StatusResponse{Server: s.serverInfo(r.Context(), c)}, nil
}
