// Package azurite starts a real Azurite blob service (the Azure Storage
// emulator) for tests, so code that talks to Azure Blob Storage is tested
// against the real protocol rather than a mock.
//
// Each call to [Start] or [StartTLS] runs a private azurite-blob process on a
// free 127.0.0.1 port with its data in a temporary folder, and stops it when
// the test ends. The binary comes from the environment variable AZURITE_BLOB
// or, failing that, from tools/azurite/node_modules/.bin/azurite-blob in the
// module root; `make deps` installs it there.
//
// Fieldforms sends nothing in plain text (promise P9) and only hands out
// HTTPS SAS URLs, so tests of the product should prefer [StartTLS]: it serves
// HTTPS with a self-signed certificate for 127.0.0.1 that only
// [Server.HTTPClient] trusts.
package azurite

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

const (
	// Account is Azurite's built-in development storage account.
	Account = "devstoreaccount1"

	// Key is the development account's shared key. It is the well-known,
	// publicly documented key every Azurite and Azure Storage Emulator ships
	// with, not a secret.
	Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

	// EnvBinary names the environment variable that overrides where the
	// azurite-blob executable is.
	EnvBinary = "AZURITE_BLOB"

	// binaryInModule is where `make deps` installs azurite-blob, relative to
	// the module root.
	binaryInModule = "tools/azurite/node_modules/.bin/azurite-blob"

	startTimeout = 30 * time.Second
	stopTimeout  = 5 * time.Second
	// portAttempts bounds retries when another process takes the free port
	// between our probe and Azurite's bind.
	portAttempts = 3
)

// Server is a running Azurite blob service owned by one test.
type Server struct {
	// Endpoint is the account's blob service URL,
	// http(s)://127.0.0.1:PORT/devstoreaccount1.
	Endpoint string
	// Account is the storage account name, always [Account].
	Account string
	// Key is the account's shared key, always [Key].
	Key string

	// roots trusts the server's self-signed certificate; nil for plain HTTP.
	roots *x509.CertPool
}

// Start runs Azurite serving plain HTTP and stops it when tb ends. Prefer
// [StartTLS] for anything that builds SAS URLs: the product only accepts
// HTTPS.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, false)
}

// StartTLS runs Azurite serving HTTPS with a freshly generated self-signed
// certificate for 127.0.0.1 and stops it when tb ends. Use
// [Server.HTTPClient] or [Server.ClientOptions] to reach it.
func StartTLS(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, true)
}

// TLS reports whether the server speaks HTTPS.
func (s *Server) TLS() bool { return s.roots != nil }

// HTTPClient returns a new HTTP client for the server. For a TLS server it
// trusts the server's certificate (and no other), requiring TLS 1.2 or later.
func (s *Server) HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.roots != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// ClientOptions returns azblob client options whose transport reaches the
// server; callers may adjust them (retries, logging) before use.
func (s *Server) ClientOptions() *azblob.ClientOptions {
	return &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: s.HTTPClient()}}
}

// Credential returns the account's shared key credential, as used to sign
// SAS tokens.
func (s *Server) Credential(tb testing.TB) *azblob.SharedKeyCredential {
	tb.Helper()
	cred, err := azblob.NewSharedKeyCredential(s.Account, s.Key)
	if err != nil {
		tb.Fatalf("azurite: shared key credential: %v", err)
	}
	return cred
}

// Client returns an azblob client for the whole account, authorised with
// the shared key.
func (s *Server) Client(tb testing.TB) *azblob.Client {
	tb.Helper()
	c, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint+"/", s.Credential(tb), s.ClientOptions())
	if err != nil {
		tb.Fatalf("azurite: new client: %v", err)
	}
	return c
}

// BlobURL returns the URL of a blob, without any SAS query. Each argument is
// one path segment and is escaped, so a blob name must not contain "/".
func (s *Server) BlobURL(container, blob string) string {
	u, err := url.JoinPath(s.Endpoint, container, blob)
	if err != nil {
		// Endpoint is always a valid URL made by start.
		panic(fmt.Sprintf("azurite: blob url: %v", err))
	}
	return u
}

