package runner_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
)

// dupWriter inserts rows into items whose k repeats a seeded row's k (seeded k = id for ids up to
// 100,000), from start until stop.
type dupWriter struct {
	db       *sql.DB
	rows     int64
	startOne sync.Once
	stopOne  sync.Once
	quit     chan struct{}
	done     chan struct{}
	written  atomic.Int64
	errs     atomic.Int64
}

func newDupWriter(db *sql.DB, rows int64) *dupWriter {
	return &dupWriter{db: db, rows: rows, quit: make(chan struct{}), done: make(chan struct{})}
}

func (w *dupWriter) start() {
	w.startOne.Do(func() {
		go func() {
			defer close(w.done)
			rng := rand.New(rand.NewPCG(5, 6))
			for id := int64(10_000_000); ; id++ {
				select {
				case <-w.quit:
					return
				default:
				}
				_, err := w.db.Exec("INSERT INTO items (id, k, c, pad) VALUES (?, ?, 'dup', 'dup')", id, 1+rng.Int64N(w.rows))
				if err != nil {
					w.errs.Add(1)
				} else {
					w.written.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	})
}

// stop ends the writer (started or not) and waits for it.
func (w *dupWriter) stop() {
	w.start() // a writer never started ends at once
	w.stopOne.Do(func() { close(w.quit) })
	<-w.done
}

// A UNIQUE key added through gh-ost while a writer creates duplicates of it during the copy: the
// run fails, and the store's record and the run's error name the duplicate (issue 8 item 4); the
// original table keeps every row and gh-ost's tables are gone.
func TestRunGhostUniqueKeyDuplicatesFailNamed(t *testing.T) {
	const rows = 20_000
	f := newFixture(t, sandboxtest.Env(t), rows, func(c *runner.Config) { c.Ghost.ChunkSize = 100 })
	// MODIFY k forces a table copy (gh-ost); the planner's pre-count sees no duplicate yet.
	plan := f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0, ADD UNIQUE KEY uk_k (k)")
	require.Equal(t, planner.StrategyGhost, plan.Strategy, plan.Reason)

	w := newDupWriter(f.d.Primary, rows)
	defer w.stop()
	res, err := f.runner.Run(context.Background(), plan, runner.RunOptions{OnEvent: func(ev runner.Event) {
		if ev.Progress != nil && ev.Progress.Phase == migration.PhaseCopying && ev.Progress.RowsCopied > 0 {
			w.start() // the duplicates arrive while gh-ost copies
		}
	}})
	w.stop()
	require.Error(t, err)
	require.Contains(t, err.Error(), "Duplicate entry")
	require.Contains(t, err.Error(), "uk_k")
	require.Equal(t, migration.StatusFailed, res.Status)
	require.Positive(t, w.written.Load(), "the writer wrote during the copy")
	require.Zero(t, w.errs.Load(), "the writer saw errors")

	m, err := f.store.Get(context.Background(), res.MigrationID)
	require.NoError(t, err)
	require.Equal(t, migration.StatusFailed, m.Status)
	require.Contains(t, m.Error, "Duplicate entry", "the store's record names the warning")
	require.Contains(t, m.Error, "uk_k")

	f.d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": f.d.Primary, "replica": f.d.Replica} {
		var n, dups int64
		require.NoError(t, db.QueryRow("SELECT COUNT(*), SUM(c = 'dup') FROM items").Scan(&n, &dups))
		require.Equal(t, rows+w.written.Load(), n, "%s: every row the writer inserted is in the original", name)
		require.Equal(t, w.written.Load(), dups, name)
	}
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"), "the original keeps its shape")
	require.Equal(t, []string{"items"}, f.d.Tables(t), "no ghost or changelog table is left")
}
