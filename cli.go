package main

// Headless commands: fieldforms [--data DIR] COMMAND [ARGS].
//
// A command registers itself from an init function in a cmd_*.go file:
//
//	func init() {
//		registerCommand(&cliCommand{
//			name:    "status",
//			args:    "[--json]",
//			summary: "pending changes, dead letters, last sync, server epoch, health",
//			setup: func(fs *flag.FlagSet) cliRun {
//				asJSON := fs.Bool("json", false, "print JSON")
//				return func(e *cliEnv, args []string) error { ... }
//			},
//		})
//	}
//
// The framework parses the command's flags (anywhere among its arguments),
// answers --help, checks the number of arguments, opens the replica (with the
// sample templates in it) unless the command sets noStore, runs the command with
// a context cancelled by SIGINT or SIGTERM, closes the replica, and turns the
// returned error into one line on standard error and an exit status:
//
//	nil                                  0
//	cliUsagef(...)                       2, with a pointer to --help
//	cliExit(code, err)                   code; err (when not nil) on one line
//	interrupted by a signal              130
//	anything else                        1
//
// Results go to e.stdout only. Nothing here touches Fyne, so commands need no
// display.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fieldforms/fieldforms/form"
	"github.com/fieldforms/fieldforms/store"
	ffsync "github.com/fieldforms/fieldforms/sync"
)

// cliRun runs a command with its positional arguments, its flags already parsed.
type cliRun func(e *cliEnv, args []string) error

// cliCommand is one headless command.
type cliCommand struct {
	// name is the command's words: "templates", "record new".
	name string
	// args is the synopsis after the name, e.g. "ID --json OBJECT [--submit]".
	args string
	// summary is the command's line in the list of commands.
	summary string
	// help, when set, follows the synopsis in --help: a paragraph or two.
	help string
	// minArgs and maxArgs bound the positional arguments; maxArgs < 0: no bound.
	minArgs, maxArgs int
	// noStore runs the command without opening the replica (e.dataDir is still
	// set, e.st is nil).
	noStore bool
	// setup declares the command's flags and returns the function that runs it.
	setup func(fs *flag.FlagSet) cliRun
}

// cliCommands holds every registered command by name.
var cliCommands = map[string]*cliCommand{}

// registerCommand adds a command; a second command of the same name is a
// programming mistake.
func registerCommand(c *cliCommand) {
	if _, dup := cliCommands[c.name]; dup {
		panic("fieldforms: command registered twice: " + c.name)
	}
	cliCommands[c.name] = c
}

// cliEnv is what a command runs with.
type cliEnv struct {
	ctx     context.Context
	stdin   io.Reader
	stdout  io.Writer // results; buffered, flushed when the command returns
	stderr  io.Writer // progress, if a command has any; never results
	dataDir string    // the replica's folder
	st      *store.Store
	log     *slog.Logger // discarded unless FIELDFORMS_LOG names a level
}

// cliUsageError is a bad command line: exit status 2.
type cliUsageError struct{ msg string }

func (e *cliUsageError) Error() string { return e.msg }

// cliUsagef reports a bad command line.
func cliUsagef(format string, args ...any) error {
	return &cliUsageError{msg: fmt.Sprintf(format, args...)}
}

// cliExitError ends a command with a chosen status.
type cliExitError struct {
	code int
	err  error // nil: print nothing
}

func (e *cliExitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *cliExitError) Unwrap() error { return e.err }

// cliExit ends a command with exit status code, printing err (when not nil) as
// the one line on standard error.
func cliExit(code int, err error) error { return &cliExitError{code: code, err: err} }

// errInterrupted is the cause of the context when a signal stops a command.
var errInterrupted = errors.New("interrupted")

// cliLockTimeout bounds the wait for a replica another process holds.
const cliLockTimeout = 2 * time.Second

// runCommand runs the headless command args names and returns the exit status.
// dataDir is the global --data flag ("" for the default folder).
func runCommand(args []string, dataDir string) int {
	return runCommandIO(args, dataDir, os.Stdin, os.Stdout, os.Stderr)
}

