package runner_test

import (
	"context"
	"database/sql"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// fixture is a seeded table in a database of its own, a store of its own and a runner.
type fixture struct {
	d       *sandboxtest.DB
	spec    loadgen.Spec
	store   *store.Store
	runner  *runner.Runner
	metrics *metrics.Metrics
	work    string // the runner's work dir
}

func newFixture(t *testing.T, env sandbox.Env, rows int64, tune func(*runner.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	d := sandboxtest.NewOn(t, env)
	spec := loadgen.Simple("items")
	require.NoError(t, loadgen.Create(ctx, d.Primary, spec))
	if rows > 0 {
		require.NoError(t, loadgen.Seed(ctx, d.Primary, spec, rows))
		require.NoError(t, loadgen.Analyze(ctx, d.Primary, spec.Table))
	}
	d.WaitReplica(t)

	stName := "_gg_" + d.Name
	if len(stName) > 64 {
		stName = stName[:64]
	}
	admin := sandboxtest.Open(t, env.Primary.DSN(""))
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS `" + stName + "`") })
	st, err := store.Open(ctx, admin, store.Options{Database: stName})
	require.NoError(t, err)

	// A short path: gh-ost's unix socket lives below it (sun_path is ~100 bytes).
	work, err := os.MkdirTemp("", "ggr")
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("GG_KEEP_LOGS") != "" {
			t.Logf("work dir (worker logs) kept in %s", work)
			return
		}
		_ = os.RemoveAll(work)
	})
	cfg := runner.Config{
		Primary:  ghost.Endpoint(env.Primary),
		Replicas: []ghost.Endpoint{ghost.Endpoint(env.Replica)},
		WorkDir:  work,
		Throttle: throttle.Config{MaxLag: 1500 * time.Millisecond, HeartbeatSchema: stName},
	}
	if tune != nil {
		tune(&cfg)
	}
	m := metrics.New(nil)
	r, err := runner.New(cfg, st, m)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return &fixture{d: d, spec: spec, store: st, runner: r, metrics: m, work: work}
}

// plan plans ddl against the fixture's database with the server probe.
func (f *fixture) plan(t *testing.T, ddl string, overrides ...string) *planner.Plan {
	t.Helper()
	p, err := planner.New(f.d.Primary, planner.Options{Schema: f.d.Name, Overrides: overrides})
	require.NoError(t, err)
	plans, err := p.Plan(context.Background(), ddl)
	require.NoError(t, err)
	require.Len(t, plans, 1)
	return plans[0]
}

// writer starts a tracked writer doing inserts, updates and deletes until stopped.
func (f *fixture) writer(t *testing.T) *loadgen.Writer {
	t.Helper()
	w, err := loadgen.NewWriter(f.d.Primary, loadgen.Config{
		Spec: f.spec, Workers: 4, Mix: loadgen.Mix{Insert: 3, Update: 4, Delete: 2, Read: 1},
		Rate: 400, FirstSeq: 10_000_000, RandSeed: 7,
	})
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	return w
}

// verify stops the writer and compares every row on the primary and the replica with its model.
func (f *fixture) verify(t *testing.T, w *loadgen.Writer) loadgen.Result {
	t.Helper()
	res, err := w.Stop()
	require.NoError(t, err)
	require.Empty(t, res.Anomalies, "writer anomalies")
	f.d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": f.d.Primary, "replica": f.d.Replica} {
		diff, err := loadgen.Verify(context.Background(), db, f.spec.Table, res.Model)
		require.NoError(t, err, name)
		require.True(t, diff.Empty(), "%s: %s", name, diff)
	}
	return res
}

// events records what a run reports.
type events struct {
	mu  sync.Mutex
	all []runner.Event
}

func (e *events) add(ev runner.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) find(match func(runner.Event) bool) (runner.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.all {
		if match(ev) {
			return ev, true
		}
	}
	return runner.Event{}, false
}

// gateFunc adapts a function to runner.Gate.
type gateFunc func(ctx context.Context, t runner.Target) error

func (g gateFunc) Await(ctx context.Context, t runner.Target) error { return g(ctx, t) }
