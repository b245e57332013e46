package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	"github.com/fieldforms/fieldforms/sync/wire"
)

// Keys the replicator keeps in the replica's state.
const (
	KeyCredential  = "sync/credential"
	keyEpoch       = "sync/epoch"
	keyCursor      = "sync/cursor"
	keyAcked       = "sync/acked"
	keyLastSuccess = "sync/last_success"
	keyReconcile   = store.KeyReconcileDue // set while a reconcile is due, so a crash resumes it; store.Repair sets it
	keyTemplates   = "sync/templates"      // the server's templates tag and the replica's, when they last agreed
	keyReported    = "sync/reported"       // the queue last reported to the server
	keyTemplateSig = "sync/template-sig/"  // + "id@version": the tenant's signature of that template version
)

// ErrNotEnrolled: the replica has no credential yet.
var ErrNotEnrolled = errors.New("this device is not enrolled with a server")

// State names what the replicator is doing, in plain words for the UI and CLI.
type State string

// States.
const (
	StateNotEnrolled State = "not enrolled"
	StateOffline     State = "offline"
	StateSyncing     State = "syncing"
	StateIdle        State = "up to date"
	StateRebuilding  State = "rebuilding the server"
	StateError       State = "needs attention"
	StateStopped     State = "stopped"
)

// Progress of long work.
type Progress struct {
	What        string
	Done, Total int
	// Rate is items a second so far (0 when not known yet); Left the time the rest
	// takes at that rate (0 when not known).
	Rate float64
	Left time.Duration
}

// Status is a snapshot for the UI and `fieldforms status`.
type Status struct {
	State       State
	Message     string // plain words: what is wrong, or what is happening
	Pending     int
	DeadLetters int
	LastSuccess time.Time
	Epoch       string
	Server      string
	Progress    *Progress
	Clock       ClockStatus // the device's clock against the server's; changes held for it
	Audit       Witness     // what the device witnessed of the server's audit trail
}

// Options tune a Replicator. The zero value works.
type Options struct {
	Logger       *slog.Logger
	Client       ClientOptions
	PullInterval time.Duration // default 30 s
	Clock        backoff.Clock // for tests of the backoff schedule
	BatchChanges int           // default 500
	BatchBytes   int           // default 4 MiB
	// Backoff bounds; defaults 1 s initial, 5 min maximum.
	InitialBackoff, MaxBackoff time.Duration
	// DeviceCheckpoints, when set, gives the device's own signed audit checkpoints,
	// sent to the server on each sync (witness.go).
	DeviceCheckpoints DeviceCheckpoints
}

// Replicator keeps a replica in step with its server.
type Replicator struct {
	st   *store.Store
	opts Options
	log  *slog.Logger

	mu      gosync.Mutex
	status  Status
	subs    map[int]func(Status)
	nextSub int
	client  *Client
	cred    Credential
	// attachErr is why attachments wait, from the last sync.
	attachErr error

	runMu gosync.Mutex // one cycle at a time
	// later holds state a cycle keeps for the next one only (what it reported and
	// witnessed), written with the cycle's last commit in finish; under runMu.
	later  map[string][]byte
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a replicator for the replica. It does nothing until Start or SyncOnce.
func New(st *store.Store, opts Options) *Replicator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PullInterval == 0 {
		opts.PullInterval = 30 * time.Second
	}
	if opts.BatchChanges == 0 {
		opts.BatchChanges = 500
	}
	if opts.BatchBytes == 0 {
		opts.BatchBytes = 4 << 20
	}
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = backoff.SystemClock
	}
	return &Replicator{st: st, opts: opts, log: opts.Logger.With("part", "sync"), subs: map[int]func(Status){},
		wake: make(chan struct{}, 1), status: Status{State: StateStopped}}
}

// NewBackOff is the retry schedule: exponential with jitter, capped, never giving up.
func (r *Replicator) NewBackOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = r.opts.InitialBackoff
	b.MaxInterval = r.opts.MaxBackoff
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxElapsedTime = 0 // never give up: a field device may be offline for days
	b.Clock = r.opts.Clock
	b.Reset()
	return b
}