func runCommandIO(args []string, dataDir string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "fieldforms: %s\n", oneLine(fmt.Sprintf(format, a...)))
		return code
	}
	if args[0] == "help" {
		if len(args) == 1 {
			printCommandList(stdout)
			return 0
		}
		args = append(args[1:], "--help")
	}
	cmd, rest, err := lookupCommand(args)
	if err != nil {
		return fail(2, "%v", err)
	}
	if cmd == nil { // "record --help"
		printGroupHelp(stdout, args[0])
		return 0
	}

	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported below, on one line
	data := fs.String("data", dataDir, "the replica's `folder` (default: the app's storage folder)")
	run := cmd.setup(fs)
	pos, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(stdout, cmd, fs)
		return 0
	}
	if err != nil {
		return fail(2, "%s: %v (see 'fieldforms %s --help')", cmd.name, err, cmd.name)
	}
	if err := checkArgCount(cmd, pos); err != nil {
		return fail(2, "%s: %v (see 'fieldforms %s --help')", cmd.name, err, cmd.name)
	}

	dir := *data
	if dir == "" {
		if dir, err = defaultDataDir(); err != nil {
			return fail(1, "%v; give --data DIR", err)
		}
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			cancel(errInterrupted)
		case <-ctx.Done():
		}
	}()

	out := bufio.NewWriter(stdout)
	e := &cliEnv{ctx: ctx, stdin: stdin, stdout: out, stderr: stderr, dataDir: dir, log: cliLogger(stderr)}
	err = execCommand(e, cmd, run, pos)
	if ferr := out.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write output: %w", ferr)
	}
	if err == nil {
		return 0
	}
	if errors.Is(context.Cause(ctx), errInterrupted) {
		return fail(130, "%s: interrupted", cmd.name)
	}
	var ue *cliUsageError
	if errors.As(err, &ue) {
		return fail(2, "%s: %s (see 'fieldforms %s --help')", cmd.name, ue.msg, cmd.name)
	}
	var xe *cliExitError
	if errors.As(err, &xe) {
		if xe.err != nil {
			fail(xe.code, "%s", describeError(xe.err))
		}
		return xe.code
	}
	return fail(1, "%s", describeError(err))
}

// execCommand opens the replica when the command needs it, runs the command and
// closes the replica.
func execCommand(e *cliEnv, cmd *cliCommand, run cliRun, args []string) (err error) {
	if !cmd.noStore {
		st, err := openReplica(e.ctx, e.dataDir, e.log)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := st.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("close replica: %w", cerr)
			}
		}()
		e.st = st
	}
	return run(e, args)
}

// openReplica opens the replica in dir for a command, with the sample templates
// in it.
func openReplica(ctx context.Context, dir string, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, dir, store.Options{LockTimeout: cliLockTimeout, Logger: log.With("part", "store"),
		Checkpoint: deviceCheckpoints(log)})
	if errors.Is(err, store.ErrInUse) {
		return nil, errors.New("replica in use by another process (is the app open?)")
	}
	if err != nil {
		return nil, err
	}
	if err := addSampleTemplates(ctx, log, st); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// cliLogger writes the store's and the commands' log to standard error at the
// level FIELDFORMS_LOG names (debug, info, warn, error); by default nowhere,
// since a command's standard error is for its one line of failure.
func cliLogger(stderr io.Writer) *slog.Logger {
	var level slog.Level
	name := os.Getenv("FIELDFORMS_LOG")
	if name == "" || level.UnmarshalText([]byte(name)) != nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// lookupCommand finds the command args start with and returns it with the rest
// of args. For a group's help ("record --help") it returns a nil command.
func lookupCommand(args []string) (*cliCommand, []string, error) {
	if len(args) >= 2 {
		if c := cliCommands[args[0]+" "+args[1]]; c != nil {
			return c, args[2:], nil
		}
	}
	if c := cliCommands[args[0]]; c != nil {
		return c, args[1:], nil
	}
	subs := groupCommands(args[0])
	if len(subs) == 0 {
		return nil, nil, cliUsagef("unknown command %q (see 'fieldforms --help')", args[0])
	}
	if len(args) == 1 {
		return nil, nil, cliUsagef("%s: missing subcommand: %s", args[0], strings.Join(subs, ", "))
	}
	if isHelpFlag(args[1]) {
		return nil, nil, nil
	}
	return nil, nil, cliUsagef("%s: unknown subcommand %q; want one of: %s", args[0], args[1], strings.Join(subs, ", "))
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// groupCommands lists the subcommands of a group ("record": new, edit, ...),
// sorted.
func groupCommands(group string) []string {
	var subs []string
	for name := range cliCommands {
		if sub, ok := strings.CutPrefix(name, group+" "); ok {
			subs = append(subs, sub)
		}
	}
	slices.Sort(subs)
	return subs
}

// parseInterspersed parses flags wherever they occur among the arguments (the
// flag package stops at the first non-flag) and returns the others in order.
// Everything after "--" is an argument.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func checkArgCount(cmd *cliCommand, args []string) error {
	n := len(args)
	switch {
	case n < cmd.minArgs:
		want := argNames(cmd)
		if len(want) > n {
			return fmt.Errorf("missing %s", strings.Join(want[n:cmd.minArgs], " "))
		}
		return fmt.Errorf("missing arguments")
	case cmd.maxArgs >= 0 && n > cmd.maxArgs:
		return fmt.Errorf("unexpected argument %q", args[cmd.maxArgs])
	}
	return nil
}

// argNames picks the positional argument names (the upper-case words before the
// first flag) out of a command's synopsis.
func argNames(cmd *cliCommand) []string {
	var names []string
	for w := range strings.FieldsSeq(cmd.args) {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[") {
			break
		}
		names = append(names, w)
	}
	return names
}

// printCommandList is the answer to fieldforms --help (after the GUI's usage)
// and to fieldforms help.
func printCommandList(w io.Writer) {
	fmt.Fprintln(w, "usage: fieldforms [--data DIR]               open the app")
	fmt.Fprintln(w, "       fieldforms [--data DIR] COMMAND [ARGS]  run a command without a display")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(cliCommands))
	width := 0
	for name := range cliCommands {
		names = append(names, name)
		width = max(width, len(name))
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-*s  %s\n", width, name, cliCommands[name].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "--data DIR picks the replica's folder; without it, the app's storage folder is used.")
	fmt.Fprintln(w, "Run 'fieldforms COMMAND --help' for a command's arguments and flags.")
}

func printGroupHelp(w io.Writer, group string) {
	fmt.Fprintf(w, "usage: fieldforms %s SUBCOMMAND ...\n\nsubcommands:\n", group)
	for _, sub := range groupCommands(group) {
		c := cliCommands[group+" "+sub]
		fmt.Fprintf(w, "  fieldforms %s %s\n      %s\n", c.name, c.args, c.summary)
	}
}

func printCommandHelp(w io.Writer, cmd *cliCommand, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: fieldforms [--data DIR] %s %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
	if cmd.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.help))
	}
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// describeError renders an error as the text of the one line on standard error.
// Validation errors name each field and the rule it breaks.
func describeError(err error) string {
	var verr *form.ValidationError
	if errors.As(err, &verr) {
		parts := make([]string, len(verr.Fields))
		for i, f := range verr.Fields {
			parts[i] = fmt.Sprintf("field %q (rule %s): %s", f.Field, f.Rule, f.Msg)
		}
		return fmt.Sprintf("invalid values for template %s: %s", verr.Template, strings.Join(parts, "; "))
	}
	return err.Error()
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(s)), " ")
}

