package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witnessing the server's audit trail (wire/checkpoint.go).
//
// After each sync the device asks for the tenant's signed checkpoint with a
// consistency proof from the size it last verified, checks the signature with the
// tenant's checkpoint key and the proof against its own last checkpoint, and keeps
// the new one. The key comes with the credential at enrolment; a device enrolled by
// a server of an earlier release pins the key the server first shows it (trust on
// first use: the same TLS-pinned server it enrolled with, and the key never changes
// for a tenant, so a later substitution is caught).
//
// A checkpoint of a smaller size in the same epoch (the trail was cut), of another
// root at the same size or with a proof that fails (rewritten), with a bad signature
// (forged), or refused by the server itself (its data was replaced outside a
// restore) raises the alarm: a log line, Report.AuditAlarm, Status.Audit and the
// state key keyWitnessAlarm, which `fieldforms status` shows. The device keeps the
// checkpoint it had as evidence, never the bad one, and records keep syncing. A new
// epoch — a restore the server made — starts a new chain; the last checkpoint of the
// old one is kept under keyWitnessBefore+epoch.
const (
	keyWitness       = "sync/witness/checkpoint" // the latest verified signed checkpoint
	keyWitnessKey    = "sync/witness/key"        // the checkpoint key pinned on first sight
	keyWitnessAlarm  = "sync/witness/alarm"      // JSON WitnessAlarm, while one stands
	keyWitnessBefore = "sync/witness/before/"    // + epoch: that epoch's last checkpoint
)

// WitnessAlarm is the device's finding that the server's audit trail was cut,
// rewritten or replaced, or that a checkpoint was forged.
type WitnessAlarm struct {
	Time    time.Time `json:"time"`
	Epoch   string    `json:"epoch"`
	Message string    `json:"message"`
}

// Witness is what the replica holds of the server's audit trail.
type Witness struct {
	Epoch string // of the latest verified checkpoint
	Size  int64  // its number of audit entries; 0 with Epoch "" for none yet
	Alarm *WitnessAlarm
}

// Line is the status line: the trail witnessed, or the alarm.
func (w Witness) Line() string {
	switch {
	case w.Alarm != nil:
		return "ALARM: " + w.Alarm.Message
	case w.Epoch == "":
		return "no signed checkpoint seen yet"
	}
	return fmt.Sprintf("server's trail witnessed up to entry %d (signed checkpoint, epoch %s)", w.Size, w.Epoch)
}

// AuditWitness reads what the replica keeps of the server's audit checkpoints.
func AuditWitness(ctx context.Context, st *store.Store) (Witness, error) {
	var w Witness
	signed, err := st.State(ctx, keyWitness)
	if err != nil {
		return w, err
	}
	if signed != nil {
		if c, err := wire.ParseCheckpoint(noteText(string(signed))); err == nil {
			w.Epoch, w.Size = c.Epoch, c.Tree.N
		}
	}
	b, err := st.State(ctx, keyWitnessAlarm)
	if err != nil {
		return w, err
	}
	if b != nil {
		var a WitnessAlarm
		if json.Unmarshal(b, &a) == nil {
			w.Alarm = &a
		}
	}
	return w, nil
}

func noteText(signed string) string {
	text, _, _ := strings.Cut(signed, "\n\n")
	return text + "\n"
}

