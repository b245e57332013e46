package sync

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/sync/wire"
)

// selfSigned makes a certificate for 127.0.0.1, as a server without a CA does.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fieldformsd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der
}

func tlsServer(t *testing.T, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func pinned(url string, der []byte) Credential {
	sum := sha256.Sum256(der)
	return Credential{URL: url, Token: "t", Cert: base64.StdEncoding.EncodeToString(der), Fingerprint: hex.EncodeToString(sum[:])}
}

func TestClientRefusesPlainText(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "ftp://x", "127.0.0.1:8443", ""} {
		if _, err := NewClient(Credential{URL: u}, ClientOptions{}); err == nil {
			t.Errorf("NewClient(%q) accepted", u)
		}
	}
	if _, err := NewClient(Credential{URL: "http://127.0.0.1:1"}, ClientOptions{}); !errors.Is(err, ErrPlainText) {
		t.Errorf("http URL: %v, want ErrPlainText", err)
	}
}

// The certificate pinned at enrolment is trusted, with ordinary verification; another
// self-signed certificate at the same address is not, and that is not worth retrying.
func TestClientPinsTheEnrolledCertificate(t *testing.T) {
	cert, der := selfSigned(t)
	ok := tlsServer(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set(wire.HeaderEpoch, "e1")
		w.Header().Set(wire.HeaderAckedThrough, "7")
		w.Write([]byte(`{"templates":[]}`))
	}))
	c, err := NewClient(pinned(ok.URL, der), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out wire.TemplatesResponse
	srv, err := c.Do(context.Background(), http.MethodGet, "/v1/templates", nil, nil, &out)
	if err != nil || srv.Epoch != "e1" || srv.AckedThrough != 7 {
		t.Fatalf("pinned server: %+v, %v", srv, err)
	}

	other, _ := selfSigned(t)
	impostor := tlsServer(t, other, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the impostor got a request")
	}))
	c2, _ := NewClient(pinned(impostor.URL, der), ClientOptions{})
	_, err = c2.Do(context.Background(), http.MethodGet, "/v1/templates", nil, nil, nil)
	if err == nil || Temporary(err) {
		t.Fatalf("impostor: err %v (temporary %v), want a permanent failure", err, Temporary(err))
	}
	// Without a pin, a self-signed server is not trusted at all.
	c3, _ := NewClient(Credential{URL: ok.URL, Token: "t"}, ClientOptions{})
	if _, err := c3.Do(context.Background(), http.MethodGet, "/v1/templates", nil, nil, nil); err == nil {
		t.Fatal("a self-signed server was trusted without a pin")
	}
}

func TestClientErrors(t *testing.T) {
	cert, der := selfSigned(t)
	status := 0
	srv := tlsServer(t, cert, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status == 429 {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"code":"x","message":"why"}`))
	}))
	c, _ := NewClient(pinned(srv.URL, der), ClientOptions{})
	for _, tc := range []struct {
		status    int
		temporary bool
		retry     time.Duration
	}{{400, false, 0}, {401, false, 0}, {409, false, 0}, {413, false, 0}, {429, true, 7 * time.Second}, {500, true, 0}, {503, true, 0}} {
		status = tc.status
		_, err := c.Do(context.Background(), http.MethodGet, "/v1/x", nil, nil, nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tc.status || ae.Code != "x" || !strings.Contains(err.Error(), "why") {
			t.Errorf("%d: %v", tc.status, err)
		}
		if Temporary(err) != tc.temporary || RetryAfter(err) != tc.retry {
			t.Errorf("%d: temporary %v retry %v", tc.status, Temporary(err), RetryAfter(err))
		}
	}
	// A refused connection is temporary: the server may come back.
	c2, _ := NewClient(pinned("https://127.0.0.1:1", der), ClientOptions{})
	if _, err := c2.Do(context.Background(), http.MethodGet, "/v1/x", nil, nil, nil); !Temporary(err) {
		t.Errorf("connection refused: %v not temporary", err)
	}
}
