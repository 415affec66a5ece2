package service_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/internal/ctltest"
	"github.com/ghostgate/ghostgate/examples/shop/service"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/planner"
)

// startRun runs service.Run in the background; stop ends it and returns its error (once; the
// cleanup stops it too).
func startRun(t *testing.T, o service.Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, o) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestRunHTTPParticipant runs the whole service in HTTP mode against the test controller:
// registration (table, hook URL, detected version), a prepare delivered over the hook, the
// heartbeat reporting it, shedding in the window, commit, and deregistration on shutdown.
func TestRunHTTPParticipant(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema)
	ctl, err := ctltest.New(secret, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(ctl.Close)
	addr := freeAddr(t)

	stop := startRun(t, service.Options{
		DSN: db.Env.Primary.DSN(db.Name), Listen: addr, ControllerURL: ctl.URL(), Secret: secret,
		InstanceID: "shop-1", Mode: wire.ModeHTTP, ShedWrites: true, Heartbeat: 100 * time.Millisecond,
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	reg, err := ctl.WaitRegistered(wctx, "shop-1")
	require.NoError(t, err)
	require.Equal(t, []string{db.Name + ".orders"}, reg.Tables)
	require.Equal(t, "http://"+addr+wire.HookPath, reg.HookURL)
	require.Equal(t, "shopsvc", reg.Service)

	ack, err := ctl.Deliver(wctx, "shop-1", ctltest.Request("m1", db.Name, shop.Table, wire.PhasePrepare, shop.OldVersion, shop.NewVersion))
	require.NoError(t, err)
	require.True(t, ack.Ready, ack.Message)
	require.Eventually(t, func() bool { return ctl.LastHeartbeat("shop-1").Phase == wire.PhasePrepare },
		5*time.Second, 20*time.Millisecond, "the heartbeat reports the phase")

	post := func() int {
		resp, err := http.Post("http://"+addr+"/orders", "application/json", strings.NewReader(`{"id":1,"customer_id":1}`))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusTooManyRequests, post())
	ack, err = ctl.Deliver(wctx, "shop-1", ctltest.Request("m1", db.Name, shop.Table, wire.PhaseCommit, shop.OldVersion, shop.NewVersion))
	require.NoError(t, err)
	require.True(t, ack.Ready, ack.Message)
	require.Equal(t, http.StatusCreated, post())
	require.Eventually(t, func() bool { return ctl.LastHeartbeat("shop-1").Version == shop.NewVersion },
		5*time.Second, 20*time.Millisecond)

	require.NoError(t, stop())
	_, still := ctl.Registration("shop-1")
	require.False(t, still, "deregistered on shutdown")
	require.Equal(t, 1, ctl.Count("deregister"))
	require.Zero(t, ctl.Count("unauthorized"))
}

// TestRunDetectsVersion: an instance started after the migration registers on v2 and writes
// both columns from the start.
func TestRunDetectsVersion(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema, shop.Migration)
	ctl, err := ctltest.New(secret, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(ctl.Close)
	addr := freeAddr(t)
	stop := startRun(t, service.Options{DSN: db.Env.Primary.DSN(db.Name), Listen: addr,
		ControllerURL: ctl.URL(), Secret: secret, InstanceID: "shop-2", Mode: wire.ModeHTTP})
	defer func() { require.NoError(t, stop()) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	_, err = ctl.WaitRegistered(wctx, "shop-2")
	require.NoError(t, err)
	resp, err := http.Post("http://"+addr+"/orders", "application/json", strings.NewReader(`{"id":9,"customer_id":1,"status":"paid"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "dual", resp.Header.Get(service.ShapeHeader))
	var code int
	require.NoError(t, db.Primary.QueryRow("SELECT status_code FROM orders WHERE id = 9").Scan(&code))
	require.Equal(t, int(shop.StatusPaid.Code()), code)
}

func TestRunRefusesBadOptions(t *testing.T) {
	base := service.Options{DSN: "u:p@tcp(127.0.0.1:1)/db", Listen: "127.0.0.1:0", Mode: wire.ModeHTTP}
	for name, o := range map[string]service.Options{
		"no dsn":    {Listen: base.Listen, Mode: base.Mode},
		"bad dsn":   {DSN: "no-at-sign(", Listen: base.Listen, Mode: base.Mode},
		"no listen": {DSN: base.DSN, Mode: base.Mode},
		"bad mode":  {DSN: base.DSN, Listen: base.Listen, Mode: "carrier-pigeon"},
		"negative":  {DSN: base.DSN, Listen: base.Listen, Mode: base.Mode, RetryAfter: -time.Second},
	} {
		require.ErrorIs(t, service.Run(context.Background(), o), service.ErrConfig, name)
	}
	require.NoError(t, base.Validate())
}

// TestMigrationGoesThroughGhost: the example's migration is one the planner sends to gh-ost
// (the column type change needs a copy) and nothing blocks it, so the end-to-end test exercises
// the gate and the participants.
func TestMigrationGoesThroughGhost(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema)
	pl, err := planner.New(db.Primary, planner.Options{Schema: db.Name})
	require.NoError(t, err)
	plans, err := pl.Plan(context.Background(), shop.Migration)
	require.NoError(t, err)
	require.Len(t, plans, 1)
	require.Equal(t, planner.StrategyGhost, plans[0].Strategy, plans[0].Reason)
	require.False(t, plans[0].Blocked, "%+v", plans[0].Findings)
}
