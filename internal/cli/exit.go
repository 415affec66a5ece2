package cli

import (
	"errors"
	"fmt"

	"github.com/ghostgate/ghostgate/runner/ghost"
)

// Exit codes, mapped in one place so that CI can gate on them.
const (
	ExitOK        = 0   // the plan is safe to run / the migration completed
	ExitError     = 1   // something went wrong: connection, refused DDL, unknown table, engine failure
	ExitUsage     = 2   // bad flags or arguments (usage is printed)
	ExitBlocked   = 3   // findings of severity error block the plan (give their override flags to proceed)
	ExitFailed    = 4   // the migration ran and failed; the original table is intact
	ExitApplied   = 5   // the run failed or was aborted AFTER the rename: the table has the new shape
	ExitCancelled = 130 // interrupted (Ctrl-C) or cancelled; the original table is intact
)

// UsageError is a problem with flags or arguments: usage is printed and the exit code is ExitUsage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ErrBlocked means the command refused to go on because of blocking findings. The findings were
// already printed, so nothing more is said.
var ErrBlocked = errors.New("blocked by findings")

// ErrCancelled means the user interrupted the command.
var ErrCancelled = errors.New("cancelled")

// MigrationFailedError means a migration ran and failed.
type MigrationFailedError struct{ Err error }

func (e *MigrationFailedError) Error() string { return "migration failed: " + e.Err.Error() }
func (e *MigrationFailedError) Unwrap() error { return e.Err }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	var usage *UsageError
	var failed *MigrationFailedError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.Is(err, ErrBlocked):
		return ExitBlocked
	case errors.Is(err, ghost.ErrRenamedBeforeAbort), errors.Is(err, ghost.ErrCutOverWithoutGate):
		// Before cancel and failure: neither may claim the original table is intact.
		return ExitApplied
	case errors.Is(err, ErrCancelled):
		return ExitCancelled
	case errors.Is(err, ghost.ErrWorkDirNotPrivate), errors.Is(err, ghost.ErrInvalidSpec):
		return ExitError // refused before gh-ost started: nothing ran
	case errors.As(err, &failed):
		return ExitFailed
	default:
		return ExitError
	}
}
