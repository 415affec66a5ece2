package runner_test

import (
	"context"
	"database/sql"
	"fmt"
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
	"github.com/ghostgate/ghostgate/runner/chunk"
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
	// 200 fixed chunks with gh-ost sleeping five times each chunk's time after it: the copy lasts
	// seconds, so the writer's duplicates arrive while it runs (sized by time, the chunks grew to
	// the whole table in a few steps and the copy was over before the first report showed it).
	f := newFixture(t, sandboxtest.Env(t), rows, func(c *runner.Config) {
		c.Ghost.ChunkSize, c.Ghost.NiceRatio, c.Chunk = 100, 5, chunk.Config{Fixed: true}
	})
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

// renameWriter plays an application across a column rename on r (id, a, b → b2): before the gate
// it inserts, updates and deletes with the old name; between the gate and the end of the run it
// only touches what both shapes share (a, deletes), as a participant that prepared would; after
// the run it writes the new name. Its model is what r must hold.
type renameWriter struct {
	db     *sql.DB
	phase  atomic.Int32 // 0 old name, 1 shared columns only, 2 new name
	mu     sync.Mutex
	model  map[int64][2]any // id → (a, b)
	ids    []int64
	nextID int64
	errs   []error
	ops    int
}

func (w *renameWriter) step(rng *rand.Rand) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	col := "b"
	if w.phase.Load() == 2 {
		col = "b2"
	}
	shared := w.phase.Load() == 1
	switch op := rng.IntN(10); {
	case (op < 4 || len(w.ids) == 0) && !shared:
		id, a, b := w.nextID, rng.Int64N(1<<30), fmt.Sprintf("ins-%d", rng.IntN(1e6))
		w.nextID++
		if _, err := w.db.Exec("INSERT INTO r (id, a, "+col+") VALUES (?, ?, ?)", id, a, b); err != nil {
			return err
		}
		w.model[id] = [2]any{a, b}
		w.ids = append(w.ids, id)
	case op < 8 && len(w.ids) > 0:
		id := w.ids[rng.IntN(len(w.ids))]
		m := w.model[id]
		m[0] = rng.Int64N(1 << 30) // a is an INT until the cut-over
		if shared {
			if _, err := w.db.Exec("UPDATE r SET a = ? WHERE id = ?", m[0], id); err != nil {
				return err
			}
		} else {
			m[1] = fmt.Sprintf("upd-%d", rng.IntN(1e6))
			if _, err := w.db.Exec("UPDATE r SET a = ?, "+col+" = ? WHERE id = ?", m[0], m[1], id); err != nil {
				return err
			}
		}
		w.model[id] = m
	case len(w.ids) > 0:
		i := rng.IntN(len(w.ids))
		if _, err := w.db.Exec("DELETE FROM r WHERE id = ?", w.ids[i]); err != nil {
			return err
		}
		delete(w.model, w.ids[i])
		w.ids[i] = w.ids[len(w.ids)-1]
		w.ids = w.ids[:len(w.ids)-1]
	}
	w.ops++
	return nil
}

// Issue 8 item 6: a column rename that goes to gh-ost completes through the runner (the plan's
// rename finding, allowed with --allow-incompatible, makes the runner set ApproveRenamedColumns),
// and every value ends up in the renamed column on primary and replica, under a writer. The
// rename alone is INSTANT on MariaDB; MODIFY a BIGINT makes the change a table copy.
func TestRunGhostRenameColumnUnderLoad(t *testing.T) {
	const rows = 20_000
	f := newFixture(t, sandboxtest.Env(t), 0, func(c *runner.Config) { c.Ghost.ChunkSize = 500 })
	f.d.Exec(t, "CREATE TABLE r (id BIGINT NOT NULL PRIMARY KEY, a INT NOT NULL, b VARCHAR(64) NOT NULL)",
		fmt.Sprintf("INSERT INTO r SELECT seq, seq, CONCAT('seed-', seq) FROM seq_1_to_%d", rows), "ANALYZE TABLE r")
	f.d.WaitReplica(t)
	ddl := "ALTER TABLE r CHANGE COLUMN b b2 VARCHAR(64) NOT NULL, MODIFY a BIGINT NOT NULL"
	plan := f.plan(t, ddl, planner.FlagAllowIncompatible)
	require.Equal(t, planner.StrategyGhost, plan.Strategy, plan.Reason)
	var renames int
	for _, fd := range plan.Findings {
		if fd.Code == planner.CodeRenameColumn {
			renames++
		}
	}
	require.Equal(t, 1, renames, "the plan carries the rename finding: %+v", plan.Findings)

	w := &renameWriter{db: f.d.Primary, model: map[int64][2]any{}, nextID: rows + 1}
	for id := int64(1); id <= rows; id++ {
		w.model[id] = [2]any{id, fmt.Sprintf("seed-%d", id)}
		w.ids = append(w.ids, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(8, 9))
		for ctx.Err() == nil {
			if err := w.step(rng); err != nil {
				w.mu.Lock()
				w.errs = append(w.errs, err)
				w.mu.Unlock()
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	time.Sleep(300 * time.Millisecond)
	gate := gateFunc(func(context.Context, runner.Target) error {
		w.phase.Store(1) // prepared: the application stops using the old name
		time.Sleep(500 * time.Millisecond)
		return nil
	})
	res, err := f.runner.Run(context.Background(), plan, runner.RunOptions{Gate: gate})
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
	w.phase.Store(2)
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	require.Empty(t, w.errs, "the writer saw errors")
	t.Logf("writer: %d ops; %s", w.ops, res.Summary())

	f.d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": f.d.Primary, "replica": f.d.Replica} {
		got := map[int64][2]any{}
		q, err := db.Query("SELECT id, a, b2 FROM r")
		require.NoError(t, err, name)
		for q.Next() {
			var id, a int64
			var b string
			require.NoError(t, q.Scan(&id, &a, &b))
			got[id] = [2]any{a, b}
		}
		require.NoError(t, q.Err())
		_ = q.Close()
		require.Equal(t, len(w.model), len(got), "%s: row count", name)
		for id, m := range w.model {
			require.Equal(t, m, got[id], "%s: row %d", name, id)
		}
	}
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "r", "a"))
	require.Equal(t, "", f.d.ColumnType(t, "r", "b"))
}
