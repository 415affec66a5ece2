package graybox_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ghostgate/ghostgate/graybox/internal/require"

	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
)

// A prepare ends by itself when its hold passes, commit or abort or not (issue 10: shedding is
// bounded at the participant's end too); the readiness body shows it until then. A new
// delivery of the same prepare after the lapse runs the callback again.
func TestPrepareHoldLapses(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeHTTP, nil)
	req := phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second)
	req.HoldMillis = 400
	ack := deliver(t, c, wire.ModeHTTP, "i-1", req)
	require.True(t, ack.Ready, ack.Message)
	require.True(t, in.p.Migrating())
	require.True(t, in.p.MigratingTable(table))
	require.False(t, in.p.MigratingTable("shop.other"), "per table")
	rd := graybox.Readiness{Migrating: in.p.Migrating}
	rec := httptest.NewRecorder()
	rd.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	require.JSONEq(t, `{"status":"ok","migrating":true}`, rec.Body.String())

	start := time.Now()
	require.Eventually(t, func() bool { return !in.p.Migrating() }, 2*time.Second, 5*time.Millisecond)
	require.Less(t, time.Since(start), time.Second, "the hold ended the prepare")
	require.False(t, in.p.MigratingTable(table))
	rec = httptest.NewRecorder()
	rd.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	require.JSONEq(t, `{"status":"ok"}`, rec.Body.String())
	s, _ := in.p.State(table)
	require.Equal(t, wire.PhasePrepare, s.Phase, "a lapse is not an abort: a late commit still applies")

	req.Attempt = 2
	ack = deliver(t, c, wire.ModeHTTP, "i-1", req)
	require.True(t, ack.Ready)
	require.Equal(t, 2, in.rec.count(wire.PhasePrepare), "a new round after the lapse runs again")
	ack = deliver(t, c, wire.ModeHTTP, "i-1", phaseReq("m1", wire.PhaseCommit, 1, 5*time.Second))
	require.True(t, ack.Ready, ack.Message)
	require.Equal(t, "v2", in.p.Version(table))
}

// A request without a hold (an older controller) is bounded by Config.MaxHold.
func TestPrepareMaxHold(t *testing.T) {
	c := newController(t, secret, 10*time.Second)
	in := start(t, c, "i-1", wire.ModeHTTP, func(cfg *graybox.Config) { cfg.MaxHold = 300 * time.Millisecond })
	req := phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second)
	req.HoldMillis = 60_000 // asks for more than the instance allows
	require.True(t, deliver(t, c, wire.ModeHTTP, "i-1", req).Ready)
	require.True(t, in.p.Migrating())
	require.Eventually(t, func() bool { return !in.p.Migrating() }, time.Second, 5*time.Millisecond)
}

// An instance that has not heard from the controller for a whole lease stops shedding, however
// long the prepare's hold: a dead controller cannot keep it migrating.
func TestControllerSilenceEndsPrepare(t *testing.T) {
	c := newController(t, secret, 600*time.Millisecond)
	in := start(t, c, "i-1", wire.ModeHTTP, nil)
	req := phaseReq("m1", wire.PhasePrepare, 1, 5*time.Second)
	req.HoldMillis = 60_000
	require.True(t, deliver(t, c, wire.ModeHTTP, "i-1", req).Ready)
	require.True(t, in.p.Migrating())
	time.Sleep(900 * time.Millisecond) // heartbeats keep coming: still prepared
	require.True(t, in.p.Migrating(), "heartbeats answered: the prepare holds")
	c.srv.CloseClientConnections()
	c.srv.Config.SetKeepAlivesEnabled(false)
	c.srv.Listener.Close() // the controller is gone
	stopped := time.Now()
	require.Eventually(t, func() bool { return !in.p.Migrating() }, 3*time.Second, 10*time.Millisecond)
	require.Less(t, time.Since(stopped), 1500*time.Millisecond, "within a lease (+ a beat) of silence")
}
