package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestEnrollCode(t *testing.T) {
	ok := EnrollCode{URL: "https://127.0.0.1:8443", Tenant: "acme", Secret: "s3cret", Fingerprint: strings.Repeat("ab", 32)}
	got, err := ParseEnrollCode(" " + ok.String() + "\n")
	if err != nil || got != ok {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for name, c := range map[string]string{
		"ErrPrefix":      "xx-abc",
		"ErrBase64":      "ff1-***",
		"ErrJSON":        "ff1-" + "bm90IGpzb24",
		"ErrPlainHTTP":   EnrollCode{URL: "http://example.com", Tenant: "a", Secret: "b"}.String(),
		"ErrNoHost":      EnrollCode{URL: "https://", Tenant: "a", Secret: "b"}.String(),
		"ErrNoSecret":    EnrollCode{URL: "https://h", Tenant: "a"}.String(),
		"ErrFingerprint": EnrollCode{URL: "https://h", Tenant: "a", Secret: "b", Fingerprint: "abc"}.String(),
		"ErrCertMismatch": EnrollCode{URL: "https://h", Tenant: "a", Secret: "b", Fingerprint: strings.Repeat("ab", 32),
			Cert: "AAEC"}.String(),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseEnrollCode(c); !errors.Is(err, ErrBadCode) {
				t.Fatalf("ParseEnrollCode(%q) = %v, want ErrBadCode", c, err)
			}
		})
	}
}
