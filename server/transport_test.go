package server_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
)

func TestPlainHTTPGetsNoData(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	d.push(t, d.change(form.NewID(), "Plaintext site", 1))

	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /v1/pull HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+d.token+"\r\n\r\n")
	got, _ := io.ReadAll(conn)
	if strings.Contains(string(got), "Plaintext site") || strings.Contains(string(got), "records") || !strings.Contains(string(got), "400") {
		t.Fatalf("plain HTTP got %q", got)
	}
}

func TestOldTLSRefused(t *testing.T) {
	ts := startServer(t, dirs(t))
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{
			MinVersion: v, MaxVersion: v, InsecureSkipVerify: true, // the version is what is tested
		})
		if err == nil {
			conn.Close()
			t.Fatalf("a TLS %s handshake succeeded", tls.VersionName(v))
		}
		// The server refuses it (an alert), not the client before asking.
		if !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("TLS %s: %v", tls.VersionName(v), err)
		}
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{
		MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true,
	})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	conn.Close()
}

func TestSlowHeadersCutOff(t *testing.T) {
	opts := dirs(t)
	opts.ReadHeaderTimeout = 500 * time.Millisecond
	ts := startServer(t, opts)
	cfg := ts.client.Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	// A byte every 200 ms: the request line alone would take 20 s.
	header := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("s", 60) + "\r\n\r\n"
	writeErr := make(chan error, 1)
	go func() {
		for i := range len(header) {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				writeErr <- err
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		writeErr <- nil
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	took := time.Since(start)
	if isTimeout(err) {
		t.Fatalf("the server kept a slow client for %v", took)
	}
	if took > 3*time.Second || strings.Contains(string(got), "200 OK") {
		t.Fatalf("cut off after %v with %q; want within about 0.5 s and no answer", took, got)
	}
	conn.Close()
	<-writeErr
}

// TestHTTP2: devices force HTTP/2 when the server offers it; it must work.
func TestHTTP2(t *testing.T) {
	ts := startServer(t, dirs(t))
	tr := ts.client.Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = true
	c := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	resp, err := c.Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("%d over %s", resp.StatusCode, resp.Proto)
	}
}

func TestServerTimeouts(t *testing.T) {
	ts := startServer(t, dirs(t))
	hs := ts.HTTPServer()
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v, read %v, write %v, idle %v", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	if hs.TLSConfig == nil || hs.TLSConfig.MinVersion != tls.VersionTLS12 {
		t.Fatal("TLS is not configured with TLS 1.2 at least")
	}
}
