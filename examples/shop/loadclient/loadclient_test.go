package loadclient_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/examples/shop"
	"github.com/ghostgate/ghostgate/examples/shop/internal/ctltest"
	"github.com/ghostgate/ghostgate/examples/shop/loadclient"
	"github.com/ghostgate/ghostgate/examples/shop/service"
	"github.com/ghostgate/ghostgate/graybox"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// instance is one in-process shopsvc with a participant the test drives directly.
type instance struct {
	p   *graybox.Participant
	srv *httptest.Server
}

func startInstances(t *testing.T, db *sandboxtest.DB, n int, version string) []instance {
	t.Helper()
	table := db.Name + "." + shop.Table
	var out []instance
	for i := range n {
		p, err := graybox.New(graybox.Config{
			ControllerURL: "http://127.0.0.1:1", Secret: []byte("loadclient-test-secret-0123"), Service: "shopsvc",
			InstanceID: fmt.Sprintf("i%d", i), Tables: []string{table}, Versions: map[string]string{table: version},
			Mode: wire.ModeHTTP, HookURL: "http://127.0.0.1:1" + wire.HookPath,
		}, service.PhaseHandlers(db.Primary))
		require.NoError(t, err)
		svc, err := service.New(service.Config{Schema: db.Name, ShedWrites: true}, db.Primary, p)
		require.NoError(t, err)
		srv := httptest.NewServer(svc.Handler())
		t.Cleanup(srv.Close)
		out = append(out, instance{p: p, srv: srv})
	}
	return out
}

func phaseAll(t *testing.T, db *sandboxtest.DB, insts []instance, ph wire.Phase) {
	t.Helper()
	for _, in := range insts {
		ack := in.p.Apply(context.Background(), ctltest.Request("m1", db.Name, shop.Table, ph, shop.OldVersion, shop.NewVersion))
		require.True(t, ack.Ready, ack.Message)
	}
}

func targets(insts []instance) []string {
	var out []string
	for _, in := range insts {
		out = append(out, in.srv.URL)
	}
	return out
}

// TestLoadAcrossMigration is the end-to-end flow in miniature (the ALTER by hand instead of
// gh-ost): two instances under load go through prepare (writes shed), the ALTER, and commit;
// no request fails but the deliberate 429s, and the table matches the model, status_code
// included.
func TestLoadAcrossMigration(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema)
	insts := startInstances(t, db, 2, shop.OldVersion)
	c, err := loadclient.New(loadclient.Config{Targets: targets(insts), Workers: 4, Rate: 200, Seed: 1})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	require.ErrorIs(t, c.Start(context.Background()), loadclient.ErrStarted)

	time.Sleep(500 * time.Millisecond)
	phaseAll(t, db, insts, wire.PhasePrepare)
	time.Sleep(300 * time.Millisecond)
	db.Exec(t, shop.Migration)
	phaseAll(t, db, insts, wire.PhaseCommit)
	time.Sleep(700 * time.Millisecond)
	res := c.Stop()
	t.Log(res)

	require.Zero(t, res.Failures(), res.String())
	require.Positive(t, res.Shed(), "writes were shed between prepare and commit")
	require.Greater(t, res.Requests, 200)
	for _, target := range targets(insts) {
		require.Positive(t, res.ByTarget[target], "round robin reaches %s", target)
	}
	for _, op := range loadclient.Ops {
		require.Positive(t, res.ByOp[op].Count, "op %s ran", op)
	}
	require.Zero(t, res.Model.Uncertain())
	require.Positive(t, res.Model.Present())

	d, err := loadclient.Verify(context.Background(), db.Primary, db.Name, shop.Table, res.Model)
	require.NoError(t, err)
	require.True(t, d.Empty(), d.String())
	require.Equal(t, res.Model.Len(), d.Checked)

	var coded int
	require.NoError(t, db.Primary.QueryRow("SELECT COUNT(*) FROM orders WHERE status_code IS NOT NULL").Scan(&coded))
	require.Positive(t, coded, "rows written after the ALTER carry status_code")
}

