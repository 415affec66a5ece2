package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/runner/ghost"
)

// Exit codes never claim the original table is intact when the rename had happened, and a
// refusal before gh-ost started is an error, not a failed migration.
func TestExitCodes(t *testing.T) {
	renamed := fmt.Errorf("%w: worker killed", ghost.ErrRenamedBeforeAbort)
	bypass := fmt.Errorf("%w: %w", ghost.ErrCutOverWithoutGate, renamed)
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{usageErrorf("bad flag"), ExitUsage},
		{ErrBlocked, ExitBlocked},
		{&MigrationFailedError{Err: errors.New("gh-ost failed")}, ExitFailed},
		{&MigrationFailedError{Err: renamed}, ExitApplied},
		{&MigrationFailedError{Err: bypass}, ExitApplied},
		{fmt.Errorf("%w: %w", ErrCancelled, renamed), ExitApplied},
		{fmt.Errorf("%w: interrupted", ErrCancelled), ExitCancelled},
		{&MigrationFailedError{Err: fmt.Errorf("start: %w", ghost.ErrWorkDirNotPrivate)}, ExitError},
		{errors.New("connection refused"), ExitError},
	} {
		require.Equal(t, tc.want, exitCode(tc.err), "%v", tc.err)
	}
}