func start(tb testing.TB, useTLS bool) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		tb.Fatalf("azurite: %v; run `make deps` to install Azurite, or set %s to the azurite-blob executable", err, EnvBinary)
	}

	dataDir := tb.TempDir()
	args := []string{
		"--blobHost", "127.0.0.1",
		"--skipApiVersionCheck", // azblob sends an API version newer than Azurite knows
		"--disableTelemetry",    // without it Azurite ignores SIGTERM
		"--silent",
		"--location", dataDir,
	}
	srv := &Server{Account: Account, Key: Key}
	scheme := "http"
	if useTLS {
		certFile, keyFile, roots, err := writeSelfSignedCert(tb.TempDir())
		if err != nil {
			tb.Fatalf("azurite: %v", err)
		}
		args = append(args, "--cert", certFile, "--key", keyFile)
		srv.roots = roots
		scheme = "https"
	}

	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("azurite: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := launch(tb, bin, slices.Concat(args, []string{"--blobPort", strconv.Itoa(port)}), dataDir, addr)
		if err == nil {
			tb.Cleanup(p.stop)
			srv.Endpoint = scheme + "://" + addr + "/" + Account
			return srv
		}
		if errors.Is(err, errPortTaken) && attempt < portAttempts {
			tb.Logf("azurite: port %d was taken, retrying: %v", port, err)
			continue
		}
		tb.Fatalf("azurite: %v", err)
	}
}

var errPortTaken = errors.New("port already in use")

// process is one running azurite-blob.
type process struct {
	tb     testing.TB
	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{} // closed once cmd.Wait has returned
	err    error         // cmd.Wait's result, set before exited closes
	once   sync.Once
}

// launch starts azurite-blob in dir and waits until addr accepts connections.
func launch(tb testing.TB, bin string, args []string, dir, addr string) (*process, error) {
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Run in the data folder so nothing Azurite writes lands in the source tree.
	cmd.Dir = dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{tb: tb, cmd: cmd, output: out, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-p.exited:
			msg := strings.TrimSpace(out.String())
			if strings.Contains(msg, "EADDRINUSE") {
				return nil, fmt.Errorf("azurite-blob on %s exited: %w: %s", addr, errPortTaken, msg)
			}
			return nil, fmt.Errorf("azurite-blob exited before listening on %s (%v); its output:\n%s", addr, p.err, msg)
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("azurite-blob did not listen on %s within %v; its output:\n%s", addr, startTimeout, strings.TrimSpace(out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process group: SIGTERM first, SIGKILL if it has not exited
// after stopTimeout. It waits for the process, and is safe to call twice.
func (p *process) stop() {
	p.once.Do(func() {
		select {
		case <-p.exited:
			p.tb.Logf("azurite: azurite-blob exited early (%v); its output:\n%s", p.err, strings.TrimSpace(p.output.String()))
			return
		default:
		}
		terminate(p.cmd.Process)
		select {
		case <-p.exited:
			return
		case <-time.After(stopTimeout):
		}
		p.tb.Logf("azurite: azurite-blob ignored SIGTERM for %v, killing it", stopTimeout)
		kill(p.cmd.Process)
		<-p.exited
	})
}

// findBinary returns the azurite-blob executable: $AZURITE_BLOB, else the
// copy `make deps` installs under the module root.
func findBinary() (string, error) {
	if bin := os.Getenv(EnvBinary); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("find azurite-blob from $%s: %w", EnvBinary, err)
		}
		return bin, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("find azurite-blob: %w", err)
	}
	bin := filepath.Join(root, filepath.FromSlash(binaryInModule))
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("find azurite-blob: %w", err)
	}
	return bin, nil
}

// moduleRoot walks up from the working directory (a test's package
// directory) to the folder holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeSelfSignedCert writes a fresh ECDSA certificate and key for
// 127.0.0.1 into dir and returns their paths and a pool trusting the
// certificate.
func writeSelfSignedCert(dir string) (certFile, keyFile string, roots *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, fmt.Errorf("generate tls key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return "", "", nil, fmt.Errorf("generate tls serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "azurite test 127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, fmt.Errorf("create tls certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, fmt.Errorf("parse tls certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, fmt.Errorf("marshal tls key: %w", err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, fmt.Errorf("write tls certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", nil, fmt.Errorf("write tls key: %w", err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots, nil
}

// syncBuffer collects a process's output; the process writes from os/exec's
// copying goroutine while the test may read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxOutput bounds what is kept of Azurite's output: enough for any startup
// error, without growing for the life of a long test.
const maxOutput = 64 << 10

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutput - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
