package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
	"github.com/klauspost/compress/s2"
)

// apiError is a failed call: an HTTP status and the wire error body.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, wire.CodeBadRequest, format, args...)
}

func tooLarge(format string, args ...any) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, wire.CodeTooLarge, format, args...)
}

var errUnauthorized = errorf(http.StatusUnauthorized, wire.CodeUnauthorized, "missing, unknown or revoked credential")

// caller is an authenticated device, with its tenant's store. The tenant comes from
// the verified credential only.
type caller struct {
	claims
	t *tenant
}

// routes maps the API. Every route declares who may call it (invariant I11): anyone
// (no credential, no data), any enrolled device of the tenant, or an admin. The role
// is checked in one place, withRole; authenticated handlers return the body to send
// (nil for none) or an error, and the wrapper adds the epoch and the caller's ledger
// entry.
func (s *Server) routes(rt *router) {
	rt.anyone("POST /v1/enroll", s.handleEnroll)
	rt.handle("POST /v1/push", roleDevice, s.handlePush)
	rt.handle("GET /v1/pull", roleDevice, s.handlePull)
	rt.handle("POST /v1/reconcile", roleDevice, s.handleReconcile)
	rt.handle("POST /v1/claim", roleDevice, s.handleClaim)
	rt.handle("POST /v1/records", roleDevice, s.handleFetch)
	rt.handle("GET /v1/templates", roleDevice, s.handleTemplates)
	// Any device may call it; only an admin may publish, others may only return
	// versions signed with the tenant key (handleTemplatesPush).
	rt.handle("POST /v1/templates", roleDevice, s.handleTemplatesPush)
	rt.handle("POST /v1/status", roleDevice, s.handleStatus)
	rt.anyone("GET /healthz", s.handleHealth)
	rt.anyone("GET /readyz", s.handleReady)
	rt.anyone("GET /metrics", s.handleMetrics)
	for _, add := range extraRoutes {
		add(s, rt)
	}
	rt.fallback("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, wire.CodeNotFound, "no endpoint %s %s", r.Method, r.URL.Path))
	})
}

// extraRoutes lets other files of this package add endpoints (admin, attachments)
// from their init functions, so each feature stays in its own file.
var extraRoutes []func(*Server, *router)

// role says who may call a route.
type role uint8

const (
	roleNone   role = iota // not declared: refused at registration
	roleAnyone             // no credential; such routes hold no tenant data
	roleDevice             // an enrolled, unrevoked device of the tenant
	roleAdmin              // a device enrolled with --admin
)

func (r role) String() string {
	switch r {
	case roleAnyone:
		return "anyone"
	case roleDevice:
		return "device"
	case roleAdmin:
		return "admin"
	}
	return "undeclared"
}

// apiHandler is an authenticated endpoint: the caller comes from the verified credential.
type apiHandler func(w http.ResponseWriter, r *http.Request, c *caller) (any, error)

// route is one entry of the route table: a pattern and who may call it. Fallbacks
// (405 and 404 answers that hold no data) are listed with role anyone and fallback set.
type route struct {
	pattern  string
	who      role
	fallback bool
}

// router registers "METHOD /path" patterns, each with its role, and answers other
// methods on a known path with a JSON 405, as every error of the API is JSON. Only
// its methods touch the mux, so no route escapes the table.
type router struct {
	s      *Server
	mux    *http.ServeMux
	allow  map[string][]string // path → methods
	table  []route
	no405s bool // the current registration adds no per-path 405 fallback
}

// handle registers an authenticated route for who (roleDevice or roleAdmin).
func (rt *router) handle(pattern string, who role, h apiHandler) {
	if who != roleDevice && who != roleAdmin {
		panic("server: route " + pattern + " registered with role " + who.String() + "; use roleDevice or roleAdmin, or anyone for open routes")
	}
	rt.add(pattern, who, rt.s.withRole(who, h))
}

