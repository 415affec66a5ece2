package runner_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
)

// TestRevertThroughTheGate: a completed gh-ost migration is reverted as a migration of its own,
// through the gate (the swap back waits for it), with every write made since the cut-over kept;
// a native migration, or a second revert of the same one, is refused and changes nothing.
func TestRevertThroughTheGate(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 20_000, nil)
	w := f.writer(t)
	ctx := context.Background()
	fwd, err := f.runner.Run(ctx, f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, fwd.OldTable)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
	time.Sleep(500 * time.Millisecond) // writes on the new table, which the revert must keep
	win, err := f.runner.RevertWindow(ctx, fwd.MigrationID)
	require.NoError(t, err)
	require.True(t, win.Open, "%+v", win)
	require.Equal(t, fwd.OldTable, win.OldTable)
	require.False(t, win.Since.IsZero())
	require.NotEmpty(t, win.Binlog)

	asked := make(chan struct{})
	var askedOnce sync.Once
	open := make(chan struct{})
	gate := gateFunc(func(ctx context.Context, _ runner.Target) error {
		askedOnce.Do(func() { close(asked) }) // a cut-over attempt that fails asks the gate again
		select {
		case <-open:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h, err := f.runner.Revert(ctx, fwd.MigrationID, runner.RunOptions{Gate: gate})
	require.NoError(t, err)
	require.NotEqual(t, fwd.MigrationID, h.ID(), "a revert is a migration of its own")
	select {
	case <-asked:
	case <-time.After(time.Minute):
		t.Fatal("the revert never asked the gate")
	}
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"), "no swap back before the gate opens")
	close(open)
	res, err := h.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"), "the old shape is back")
	f.verify(t, w)

	_, err = f.runner.Revert(ctx, fwd.MigrationID, runner.RunOptions{})
	require.ErrorIs(t, err, runner.ErrNotRevertible, "the original was swapped back in: nothing is left to revert to")
	require.Contains(t, err.Error(), "is gone")
	win, err = f.runner.RevertWindow(ctx, fwd.MigrationID)
	require.NoError(t, err)
	require.False(t, win.Open)
	require.Contains(t, win.Reason, "is gone")
	native, err := f.runner.Run(ctx, f.plan(t, "ALTER TABLE items ADD COLUMN z INT NULL"), runner.RunOptions{})
	require.NoError(t, err)
	_, err = f.runner.Revert(ctx, native.MigrationID, runner.RunOptions{})
	require.ErrorIs(t, err, runner.ErrNotRevertible)
	win, err = f.runner.RevertWindow(ctx, native.MigrationID)
	require.NoError(t, err)
	require.Nil(t, win, "an in-place change has no revert window")
}
