package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Attachments (promise P12). A device announces an attachment by SHA-256 and size;
// the server answers that the blob exists, or with a SAS URL that lets the device
// create and write that one blob in its tenant's container, over HTTPS, for
// wire.SASLifetime. After uploading, the device commits: the server leases the blob
// (so no write SAS can change it after), reads it whole and checks size and SHA-256,
// and only then records it present in the tenant's store (state key
// "attachment/<sha>"). A blob that fails the check is deleted. Downloads get a
// read-only SAS URL for a blob the tenant has committed, and 404 otherwise.
//
// Blob names come from the SHA-256 alone and containers from the tenant the
// credential names, so a device can never obtain a URL for another tenant's blob.

func init() {
	extraRoutes = append(extraRoutes, func(s *Server, rt *router) {
		// Without the router's per-path 405 fallback: the one for ".../prepare"
		// would overlap "GET .../{sha}" with neither more specific.
		rt.without405(func() {
			rt.handle("POST /v1/attachments/prepare", roleDevice, s.handlePrepareAttachment)
			rt.handle("POST /v1/attachments/commit", roleDevice, s.handleCommitAttachment)
			rt.handle("GET /v1/attachments/{sha}", roleDevice, s.handleGetAttachment)
		})
		rt.fallback("/v1/attachments/{sha}", func(w http.ResponseWriter, r *http.Request) {
			allowed := "GET"
			if p := r.PathValue("sha"); p == "prepare" || p == "commit" {
				allowed = "POST"
			}
			w.Header().Set("Allow", allowed)
			s.writeError(w, r, errorf(http.StatusMethodNotAllowed, wire.CodeBadRequest, "%s %s: use %s", r.Method, r.URL.Path, allowed))
		})
	})
}

// attachmentStateKey is where a tenant's store records a committed blob.
const attachmentStateKey = "attachment/"

// attachmentState is what the tenant's store keeps of a committed attachment.
type attachmentState struct {
	Size      int64     `json:"size"`
	ETag      string    `json:"etag"` // of the blob as verified; another means it was replaced
	Committed time.Time `json:"committed"`
	Device    string    `json:"device,omitempty"`
}

func (t *tenant) attachment(ctx context.Context, sha string) (attachmentState, bool, error) {
	raw, err := t.st.State(ctx, attachmentStateKey+sha)
	if err != nil || raw == nil {
		return attachmentState{}, false, err
	}
	var a attachmentState
	if err := json.Unmarshal(raw, &a); err != nil {
		return attachmentState{}, false, fmt.Errorf("attachment %s: state: %w", sha, err)
	}
	return a, true, nil
}

func (t *tenant) setAttachment(ctx context.Context, sha string, a *attachmentState) error {
	var v []byte // nil deletes
	if a != nil {
		v, _ = json.Marshal(a)
	}
	return t.st.SetState(ctx, map[string][]byte{attachmentStateKey + sha: v})
}

// checkAttachmentArgs checks a SHA-256 and size from a device.
func checkAttachmentArgs(sha string, size int64) error {
	if !validSHA256(sha) {
		return badRequest("sha256 %q: want 64 lowercase hex digits", clip(sha, 80))
	}
	if size <= 0 {
		return badRequest("size %d: an attachment has at least one byte", size)
	}
	if size > store.MaxAttachmentBytes {
		return tooLarge("size %d: attachments are at most %d bytes", size, store.MaxAttachmentBytes)
	}
	return nil
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

var errNoBlobStorage = errorf(http.StatusServiceUnavailable, wire.CodeUnavailable,
	"attachments: this server has no blob storage configured (fieldformsd serve --blob-endpoint URL --blob-account NAME)")

// blobUnavailable turns a failure to reach blob storage into a 503 the device
// retries; the detail goes to the log only.
func (s *Server) blobUnavailable(r *http.Request, c *caller, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	s.log.Error("blob storage", "tenant", c.Tenant, "route", r.Pattern, "err", err)
	e := errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "blob storage unavailable; retry later")
	e.retryAfter = 5 * time.Second
	return e
}

