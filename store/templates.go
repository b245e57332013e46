package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"

	"github.com/fieldforms/fieldforms/form"
	bolt "go.etcd.io/bbolt"
)

func templateKey(k form.TemplateKey) []byte {
	return append(append([]byte(k.ID), 0), u32(uint32(k.Version))...)
}

// ErrTemplateConflict: a template version already exists with different content.
// Versions are immutable: a changed template is a new version.
var ErrTemplateConflict = errors.New("template version already exists with different content")

// PutTemplate saves a template version. Saving the same version again with the same
// content changes nothing; with other content it is ErrTemplateConflict.
func (s *Store) PutTemplate(ctx context.Context, t *form.Template) error {
	// Check (and compile) it as loading will: a template built in Go is not checked,
	// and an invalid one stored would stop the replica from opening.
	t, err := form.ParseTemplate(t.Encode())
	if err != nil {
		return fmt.Errorf("put template: %w", err)
	}
	data := t.Encode()
	// The same version held already: nothing to write (the samples are offered at
	// every start).
	s.tmu.RLock()
	old, ok := s.templates[t.Key()]
	s.tmu.RUnlock()
	if ok && bytes.Equal(old.Encode(), data) {
		return nil
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTemplates)
		k := templateKey(t.Key())
		if old := b.Get(k); old != nil {
			if string(old) == string(data) {
				return nil
			}
			return fmt.Errorf("put template %s: %w", t.Key(), ErrTemplateConflict)
		}
		return b.Put(k, data)
	})
	if err != nil {
		return err
	}
	s.tmu.Lock()
	s.templates[t.Key()] = t
	s.templatesTag = ""
	s.tmu.Unlock()
	return nil
}

// Template returns one version of a template.
func (s *Store) Template(k form.TemplateKey) (*form.Template, error) {
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	t, ok := s.templates[k]
	if !ok {
		return nil, fmt.Errorf("template %s: %w", k, ErrUnknownTemplate)
	}
	return t, nil
}

// LatestTemplate returns the highest version of a template.
func (s *Store) LatestTemplate(id string) (*form.Template, error) {
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	var best *form.Template
	for k, t := range s.templates {
		if k.ID == id && (best == nil || k.Version > best.Version) {
			best = t
		}
	}
	if best == nil {
		return nil, fmt.Errorf("template %q: %w", id, ErrUnknownTemplate)
	}
	return best, nil
}

// Templates lists every template version, by ID then version.
func (s *Store) Templates() []*form.Template {
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	out := make([]*form.Template, 0, len(s.templates))
	for _, t := range s.templates {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func (s *Store) loadTemplates() error {
	return s.dbView(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTemplates).ForEach(func(k, v []byte) error {
			t, err := form.ParseTemplate(v)
			if err != nil {
				return fmt.Errorf("load template %q: %w: %v", k, ErrCorrupt, err)
			}
			s.templates[t.Key()] = t
			return nil
		})
	})
}

// TemplatesTag is a short hash of every template version the replica holds: equal on
// two replicas that hold the same templates. A server sends it with every answer so a
// device asks for the templates only when they changed.
func (s *Store) TemplatesTag() string {
	s.tmu.RLock()
	tag := s.templatesTag
	s.tmu.RUnlock()
	if tag != "" {
		return tag
	}
	h := sha256.New()
	for _, t := range s.Templates() {
		sum := sha256.Sum256(t.Encode())
		h.Write(sum[:])
	}
	tag = hex.EncodeToString(h.Sum(nil)[:12])
	s.tmu.Lock()
	s.templatesTag = tag
	s.tmu.Unlock()
	return tag
}

// NumberVersion gives a template made outside the replica (imported from an
// XLSForm, say) its version number, from its version label, as ODK Central does
// with form versions: a new template ID starts at 1; a label the replica already
// holds with the same content is that version (same is true); a new label is the
// next version. A label already used with other content is ErrTemplateConflict: a
// changed form needs a new version label. The template's own Version is ignored.
func (s *Store) NumberVersion(t *form.Template) (numbered *form.Template, same bool, err error) {
	latest := 0
	for _, old := range s.Templates() {
		if old.ID != t.ID {
			continue
		}
		latest = max(latest, old.Version)
		if old.VersionLabel != t.VersionLabel {
			continue
		}
		c := *t
		c.Version = old.Version
		cand, err := form.ParseTemplate(c.Encode())
		if err != nil {
			return nil, false, fmt.Errorf("number template %s: %w", t.ID, err)
		}
		if string(cand.Encode()) == string(old.Encode()) {
			return old, true, nil
		}
		label := t.VersionLabel
		if label == "" {
			label = "(none)"
		}
		return nil, false, fmt.Errorf("template %s: version %s (%s): %w; give the changed form a new version", t.ID, label, old.Key(), ErrTemplateConflict)
	}
	c := *t
	c.Version = latest + 1
	numbered, err = form.ParseTemplate(c.Encode())
	if err != nil {
		return nil, false, fmt.Errorf("number template %s: %w", t.ID, err)
	}
	return numbered, false, nil
}
