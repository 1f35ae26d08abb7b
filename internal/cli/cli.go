// Package cli implements the ferry command line. Run is the whole program
// minus process setup, so end-to-end tests call it directly.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/config"
	"github.com/ferry-sync/ferry/internal/pipes"
	"github.com/ferry-sync/ferry/internal/runner"
)

// Exit codes an orchestrator can act on.
const (
	ExitOK      = 0
	ExitFailure = 1 // nothing half-committed
	ExitUsage   = 2 // bad usage or invalid pipeline file
	ExitRejects = 3 // finished; some records rejected (listed, retried next run)
)

// Version is set by main from -ldflags.
var Version = "dev"

type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }

type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// pipes is the Dagster Pipes session when Dagster started ferry.
	pipes *pipes.Session
}

type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"run", "extract, transform and load: one full sync", runCmd},
		{"plan", "extract and transform, then print what load would write, writing nothing", planCmd},
		{"extract", "pull deltas from both systems into landing Parquet", extractCmd},
		{"transform", "build the SQL models from the landed data", transformCmd},
		{"load", "write the last built plan to both systems", loadCmd},
		{"status", "show watermarks and recent runs", statusCmd},
		{"compact", "fold old landing files into one per object (landing.compact_after)", compactCmd},
		{"rebuild", "recreate current state (raw.*) from the landing files that remain", rebuildCmd},
		{"test", "run the model tests against the built models", testCmd},
		{"models", "print the models' graph: what each reads and what reads it", modelsCmd},
		{"serve", "receive Intercom webhooks and sync the records they name within seconds", serveCmd},
		{"query", "run a read-only SQL query against the warehouse", queryCmd},
		{"report", "write customer health as one self-contained HTML page", reportCmd},
		{"emulator", "serve local Intercom and Salesforce emulators", emulatorCmd},
		{"version", "print the version", versionCmd},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "ferry keeps Intercom and Salesforce in sync.\n\nUsage: ferry <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `ferry <command> --help` for a command's flags.")
}

// Run runs ferry with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		// Under Dagster (its bootstrap variables set), ferry speaks Pipes
		// for the whole command: opened now, closed with the outcome.
		if c.name != "emulator" && c.name != "version" {
			ps, err := pipes.Open(getenv, stdout, stderr)
			if err != nil {
				fmt.Fprintf(stderr, "ferry: %s\n", err)
				return ExitFailure
			}
			e.pipes = ps
		}
		err := c.run(ctx, e, args[1:])
		code := exitCode(err, stderr)
		var closeErr error
		var idle *idleError
		if code != ExitOK && !errors.As(err, &idle) {
			closeErr = fmt.Errorf("ferry %s exited %d: %v", c.name, code, err)
		}
		if perr := e.pipes.Close(closeErr); perr != nil {
			fmt.Fprintf(stderr, "ferry: dagster pipes: %s\n", perr)
		}
		return code
	}
	fmt.Fprintf(stderr, "ferry: unknown command %q\n\n", args[0])
	usage(stderr)
	return ExitUsage
}

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	var rej *runner.RejectsError
	var idle *idleError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &idle):
		return idle.code
	case errors.Is(err, pflag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ferry: %s\n", ue.msg)
		if ue.hint != "" {
			fmt.Fprintf(stderr, "hint: %s\n", ue.hint)
		}
		return ExitUsage
	case errors.Is(err, config.ErrInvalid):
		fmt.Fprintf(stderr, "ferry: invalid pipeline file:\n%s\n", indent(err.Error()))
		return ExitUsage
	case errors.As(err, &rej):
		fmt.Fprintf(stderr, "ferry: finished with rejects: %s\n", err)
		return ExitRejects
	}
	fmt.Fprintf(stderr, "ferry: %s\n", err)
	return ExitFailure
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// parse parses fs, turning flag errors into usage errors.
func parse(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error(), hint: "ferry " + fs.Name() + " --help"}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0)), hint: "ferry " + fs.Name() + " --help"}
	}
	return nil
}
