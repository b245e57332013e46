package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Files in the config folder.
const (
	certFile     = "tls/cert.pem"
	keyFile      = "tls/key.pem"
	keysDir      = "keys"
	revokedFile  = "revoked.json"
	settingsFile = "server.json"
)

// Errors about the server's identity and tenants.
var (
	// ErrNotInitialised: the config folder holds no server identity.
	ErrNotInitialised = errors.New("no server identity")
	// ErrNoTenant: no tenant of that name.
	ErrNoTenant = errors.New("no such tenant")
	// ErrTenantExists: a tenant of that name exists already.
	ErrTenantExists = errors.New("tenant exists already")
	// ErrBadName: a tenant or user name that is not allowed.
	ErrBadName = errors.New("bad name")
)

var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidTenant reports whether s may name a tenant: 1-63 characters of a-z, 0-9 and
// '-', not starting with '-'.
func ValidTenant(s string) bool { return tenantName.MatchString(s) }

// identity is what the config folder holds: the TLS certificate, the tenants' signing
// keys and the revocation list.
type identity struct {
	dir         string
	cert        tls.Certificate
	fingerprint string // hex SHA-256 of the leaf's DER
	selfSigned  bool

	mu      sync.Mutex
	keys    map[string][]byte
	revoked revocations
	revStat fileStamp
}

// revocations maps tenant → device → the moment it was revoked.
type revocations map[string]map[string]time.Time