// anyone registers a route that needs no credential. Such routes hold no tenant data.
func (rt *router) anyone(pattern string, h http.HandlerFunc) {
	rt.add(pattern, roleAnyone, h)
}

// fallback registers a catch-all that only answers an error (404, 405) and holds no data.
func (rt *router) fallback(pattern string, h http.HandlerFunc) {
	rt.mux.HandleFunc(pattern, h)
	rt.table = append(rt.table, route{pattern: pattern, who: roleAnyone, fallback: true})
}

// without405 runs fn with routes registered without the per-path 405 fallback (the
// caller registers its own, e.g. where "POST .../prepare" and "GET .../{sha}" overlap).
func (rt *router) without405(fn func()) {
	rt.no405s = true
	defer func() { rt.no405s = false }()
	fn()
}

func (rt *router) add(pattern string, who role, h http.HandlerFunc) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("server: route without a method: " + pattern)
	}
	rt.mux.HandleFunc(pattern, h)
	rt.table = append(rt.table, route{pattern: pattern, who: who})
	if rt.no405s {
		return
	}
	if _, seen := rt.allow[path]; !seen {
		rt.fallback(path, func(w http.ResponseWriter, r *http.Request) {
			allowed := strings.Join(rt.allow[path], ", ")
			w.Header().Set("Allow", allowed)
			rt.s.writeError(w, r, errorf(http.StatusMethodNotAllowed, wire.CodeBadRequest, "%s %s: use %s", r.Method, path, allowed))
		})
	}
	rt.allow[path] = append(rt.allow[path], method)
}

// Handler is the API's HTTP handler, with request IDs, metrics, logging and panics
// turned into 500s.
func (s *Server) Handler() http.Handler {
	mux, _ := s.newRouter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid, _ := randomHex(8)
		w.Header().Set(wire.HeaderRequestID, rid)
		// The server's own clock, not the process's: devices measure their clock
		// against it, and tests run the server on an injected clock.
		w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
		rec := &statusRecorder{ResponseWriter: w}
		info := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "route", r.Pattern, "panic", fmt.Sprint(p), "request_id", rid)
				if rec.status == 0 {
					s.writeError(rec, r, errorf(http.StatusInternalServerError, wire.CodeInternal, "internal error (request %s)", rid))
				}
			}
			d := time.Since(start)
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "unmatched"
			}
			s.metrics.observe(route, status, d)
			attrs := []any{"method", r.Method, "route", route, "status", status, "took", d, "request_id", rid}
			if info.tenant != "" {
				attrs = append(attrs, "tenant", info.tenant, "device", info.device)
			}
			if status >= 500 {
				s.log.Error("request", attrs...)
			} else {
				s.log.Info("request", attrs...)
			}
		}()
		mux.ServeHTTP(rec, r)
	})
}

// newRouter builds the API's mux and its route table.
func (s *Server) newRouter() (*http.ServeMux, []route) {
	rt := &router{s: s, mux: http.NewServeMux(), allow: map[string][]string{}}
	s.routes(rt)
	return rt.mux, rt.table
}

type reqInfoKey struct{}

// reqInfo carries who called, for the request log.
type reqInfo struct{ tenant, device string }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// withRole verifies the caller's credential, applies its rate limit, opens its
// tenant's store, checks the route's role, runs h and writes its answer with the epoch
// and ledger headers. It is the one place where a route's role is enforced.
func (s *Server) withRole(who role, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r)
		if err != nil {
			if ok, wait := s.limit.allow("addr:" + remoteHost(r)); !ok {
				s.rateLimited(w, r, wait)
				return
			}
			s.writeError(w, r, err)
			return
		}
		if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
			info.tenant, info.device = c.Tenant, c.Device
		}
		if ok, wait := s.limit.allow("device:" + c.Tenant + "/" + c.Device); !ok {
			s.setServerHeaders(w, r, c)
			s.rateLimited(w, r, wait)
			return
		}
		s.act.seen(c.Tenant, c.Device, s.now(), false)
		s.leases.touch(c.Tenant, c.Device, s.now())
		var body any
		if who == roleAdmin && !c.Admin {
			s.log.Warn("admin call refused: not an admin", "tenant", c.Tenant, "device", c.Device, "route", r.Pattern)
			err = errorf(http.StatusForbidden, wire.CodeForbidden,
				"this call needs an admin's credential; user %q is not an admin of the tenant (enrol with fieldformsd enroll --admin)", c.User)
		} else {
			body, err = h(w, r, c)
		}
		s.setServerHeaders(w, r, c)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if body != nil {
			s.writeJSON(w, r, http.StatusOK, body)
		}
	}
}