// SaveCredential stores a credential in the replica.
func SaveCredential(ctx context.Context, st *store.Store, cred Credential) error {
	b, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	// A new server: what the replica knew of the old one no longer holds.
	// The checkpoint key comes with the credential; one pinned earlier is forgotten.
	return st.SetState(ctx, map[string][]byte{KeyCredential: b, keyEpoch: nil, keyCursor: nil, keyAcked: nil, keyReconcile: []byte("1"), keyWitnessKey: nil})
}

// LoadCredential reads the replica's credential, or ErrNotEnrolled.
func LoadCredential(ctx context.Context, st *store.Store) (Credential, error) {
	b, err := st.State(ctx, KeyCredential)
	if err != nil {
		return Credential{}, err
	}
	if b == nil {
		return Credential{}, ErrNotEnrolled
	}
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil {
		return Credential{}, fmt.Errorf("stored credential: %w", err)
	}
	return c, nil
}

func (r *Replicator) session(ctx context.Context) (*Client, Credential, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return r.client, r.cred, nil
	}
	cred, err := LoadCredential(ctx, r.st)
	if err != nil {
		return nil, Credential{}, err
	}
	co := r.opts.Client
	if co.Now == nil {
		co.Now = r.st.WallClock // the clock the replica stamps with is the one to measure
	}
	c, err := NewClient(cred, co)
	if err != nil {
		return nil, Credential{}, err
	}
	r.client, r.cred = c, cred
	return c, cred, nil
}

