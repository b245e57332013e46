package sync

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/fieldforms/fieldforms/sync/wire"
	"github.com/klauspost/compress/s2"
)

// Credential is what enrolment leaves on a device.
type Credential struct {
	URL         string `json:"url"`
	Tenant      string `json:"tenant"`
	DeviceID    string `json:"device_id"`
	User        string `json:"user"`
	Admin       bool   `json:"admin"`
	Token       string `json:"token"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Cert        string `json:"cert,omitempty"` // base64 DER of a pinned self-signed certificate
	// CheckpointKey is the note verifier key of the tenant's audit checkpoints, from
	// enrolment (none from a server of an earlier release: see witness.go).
	CheckpointKey string `json:"checkpoint_key,omitempty"`
}

// ErrPlainText is returned for a server URL that is not https.
var ErrPlainText = errors.New("server URL is not https; Fieldforms never sends data in plain text")

// APIError is a response with an error status.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Temporary reports whether trying again later may succeed: 5xx and 429.
func (e *APIError) Temporary() bool { return e.Status >= 500 || e.Status == http.StatusTooManyRequests }

// Client makes protocol calls. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	admin bool // the credential is an admin's: it may publish templates
	http  *http.Client
	log   *slog.Logger
	// Last is what the latest response said about the server.
	onServer func(wire.Server)
	now      func() time.Time
	clock    gosync.Mutex
	offset   clockReading
	// s2 is set once a server answer listed s2 among the request encodings it reads
	// (wire.RequestEncodings); until then request bodies are gzip, which every
	// server reads.
	s2 atomic.Bool
	// loopback: the server is on this machine, where compressing costs more CPU
	// than the bytes it saves on the wire.
	loopback bool
}

// ClientOptions tune a Client; the zero value is fine.
type ClientOptions struct {
	Logger    *slog.Logger
	Transport http.RoundTripper // tests inject fault wrappers around the TLS transport
	// BlobTransport reaches blob storage (uploads and downloads through SAS URLs);
	// nil: a transport trusting RootCAs (or the system's roots), without the server's
	// pinned certificate, which is for the server only.
	BlobTransport http.RoundTripper
	Timeout       time.Duration // per request; default 60 s
	// RootCAs replaces the system roots, for tests with their own CA.
	RootCAs *x509.CertPool
	// Now is the device's wall clock, measured against the server's Date header;
	// default time.Now. The replicator passes the replica's own clock.
	Now func() time.Time
}

// TLSConfig is the device's TLS configuration for a server: the system's roots plus,
// when the credential pins a self-signed certificate, that one certificate — which
// must then also be the one presented. Since a pinned certificate is the only one
// accepted, the system's roots are not read for it (reading them is a good part of
// a short command's time).
func TLSConfig(cred Credential, roots *x509.CertPool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if roots == nil && cred.Cert != "" {
		roots = x509.NewCertPool()
	}
	if roots == nil {
		var err error
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
	}
	if cred.Cert != "" {
		der, err := base64.StdEncoding.DecodeString(cred.Cert)
		if err != nil {
			return nil, fmt.Errorf("pinned certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("pinned certificate: %w", err)
		}
		roots = roots.Clone()
		roots.AddCert(cert)
		want := strings.ToLower(cred.Fingerprint)
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server presented no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != want {
				return errors.New("server certificate does not match the one pinned at enrolment")
			}
			return nil
		}
	}
	cfg.RootCAs = roots
	return cfg, nil
}

// NewClient returns a client for the credential's server.
func NewClient(cred Credential, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(cred.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: not a URL", cred.URL)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: %w", cred.URL, ErrPlainText)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tr := opts.Transport
	if tr == nil {
		tlsCfg, err := TLSConfig(cred, opts.RootCAs)
		if err != nil {
			return nil, err
		}
		tr = &http.Transport{
			TLSClientConfig:     tlsCfg,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 15 * time.Second,
			// Do asks for compressed answers (s2 or gzip) and decompresses them.
		}
	}
	return &Client{base: u, token: cred.Token, admin: cred.Admin, log: opts.Logger, now: opts.Now, loopback: isLoopback(u.Hostname()),
		http: &http.Client{Transport: tr, Timeout: opts.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// compressAbove: request bodies larger than this are compressed.
const compressAbove = 8 << 10

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Do sends in (nil for none) as JSON and decodes the answer into out (nil to discard).
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) (wire.Server, error) {
	return c.DoWith(ctx, method, path, query, nil, in, out)
}

// DoWith is Do with extra request headers (nil for none).
func (c *Client) DoWith(ctx context.Context, method, path string, query url.Values, header http.Header, in, out any) (wire.Server, error) {
	var b []byte
	if in != nil {
		var err error
		if b, err = json.Marshal(in); err != nil {
			return wire.Server{}, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
	}
	return c.do(ctx, method, path, query, header, b, out)
}

// DoJSON is Do with the request body already encoded as JSON (nil for none): for
// callers that write a body's bytes themselves.
func (c *Client) DoJSON(ctx context.Context, method, path string, query url.Values, in []byte, out any) (wire.Server, error) {
	return c.do(ctx, method, path, query, nil, in, out)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, header http.Header, in []byte, out any) (wire.Server, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var body io.Reader
	var enc string
	size := len(in)
	if in != nil {
		b := in
		if len(b) > compressAbove {
			b, enc = c.compress(b)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return wire.Server{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
	}
	req.Header.Set("Accept-Encoding", "s2, gzip")
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	t0 := time.Now()
	sent := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		return wire.Server{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	c.noteClock(sent, c.now(), resp.Header.Get("Date"))
	c.noteEncodings(resp.Header)
	srv := serverFromHeaders(resp.Header)
	c.log.Debug("call", "method", method, "path", path, "status", resp.StatusCode, "bytes", size, "encoding", enc, "took", time.Since(t0))
	data, err := readAnswer(resp)
	if err != nil {
		return srv, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		ae := &APIError{Status: resp.StatusCode}
		var we wire.Error
		if json.Unmarshal(data, &we) == nil && we.Code != "" {
			ae.Code, ae.Message = we.Code, we.Message
		} else {
			ae.Code, ae.Message = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(data[:min(len(data), 200)]))
		}
		if s := resp.Header.Get("Retry-After"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n >= 0 {
				ae.RetryAfter = time.Duration(n) * time.Second
			} else if t, err := http.ParseTime(s); err == nil {
				ae.RetryAfter = time.Until(t)
			}
		}
		return srv, fmt.Errorf("%s %s: %w", method, path, ae)
	}
	if len(data) > wire.MaxBodyBytes {
		return srv, fmt.Errorf("%s %s: answer larger than %d bytes", method, path, wire.MaxBodyBytes)
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(out); err != nil {
			return srv, fmt.Errorf("%s %s: malformed answer: %w", method, path, err)
		}
	}
	return srv, nil
}

// compress encodes a request body as the server reads best: s2 once it said it
// reads s2, else gzip; nothing for a server on this machine.
func (c *Client) compress(b []byte) ([]byte, string) {
	switch {
	case c.loopback && sendPlainToLoopback:
		return b, ""
	case c.s2.Load():
		return s2.Encode(nil, b), "s2"
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes(), "gzip"
}

// sendPlainToLoopback: see Client.loopback.
var sendPlainToLoopback = true

// noteEncodings remembers whether the server reads s2 request bodies.
func (c *Client) noteEncodings(h http.Header) {
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(enc), "s2") && strings.ReplaceAll(params, " ", "") != "q=0" {
				c.s2.Store(true)
				return
			}
		}
	}
}

// readAnswer reads a response body, decompressing s2 or gzip, and refuses an answer
// larger than wire.MaxBodyBytes (after decompression) with an error.
func readAnswer(resp *http.Response) ([]byte, error) {
	body := io.LimitReader(resp.Body, wire.MaxBodyBytes+1)
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("not valid gzip: %w", err)
		}
		defer zr.Close()
		body = io.LimitReader(zr, wire.MaxBodyBytes+1)
	case "s2":
		comp, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(comp)
		if err != nil {
			return nil, fmt.Errorf("not valid s2: %w", err)
		}
		if n > wire.MaxBodyBytes {
			return nil, fmt.Errorf("answer of %d bytes, over %d", n, wire.MaxBodyBytes)
		}
		out, err := s2.Decode(nil, comp)
		if err != nil {
			return nil, fmt.Errorf("not valid s2: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("answer in unknown encoding %q", enc)
	}
	return io.ReadAll(body)
}

func serverFromHeaders(h http.Header) wire.Server {
	var s wire.Server
	s.Epoch = h.Get(wire.HeaderEpoch)
	s.AckedThrough, _ = strconv.ParseUint(h.Get(wire.HeaderAckedThrough), 10, 64)
	s.Templates = h.Get(wire.HeaderTemplates)
	return s
}

// Temporary reports whether err is worth retrying: network failures, timeouts, 5xx
// and 429. Anything else (4xx, a malformed answer we cannot use) is permanent.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// A certificate that does not verify will not start verifying by itself.
		var ce *tls.CertificateVerificationError
		if errors.As(err, &ce) || strings.Contains(err.Error(), "pinned at enrolment") {
			return false
		}
		return true
	}
	return strings.Contains(err.Error(), "read answer")
}

// RetryAfter is the delay a 429 or 503 asked for, or zero.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// Enroll redeems an enrolment code for a credential. deviceID is the replica's own ID.
func Enroll(ctx context.Context, code wire.EnrollCode, deviceID, deviceName string, opts ClientOptions) (Credential, error) {
	cred := Credential{URL: code.URL, Tenant: code.Tenant, Fingerprint: code.Fingerprint, Cert: code.Cert}
	c, err := NewClient(cred, opts)
	if err != nil {
		return Credential{}, fmt.Errorf("enroll: %w", err)
	}
	var resp wire.EnrollResponse
	if _, err := c.Do(ctx, http.MethodPost, "/v1/enroll", nil, wire.EnrollRequest{Secret: code.Secret, DeviceID: deviceID, DeviceName: deviceName}, &resp); err != nil {
		return Credential{}, fmt.Errorf("enroll: %w", err)
	}
	if resp.Token == "" || resp.DeviceID == "" {
		return Credential{}, errors.New("enroll: the server's answer has no credential")
	}
	cred.DeviceID, cred.User, cred.Admin, cred.Token = resp.DeviceID, resp.User, resp.Admin, resp.Token
	cred.CheckpointKey = resp.CheckpointKey
	if resp.Tenant != "" {
		cred.Tenant = resp.Tenant
	}
	return cred, nil
}
