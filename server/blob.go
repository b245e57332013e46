package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// EnvBlobKey names the environment variable that holds the storage account's key.
// The key is never a flag (flags show in process lists) and never logged.
const EnvBlobKey = "FIELDFORMS_BLOB_KEY"

// BlobOptions connect a server to Azure Blob Storage, where attachments live.
type BlobOptions struct {
	// Endpoint is the account's blob service URL, https only:
	// https://ACCOUNT.blob.core.windows.net, or https://127.0.0.1:PORT/devstoreaccount1
	// for Azurite.
	Endpoint string
	Account  string
	// Key is the account's shared key (base64). It signs SAS URLs and the server's
	// own calls; it never leaves the server.
	Key string
	// HTTPClient reaches the endpoint; nil uses the SDK's default. Tests pass one that
	// trusts Azurite's self-signed certificate.
	HTTPClient *http.Client
}

// blobStore is the server's side of attachment storage: one container per tenant,
// one blob per SHA-256, names made here only.
type blobStore struct {
	endpoint string
	cred     *azblob.SharedKeyCredential
	client   *azblob.Client
	leaseKey func(tenant string) ([]byte, error)
}

func newBlobStore(o BlobOptions, leaseKey func(string) ([]byte, error)) (*blobStore, error) {
	u, err := url.Parse(o.Endpoint)
	switch {
	case o.Endpoint == "":
		return nil, errors.New("blob storage: no endpoint given")
	case err != nil || u.Host == "":
		return nil, fmt.Errorf("blob storage: endpoint %q is not a URL", o.Endpoint)
	case u.Scheme != "https":
		return nil, fmt.Errorf("blob storage: endpoint %q is not https; attachments never travel in plain text", o.Endpoint)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("blob storage: endpoint %q: give the service URL alone, without a query, SAS or user", o.Endpoint)
	case o.Account == "":
		return nil, errors.New("blob storage: no account name given")
	case o.Key == "":
		return nil, fmt.Errorf("blob storage: no account key; set %s in the environment", EnvBlobKey)
	}
	cred, err := azblob.NewSharedKeyCredential(o.Account, o.Key)
	if err != nil {
		// The SDK's message may quote the key; say only what is wrong.
		return nil, fmt.Errorf("blob storage: the account key in %s is not valid base64", EnvBlobKey)
	}
	endpoint := strings.TrimRight(o.Endpoint, "/")
	var co azblob.ClientOptions
	if o.HTTPClient != nil {
		co.ClientOptions = policy.ClientOptions{Transport: o.HTTPClient}
	}
	co.Retry = policy.RetryOptions{MaxRetries: 3, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 5 * time.Second}
	client, err := azblob.NewClientWithSharedKeyCredential(endpoint+"/", cred, &co)
	if err != nil {
		return nil, fmt.Errorf("blob storage: %w", err)
	}
	return &blobStore{endpoint: endpoint, cred: cred, client: client, leaseKey: leaseKey}, nil
}

// containerName is the container of a tenant's attachments: "ff-" and the tenant
// name where that is a valid container name, else "ff-" and a hash of it (tenant
// names allow "--", a trailing '-' and 63 characters; container names do not).
func containerName(tenant string) string {
	name := "ff-" + tenant
	if len(name) <= 63 && !strings.Contains(name, "--") && !strings.HasSuffix(name, "-") {
		return name
	}
	sum := sha256.Sum256([]byte("fieldforms-container\x00" + tenant))
	return "ff-" + hex.EncodeToString(sum[:16])
}

// blobName is an attachment's blob: derived from its SHA-256 alone, which the caller
// has checked is 64 lowercase hex digits. Nothing else a client sends goes into it.
func blobName(sha string) string { return "sha256-" + sha }

func (b *blobStore) blobClient(tenant, sha string) *blob.Client {
	return b.client.ServiceClient().NewContainerClient(containerName(tenant)).NewBlobClient(blobName(sha))
}

// ensureContainer creates the tenant's container if it is missing.
func (b *blobStore) ensureContainer(ctx context.Context, tenant string) error {
	_, err := b.client.ServiceClient().NewContainerClient(containerName(tenant)).Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("blob storage: create container %s: %w", containerName(tenant), quiet(err))
	}
	return nil
}

// sasURL signs a URL for one blob (sr=b) with the given permissions, HTTPS only,
// valid from a minute ago (clocks differ) until expires.
func (b *blobStore) sasURL(tenant, sha string, perms sas.BlobPermissions, now, expires time.Time) (string, error) {
	qp, err := sas.BlobSignatureValues{
		Protocol:      sas.ProtocolHTTPS,
		StartTime:     now.Add(-time.Minute).UTC(),
		ExpiryTime:    expires.UTC(),
		Permissions:   perms.String(),
		ContainerName: containerName(tenant),
		BlobName:      blobName(sha),
	}.SignWithSharedKey(b.cred)
	if err != nil {
		return "", fmt.Errorf("blob storage: sign SAS: %w", err)
	}
	return b.blobClient(tenant, sha).URL() + "?" + qp.Encode(), nil
}

