package runner_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// throttleEvents returns the throttle events the store holds for the migration.
func throttleEvents(t *testing.T, f *fixture, id string) []store.Event {
	t.Helper()
	all, err := f.store.Events(context.Background(), id, 0, 1000)
	require.NoError(t, err)
	var out []store.Event
	for _, e := range all {
		if e.Kind == store.EventThrottle {
			out = append(out, e)
		}
	}
	return out
}

// A migration that starts behind an HTTP check answering 503 is throttled from its first second:
// the throttle is recorded (an "on" event naming the check, then "off") and its time counted
// (issue 12: half of such runs recorded nothing and throttled_seconds 0).
func TestRunStartsThrottled(t *testing.T) {
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	f := newFixture(t, sandboxtest.Env(t), 20_000, func(c *runner.Config) { c.Throttle.HTTPURL = srv.URL })
	var evs events
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"),
		runner.RunOptions{OnEvent: evs.add})
	require.NoError(t, err)
	hold := 3 * time.Second
	time.AfterFunc(hold, func() { healthy.Store(true) })
	res, err := h.Wait()
	require.NoError(t, err)

	assert.GreaterOrEqual(t, res.ThrottledFor, hold-500*time.Millisecond, "the throttle at start is counted")
	got := throttleEvents(t, f, res.MigrationID)
	require.GreaterOrEqual(t, len(got), 2, "an on and an off event: %+v", got)
	assert.True(t, strings.HasPrefix(got[0].Message, "throttle on: http check "+srv.URL+" returned 503"), got[0].Message)
	assert.Equal(t, "throttle off", got[len(got)-1].Message)
	_, sent := evs.find(func(e runner.Event) bool {
		return e.Kind == runner.EventThrottle && e.Throttle.Throttle && e.Throttle.Source == "http"
	})
	assert.True(t, sent, "the caller heard of the throttle")
}

// No run throttles on a heartbeat that could not have arrived yet (issue 12: every run began
// with "replica …: no heartbeat received yet").
func TestRunNoThrottleBeforeFirstHeartbeat(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 5_000, nil)
	for range 3 {
		h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{})
		require.NoError(t, err)
		res, err := h.Wait()
		require.NoError(t, err)
		for _, e := range throttleEvents(t, f, res.MigrationID) {
			assert.NotContains(t, e.Message, "heartbeat", "spurious throttle at start")
		}
		_, err = f.d.Primary.Exec("ALTER TABLE items MODIFY k INT NOT NULL DEFAULT 0")
		require.NoError(t, err)
		f.d.WaitReplica(t)
	}
}

// A manual pause is its own reason (in events, progress and metrics), the rate drops to what is
// really copied and the ETA says held rather than repeating the last figure.
func TestRunManualPauseIsHonest(t *testing.T) {
	// Nice ratio 10: gh-ost sleeps ten times each chunk's time after it, so the copy lasts long enough to pause.
	f := newFixture(t, sandboxtest.Env(t), 150_000, func(c *runner.Config) { c.Ghost.NiceRatio = 10 })
	var evs events
	known := make(chan struct{})
	var once atomic.Bool
	started := time.Now()
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{
		OnEvent: func(ev runner.Event) {
			evs.add(ev)
			if ev.Progress != nil && ev.Progress.ETAState == migration.ETAKnown && once.CompareAndSwap(false, true) {
				close(known)
			}
		}})
	require.NoError(t, err)
	select {
	case <-known:
	case <-time.After(60 * time.Second):
		t.Fatal("no ETA while copying")
	}
	before, _ := lastProgress(&evs)
	require.Greater(t, before.RowsPerSecond, 0.0)
	require.Greater(t, before.ETA, time.Duration(0))
	h.Pause("test window")
	time.Sleep(3 * time.Second)
	p, _ := lastProgress(&evs)
	h.Resume()
	require.Less(t, p.Ratio, 1.0, "the copy must still be running while paused; use more rows")
	assert.True(t, p.Throttled)
	assert.Equal(t, "manual", p.ThrottleSource)
	assert.Equal(t, "paused by operator: test window", p.ThrottleReason)
	assert.Equal(t, migration.ETAHeld, p.ETAState)
	assert.Zero(t, p.ETA, "no stale ETA while paused")
	assert.Zero(t, p.RowsPerSecond, "nothing is copied 3s into a pause")
	// gh-ost writes no heartbeat while paused, so its own lag figure grows with the pause; the
	// report carries our heartbeat's (the replica is not 3 s behind an idle primary).
	assert.Less(t, p.ReplicaLag, 1500*time.Millisecond, "the lag reported while paused grew with the pause")

	res, err := h.Wait()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, res.ThrottledFor, 2500*time.Millisecond)
	assert.Less(t, res.ThrottledFor, time.Since(started))
	// The pause is one "on" naming the operator, and the run ends unthrottled. On the shared
	// sandbox the replica can really lag behind the other packages' writes (CI saw
	// Seconds_Behind_Master=2 before the first heartbeat): those throttles are true and recorded
	// too, so only the pause's own events are counted here.
	got := throttleEvents(t, f, res.MigrationID)
	var paused []store.Event
	for _, e := range got {
		if strings.Contains(e.Message, "paused by operator") {
			paused = append(paused, e)
		}
	}
	require.Len(t, paused, 1, "%+v", got)
	assert.Equal(t, "throttle on: paused by operator: test window", paused[0].Message)
	assert.Equal(t, "throttle off", got[len(got)-1].Message)

	reg := prometheus.NewRegistry()
	reg.MustRegister(f.metrics)
	families, err := reg.Gather()
	require.NoError(t, err)
	reasons := map[string]float64{}
	for _, mf := range families {
		if mf.GetName() != "ghostgate_throttle_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					reasons[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	// gh-ost may add a moment of its own "lag" throttle after the pause (see metrics.ReasonLabel).
	delete(reasons, "replica_lag")
	assert.Equal(t, map[string]float64{"manual": 1}, reasons)
}