func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	s.metrics.rateLimited.Add(1)
	e := errorf(http.StatusTooManyRequests, wire.CodeRateLimited, "too many requests; retry after %d s", retryAfterSeconds(wait))
	e.retryAfter = wait
	s.writeError(w, r, e)
}

// authenticate checks the bearer credential: its signature with the tenant's key,
// the revocation list, and the hash the registry keeps. A device the registry lacks
// (the data folder was lost) is registered again from its verified credential.
func (s *Server) authenticate(r *http.Request) (*caller, error) {
	fail := func(why string, args ...any) (*caller, error) {
		s.metrics.authFailures.Add(1)
		s.log.Debug("credential refused", append([]any{"why", why}, args...)...)
		return nil, errUnauthorized
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return fail("no bearer credential")
	}
	cl, payload, mac, err := peekToken(strings.TrimSpace(tok))
	if err != nil {
		return fail("malformed")
	}
	key, err := s.id.tenantKey(cl.Tenant)
	if err != nil {
		return fail("unknown tenant")
	}
	if !verifyToken(key, payload, mac) {
		return fail("bad signature", "tenant", cl.Tenant)
	}
	when, revoked, err := s.id.revokedAt(cl.Tenant, cl.Device)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "revocation list unreadable")
	}
	if revoked && !cl.issued().After(when) {
		return fail("revoked", "tenant", cl.Tenant, "device", cl.Device)
	}
	hash := tokenHash(strings.TrimSpace(tok))
	dev, found, err := s.reg.device(cl.Tenant, cl.Device)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "registry unavailable")
	}
	switch {
	case found && subtle.ConstantTimeCompare([]byte(dev.TokenHash), []byte(hash)) != 1:
		// Superseded by a newer enrolment of the same device, or revoked.
		return fail("credential superseded", "tenant", cl.Tenant, "device", cl.Device)
	case !found:
		rereg := false
		now := s.now().UTC()
		err := s.reg.updateDevice(cl.Tenant, cl.Device, func(d *Device, ok bool) (bool, error) {
			if ok {
				return false, nil // registered meanwhile by a concurrent call
			}
			*d = Device{Tenant: cl.Tenant, ID: cl.Device, User: cl.User, Admin: cl.Admin, TokenHash: hash,
				Issued: cl.issued().UTC(), Enrolled: now, Reregistered: &now}
			rereg = true
			return true, nil
		})
		if err != nil {
			return nil, errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "registry unavailable")
		}
		if rereg {
			s.metrics.reregistrations.Add(1)
			s.log.Info("device registered again from its credential", "tenant", cl.Tenant, "device", cl.Device)
		}
	}
	t, err := s.tenant(r.Context(), cl.Tenant)
	if errors.Is(err, ErrTenantDamaged) {
		return nil, tenantOfflineError() // logged once, when it went offline
	}
	if err != nil {
		s.log.Error("cannot open tenant store", "tenant", cl.Tenant, "err", err)
		return nil, errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "tenant data unavailable")
	}
	return &caller{claims: cl, t: t}, nil
}

