package runner_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/netcut"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// TestPartitionedOwnerStopsBeforeItsLeaseExpires: controller A runs a gh-ost migration with
// its state database behind a proxy; the proxy cuts A off (its worker, on connections of its
// own, goes on copying). A stops its worker before its lease expires, keeping the ghost table;
// B claims the migration once the lease has expired and resumes it from gh-ost's checkpoint; A's
// late writes, after the network heals, are refused by the fencing token; B completes it.
func TestPartitionedOwnerStopsBeforeItsLeaseExpires(t *testing.T) {
	const rows = 120_000
	const lease = 4 * time.Second
	env := sandboxtest.Env(t)
	f := newFixture(t, env, rows, nil)
	ctx := context.Background()
	stName := f.store.Database()

	proxy, err := netcut.Start(env.Primary.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = proxy.Close() })
	viaProxy := env.Primary
	viaProxy.Host, viaProxy.Port = "127.0.0.1", proxy.Port()
	// readTimeout: a query on a connection the cut black-holes must end (the renewal's own
	// deadline does that too; this keeps the pool from hanging on a dead one).
	poolA := sandboxtest.Open(t, viaProxy.DSN("", "timeout=1s", "readTimeout=2s", "writeTimeout=2s"))
	stA, err := store.Open(ctx, poolA, store.Options{Database: stName, Owner: store.Owner{Host: "ctl-a", PID: 1}, StaleAfter: lease})
	require.NoError(t, err)
	stB, err := store.Open(ctx, f.d.Primary, store.Options{Database: stName, Owner: store.Owner{Host: "ctl-b", PID: 1}, StaleAfter: lease})
	require.NoError(t, err)
	cfg := func() runner.Config {
		return runner.Config{
			Primary: ghost.Endpoint(env.Primary), Replicas: []ghost.Endpoint{ghost.Endpoint(env.Replica)},
			WorkDir: t.TempDir(), Throttle: throttle.Config{MaxLag: 1500 * time.Millisecond, HeartbeatSchema: stName},
			HeartbeatInterval: 300 * time.Millisecond, LeaseMargin: 1500 * time.Millisecond,
		}
	}
	newRunner := func(st *store.Store) *runner.Runner {
		c := cfg()
		c.WorkDir = shortDir(t)
		r, err := runner.New(c, st, metrics.New(nil))
		require.NoError(t, err)
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	a, b := newRunner(stA), newRunner(stB)

	h, err := a.Start(ctx, f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{})
	require.NoError(t, err)
	ghostRows := func() int64 {
		var n int64
		_ = f.d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.GhostTable("items")).Scan(&n)
		return n
	}
	// Crawl once a third is copied, until gh-ost's first checkpoint: the resume point.
	require.Eventually(t, func() bool { return ghostRows() >= rows/3 }, 2*time.Minute, 20*time.Millisecond)
	require.NoError(t, h.SetChunkSize(10, "dba"))
	require.NoError(t, h.SetNiceRatio(2, "dba2"))
	require.Eventually(t, func() bool {
		var n int
		return f.d.Primary.QueryRow("SELECT COUNT(*) FROM "+ghost.CheckpointTable("items")).Scan(&n) == nil && n > 0
	}, 2*time.Minute, 100*time.Millisecond, "gh-ost never checkpointed")

	proxy.Cut()
	res, err := h.Wait()
	stopped := time.Now()
	require.ErrorIs(t, err, runner.ErrLeaseLost)
	require.Equal(t, migration.StatusRunning, res.Status, "nothing written after the lease was lost")
	m, err := stB.Get(ctx, res.MigrationID)
	require.NoError(t, err)
	require.True(t, stopped.Before(m.Lease.ExpiresAt),
		"A stopped at %v, after its lease expired at %v", stopped.UTC(), m.Lease.ExpiresAt)
	atStop := ghostRows()
	require.Positive(t, atStop, "the ghost table is kept for the resume")
	require.Zero(t, workerPidOrZero(), "A's worker has ended")

	_, err = stB.TakeOver(ctx, m.ID)
	var alive *store.OwnerAliveError
	require.ErrorAs(t, err, &alive, "until the lease expires, nobody else may claim it")
	var hb *runner.Handle
	var evB events
	require.Eventually(t, func() bool {
		hb, err = b.Resume(ctx, m.ID, runner.RunOptions{OnEvent: evB.add})
		return err == nil
	}, time.Minute, 100*time.Millisecond, "B never claimed the migration: %v", err)
	require.Eventually(t, func() bool { return workerPidOrZero() != 0 }, time.Minute, 50*time.Millisecond)
	require.GreaterOrEqual(t, ghostRows(), atStop, "the resume must not reset the ghost table")
	// What A's operators set goes on with B: 10-row chunks, nice ratio 2, in B's worker.
	require.Equal(t, int64(10), hb.ChunkSize())
	require.Equal(t, 2.0, hb.NiceRatio())
	require.Eventually(t, func() bool {
		_, ok := evB.find(func(e runner.Event) bool {
			p := e.Progress
			return p != nil && p.Phase == migration.PhaseCopying && p.ChunkSize == 10 && p.NiceRatio == 2 &&
				p.ChunkReason == "operator: set by dba before the migration was resumed; no longer sized by time"
		})
		return ok
	}, time.Minute, 50*time.Millisecond, "B's worker copies as A's operators set it")

	// The partition heals: whatever A still tries to write is refused.
	proxy.Heal()
	require.ErrorIs(t, stA.Transition(ctx, m.ID, migration.StatusReady, "late"), store.ErrFenced)
	require.ErrorIs(t, stA.Heartbeat(ctx, m.ID), store.ErrFenced)

	require.NoError(t, hb.SetChunkSize(2000, "dba"))
	require.NoError(t, hb.SetNiceRatio(0, "dba"))
	resB, err := hb.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, resB.Status)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
	var n int64
	require.NoError(t, f.d.Primary.QueryRow("SELECT COUNT(*) FROM items").Scan(&n))
	require.Equal(t, int64(rows), n)
	evs, err := stB.Events(ctx, m.ID, 0, 0)
	require.NoError(t, err)
	takeovers, kept := 0, 0
	for _, e := range evs {
		if e.Kind == store.EventTakeOver {
			takeovers++
		}
		if e.Message == "resumed from gh-ost's checkpoint; kept as set before: chunk size 10 (set by dba) and nice ratio 2 (set by dba2)" {
			kept++
		}
	}
	require.Equal(t, 1, takeovers)
	require.Equal(t, 1, kept, "the resume says what it kept: %v", evs)
}

