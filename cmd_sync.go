package main

// Commands that talk to the server: enroll, sync, status, reseed.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
	"github.com/fieldforms/fieldforms/sync/wire"
)

func init() {
	registerCommand(&cliCommand{
		name:    "enroll",
		args:    "CODE [--name DEVICE-NAME]",
		summary: "enrol this device with a server, using a one-time code from `fieldformsd enroll`",
		help: "The code carries the server's address and, for a self-signed server, its certificate,\n" +
			"which this device then trusts and no other. Records already in the replica stay and\n" +
			"are sent to the server at the next sync.",
		minArgs: 1, maxArgs: 1,
		setup: func(fs *flag.FlagSet) cliRun {
			name := fs.String("name", "", "a name for this device, shown to the operator (default: the host name)")
			return func(e *cliEnv, args []string) error {
				code, err := wire.ParseEnrollCode(args[0])
				if err != nil {
					return err
				}
				if *name == "" {
					*name, _ = os.Hostname()
				}
				cred, err := ffsync.Enroll(e.ctx, code, e.st.Device(), *name, ffsync.ClientOptions{Logger: e.log})
				if err != nil {
					return err
				}
				if err := ffsync.SaveCredential(e.ctx, e.st, cred); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "enrolled: device %s, user %s, tenant %s, server %s\n", cred.DeviceID, cred.User, cred.Tenant, cred.URL)
				return nil
			}
		},
	})
	registerCommand(&cliCommand{
		name:    "sync",
		args:    "[--once]",
		summary: "send this device's changes and fetch everyone else's",
		help: "Without --once it keeps syncing, waking on a schedule and retrying with backoff while\n" +
			"the server is unreachable, until interrupted. With --once it syncs once and exits 0 when\n" +
			"nothing was pending and the server had nothing new, 3 when something moved (run it\n" +
			"again to confirm all is in step), 1 on failure. Each template version the server\n" +
			"refused is named on a line \"template ID version N not published (CODE)\". Only an\n" +
			"admin's device publishes templates; another offers only versions an admin signed.",
		setup: func(fs *flag.FlagSet) cliRun {
			once := fs.Bool("once", false, "sync once and exit")
			return func(e *cliEnv, args []string) error {
				rep := ffsync.New(e.st, ffsync.Options{Logger: e.log, DeviceCheckpoints: deviceWitness(e.log)})
				if *once {
					r, err := rep.SyncOnce(e.ctx)
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "pushed %d, refused %d, pulled %d, purged %d", r.Pushed, r.DeadLettered, r.Pulled, r.Purged)
					if r.Reconciled {
						fmt.Fprintf(e.stdout, ", reconciled (sent %d records, fetched %d)", r.RecordsPushedByReconcile, r.RecordsFetchedByReconcile)
					}
					fmt.Fprintln(e.stdout)
					for _, res := range r.TemplatesRefused {
						fmt.Fprintf(e.stdout, "template %s version %d not published (%s)\n", res.ID, res.Version, res.Code)
					}
					if r.AuditRestore != "" {
						fmt.Fprintf(e.stdout, "audit: %s\n", r.AuditRestore)
					}
					if r.DeviceAuditProblem != "" {
						fmt.Fprintf(e.stdout, "audit: the server finds this device's trail changed: %s\n", r.DeviceAuditProblem)
					}
					if r.AuditAlarm != "" {
						fmt.Fprintf(e.stdout, "audit ALARM: %s\n", r.AuditAlarm)
						fmt.Fprintf(e.stderr, "audit ALARM: %s\n", r.AuditAlarm)
					}
					if !r.NothingNew() {
						return cliExit(3, nil)
					}
					return nil
				}
				if _, err := ffsync.LoadCredential(e.ctx, e.st); err != nil {
					return err
				}
				stop := rep.Subscribe(func(s ffsync.Status) {
					line := fmt.Sprintf("%s: %s", time.Now().Format(time.TimeOnly), s.State)
					if s.Message != "" {
						line += " — " + s.Message
					}
					if s.Progress != nil && s.Progress.Total > 0 {
						line += " (" + s.Progress.String() + ")"
					}
					fmt.Fprintln(e.stderr, line)
				})
				defer stop()
				go keepSnapshots(e.ctx, e.st, e.log)
				rep.Start(e.ctx)
				<-e.ctx.Done()
				rep.Stop()
				return nil
			}
		},
	})
	registerCommand(&cliCommand{
		name:    "status",
		args:    "[--json]",
		summary: "pending changes, dead letters, last sync, server epoch and health",
		setup: func(fs *flag.FlagSet) cliRun {
			asJSON := fs.Bool("json", false, "print JSON")
			return func(e *cliEnv, args []string) error {
				s, err := deviceStatus(e)
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSON(e.stdout, s)
				}
				fmt.Fprintf(e.stdout, "enrolled:     %v\n", s.Enrolled)
				if s.Enrolled {
					fmt.Fprintf(e.stdout, "server:       %s (%s)\n", s.Server, s.Health)
					fmt.Fprintf(e.stdout, "user:         %s, tenant %s, device %s\n", s.User, s.Tenant, s.Device)
					fmt.Fprintf(e.stdout, "epoch:        %s\n", s.Epoch)
					fmt.Fprintf(e.stdout, "last sync:    %s\n", s.LastSync)
				}
				if s.Audit != nil {
					fmt.Fprintf(e.stdout, "audit:        %s\n", s.Audit.Line)
				}
				fmt.Fprintf(e.stdout, "pending:      %d\n", s.Pending)
				if c := s.Clock; c != nil {
					switch {
					case c.Message != "":
						fmt.Fprintf(e.stdout, "clock:        %s\n", c.Message)
					case c.MeasuredAt != "":
						fmt.Fprintf(e.stdout, "clock:        agrees with the server's (%+.1f s)\n", c.OffsetSeconds)
					}
				}
				fmt.Fprintf(e.stdout, "dead letters: %d\n", len(s.DeadLetters))
				if s.Purged > 0 {
					fmt.Fprintf(e.stdout, "purged:       %d (deleted for good on the server's order)\n", s.Purged)
				}
				for _, d := range s.DeadLetters {
					fmt.Fprintf(e.stdout, "  change %d (record %s): %s\n", d.Seq, d.Record, d.Reason)
				}
				return nil
			}
		},
	})
	registerCommand(&cliCommand{
		name:    "reseed",
		summary: "admin: send the whole replica to the server, to rebuild it",
		help: "Pushes every record this device holds, whatever the server says it has. Safe to run on\n" +
			"many devices at once: the server merges what it already has without a second effect.",
		setup: func(fs *flag.FlagSet) cliRun {
			return func(e *cliEnv, args []string) error {
				rep := ffsync.New(e.st, ffsync.Options{Logger: e.log})
				last := time.Time{}
				stop := rep.Subscribe(func(s ffsync.Status) {
					if p := s.Progress; p != nil && p.Total > 0 && time.Since(last) > time.Second {
						last = time.Now()
						fmt.Fprintln(e.stderr, p.String())
					}
				})
				defer stop()
				r, err := rep.Reseed(e.ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "sent %d records to the server\n", r.RecordsPushedByReconcile)
				return nil
			}
		},
	})
}

