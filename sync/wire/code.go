package wire

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// EnrollCode is what `fieldformsd enroll` prints and a device redeems: where the
// server is, which tenant, a one-time secret, and the SHA-256 fingerprint of the
// server's certificate (hex). A server with a self-signed certificate also puts the
// certificate itself in the code (Cert, base64 DER), so the device can trust exactly
// that certificate, checked against the fingerprint, with ordinary TLS verification.
type EnrollCode struct {
	URL         string `json:"u"`
	Tenant      string `json:"t"`
	Secret      string `json:"s"`
	Fingerprint string `json:"f,omitempty"`
	Cert        string `json:"c,omitempty"`
}

const codePrefix = "ff1-"

// ErrBadCode is returned for an enrolment code that cannot be read.
var ErrBadCode = errors.New("malformed enrolment code")

// String renders the code as one line of URL-safe characters.
func (c EnrollCode) String() string {
	b, _ := json.Marshal(c)
	return codePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseEnrollCode reads a code, refusing anything but an https URL.
func ParseEnrollCode(s string) (EnrollCode, error) {
	var c EnrollCode
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, codePrefix) {
		return c, fmt.Errorf("%w: it should start with %q", ErrBadCode, codePrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(codePrefix):])
	if err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCode, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCode, err)
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || u.Host == "":
		return c, fmt.Errorf("%w: server URL %q", ErrBadCode, c.URL)
	case u.Scheme != "https":
		return c, fmt.Errorf("%w: server URL %q is not https; Fieldforms never sends data in plain text", ErrBadCode, c.URL)
	case c.Tenant == "" || c.Secret == "":
		return c, fmt.Errorf("%w: tenant or secret missing", ErrBadCode)
	case c.Fingerprint != "" && len(c.Fingerprint) != 64:
		return c, fmt.Errorf("%w: certificate fingerprint must be 64 hex digits", ErrBadCode)
	case c.Cert != "" && c.Fingerprint == "":
		return c, fmt.Errorf("%w: a certificate without its fingerprint", ErrBadCode)
	}
	if c.Cert != "" {
		der, err := base64.StdEncoding.DecodeString(c.Cert)
		if err != nil {
			return c, fmt.Errorf("%w: certificate: %v", ErrBadCode, err)
		}
		sum := sha256.Sum256(der)
		if hex.EncodeToString(sum[:]) != strings.ToLower(c.Fingerprint) {
			return c, fmt.Errorf("%w: the certificate does not match its fingerprint", ErrBadCode)
		}
	}
	return c, nil
}
