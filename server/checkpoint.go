package server

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldforms/fieldforms/sync/wire"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Signed audit checkpoints (wire/checkpoint.go).
//
// Each tenant's checkpoints are signed with an Ed25519 key derived from the tenant's
// key (HKDF-SHA256, label checkpointKeyLabel), so a server rebuilt from the same
// config signs with the same key, and the key needs no file of its own. Devices get
// the verifier key at enrolment.
//
// The server keeps, in its config folder apart from the tenant's data
// (checkpoints/<tenant>.json), the latest checkpoint it signed and the epochs it made
// itself (a new store, a restore, a purge log carried out again). A tenant file cut,
// rewritten or put back while the server was down is then caught: at open (a log
// line), by `fieldformsd audit --verify` (exit 1) and by the devices, which check
// every checkpoint against the last one they saw. A file whose epoch the server never
// made gets no checkpoint at all (wire.CodeAuditUnverifiable), so a copy put back
// outside `fieldformsd restore` cannot pass for a restore.

const (
	checkpointsDir     = "checkpoints"
	checkpointKeyLabel = "fieldforms-audit-checkpoint-v1 "
)

// auditTree is the store's Merkle tree over its audit entries.
type auditTree interface {
	AuditTree(ctx context.Context) (tlog.Tree, error)
	AuditTreeProof(ctx context.Context, oldN, newN int64) (tlog.TreeProof, error)
}

// checkpointKeys returns a tenant's checkpoint signer and verifier key.
func (id *identity) checkpointKeys(tenant string) (note.Signer, string, error) {
	secret, err := id.tenantKey(tenant)
	if err != nil {
		return nil, "", err
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, checkpointKeyLabel+tenant, ed25519.SeedSize)
	if err != nil {
		return nil, "", fmt.Errorf("checkpoint key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	name := wire.CheckpointKeyName(tenant)
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, "", fmt.Errorf("checkpoint key: %w", err)
	}
	// vkey is name+hash+base64(alg||pub); the signer key is the same with the seed.
	parts := strings.Split(vkey, "+")
	skey := "PRIVATE+KEY+" + name + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed...))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("checkpoint key: %w", err)
	}
	return signer, vkey, nil
}

// CheckpointKey returns the note verifier key of a tenant's audit checkpoints.
func (s *Server) CheckpointKey(tenant string) (string, error) {
	_, vkey, err := s.id.checkpointKeys(tenant)
	return vkey, err
}

