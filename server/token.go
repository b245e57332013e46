package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// claims are what a device credential says about its holder. The tenant's key signs
// them, so the server can recognise a device without its registry.
type claims struct {
	V      int    `json:"v"`
	Tenant string `json:"t"`
	Device string `json:"d"`
	User   string `json:"u"`
	Admin  bool   `json:"a,omitempty"`
	Issued int64  `json:"i"` // Unix nanoseconds
	Nonce  string `json:"n"`
}

func (c claims) issued() time.Time { return time.Unix(0, c.Issued) }

// errBadToken covers every way a credential can fail to verify; the caller learns no
// more than that.
var errBadToken = errors.New("credential not valid")

const tokenDomain = "fieldforms-token-v1\x00"

// signToken makes a credential: base64url(claims) "." base64url(HMAC-SHA256).
func signToken(key []byte, c claims) (string, error) {
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	c.V, c.Nonce = 1, base64.RawURLEncoding.EncodeToString(nonce[:])
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(key, p)), nil
}

func tokenMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tokenDomain))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// peekTenant reads a credential's claims without verifying them, to find whose key
// verifies it. Nothing read here is trusted until verifyToken says so.
func peekToken(tok string) (claims, string, []byte, error) {
	p, sig, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 4096 {
		return claims{}, "", nil, errBadToken
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return claims{}, "", nil, errBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(mac) != sha256.Size {
		return claims{}, "", nil, errBadToken
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.V != 1 || c.Tenant == "" || c.Device == "" {
		return claims{}, "", nil, errBadToken
	}
	return c, p, mac, nil
}

// verifyToken checks the signature in constant time.
func verifyToken(key []byte, payload string, mac []byte) bool {
	return hmac.Equal(tokenMAC(key, payload), mac)
}

// tokenHash is what the registry keeps of a credential.
func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// secretHash is what the registry keeps of an enrolment secret.
func secretHash(secret string) string {
	sum := sha256.Sum256([]byte("fieldforms-enrol\x00" + secret))
	return hex.EncodeToString(sum[:])
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