// witness fetches and checks the server's checkpoint. Only a failed call to a
// reachable server is returned; every finding about the trail is reported, not
// returned, so records keep syncing.
func (r *Replicator) witness(ctx context.Context, c *Client, cred Credential, rep *Report) error {
	var old *wire.Checkpoint
	oldSigned, err := r.st.State(ctx, keyWitness)
	if err != nil {
		return err
	}
	if oldSigned != nil {
		cp, err := wire.ParseCheckpoint(noteText(string(oldSigned)))
		if err != nil {
			r.log.Warn("the kept audit checkpoint does not parse; starting again", "err", err)
		} else {
			old = &cp
		}
	}
	q := url.Values{}
	if old != nil && old.Tree.N > 0 {
		q.Set("from", strconv.FormatInt(old.Tree.N, 10))
	}
	var resp wire.CheckpointResponse
	srv, err := c.Do(ctx, http.MethodGet, "/v1/audit/checkpoint", q, nil, &resp)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return nil // a server of an earlier release signs no checkpoints
	case errors.As(err, &ae) && ae.Code == wire.CodeAuditUnverifiable:
		return r.alarm(ctx, rep, srv.Epoch, "the server will not vouch for its audit trail: "+ae.Message)
	case err != nil:
		return err
	}
	key := cred.CheckpointKey
	if key == "" {
		pinned, err := r.st.State(ctx, keyWitnessKey)
		if err != nil {
			return err
		}
		key = string(pinned)
		if key == "" {
			if name, _, _ := strings.Cut(resp.Key, "+"); name != wire.CheckpointKeyName(cred.Tenant) {
				return r.alarm(ctx, rep, srv.Epoch, fmt.Sprintf("the server's checkpoint key is named %q, not %q", clip(name), wire.CheckpointKeyName(cred.Tenant)))
			}
			if _, err := note.NewVerifier(resp.Key); err != nil {
				return r.alarm(ctx, rep, srv.Epoch, fmt.Sprintf("the server's checkpoint key does not parse: %v", err))
			}
			key = resp.Key
			if err := r.st.SetState(ctx, map[string][]byte{keyWitnessKey: []byte(key)}); err != nil {
				return err
			}
			r.log.Info("pinned the tenant's audit checkpoint key on first sight", "key", key)
		}
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return fmt.Errorf("audit checkpoint key: %w", err)
	}
	n, err := note.Open([]byte(resp.Checkpoint), note.VerifierList(v))
	if err != nil {
		return r.alarm(ctx, rep, srv.Epoch, fmt.Sprintf("the server sent an audit checkpoint not signed with the tenant's checkpoint key (%v); refused", err))
	}
	cp, err := wire.ParseCheckpoint(n.Text)
	if err != nil {
		return r.alarm(ctx, rep, srv.Epoch, fmt.Sprintf("the server's signed audit checkpoint does not parse: %v", err))
	}
	if cp.Tenant != cred.Tenant || srv.Epoch != "" && cp.Epoch != srv.Epoch {
		return r.alarm(ctx, rep, srv.Epoch, fmt.Sprintf("the server's audit checkpoint is for %s, not tenant %s in epoch %s", wire.CheckpointOrigin(cp.Tenant, cp.Epoch), cred.Tenant, srv.Epoch))
	}
	kv := map[string][]byte{keyWitness: []byte(resp.Checkpoint)}
	switch {
	case old == nil:
	case old.Epoch != cp.Epoch:
		rep.AuditRestore = fmt.Sprintf("the server's data was restored (epoch %s, after %s): its audit trail starts a new chain at %d entries; the last checkpoint of the earlier epoch (%d entries) is kept",
			cp.Epoch, old.Epoch, cp.Tree.N, old.Tree.N)
		r.log.Warn("the server's audit trail starts a new chain: its data was restored", "epoch", cp.Epoch, "before", old.Epoch, "entries", cp.Tree.N, "entries_before", old.Tree.N)
		kv[keyWitnessBefore+old.Epoch] = oldSigned
		kv[keyWitnessAlarm] = nil
	case cp.Tree.N < old.Tree.N:
		return r.alarm(ctx, rep, cp.Epoch, fmt.Sprintf("the server's audit trail was cut: it holds %d entries, and signed %d when this device last checked (epoch %s)", cp.Tree.N, old.Tree.N, cp.Epoch))
	case cp.Tree.N == old.Tree.N && cp.Tree.Hash != old.Tree.Hash:
		return r.alarm(ctx, rep, cp.Epoch, fmt.Sprintf("the server's audit trail was rewritten: its %d entries are not those this device saw (epoch %s)", cp.Tree.N, cp.Epoch))
	case cp.Tree.N > old.Tree.N && old.Tree.N > 0:
		if resp.From != old.Tree.N || tlog.CheckTree(resp.Proof, cp.Tree.N, cp.Tree.Hash, old.Tree.N, old.Tree.Hash) != nil {
			return r.alarm(ctx, rep, cp.Epoch, fmt.Sprintf("the server's audit trail was rewritten: its first %d entries are not those this device saw (it now holds %d, epoch %s)", old.Tree.N, cp.Tree.N, cp.Epoch))
		}
	}
	rep.AuditEntries = cp.Tree.N
	r.setLater(kv)
	return nil
}

