package cutover_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// fleetOf starts n registries (controllers "ctl-0", "ctl-1", …) sharing one state database, and
// a participants gate on the first one.
func fleetOf(t *testing.T, n int) ([]*controller, *cutover.Gate, runner.Target, *sandboxtest.DB, *sink) {
	t.Helper()
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	var out []*controller
	for i := range n {
		st, err := store.Open(t.Context(), d.Primary, store.Options{Database: d.Name, Owner: store.Owner{Host: "ctl-" + string(rune('0'+i)), PID: 1}})
		require.NoError(t, err)
		out = append(out, newController(t, cutover.RegistryConfig{Shared: st, SyncInterval: 100 * time.Millisecond}))
	}
	cfg := quiet()
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2", PrepareTimeout: 2 * time.Second, FinishTimeout: 5 * time.Second}
	ev := &sink{}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: out[0].reg, Events: ev})
	require.NoError(t, err)
	return out, g, target(d), d, ev
}

// A signal-mode instance registered with ctl-1 is gated by ctl-0's gate: ctl-0 hands the
// phases through the state database, ctl-1 signals this process, and the instance fetches and
// acks each phase through ctl-2, a controller that neither sent nor signalled it, twice each.
// The gate opens on the prepare ack, commit is acknowledged, and each ack is applied once.
func TestFleetSignalInstanceAcksThroughAnyController(t *testing.T) {
	cs, g, tg, d, ev := fleetOf(t, 3)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR2)
	t.Cleanup(func() { signal.Stop(sigs) })
	verifier, err := wire.NewVerifier(wire.VerifierConfig{Secret: secret})
	require.NoError(t, err)
	var fetched, acked atomic.Int32
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			case <-time.After(200 * time.Millisecond): // a signal may be coalesced: look anyway
			}
			resp, body, req := signed(t, cs[2].srv.URL, http.MethodGet, wire.ParticipantPath(wire.PathPending, "sig-1"), nil, secret)
			if resp.StatusCode != http.StatusOK || verifier.VerifyResponse(resp, req, body, time.Now()) != nil {
				continue
			}
			fetched.Add(1)
			var pr wire.PhaseRequest
			if json.Unmarshal(body, &pr) != nil {
				continue
			}
			ack := wire.Ack{InstanceID: "sig-1", MigrationID: pr.MigrationID, Phase: pr.Phase, Ready: true}
			for range 2 { // a repeated ack (the participant retried) changes nothing
				resp, body, _ := signed(t, cs[2].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathAck, "sig-1"), ack, secret)
				if resp.StatusCode == http.StatusNoContent {
					acked.Add(1)
				} else {
					t.Logf("ack: %d %s", resp.StatusCode, body)
				}
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	cs[1].register(t, wire.Registration{Service: "worker", InstanceID: "sig-1", Tables: []string{table(tg)},
		Mode: wire.ModeSignal, PID: os.Getpid(), Host: "localhost"})

	a := startAwait(t, g, tg)
	require.NoError(t, a.result(t, 20*time.Second))
	require.NoError(t, g.Finish(context.Background(), true))
	require.GreaterOrEqual(t, fetched.Load(), int32(2), "prepare and commit fetched through ctl-2")
	require.GreaterOrEqual(t, acked.Load(), int32(4))
	e, ok := ev.find(cutover.EventPhase)
	require.True(t, ok)
	res := e.Data.(cutover.PhaseResult)
	require.Equal(t, wire.PhaseCommit, res.Phase)
	require.Equal(t, []string{"sig-1"}, res.Acked, "acked once, by the one instance")
	var through string
	require.NoError(t, d.Primary.QueryRow("SELECT acked_through FROM participant_phases WHERE instance_id = 'sig-1'").Scan(&through))
	require.Equal(t, "ctl-2:1", through, "the first ack is the one recorded")

	ps := cs[2].reg.Participants()
	require.Len(t, ps, 1)
	require.Equal(t, "ctl-1:1", ps[0].Controller, "every controller lists the fleet's participants, with the one each registered with")
}

// An HTTP-mode instance registered with ctl-1 is called at its hook by ctl-0's gate directly.
// While the gate waits, an instance that registers with ctl-1 later is seen too, and one
// evicted through ctl-1 is gone from ctl-0's view.
func TestFleetHookInstanceRegisteredElsewhere(t *testing.T) {
	cs, g, tg, _, _ := fleetOf(t, 2)
	h := newHook(t, "hook-1", "ready")
	cs[1].registerHook(t, table(tg), h)
	a := startAwait(t, g, tg)
	require.NoError(t, a.result(t, 20*time.Second))
	require.NoError(t, g.Finish(context.Background(), true))
	require.True(t, h.got(wire.PhasePrepare))
	require.True(t, h.got(wire.PhaseCommit))

	require.NoError(t, cs[1].reg.Evict("hook-1"))
	resp, _, _ := signed(t, cs[0].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "hook-1"),
		wire.Heartbeat{InstanceID: "hook-1"}, secret)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "evicted through ctl-1: unknown to the fleet, so it registers again")
	require.Empty(t, cs[0].reg.Participants())
}

