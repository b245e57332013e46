package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpointer signs checkpoints of a replica's audit tree and keeps the latest one
// apart from the replica, where a tamperer with the replica's files cannot roll it
// back. A device keeps a key of its own (KeyDir); a server signs each tenant's
// checkpoints with the tenant key. device is the replica's device ID.
type Checkpointer interface {
	// Sign returns a signed note (golang.org/x/mod/sumdb/note) of the tree, whose
	// text is tlog.FormatTree(tree).
	Sign(ctx context.Context, device string, tree tlog.Tree) ([]byte, error)
	// Verify checks a note's signature and returns the tree it signs.
	Verify(ctx context.Context, device string, signed []byte) (tlog.Tree, error)
	// Keep keeps signed, a checkpoint the replica has made durable, as the latest.
	Keep(ctx context.Context, device string, signed []byte) error
	// Latest returns the checkpoint kept last; nil when none was.
	Latest(ctx context.Context, device string) ([]byte, error)
}

// KeyDirEnv overrides the folder device keys and checkpoints are kept in.
const KeyDirEnv = "FIELDFORMS_KEY_DIR"

// DefaultKeyDir is where a device keeps its checkpoint keys, outside any replica's
// folder: $FIELDFORMS_KEY_DIR, else Fieldforms/keys under the user's config folder.
func DefaultKeyDir() (string, error) {
	if d := os.Getenv(KeyDirEnv); d != "" {
		return d, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("key folder: %w", err)
	}
	return filepath.Join(cfg, "Fieldforms", "keys"), nil
}

// KeyDir is a Checkpointer for a device: under Dir/<device>/ it keeps an Ed25519 note
// key (made on the first Sign: "key", and "key.pub" for verifiers) and the latest
// checkpoint ("checkpoint").
type KeyDir struct{ Dir string }

func (k KeyDir) dir(device string) (string, error) {
	if !validDeviceName(device) {
		return "", fmt.Errorf("checkpoint key: %w: device %q", ErrBadInput, device)
	}
	return filepath.Join(k.Dir, device), nil
}

func validDeviceName(d string) bool {
	return d != "" && !strings.ContainsAny(d, "/\\+: \t\r\n") && d != "." && d != ".."
}

// keyName is the signer's name in a device's notes.
func keyName(device string) string { return "fieldforms-device/" + device }

// Sign signs tree with the device's key, making the key when it has none.
func (k KeyDir) Sign(ctx context.Context, device string, tree tlog.Tree) ([]byte, error) {
	dir, err := k.dir(device)
	if err != nil {
		return nil, err
	}
	skey, err := os.ReadFile(filepath.Join(dir, "key"))
	if errors.Is(err, os.ErrNotExist) {
		sk, vk, gerr := note.GenerateKey(rand.Reader, keyName(device))
		if gerr != nil {
			return nil, fmt.Errorf("checkpoint key: %w", gerr)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("checkpoint key: %w", err)
		}
		// The public key first: a key without it could sign what nobody can check.
		if err := writeFileSync(filepath.Join(dir, "key.pub"), []byte(vk)); err != nil {
			return nil, fmt.Errorf("checkpoint key: %w", err)
		}
		if err := writeFileSync(filepath.Join(dir, "key"), []byte(sk)); err != nil {
			return nil, fmt.Errorf("checkpoint key: %w", err)
		}
		skey, err = []byte(sk), nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", filepath.Join(dir, "key"), err)
	}
	msg, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tree))}, signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// Verify checks a checkpoint against the device's public key.
func (k KeyDir) Verify(ctx context.Context, device string, signed []byte) (tlog.Tree, error) {
	dir, err := k.dir(device)
	if err != nil {
		return tlog.Tree{}, err
	}
	vkey, err := os.ReadFile(filepath.Join(dir, "key.pub"))
	if errors.Is(err, os.ErrNotExist) {
		return tlog.Tree{}, fmt.Errorf("%w in %s", ErrNoCheckpointKey, dir)
	}
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint key: %w", err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("checkpoint key %s: %w", filepath.Join(dir, "key.pub"), err)
	}
	return OpenCheckpoint(signed, note.VerifierList(v))
}

// OpenCheckpoint checks a signed checkpoint note against known verifiers and returns
// the tree it signs.
func OpenCheckpoint(signed []byte, known note.Verifiers) (tlog.Tree, error) {
	n, err := note.Open(signed, known)
	if err != nil {
		return tlog.Tree{}, err
	}
	t, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return tlog.Tree{}, err
	}
	return t, nil
}

// Keep writes the checkpoint as the device's latest, atomically.
func (k KeyDir) Keep(ctx context.Context, device string, signed []byte) error {
	dir, err := k.dir(device)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keep checkpoint: %w", err)
	}
	if err := writeFileSync(filepath.Join(dir, "checkpoint"), signed); err != nil {
		return fmt.Errorf("keep checkpoint: %w", err)
	}
	return nil
}

// Latest reads the device's latest checkpoint; nil when none was kept.
func (k KeyDir) Latest(ctx context.Context, device string) ([]byte, error) {
	dir, err := k.dir(device)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	return b, nil
}

// writeFileSync writes a file through a temporary one, fsynced and renamed.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// metaCheckpoint holds the latest signed checkpoint in the replica.
var metaCheckpoint = []byte("checkpoint")