// alarm reports a finding about the server's trail and keeps it; the checkpoint the
// device had stays.
func (r *Replicator) alarm(ctx context.Context, rep *Report, epoch, msg string) error {
	r.log.Error("audit trail alarm: "+msg, "epoch", epoch)
	rep.AuditAlarm = msg
	b, err := json.Marshal(WitnessAlarm{Time: time.Now().UTC(), Epoch: epoch, Message: msg})
	if err != nil {
		return err
	}
	return r.st.SetState(ctx, map[string][]byte{keyWitnessAlarm: b})
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// DeviceCheckpoints gives the replica's latest signed audit checkpoint and the
// device's verifier key (store.KeyDir keeps both, apart from the replica).
type DeviceCheckpoints interface {
	Latest(ctx context.Context, device string) ([]byte, error)
	PublicKey(ctx context.Context, device string) (string, error)
}

// KeyDirCheckpoints is DeviceCheckpoints for a store.KeyDir, whose public key is
// "key.pub" beside the device's key.
type KeyDirCheckpoints struct{ store.KeyDir }

// PublicKey reads the device's note verifier key.
func (k KeyDirCheckpoints) PublicKey(ctx context.Context, device string) (string, error) {
	b, err := os.ReadFile(filepath.Join(k.Dir, device, "key.pub"))
	if err != nil {
		return "", fmt.Errorf("device checkpoint key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// keyCheckpointSent is the device's own checkpoint the server last accepted.
const keyCheckpointSent = "sync/witness/sent"

// sendCheckpoint gives the server the replica's latest signed checkpoint, with a
// proof that it extends the one the server accepted last. What the server finds is
// logged and reported; it never stops the sync.
func (r *Replicator) sendCheckpoint(ctx context.Context, c *Client, rep *Report) error {
	dc := r.opts.DeviceCheckpoints
	if dc == nil {
		return nil
	}
	device := r.st.Device()
	latest, err := dc.Latest(ctx, device)
	if err != nil || latest == nil {
		if err != nil {
			r.log.Warn("the device's audit checkpoint is not readable; not sent", "err", err)
		}
		return nil
	}
	sent, err := r.st.State(ctx, keyCheckpointSent)
	if err != nil {
		return err
	}
	if string(sent) == string(latest) {
		return nil
	}
	tree, err := tlog.ParseTree([]byte(noteText(string(latest))))
	if err != nil {
		r.log.Warn("the device's audit checkpoint does not parse; not sent", "err", err)
		return nil
	}
	key, err := dc.PublicKey(ctx, device)
	if err != nil {
		r.log.Warn("the device's checkpoint key is not readable; checkpoint not sent", "err", err)
		return nil
	}
	req := wire.DeviceCheckpoint{Checkpoint: string(latest), Key: key}
	if sent != nil {
		if old, err := tlog.ParseTree([]byte(noteText(string(sent)))); err == nil && old.N > 0 && old.N < tree.N {
			if p, err := r.st.AuditTreeProof(ctx, old.N, tree.N); err == nil {
				req.From, req.Proof = old.N, p
			}
		}
	}
	var resp wire.DeviceCheckpointResponse
	_, err = c.Do(ctx, http.MethodPost, "/v1/audit/device-checkpoint", nil, req, &resp)
	var ae *APIError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return nil // a server of an earlier release
	case errors.As(err, &ae) && !ae.Temporary():
		r.log.Warn("the server refused the device's audit checkpoint", "err", err)
		return nil
	case err != nil:
		return err
	}
	if resp.Problem != "" {
		r.log.Error("the server finds this device's audit trail does not match what it signed before: "+resp.Problem, "checkpoint", tree.N)
		rep.DeviceAuditProblem = resp.Problem
	}
	if resp.Size != tree.N {
		return nil // not taken (another key): nothing to prove from next time
	}
	r.setLater(map[string][]byte{keyCheckpointSent: latest})
	return nil
}
