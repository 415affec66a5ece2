package cutover_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// Rounds that fail back off: 100ms, then 200ms, capped at 200ms; each abort is recorded with
// why, and every prepare carries the hold that is left of the round.
func TestPrepareRoundsBackOff(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	ev := &sink{}
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2", PrepareTimeout: 300 * time.Millisecond,
		PrepareHold: time.Second, RoundBackoff: 100 * time.Millisecond, MaxRoundBackoff: 200 * time.Millisecond, FinishTimeout: time.Second}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: c.reg, Events: ev})
	require.NoError(t, err)
	tg := target(d)
	c.registerHook(t, table(tg), newHook(t, "nope", "notready"))
	ok := newHook(t, "fine", "ready")
	c.registerHook(t, table(tg), ok)
	a := startAwait(t, g, tg)
	require.Eventually(t, func() bool { return ev.kinds()[cutover.EventRound] >= 3 }, 10*time.Second, 20*time.Millisecond)
	a.stillWaiting(t)
	var backoffs []string
	ev.mu.Lock()
	for _, e := range ev.events {
		if e.Kind == cutover.EventRound {
			backoffs = append(backoffs, e.Data.(map[string]string)["backoff"])
			assert.Contains(t, e.Message, "orders/nope@test (http): not ready: cache warm-up failed")
		}
	}
	ev.mu.Unlock()
	assert.Equal(t, []string{"100ms", "200ms", "200ms"}, backoffs[:3])
	assert.GreaterOrEqual(t, ok.count(wire.PhaseAbort), 2, "every aborted round tells the prepared instance")
	ok.mu.Lock()
	defer ok.mu.Unlock()
	for _, h := range ok.holds {
		assert.True(t, h > 0 && h <= 1000, "hold %dms within the configured 1s", h)
	}
}

// An instance whose lease lapsed longer than EvictAfter ago is evicted by the gate, which
// records who and why; the gate then opens with the live instances.
func TestLapsedInstanceEvictedByPolicy(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{LeaseTTL: 300 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond})
	ev := &sink{}
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2", EvictAfter: 500 * time.Millisecond, FinishTimeout: time.Second}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: c.reg, Events: ev})
	require.NoError(t, err)
	tg := target(d)
	registered := time.Now() // "dead" is never heard of after this
	c.registerHook(t, table(tg), newHook(t, "dead", "ready"))
	alive := newHook(t, "alive", "ready")
	c.registerHook(t, table(tg), alive)
	ctx, stop := context.WithCancel(context.Background())
	beats := make(chan struct{})
	go func() { // "alive" heartbeats, "dead" does not
		defer close(beats)
		for ctx.Err() == nil {
			resp, _, _ := signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "alive"), wire.Heartbeat{InstanceID: "alive"}, secret)
			if resp.StatusCode != http.StatusOK {
				return
			}
			time.Sleep(80 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); <-beats })
	time.Sleep(400 * time.Millisecond) // "dead" lapses
	a := startAwait(t, g, tg)
	waitLine(t, g, cutover.LineParticipants, func(l cutover.Line) bool {
		return !l.OK && contains(l.Detail, "orders/dead@test (http): lease lapsed")
	}, 5*time.Second)
	require.NoError(t, a.result(t, 10*time.Second))
	// A lower bound, so a busy machine cannot break it: the eviction cannot come before the
	// registration plus the grace (the lease comes on top).
	assert.GreaterOrEqual(t, time.Since(registered), 500*time.Millisecond, "not before the grace")
	e, ok := ev.find(cutover.EventEvicted)
	require.True(t, ok)
	data := e.Data.(map[string]string)
	assert.Equal(t, "dead", data["instance_id"])
	assert.Equal(t, "gate policy (evict lapsed instances)", data["by"])
	assert.Contains(t, data["reason"], "evicted after 500ms by policy")
	_, err = c.reg.Participant("dead")
	require.ErrorIs(t, err, cutover.ErrUnknownInstance)
	l, _ := g.Checklist().Line(cutover.LineParticipants)
	assert.Equal(t, "1/1 ready", l.Value)
	require.NoError(t, g.Finish(context.Background(), true))
	assert.True(t, alive.got(wire.PhaseCommit))
}

// A controller that restarted knows nothing of its old deliveries: an instance whose heartbeat
// says it is prepared for a migration no gate is at hears abort. One whose migration is at the
// gate is left to the gate.
func TestStalePrepareAbortedOnHeartbeat(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	h := newHook(t, "i-1", "ready")
	c.registerHook(t, "shop.orders", h)
	hb := wire.Heartbeat{InstanceID: "i-1", MigrationID: "m-gone", Phase: wire.PhasePrepare, Version: "v1",
		Table: "shop.orders", OldVersion: "v1", NewVersion: "v2"}
	resp, body, _ := signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "i-1"), hb, secret)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Eventually(t, func() bool { return h.got(wire.PhaseAbort) }, 5*time.Second, 10*time.Millisecond)
	var s wire.ParticipantStatus
	require.Eventually(t, func() bool {
		s, _ = c.reg.Participant("i-1")
		return s.Acked
	}, 5*time.Second, 10*time.Millisecond, "the abort is acknowledged")
	assert.Equal(t, "m-gone", s.MigrationID)
	assert.Equal(t, wire.PhaseAbort, s.Phase)

	// A migration at a gate: the heartbeat changes nothing.
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Approval = cutover.Approval{Mode: cutover.ApprovalManual} // holds the gate: no prepare goes out
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2"}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: c.reg, Events: &sink{}})
	require.NoError(t, err)
	tg := target(d)
	startAwait(t, g, tg)
	waitLine(t, g, cutover.LineApproval, failing, 5*time.Second)
	before := h.count(wire.PhaseAbort)
	hb.MigrationID = tg.MigrationID
	resp, body, _ = signed(t, c.srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "i-1"), hb, secret)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, before, h.count(wire.PhaseAbort), "the gate's own migration is the gate's business")
}

// A round whose instances are all ready but whose other conditions stopped holding is aborted at
// its deadline too: the instances would stop shedding by themselves at the end of their hold,
// and a gate that counted them as ready after that would rename with nobody prepared.
func TestRoundAbortedWhenTheOtherConditionsFail(t *testing.T) {
	c := newController(t, cutover.RegistryConfig{})
	ev := &sink{}
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2", PrepareTimeout: 300 * time.Millisecond,
		PrepareHold: time.Second, RoundBackoff: time.Minute, MaxRoundBackoff: time.Minute, FinishTimeout: time.Second}
	eng := readyEngine()
	var hooked *hook
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: func() (bool, int64) {
		if hooked != nil && hooked.got(wire.PhasePrepare) {
			eng.ready.Store(false) // the engine stops being ready once the instance prepared
		}
		return eng.state()
	}, Registry: c.reg, Events: ev})
	require.NoError(t, err)
	tg := target(d)
	hooked = newHook(t, "a", "ready")
	c.registerHook(t, table(tg), hooked)
	a := startAwait(t, g, tg)
	require.Eventually(t, func() bool { return hooked.got(wire.PhaseAbort) }, 5*time.Second, 10*time.Millisecond,
		"the round is aborted although its instance is ready")
	e, ok := ev.find(cutover.EventRound)
	require.True(t, ok)
	assert.Contains(t, e.Message, "the other conditions did not hold")
	waitLine(t, g, cutover.LineParticipants, func(l cutover.Line) bool {
		return !l.OK && contains(l.Detail, "prepare held until the other conditions hold")
	}, 2*time.Second)
	a.stillWaiting(t)
}
