package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/shopproc"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/store"
)

// An instance whose hook cannot be reached never acknowledges prepare: the gate stays closed and
// names it; a cancel sends abort to the instance that did prepare, and leaves the original table
// as it was, with no gh-ost tables behind.
func TestInstanceThatNeverAcknowledges(t *testing.T) {
	ctx := context.Background()
	d := sandboxtest.New(t)
	d.Exec(t, shop.Schema, `INSERT INTO orders (id, customer_id, status, amount, updated_at)
		SELECT seq, seq % 50, 'new', seq / 100, NOW(6) FROM seq_1_to_5000`)
	d.WaitReplica(t)
	api, st, url := controller(t, d)

	bin, err := shopproc.Build(ctx, t.TempDir())
	require.NoError(t, err)
	start := func(id string, mode wire.Mode, extra ...string) {
		p, err := shopproc.Start(ctx, bin, shopproc.Args{DSN: d.Env.Primary.DSN(d.Name), ControllerURL: url,
			Secret: secret, Mode: mode, InstanceID: id, ShedWrites: true, Heartbeat: 500 * time.Millisecond, Extra: extra})
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	}
	start("good", wire.ModeSignal)
	start("deaf", wire.ModeHTTP, "--advertise-url", "http://127.0.0.1:1") // nothing listens there
	require.Eventually(t, func() bool {
		ps, err := api.Participants(ctx)
		return err == nil && len(ps) == 2
	}, 20*time.Second, 100*time.Millisecond)

	views, err := api.Create(ctx, client.CreateRequest{DDL: shop.Migration, Schema: d.Name,
		OldVersion: shop.OldVersion, NewVersion: shop.NewVersion, Approval: "auto"})
	require.NoError(t, err)
	id := views[0].ID

	// The gate stays closed and names the silent instance.
	var line cutover.Line
	require.Eventually(t, func() bool {
		cl, err := api.Checklist(ctx, id)
		if err != nil {
			return false
		}
		l, ok := cl.Line("participants")
		line = l
		return ok && !l.OK && strings.Contains(l.Detail, "deaf")
	}, 90*time.Second, 200*time.Millisecond, "the participants line names the instance that does not answer")
	time.Sleep(2 * time.Second)
	v, err := api.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, migration.StatusReady, v.Status, "still waiting at the gate: %s", line.Detail)

	// Cancel: abort to the prepared instance, the original table intact, no leftovers.
	_, err = api.Cancel(ctx, id)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err = api.Get(ctx, id)
		return err == nil && v.Status == migration.StatusCancelled
	}, 60*time.Second, 200*time.Millisecond)
	require.Equal(t, "decimal(12,2)", d.ColumnType(t, "orders", "amount"), "original shape")
	var n int
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'orders'`, d.Name).Scan(&n))
	require.Zero(t, n, "no gh-ost tables left")
	require.NoError(t, d.Primary.QueryRow(`SELECT COUNT(*) FROM orders`).Scan(&n))
	require.Equal(t, 5000, n)

	events, err := st.Events(ctx, id, 0, 1000)
	require.NoError(t, err)
	aborted := false
	for _, e := range events {
		if e.Kind == store.EventKind(cutover.EventPhase) && strings.HasPrefix(e.Message, "abort") {
			aborted = true
		}
	}
	require.True(t, aborted, "abort was sent:\n%s", dump(events))
}
