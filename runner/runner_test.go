package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/native"
	"github.com/ghostgate/ghostgate/store"
)

// Each strategy changes the table under a concurrent writer, with nothing lost on the primary or
// the replica, and the store records the lifecycle.
func TestRunStrategiesUnderLoad(t *testing.T) {
	cases := []struct {
		name     string
		ddl      string
		strategy planner.Strategy
		check    func(t *testing.T, f *fixture)
	}{
		{"instant", "ALTER TABLE items ADD COLUMN note VARCHAR(20) NULL", planner.StrategyInstant,
			func(t *testing.T, f *fixture) { require.Equal(t, "varchar(20)", f.d.ColumnType(t, "items", "note")) }},
		{"inplace", "CREATE INDEX ix_k ON items (k)", planner.StrategyInplace,
			func(t *testing.T, f *fixture) {
				var n int
				require.NoError(t, f.d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.STATISTICS
					WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items' AND INDEX_NAME = 'ix_k'`, f.d.Name).Scan(&n))
				require.Equal(t, 1, n)
			}},
		{"ghost", "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0", planner.StrategyGhost,
			func(t *testing.T, f *fixture) { require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k")) }},
	}
	env := sandboxtest.Env(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, env, 20_000, nil)
			plan := f.plan(t, c.ddl)
			require.Equal(t, c.strategy, plan.Strategy, plan.Reason)

			w := f.writer(t)
			time.Sleep(300 * time.Millisecond) // the writer is busy before the change starts
			var evs events
			res, err := f.runner.Run(context.Background(), plan, runner.RunOptions{OnEvent: evs.add})
			require.NoError(t, err)
			time.Sleep(300 * time.Millisecond) // and keeps writing after it
			wres := f.verify(t, w)
			require.Zero(t, wres.Stats.All.Errors, "the writer saw errors: %+v", wres.Stats.Errors)

			require.Equal(t, migration.StatusComplete, res.Status)
			c.check(t, f)
			m, err := f.store.Get(context.Background(), res.MigrationID)
			require.NoError(t, err)
			require.Equal(t, migration.StatusComplete, m.Status)
			if c.strategy == planner.StrategyGhost {
				require.Positive(t, res.RowsCopied)
				require.NotEmpty(t, res.OldTable, "the original is kept after the rename")
				require.Positive(t, res.CutOverLock, "the lock time of the cut-over is measured")
				require.Less(t, res.CutOverLock, res.CutOverTime)
				_, ready := evs.find(func(e runner.Event) bool { return e.Status == migration.StatusReady })
				require.True(t, ready, "a ghost run passes through ready (the gate)")
			}
			// Every transition was recorded, in lifecycle order.
			stored, err := f.store.Events(context.Background(), res.MigrationID, 0, 100)
			require.NoError(t, err)
			var seen []string
			for _, e := range stored {
				if e.Kind == store.EventTransition {
					seen = append(seen, e.Message)
				}
			}
			require.GreaterOrEqual(t, len(seen), 3, "transitions: %v", seen)
		})
	}
}

// A second migration on a table that has an active one is refused with a clear error, and the
// first one is not disturbed.
func TestRunRefusesSecondMigrationOnTable(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 5_000, nil)
	release := make(chan struct{})
	atGate := make(chan struct{})
	gate := gateFunc(func(ctx context.Context, _ runner.Target) error {
		close(atGate)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{Gate: gate})
	require.NoError(t, err)
	select {
	case <-atGate:
	case <-time.After(60 * time.Second):
		t.Fatal("the first migration never reached the gate")
	}

	_, err = f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items ADD COLUMN x INT NULL"), runner.RunOptions{})
	var active *store.ActiveMigrationError
	require.ErrorAs(t, err, &active)
	require.Equal(t, h.ID(), active.ID)
	require.Contains(t, err.Error(), "already has an active migration")

	close(release)
	res, err := h.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
}

// Cancelling mid-copy leaves the original table exactly as it was and drops gh-ost's tables.
func TestRunCancelMidCopy(t *testing.T) {
	// Fixed 100-row chunks: sized by time they grow fourfold a step, and the copy can end before
	// the cancel lands.
	f := newFixture(t, sandboxtest.Env(t), 100_000, func(c *runner.Config) { c.Ghost.ChunkSize, c.Chunk = 100, chunk.Config{Fixed: true} })
	before := f.d.Tables(t)
	var checksum, after string
	require.NoError(t, f.d.Primary.QueryRow("CHECKSUM TABLE items").Scan(new(string), &checksum))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	copying := make(chan struct{})
	var once bool
	h, err := f.runner.Start(ctx, f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{
		OnEvent: func(ev runner.Event) {
			if ev.Progress != nil && ev.Progress.Phase == migration.PhaseCopying && ev.Progress.RowsCopied > 0 && !once {
				once = true
				close(copying)
			}
		}})
	require.NoError(t, err)
	select {
	case <-copying:
	case <-time.After(60 * time.Second):
		t.Fatal("never started copying")
	}
	h.Cancel()
	res, err := h.Wait()
	require.ErrorIs(t, err, runner.ErrCancelled)
	require.Equal(t, migration.StatusCancelled, res.Status)
	require.Less(t, res.RowsCopied, int64(100_000), "cancelled mid-copy")

	require.Equal(t, before, f.d.Tables(t), "no ghost or changelog table left")
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"), "original shape")
	require.NoError(t, f.d.Primary.QueryRow("CHECKSUM TABLE items").Scan(new(string), &after))
	require.Equal(t, checksum, after, "original rows")
	m, err := f.store.Get(context.Background(), res.MigrationID)
	require.NoError(t, err)
	require.Equal(t, migration.StatusCancelled, m.Status)
	evs, err := f.store.Events(context.Background(), res.MigrationID, 0, 0)
	require.NoError(t, err)
	last := evs[len(evs)-1]
	require.Equal(t, "cancelled while running; the original table is unchanged", last.Message,
		"where it was, without the context's noise")
}

