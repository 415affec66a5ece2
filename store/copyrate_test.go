package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// TestReadCopyRate: the rate is the median of the completed gh-ost copies (rows over the time
// from running to ready); tiny copies, other strategies and a store that does not exist count
// for nothing.
func TestReadCopyRate(t *testing.T) {
	d := sandboxtest.New(t)
	none, err := ReadCopyRate(t.Context(), d.Primary, d.Name+"_none", 5)
	require.NoError(t, err)
	require.Zero(t, none.Samples, "no store, nothing measured")

	s := openOn(t, d, Options{})
	copyOf := func(strategy string, rows int64, took time.Duration) {
		m, err := s.Create(t.Context(), NewMigration{Schema: d.Name, Table: "t", DDL: "ALTER TABLE t ADD c INT", Strategy: strategy})
		require.NoError(t, err)
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusPlanning, "plan"))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusRunning, "copy"))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusReady, "copied"))
		require.NoError(t, s.SaveProgress(t.Context(), m.ID, migration.Progress{RowsCopied: rows}))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusCuttingOver, "gate"))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusComplete, "done"))
		// The copy took `took`: move its start back (the store writes the server's clock).
		_, err = d.Primary.Exec("UPDATE "+s.events+" SET at = at - INTERVAL ? MICROSECOND WHERE migration_id = ? AND JSON_VALUE(data, '$.to') IN ('planning', 'running')",
			took.Microseconds(), m.ID)
		require.NoError(t, err)
	}
	copyOf("ghost", 100_000, 10*time.Second) // 10k rows/s
	copyOf("ghost", 100_000, 5*time.Second)  // 20k rows/s
	copyOf("ghost", 100_000, 2*time.Second)  // 50k rows/s
	copyOf("ghost", 500, time.Second)        // too small to count
	copyOf("inplace", 100_000, time.Second)  // not a gh-ost copy
	r, err := ReadCopyRate(t.Context(), d.Primary, d.Name, 5)
	require.NoError(t, err)
	require.Equal(t, 3, r.Samples)
	require.InEpsilon(t, 20_000, r.RowsPerSecond, 0.05, "the median")
}

// TestReadApplyCapacity: the capacity is the median of what completed gh-ost runs measured while
// a backlog waited; runs that saw a backlog only for a moment, or none, count for nothing.
func TestReadApplyCapacity(t *testing.T) {
	d := sandboxtest.New(t)
	none, err := ReadApplyCapacity(t.Context(), d.Primary, d.Name+"_none", 5)
	require.NoError(t, err)
	require.Zero(t, none.Samples, "no store, nothing measured")

	s := openOn(t, d, Options{})
	run := func(strategy string, rate, secs float64) {
		m, err := s.Create(t.Context(), NewMigration{Schema: d.Name, Table: "t", DDL: "ALTER TABLE t ADD c INT", Strategy: strategy})
		require.NoError(t, err)
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusPlanning, "plan"))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusRunning, "copy"))
		require.NoError(t, s.SaveProgress(t.Context(), m.ID, migration.Progress{RowsCopied: 10, ApplyRate: rate, ApplyRateSeconds: secs}))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusReady, "copied"))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusCuttingOver, "gate"))
		require.NoError(t, s.Transition(t.Context(), m.ID, migration.StatusComplete, "done"))
	}
	run("ghost", 4000, 2)
	run("ghost", 6000, 1)
	run("ghost", 9000, 3)
	run("ghost", 50_000, 0.1) // a moment of backlog: not a measurement
	run("ghost", 0, 0)        // no backlog at all
	run("inplace", 1, 5)      // not gh-ost
	c, err := ReadApplyCapacity(t.Context(), d.Primary, d.Name, 5)
	require.NoError(t, err)
	require.Equal(t, 3, c.Samples)
	require.InDelta(t, 6000, c.EventsPerSecond, 0.001, "the median")
}
