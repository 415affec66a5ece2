package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/loadclient"
	"github.com/ghostgate/ghostgate/examples/shop/shopproc"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// setLatency injects latency into one shopsvc's /orders requests (PUT /admin/latency).
func setLatency(t *testing.T, p *shopproc.Proc, d time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, p.URL()+"/admin/latency", strings.NewReader(d.String()))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// healthRig is a controller with the service-health throttle on, two shopsvc instances under a
// load, and a gh-ost migration of their table caught copying.
type healthRig struct {
	api   *client.Client
	st    *store.Store
	d     *sandboxtest.DB
	procs []*shopproc.Proc
	load  *loadclient.Client
	id    string
}

func newHealthRig(t *testing.T) *healthRig {
	t.Helper()
	ctx := context.Background()
	d := sandboxtest.New(t)
	d.Exec(t, shop.Schema)
	d.Exec(t, `INSERT INTO orders (id, customer_id, status, amount, updated_at)
		SELECT seq, seq % 500, ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), (seq % 10000) / 100, NOW(6)
		FROM seq_1_to_200000`)
	d.WaitReplica(t)
	api, st, url := controllerWith(t, d, func(c *runner.Config) {
		// A floor well above what the box does to the service by itself: under the whole suite
		// (packages in parallel on two cores) an untouched instance's p99 reached 131ms.
		c.Throttle.ServiceHealth = throttle.ServiceHealth{Factor: 3, MinP99: 300 * time.Millisecond}
		// Small fixed chunks: the copy lasts long enough to be caught in the act.
		c.Ghost.ChunkSize, c.Chunk = 200, chunk.Config{Fixed: true}
	})
	rig := &healthRig{api: api, st: st, d: d}

	bin, err := shopproc.Build(ctx, t.TempDir())
	require.NoError(t, err)
	for i := range 2 {
		p, err := shopproc.Start(ctx, bin, shopproc.Args{
			DSN: d.Env.Primary.DSN(d.Name), ControllerURL: url, Secret: secret, Mode: wire.ModeHTTP,
			InstanceID: fmt.Sprintf("shop-%d", i), Heartbeat: 500 * time.Millisecond,
			Extra: []string{"--admin", "--health-window", "2s"},
		})
		require.NoError(t, err)
		t.Cleanup(func() {
			if exited, _ := p.Exited(); exited {
				return // killed by the test
			}
			if err := p.Stop(10 * time.Second); err != nil {
				t.Errorf("%s: %v\n%s", p.InstanceID(), err, p.Log())
			}
		})
		rig.procs = append(rig.procs, p)
	}
	waitLive(t, api, 2)
	// Enough workers that the slow instance still serves its share: the load is closed-loop, and
	// with four workers 800ms requests would bring its count under the 20 a report needs to be
	// trusted.
	rig.load, err = loadclient.New(loadclient.Config{Targets: []string{rig.procs[0].URL(), rig.procs[1].URL()}, Rate: 200, Workers: 16,
		Timeout: 20 * time.Second, Seed: 12})
	require.NoError(t, err)
	require.NoError(t, rig.load.Start(ctx))
	time.Sleep(3 * time.Second) // the baseline: heartbeats with figures from before the start

	views, err := api.Create(ctx, client.CreateRequest{DDL: shop.Migration, Schema: d.Name,
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion, Approval: "auto"})
	require.NoError(t, err)
	rig.id = views[0].ID
	require.True(t, waitFor(2*time.Minute, func() bool {
		v := rig.get(t)
		return v.Status.Terminal() || (v.Progress != nil && v.Progress.RowsCopied > 0)
	}), "the copy starts")
	v := rig.get(t)
	require.Equal(t, migration.StatusRunning, v.Status, "still copying: %+v", v.Progress)
	require.False(t, held(v), "not held before the injection: %+v", v.Throttle)
	return rig
}

func (r *healthRig) get(t *testing.T) client.MigrationView {
	t.Helper()
	v, err := r.api.Get(context.Background(), r.id)
	require.NoError(t, err)
	return v
}

// held reports whether the service-health throttle holds the migration.
func held(v client.MigrationView) bool {
	return v.Throttle != nil && v.Throttle.Throttle && v.Throttle.Source == throttle.SourceServiceHealth
}

// awaitHeld waits until the copy is held for the service's health, and returns the view.
func (r *healthRig) awaitHeld(t *testing.T) client.MigrationView {
	t.Helper()
	var v client.MigrationView
	require.True(t, waitFor(30*time.Second, func() bool { v = r.get(t); return held(v) || v.Status.Terminal() }),
		"the copy is held for the service's health; last: %+v", v.Throttle)
	require.True(t, held(v), "held, not ended: %s %s", v.Status, v.Error)
	return v
}

// events returns the migration's event log.
func (r *healthRig) events(t *testing.T) []store.Event {
	t.Helper()
	events, err := r.st.Events(context.Background(), r.id, 0, 2000)
	require.NoError(t, err)
	return events
}