// A long transaction on the table makes the INSTANT ALTER back off; the blocker is reported as
// data, and the ALTER succeeds once the transaction ends.
func TestRunInstantBacksOffFromLongTransaction(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 100, func(c *runner.Config) {
		c.Native = native.Config{LockWaitTimeout: time.Second, Deadline: time.Minute}
	})
	tx, err := f.d.Primary.Begin()
	require.NoError(t, err)
	var id int64
	require.NoError(t, tx.QueryRow("SELECT id FROM items ORDER BY id LIMIT 1").Scan(&id))

	blocked := make(chan runner.Event, 1)
	var evs events
	done := make(chan struct{})
	var res runner.Result
	var runErr error
	go func() {
		defer close(done)
		res, runErr = f.runner.Run(context.Background(), f.plan(t, "ALTER TABLE items ADD COLUMN note INT NULL"), runner.RunOptions{
			OnEvent: func(ev runner.Event) {
				evs.add(ev)
				if ev.Kind == runner.EventBlocker {
					select {
					case blocked <- ev:
					default:
					}
				}
			}})
	}()
	var ev runner.Event
	select {
	case ev = <-blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("no blocker reported")
	}
	require.NotEmpty(t, ev.Blockers)
	// Hold the transaction past at least one lock wait timeout (1s): the ALTER gives up its
	// queue place and retries instead of waiting behind it.
	time.Sleep(2500 * time.Millisecond)
	require.Equal(t, "", f.d.ColumnType(t, "items", "note"), "the ALTER must wait")
	require.NoError(t, tx.Commit())
	<-done
	require.NoError(t, runErr)
	require.Greater(t, res.Attempts, 1)
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "note"))
	events, err := f.store.Events(context.Background(), res.MigrationID, 0, 100)
	require.NoError(t, err)
	var blockerEvents int
	for _, e := range events {
		if e.Kind == store.EventBlocker {
			blockerEvents++
		}
	}
	require.Positive(t, blockerEvents, "blockers are written to the event log")
}

// A plan with blocking findings is refused before anything is recorded or run.
func TestRunRefusesBlockedPlan(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 10, nil)
	plan := f.plan(t, "ALTER TABLE items DROP COLUMN c")
	require.True(t, plan.Blocked)
	_, err := f.runner.Run(context.Background(), plan, runner.RunOptions{})
	var blocked *runner.BlockedPlanError
	require.ErrorAs(t, err, &blocked)
	require.ErrorIs(t, err, runner.ErrPlanBlocked)
	require.Contains(t, err.Error(), "--allow-destructive")
	list, err := f.store.List(context.Background(), store.Filter{})
	require.NoError(t, err)
	require.Empty(t, list)
	require.Equal(t, "varchar(120)", f.d.ColumnType(t, "items", "c"))
}

// A replica that stops applying throttles the copy (its rows stop advancing); the migration
// completes once replication resumes. On a pair of its own: stopping replication would disturb
// the tests running in parallel.
func TestRunThrottlesOnReplicaLag(t *testing.T) {
	env := sandboxtest.Isolated(t, "runner-lag")
	f := newFixture(t, env, 60_000, func(c *runner.Config) { c.Ghost.ChunkSize = 500 })
	replica := sandboxtest.Open(t, env.Replica.DSN(""))
	var evs events
	throttled := make(chan runner.Event, 1)
	copying := make(chan struct{}, 1)
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{
		OnEvent: func(ev runner.Event) {
			evs.add(ev)
			if ev.Kind == runner.EventThrottle && ev.Throttle.Throttle {
				select {
				case throttled <- ev:
				default:
				}
			}
			if ev.Progress != nil && ev.Progress.RowsCopied > 0 {
				select {
				case copying <- struct{}{}:
				default:
				}
			}
		}})
	require.NoError(t, err)
	<-copying
	_, err = replica.Exec("STOP SLAVE SQL_THREAD")
	require.NoError(t, err)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_, _ = replica.Exec("START SLAVE")
		}
	})
	var ev runner.Event
	select {
	case ev = <-throttled:
	case <-time.After(20 * time.Second):
		t.Fatal("no throttle while the replica stopped applying")
	}
	require.True(t, strings.Contains(ev.Throttle.Reason, env.Replica.Addr()), "reason names the replica: %s", ev.Throttle.Reason)

	// While throttled, the copy does not advance (allow the chunk in flight).
	time.Sleep(time.Second)
	p1, _ := lastProgress(&evs)
	time.Sleep(2 * time.Second)
	p2, _ := lastProgress(&evs)
	require.LessOrEqual(t, p2.RowsCopied-p1.RowsCopied, int64(1000), "copy advanced while throttled: %d → %d", p1.RowsCopied, p2.RowsCopied)
	_, reported := evs.find(func(e runner.Event) bool {
		return e.Progress != nil && e.Progress.Throttled && e.Time.After(ev.Time)
	})
	require.True(t, reported, "progress reported while throttled says so")

	_, err = replica.Exec("START SLAVE")
	require.NoError(t, err)
	restarted = true
	res, err := h.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
	require.Greater(t, res.ThrottledFor, time.Second)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
}

func lastProgress(e *events) (migration.Progress, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.all) - 1; i >= 0; i-- {
		if e.all[i].Progress != nil {
			return *e.all[i].Progress, true
		}
	}
	return migration.Progress{}, false
}
