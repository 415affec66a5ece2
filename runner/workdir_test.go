package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// TestSweepWorkDir: the directories of migrations that ended (or that the store does not know)
// and were last written longer ago than the retention go; an active migration's, a recent one's
// and anything not named like a migration stay.
func TestSweepWorkDir(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 100, func(c *runner.Config) { c.WorkDirRetention = time.Hour })
	ctx := context.Background()
	old, err := f.runner.Run(ctx, f.plan(t, "ALTER TABLE items ADD COLUMN z INT NULL"), runner.RunOptions{})
	require.NoError(t, err)
	recent, err := f.runner.Run(ctx, f.plan(t, "ALTER TABLE items ADD COLUMN y INT NULL"), runner.RunOptions{})
	require.NoError(t, err)
	active, err := f.store.Create(ctx, store.NewMigration{Schema: f.d.Name, Table: "items", DDL: "ALTER TABLE items ADD COLUMN x INT", Strategy: "ghost"})
	require.NoError(t, err)
	require.NoError(t, f.store.Transition(ctx, active.ID, migration.StatusPlanning, "plan"))
	require.NoError(t, f.store.Transition(ctx, active.ID, migration.StatusRunning, "copy"))
	unknown := "01ABCDEFGHJKMNPQRSTVWXYZ01"
	require.True(t, store.ValidID(unknown))

	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	dir := func(name string, at time.Time) string {
		d := filepath.Join(f.work, name)
		require.NoError(t, os.MkdirAll(d, 0o700))
		log := filepath.Join(d, "worker.log")
		require.NoError(t, os.WriteFile(log, []byte("a line\n"), 0o600))
		require.NoError(t, os.Chtimes(log, at, at))
		require.NoError(t, os.Chtimes(d, at, at))
		return d
	}
	gone := []string{dir(old.MigrationID, twoHoursAgo), dir(unknown, twoHoursAgo)}
	kept := []string{dir(recent.MigrationID, time.Now()), dir(active.ID, twoHoursAgo), dir("not-a-migration", twoHoursAgo)}

	removed, err := f.runner.SweepWorkDir(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, gone, removed)
	for _, d := range gone {
		require.NoDirExists(t, d)
	}
	for _, d := range kept {
		require.DirExists(t, d)
	}
}
