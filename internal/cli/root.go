// Package cli holds the commands of `migrate`, ghostgate's command line: flag parsing, output
// formats and the mapping of errors to exit codes. The logic lives in the library packages
// (planner, runner, …); this package wires them to flags so that `cmd/migrate` stays a one-liner
// and every command is testable in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ghostgate/ghostgate/planner"
)

// IO is where a command reads and writes. Tests pass buffers.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InTTY and OutTTY say whether stdin/stdout are terminals: prompts and the TUI need one,
	// CI has none.
	InTTY, OutTTY bool
}

// SystemIO is the process's stdin, stdout and stderr.
func SystemIO() IO {
	return IO{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		OutTTY: term.IsTerminal(int(os.Stdout.Fd())),
	}
}

// NewRootCmd builds the `migrate` command tree.
func NewRootCmd(streams IO) *cobra.Command {
	root := &cobra.Command{
		Use:   "migrate",
		Short: "Online schema changes for MySQL and MariaDB, planned, throttled and gated",
		Long: `migrate changes large, busy MySQL/MariaDB tables without locking them.

It plans each change first: an INSTANT or INPLACE (LOCK=NONE) ALTER when the server can do it
online (it asks the server, with a probe on an empty clone of the table), gh-ost otherwise, and
never a blocking table copy. It lints the change for data loss and breakage before anything runs.

Start here:
  migrate plan  -d shop "ALTER TABLE orders ADD COLUMN note TEXT"   what would happen (CI: exit 3 = blocked)
  migrate run   -d shop --file change.sql                          plan, confirm, run it now
  migrate serve -d shop --token-file token                         a controller with a cut-over gate
  migrate submit / status / approve / tui                          work with a running controller
  migrate cleanup                                                  what dead runs left behind

Passwords come from $GHOSTGATE_PASSWORD or --password-file; every flag can also be set as
$GHOSTGATE_<FLAG> or in a --config file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Err: err} })
	var configFile string
	root.PersistentFlags().StringVar(&configFile, "config", "", "config file: one 'flag-name = value' a line (or $"+EnvConfig+"); flags and $GHOSTGATE_<FLAG> win over it")
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		return applyDefaults(c, configFile, streams.ErrOut)
	}
	root.AddCommand(append([]*cobra.Command{newPlanCmd(streams, nil), newRunCmd(streams), newCleanupCmd(streams), newServeCmd(streams), newStatusCmd(streams), newSubmitCmd(streams), newTUICmd(streams), newLogsCmd(streams)}, newControlCmds(streams)...)...)
	root.AddCommand(newVersionCmd(streams))
	setVersion(root)
	return root
}

// Execute runs the command line args and returns the exit code. Errors are printed here, once.
func Execute(ctx context.Context, args []string, streams IO) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.Canceled) && !errors.Is(err, ErrBlocked) && !errors.Is(err, ErrCancelled):
			err = fmt.Errorf("%w: %w", ErrCancelled, err)
		case errors.Is(err, planner.ErrNoDatabase):
			err = &UsageError{Err: fmt.Errorf("%w (give -d/--database)", err)}
		}
		reportError(streams, cmd, err, exitCode(err))
	}
	return exitCode(err)
}
