package azurite_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/fieldforms/fieldforms/internal/azurite"
)

// variants runs each test against plain HTTP and HTTPS Azurite.
var variants = []struct {
	name  string
	start func(testing.TB) *azurite.Server
}{
	{"HTTP", azurite.Start},
	{"TLS", azurite.StartTLS},
}

func TestRoundTrip(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			srv := v.start(t)
			wantScheme := "http://"
			if srv.TLS() {
				wantScheme = "https://"
			}
			if !strings.HasPrefix(srv.Endpoint, wantScheme+"127.0.0.1:") || !strings.HasSuffix(srv.Endpoint, "/"+azurite.Account) {
				t.Fatalf("Endpoint = %q, want %s127.0.0.1:PORT/%s", srv.Endpoint, wantScheme, azurite.Account)
			}

			ctx := testContext(t)
			client := srv.Client(t)
			if _, err := client.CreateContainer(ctx, "attachments", nil); err != nil {
				t.Fatalf("create container: %v", err)
			}
			want := randomBytes(t, 3<<20+17) // several blocks, odd size
			if _, err := client.UploadBuffer(ctx, "attachments", "photo.jpg", want, nil); err != nil {
				t.Fatalf("upload: %v", err)
			}
			got := make([]byte, len(want))
			n, err := client.DownloadBuffer(ctx, "attachments", "photo.jpg", got, nil)
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			if n != int64(len(want)) || !bytes.Equal(got, want) {
				t.Fatalf("downloaded %d bytes that differ from the %d uploaded", n, len(want))
			}
		})
	}
}

func TestTLSRejectsUntrustedClient(t *testing.T) {
	t.Parallel()
	srv := azurite.StartTLS(t)
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, srv.Endpoint+"?comp=list", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The default client does not know the self-signed certificate.
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("GET with an untrusting client succeeded (%s), want a certificate error", resp.Status)
	}
}

// TestBlobSAS checks what the server relies on when it hands a device a
// write-only SAS for one attachment: the device can create that blob and
// nothing else.
func TestBlobSAS(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			srv := v.start(t)
			ctx := testContext(t)
			if _, err := srv.Client(t).CreateContainer(ctx, "attachments", nil); err != nil {
				t.Fatalf("create container: %v", err)
			}

			protocol := sas.ProtocolHTTPSandHTTP
			if srv.TLS() {
				protocol = sas.ProtocolHTTPS
			}
			perms := sas.BlobPermissions{Create: true, Write: true}
			qp, err := sas.BlobSignatureValues{
				Protocol:      protocol,
				StartTime:     time.Now().Add(-time.Minute).UTC(), // tolerate clock skew
				ExpiryTime:    time.Now().Add(15 * time.Minute).UTC(),
				Permissions:   perms.String(),
				ContainerName: "attachments",
				BlobName:      "granted",
			}.SignWithSharedKey(srv.Credential(t))
			if err != nil {
				t.Fatalf("sign sas: %v", err)
			}
			if got := qp.Resource(); got != "b" {
				t.Fatalf("sas resource = %q, want b", got)
			}

			upload := func(blob string) error {
				c, err := blockblob.NewClientWithNoCredential(srv.BlobURL("attachments", blob)+"?"+qp.Encode(),
					&blockblob.ClientOptions{ClientOptions: srv.ClientOptions().ClientOptions})
				if err != nil {
					t.Fatalf("blob client: %v", err)
				}
				_, err = c.UploadBuffer(ctx, []byte("signature.png bytes"), nil)
				return err
			}

			if err := upload("granted"); err != nil {
				t.Fatalf("upload with the blob's own SAS: %v", err)
			}
			err = upload("other")
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
				t.Fatalf("upload of another blob with the SAS: err = %v, want HTTP 403", err)
			}
		})
	}
}

func TestStopIsClean(t *testing.T) {
	t.Parallel()
	var endpoint string
	t.Run("Start", func(t *testing.T) {
		endpoint = azurite.Start(t).Endpoint
	}) // the subtest's cleanup stops Azurite here
	resp, err := http.Get(endpoint + "?comp=list")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("Azurite still answers after its test ended: %s", resp.Status)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
