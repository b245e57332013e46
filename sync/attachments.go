package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// blockSize is the size of each staged block of an upload: an upload killed midway
// resumes from the blocks already staged.
const blockSize = 1 << 20

// blockID names block i of a blob. Azure wants every block ID of a blob to have the
// same length; a fixed-width index gives the same IDs again after a restart, which is
// what lets an upload resume.
func blockID(i int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return base64.StdEncoding.EncodeToString(append([]byte("ffblk-"), b[:]...))
}

// uploadAttachments sends the bytes of every attachment still only on this device:
// prepare (the server answers "exists" or a write-only URL for that one blob),
// upload in blocks, commit (the server checks size and hash).
func (r *Replicator) uploadAttachments(ctx context.Context, c *Client) error {
	pending, err := r.st.Attachments(ctx, store.AttachLocal)
	if err != nil {
		return err
	}
	for i, a := range pending {
		r.update(func(s *Status) {
			s.Progress = &Progress{What: "uploading attachments", Done: i, Total: len(pending)}
		})
		if err := r.uploadOne(ctx, c, a); err != nil {
			return fmt.Errorf("attachment %s: %w", a.SHA256[:12], err)
		}
	}
	return nil
}

func (r *Replicator) uploadOne(ctx context.Context, c *Client, a store.AttachmentInfo) error {
	var prep wire.PrepareAttachmentResponse
	if _, err := c.Do(ctx, http.MethodPost, "/v1/attachments/prepare", nil, wire.PrepareAttachment{SHA256: a.SHA256, Size: a.Size, Type: a.Type}, &prep); err != nil {
		return err
	}
	if !prep.Exists {
		if err := r.putBlob(ctx, prep.UploadURL, a); err != nil {
			return err
		}
	}
	var done wire.CommitAttachmentResponse
	if _, err := c.Do(ctx, http.MethodPost, "/v1/attachments/commit", nil, wire.CommitAttachment{SHA256: a.SHA256, Size: a.Size}, &done); err != nil {
		return err
	}
	if !done.Present {
		return errors.New("the server did not confirm the upload")
	}
	return r.st.SetAttachmentState(ctx, a.SHA256, store.AttachUploaded)
}

// putBlob uploads a file as a block blob through a SAS URL, skipping the blocks a
// previous, interrupted upload already staged.
func (r *Replicator) putBlob(ctx context.Context, sasURL string, a store.AttachmentInfo) error {
	u, err := url.Parse(sasURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("upload URL is not https: %w", ErrPlainText)
	}
	bc, err := blockblob.NewClientWithNoCredential(sasURL, &blockblob.ClientOptions{ClientOptions: r.azOptions()})
	if err != nil {
		return err
	}
	// Blocks staged by an earlier, interrupted attempt are still on the blob (Azure
	// keeps uncommitted blocks for a week); the write-only SAS cannot list them, so
	// the replica remembers how many went up.
	progressKey := "upload/" + a.SHA256
	done := 0
	if b, _ := r.st.State(ctx, progressKey); b != nil {
		done, _ = strconv.Atoi(string(b))
	}
	f, err := r.st.OpenAttachment(a.SHA256)
	if err != nil {
		return err
	}
	defer f.Close()
	ids, err := r.stageBlocks(ctx, bc, f, done, progressKey)
	if err != nil {
		return err
	}
	if _, err := bc.CommitBlockList(ctx, ids, nil); err != nil {
		// The remembered blocks may be gone (expired): start over next time.
		_ = r.st.SetState(ctx, map[string][]byte{progressKey: nil})
		return fmt.Errorf("commit blocks: %w", err)
	}
	return r.st.SetState(ctx, map[string][]byte{progressKey: nil})
}

// stageBlocks uploads the file's blocks from number skip on, recording progress, and
// returns every block's ID.
func (r *Replicator) stageBlocks(ctx context.Context, bc *blockblob.Client, f io.Reader, skip int, progressKey string) ([]string, error) {
	var ids []string
	buf := make([]byte, blockSize)
	for i := 0; ; i++ {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			id := blockID(i)
			ids = append(ids, id)
			if i >= skip {
				if _, err := bc.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(buf[:n])), nil); err != nil {
					return nil, fmt.Errorf("stage block %d: %w", i, err)
				}
				if err := r.st.SetState(ctx, map[string][]byte{progressKey: []byte(strconv.Itoa(i + 1))}); err != nil {
					return nil, err
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (r *Replicator) azOptions() policy.ClientOptions {
	// The replicator retries with its own backoff; the SDK's own retries are kept short
	// so a lost connection is reported, not waited out.
	opts := policy.ClientOptions{Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second}}
	if r.opts.Client.BlobTransport != nil {
		opts.Transport = &http.Client{Transport: r.opts.Client.BlobTransport}
	} else if r.opts.Client.RootCAs != nil {
		if cfg, err := TLSConfig(Credential{}, r.opts.Client.RootCAs); err == nil {
			opts.Transport = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		}
	}
	return opts
}

// FetchAttachment downloads an attachment this replica lacks through a read-only URL
// from the server, checks its SHA-256 and keeps it. Downloads are lazy: nothing is
// fetched until someone opens it.
func FetchAttachment(ctx context.Context, st *store.Store, sha string, opts ClientOptions) error {
	cred, err := LoadCredential(ctx, st)
	if err != nil {
		return err
	}
	c, err := NewClient(cred, opts)
	if err != nil {
		return err
	}
	var link wire.AttachmentURL
	if _, err := c.Do(ctx, http.MethodGet, "/v1/attachments/"+url.PathEscape(sha), nil, nil, &link); err != nil {
		return err
	}
	u, err := url.Parse(link.URL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("download URL is not https: %w", ErrPlainText)
	}
	bc, err := blockblob.NewClientWithNoCredential(link.URL, &blockblob.ClientOptions{ClientOptions: (&Replicator{opts: Options{Client: opts}}).azOptions()})
	if err != nil {
		return err
	}
	resp, err := bc.DownloadStream(ctx, nil)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	body := resp.Body
	defer body.Close()
	tmp, err := os.CreateTemp("", "fieldforms-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, store.MaxAttachmentBytes+1)); err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return fmt.Errorf("download: the bytes hash to %s, not %s; discarded", got[:12], sha[:12])
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	info, _ := st.Attachment(ctx, sha)
	a, err := st.PutAttachment(ctx, tmp, nonEmpty(info.Type, "application/octet-stream"), "")
	if err != nil {
		return err
	}
	if a.SHA256 != sha {
		return errors.New("download: stored bytes changed")
	}
	return st.SetAttachmentState(ctx, sha, store.AttachUploaded)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
