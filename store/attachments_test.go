package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestAttachments: bytes are stored under their SHA-256, durable before a record can
// refer to them; unknown hashes are ErrNotFound.
func TestAttachments(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock(clockEpoch)
	s := openReplica(t, t.TempDir(), "dev-att", clk)
	photo := bytes.Repeat([]byte("\x89PNG fake image data "), 5000)
	sum := sha(photo)

	a, err := s.PutAttachment(ctx, bytes.NewReader(photo), "image/png", "pump.png")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OK_Stored", func(t *testing.T) {
		if a.SHA256 != sum || a.Size != int64(len(photo)) || a.Type != "image/png" || a.Name != "pump.png" {
			t.Fatalf("attachment %+v", a)
		}
		path := s.AttachmentPath(sum)
		if !strings.HasPrefix(path, filepath.Join(s.Dir(), store.AttachmentsDir)) || filepath.Base(path) != sum {
			t.Fatalf("path %s", path)
		}
		onDisk, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(onDisk, photo) || sha(onDisk) != sum {
			t.Fatalf("file content: %v", err)
		}
		f, err := s.OpenAttachment(sum)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, photo) {
			t.Fatalf("OpenAttachment content: %v", err)
		}
		info, err := s.Attachment(ctx, sum)
		if err != nil {
			t.Fatal(err)
		}
		if info.SHA256 != sum || info.Size != int64(len(photo)) || info.Type != "image/png" || info.State != store.AttachLocal ||
			!info.Present || !info.Added.Equal(clk.Now()) {
			t.Fatalf("info %+v", info)
		}
		// No temporary files are left behind.
		entries, _ := os.ReadDir(filepath.Join(s.Dir(), store.AttachmentsDir))
		for _, e := range entries {
			if !e.IsDir() {
				t.Errorf("stray file %s", e.Name())
			}
		}
	})
	t.Run("OK_SameBytesTwice", func(t *testing.T) {
		clk.Advance(time.Hour)
		b, err := s.PutAttachment(ctx, bytes.NewReader(photo), "image/png", "again.png")
		if err != nil {
			t.Fatal(err)
		}
		if b.SHA256 != sum || b.Name != "again.png" {
			t.Fatalf("%+v", b)
		}
		list, err := s.Attachments(ctx, "")
		if err != nil || len(list) != 1 {
			t.Fatalf("attachments %+v %v", list, err)
		}
		if info, _ := s.Attachment(ctx, sum); !info.Added.Equal(clk.Now().Add(-time.Hour)) {
			t.Fatalf("a second put rewrote the info: %+v", info)
		}
	})
	t.Run("OK_Empty", func(t *testing.T) {
		e, err := s.PutAttachment(ctx, bytes.NewReader(nil), "text/plain", "empty.txt")
		if err != nil || e.SHA256 != sha(nil) || e.Size != 0 {
			t.Fatalf("%+v %v", e, err)
		}
	})
	t.Run("OK_RecordRefersToIt", func(t *testing.T) {
		sig, err := s.PutAttachment(ctx, strings.NewReader("signature png"), "image/png", "")
		if err != nil {
			t.Fatal(err)
		}
		r := mustSave(t, s, store.Edit{Template: inspection, Author: "ana", Values: vals(
			"photos", []form.Attachment{a}, "signature", sig, "notes", "with a photo")})
		if !strings.Contains(string(r.Value("photos")), sum) || !strings.Contains(string(r.Value("signature")), sig.SHA256) {
			t.Fatalf("record %s", r.Encode())
		}
		// The file name is searchable.
		p, err := s.Search(ctx, store.Query{Text: "pump"})
		if err != nil || p.Total != 1 || p.Items[0].ID != r.ID {
			t.Fatalf("search by file name: %+v %v", p, err)
		}
	})
	t.Run("OK_State", func(t *testing.T) {
		if err := s.SetAttachmentState(ctx, sum, store.AttachUploaded); err != nil {
			t.Fatal(err)
		}
		up, _ := s.Attachments(ctx, store.AttachUploaded)
		local, _ := s.Attachments(ctx, store.AttachLocal)
		if len(up) != 1 || up[0].SHA256 != sum || len(local) != 2 {
			t.Fatalf("uploaded %+v local %+v", up, local)
		}
		// Storing the bytes again keeps the uploaded state.
		if _, err := s.PutAttachment(ctx, bytes.NewReader(photo), "image/png", "x.png"); err != nil {
			t.Fatal(err)
		}
		if info, _ := s.Attachment(ctx, sum); info.State != store.AttachUploaded {
			t.Fatalf("state %s", info.State)
		}
	})

	unknown := sha([]byte("never stored"))
	t.Run("ErrNotFound_OpenUnknown", func(t *testing.T) {
		if _, err := s.OpenAttachment(unknown); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
		if _, err := s.Attachment(ctx, unknown); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
		if err := s.SetAttachmentState(ctx, unknown, store.AttachUploaded); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ErrBadInput_OpenMalformedHash", func(t *testing.T) {
		for _, h := range []string{"", "ab", strings.ToUpper(sum), "../../" + sum[6:], sum + "00"} {
			if _, err := s.OpenAttachment(h); !errors.Is(err, store.ErrBadInput) {
				t.Errorf("OpenAttachment(%q): %v, want ErrBadInput", h, err)
			}
		}
	})
	t.Run("ErrBadInput_Put", func(t *testing.T) {
		before := stateOf(t, s)
		for _, c := range []struct{ typ, name string }{{"", "a.png"}, {"png", "a.png"}, {"image/png", "../a.png"}, {"image/png", `a\b.png`}} {
			if _, err := s.PutAttachment(ctx, strings.NewReader("bad"), c.typ, c.name); !errors.Is(err, store.ErrBadInput) {
				t.Errorf("put %+v: %v, want ErrBadInput", c, err)
			}
		}
		if after := stateOf(t, s); !sameState(before, after) {
			t.Fatalf("refused puts changed the replica")
		}
		if _, err := os.Stat(s.AttachmentPath(sha([]byte("bad")))); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused put left its bytes: %v", err)
		}
	})
	t.Run("ErrNotFound_RecordRefersToUnknown", func(t *testing.T) {
		before := stateOf(t, s)
		_, err := s.Save(ctx, store.Edit{Template: inspection, Author: "ana", Values: vals(
			"photos", []form.Attachment{{SHA256: unknown, Size: 3, Type: "image/jpeg"}})})
		if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), unknown) || !strings.Contains(err.Error(), `"photos"`) {
			t.Fatalf("got %v", err)
		}
		if after := stateOf(t, s); !sameState(before, after) {
			t.Fatal("changed")
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.PutAttachment(cctx, strings.NewReader("cancelled bytes"), "text/plain", "c.txt"); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if _, err := s.Attachment(ctx, sha([]byte("cancelled bytes"))); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a cancelled put was recorded: %v", err)
		}
	})
}