// deviceWitness gives the replicator the device's own signed audit checkpoints and
// its public key (store.KeyDir); nil when the device has no key folder.
func deviceWitness(log *slog.Logger) ffsync.DeviceCheckpoints {
	if kd, ok := deviceCheckpoints(log).(store.KeyDir); ok {
		return ffsync.KeyDirCheckpoints{KeyDir: kd}
	}
	return nil
}

// statusReport is what `fieldforms status` prints.
type statusReport struct {
	Enrolled    bool         `json:"enrolled"`
	Server      string       `json:"server,omitempty"`
	Health      string       `json:"health,omitempty"`
	User        string       `json:"user,omitempty"`
	Tenant      string       `json:"tenant,omitempty"`
	Device      string       `json:"device"`
	Epoch       string       `json:"epoch,omitempty"`
	LastSync    string       `json:"last_sync,omitempty"`
	Pending     int          `json:"pending"`
	Clock       *clockReport `json:"clock,omitempty"`
	DeadLetters []deadLetter `json:"dead_letters"`
	Purged      int          `json:"purged"` // record IDs deleted for good: never held or sent again
	Audit       *auditReport `json:"audit,omitempty"`
}

// auditReport is what the device witnessed of the server's audit trail: the latest
// signed checkpoint it verified, or the alarm raised when the trail was found cut,
// rewritten or replaced.
type auditReport struct {
	Epoch   string `json:"epoch,omitempty"`
	Entries int64  `json:"entries"`
	OK      bool   `json:"ok"`
	Alarm   string `json:"alarm,omitempty"`
	Line    string `json:"line"`
}

