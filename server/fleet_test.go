package server_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
)

// peer is a second controller on the fixture's state database, as another `migrate serve`
// would be: its own store value (owner), runner, controller and API.
type peer struct {
	store *store.Store
	ctrl  *server.Controller
	api   *client.Client
}

func (f *fixture) peer(t *testing.T, name string) *peer {
	t.Helper()
	return f.peerWith(t, name, 0)
}

// peerWith is peer with a queue of at most maxConcurrent running migrations (0: no queue).
func (f *fixture) peerWith(t *testing.T, name string, maxConcurrent int) *peer {
	t.Helper()
	ctx := context.Background()
	env := f.d.Env
	st, err := store.Open(ctx, f.admin, store.Options{Database: f.stName, Owner: store.Owner{Host: name, PID: os.Getpid()}})
	require.NoError(t, err)
	work, err := os.MkdirTemp("", "ggp")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	r, err := runner.New(runner.Config{
		Primary: ghost.Endpoint(env.Primary), Replicas: []ghost.Endpoint{ghost.Endpoint(env.Replica)}, WorkDir: work,
		Throttle: throttle.Config{MaxLag: 1500 * time.Millisecond, HeartbeatSchema: f.stName},
	}, st, metrics.New(nil))
	require.NoError(t, err)
	ctrl, err := server.New(server.Options{DB: f.admin, Store: st, Runner: r, Gate: server.GateDefaults{Approval: "manual", Checksum: true},
		MaxConcurrent: maxConcurrent})
	require.NoError(t, err)
	h, err := server.NewHandler(ctrl, server.HandlerOptions{Token: token, OpenReads: true})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	bg, stop := context.WithCancel(ctx)
	require.NoError(t, ctrl.Background(bg, server.FleetOptions{CommandPoll: 100 * time.Millisecond, ScheduleInterval: 200 * time.Millisecond}, false))
	t.Cleanup(func() {
		stop()
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, ctrl.Close(cctx))
		srv.Close()
		_ = r.Close()
	})
	api, err := client.New(srv.URL, token, nil)
	require.NoError(t, err)
	return &peer{store: st, ctrl: ctrl, api: api}
}

// TestCommandsHandedToOwner: a command sent to a controller that does not run the migration
// is handed to its owner through the state database, carried out there exactly once, and
// answered; the owner alone cuts over.
func TestCommandsHandedToOwner(t *testing.T) {
	f := newFixture(t, 2000)
	ctx := context.Background()
	bg, stop := context.WithCancel(ctx)
	defer stop()
	require.NoError(t, f.ctrl.Background(bg, server.FleetOptions{CommandPoll: 100 * time.Millisecond}, false))
	b := f.peer(t, "ctl-b")

	v := f.create(t, ghostDDL, nil)
	f.waitStatus(t, v.ID, migration.StatusReady, 90*time.Second)
	seen, err := b.api.Get(ctx, v.ID)
	require.NoError(t, err)
	assert.False(t, seen.Live, "B answers reads, but does not run it")
	assert.Contains(t, seen.Reason, "run by another controller ("+f.ctrl.Owner().String()+")")

	paused, err := b.api.Pause(ctx, v.ID)
	require.NoError(t, err)
	assert.Equal(t, v.ID, paused.ID)
	got, err := f.api.Get(ctx, v.ID)
	require.NoError(t, err)
	assert.True(t, got.Paused, "carried out by the owner")
	_, err = b.api.Resume(ctx, v.ID)
	require.NoError(t, err)
	_, err = b.api.SetChunkSize(ctx, v.ID, 5)
	require.ErrorIs(t, err, client.ErrBadRequest, "checked where it was received")
	_, err = b.api.SetNiceRatio(ctx, v.ID, 101)
	require.ErrorIs(t, err, client.ErrBadRequest, "checked where it was received")
	_, err = b.api.SetNiceRatio(ctx, v.ID, 0.5)
	require.NoError(t, err)
	got, err = f.api.Get(ctx, v.ID)
	require.NoError(t, err)
	require.NotNil(t, got.NiceRatio, "a live gh-ost run shows its nice ratio")
	assert.Equal(t, 0.5, *got.NiceRatio, "carried out by the owner")

	_, err = b.api.Approve(ctx, v.ID)
	require.NoError(t, err)
	f.waitStatus(t, v.ID, migration.StatusComplete, 90*time.Second)
	_, err = b.api.Approve(ctx, v.ID)
	require.ErrorIs(t, err, client.ErrConflict, "an ended migration takes no commands")

	evs, err := f.store.Events(ctx, v.ID, 0, 0)
	require.NoError(t, err)
	via, cutovers := 0, 0
	for _, e := range evs {
		if strings.Contains(e.Message, "(through controller ctl-b:") {
			via++
		}
		if e.Kind == store.EventTransition && strings.Contains(string(e.Data), `"to":"cutting_over"`) {
			cutovers++
		}
	}
	assert.Equal(t, 1, cutovers, "exactly one cut-over")
	assert.GreaterOrEqual(t, via, 4, "pause, resume, nice ratio and approval recorded with the controller they came through")
	var commands, consumed int
	require.NoError(t, f.admin.QueryRow("SELECT COUNT(*), COUNT(consumed_at) FROM `"+f.stName+"`.commands WHERE migration_id = ?", v.ID).
		Scan(&commands, &consumed))
	assert.Equal(t, 4, commands)
	assert.Equal(t, 4, consumed, "each carried out once")
}