// serverInfo is what every answer says about the server and the caller.
func (s *Server) serverInfo(ctx context.Context, c *caller) wire.Server {
	acked, _ := c.t.ledgerOf(ctx, c.Device)
	return wire.Server{Epoch: c.t.epoch, AckedThrough: acked, Time: s.now().UTC(), Templates: c.t.st.TemplatesTag()}
}

func (s *Server) setServerHeaders(w http.ResponseWriter, r *http.Request, c *caller) {
	acked, _ := c.t.ledgerOf(r.Context(), c.Device)
	w.Header().Set(wire.HeaderEpoch, c.t.epoch)
	w.Header().Set(wire.HeaderAckedThrough, strconv.FormatUint(acked, 10))
	w.Header().Set(wire.HeaderTemplates, c.t.st.TemplatesTag())
}

// tenantOfflineError is what the calls of a tenant whose store is damaged get: 503,
// so devices keep their changes and retry; they never learn more of the damage.
func tenantOfflineError() *apiError {
	ae := errorf(http.StatusServiceUnavailable, wire.CodeTenantOffline, "this organisation's data is offline: it is damaged and being restored from a backup; your device keeps its changes and retries")
	ae.retryAfter = 5 * time.Minute
	return ae
}

// writeError answers with an error body; errors that are not API errors are logged and
// answered as internal without detail.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		switch {
		case errors.Is(err, store.ErrClosed), errors.Is(err, context.Canceled):
			ae = errorf(http.StatusServiceUnavailable, wire.CodeUnavailable, "server shutting down")
		case errors.Is(err, ErrTenantDamaged), errors.Is(err, store.ErrDamaged):
			// The tenant goes offline at its next call (tenants.get); the store
			// logged the damage once.
			ae = tenantOfflineError()
		default:
			s.log.Error("internal error", "route", r.Pattern, "err", err)
			ae = errorf(http.StatusInternalServerError, wire.CodeInternal, "internal error")
		}
	}
	if ae.retryAfter > 0 || ae.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(ae.retryAfter)))
	}
	s.writeJSON(w, r, ae.status, wire.Error{Code: ae.code, Message: ae.msg})
}

// gzipAbove: answers larger than this are compressed for a client that accepts gzip.
const gzipAbove = 1 << 10

