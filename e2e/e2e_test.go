package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/loadclient"
	"github.com/ghostgate/ghostgate/examples/shop/shopproc"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/server"
	"github.com/ghostgate/ghostgate/store"
)

const token = "e2e-token-0123456789"

var secret = []byte("e2e-participant-secret-0123456789")

func TestMain(m *testing.M) {
	ghost.MaybeRunWorker() // the test binary is the gh-ost worker the runner re-executes
	os.Exit(m.Run())
}

// controller starts ghostgate's controller and API for d's servers, as `migrate serve` does.
func controller(t *testing.T, d *sandboxtest.DB) (*client.Client, *store.Store, string) {
	t.Helper()
	return controllerWith(t, d, nil)
}

// controllerWith is controller with the runner's config changed by edit (nil: as is).
func controllerWith(t *testing.T, d *sandboxtest.DB, edit func(*runner.Config)) (*client.Client, *store.Store, string) {
	t.Helper()
	ctx := context.Background()
	stName := "_gg_" + d.Name
	if len(stName) > 64 {
		stName = stName[:64]
	}
	admin := sandboxtest.Open(t, d.Env.Primary.DSN(""))
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS `" + stName + "`") })
	st, err := store.Open(ctx, admin, store.Options{Database: stName})
	require.NoError(t, err)
	work, err := os.MkdirTemp("", "gge")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	rcfg := runner.Config{
		Primary: ghost.Endpoint(d.Env.Primary), Replicas: []ghost.Endpoint{ghost.Endpoint(d.Env.Replica)}, WorkDir: work,
		Throttle: throttle.Config{MaxLag: 1500 * time.Millisecond, HeartbeatSchema: stName},
	}
	if edit != nil {
		edit(&rcfg)
	}
	r, err := runner.New(rcfg, st, metrics.New(nil))
	require.NoError(t, err)
	reg, err := cutover.NewRegistry(cutover.RegistryConfig{Secret: secret})
	require.NoError(t, err)
	ctrl, err := server.New(server.Options{DB: admin, Store: st, Runner: r, Registry: reg,
		// A backlog limit as `migrate serve` has by default: under load, gh-ost's queue is rarely empty.
		Gate: server.GateDefaults{Approval: "auto", Checksum: true, Limits: client.Limits{MaxBacklog: 100}}})
	require.NoError(t, err)
	h, err := server.NewHandler(ctrl, server.HandlerOptions{Token: token, OpenReads: true, Registry: reg})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		require.NoError(t, ctrl.Close(ctx))
		srv.Close()
		reg.Close()
		_ = r.Close()
	})
	api, err := client.New(srv.URL, token, nil)
	require.NoError(t, err)
	return api, st, srv.URL
}

// Two instances of the example service, one reached over its HTTP hook and one by SIGUSR2, serve
// a continuous read/write load while a column change goes through gh-ost and the cut-over gate.
// The rename happens only after both acknowledged prepare; no request fails except deliberate
// 429s during the cut-over; no row is lost or wrong on the primary or the replica.
func TestCutOverWithServices(t *testing.T) {
	ctx := context.Background()
	d := sandboxtest.New(t)
	d.Exec(t, shop.Schema)
	d.Exec(t, `INSERT INTO orders (id, customer_id, status, amount, updated_at)
		SELECT seq, seq % 500, ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'), (seq % 10000) / 100, NOW(6)
		FROM seq_1_to_30000`)
	d.WaitReplica(t)
	api, st, url := controller(t, d)

	bin, err := shopproc.Build(ctx, t.TempDir())
	require.NoError(t, err)
	var procs []*shopproc.Proc
	for i, mode := range []wire.Mode{wire.ModeHTTP, wire.ModeSignal} {
		p, err := shopproc.Start(ctx, bin, shopproc.Args{
			DSN: d.Env.Primary.DSN(d.Name), ControllerURL: url, Secret: secret, Mode: mode,
			InstanceID: fmt.Sprintf("shop-%d-%s", i, mode), ShedWrites: true, Heartbeat: 500 * time.Millisecond,
		})
		require.NoError(t, err)
		t.Cleanup(func() {
			if err := p.Stop(10 * time.Second); err != nil {
				t.Errorf("%s: %v\n%s", p.InstanceID(), err, p.Log())
			}
		})
		procs = append(procs, p)
	}
	require.Eventually(t, func() bool {
		ps, err := api.Participants(ctx)
		live := 0
		for _, p := range ps {
			if p.Live {
				live++
			}
		}
		return err == nil && live == 2
	}, 20*time.Second, 100*time.Millisecond, "both instances register")

	load, err := loadclient.New(loadclient.Config{Targets: []string{procs[0].URL(), procs[1].URL()}, Rate: 150, Timeout: 20 * time.Second, Seed: 3})
	require.NoError(t, err)
	require.NoError(t, load.Start(ctx))
	time.Sleep(time.Second)

	views, err := api.Create(ctx, client.CreateRequest{DDL: shop.Migration, Schema: d.Name,
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion})
	require.NoError(t, err)
	require.Len(t, views, 1)
	id := views[0].ID
	require.Equal(t, "ghost", views[0].Strategy)

	deadline := time.Now().Add(3 * time.Minute)
	var v client.MigrationView
	for {
		v, err = api.Get(ctx, id)
		require.NoError(t, err)
		if v.Status.Terminal() || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // the load goes on after the rename
	res := load.Stop()
	require.Equal(t, migration.StatusComplete, v.Status, "migration: %s\n%s\n%s", v.Error, procs[0].Log(), procs[1].Log())

	// Zero failed requests except the deliberate 429s of the cut-over window.
	require.Zero(t, res.Failures(), "load: %s", res)
	require.Positive(t, res.Requests)
	t.Logf("load: %s", res)

	// Zero lost or wrong rows, on the primary and the replica.
	d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": d.Primary, "replica": d.Replica} {
		diff, err := loadclient.Verify(ctx, db, d.Name, shop.Table, res.Model)
		require.NoError(t, err, name)
		require.True(t, diff.Empty(), "%s: %s", name, diff)
	}

	// The rename came after both instances acknowledged prepare, and both heard commit.
	events, err := st.Events(ctx, id, 0, 1000)
	require.NoError(t, err)
	prepared, cutting, committed := -1, -1, -1
	for i, e := range events {
		switch {
		case e.Kind == store.EventKind(cutover.EventGateOpened) && strings.Contains(string(e.Data), `"value":"2/2 ready"`):
			prepared = i // the gate opened with both instances' prepare acknowledged
		case e.Kind == store.EventTransition && strings.Contains(string(e.Data), `"to":"cutting_over"`):
			cutting = i
		case e.Kind == store.EventKind(cutover.EventPhase) && strings.HasPrefix(e.Message, "commit acknowledged by 2 of 2"):
			committed = i
		}
	}
	require.True(t, prepared >= 0 && cutting > prepared && committed > cutting,
		"order of prepare(%d) < cutting_over(%d) < commit(%d) in the event log:\n%s", prepared, cutting, committed, dump(events))
	require.Equal(t, "decimal(14,2)", d.ColumnType(t, "orders", "amount"))
}

func dump(events []store.Event) string {
	var b strings.Builder
	for _, e := range events {
		data, _ := json.Marshal(e.Data)
		fmt.Fprintf(&b, "  %s %-18s %s %s\n", e.Time.Format("15:04:05.000"), e.Kind, e.Message, data)
	}
	return b.String()
}