// blobProps is what the server needs to know of a blob.
type blobProps struct {
	size int64
	etag string
}

// props reads a blob's size and ETag; ok is false when there is no such blob (or
// container).
func (b *blobStore) props(ctx context.Context, tenant, sha string) (p blobProps, ok bool, err error) {
	resp, err := b.blobClient(tenant, sha).GetProperties(ctx, nil)
	if isNotFound404(err) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("blob storage: properties of %s: %w", sha, quiet(err))
	}
	if resp.ContentLength != nil {
		p.size = *resp.ContentLength
	}
	if resp.ETag != nil {
		p.etag = string(*resp.ETag)
	}
	return p, true, nil
}

// leaseID is the ID of the infinite lease the server holds on each verified blob, so
// nobody holding a write SAS can change it afterwards. It is derived from the
// tenant's key: secret, and the same after a restart.
func (b *blobStore) leaseID(tenant, sha string) (string, error) {
	key, err := b.leaseKey(tenant)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("fieldforms-blob-lease-v1\x00" + sha))
	u := m.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x40 // a version 4 UUID, as Azure wants a GUID
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func (b *blobStore) leaseClient(tenant, sha string) (*lease.BlobClient, error) {
	id, err := b.leaseID(tenant, sha)
	if err != nil {
		return nil, err
	}
	return lease.NewBlobClient(b.blobClient(tenant, sha), &lease.BlobClientOptions{LeaseID: &id})
}

// Verification outcomes a device can act on.
var (
	errBlobMissing = errors.New("no uploaded blob")
	errBlobSize    = errors.New("blob size differs")
	errBlobHash    = errors.New("blob content differs")
)

// verify locks a blob with the server's lease, so it cannot change any more, then
// reads it whole and checks its size and SHA-256. A blob that fails is deleted, so
// the next prepare hands out a fresh upload URL. It returns the blob's ETag.
func (b *blobStore) verify(ctx context.Context, tenant, sha string, size int64) (string, error) {
	lc, err := b.leaseClient(tenant, sha)
	if err != nil {
		return "", err
	}
	_, err = lc.AcquireLease(ctx, -1, nil)
	if bloberror.HasCode(err, bloberror.LeaseAlreadyPresent) {
		// Someone else's lease (a write SAS allows taking one): break it and take ours.
		zero := int32(0)
		if _, err := lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: &zero}); err != nil && !isNotFound404(err) {
			return "", fmt.Errorf("blob storage: break a foreign lease on %s: %w", sha, quiet(err))
		}
		_, err = lc.AcquireLease(ctx, -1, nil)
	}
	if isNotFound404(err) {
		return "", errBlobMissing
	}
	if err != nil {
		return "", fmt.Errorf("blob storage: lease %s: %w", sha, quiet(err))
	}
	p, ok, err := b.props(ctx, tenant, sha)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errBlobMissing
	}
	fail := func(why error, format string, args ...any) (string, error) {
		if err := b.delete(ctx, tenant, sha); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%w: "+format, append([]any{why}, args...)...)
	}
	if p.size != size {
		return fail(errBlobSize, "the blob has %d bytes, %d were declared", p.size, size)
	}
	resp, err := b.blobClient(tenant, sha).DownloadStream(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("blob storage: read %s: %w", sha, quiet(err))
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(resp.Body, size+1))
	if err != nil {
		return "", fmt.Errorf("blob storage: read %s: %w", sha, quiet(err))
	}
	if n != size {
		return fail(errBlobSize, "the blob has %d bytes or more, %d were declared", n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fail(errBlobHash, "its SHA-256 is %s", got)
	}
	return p.etag, nil
}

// delete removes a blob, whoever leases it. A missing blob is no error.
func (b *blobStore) delete(ctx context.Context, tenant, sha string) error {
	id, err := b.leaseID(tenant, sha)
	if err != nil {
		return err
	}
	bc := b.blobClient(tenant, sha)
	_, err = bc.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{
		LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: &id}}})
	switch {
	case err == nil || isNotFound404(err):
		return nil
	case bloberror.HasCode(err, bloberror.LeaseNotPresentWithBlobOperation):
		_, err = bc.Delete(ctx, nil)
	case bloberror.HasCode(err, bloberror.LeaseIDMismatchWithBlobOperation):
		lc, lerr := b.leaseClient(tenant, sha)
		if lerr != nil {
			return lerr
		}
		zero := int32(0)
		if _, err := lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: &zero}); err != nil && !isNotFound404(err) {
			return fmt.Errorf("blob storage: break lease on %s: %w", sha, quiet(err))
		}
		_, err = bc.Delete(ctx, nil)
	}
	if err != nil && !isNotFound404(err) {
		return fmt.Errorf("blob storage: delete %s: %w", sha, quiet(err))
	}
	return nil
}

func isNotFound404(err error) bool {
	if err == nil {
		return false
	}
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return true
	}
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// quiet shortens the SDK's errors, which span many lines and repeat the request URL
// (never a SAS here: the server's calls are signed with the key in a header), to the
// status and error code.
func quiet(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("%d %s", re.StatusCode, re.ErrorCode)
	}
	return err
}