// TestRunnerRefusesLeaseTimings: a heartbeat too slow for the lease is a configuration error.
func TestRunnerRefusesLeaseTimings(t *testing.T) {
	env := sandboxtest.Env(t)
	d := sandboxtest.NewOn(t, env)
	st, err := store.Open(context.Background(), d.Primary, store.Options{Database: d.Name, StaleAfter: 4 * time.Second})
	require.NoError(t, err)
	base := runner.Config{Primary: ghost.Endpoint(env.Primary), OnPrimary: true, WorkDir: t.TempDir()}
	for name, tune := range map[string]func(*runner.Config){
		"heartbeat too slow": func(c *runner.Config) { c.HeartbeatInterval = 2 * time.Second },
		"margin past lease":  func(c *runner.Config) { c.LeaseMargin = 5 * time.Second },
	} {
		c := base
		tune(&c)
		_, err := runner.New(c, st, nil)
		require.ErrorIs(t, err, runner.ErrInvalidConfig, name)
	}
	c := base
	c.HeartbeatInterval = time.Second
	r, err := runner.New(c, st, nil)
	require.NoError(t, err)
	require.NoError(t, r.Close())
}

// shortDir is a work dir with a short path: gh-ost's unix socket lives below it (sun_path is
// about 100 bytes, too short for t.TempDir()).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ggl")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