// checkpoints is a store's signing state.
type checkpoints struct {
	cp    Checkpointer
	every time.Duration

	mu      sync.Mutex
	last    time.Time // when the latest was signed
	signedN int64     // size of the latest checkpoint signed or found valid
	mark    int64     // the largest size a valid checkpoint signs: never sign below
}

// metaRestored marks a replica put back to a snapshot (RestoreSnapshot): its trail
// is shorter than the checkpoint kept apart, by the user's choice.
var metaRestored = []byte("audit_restored")

// ErrNoCheckpointKey: the signer holds no key for the replica (a replica moved to
// another computer, a new key folder): its checkpoints cannot be checked here.
var ErrNoCheckpointKey = errors.New("no checkpoint key for this replica")

// openCheckpoints reads the replica's checkpoint and the one kept apart, and returns
// the largest tree size a valid one signs: audit numbers up to it are taken. A
// replica restored from a snapshot records the roll-back in its trail instead.
func (s *Store) openCheckpoints(ctx context.Context) (int64, error) {
	c := &s.cps
	if c.cp == nil {
		return 0, nil
	}
	var inFile []byte
	restored := false
	var size int64
	if err := s.dbView(func(tx *bolt.Tx) error {
		inFile = append([]byte(nil), tx.Bucket(bucketMeta).Get(metaCheckpoint)...)
		restored = tx.Bucket(bucketMeta).Get(metaRestored) != nil
		size = treeSize(tx)
		return nil
	}); err != nil {
		return 0, err
	}
	apart, err := c.cp.Latest(ctx, s.device)
	if err != nil {
		s.log.Warn("the checkpoint kept apart cannot be read", "err", err)
	}
	c.mu.Lock()
	var apartTree tlog.Tree
	for i, signed := range [][]byte{inFile, apart} {
		if len(signed) == 0 {
			continue
		}
		t, err := c.cp.Verify(ctx, s.device, signed)
		if err != nil {
			s.log.Warn("a checkpoint does not verify; run verify", "kept", []string{"in the replica", "apart"}[i], "err", err)
			continue
		}
		if i == 0 {
			c.signedN = t.N
			c.mark = max(c.mark, t.N)
		} else {
			apartTree = t
		}
	}
	c.mu.Unlock()
	if !restored || apartTree.N <= size {
		c.mu.Lock()
		c.mark = max(c.mark, apartTree.N)
		c.mu.Unlock()
		if restored {
			return c.mark, s.dbUpdate(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaRestored) })
		}
		return c.mark, nil
	}
	// Restored from a snapshot: the entries after it are gone by the user's choice.
	// The trail says so, and the checkpoint kept apart moves to the restored tree.
	var signed []byte
	err = s.dbUpdate(func(tx *bolt.Tx) error {
		s.nextAudit = max(lastKey(tx.Bucket(bucketAudit)), uint64(treeSize(tx))) + 1
		e := AuditEntry{Device: s.device, Action: ActionRollback,
			Note: fmt.Sprintf("replica restored from a snapshot: the trail goes back from %d entries (checkpoint %s) to %d", apartTree.N, apartTree.Hash, size)}
		if err := s.appendAuditTx(tx, e); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMeta).Delete(metaRestored); err != nil {
			return err
		}
		c.mu.Lock()
		c.mark, c.signedN = 0, 0
		c.mu.Unlock()
		var err error
		signed, err = s.signCheckpoint(ctx, tx, true)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("record the restore in the audit trail: %w", err)
	}
	s.keepCheckpoint(ctx, signed)
	return 0, nil
}

// signCheckpoint signs the audit tree as tx leaves it and keeps the note in the
// replica, when one is due (force: whenever the tree grew). It returns the note, to
// be kept apart once tx is committed. A signer's failure is logged, not returned: the
// batch it follows stands.
func (s *Store) signCheckpoint(ctx context.Context, tx *bolt.Tx, force bool) ([]byte, error) {
	c := &s.cps
	if c.cp == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !force && time.Since(c.last) < c.every {
		return nil, nil
	}
	n := treeSize(tx)
	if n == 0 || n <= c.signedN || n < c.mark {
		// Nothing new, or a tree below a signed checkpoint: a cut or a roll-back,
		// which verification names; signing it would hide it.
		return nil, nil
	}
	h, err := tlog.TreeHash(n, treeReader{tx.Bucket(bucketAuditTree)})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	signed, err := c.cp.Sign(ctx, s.device, tlog.Tree{N: n, Hash: h})
	if err != nil {
		s.log.Warn("signing an audit checkpoint failed", "entries", n, "err", err)
		return nil, nil
	}
	if err := tx.Bucket(bucketMeta).Put(metaCheckpoint, signed); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c.last, c.signedN = time.Now(), n
	return signed, nil
}

// keepCheckpoint hands a committed checkpoint to the signer to keep apart.
func (s *Store) keepCheckpoint(ctx context.Context, signed []byte) {
	if signed == nil {
		return
	}
	if err := s.cps.cp.Keep(ctx, s.device, signed); err != nil {
		s.log.Warn("keeping the audit checkpoint apart failed", "err", err)
		return
	}
	t, err := tlog.ParseTree(signedText(signed))
	if err == nil {
		s.cps.mu.Lock()
		s.cps.mark = max(s.cps.mark, t.N)
		s.cps.mu.Unlock()
	}
}

// signedText is a note's text, without its signatures.
func signedText(signed []byte) []byte {
	if i := bytes.Index(signed, []byte("\n\n")); i >= 0 {
		return signed[:i+1]
	}
	return signed
}
