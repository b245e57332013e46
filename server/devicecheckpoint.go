package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/sync/wire"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Devices' own audit checkpoints (wire.DeviceCheckpoint), kept in the registry
// (bucket "devcheckpoints": tenant "\x00" device → devCheckpoint), apart from the
// tenant's data. A device's key is pinned on first sight.
var bucketDevCheckpoints = []byte("devcheckpoints")

type devCheckpoint struct {
	Key        string    `json:"key"`
	Checkpoint string    `json:"checkpoint,omitempty"` // the latest accepted
	Problem    string    `json:"problem,omitempty"`    // the last problem found
	Evidence   string    `json:"evidence,omitempty"`   // the checkpoint it was found against
	Time       time.Time `json:"time"`
}

func (r *registry) devCheckpoint(tenant, device string) (devCheckpoint, error) {
	var c devCheckpoint
	err := r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevCheckpoints)
		if b == nil {
			return nil
		}
		if v := b.Get(deviceKey(tenant, device)); v != nil {
			return json.Unmarshal(v, &c)
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("registry: checkpoint of device %s: %w", device, err)
	}
	return c, nil
}

func (r *registry) putDevCheckpoint(tenant, device string, c devCheckpoint) error {
	v, err := json.Marshal(c)
	if err != nil {
		return err
	}
	err = r.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketDevCheckpoints)
		if err != nil {
			return err
		}
		return b.Put(deviceKey(tenant, device), v)
	})
	if err != nil {
		return fmt.Errorf("registry: checkpoint of device %s: %w", device, err)
	}
	return nil
}

// deviceKeyName is the name in a device's checkpoint key (store.KeyDir's).
func deviceKeyName(device string) string { return "fieldforms-device/" + device }

// handleDeviceCheckpoint takes a device's latest signed checkpoint.
func (s *Server) handleDeviceCheckpoint(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	var req wire.DeviceCheckpoint
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	if len(req.Proof) > wire.MaxProofHashes {
		return nil, tooLarge("proof of %d hashes; at most %d", len(req.Proof), wire.MaxProofHashes)
	}
	if name, _, _ := strings.Cut(req.Key, "+"); name != deviceKeyName(c.Device) {
		return nil, badRequest("key: named %q, want %q", clip(name, 80), deviceKeyName(c.Device))
	}
	v, err := note.NewVerifier(req.Key)
	if err != nil {
		return nil, badRequest("key: %v", err)
	}
	s.devCheckMu.Lock()
	defer s.devCheckMu.Unlock()
	rec, err := s.reg.devCheckpoint(c.Tenant, c.Device)
	if err != nil {
		return nil, err
	}
	// A problem is logged and kept with the checkpoint it was found against; the new
	// checkpoint, signed with the pinned key, becomes the one later ones must extend
	// (a device restored from a snapshot rolls its trail back, by its user's choice,
	// and records it in the trail: flagged once, not at every sync).
	problem := func(msg, accept string) (any, error) {
		s.log.Error("a device's audit trail does not match the checkpoint it sent before", "tenant", c.Tenant, "device", c.Device, "user", c.User, "problem", msg)
		rec.Problem, rec.Evidence, rec.Time = msg, rec.Checkpoint, s.now().UTC()
		if accept != "" {
			rec.Checkpoint = accept
		}
		if err := s.reg.putDevCheckpoint(c.Tenant, c.Device, rec); err != nil {
			return nil, err
		}
		return wire.DeviceCheckpointResponse{Size: sizeOf(rec.Checkpoint), Problem: msg, Server: s.serverInfo(r.Context(), c)}, nil
	}
	if rec.Key != "" && rec.Key != req.Key {
		return problem("the device signs with another key than the one it showed first", "")
	}
	n, err := note.Open([]byte(req.Checkpoint), note.VerifierList(v))
	if err != nil {
		return nil, badRequest("checkpoint: not signed with the device's key: %v", err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return nil, badRequest("checkpoint: %v", err)
	}
	if rec.Checkpoint != "" {
		old, err := tlog.ParseTree([]byte(noteText(rec.Checkpoint)))
		if err != nil {
			return nil, fmt.Errorf("kept checkpoint of device %s: %w", c.Device, err)
		}
		switch {
		case tree.N < old.N:
			return problem(fmt.Sprintf("the device's audit trail was cut or rolled back: it signs %d entries, and signed %d before", tree.N, old.N), req.Checkpoint)
		case tree.N == old.N && tree.Hash != old.Hash:
			return problem(fmt.Sprintf("the device's audit trail was rewritten: its %d entries are not those it signed before", tree.N), req.Checkpoint)
		case tree.N > old.N && old.N > 0:
			if req.From != old.N || tlog.CheckTree(req.Proof, tree.N, tree.Hash, old.N, old.Hash) != nil {
				return problem(fmt.Sprintf("the device's audit trail was rewritten: its first %d entries are not those it signed before", old.N), req.Checkpoint)
			}
		}
	}
	rec.Key, rec.Checkpoint, rec.Time = req.Key, req.Checkpoint, s.now().UTC()
	if err := s.reg.putDevCheckpoint(c.Tenant, c.Device, rec); err != nil {
		return nil, err
	}
	return wire.DeviceCheckpointResponse{Size: tree.N, Server: s.serverInfo(r.Context(), c)}, nil
}

// sizeOf is the size of a kept device checkpoint (0 for none or unreadable).
func sizeOf(signed string) int64 {
	if signed == "" {
		return 0
	}
	t, err := tlog.ParseTree([]byte(noteText(signed)))
	if err != nil {
		return 0
	}
	return t.N
}

func init() {
	extraRoutes = append(extraRoutes, func(s *Server, rt *router) {
		rt.handle("POST /v1/audit/device-checkpoint", roleDevice, s.handleDeviceCheckpoint)
	})
}