// A heartbeat through a controller the instance did not register with renews its lease for the
// whole fleet (behind a Service any controller may get it).
func TestFleetHeartbeatThroughAnyController(t *testing.T) {
	cs, _, tg, _, _ := fleetOf(t, 2)
	cs[0].register(t, wire.Registration{Service: "s", InstanceID: "i-1", Tables: []string{table(tg)},
		Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1/hook", Host: "h"})
	before, err := cs[0].reg.Participant("i-1")
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	resp, body, _ := signed(t, cs[1].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "i-1"),
		wire.Heartbeat{InstanceID: "i-1"}, secret)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	after, err := cs[0].reg.Participant("i-1")
	require.NoError(t, err)
	require.True(t, after.LeaseExpiry.After(before.LeaseExpiry), "renewed through ctl-1: %v then %v", before.LeaseExpiry, after.LeaseExpiry)
	require.Equal(t, "ctl-0:1", after.Controller)
}

// Behind a Service the heartbeats of an instance registered with ctl-0 may all go to ctl-1:
// ctl-0's memory lets the lease lapse and drops the registration, but the fleet's lease is
// fresh, and ctl-0's gate still counts the instance (it is read back from the state database).
func TestFleetLocalInstanceRenewedElsewhereIsCounted(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	var cs []*controller
	for i := range 2 {
		st, err := store.Open(t.Context(), d.Primary, store.Options{Database: d.Name, Owner: store.Owner{Host: "ctl-" + string(rune('0'+i)), PID: 1}})
		require.NoError(t, err)
		cs = append(cs, newController(t, cutover.RegistryConfig{Shared: st, SyncInterval: 50 * time.Millisecond,
			LeaseTTL: 400 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond, ExpireAfter: 100 * time.Millisecond}))
	}
	tg := target(d)
	h1, h2 := newHook(t, "hook-1", "ready"), newHook(t, "hook-2", "ready")
	cs[0].registerHook(t, table(tg), h1)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // hook-1 heartbeats through ctl-1 only
		defer close(done)
		for ctx.Err() == nil {
			signed(t, cs[1].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "hook-1"), wire.Heartbeat{InstanceID: "hook-1"}, secret)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	time.Sleep(700 * time.Millisecond)   // ctl-0's memory: lapsed past ExpireAfter
	cs[0].registerHook(t, table(tg), h2) // a registration drops what lapsed in memory
	cfg := quiet()
	cfg.Participants = cutover.Participants{OldVersion: "v1", NewVersion: "v2", PrepareTimeout: 2 * time.Second, FinishTimeout: 5 * time.Second}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Registry: cs[0].reg, Events: &sink{}})
	require.NoError(t, err)
	// hook-2 heartbeats through ctl-0 while the gate runs.
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		for ctx.Err() == nil {
			signed(t, cs[0].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "hook-2"), wire.Heartbeat{InstanceID: "hook-2"}, secret)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop(); <-done2 })
	a := startAwait(t, g, tg)
	require.NoError(t, a.result(t, 20*time.Second))
	require.NoError(t, g.Finish(context.Background(), true))
	require.True(t, h1.got(wire.PhasePrepare), "the instance renewed through ctl-1 was asked")
	require.True(t, h1.got(wire.PhaseCommit))
	require.True(t, h2.got(wire.PhaseCommit))
}

// A signal-mode instance heartbeating to a controller it did not register with (its own
// controller restarted under a new id, or it moved) is told to register there (404): only a
// controller on its host, the one it registers with, can signal it.
func TestFleetSignalInstanceRegistersWithTheControllerItReaches(t *testing.T) {
	cs, _, tg, _, _ := fleetOf(t, 2)
	cs[0].register(t, wire.Registration{Service: "worker", InstanceID: "sig-1", Tables: []string{table(tg)},
		Mode: wire.ModeSignal, PID: os.Getpid(), Host: "localhost"})
	resp, body, _ := signed(t, cs[1].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "sig-1"), wire.Heartbeat{InstanceID: "sig-1"}, secret)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
	require.Contains(t, string(body), "registered with controller ctl-0:1")
	cs[1].register(t, wire.Registration{Service: "worker", InstanceID: "sig-1", Tables: []string{table(tg)},
		Mode: wire.ModeSignal, PID: os.Getpid(), Host: "localhost"})
	resp, body, _ = signed(t, cs[1].srv.URL, http.MethodPost, wire.ParticipantPath(wire.PathHeartbeat, "sig-1"), wire.Heartbeat{InstanceID: "sig-1"}, secret)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	p, err := cs[0].reg.Participant("sig-1")
	require.NoError(t, err)
	require.Equal(t, "ctl-1:1", p.Controller, "moved")
}