type revocationFile struct {
	Tenants revocations `json:"tenants"`
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// settings are what the config remembers for commands run without a server: where
// the server listens.
type settings struct {
	Addr string `json:"addr,omitempty"`
}

// loadIdentity reads the config folder. With create, a missing folder, certificate
// and key are made (a self-signed certificate for localhost, 127.0.0.1, ::1 and the
// host's name); without, a folder lacking them is ErrNotInitialised.
func loadIdentity(dir string, create bool, now time.Time) (*identity, error) {
	if dir == "" {
		return nil, errors.New("config folder: no path given")
	}
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	switch {
	case errC == nil && errK == nil:
	case !create && (errors.Is(errC, os.ErrNotExist) || errors.Is(errK, os.ErrNotExist)):
		return nil, fmt.Errorf("config folder %s: %w (run `fieldformsd init` first)", dir, ErrNotInitialised)
	case errors.Is(errC, os.ErrNotExist) && errors.Is(errK, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
			return nil, fmt.Errorf("config folder: %w", err)
		}
		if err := makeSelfSigned(certPath, keyPath, now); err != nil {
			return nil, fmt.Errorf("make a self-signed certificate: %w", err)
		}
	case errC != nil:
		return nil, fmt.Errorf("config folder: certificate: %w", errC)
	default:
		return nil, fmt.Errorf("config folder: key: %w", errK)
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, fmt.Errorf("config folder: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("config folder: TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("config folder: TLS certificate: %w", err)
	}
	cert.Leaf = leaf
	sum := sha256.Sum256(leaf.Raw)
	id := &identity{
		dir: dir, cert: cert, fingerprint: hex.EncodeToString(sum[:]),
		selfSigned: bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignatureFrom(leaf) == nil,
		keys:       map[string][]byte{},
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	if err := id.reloadRevocations(); err != nil {
		return nil, err
	}
	return id, nil
}

// makeSelfSigned writes an ECDSA P-256 key and a certificate for this machine.
func makeSelfSigned(certPath, keyPath string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	dns := []string{"localhost"}
	if host != "" && host != "localhost" {
		dns = append(dns, host)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fieldformsd " + host, Organization: []string{"Fieldforms"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so a device can trust exactly this certificate as its root
		DNSNames:              dns,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// InstallCertificate copies a given certificate and key into the config folder, where
// the server reads them from. Both are checked to belong together first.
func InstallCertificate(configDir, certPath, keyPath string) error {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return fmt.Errorf("install certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("install certificate: %w", err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("install certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(configDir, "tls"), 0o700); err != nil {
		return fmt.Errorf("install certificate: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(configDir, keyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("install certificate: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(configDir, certFile), certPEM, 0o644); err != nil {
		return fmt.Errorf("install certificate: %w", err)
	}
	return nil
}

// certBase64 is the leaf certificate as base64 DER, for enrolment codes of a
// self-signed server.
func (id *identity) certBase64() string {
	return base64.StdEncoding.EncodeToString(id.cert.Leaf.Raw)
}

// tenantKey returns a tenant's signing key, or ErrNoTenant.
func (id *identity) tenantKey(name string) ([]byte, error) {
	if !ValidTenant(name) {
		return nil, fmt.Errorf("tenant %q: %w", name, ErrNoTenant)
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	if k, ok := id.keys[name]; ok {
		return k, nil
	}
	k, err := os.ReadFile(id.keyPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tenant %q: %w", name, ErrNoTenant)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %q: signing key: %w", name, err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("tenant %q: signing key %s: %d bytes, want 32", name, id.keyPath(name), len(k))
	}
	id.keys[name] = k
	return k, nil
}

func (id *identity) keyPath(name string) string {
	return filepath.Join(id.dir, keysDir, name+".key")
}

// addTenant makes a tenant's signing key. It is ErrTenantExists when there is one.
func (id *identity) addTenant(name string) error {
	if !ValidTenant(name) {
		return fmt.Errorf("tenant %q: %w: use 1-63 characters a-z, 0-9 and '-', starting with a letter or digit", name, ErrBadName)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	id.mu.Lock()
	defer id.mu.Unlock()
	f, err := os.OpenFile(id.keyPath(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("tenant %q: %w", name, ErrTenantExists)
	}
	if err != nil {
		return fmt.Errorf("tenant %q: signing key: %w", name, err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(id.keyPath(name))
		return fmt.Errorf("tenant %q: signing key: %w", name, err)
	}
	syncDir(filepath.Join(id.dir, keysDir))
	id.keys[name] = key
	return nil
}

// tenants lists the tenants that have a signing key.
func (id *identity) tenants() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(id.dir, keysDir))
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".key"); ok && ValidTenant(name) && e.Type().IsRegular() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// revokedAt reports when a device was revoked. The file is read again when it changed
// on disk, so an operator's edit takes effect without a restart.
func (id *identity) revokedAt(tenant, device string) (time.Time, bool, error) {
	id.mu.Lock()
	defer id.mu.Unlock()
	if err := id.reloadRevocations(); err != nil {
		return time.Time{}, false, err
	}
	t, ok := id.revoked[tenant][device]
	return t, ok, nil
}

func (id *identity) reloadRevocations() error {
	path := filepath.Join(id.dir, revokedFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		id.revoked, id.revStat = revocations{}, fileStamp{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
	if st == id.revStat && id.revoked != nil {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	var f revocationFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("revocation list %s: %w", path, err)
	}
	if f.Tenants == nil {
		f.Tenants = revocations{}
	}
	id.revoked, id.revStat = f.Tenants, st
	return nil
}

// revoke adds a device to the revocation list, durably, before it returns.
func (id *identity) revoke(tenant, device string, at time.Time) error {
	id.mu.Lock()
	defer id.mu.Unlock()
	if err := id.reloadRevocations(); err != nil {
		return err
	}
	next := revocations{}
	for t, m := range id.revoked {
		next[t] = map[string]time.Time{}
		for d, when := range m {
			next[t][d] = when
		}
	}
	if next[tenant] == nil {
		next[tenant] = map[string]time.Time{}
	}
	next[tenant][device] = at.UTC()
	data, err := json.MarshalIndent(revocationFile{Tenants: next}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(id.dir, revokedFile), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	id.revoked, id.revStat = next, fileStamp{}
	return id.reloadRevocations()
}

func (id *identity) settings() settings {
	var s settings
	if data, err := os.ReadFile(filepath.Join(id.dir, settingsFile)); err == nil {
		_ = json.Unmarshal(data, &s)
	}
	return s
}

func (id *identity) saveSettings(s settings) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(id.dir, settingsFile), append(data, '\n'), 0o600)
}

// writeFileAtomic writes to a temporary file, fsyncs it and renames it into place, so
// a crash leaves the old or the new file, never half of one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename or creation in dir durable, where the platform allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
