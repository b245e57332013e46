package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/fieldforms/fieldforms/internal/azurite"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// blobServer is a test server with attachments in a real Azurite over TLS.
func blobServer(t *testing.T) (*testServer, *azurite.Server) {
	t.Helper()
	az := azurite.StartTLS(t)
	opts := dirs(t)
	opts.Blob = &server.BlobOptions{Endpoint: az.Endpoint, Account: az.Account, Key: az.Key, HTTPClient: az.HTTPClient()}
	ts := startServer(t, opts)
	return ts, az
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// sasOptions reach Azurite from a SAS URL alone, with no retries to slow down the
// calls that are meant to fail.
func sasOptions(az *azurite.Server) policy.ClientOptions {
	return policy.ClientOptions{Transport: az.HTTPClient(), Retry: policy.RetryOptions{MaxRetries: -1}}
}

// upload writes data with azblob through a SAS URL, as a device does.
func upload(t testing.TB, az *azurite.Server, sasURL string, data []byte) error {
	t.Helper()
	bb, err := blockblob.NewClientWithNoCredential(sasURL, &blockblob.ClientOptions{ClientOptions: sasOptions(az)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bb.UploadBuffer(context.Background(), data, nil)
	return err
}

func download(t testing.TB, az *azurite.Server, sasURL string) ([]byte, error) {
	t.Helper()
	bc, err := blob.NewClientWithNoCredential(sasURL, &blob.ClientOptions{ClientOptions: sasOptions(az)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := bc.DownloadStream(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func statusOf(err error) int {
	var re *azcore.ResponseError
	if err == nil {
		return 200
	}
	if ok := asResponseError(err, &re); ok {
		return re.StatusCode
	}
	return -1
}

func asResponseError(err error, re **azcore.ResponseError) bool {
	for err != nil {
		if r, ok := err.(*azcore.ResponseError); ok {
			*re = r
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func (d *device) prepare(t testing.TB, sha string, size int64) (wire.PrepareAttachmentResponse, answer) {
	t.Helper()
	var resp wire.PrepareAttachmentResponse
	a := d.do(t, "POST", "/v1/attachments/prepare", wire.PrepareAttachment{SHA256: sha, Size: size, Type: "image/jpeg"}, &resp)
	return resp, a
}

func (d *device) commit(t testing.TB, sha string, size int64) answer {
	t.Helper()
	var resp wire.CommitAttachmentResponse
	a := d.do(t, "POST", "/v1/attachments/commit", wire.CommitAttachment{SHA256: sha, Size: size}, &resp)
	if a.code == 200 && !resp.Present {
		t.Fatalf("commit answered 200 without present: %s", a.body)
	}
	return a
}

// attach uploads data through the API and returns its hash.
func (d *device) attach(t testing.TB, az *azurite.Server, data []byte) string {
	t.Helper()
	sha := sha256Hex(data)
	p, a := d.prepare(t, sha, int64(len(data)))
	wantCode(t, "prepare", a, 200, "")
	if !p.Exists {
		if err := upload(t, az, p.UploadURL, data); err != nil {
			t.Fatalf("upload: %v", err)
		}
		wantCode(t, "commit", d.commit(t, sha, int64(len(data))), 200, "")
	}
	return sha
}

// blobExists asks Azurite directly, with the account key.
func blobExists(t testing.TB, az *azurite.Server, tenant, sha string) bool {
	t.Helper()
	_, err := az.Client(t).ServiceClient().NewContainerClient("ff-"+tenant).NewBlobClient("sha256-"+sha).GetProperties(context.Background(), nil)
	if statusOf(err) == 404 {
		return false
	}
	if err != nil {
		t.Fatalf("blob properties: %v", err)
	}
	return true
}

func TestAttachments(t *testing.T) {
	ts, az := blobServer(t)
	ts.addTenant(t, "acme")
	ts.addTenant(t, "globex")
	ann := ts.enroll(t, "acme", "ann")
	bob := ts.enroll(t, "acme", "bob")
	eve := ts.enroll(t, "globex", "eve")

	t.Run("RoundTrip", func(t *testing.T) {
		data := randomBytes(t, 300<<10)
		sha := sha256Hex(data)
		before := time.Now()
		p, a := ann.prepare(t, sha, int64(len(data)))
		wantCode(t, "prepare", a, 200, "")
		if p.Exists || p.UploadURL == "" || p.Server.Epoch == "" {
			t.Fatalf("prepare: %+v", p)
		}
		u, err := url.Parse(p.UploadURL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		st, _ := time.Parse(time.RFC3339, q.Get("st"))
		se, _ := time.Parse(time.RFC3339, q.Get("se"))
		switch {
		case u.Scheme != "https":
			t.Fatalf("upload URL is not https: %s", u.Scheme)
		case q.Get("sr") != "b" || q.Get("sp") != "cw" || q.Get("spr") != "https":
			t.Fatalf("upload SAS: sr=%q sp=%q spr=%q; want a blob SAS, create+write, https", q.Get("sr"), q.Get("sp"), q.Get("spr"))
		case !strings.HasSuffix(u.Path, "/ff-acme/sha256-"+sha):
			t.Fatalf("upload URL path %q: want the tenant's container and a name from the hash", u.Path)
		case !st.Before(before.Add(-30 * time.Second)):
			t.Fatalf("SAS start %v is not in the past (clock skew)", st)
		case se.After(time.Now().Add(wire.SASLifetime)) || se.Before(before.Add(wire.SASLifetime-time.Minute)):
			t.Fatalf("SAS expiry %v; want at most %v from now", se, wire.SASLifetime)
		case !p.Expires.Equal(se):
			t.Fatalf("Expires %v, SAS says %v", p.Expires, se)
		}
		// Not downloadable before the commit.
		wantCode(t, "get before commit", ann.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 404, wire.CodeNotFound)
		if err := upload(t, az, p.UploadURL, data); err != nil {
			t.Fatalf("upload: %v", err)
		}
		wantCode(t, "commit", ann.commit(t, sha, int64(len(data))), 200, "")
		wantCode(t, "commit again", ann.commit(t, sha, int64(len(data))), 200, "")

		// Another device of the tenant learns it exists, and downloads it.
		p2, a := bob.prepare(t, sha, int64(len(data)))
		wantCode(t, "prepare existing", a, 200, "")
		if !p2.Exists || p2.UploadURL != "" {
			t.Fatalf("prepare of a committed blob: %+v", p2)
		}
		var dl wire.AttachmentURL
		wantCode(t, "get", bob.do(t, "GET", "/v1/attachments/"+sha, nil, &dl), 200, "")
		du, _ := url.Parse(dl.URL)
		if du.Scheme != "https" || du.Query().Get("sp") != "r" || du.Query().Get("sr") != "b" || du.Query().Get("spr") != "https" {
			t.Fatalf("download URL: %s", du.Redacted())
		}
		got, err := download(t, az, dl.URL)
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(got), len(data))
		}
		// The read URL cannot write.
		if err := upload(t, az, dl.URL, []byte("overwrite")); statusOf(err) != 403 {
			t.Fatalf("write with a read SAS: %v", err)
		}

		// Tenant isolation: another tenant's device gets 404 for the hash, and a
		// prepare of it gives a URL into its own container only.
		wantCode(t, "other tenant's get", eve.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 404, wire.CodeNotFound)
		pe, a := eve.prepare(t, sha, int64(len(data)))
		wantCode(t, "other tenant's prepare", a, 200, "")
		if pe.Exists || !strings.Contains(pe.UploadURL, "/ff-globex/") || strings.Contains(pe.UploadURL, "/ff-acme/") {
			t.Fatalf("other tenant's prepare: exists=%v url in %q", pe.Exists, strings.SplitN(pe.UploadURL, "?", 2)[0])
		}
		wantCode(t, "other tenant's commit", eve.commit(t, sha, int64(len(data))), 409, wire.CodeUploadMismatch)
		if !blobExists(t, az, "acme", sha) {
			t.Fatal("the other tenant's calls touched acme's blob")
		}
	})

	t.Run("ErrWrongSize", func(t *testing.T) {
		data := randomBytes(t, 1000)
		sha := sha256Hex(data)
		p, _ := ann.prepare(t, sha, int64(len(data))+1)
		if err := upload(t, az, p.UploadURL, data); err != nil {
			t.Fatal(err)
		}
		a := ann.commit(t, sha, int64(len(data))+1)
		wantCode(t, "commit with the wrong size", a, 409, wire.CodeUploadMismatch)
		if !strings.Contains(a.err.Message, "1000 bytes") {
			t.Fatalf("message does not say the size: %q", a.err.Message)
		}
		if blobExists(t, az, "acme", sha) {
			t.Fatal("the refused upload was not deleted")
		}
		wantCode(t, "get", ann.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 404, wire.CodeNotFound)
	})

	t.Run("ErrCorrupt", func(t *testing.T) {
		data := randomBytes(t, 4096)
		sha := sha256Hex(data)
		p, _ := ann.prepare(t, sha, int64(len(data)))
		bad := bytes.Clone(data)
		bad[100] ^= 1
		if err := upload(t, az, p.UploadURL, bad); err != nil {
			t.Fatal(err)
		}
		a := ann.commit(t, sha, int64(len(data)))
		wantCode(t, "commit of corrupted bytes", a, 409, wire.CodeUploadMismatch)
		if !strings.Contains(a.err.Message, "SHA-256") {
			t.Fatalf("message: %q", a.err.Message)
		}
		if blobExists(t, az, "acme", sha) {
			t.Fatal("the corrupted upload was not deleted")
		}
		wantCode(t, "get", ann.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 404, wire.CodeNotFound)
		// A new prepare gives a new URL and the right bytes then commit.
		p, _ = ann.prepare(t, sha, int64(len(data)))
		if p.Exists || upload(t, az, p.UploadURL, data) != nil {
			t.Fatalf("prepare after a refused commit: %+v", p)
		}
		wantCode(t, "commit", ann.commit(t, sha, int64(len(data))), 200, "")
	})

	t.Run("ErrNotUploaded", func(t *testing.T) {
		data := randomBytes(t, 10)
		wantCode(t, "commit without upload", ann.commit(t, sha256Hex(data), 10), 409, wire.CodeUploadMismatch)
	})

	t.Run("SASScope", func(t *testing.T) {
		a, b := randomBytes(t, 512), randomBytes(t, 512)
		pa, _ := ann.prepare(t, sha256Hex(a), 512)
		ua, _ := url.Parse(pa.UploadURL)
		// A's SAS on B's blob URL.
		ub := *ua
		ub.Path = strings.TrimSuffix(ua.Path, sha256Hex(a)) + sha256Hex(b)
		if err := upload(t, az, ub.String(), b); statusOf(err) != 403 {
			t.Fatalf("write of blob B with blob A's SAS: %v; want 403", err)
		}
		// Listing the container.
		uc := *ua
		uc.Path = ua.Path[:strings.LastIndex(ua.Path, "/")]
		cc, err := container.NewClientWithNoCredential(uc.String(), &container.ClientOptions{ClientOptions: sasOptions(az)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cc.NewListBlobsFlatPager(nil).NextPage(context.Background())
		if statusOf(err) != 403 {
			t.Fatalf("list with a blob SAS: %v; want 403", err)
		}
		// The SAS writes A, but cannot read or delete it.
		if err := upload(t, az, pa.UploadURL, a); err != nil {
			t.Fatalf("write of blob A: %v", err)
		}
		if _, err := download(t, az, pa.UploadURL); statusOf(err) != 403 {
			t.Fatalf("read with a write SAS: %v; want 403", err)
		}
		bc, _ := blob.NewClientWithNoCredential(pa.UploadURL, &blob.ClientOptions{ClientOptions: sasOptions(az)})
		if _, err := bc.Delete(context.Background(), nil); statusOf(err) != 403 {
			t.Fatalf("delete with the SAS: %v; want 403", err)
		}
		// Once committed, the blob is leased: the SAS that was handed out earlier can
		// no longer change it.
		wantCode(t, "commit", ann.commit(t, sha256Hex(a), 512), 200, "")
		if err := upload(t, az, pa.UploadURL, b); statusOf(err) != 412 {
			t.Fatalf("overwrite of a committed blob with an earlier SAS: %v; want 412 (the server's lease)", err)
		}
		var dl wire.AttachmentURL
		ann.do(t, "GET", "/v1/attachments/"+sha256Hex(a), nil, &dl)
		if got, err := download(t, az, dl.URL); err != nil || !bytes.Equal(got, a) {
			t.Fatalf("download after an overwrite attempt: %v", err)
		}
	})

	t.Run("TamperedAfterCommit", func(t *testing.T) {
		// A write SAS may take or break leases. Should a device use one to replace a
		// committed blob, the server notices the changed blob, checks it again and
		// stops handing it out when it fails.
		data := randomBytes(t, 1024)
		sha := sha256Hex(data)
		p, _ := ann.prepare(t, sha, 1024)
		if err := upload(t, az, p.UploadURL, data); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "commit", ann.commit(t, sha, 1024), 200, "")
		bb, _ := blockblob.NewClientWithNoCredential(p.UploadURL, &blockblob.ClientOptions{ClientOptions: sasOptions(az)})
		lc, err := lease.NewBlobClient(bb, nil)
		if err != nil {
			t.Fatal(err)
		}
		zero := int32(0)
		if _, err := lc.BreakLease(context.Background(), &lease.BlobBreakOptions{BreakPeriod: &zero}); err != nil {
			t.Skipf("this blob service refuses a lease break with a write SAS (%v): nothing to test", err)
		}
		garbage := randomBytes(t, 1024)
		if err := upload(t, az, p.UploadURL, garbage); err != nil {
			t.Fatalf("overwrite after breaking the lease: %v", err)
		}
		wantCode(t, "get tampered", ann.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 404, wire.CodeNotFound)
		if blobExists(t, az, "acme", sha) {
			t.Fatal("the tampered blob was kept")
		}
		if p, _ := ann.prepare(t, sha, 1024); p.Exists {
			t.Fatal("prepare says a tampered blob exists")
		}
	})

	t.Run("UncommittedUploadIsKept", func(t *testing.T) {
		// A device uploaded but never committed (it crashed): the next prepare checks
		// the blob and answers exists, so nobody sends it again.
		data := randomBytes(t, 2048)
		sha := sha256Hex(data)
		p, _ := ann.prepare(t, sha, 2048)
		if err := upload(t, az, p.UploadURL, data); err != nil {
			t.Fatal(err)
		}
		p2, a := bob.prepare(t, sha, 2048)
		wantCode(t, "prepare", a, 200, "")
		if !p2.Exists {
			t.Fatal("a correct uncommitted blob was not recognised")
		}
		wantCode(t, "get", bob.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 200, "")
	})

	t.Run("ErrBadInput", func(t *testing.T) {
		sha := sha256Hex([]byte("x"))
		for _, c := range []struct {
			what   string
			sha    string
			size   int64
			status int
		}{
			{"uppercase", strings.ToUpper(sha), 1, 400},
			{"short", sha[:63], 1, 400},
			{"path", "../../ff-globex/sha256-" + sha, 1, 400},
			{"empty", sha, 0, 400},
			{"negative", sha, -5, 400},
			{"too large", sha, 256<<20 + 1, 413},
		} {
			_, a := ann.prepare(t, c.sha, c.size)
			if a.code != c.status {
				t.Errorf("prepare %s: %d %s", c.what, a.code, a.err.Message)
			}
			if a := ann.commit(t, c.sha, c.size); a.code != c.status {
				t.Errorf("commit %s: %d %s", c.what, a.code, a.err.Message)
			}
		}
		wantCode(t, "get bad hash", ann.do(t, "GET", "/v1/attachments/NOTAHASH", nil, nil), 400, wire.CodeBadRequest)
		wantCode(t, "no token", ts.do(t, "", "POST", "/v1/attachments/prepare", wire.PrepareAttachment{SHA256: sha, Size: 1}, nil), 401, wire.CodeUnauthorized)
		a := ann.do(t, "GET", "/v1/attachments/prepare", nil, nil)
		wantCode(t, "GET prepare", a, 405, wire.CodeBadRequest)
		if a.header.Get("Allow") != "POST" {
			t.Fatalf("Allow: %q", a.header.Get("Allow"))
		}
		wantCode(t, "PUT hash", ann.do(t, "PUT", "/v1/attachments/"+sha, nil, nil), 405, wire.CodeBadRequest)
	})

	t.Run("NoSecretsInLogs", func(t *testing.T) {
		logs := ts.logs.String()
		for _, bad := range []string{"sig=", az.Key, ann.token} {
			if strings.Contains(logs, bad) {
				t.Fatalf("the server log holds a secret (%.12s…)", bad)
			}
		}
	})
}

func TestAttachmentsWithoutBlobStorage(t *testing.T) {
	ts := startServer(t, dirs(t))
	ts.addTenant(t, "acme")
	d := ts.enroll(t, "acme", "ann")
	sha := sha256Hex([]byte("x"))
	_, a := d.prepare(t, sha, 1)
	wantCode(t, "prepare", a, 503, wire.CodeUnavailable)
	wantCode(t, "get", d.do(t, "GET", "/v1/attachments/"+sha, nil, nil), 503, wire.CodeUnavailable)
}

func TestBlobOptions(t *testing.T) {
	key := "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	for _, c := range []struct {
		what string
		o    server.BlobOptions
		want string
	}{
		{"http", server.BlobOptions{Endpoint: "http://127.0.0.1:10000/devstoreaccount1", Account: "a", Key: key}, "not https"},
		{"no key", server.BlobOptions{Endpoint: "https://a.blob.core.windows.net", Account: "a"}, server.EnvBlobKey},
		{"bad key", server.BlobOptions{Endpoint: "https://a.blob.core.windows.net", Account: "a", Key: "not base64!"}, "base64"},
		{"sas in url", server.BlobOptions{Endpoint: "https://a.blob.core.windows.net/?sv=1&sig=x", Account: "a", Key: key}, "without a query"},
		{"no account", server.BlobOptions{Endpoint: "https://a.blob.core.windows.net", Key: key}, "account"},
	} {
		opts := dirs(t)
		opts.Create = true
		opts.Blob = &c.o
		s, err := server.Open(context.Background(), opts)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened", c.what)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || c.o.Key != "" && strings.Contains(err.Error(), c.o.Key) {
			t.Errorf("%s: %v", c.what, err)
		}
	}
}

var _ = http.StatusOK
