package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// EnrollCode is what `fieldformsd enroll` prints and a device redeems: where the
// server is, which tenant, a one-time secret, and the SHA-256 fingerprint of the
// server's certificate (hex), so a device can pin a self-signed server.
type EnrollCode struct {
	URL         string `json:"u"`
	Tenant      string `json:"t"`
	Secret      string `json:"s"`
	Fingerprint string `json:"f,omitempty"`
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
	}
	return c, nil
}