// Start runs the loop until Stop or ctx ends.
func (r *Replicator) Start(ctx context.Context) {
	r.mu.Lock()
	if r.cancel != nil {
		r.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	r.mu.Unlock()
	go r.loop(ctx)
}

// Stop ends the loop and waits for it. It is safe to call more than once.
func (r *Replicator) Stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel = nil
	r.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Wake asks for a sync now, as after a local save.
func (r *Replicator) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Replicator) loop(ctx context.Context) {
	defer close(r.done)
	defer r.update(func(s *Status) { s.State, s.Message, s.Progress = StateStopped, "", nil })
	bo := r.NewBackOff()
	for {
		_, err := r.SyncOnce(ctx)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrNotEnrolled):
			wait = r.opts.PullInterval
		case err == nil:
			bo.Reset()
			wait = r.opts.PullInterval
		case Temporary(err):
			wait = max(bo.NextBackOff(), RetryAfter(err))
			r.log.Warn("sync failed; will retry", "in", wait.Round(time.Millisecond), "err", err)
		default:
			// Permanent for this attempt (a refused credential, a certificate that does
			// not match): keep trying, slowly, so a fixed server is picked up.
			wait = max(bo.NextBackOff(), r.opts.PullInterval)
			r.log.Error("sync failed", "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-r.wake:
			// A local save: try now unless the server asked us to back off.
			if err != nil && Temporary(err) {
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// Report says what one sync did.
type Report struct {
	Pushed, DeadLettered, Pulled, Purged int
	Restamped                            int // changes stamped anew after the clock was set right
	Reconciled                           bool
	RecordsPushedByReconcile             int
	RecordsAppliedByReconcile            int // of those pushed, the ones the server took as new or newer
	RecordsFetchedByReconcile            int
	// TemplatesRefused holds the server's answer for each template version this
	// device offered and the server refused: a device that is not an admin's does
	// not publish what it imported (code forbidden); the template stays on it.
	TemplatesRefused []wire.TemplateResult
	// AuditEntries is the size of the server's audit trail in the checkpoint this sync
	// verified (witness.go); AuditAlarm says plainly when the trail was found cut,
	// rewritten or replaced, or a checkpoint forged; AuditRestore when a restore of
	// the server's data started a new chain.
	AuditEntries int64
	AuditAlarm   string
	AuditRestore string
	// DeviceAuditProblem is what the server found wrong with this device's own
	// trail, against the checkpoint the device sent before.
	DeviceAuditProblem string
}

// NothingNew reports a sync that moved nothing either way.
func (r Report) NothingNew() bool {
	return r.Pushed == 0 && r.DeadLettered == 0 && r.Pulled == 0 && r.Purged == 0 && !r.Reconciled
}

// SyncOnce runs one full exchange: templates, a reconcile when due, the outbox, and
// pulls until the server has nothing more.
func (r *Replicator) SyncOnce(ctx context.Context) (Report, error) {
	r.runMu.Lock()
	defer r.runMu.Unlock()
	var rep Report
	c, cred, err := r.session(ctx)
	if err != nil {
		if errors.Is(err, ErrNotEnrolled) {
			r.update(func(s *Status) { s.State, s.Message = StateNotEnrolled, "enrol this device to sync" })
		}
		return rep, err
	}
	r.update(func(s *Status) { s.State, s.Message, s.Server = StateSyncing, "", cred.URL })
	err = r.cycle(ctx, c, cred, &rep)
	r.finish(ctx, err)
	return rep, err
}

func (r *Replicator) finish(ctx context.Context, err error) {
	pending, _ := r.st.PendingCount(ctx)
	dead, _ := r.st.DeadLetters(ctx)
	epoch, _ := r.st.State(ctx, keyEpoch)
	now := time.Now().UTC()
	kv := r.later
	r.later = nil
	if err == nil {
		if kv == nil {
			kv = map[string][]byte{}
		}
		kv[keyLastSuccess] = []byte(now.Format(time.RFC3339Nano))
	}
	if len(kv) > 0 {
		// One commit at the end of a cycle (none for a failed cycle with nothing kept).
		if serr := r.st.SetState(ctx, kv); serr != nil {
			r.log.Warn("sync state not kept", "err", serr)
		}
	}
	last, _ := r.st.State(ctx, keyLastSuccess)
	clock, _ := ClockInfo(ctx, r.st)
	var refused []store.DeadLetter // for other reasons than the clock
	clock.Held = 0
	for _, d := range dead {
		if isClockSkew(d) {
			clock.Held++
		} else {
			refused = append(refused, d)
		}
	}
	clockMsg := clock.Message(r.st.WallClock())
	audit, _ := AuditWitness(ctx, r.st)
	r.update(func(s *Status) {
		s.Pending, s.DeadLetters, s.Epoch, s.Progress, s.Clock, s.Audit = pending, len(dead), string(epoch), nil, clock, audit
		if t, perr := time.Parse(time.RFC3339Nano, string(last)); perr == nil {
			s.LastSuccess = t
		}
		switch {
		case err == nil && audit.Alarm != nil:
			s.State, s.Message = StateError, "the server's audit trail: "+audit.Alarm.Message
		case err == nil && len(refused) > 0:
			s.State, s.Message = StateError, fmt.Sprintf("%d change(s) refused by the server: %s", len(refused), refused[0].Reason)
			if clock.Held > 0 {
				s.Message += "; " + clockMsg
			}
		case err == nil && clock.Held > 0:
			s.State, s.Message = StateError, clockMsg
		case err == nil && r.attachErr != nil:
			s.State, s.Message = StateIdle, "attachments waiting to upload: "+r.attachErr.Error()
		case err == nil:
			s.State, s.Message = StateIdle, clockMsg
		case errors.Is(err, context.Canceled):
			s.State, s.Message = StateStopped, ""
		case Temporary(err):
			s.State, s.Message = StateOffline, "server not reachable; your work is saved on this device and will be sent when it is"
		default:
			s.State, s.Message = StateError, err.Error()
		}
	})
}

func (r *Replicator) cycle(ctx context.Context, c *Client, cred Credential, rep *Report) error {
	// Templates first when they may differ: records need their templates on both
	// sides. Otherwise the tag in every answer says when the server's changed.
	due, _ := r.st.State(ctx, keyReconcile)
	if due != nil || !r.templatesInStep(ctx, "") {
		if err := r.syncTemplates(ctx, c, rep); err != nil {
			return err
		}
	}
	if due, _ := r.st.State(ctx, keyReconcile); due != nil {
		if err := r.reconcile(ctx, c, rep, false); err != nil {
			return err
		}
	}
	if err := r.push(ctx, c, rep); err != nil {
		return err
	}
	if err := r.healClock(ctx, c, rep); err != nil {
		return err
	}
	if err := r.pull(ctx, c, rep); err != nil {
		return err
	}
	if err := r.reportQueue(ctx, c); err != nil {
		return err
	}
	if err := r.witness(ctx, c, cred, rep); err != nil {
		return err
	}
	if err := r.sendCheckpoint(ctx, c, rep); err != nil {
		return err
	}
	// Records first, bytes after: a record syncs at once, its attachments show as
	// pending until committed, and a failed upload is tried again at the next sync
	// without holding the records back.
	if err := r.uploadAttachments(ctx, c); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.log.Warn("attachments not uploaded yet", "err", err)
		r.mu.Lock()
		r.attachErr = err
		r.mu.Unlock()
	} else {
		r.mu.Lock()
		r.attachErr = nil
		r.mu.Unlock()
	}
	return nil
}

// observe compares what a response says about the server with what the replica knows.
// A new epoch, or a ledger behind what the server once acknowledged, means the server
// lost data: a reconcile is due.
func (r *Replicator) observe(ctx context.Context, srv wire.Server) (bool, error) {
	if srv.Epoch == "" {
		return false, nil
	}
	epoch, err := r.st.State(ctx, keyEpoch)
	if err != nil {
		return false, err
	}
	acked := r.acked(ctx)
	lost := false
	switch {
	case epoch == nil:
		// First contact with this server: whatever the replica holds may be news to it.
		n, _ := r.st.Count(ctx)
		lost = n > 0
	case string(epoch) != srv.Epoch:
		r.log.Warn("the server's data changed epoch; reconciling", "was", string(epoch), "now", srv.Epoch)
		lost = true
	case srv.AckedThrough < acked:
		r.log.Warn("the server lost changes it had acknowledged; reconciling", "server", srv.AckedThrough, "device", acked)
		lost = true
	}
	if lost {
		return true, r.st.SetState(ctx, map[string][]byte{keyReconcile: []byte("1")})
	}
	return false, nil
}

func (r *Replicator) acked(ctx context.Context) uint64 {
	b, _ := r.st.State(ctx, keyAcked)
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}

// syncTemplates pulls template versions the replica lacks and pushes those the server
// lacks: a rebuilt server may have lost them, and records need their templates first.
func (r *Replicator) syncTemplates(ctx context.Context, c *Client, rep *Report) error {
	var resp wire.TemplatesResponse
	srv, err := c.Do(ctx, http.MethodGet, "/v1/templates", nil, nil, &resp)
	if err != nil {
		return err
	}
	if _, err := r.observe(ctx, srv); err != nil {
		return err
	}
	have := map[form.TemplateKey]bool{}
	sigs := map[string][]byte{}
	for i, raw := range resp.Templates {
		t, err := form.ParseTemplate(raw)
		if err != nil {
			r.log.Warn("server sent a template that does not parse", "err", err)
			continue
		}
		have[t.Key()] = true
		local, err := r.st.Template(t.Key())
		if err != nil {
			if err := r.st.PutTemplate(ctx, t); err != nil && !errors.Is(err, store.ErrTemplateConflict) {
				return err
			}
			local = t
		}
		// Keep the tenant's signature of the version, to give it back to a server that
		// lost it: only an admin may publish, others only return signed versions.
		if i < len(resp.Signatures) && resp.Signatures[i] != "" && bytes.Equal(local.Encode(), t.Encode()) {
			key := keyTemplateSig + t.Key().String()
			if old, _ := r.st.State(ctx, key); string(old) != resp.Signatures[i] {
				sigs[key] = []byte(resp.Signatures[i])
			}
		}
	}
	if len(sigs) > 0 {
		if err := r.st.SetState(ctx, sigs); err != nil {
			return err
		}
	}
	var push wire.TemplatesPush
	signed := false
	for _, t := range r.st.Templates() {
		if !have[t.Key()] {
			sig, err := r.st.State(ctx, keyTemplateSig+t.Key().String())
			if err != nil {
				return err
			}
			if len(sig) == 0 && !c.admin {
				// Only an admin publishes: a version no admin signed (one imported
				// here, or a sample) stays on this device.
				continue
			}
			push.Templates = append(push.Templates, t.Encode())
			push.Signatures = append(push.Signatures, string(sig))
			signed = signed || len(sig) > 0
		}
	}
	if !signed {
		push.Signatures = nil // a server of an earlier release knows no signatures
	}
	for len(push.Templates) > 0 {
		n := min(len(push.Templates), wire.MaxTemplatesPush)
		batch := wire.TemplatesPush{Templates: push.Templates[:n]}
		if push.Signatures != nil {
			batch.Signatures = push.Signatures[:n]
			push.Signatures = push.Signatures[n:]
		}
		var out wire.TemplatesPushResponse
		if _, err := c.Do(ctx, http.MethodPost, "/v1/templates", nil, batch, &out); err != nil {
			return err
		}
		for _, res := range out.Results {
			if res.Status == wire.StatusRejected {
				r.log.Warn("server refused a template", "template", res.ID, "version", res.Version, "code", res.Code, "reason", res.Message)
				if !slices.ContainsFunc(rep.TemplatesRefused, func(o wire.TemplateResult) bool { return o.ID == res.ID && o.Version == res.Version }) {
					rep.TemplatesRefused = append(rep.TemplatesRefused, res)
				}
			}
		}
		push.Templates = push.Templates[n:]
	}
	tag := srv.Templates
	if len(push.Templates) > 0 || tag == "" {
		// What the server holds changed with the push: ask for its tag again next time.
		tag = "?"
	}
	return r.st.SetState(ctx, map[string][]byte{keyTemplates: []byte(tag + " " + r.st.TemplatesTag())})
}

// templatesInStep reports whether the templates agreed at the last exchange and
// neither side's changed since: serverTag is the tag an answer carried ("" for none).
func (r *Replicator) templatesInStep(ctx context.Context, serverTag string) bool {
	b, _ := r.st.State(ctx, keyTemplates)
	theirs, mine, ok := strings.Cut(string(b), " ")
	if !ok || theirs == "?" || mine != r.st.TemplatesTag() {
		return false
	}
	return serverTag == "" || serverTag == theirs
}

// reportQueue tells the server this device's queue when it changed since the last
// report, for the operator's monitoring.
func (r *Replicator) reportQueue(ctx context.Context, c *Client) error {
	pending, err := r.st.Pending(ctx, 1, 0)
	if err != nil {
		return err
	}
	n, err := r.st.PendingCount(ctx)
	if err != nil {
		return err
	}
	dead, err := r.st.DeadLetters(ctx)
	if err != nil {
		return err
	}
	st := wire.DeviceStatus{Pending: n, DeadLetters: len(dead)}
	if len(pending) > 0 {
		if t := pending[0].Change.Fields; t != nil {
			for _, fv := range t {
				ts := fv.Stamp.HLC.Time()
				st.OldestUnsent = &ts
				break
			}
		}
	}
	report, _ := json.Marshal(st)
	if last, _ := r.st.State(ctx, keyReported); string(last) == string(report) {
		return nil
	}
	if _, err := c.Do(ctx, http.MethodPost, "/v1/status", nil, st, nil); err != nil {
		return err
	}
	r.setLater(map[string][]byte{keyReported: report})
	return nil
}

// setLater keeps state to be written with the cycle's last commit (finish): what
// only the next cycle reads, and may do again if it is lost.
func (r *Replicator) setLater(kv map[string][]byte) {
	if r.later == nil {
		r.later = map[string][]byte{}
	}
	for k, v := range kv {
		r.later[k] = v
	}
}

// push sends the outbox in batches until it is empty.
func (r *Replicator) push(ctx context.Context, c *Client, rep *Report) error {
	templatesSent := false
	for {
		items, err := r.st.Pending(ctx, r.opts.BatchChanges, r.opts.BatchBytes)
		if err != nil || len(items) == 0 {
			return err
		}
		if items, err = r.dropPurgedChanges(ctx, items); err != nil {
			return err
		} else if len(items) == 0 {
			continue
		}
		req := wire.PushRequest{Changes: make([]wire.PushChange, len(items))}
		for i, it := range items {
			req.Changes[i] = wire.PushChange{Seq: it.Seq, Change: it.Change}
		}
		// The pull cursor goes with the push, so the answer may move it past this
		// push's own changes (wire: "Push answers that move the cursor").
		cursor, err := r.st.State(ctx, keyCursor)
		if err != nil {
			return err
		}
		var hdr http.Header
		if len(cursor) > 0 {
			hdr = http.Header{wire.HeaderCursor: {string(cursor)}}
		}
		var resp wire.PushResponse
		srv, err := c.DoWith(ctx, http.MethodPost, "/v1/push", nil, hdr, req, &resp)
		if err != nil {
			return err
		}
		if len(resp.Results) != len(items) {
			return fmt.Errorf("push: %d results for %d changes", len(resp.Results), len(items))
		}
		var acked []uint64
		maxSeq := r.acked(ctx)
		missingTemplate := false
		for i, res := range resp.Results {
			seq := items[i].Seq
			if res.Status == wire.StatusRejected && res.Code == wire.CodeUnknownTemplate && !templatesSent {
				// The server lacks a template this replica has (a rebuilt server, a
				// template new on this device): send the templates, then the change again.
				missingTemplate = true
				continue
			}
			if res.Status == wire.StatusRejected && res.Code == wire.CodePurged {
				// Purged for good: drop the record and the change, never send it again.
				if err := r.refusedAsPurged(ctx, items[i].Change.Record); err != nil {
					return err
				}
				acked = append(acked, seq)
				rep.Purged++
				maxSeq = max(maxSeq, seq)
				continue
			}
			switch res.Status {
			case wire.StatusApplied, wire.StatusDuplicate, wire.StatusUnchanged:
				acked = append(acked, seq)
				rep.Pushed++
			case wire.StatusRejected:
				reason := res.Code + ": " + res.Message
				if err := r.st.DeadLetter(ctx, seq, reason); err != nil {
					return err
				}
				r.log.Warn("server refused a change; kept as a dead letter", "seq", seq, "code", res.Code)
				rep.DeadLettered++
			default:
				return fmt.Errorf("push: unknown status %q for change %d", res.Status, seq)
			}
			maxSeq = max(maxSeq, seq)
		}
		ackedState := map[string][]byte{keyAcked: []byte(strconv.FormatUint(max(maxSeq, srv.AckedThrough), 10))}
		if !missingTemplate && resp.Server.Epoch != "" {
			// The usual case: one commit for the acknowledged changes, the ledger
			// and, when the answer moved it, the cursor.
			due, err := r.observe(ctx, resp.Server)
			if err != nil {
				return err
			}
			if !due {
				if resp.Cursor != "" {
					if ok, err := r.holdsPushedRevs(ctx, items, resp.Results); err != nil {
						return err
					} else if ok {
						ackedState[keyCursor] = []byte(resp.Cursor)
					}
				}
				if err := r.st.AckState(ctx, ackedState, acked...); err != nil {
					return err
				}
				continue
			}
		}
		if err := r.st.Ack(ctx, acked...); err != nil {
			return err
		}
		if missingTemplate {
			if err := r.syncTemplates(ctx, c, rep); err != nil {
				return err
			}
			templatesSent = true
		}
		// The ledger check compares with what was acknowledged before this push.
		due, err := r.observe(ctx, resp.Server)
		if err != nil {
			return err
		} else if due {
			if err := r.reconcile(ctx, c, rep, false); err != nil {
				return err
			}
		}
		if err := r.st.SetState(ctx, ackedState); err != nil {
			return err
		}
	}
}

// holdsPushedRevs reports whether the replica holds every pushed record that the
// server took at the rev the server answered: then the cursor the push answered
// skips nothing the replica lacks.
func (r *Replicator) holdsPushedRevs(ctx context.Context, items []store.OutboxItem, results []wire.PushResult) (bool, error) {
	ids := make([]string, 0, len(items))
	for i, res := range results {
		if res.Status == wire.StatusRejected {
			continue
		}
		if res.Rev == "" {
			return false, nil
		}
		ids = append(ids, items[i].Change.Record)
	}
	mine, err := r.st.RevOf(ctx, ids)
	if err != nil {
		return false, err
	}
	for i, res := range results {
		if res.Status != wire.StatusRejected && mine[items[i].Change.Record] != res.Rev {
			return false, nil
		}
	}
	return true, nil
}

// pull applies what the server has beyond the replica's cursor.
func (r *Replicator) pull(ctx context.Context, c *Client, rep *Report) error {
	m := newMeter("receiving records", 0, nil) // shown when a pull takes more than one page
	received := 0
	for {
		cursor, err := r.st.State(ctx, keyCursor)
		if err != nil {
			return err
		}
		q := url.Values{"cursor": {string(cursor)}, "limit": {strconv.Itoa(wire.DefaultPullLimit)}}
		var resp wire.PullResponse
		srv, err := c.Do(ctx, http.MethodGet, "/v1/pull", q, nil, &resp)
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == wire.CodeEpochChanged {
			if _, err := r.observe(ctx, srv); err != nil {
				return err
			}
			if err := r.reconcile(ctx, c, rep, false); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if due, err := r.observe(ctx, resp.Server); err != nil {
			return err
		} else if due {
			if err := r.reconcile(ctx, c, rep, false); err != nil {
				return err
			}
			continue
		}
		if !r.templatesInStep(ctx, resp.Server.Templates) {
			// New templates on the server: fetch them before the records that use them.
			if err := r.syncTemplates(ctx, c, rep); err != nil {
				return err
			}
		}
		recs, err := r.skipKnown(ctx, resp.Records)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			res, err := r.st.ApplyRecords(ctx, recs, "sync")
			if err != nil {
				return err
			}
			for _, x := range res {
				switch x.Status {
				case store.Applied:
					rep.Pulled++
				case store.Rejected:
					r.log.Warn("a pulled record was refused", "record", x.ID, "err", x.Err)
				}
			}
		}
		if err := r.applyPurged(ctx, resp.Purged, resp.Notices, rep); err != nil {
			return err
		}
		if err := r.st.SetState(ctx, map[string][]byte{keyCursor: []byte(resp.Cursor)}); err != nil {
			return err
		}
		r.releaseMapped()
		received += len(resp.Records)
		if resp.More && resp.Remaining > 0 {
			m.total = received + resp.Remaining
			r.update(func(s *Status) { s.Progress = m.at(received) })
		}
		if !resp.More {
			return nil
		}
	}
}

// releaseMapped gives back the replica's pages a step read (store.ReleaseMapped),
// so a sync through the whole replica holds about one batch of it in memory.
func (r *Replicator) releaseMapped() {
	if err := r.st.ReleaseMapped(); err != nil {
		r.log.Debug("replica pages not released", "err", err)
	}
}

// update changes the status and tells subscribers.
func (r *Replicator) update(fn func(*Status)) {
	r.mu.Lock()
	fn(&r.status)
	s := r.status
	subs := make([]func(Status), 0, len(r.subs))
	for _, f := range r.subs {
		subs = append(subs, f)
	}
	r.mu.Unlock()
	for _, f := range subs {
		f(s)
	}
}

// Status returns the current status.
func (r *Replicator) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Subscribe calls fn on every status change, from the replicator's goroutine (a UI
// must hand it to its own thread). The returned function unsubscribes.
func (r *Replicator) Subscribe(fn func(Status)) func() {
	r.mu.Lock()
	id := r.nextSub
	r.nextSub++
	r.subs[id] = fn
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.subs, id)
		r.mu.Unlock()
	}
}

