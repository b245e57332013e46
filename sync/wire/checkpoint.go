package wire

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Audit checkpoints. A tenant's audit entries are the leaves of a Merkle tree (leaf i
// is entry seq i+1). The server signs checkpoints of it — its size and root — with a
// key derived from the tenant's key, in the signed-note format of Go's checksum
// database (golang.org/x/mod/sumdb/note). The note's text is three lines:
//
//	fieldforms/<tenant>/<epoch>
//	<size>
//	<root, base64>
//
// The first, the origin, names the tenant and the epoch of its data: a restore starts
// a new epoch and so a new chain of checkpoints. The key's name is CheckpointKeyName.
//
//	GET /v1/audit/checkpoint?from=N → CheckpointResponse
//
// returns the latest checkpoint and, for 0 < N ≤ its size, a proof that the tree of
// size N is a prefix of it (tlog.TreeProof). A device keeps the last checkpoint it
// verified and checks each new one against it: a smaller size in the same epoch, or
// a proof that does not hold, means the trail was cut or rewritten.

// CodeAuditUnverifiable: the server will not sign a checkpoint because its own
// record of the tenant's trail does not match the data it holds (the tenant's file
// was replaced outside a restore).
const CodeAuditUnverifiable = "audit_unverifiable"

// CheckpointResponse is a signed checkpoint and a consistency proof.
type CheckpointResponse struct {
	// Checkpoint is the signed note.
	Checkpoint string `json:"checkpoint"`
	// Key is the note verifier key of the tenant's checkpoints
	// ("fieldforms-<tenant>+<hash>+<base64>"), for a device enrolled before it was
	// handed out at enrolment; such a device pins it on first sight.
	Key string `json:"key"`
	// From is the size the proof starts from (0: no proof).
	From   int64       `json:"from,omitempty"`
	Proof  []tlog.Hash `json:"proof,omitempty"`
	Server Server      `json:"server"`
}

// CheckpointKeyName is the name of a tenant's checkpoint key.
func CheckpointKeyName(tenant string) string { return "fieldforms-" + tenant }

// CheckpointOrigin is the first line of a tenant's checkpoints in an epoch.
func CheckpointOrigin(tenant, epoch string) string { return "fieldforms/" + tenant + "/" + epoch }

// Checkpoint is the text of a checkpoint note.
type Checkpoint struct {
	Tenant, Epoch string
	Tree          tlog.Tree
}

// Format returns the note text.
func (c Checkpoint) Format() string {
	return fmt.Sprintf("%s\n%d\n%s\n", CheckpointOrigin(c.Tenant, c.Epoch), c.Tree.N, c.Tree.Hash)
}

// ParseCheckpoint reads a note text written by Format.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return Checkpoint{}, errors.New("checkpoint: want three lines: origin, size, root")
	}
	rest, ok := strings.CutPrefix(lines[0], "fieldforms/")
	tenant, epoch, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || tenant == "" || epoch == "" {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q: want fieldforms/<tenant>/<epoch>", clipText(lines[0]))
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("checkpoint: size %q: not a whole number", clipText(lines[1]))
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: root %q: %w", clipText(lines[2]), err)
	}
	return Checkpoint{Tenant: tenant, Epoch: epoch, Tree: tlog.Tree{N: n, Hash: h}}, nil
}

func clipText(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// A device's own checkpoints. A device signs checkpoints of its replica's audit
// tree with a key of its own (store.KeyDir; the note's text is tlog.FormatTree)
// and sends the latest on each sync:
//
//	POST /v1/audit/device-checkpoint DeviceCheckpoint → DeviceCheckpointResponse
//
// The server pins the device's key on first sight and keeps the latest checkpoint
// per device, so a device's trail cut or rewritten later (a stolen tablet's replica
// edited) is caught by the server too: its answer names the problem, and the
// server's log and `fieldformsd device list` keep it.
type DeviceCheckpoint struct {
	Checkpoint string `json:"checkpoint"` // signed note
	Key        string `json:"key"`        // the device's note verifier key ("fieldforms-device/<device>+...")
	// From and Proof: a proof that the tree of size From (the checkpoint the server
	// accepted last, 0 for none) is a prefix of this one.
	From  int64       `json:"from,omitempty"`
	Proof []tlog.Hash `json:"proof,omitempty"`
}

// DeviceCheckpointResponse says which of the device's checkpoints the server keeps
// and, when it found one, what is wrong with the device's trail.
type DeviceCheckpointResponse struct {
	Size    int64  `json:"size"`
	Problem string `json:"problem,omitempty"`
	Server  Server `json:"server"`
}

// MaxProofHashes bounds the hashes of a consistency proof.
const MaxProofHashes = 128