var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode answer", "route", r.Pattern, "err", err)
		status, data = http.StatusInternalServerError, []byte(`{"code":"internal","message":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	// The encodings this server reads in request bodies (RFC 9110 §12.5.3): a client
	// that sees s2 here sends s2.
	h.Set("Accept-Encoding", wire.RequestEncodings)
	if len(data) > gzipAbove {
		switch responseEncoding(r) {
		case "s2":
			h.Set("Content-Encoding", "s2")
			data = s2.Encode(nil, data)
		case "gzip":
			h.Set("Content-Encoding", "gzip")
			w.WriteHeader(status)
			zw := gzipPool.Get().(*gzip.Writer)
			zw.Reset(w)
			zw.Write(data)
			zw.Close()
			zw.Reset(io.Discard)
			gzipPool.Put(zw)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

// responseEncoding picks the answer's encoding from the request's Accept-Encoding:
// s2 when the client accepts it (cheapest to make and to read), else gzip, else none.
func responseEncoding(r *http.Request) string {
	gz := false
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.ReplaceAll(params, " ", "") == "q=0" {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(enc)) {
		case "s2":
			return "s2"
		case "gzip":
			gz = true
		}
	}
	if gz {
		return "gzip"
	}
	return ""
}

// readBody reads a request body, decompressing gzip or s2 (one block), and refuses
// more than wire.MaxBodyBytes (after decompression) with 413.
func readBody(r *http.Request) ([]byte, error) {
	body := io.Reader(http.MaxBytesReader(nil, r.Body, wire.MaxBodyBytes+1))
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, sizeOr(err, badRequest("request body: not valid gzip: %v", err))
		}
		defer zr.Close()
		body = zr
	case "s2":
		return readS2(body)
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, wire.CodeBadRequest, "request body: Content-Encoding %q is not supported; use s2, gzip or none", enc)
	}
	data, err := io.ReadAll(io.LimitReader(body, wire.MaxBodyBytes+1))
	if err != nil {
		return nil, sizeOr(err, badRequest("request body: %v", err))
	}
	if len(data) > wire.MaxBodyBytes {
		return nil, tooLarge("request body over %d bytes", wire.MaxBodyBytes)
	}
	return data, nil
}

// readS2 reads an s2 block: its length comes first, so a body that would inflate
// past the limit is refused before anything is allocated for it.
func readS2(body io.Reader) ([]byte, error) {
	comp, err := io.ReadAll(body)
	if err != nil {
		return nil, sizeOr(err, badRequest("request body: %v", err))
	}
	n, err := s2.DecodedLen(comp)
	if err != nil {
		return nil, badRequest("request body: not valid s2: %v", err)
	}
	if n > wire.MaxBodyBytes {
		return nil, tooLarge("request body over %d bytes", wire.MaxBodyBytes)
	}
	data, err := s2.Decode(nil, comp)
	if err != nil {
		return nil, badRequest("request body: not valid s2: %v", err)
	}
	return data, nil
}

func sizeOr(err error, other *apiError) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge("request body over %d bytes", wire.MaxBodyBytes)
	}
	return other
}

// decodeJSON reads a request body strictly: one JSON value of the expected shape, no
// unknown fields, nothing after it. Errors say what is wrong and where.
func decodeJSON(r *http.Request, v any) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	return decodeStrict(data, v)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("%s", describeJSONError(err, data))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("request body: unexpected data after the JSON value at byte %d", dec.InputOffset())
	}
	return nil
}

func describeJSONError(err error, data []byte) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF) && len(bytes.TrimSpace(data)) == 0:
		return "request body: empty; a JSON object is expected"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "request body: JSON ends early"
	case errors.As(err, &se):
		return fmt.Sprintf("request body: malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		where := te.Field
		if where == "" {
			where = "the body"
		}
		return fmt.Sprintf("request body: %s: expected %s, got JSON %s (byte %d)", where, te.Type, te.Value, te.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "request body: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	return "request body: " + strings.TrimPrefix(err.Error(), "json: ")
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// handleHealth says the process is up. No data, no credential.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady says whether the stores answer, the newest good backup is recent
// and blob storage answers; a 503 lists the reasons.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	rd := s.Readiness(ctx) // backup.go: stores, backups, blob storage
	if len(rd.Reasons) > 0 {
		s.log.Warn("not ready", "reasons", strings.Join(rd.Reasons, "; "))
		w.Header().Set("Retry-After", "5")
		s.writeJSON(w, r, http.StatusServiceUnavailable, rd)
		return
	}
	s.writeJSON(w, r, http.StatusOK, rd)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	gauges := map[string]float64{}
	if n, err := s.reg.countDevices(); err == nil {
		gauges["fieldforms_devices"] = float64(n)
	}
	if names, err := s.id.tenants(); err == nil {
		gauges["fieldforms_tenants"] = float64(len(names))
	}
	open := 0
	s.tenants.each(func(*tenant) error { open++; return nil })
	gauges["fieldforms_tenant_stores_open"] = float64(open)
	up := 1.0
	if s.Ready(r.Context()) != nil {
		up = 0
	}
	gauges["fieldforms_ready"] = up
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.metrics.write(w, gauges)
	if damaged := s.tenants.damagedNames(); len(damaged) > 0 {
		fmt.Fprintf(w, "# HELP fieldforms_tenant_offline 1 for a tenant offline because its data is damaged\n# TYPE fieldforms_tenant_offline gauge\n")
		for _, name := range slices.Sorted(maps.Keys(damaged)) {
			fmt.Fprintf(w, "fieldforms_tenant_offline{tenant=%q} 1\n", name)
		}
	}
	s.writeMoreMetrics(w) // backup.go: backups, blob storage, purges, devices
}