// witnessRecord is what the config folder keeps of a tenant's trail.
type witnessRecord struct {
	// Epoch and Checkpoint: the latest checkpoint signed, and its epoch.
	Epoch      string `json:"epoch,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	// Epochs the server made itself, newest last, with why.
	Epochs []epochMade `json:"epochs,omitempty"`
	// Before holds the last checkpoint of each earlier epoch, newest last.
	Before []string `json:"before,omitempty"`
}

type epochMade struct {
	Epoch string    `json:"epoch"`
	Why   string    `json:"why"`
	Time  time.Time `json:"time"`
}

func (id *identity) witnessPath(tenant string) string {
	return filepath.Join(id.dir, checkpointsDir, tenant+".json")
}

// readWitness reads a tenant's record; none is the zero record.
func (id *identity) readWitness(tenant string) (witnessRecord, error) {
	var w witnessRecord
	data, err := os.ReadFile(id.witnessPath(tenant))
	if errors.Is(err, os.ErrNotExist) {
		return w, nil
	}
	if err != nil {
		return w, fmt.Errorf("checkpoint record: %w", err)
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return w, fmt.Errorf("checkpoint record %s: %w", id.witnessPath(tenant), err)
	}
	return w, nil
}

func (id *identity) writeWitness(tenant string, w witnessRecord) error {
	if err := os.MkdirAll(filepath.Join(id.dir, checkpointsDir), 0o700); err != nil {
		return fmt.Errorf("checkpoint record: %w", err)
	}
	data, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(id.witnessPath(tenant), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("checkpoint record: %w", err)
	}
	return nil
}

// loadWitness returns a tenant's record, read once from the config folder.
// The caller holds s.witnessMu.
func (s *Server) loadWitness(tenant string) (witnessRecord, error) {
	if w, ok := s.witnesses[tenant]; ok {
		return w, nil
	}
	w, err := s.id.readWitness(tenant)
	if err != nil {
		return w, err
	}
	if s.witnesses == nil {
		s.witnesses = map[string]witnessRecord{}
	}
	s.witnesses[tenant] = w
	return w, nil
}

// saveWitness writes a tenant's record, durably. The caller holds s.witnessMu.
func (s *Server) saveWitness(tenant string, w witnessRecord) error {
	delete(s.witnesses, tenant)
	if err := s.id.writeWitness(tenant, w); err != nil {
		return err
	}
	if s.witnesses == nil {
		s.witnesses = map[string]witnessRecord{}
	}
	s.witnesses[tenant] = w
	return nil
}

// epochMadeHere records, before a store serves with it, an epoch the server made.
func (s *Server) epochMadeHere(tenant, epoch, why string) error {
	s.witnessMu.Lock()
	defer s.witnessMu.Unlock()
	w, err := s.loadWitness(tenant)
	if err != nil {
		return err
	}
	w.Epochs = append(slices.Clone(w.Epochs), epochMade{Epoch: epoch, Why: why, Time: s.now().UTC()})
	if len(w.Epochs) > 100 {
		w.Epochs = w.Epochs[len(w.Epochs)-100:]
	}
	return s.saveWitness(tenant, w)
}

// witnessState is the check of a tenant's trail against the record: the current tree,
// and a problem ("" for none).
type witnessState struct {
	tree    tlog.Tree
	last    *wire.Checkpoint // the record's latest checkpoint in this epoch
	problem string
}

// checkWitness compares the tenant's tree with the config's record of it.
func (s *Server) checkWitness(ctx context.Context, t *tenant) (witnessState, witnessRecord, error) {
	var ws witnessState
	var err error
	if ws.tree, err = t.st.AuditTree(ctx); err != nil {
		return ws, witnessRecord{}, fmt.Errorf("audit tree: %w", err)
	}
	w, err := s.loadWitness(t.name)
	if err != nil {
		return ws, w, err
	}
	switch {
	case w.Checkpoint == "":
		// First sight: a server of an earlier release signed nothing. A new chain.
	case w.Epoch != t.epoch:
		// A new chain if the server made the epoch (a new store, a restore).
		made := false
		for _, e := range w.Epochs {
			made = made || e.Epoch == t.epoch
		}
		if !made {
			ws.problem = fmt.Sprintf("the tenant's data is of epoch %s, which this server never made (it last signed epoch %s): the file was replaced outside `fieldformsd restore`", t.epoch, w.Epoch)
		}
	default:
		c, err := wire.ParseCheckpoint(noteText(w.Checkpoint))
		if err != nil {
			return ws, w, fmt.Errorf("checkpoint record %s: %w", s.id.witnessPath(t.name), err)
		}
		ws.last = &c
		switch {
		case ws.tree.N < c.Tree.N:
			ws.problem = fmt.Sprintf("the audit trail holds %d entries but the server signed a checkpoint at %d: entries %d to %d were cut", ws.tree.N, c.Tree.N, ws.tree.N+1, c.Tree.N)
		case ws.tree.N == c.Tree.N && ws.tree.Hash != c.Tree.Hash:
			ws.problem = fmt.Sprintf("the audit trail's root at %d entries is not the one the server signed: entries were rewritten", c.Tree.N)
		case ws.tree.N > c.Tree.N && c.Tree.N > 0:
			p, err := t.st.AuditTreeProof(ctx, c.Tree.N, ws.tree.N)
			if err != nil {
				return ws, w, fmt.Errorf("audit tree proof: %w", err)
			}
			if tlog.CheckTree(p, ws.tree.N, ws.tree.Hash, c.Tree.N, c.Tree.Hash) != nil {
				ws.problem = fmt.Sprintf("the first %d audit entries are not those of the checkpoint the server signed: entries were rewritten", c.Tree.N)
			}
		}
	}
	return ws, w, nil
}

// noteText is the text of a signed note (before its signature lines).
func noteText(signed string) string {
	text, _, _ := strings.Cut(signed, "\n\n")
	return text + "\n"
}

// signCheckpoint signs the tenant's current tree and, when it extends the record's
// chain, keeps it in the config folder. A problem is returned as an error only when
// the epoch is not the server's own; a cut or rewrite is signed as it is (devices
// that saw more catch it) but never replaces the record, which stays as evidence.
func (s *Server) signCheckpoint(ctx context.Context, t *tenant) (string, witnessState, error) {
	s.witnessMu.Lock()
	defer s.witnessMu.Unlock()
	ws, w, err := s.checkWitness(ctx, t)
	if err != nil {
		return "", ws, err
	}
	if ws.problem != "" && ws.last == nil {
		return "", ws, errorf(http.StatusConflict, wire.CodeAuditUnverifiable, "%s", ws.problem)
	}
	if ws.problem == "" && ws.last != nil && ws.last.Tree == ws.tree {
		return w.Checkpoint, ws, nil
	}
	signer, _, err := s.id.checkpointKeys(t.name)
	if err != nil {
		return "", ws, err
	}
	text := wire.Checkpoint{Tenant: t.name, Epoch: t.epoch, Tree: ws.tree}.Format()
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return "", ws, fmt.Errorf("sign checkpoint: %w", err)
	}
	if ws.problem == "" {
		if w.Epoch != t.epoch && w.Checkpoint != "" {
			w.Before = append(slices.Clone(w.Before), w.Checkpoint)
			if len(w.Before) > 100 {
				w.Before = w.Before[len(w.Before)-100:]
			}
		}
		w.Epoch, w.Checkpoint = t.epoch, string(signed)
		if err := s.saveWitness(t.name, w); err != nil {
			return "", ws, err
		}
	}
	return string(signed), ws, nil
}

// handleCheckpoint answers GET /v1/audit/checkpoint?from=N.
func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request, c *caller) (any, error) {
	q, err := query(r, "from")
	if err != nil {
		return nil, err
	}
	var from int64
	if v := q["from"]; v != "" {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from < 0 {
			return nil, badRequest("from %q: a whole number of audit entries, 0 or more", clip(v, 40))
		}
	}
	signed, ws, err := s.signCheckpoint(r.Context(), c.t)
	if err != nil {
		return nil, err
	}
	_, vkey, err := s.id.checkpointKeys(c.Tenant)
	if err != nil {
		return nil, err
	}
	resp := wire.CheckpointResponse{Checkpoint: signed, Key: vkey, Server: s.serverInfo(r.Context(), c)}
	if from > 0 && from < ws.tree.N {
		p, err := c.t.st.AuditTreeProof(r.Context(), from, ws.tree.N)
		if err != nil {
			return nil, fmt.Errorf("audit tree proof: %w", err)
		}
		resp.From, resp.Proof = from, p
	}
	return resp, nil
}

func init() {
	extraRoutes = append(extraRoutes, func(s *Server, rt *router) {
		rt.handle("GET /v1/audit/checkpoint", roleDevice, s.handleCheckpoint)
	})
}

// witnessAtOpen checks a tenant just opened against the config's record and, when it
// holds, signs its current tree so the record follows it. The record is kept as
// evidence whatever the tenant holds. A serving process logs a problem (commands
// run without a server report it themselves: `fieldformsd audit --verify`).
func (s *Server) witnessAtOpen(ctx context.Context, t *tenant) {
	_, ws, err := s.signCheckpoint(ctx, t)
	if s.addr.Load() != nil {
		s.logWitness(t.name, ws, err)
	}
}

func (s *Server) logWitness(tenant string, ws witnessState, err error) {
	switch {
	case ws.problem != "":
		s.log.Error("the tenant's audit trail does not match the checkpoint this server signed", "tenant", tenant, "problem", ws.problem)
	case err != nil:
		s.log.Error("audit checkpoint not signed", "tenant", tenant, "err", err)
	}
}

// witnessOpenTenants checks the tenants opened before the server began serving.
func (s *Server) witnessOpenTenants(ctx context.Context) {
	s.tenants.each(func(t *tenant) error {
		_, ws, err := s.signCheckpoint(ctx, t)
		s.logWitness(t.name, ws, err)
		return nil
	})
}

// verifyWitness checks the tenant's trail against the checkpoint this server signed
// last and, when it holds, signs the current tree so the record follows it.
func (s *Server) verifyWitness(ctx context.Context, t *tenant) (witnessState, error) {
	_, ws, err := s.signCheckpoint(ctx, t)
	if ws.problem != "" {
		return ws, nil
	}
	return ws, err
}

// checkSignedCheckpoint checks a signed checkpoint's signature with the tenant's
// checkpoint key, and that it is of the tenant in that epoch.
func (s *Server) checkSignedCheckpoint(tenant, epoch, signed string) error {
	_, vkey, err := s.id.checkpointKeys(tenant)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	n, err := note.Open([]byte(signed), note.VerifierList(v))
	if err != nil {
		return fmt.Errorf("audit checkpoint: not signed with the tenant's checkpoint key: %w", err)
	}
	c, err := wire.ParseCheckpoint(n.Text)
	if err != nil {
		return err
	}
	if c.Tenant != tenant || c.Epoch != epoch {
		return fmt.Errorf("audit checkpoint: of %s, not tenant %s in epoch %s", wire.CheckpointOrigin(c.Tenant, c.Epoch), tenant, epoch)
	}
	return nil
}

// checkCopyAgainstCheckpoint checks that a copy's audit trail extends the checkpoint
// signed before it was taken.
func checkCopyAgainstCheckpoint(ctx context.Context, st auditTree, signed string) error {
	c, err := wire.ParseCheckpoint(noteText(signed))
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	tree, err := st.AuditTree(ctx)
	if err != nil {
		return err
	}
	if tree.N < c.Tree.N {
		return fmt.Errorf("audit trail of %d entries, the signed checkpoint says %d: entries %d to %d are missing", tree.N, c.Tree.N, tree.N+1, c.Tree.N)
	}
	p, err := st.AuditTreeProof(ctx, c.Tree.N, tree.N)
	if err != nil {
		return err
	}
	if c.Tree.N > 0 && tlog.CheckTree(p, tree.N, tree.Hash, c.Tree.N, c.Tree.Hash) != nil {
		return fmt.Errorf("audit entries 1 to %d are not those of the signed checkpoint", c.Tree.N)
	}
	return nil
}
