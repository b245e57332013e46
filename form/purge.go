package form

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// PurgeNotice is what every replica keeps of a purge: which records were deleted for
// good, by which request, when, and the tenant key's signature over these. It holds
// no record data and no reason: it is sent to every device, and devices send it back
// to a server that lost it. Only the server, which holds the tenant key, can make or
// check the signature; a device keeps the notice as it came.
type PurgeNotice struct {
	Tenant  string    `json:"tenant"`
	Request string    `json:"request"` // the purge request's ID (a UUIDv7)
	Time    time.Time `json:"time"`    // when the purge was carried out
	Records []string  `json:"records"`
	Sig     string    `json:"sig"` // base64 HMAC-SHA256 under the tenant key
}

// ErrBadNotice: a purge notice that is malformed or whose signature does not verify.
var ErrBadNotice = errors.New("bad purge notice")

// MaxNoticeRecords bounds the records of one purge notice.
const MaxNoticeRecords = 1000

const purgeNoticeDomain = "fieldforms-purge-notice-v1\x00"

// signedBytes is the notice's canonical form, which the signature covers: a domain
// prefix, then each field with its length.
func (n PurgeNotice) signedBytes() []byte {
	b := []byte(purgeNoticeDomain)
	add := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	add(n.Tenant)
	add(n.Request)
	add(n.Time.UTC().Format(time.RFC3339Nano))
	b = binary.BigEndian.AppendUint32(b, uint32(len(n.Records)))
	for _, id := range n.Records {
		add(id)
	}
	return b
}

// Sign sets the notice's signature under key, after putting its time in UTC.
func (n *PurgeNotice) Sign(key []byte) {
	n.Time = n.Time.UTC()
	m := hmac.New(sha256.New, key)
	m.Write(n.signedBytes())
	n.Sig = base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Check says what is wrong with a notice's shape, naming the field; nil when it is
// well formed. It does not check the signature.
func (n PurgeNotice) Check() error {
	switch {
	case n.Tenant == "":
		return fmt.Errorf("%w: no tenant", ErrBadNotice)
	case !ValidID(n.Request):
		return fmt.Errorf("%w: request %q is not a UUID", ErrBadNotice, clipString(n.Request))
	case n.Time.IsZero():
		return fmt.Errorf("%w: request %s: no time", ErrBadNotice, n.Request)
	case len(n.Records) == 0:
		return fmt.Errorf("%w: request %s: no records", ErrBadNotice, n.Request)
	case len(n.Records) > MaxNoticeRecords:
		return fmt.Errorf("%w: request %s: %d records, at most %d", ErrBadNotice, n.Request, len(n.Records), MaxNoticeRecords)
	case n.Sig == "":
		return fmt.Errorf("%w: request %s: not signed", ErrBadNotice, n.Request)
	}
	for i, id := range n.Records {
		if !ValidID(id) {
			return fmt.Errorf("%w: request %s: records[%d] %q is not a UUID", ErrBadNotice, n.Request, i, clipString(id))
		}
		if slices.Contains(n.Records[:i], id) {
			return fmt.Errorf("%w: request %s: records[%d] %s is named twice", ErrBadNotice, n.Request, i, id)
		}
	}
	return nil
}

// Verify checks the notice's shape, that it is of tenant, and its signature under key.
func (n PurgeNotice) Verify(tenant string, key []byte) error {
	if err := n.Check(); err != nil {
		return err
	}
	if n.Tenant != tenant {
		return fmt.Errorf("%w: request %s: made for tenant %q, not %q", ErrBadNotice, n.Request, clipString(n.Tenant), tenant)
	}
	sig, err := base64.StdEncoding.DecodeString(n.Sig)
	if err != nil {
		return fmt.Errorf("%w: request %s: signature is not base64", ErrBadNotice, n.Request)
	}
	m := hmac.New(sha256.New, key)
	m.Write(n.signedBytes())
	if !hmac.Equal(sig, m.Sum(nil)) {
		return fmt.Errorf("%w: request %s: the signature does not verify under the tenant key", ErrBadNotice, n.Request)
	}
	return nil
}

func clipString(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