// ensureContainer creates the tenant's container the first time it is needed by this
// process.
func (s *Server) ensureContainer(ctx context.Context, tenant string) error {
	if _, done := s.containers.Load(tenant); done {
		return nil
	}
	if err := s.blob.ensureContainer(ctx, tenant); err != nil {
		return err
	}
	s.containers.Store(tenant, true)
	return nil
}

// committed reports whether the tenant has the attachment committed and its blob is
// still the one verified. A blob that is gone is forgotten; one that was replaced
// (an ETag other than the verified one) is verified again, and forgotten if it fails.
func (s *Server) committed(ctx context.Context, c *caller, sha string) (attachmentState, bool, error) {
	st, ok, err := c.t.attachment(ctx, sha)
	if err != nil || !ok {
		return st, false, err
	}
	p, exists, err := s.blob.props(ctx, c.Tenant, sha)
	if err != nil {
		return st, false, err
	}
	if exists && p.etag == st.ETag && p.size == st.Size {
		return st, true, nil
	}
	if exists {
		etag, err := s.blob.verify(ctx, c.Tenant, sha, st.Size)
		if err == nil {
			st.ETag = etag
			return st, true, c.t.setAttachment(ctx, sha, &st)
		}
		if !isVerifyFailure(err) {
			return st, false, err
		}
		s.log.Warn("a committed attachment's blob was changed and failed its check; deleted", "tenant", c.Tenant, "sha256", sha, "why", err)
	} else {
		s.log.Warn("a committed attachment's blob is gone", "tenant", c.Tenant, "sha256", sha)
	}
	return st, false, c.t.setAttachment(ctx, sha, nil)
}

func isVerifyFailure(err error) bool {
	return errors.Is(err, errBlobMissing) || errors.Is(err, errBlobSize) || errors.Is(err, errBlobHash)
}

// record marks a verified blob present for the tenant.
func (s *Server) recordAttachment(ctx context.Context, c *caller, sha string, size int64, etag string) error {
	return c.t.setAttachment(ctx, sha, &attachmentState{Size: size, ETag: etag, Committed: s.now().UTC(), Device: c.Device})
}

