package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// DefaultAddr is where a server listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8443"

// NewEnrolment makes a one-time enrolment code for a user of a tenant, valid for
// Options.EnrolTTL. serverURL is where devices reach the server; empty means
// https:// and the address the server listens on (or last listened on, or
// DefaultAddr). The registry keeps only the secret's hash.
func (s *Server) NewEnrolment(ctx context.Context, tenantName, user string, admin bool, serverURL string) (wire.EnrollCode, error) {
	if _, err := s.id.tenantKey(tenantName); err != nil {
		return wire.EnrollCode{}, fmt.Errorf("enrol: %w (add it with `fieldformsd tenant add %s`)", err, tenantName)
	}
	if err := checkUser(user); err != nil {
		return wire.EnrollCode{}, fmt.Errorf("enrol: %w", err)
	}
	if serverURL == "" {
		serverURL = s.defaultURL()
	}
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return wire.EnrollCode{}, fmt.Errorf("enrol: server URL %q must be https://host[:port]", serverURL)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return wire.EnrollCode{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now().UTC()
	e := enrolment{Tenant: tenantName, User: user, Admin: admin, Created: now, Expires: now.Add(s.opts.EnrolTTL)}
	if err := s.reg.putEnrolment(secretHash(secret), e, now); err != nil {
		return wire.EnrollCode{}, fmt.Errorf("enrol: %w", err)
	}
	code := wire.EnrollCode{URL: strings.TrimSuffix(serverURL, "/"), Tenant: tenantName, Secret: secret, Fingerprint: s.id.fingerprint}
	if s.id.selfSigned {
		code.Cert = s.id.certBase64()
	}
	s.log.Info("enrolment code issued", "tenant", tenantName, "user", user, "admin", admin, "expires", e.Expires)
	return code, nil
}

func checkUser(user string) error {
	switch {
	case user == "":
		return fmt.Errorf("user: %w: empty", ErrBadName)
	case len(user) > 256 || !utf8.ValidString(user) || strings.ContainsAny(user, "\x00\n\r\t"):
		return fmt.Errorf("user %q: %w: at most 256 characters, no control characters", user, ErrBadName)
	}
	return nil
}

// defaultURL is https:// and where the server listens; an unspecified host (0.0.0.0)
// becomes the machine's name, which the self-signed certificate covers.
func (s *Server) defaultURL() string {
	addr := s.Addr()
	if addr == "" {
		addr = s.id.settings().Addr
	}
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "https://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return "https://" + net.JoinHostPort(host, port)
}

// handleEnroll redeems a one-time code for a device credential. The code itself is the
// credential of this call; the tenant comes from what the server stored with it.
func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	if ok, wait := s.limit.allow("addr:" + remoteHost(r)); !ok {
		s.rateLimited(w, r, wait)
		return
	}
	var req wire.EnrollRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !form.ValidDevice(req.DeviceID) {
		s.writeError(w, r, badRequest("device_id %q: 1-64 printable ASCII characters without spaces", req.DeviceID))
		return
	}
	if len(req.DeviceName) > 256 || !utf8.ValidString(req.DeviceName) {
		s.writeError(w, r, badRequest("device_name: at most 256 characters of UTF-8"))
		return
	}
	if req.Secret == "" {
		s.writeError(w, r, errorf(http.StatusUnauthorized, wire.CodeUnauthorized, "no enrolment secret"))
		return
	}
	now := s.now().UTC()
	var token string
	dev, err := s.reg.redeem(secretHash(req.Secret), req.DeviceID, now, func(e enrolment, old *Device) (Device, error) {
		key, err := s.id.tenantKey(e.Tenant)
		if err != nil {
			return Device{}, err
		}
		issued := now
		// A device revoked earlier and enrolled again gets a credential issued after
		// the revocation, which the list then does not cover.
		if when, revoked, err := s.id.revokedAt(e.Tenant, req.DeviceID); err != nil {
			return Device{}, err
		} else if revoked && !issued.After(when) {
			issued = when.Add(time.Nanosecond)
		}
		token, err = signToken(key, claims{Tenant: e.Tenant, Device: req.DeviceID, User: e.User, Admin: e.Admin, Issued: issued.UnixNano()})
		if err != nil {
			return Device{}, err
		}
		d := Device{Tenant: e.Tenant, ID: req.DeviceID, Name: req.DeviceName, User: e.User, Admin: e.Admin,
			TokenHash: tokenHash(token), Issued: issued, Enrolled: now, LastSeen: now}
		if old != nil {
			d.LastSync, d.Pending, d.DeadLetters, d.OldestUnsent, d.StatusAt = old.LastSync, old.Pending, old.DeadLetters, old.OldestUnsent, old.StatusAt
		}
		return d, nil
	})
	if errors.Is(err, errEnrolment) || errors.Is(err, ErrNoTenant) {
		s.metrics.authFailures.Add(1)
		s.writeError(w, r, errorf(http.StatusUnauthorized, wire.CodeUnauthorized, "enrolment code unknown, already used or expired"))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		info.tenant, info.device = dev.Tenant, dev.ID
	}
	s.metrics.enrolments.Add(1)
	s.log.Info("device enrolled", "tenant", dev.Tenant, "device", dev.ID, "user", dev.User, "admin", dev.Admin)
	c := &caller{claims: claims{Tenant: dev.Tenant, Device: dev.ID, User: dev.User, Admin: dev.Admin}}
	if c.t, err = s.tenant(r.Context(), dev.Tenant); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.setServerHeaders(w, r, c)
	vkey, _ := s.CheckpointKey(dev.Tenant)
	s.writeJSON(w, r, http.StatusOK, wire.EnrollResponse{
		Tenant: dev.Tenant, DeviceID: dev.ID, User: dev.User, Admin: dev.Admin, Token: token,
		CheckpointKey: vkey,
		Server:        s.serverInfo(r.Context(), c),
	})
}
