// Command fieldforms is the Fieldforms device app: the offline-first forms UI
// for Windows laptops and iPads, over a full local replica of the
// organisation's forms.
//
// Usage:
//
//	fieldforms [--data DIR]
//	fieldforms [--data DIR] COMMAND [ARGS]
//
// --data picks the folder of the replica; without it, the app's storage folder
// is used. With a command (templates, record, attach, export, verify, repair, ...; see
// fieldforms --help) it runs headless: it never starts Fyne, so it needs no
// display. The commands are in cli.go and cmd_*.go.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/fieldforms/fieldforms/app"
	"github.com/fieldforms/fieldforms/assets"
	"github.com/fieldforms/fieldforms/internal/initstderr"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
)

// appID identifies the app to the platform; FyneApp.toml carries the same ID.
const appID = "com.fieldforms.app"

func main() {
	os.Exit(run(os.Args[1:]))
}

// run runs the app and returns the exit status: 0 on success, 1 when something
// failed, 2 for a bad command line. Failures are one line on standard error.
func run(args []string) int {
	// What libraries wrote to standard error while initialising: Fyne's locale
	// warnings, mostly. The app shows it; commands drop Fyne's lines.
	held := initstderr.Release()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	flags := flag.NewFlagSet("fieldforms", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // errors are reported below, on one line
	dataDir := flags.String("data", "", "the replica's `folder` (default: the app's storage folder)")
	if err := flags.Parse(args); err != nil {
		os.Stderr.Write(dropFyneInitNoise(held))
		if errors.Is(err, flag.ErrHelp) {
			printCommandList(os.Stdout)
			return 0
		}
		fmt.Fprintf(os.Stderr, "fieldforms: %v\n", err)
		return 2
	}
	// Dispatched before the Fyne app exists, so a headless command never needs
	// a display.
	if flags.NArg() > 0 {
		os.Stderr.Write(dropFyneInitNoise(held))
		return runCommand(flags.Args(), *dataDir)
	}
	os.Stderr.Write(held)

	if err := runUI(log, *dataDir); err != nil {
		fmt.Fprintf(os.Stderr, "fieldforms: %v\n", err)
		return 1
	}
	return 0
}

// runUI opens the replica and shows the main window until the app quits.
func runUI(log *slog.Logger, dir string) (err error) {
	a := fyneapp.NewWithID(appID)
	a.SetIcon(fyne.NewStaticResource("icon.png", assets.IconPNG))
	if dir == "" {
		dir = a.Storage().RootURI().Path()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, dir, store.Options{Logger: log.With("part", "store"), Checkpoint: deviceCheckpoints(log)})
	if errors.Is(err, store.ErrInUse) {
		return fmt.Errorf("the forms in %s are open in another Fieldforms program; close it first", dir)
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close replica: %w", cerr)
		}
	}()
	if err := addSampleTemplates(ctx, log, st); err != nil {
		return err
	}
	log.Info("replica open", "dir", dir, "device", st.Device())

	rep := ffsync.New(st, ffsync.Options{Logger: log.With("part", "sync"), DeviceCheckpoints: deviceWitness(log)})
	go keepSnapshots(ctx, st, log.With("part", "snapshots"))
	engine := &syncEngine{st: st, rep: rep, ctx: ctx}
	engine.Resume()
	defer rep.Stop()
	w := app.NewMainWindow(ctx, a, app.Deps{Replica: replica{st: st, sync: engine}, Sync: engine, Logger: log.With("part", "ui")})
	w.Resize(fyne.NewSize(1024, 768))

	// An interrupt or a termination request quits the app the way closing the
	// window does, so the replica is closed on the way out.
	sig, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-sig.Done()
		if ctx.Err() == nil {
			log.Info("quitting on signal")
			fyne.Do(a.Quit)
		}
	}()

	w.ShowAndRun()
	cancel()
	return nil
}

// addSampleTemplates makes sure the templates that ship with the app are in the
// replica. Saving a version the replica already holds changes nothing.
func addSampleTemplates(ctx context.Context, log *slog.Logger, st *store.Store) error {
	ts, err := assets.Templates()
	if err != nil {
		return err
	}
	for _, t := range ts {
		err := st.PutTemplate(ctx, t)
		if errors.Is(err, store.ErrTemplateConflict) {
			// The replica holds another template under this ID and version (one
			// synced from the organisation, say); that one is theirs and stays.
			log.Warn("sample template not added: the replica holds another with its version", "template", t.Key().String())
			continue
		}
		if err != nil {
			return fmt.Errorf("add sample template %s: %w", t.Key(), err)
		}
	}
	return nil
}