// TestVerifyDetectsCorruption: a wrong value, a lost row, an extra row and a status_code that
// does not encode status are each reported, in the right list.
func TestVerifyDetectsCorruption(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema, shop.Migration)
	insts := startInstances(t, db, 1, shop.NewVersion) // dual writes: status_code is filled
	c, err := loadclient.New(loadclient.Config{Targets: targets(insts), Workers: 2, Rate: 300,
		Mix: loadclient.Mix{Create: 60, Read: 10, Update: 10, Delete: 20}, Seed: 2})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	require.Eventually(t, func() bool { return c.Progress() > 150 }, 10*time.Second, 10*time.Millisecond)
	res := c.Stop()
	require.Zero(t, res.Failures(), res.String())
	m := res.Model
	d, err := loadclient.Verify(context.Background(), db.Primary, db.Name, shop.Table, m)
	require.NoError(t, err)
	require.True(t, d.Empty(), d.String())

	// Pick three present ids and one deleted id from the model.
	first, next := m.Range()
	var present []int64
	var absent int64
	for id := first; id < next; id++ {
		s, ok := m.Expect(id)
		require.True(t, ok)
		switch {
		case s[0].Exists && len(present) < 3:
			present = append(present, id)
		case !s[0].Exists && absent == 0:
			absent = id
		}
	}
	require.Len(t, present, 3)
	require.NotZero(t, absent, "the mix deletes rows")
	db.Exec(t,
		fmt.Sprintf("UPDATE orders SET amount = amount + 0.01 WHERE id = %d", present[0]),
		fmt.Sprintf("DELETE FROM orders WHERE id = %d", present[1]),
		fmt.Sprintf("UPDATE orders SET status_code = IF(status_code = 1, 2, 1) WHERE id = %d", present[2]),
		fmt.Sprintf("INSERT INTO orders (id, customer_id, status, amount, updated_at) VALUES (%d, 1, 'new', 1, NOW(6))", absent),
	)
	d, err = loadclient.Verify(context.Background(), db.Primary, db.Name, shop.Table, m)
	require.NoError(t, err)
	t.Log(d)
	require.Len(t, d.Missing, 1)
	require.Equal(t, present[1], d.Missing[0].ID)
	require.Len(t, d.Extra, 1)
	require.Equal(t, absent, d.Extra[0].ID)
	require.Len(t, d.Wrong, 2)
	require.Equal(t, present[0], d.Wrong[0].ID)
	require.Contains(t, d.Wrong[0].Detail, "amount")
	require.Equal(t, present[2], d.Wrong[1].ID)
	require.Contains(t, d.Wrong[1].Detail, "status_code")
}

// TestConnectionErrors: a target that does not answer counts as connection errors, and writes
// with an unknown outcome leave both states acceptable.
func TestConnectionErrors(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema)
	dead := httptest.NewServer(nil)
	url := dead.URL
	dead.Close()
	c, err := loadclient.New(loadclient.Config{Targets: []string{url}, Workers: 2, Rate: 100, Seed: 3, IDBase: 500})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	require.Eventually(t, func() bool { return c.Progress() >= 10 }, 10*time.Second, 10*time.Millisecond)
	res := c.Stop()
	require.Equal(t, res.Requests, res.Outcomes[loadclient.KindConn], res.String())
	require.Equal(t, res.Requests, res.Failures())
	require.NotEmpty(t, res.Errors)
	// Every request was a create (no worker ever owned a row): each id may or may not exist.
	require.Equal(t, res.Requests, res.Model.Uncertain())
	first, _ := res.Model.Range()
	require.Equal(t, int64(500), first)
	d, err := loadclient.Verify(context.Background(), db.Primary, db.Name, shop.Table, res.Model)
	require.NoError(t, err)
	require.True(t, d.Empty(), d.String())
}

func TestConfigValidate(t *testing.T) {
	ok := loadclient.Config{Targets: []string{"http://127.0.0.1:1"}, Rate: 1}
	require.NoError(t, ok.Validate())
	for name, c := range map[string]loadclient.Config{
		"no targets":  {Rate: 1},
		"bad target":  {Targets: []string{"127.0.0.1:1"}, Rate: 1},
		"no rate":     {Targets: ok.Targets},
		"negative":    {Targets: ok.Targets, Rate: 1, Workers: -1},
		"bad mix":     {Targets: ok.Targets, Rate: 1, Mix: loadclient.Mix{Read: -1}},
		"bad timeout": {Targets: ok.Targets, Rate: 1, Timeout: -time.Second},
	} {
		_, err := loadclient.New(c)
		require.ErrorIs(t, err, loadclient.ErrConfig, name)
	}
	c, err := loadclient.New(ok)
	require.NoError(t, err)
	res := c.Stop()
	require.Zero(t, res.Requests, "Stop before Start")
}

// TestIDBaseAboveSeed: a seed reaching past DefaultIDBase (issue 13: DEMO_ROWS >= 1,000,000 made
// every create collide) does not collide with a client whose IDBase is IDBaseAbove the table.
func TestIDBaseAboveSeed(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, shop.Schema,
		"INSERT INTO orders (id, customer_id, status, amount, updated_at) SELECT seq, 1, 'new', 1, NOW(6) FROM seq_999990_to_1000020")
	ctx := context.Background()
	base, err := loadclient.IDBaseAbove(ctx, db.Primary, db.Name, shop.Table)
	require.NoError(t, err)
	require.Equal(t, int64(1_000_021), base)

	insts := startInstances(t, db, 1, shop.OldVersion)
	c, err := loadclient.New(loadclient.Config{Targets: targets(insts), Workers: 2, Rate: 300,
		Mix: loadclient.Mix{Create: 80, Read: 20}, Seed: 5, IDBase: base})
	require.NoError(t, err)
	require.NoError(t, c.Start(ctx))
	require.Eventually(t, func() bool { return c.Progress() > 60 }, 10*time.Second, 10*time.Millisecond)
	res := c.Stop()
	require.Zero(t, res.Failures(), res.String())
	d, err := loadclient.Verify(ctx, db.Primary, db.Name, shop.Table, res.Model)
	require.NoError(t, err)
	require.True(t, d.Empty(), d.String())

	empty := sandboxtest.New(t)
	empty.Exec(t, shop.Schema)
	base, err = loadclient.IDBaseAbove(ctx, empty.Primary, empty.Name, shop.Table)
	require.NoError(t, err)
	require.Equal(t, int64(1), base, "an empty table starts at 1")
}