// Info reads what the replica knows of its server without contacting it: the epoch
// and the last successful sync.
func (r *Replicator) Info(ctx context.Context) Status {
	s := r.Status()
	if b, _ := r.st.State(ctx, keyEpoch); b != nil {
		s.Epoch = string(b)
	}
	if b, _ := r.st.State(ctx, keyLastSuccess); b != nil {
		if t, err := time.Parse(time.RFC3339Nano, string(b)); err == nil {
			s.LastSuccess = t
		}
	}
	s.Pending, _ = r.st.PendingCount(ctx)
	s.Clock, _ = ClockInfo(ctx, r.st)
	s.Clock.Held, _ = r.heldForClock(ctx)
	s.Audit, _ = AuditWitness(ctx, r.st)
	return s
}

// ResetSession forgets the cached credential and connection, so the next sync reads
// the credential again (after an enrolment).
func (r *Replicator) ResetSession() {
	r.mu.Lock()
	r.client = nil
	r.mu.Unlock()
}

// skipKnown drops pulled records the replica already holds in the same version — most
// often its own changes coming back — so only news is merged.
func (r *Replicator) skipKnown(ctx context.Context, recs []form.Record) ([]form.Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	mine, err := r.st.RevOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := recs[:0:0]
	for _, rec := range recs {
		if rev, ok := mine[rec.ID]; !ok || rev != rec.Rev() {
			out = append(out, rec)
		}
	}
	return out, nil
}
