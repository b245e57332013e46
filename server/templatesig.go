package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"

	"github.com/fieldforms/fieldforms/form"
)

// Template signatures. A template version an admin publishes is the tenant's: the
// server signs it with the tenant key and hands the signature out with the template
// (GET /v1/templates); devices keep it. A server rebuilt with an empty data folder
// accepts a template back from a device that is not an admin's only with a valid
// signature of exactly that tenant, ID, version and content, so no device can publish
// a form to the whole tenant by pushing it.
//
// The signature is a function of the key and the template, so the server computes it
// when it hands a template out rather than storing it: every template version a
// tenant's store holds was published by an admin or returned with a valid signature.

const templateSigDomain = "fieldforms-template-v1\x00"

// templateSignature signs a template version for a tenant.
func templateSignature(key []byte, tenant string, t *form.Template) string {
	return base64.RawURLEncoding.EncodeToString(templateMAC(key, tenant, t))
}

func templateMAC(key []byte, tenant string, t *form.Template) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(templateSigDomain))
	m.Write([]byte(tenant))
	m.Write([]byte{0})
	m.Write([]byte(t.ID))
	m.Write([]byte{0})
	m.Write([]byte(strconv.Itoa(t.Version)))
	m.Write([]byte{0})
	m.Write(t.Encode())
	return m.Sum(nil)
}

// validTemplateSignature checks a signature in constant time.
func validTemplateSignature(key []byte, tenant string, t *form.Template, sig string) bool {
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(mac) != sha256.Size {
		return false
	}
	return hmac.Equal(templateMAC(key, tenant, t), mac)
}
