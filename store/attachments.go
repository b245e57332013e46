package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

// MaxAttachmentBytes bounds one attachment.
const MaxAttachmentBytes = 256 << 20

// Attachment states.
const (
	AttachLocal    = "local"    // bytes here, not yet in blob storage
	AttachUploaded = "uploaded" // committed to blob storage (bytes may also be here)
	AttachRemote   = "remote"   // known from a record; bytes only in blob storage
)

// AttachmentInfo is what the replica knows of one attachment.
type AttachmentInfo struct {
	SHA256  string    `json:"sha256"`
	Size    int64     `json:"size"`
	Type    string    `json:"type"`
	State   string    `json:"state"`
	Added   time.Time `json:"added"`
	Present bool      `json:"-"` // the bytes are in this replica's folder
}

// AttachmentPath is where an attachment's bytes live once stored.
func (s *Store) AttachmentPath(sha string) string {
	return filepath.Join(s.dir, AttachmentsDir, sha[:2], sha)
}

// PutAttachment stores bytes by their SHA-256: to a temporary file, fsynced, renamed
// into place and the folder fsynced, so a record that refers to them can only commit
// after they are durable. Storing the same bytes twice is harmless.
func (s *Store) PutAttachment(ctx context.Context, r io.Reader, mediaType, name string) (form.Attachment, error) {
	a := form.Attachment{Type: mediaType, Name: name}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, AttachmentsDir), ".incoming-*")
	if err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, MaxAttachmentBytes+1))
	if err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	if n > MaxAttachmentBytes {
		return a, fmt.Errorf("put attachment: %w: larger than %d bytes", ErrBadInput, MaxAttachmentBytes)
	}
	if err := ctx.Err(); err != nil {
		return a, err
	}
	a.SHA256, a.Size = hex.EncodeToString(h.Sum(nil)), n
	if err := checkAttachmentValue(a); err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	dst := s.AttachmentPath(a.SHA256)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttachments)
		if old := b.Get([]byte(a.SHA256)); old != nil {
			var info AttachmentInfo
			if json.Unmarshal(old, &info) == nil && info.State != AttachRemote {
				return nil
			}
		}
		v, _ := json.Marshal(AttachmentInfo{SHA256: a.SHA256, Size: a.Size, Type: a.Type, State: AttachLocal, Added: s.now().UTC()})
		return b.Put([]byte(a.SHA256), v)
	})
	if err != nil {
		return a, fmt.Errorf("put attachment: %w", err)
	}
	return a, nil
}

func checkAttachmentValue(a form.Attachment) error {
	switch {
	case a.Type == "" || len(a.Type) > 255 || !strings.Contains(a.Type, "/"):
		return fmt.Errorf("%w: media type %q", ErrBadInput, a.Type)
	case len(a.Name) > 255 || strings.ContainsAny(a.Name, "/\\\x00"):
		return fmt.Errorf("%w: file name %q is not a plain name", ErrBadInput, a.Name)
	}
	return nil
}

// syncDir fsyncs a folder so a rename in it is durable. Some systems cannot open a
// folder for syncing; there the rename is as durable as the system makes it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !isUnsupported(err) {
		return err
	}
	return nil
}

// OpenAttachment opens an attachment's bytes stored in this replica.
func (s *Store) OpenAttachment(sha string) (*os.File, error) {
	if !validHex64(sha) {
		return nil, fmt.Errorf("open attachment %q: %w", sha, ErrBadInput)
	}
	f, err := os.Open(s.AttachmentPath(sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open attachment %s: %w", sha, ErrNotFound)
	}
	return f, err
}

// Attachment returns what the replica knows of an attachment.
func (s *Store) Attachment(ctx context.Context, sha string) (AttachmentInfo, error) {
	var info AttachmentInfo
	err := s.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAttachments).Get([]byte(sha))
		if v == nil {
			return fmt.Errorf("attachment %s: %w", sha, ErrNotFound)
		}
		return json.Unmarshal(v, &info)
	})
	if err == nil {
		_, statErr := os.Stat(s.AttachmentPath(sha))
		info.Present = statErr == nil
	}
	return info, err
}

// Attachments lists attachments in a state ("" for all), by hash.
func (s *Store) Attachments(ctx context.Context, state string) ([]AttachmentInfo, error) {
	var out []AttachmentInfo
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAttachments).ForEach(func(k, v []byte) error {
			var info AttachmentInfo
			if err := json.Unmarshal(v, &info); err != nil {
				return fmt.Errorf("attachment %s: %w", k, err)
			}
			if state == "" || info.State == state {
				out = append(out, info)
			}
			return nil
		})
	})
	return out, err
}

// SetAttachmentState records an attachment's upload state.
func (s *Store) SetAttachmentState(ctx context.Context, sha, state string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttachments)
		v := b.Get([]byte(sha))
		if v == nil {
			return fmt.Errorf("attachment %s: %w", sha, ErrNotFound)
		}
		var info AttachmentInfo
		if err := json.Unmarshal(v, &info); err != nil {
			return err
		}
		info.State = state
		nv, _ := json.Marshal(info)
		return b.Put([]byte(sha), nv)
	})
}

// checkAttachmentsKnown refuses a save that refers to attachment bytes this replica
// never stored: the record would point at nothing.
func (s *Store) checkAttachmentsKnown(tpl *form.Template, vals form.Values) error {
	var missing []string
	err := s.dbView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttachments)
		for id, v := range vals {
			for _, a := range attachmentsOf(tpl, id, v) {
				if b.Get([]byte(a.SHA256)) == nil {
					missing = append(missing, fmt.Sprintf("field %q: attachment %s", id, a.SHA256))
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s is not stored in this replica; add the file first", ErrNotFound, missing[0])
	}
	return nil
}

// attachmentsOf returns the attachments a value refers to.
func attachmentsOf(tpl *form.Template, field string, v json.RawMessage) []form.Attachment {
	f, ok := tpl.Field(field)
	if !ok || form.IsEmpty(v) {
		return nil
	}
	switch f.Type {
	case form.TypeSignature:
		var a form.Attachment
		if json.Unmarshal(v, &a) == nil {
			return []form.Attachment{a}
		}
	case form.TypePhoto, form.TypeFile, form.TypeAudio, form.TypeVideo:
		var list []form.Attachment
		if json.Unmarshal(v, &list) == nil {
			return list
		}
	}
	return nil
}

func validHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == toLowerASCII(s)
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