// dropFyneInitNoise removes from what packages wrote to standard error while
// the program initialised the lines Fyne logs about the user's locale (see
// internal/initstderr): "… Fyne error:  …" and its "  Cause:" and "  At:" lines.
// Anything else is kept.
func dropFyneInitNoise(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	var out []byte
	inFyne := false
	for line := range strings.Lines(string(b)) {
		switch {
		case strings.Contains(line, "Fyne error: "):
			inFyne = true
			continue
		case inFyne && (strings.Contains(line, "  Cause: ") || strings.Contains(line, "  At: ")):
			continue
		}
		inFyne = false
		out = append(out, line...)
	}
	return out
}

// credentialStateKey is where the sync engine keeps the device's enrolment; its
// JSON has the enrolled user's name in "user".
const credentialStateKey = ffsync.KeyCredential

// author is who a command's edits are made by: the --author flag, else the user
// the device is enrolled for, else the operating system's user.
func (e *cliEnv) author(flagValue string) (string, error) {
	if flagValue != "" {
		if len(flagValue) > 256 {
			return "", errors.New("--author: longer than 256 bytes")
		}
		return flagValue, nil
	}
	raw, err := e.st.State(e.ctx, credentialStateKey)
	if err != nil {
		return "", err
	}
	if raw != nil {
		var cred struct {
			User string `json:"user"`
		}
		if json.Unmarshal(raw, &cred) == nil && cred.User != "" {
			return cred.User, nil
		}
	}
	return osUserName(), nil
}

// osUserName is the name of the user running the program, without a Windows
// domain.
func osUserName() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = os.Getenv("USERNAME")
	}
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if name == "" {
		name = "unknown"
	}
	return name
}

// defaultDataDir is the folder the app keeps its replica in: Fyne's
// Storage().RootURI() for the app's ID. Fyne knows it only once the app exists,
// which needs a display on some systems, so this computes it as Fyne v2.7.1 does
// (internal/app.rootConfigDir and app.storageRoot) for desktop builds.
func defaultDataDir() (string, error) {
	if fyneTestStorage {
		// Builds tagged ci or mobile: Fyne keeps its files under the temporary folder.
		return filepath.Join(os.TempDir(), "fyne-test", appID), nil
	}
	switch runtime.GOOS {
	case "linux", "freebsd", "openbsd", "netbsd":
		// Fyne ignores the error and would use a relative folder; refuse instead.
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no default replica folder: %w", err)
		}
		return filepath.Join(dir, "fyne", appID), nil
	case "windows":
		// Fyne uses the home folder's AppData\Roaming, not %APPDATA%.
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no default replica folder: %w", err)
		}
		return filepath.Join(home, "AppData", "Roaming", "fyne", appID), nil
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no default replica folder: %w", err)
		}
		return filepath.Join(home, "Library", "Preferences", "fyne", appID), nil
	case "ios", "android", "js", "wasip1":
		return "", fmt.Errorf("no default replica folder on %s outside the app", runtime.GOOS)
	}
	return filepath.Join(os.TempDir(), "fyne-test", appID), nil
}

// deviceCheckpoints keeps the device's checkpoint key and latest audit checkpoint
// outside the replica's folder (store.DefaultKeyDir); nil when there is no such
// folder, and the replica then verifies what its file holds.
func deviceCheckpoints(log *slog.Logger) store.Checkpointer {
	dir, err := store.DefaultKeyDir()
	if err != nil {
		log.Warn("no folder for the device's checkpoint key; audit checkpoints are not signed", "err", err)
		return nil
	}
	return store.KeyDir{Dir: dir}
}