// TestQueueAcrossControllers: six migrations over three tables submitted through two
// controllers with a limit of two: they all complete, never more than two run at once, never
// two on one table, and those waiting show as queued with their place.
func TestQueueAcrossControllers(t *testing.T) {
	const limit = 2
	f := newFixture(t, 0)
	ctx := context.Background()
	for _, tbl := range []string{"t1", "t2", "t3"} {
		spec := loadgen.Simple(tbl)
		require.NoError(t, loadgen.Create(ctx, f.d.Primary, spec))
		require.NoError(t, loadgen.Seed(ctx, f.d.Primary, spec, 500))
	}
	f.d.WaitReplica(t)
	a, b := f.peerWith(t, "ctl-a", limit), f.peerWith(t, "ctl-b", limit)

	// Sample what runs, as the state database says, until every migration has ended.
	type sample struct{ active, perTableMax int }
	samples := make(chan sample, 10000)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var s sample
			_ = f.admin.QueryRow("SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) n FROM `" + f.stName +
				"`.migrations WHERE active = 1 AND status <> 'queued' GROUP BY schema_name, table_name) x").Scan(&s.perTableMax)
			_ = f.admin.QueryRow("SELECT COUNT(*) FROM `" + f.stName + "`.migrations WHERE active = 1").Scan(&s.active)
			samples <- s
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	ddls := []string{
		"ALTER TABLE t1 MODIFY k BIGINT NOT NULL DEFAULT 0", "ALTER TABLE t2 MODIFY k BIGINT NOT NULL DEFAULT 0",
		"ALTER TABLE t3 MODIFY k BIGINT NOT NULL DEFAULT 0", "ALTER TABLE t1 MODIFY pad CHAR(80) NOT NULL DEFAULT ''",
		"ALTER TABLE t2 MODIFY pad CHAR(80) NOT NULL DEFAULT ''", "ALTER TABLE t3 MODIFY pad CHAR(80) NOT NULL DEFAULT ''",
	}
	var ids []string
	queued := 0
	for i, ddl := range ddls {
		api := a.api
		if i%2 == 1 {
			api = b.api
		}
		views, err := api.Create(ctx, client.CreateRequest{DDL: ddl, Schema: f.d.Name, Approval: "auto"})
		require.NoError(t, err)
		require.Len(t, views, 1)
		ids = append(ids, views[0].ID)
		if v := views[0]; v.Status == migration.StatusQueued && v.QueuePosition != nil {
			queued++
			assert.Contains(t, v.Reason, "queued: ")
		}
	}
	assert.Positive(t, queued, "submitted faster than they run: some wait in the queue")
	for _, id := range ids {
		require.Eventually(t, func() bool {
			v, err := a.api.Get(ctx, id)
			require.NoError(t, err)
			if v.Status.Terminal() {
				require.Equal(t, migration.StatusComplete, v.Status, "%s: %s", id, v.Error)
			}
			return v.Status.Terminal()
		}, 3*time.Minute, 100*time.Millisecond, "migration %s never ended", id)
	}
	close(stop)
	<-sampled
	close(samples)
	maxActive, n := 0, 0
	for s := range samples {
		n++
		maxActive = max(maxActive, s.active)
		require.LessOrEqual(t, s.perTableMax, 1, "two migrations at once on one table")
	}
	require.LessOrEqual(t, maxActive, limit, "more than the limit ran at once")
	require.Equal(t, limit, maxActive, "the limit was used (%d samples)", n)
	for _, tbl := range []string{"t1", "t2", "t3"} {
		require.Equal(t, "bigint(20)", f.d.ColumnType(t, tbl, "k"))
		require.Equal(t, "char(80)", f.d.ColumnType(t, tbl, "pad"))
	}
	// In order: on each table, the first submitted ran first.
	for i := range 3 {
		first, err := a.store.Get(ctx, ids[i])
		require.NoError(t, err)
		second, err := a.store.Get(ctx, ids[i+3])
		require.NoError(t, err)
		require.True(t, !second.StartedAt.Before(first.FinishedAt), "%s started before %s ended", ids[i+3], ids[i])
	}
}