// Issue 12: two shopsvc instances serve a load while gh-ost copies their table; latency injected
// into one of them holds the copy (the throttle names the service, its p99 and the instance),
// and the copy resumes once the injection ends and the slow requests have left the instance's
// window. The migration completes with every row right, and the event log says why it waited.
func TestServiceHealthThrottlesTheCopy(t *testing.T) {
	ctx := context.Background()
	rig := newHealthRig(t)
	api, d, procs, load, id := rig.api, rig.d, rig.procs, rig.load, rig.id
	get := func() client.MigrationView { return rig.get(t) }
	var v client.MigrationView

	// 800ms on one instance: its p99 goes far above 3× its baseline and the 300ms floor.
	injected := time.Now()
	setLatency(t, procs[1], 800*time.Millisecond)
	v = rig.awaitHeld(t)
	heldAfter := time.Since(injected)
	t.Logf("held %v after the injection: %s", heldAfter.Round(time.Millisecond), v.Throttle.Reason)
	require.Contains(t, v.Throttle.Reason, "service shopsvc p99 ")
	require.Contains(t, v.Throttle.Reason, "instance shop-1")
	require.Equal(t, "shopsvc", v.Throttle.Subject)
	// gh-ost obeys: its progress says throttled, and the copy stands still.
	require.True(t, waitFor(10*time.Second, func() bool { v = get(); return v.Progress != nil && v.Progress.Throttled }), "gh-ost reports throttled")
	rows := v.Progress.RowsCopied
	time.Sleep(2 * time.Second)
	v = get()
	require.True(t, held(v), "still held while the latency lasts: %+v", v.Throttle)
	require.LessOrEqual(t, v.Progress.RowsCopied-rows, int64(2000), "the copy stands (at most a chunk or so in flight)")

	// The injection ends: once the slow requests leave the 2s window the copy goes on.
	cleared := time.Now()
	setLatency(t, procs[1], 0)
	require.True(t, waitFor(60*time.Second, func() bool { v = get(); return !held(v) }), "the throttle lifts: %+v", v.Throttle)
	t.Logf("released %v after the injection ended", time.Since(cleared).Round(time.Millisecond))

	v = waitTerminal(t, api, id, 5*time.Minute)
	res := load.Stop()
	require.Equal(t, migration.StatusComplete, v.Status, "migration: %s\n%s\n%s", v.Error, procs[0].Log(), procs[1].Log())
	require.Zero(t, res.Failures(), "load: %s", res)
	t.Logf("load: %s", res)
	d.WaitReplica(t)
	diff, err := loadclient.Verify(ctx, d.Primary, d.Name, shop.Table, res.Model)
	require.NoError(t, err)
	require.True(t, diff.Empty(), "%s", diff)
	require.Equal(t, "decimal(14,2)", d.ColumnType(t, "orders", "amount"))

	// The event log says why: the baseline, the throttle with the service's figure, its end.
	events := rig.events(t)
	var baseline, on, off bool
	for _, e := range events {
		switch {
		case e.Kind == store.EventNote && strings.HasPrefix(e.Message, "service health: shopsvc baseline p99 "):
			baseline = true
		case e.Kind == store.EventThrottle && strings.HasPrefix(e.Message, "throttle on: service shopsvc p99 "):
			on = true
		case e.Kind == store.EventThrottle && on && e.Message == "throttle off":
			off = true
		}
	}
	require.True(t, baseline && on && off, "baseline %v, throttle on %v, off %v in the event log:\n%s", baseline, on, off, dump(events))
}

// A slow instance that dies holds the copy no longer than --service-health-stale (3s): its last
// report stops counting and the event log names it; the DBA evicts it for the gate (its lapsed
// lease is never counted as ready) and the migration completes.
func TestServiceHealthSilentInstanceStopsHolding(t *testing.T) {
	ctx := context.Background()
	rig := newHealthRig(t)
	setLatency(t, rig.procs[1], 800*time.Millisecond)
	rig.awaitHeld(t)
	require.NoError(t, rig.procs[1].Kill()) // kill -9: no deregistration, no more reports
	killed := time.Now()
	var v client.MigrationView
	require.True(t, waitFor(30*time.Second, func() bool { v = rig.get(t); return !held(v) }), "a dead instance stops holding: %+v", v.Throttle)
	t.Logf("released %v after the kill", time.Since(killed).Round(time.Millisecond))
	require.True(t, waitFor(10*time.Second, func() bool {
		for _, e := range rig.events(t) {
			if e.Kind == store.EventNote && strings.HasPrefix(e.Message, "service health: instance shop-1 of shopsvc silent for ") {
				return true
			}
		}
		return false
	}), "the event log names the silent instance:\n%s", dump(rig.events(t)))
	require.NoError(t, rig.api.Evict(ctx, "shop-1"))
	v = waitTerminal(t, rig.api, rig.id, 5*time.Minute)
	res := rig.load.Stop()
	require.Equal(t, migration.StatusComplete, v.Status, "migration: %s", v.Error)
	t.Logf("load: %s (the failures are the killed instance's)", res)
	rig.d.WaitReplica(t)
	diff, err := loadclient.Verify(ctx, rig.d.Primary, rig.d.Name, shop.Table, res.Model)
	require.NoError(t, err)
	require.True(t, diff.Empty(), "%s", diff)
}