// handlePrepareAttachment answers "exists" for a blob the tenant holds, or a
// write-only SAS URL for it.
func (s *Server) handlePrepareAttachment(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.PrepareAttachment
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if err := checkAttachmentArgs(req.SHA256, req.Size); err != nil {
		return nil, err
	}
	if req.Type != "" && (len(req.Type) > 255 || !strings.Contains(req.Type, "/")) {
		return nil, badRequest("type %q: a media type such as image/jpeg", clip(req.Type, 80))
	}
	if s.blob == nil {
		return nil, errNoBlobStorage
	}
	ctx := r.Context()
	sha := req.SHA256
	if err := s.ensureContainer(ctx, c.Tenant); err != nil {
		return nil, s.blobUnavailable(r, c, err)
	}
	resp := wire.PrepareAttachmentResponse{Server: s.serverInfo(ctx, c)}
	st, ok, err := s.committed(ctx, c, sha)
	if err != nil {
		return nil, s.blobUnavailable(r, c, err)
	}
	if ok {
		if st.Size != req.Size {
			return nil, errorf(http.StatusConflict, wire.CodeConflict, "attachment %s is stored with %d bytes, not %d; the same SHA-256 cannot have another size", sha, st.Size, req.Size)
		}
		resp.Exists = true
		return resp, nil
	}
	// A blob nobody committed: an upload whose commit never came, or one of a
	// tenant store that was lost. Keep it if it is right, so it is not sent again.
	p, exists, err := s.blob.props(ctx, c.Tenant, sha)
	if err != nil {
		return nil, s.blobUnavailable(r, c, err)
	}
	if exists {
		var etag string
		if p.size == req.Size {
			etag, err = s.blob.verify(ctx, c.Tenant, sha, req.Size)
		} else {
			err = s.blob.delete(ctx, c.Tenant, sha)
			if err == nil {
				err = errBlobSize
			}
		}
		switch {
		case err == nil:
			if err := s.recordAttachment(ctx, c, sha, req.Size, etag); err != nil {
				return nil, err
			}
			resp.Exists = true
			return resp, nil
		case !isVerifyFailure(err):
			return nil, s.blobUnavailable(r, c, err)
		}
	}
	now := s.now()
	resp.Expires = now.Add(wire.SASLifetime).UTC().Truncate(time.Second)
	resp.UploadURL, err = s.blob.sasURL(c.Tenant, sha, sas.BlobPermissions{Create: true, Write: true}, now, resp.Expires)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// handleCommitAttachment checks an uploaded blob and records it present.
func (s *Server) handleCommitAttachment(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.CommitAttachment
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if err := checkAttachmentArgs(req.SHA256, req.Size); err != nil {
		return nil, err
	}
	if s.blob == nil {
		return nil, errNoBlobStorage
	}
	ctx := r.Context()
	sha := req.SHA256
	st, ok, err := s.committed(ctx, c, sha)
	if err != nil {
		return nil, s.blobUnavailable(r, c, err)
	}
	if ok {
		if st.Size != req.Size {
			return nil, errorf(http.StatusConflict, wire.CodeUploadMismatch, "attachment %s is stored with %d bytes, not %d", sha, st.Size, req.Size)
		}
		return wire.CommitAttachmentResponse{Present: true, Server: s.serverInfo(ctx, c)}, nil
	}
	etag, err := s.blob.verify(ctx, c.Tenant, sha, req.Size)
	switch {
	case errors.Is(err, errBlobMissing):
		return nil, errorf(http.StatusConflict, wire.CodeUploadMismatch,
			"attachment %s: no uploaded blob; upload it with the URL prepare gave (prepare again if it expired), then commit", sha)
	case errors.Is(err, errBlobSize), errors.Is(err, errBlobHash):
		s.log.Warn("attachment upload refused and deleted", "tenant", c.Tenant, "device", c.Device, "sha256", sha, "why", err)
		return nil, errorf(http.StatusConflict, wire.CodeUploadMismatch,
			"attachment %s: the upload is not what was declared (%v); it was deleted: prepare and upload again", sha, err)
	case err != nil:
		return nil, s.blobUnavailable(r, c, err)
	}
	if err := s.recordAttachment(ctx, c, sha, req.Size, etag); err != nil {
		return nil, err
	}
	s.log.Info("attachment committed", "tenant", c.Tenant, "device", c.Device, "sha256", sha, "size", req.Size)
	return wire.CommitAttachmentResponse{Present: true, Server: s.serverInfo(ctx, c)}, nil
}

// handleGetAttachment gives a read-only SAS URL for a blob the tenant committed.
func (s *Server) handleGetAttachment(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	sha := r.PathValue("sha")
	if sha == "prepare" || sha == "commit" {
		w.Header().Set("Allow", "POST")
		return nil, errorf(http.StatusMethodNotAllowed, wire.CodeBadRequest, "%s %s: use POST", r.Method, r.URL.Path)
	}
	if !validSHA256(sha) {
		return nil, badRequest("attachment %q: want a SHA-256 as 64 lowercase hex digits", clip(sha, 80))
	}
	if len(r.URL.Query()) > 0 {
		return nil, badRequest("attachments take no query parameters")
	}
	if s.blob == nil {
		return nil, errNoBlobStorage
	}
	ctx := r.Context()
	_, ok, err := s.committed(ctx, c, sha)
	if err != nil {
		return nil, s.blobUnavailable(r, c, err)
	}
	if !ok {
		return nil, errorf(http.StatusNotFound, wire.CodeNotFound, "attachment %s: not stored for this tenant", sha)
	}
	now := s.now()
	resp := wire.AttachmentURL{Expires: now.Add(wire.SASLifetime).UTC().Truncate(time.Second), Server: s.serverInfo(ctx, c)}
	resp.URL, err = s.blob.sasURL(c.Tenant, sha, sas.BlobPermissions{Read: true}, now, resp.Expires)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// deleteAttachment removes a tenant's blob and its record, as a purge does for the
// attachments no remaining record refers to.
func (s *Server) deleteAttachment(ctx context.Context, t *tenant, sha string) error {
	if err := s.blob.delete(ctx, t.name, sha); err != nil {
		return err
	}
	return t.setAttachment(ctx, sha, nil)
}