// clockReport is the device's clock against the server's, at the last sync.
type clockReport struct {
	OffsetSeconds float64 `json:"offset_seconds"`         // device minus server
	MeasuredAt    string  `json:"measured_at,omitempty"`  // server time of the measurement
	Held          int     `json:"held"`                   // changes waiting for the clock to be right
	Restamped     int     `json:"restamped,omitempty"`    // changes stamped anew by the last heal
	RestampedAt   string  `json:"restamped_at,omitempty"` // when the clock was found corrected
	Message       string  `json:"message,omitempty"`
}

type deadLetter struct {
	Seq    uint64 `json:"seq"`
	Record string `json:"record"`
	Reason string `json:"reason"`
	Time   string `json:"time"`
}

func deviceStatus(e *cliEnv) (statusReport, error) {
	s := statusReport{Device: e.st.Device(), DeadLetters: []deadLetter{}}
	var err error
	if s.Pending, err = e.st.PendingCount(e.ctx); err != nil {
		return s, err
	}
	dead, err := e.st.DeadLetters(e.ctx)
	if err != nil {
		return s, err
	}
	if s.Purged, err = e.st.PurgedCount(e.ctx); err != nil {
		return s, err
	}
	for _, d := range dead {
		s.DeadLetters = append(s.DeadLetters, deadLetter{Seq: d.Seq, Record: d.Change.Record, Reason: d.Reason, Time: d.Time.Format(time.RFC3339)})
	}
	cred, err := ffsync.LoadCredential(e.ctx, e.st)
	if errors.Is(err, ffsync.ErrNotEnrolled) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.Enrolled, s.Server, s.User, s.Tenant, s.Device = true, cred.URL, cred.User, cred.Tenant, cred.DeviceID
	st := ffsync.New(e.st, ffsync.Options{}).Info(e.ctx)
	if c := st.Clock; !c.MeasuredAt.IsZero() || c.Held > 0 || c.Restamped > 0 {
		s.Clock = &clockReport{OffsetSeconds: c.Offset.Seconds(), Held: c.Held, Restamped: c.Restamped,
			Message: c.Message(e.st.WallClock())}
		if !c.MeasuredAt.IsZero() {
			s.Clock.MeasuredAt = c.MeasuredAt.Format(time.RFC3339)
		}
		if !c.RestampedAt.IsZero() {
			s.Clock.RestampedAt = c.RestampedAt.Format(time.RFC3339)
		}
	}
	s.Epoch, s.LastSync = st.Epoch, "never"
	if !st.LastSuccess.IsZero() {
		s.LastSync = st.LastSuccess.Format(time.RFC3339)
	}
	a := st.Audit
	s.Audit = &auditReport{Epoch: a.Epoch, Entries: a.Size, OK: a.Alarm == nil, Line: a.Line()}
	if a.Alarm != nil {
		s.Audit.Alarm = a.Alarm.Message
	}
	s.Health = serverHealth(e.ctx, cred)
	return s, nil
}

// serverHealth asks the server's /readyz, briefly.
func serverHealth(ctx context.Context, cred ffsync.Credential) string {
	c, err := ffsync.NewClient(cred, ffsync.ClientOptions{Timeout: 3 * time.Second})
	if err != nil {
		return "unusable credential: " + err.Error()
	}
	if _, err := c.Do(ctx, http.MethodGet, "/readyz", nil, nil, nil); err != nil {
		if ffsync.Temporary(err) {
			return "unreachable"
		}
		return "not ready: " + err.Error()
	}
	return "ready"
}
