// Command fieldformsd is the Fieldforms sync server and its admin commands.
//
//	fieldformsd init      --config DIR --data DIR
//	fieldformsd serve     --config DIR --data DIR --addr 127.0.0.1:8443 [--blob-endpoint URL --blob-account NAME]
//	fieldformsd tenant    add NAME | list
//	fieldformsd enroll    --tenant NAME --user NAME [--admin] [--server-url URL]
//	fieldformsd device    list --tenant NAME | revoke ID --tenant NAME
//	fieldformsd template  add FILE --tenant NAME
//	fieldformsd purge     request --tenant NAME --user ADMIN --reason TEXT ID... | approve REQ --tenant NAME --user ADMIN | list --tenant NAME
//	fieldformsd audit     --tenant NAME [--record ID] [--verify]
//
// Every command takes --config and --data (defaults: fieldforms-server under the
// user's config and data folders) and --help. Admin commands work whether or not a
// server runs: through its admin socket when it does, on the files when it does not.
//
// Admin steps of purges name the admin with --user: the operator runs these commands
// on the server machine and vouches for who is acting; the name must be an admin user
// of the tenant. The storage account key of serve comes from $FIELDFORMS_BLOB_KEY only.
//
// Each command lives in its own file and registers itself from init.
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
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/fieldforms/fieldforms/server"
)

// command is one subcommand.
type command struct {
	name    string
	summary string // one line for the command list
	usage   string // arguments, after "fieldformsd NAME"
	// run executes the command. flags has --config and --data already; run adds its own
	// and calls env.parse.
	run func(ctx context.Context, env *env, fs *flag.FlagSet, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("fieldformsd: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// env is what a command works with: its output streams and the folders.
type env struct {
	stdout, stderr io.Writer
	cmd            *command
	configDir      string
	dataDir        string
	logLevel       string
}

// errUsage marks an error in how a command was called (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errHelp: --help was asked for and printed; exit 0.
var errHelp = errors.New("help")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			args = []string{args[1], "--help"}
		} else {
			printCommands(stdout)
			if len(args) == 0 {
				return 2
			}
			return 0
		}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "fieldformsd: unknown command %q; run `fieldformsd --help` for the list\n", args[0])
		return 2
	}
	e := &env{stdout: stdout, stderr: stderr, cmd: c}
	fs := flag.NewFlagSet("fieldformsd "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.configDir, "config", defaultConfigDir(), "`DIR` of the server's identity: TLS certificate, tenant keys, revocation list")
	fs.StringVar(&e.dataDir, "data", defaultDataDir(), "`DIR` of the server's data: registry and tenant stores")
	err := c.run(ctx, e, fs, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "fieldformsd %s: %s (see `fieldformsd %s --help`)\n", c.name, oneLine(err.Error()), c.name)
		return 2
	}
	fmt.Fprintf(stderr, "fieldformsd %s: %s\n", c.name, oneLine(err.Error()))
	return 1
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parse parses flags wherever they stand among the positional arguments, and
// returns the positional ones. --help prints the command's usage and returns errHelp.
func (e *env) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			e.printUsage(fs)
			return nil, errHelp
		}
		if err != nil {
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (e *env) printUsage(fs *flag.FlagSet) {
	w := e.stdout
	fmt.Fprintf(w, "usage: fieldformsd %s %s\n\n%s\n\nflags:\n", e.cmd.name, e.cmd.usage, e.cmd.summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

func printCommands(w io.Writer) {
	fmt.Fprintf(w, "usage: fieldformsd COMMAND [flags]\n\nFieldforms sync server.\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun `fieldformsd COMMAND --help` for a command's flags.\n")
}

// options are the server options for the folders the command was given.
func (e *env) options() server.Options {
	return server.Options{ConfigDir: e.configDir, DataDir: e.dataDir, Logger: e.logger()}
}

// logger writes text logs to standard error for serve; other commands log only
// warnings, so their output stays the one line scripts read.
func (e *env) logger() *slog.Logger {
	level := slog.LevelWarn
	switch e.logLevel {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// admin runs an admin operation, through the running server or on the files.
func (e *env) admin(ctx context.Context, op string, args, out any) error {
	return server.Admin(ctx, e.options(), op, args, out)
}

func defaultConfigDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "fieldforms-server-config"
	}
	return filepath.Join(dir, "fieldforms-server")
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "fieldforms-server")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "fieldforms-server-data"
	}
	return filepath.Join(home, ".local", "share", "fieldforms-server")
}

// requireTenant checks the --tenant flag was given.
func requireTenant(t string) error {
	if t == "" {
		return usagef("--tenant NAME is required")
	}
	return nil
}
