package sync_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/internal/azurite"
	"github.com/fieldforms/fieldforms/server"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync"
)

// blockFaults fails block uploads after a number of them, as a connection lost in the
// middle of an upload would; it counts the blocks that reach the blob service.
type blockFaults struct {
	next      http.RoundTripper
	failAfter atomic.Int64 // <0: never
	blocks    atomic.Int64
}

func (f *blockFaults) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && strings.Contains(req.URL.RawQuery, "comp=block") && !strings.Contains(req.URL.RawQuery, "blocklist") {
		if n := f.failAfter.Load(); n >= 0 && f.blocks.Load() >= n {
			return nil, errors.New("connection lost midway through the upload")
		}
		f.blocks.Add(1)
	}
	return f.next.RoundTrip(req)
}

// An attachment goes up in blocks through a single-blob SAS; an upload cut midway
// resumes from the blocks already there with a new SAS; the server checks the hash
// before it counts the blob; another device fetches it when opened and checks it too.
func TestAttachmentsUploadResumeAndFetch(t *testing.T) {
	az := azurite.StartTLS(t)
	c := newCluster(t, func(o *server.Options) {
		o.Blob = &server.BlobOptions{Endpoint: az.Endpoint, Account: az.Account, Key: az.Key, HTTPClient: az.HTTPClient()}
	})
	ctx := context.Background()
	roots := az.HTTPClient().Transport.(*http.Transport).TLSClientConfig.RootCAs
	a, b := c.addDevice("a"), c.addDevice("b")

	data := make([]byte, 3<<20+12345) // four blocks
	rand.Read(data)
	att, err := a.st.PutAttachment(ctx, bytes.NewReader(data), "application/pdf", "report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	val, _ := json.Marshal([]form.Attachment{att})
	r := a.save(t, "", map[string]string{"site": `"S-1"`, "photos": string(val)})

	faults := &blockFaults{next: az.HTTPClient().Transport}
	faults.failAfter.Store(2)
	rep := sync.New(a.st, sync.Options{Client: sync.ClientOptions{BlobTransport: faults}})
	// The upload is cut after two blocks: the record syncs all the same, and the
	// attachment stays pending.
	if _, err := rep.SyncOnce(ctx); err != nil {
		t.Fatalf("sync with a cut upload: %v", err)
	}
	if info, _ := a.st.Attachment(ctx, att.SHA256); info.State != store.AttachLocal {
		t.Fatalf("after a cut upload the attachment is %q", info.State)
	}
	if !strings.Contains(rep.Status().Message, "attachments waiting") {
		t.Fatalf("status does not say attachments wait: %+v", rep.Status())
	}
	// The next sync resumes: only the missing blocks go up.
	faults.failAfter.Store(-1)
	before := faults.blocks.Load()
	if _, err := rep.SyncOnce(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if sent := faults.blocks.Load() - before; sent != 2 {
		t.Fatalf("resumed upload sent %d blocks, want the 2 missing", sent)
	}
	if info, _ := a.st.Attachment(ctx, att.SHA256); info.State != store.AttachUploaded {
		t.Fatalf("after the resumed upload the attachment is %q", info.State)
	}

	// Device b gets the record, then the bytes when it opens them, checked.
	b.sync(t)
	got, err := b.st.Get(ctx, r.ID)
	if err != nil || string(got.Value("photos")) != string(val) {
		t.Fatalf("record on b: %v %s", err, got.Value("photos"))
	}
	if _, err := b.st.OpenAttachment(att.SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("b holds the bytes before opening them: %v", err)
	}
	if err := sync.FetchAttachment(ctx, b.st, att.SHA256, sync.ClientOptions{RootCAs: roots}); err != nil {
		t.Fatalf("fetch: %v", err)
	}
	f, err := b.st.OpenAttachment(att.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	if hex.EncodeToString(h.Sum(nil)) != att.SHA256 {
		t.Fatal("fetched bytes differ")
	}
}
