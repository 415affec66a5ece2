package cutover_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/runner"
)

// isolated is the pair of this package's tests that stop replication or count every
// transaction and thread on the server: other packages' tests cannot disturb them there.
func isolated(t *testing.T) *sandboxtest.DB {
	t.Helper()
	return sandboxtest.NewOn(t, sandboxtest.Isolated(t, "cutover-lag"))
}

func target(d *sandboxtest.DB) runner.Target {
	return runner.Target{MigrationID: "m-" + d.Name[len(d.Name)-8:], Schema: d.Name, Table: "t"}
}

func conn(t *testing.T, db *sql.DB) (*sql.Conn, int64) {
	t.Helper()
	c, err := db.Conn(context.Background())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	var id int64
	require.NoError(t, c.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id))
	return c, id
}

// A transaction that read the table holds its metadata lock: the gate stays closed and names
// it, an ALTER queued behind it is named as a metadata-lock waiter, and after COMMIT the gate
// opens.
func TestGateBlockers(t *testing.T) {
	d := isolated(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v INT)", "INSERT INTO t VALUES (1, 1)")
	holder, holderID := conn(t, d.Primary)
	ctx := context.Background()
	_, err := holder.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = holder.ExecContext(ctx, "SELECT * FROM t")
	require.NoError(t, err)
	waiter, waiterID := conn(t, d.Primary)
	altered := make(chan error, 1)
	go func() {
		_, err := waiter.ExecContext(ctx, "ALTER TABLE t ADD COLUMN w INT")
		altered <- err
	}()
	time.Sleep(300 * time.Millisecond) // the transaction gets older than the limit

	cfg := quiet()
	cfg.Blockers = cutover.Blockers{MaxTransactionAge: 200 * time.Millisecond}
	ev := &sink{}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Events: ev})
	require.NoError(t, err)
	a := startAwait(t, g, target(d))

	trx := waitLine(t, g, cutover.LineTransactions, failing, 5*time.Second)
	assert.Contains(t, trx.Detail, fmt.Sprintf("conn %d ", holderID))
	assert.Contains(t, trx.Detail, "METADATA_LOCK_INFO", "says why every transaction counts")
	w := waitLine(t, g, cutover.LineMDLWaiters, func(l cutover.Line) bool { return strings.Contains(l.Detail, fmt.Sprintf("conn %d ", waiterID)) }, 5*time.Second)
	assert.False(t, w.OK)
	assert.Contains(t, w.Detail, "ALTER TABLE t ADD COLUMN w")
	time.Sleep(300 * time.Millisecond)
	a.stillWaiting(t)

	_, err = holder.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.NoError(t, <-altered)
	require.NoError(t, a.result(t, 10*time.Second))
	cl := g.Checklist()
	assert.True(t, cl.Open)
	assert.True(t, cl.OK())
	kinds := ev.kinds()
	assert.Positive(t, kinds[cutover.EventGateWaiting])
	assert.Equal(t, 1, kinds[cutover.EventGateOpened])
}

// Threads_running over the limit (held SLEEP queries) and a replica whose SQL thread is stopped
// keep the gate closed; it opens when both are back to normal.
func TestGateWindow(t *testing.T) {
	d := isolated(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	ctx := context.Background()
	_, err := d.Replica.ExecContext(ctx, "STOP SLAVE SQL_THREAD")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = d.Replica.ExecContext(ctx, "START SLAVE SQL_THREAD") })

	var sleepers sync.WaitGroup
	for range 4 {
		sleepers.Go(func() { _, _ = d.Primary.ExecContext(ctx, "SELECT SLEEP(1.5)") })
	}
	cfg := quiet()
	cfg.Window = cutover.Window{MaxThreadsRunning: 3, MaxReplicaLag: 5 * time.Second}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state,
		Replicas: []cutover.Replica{{Name: "replica", DB: d.Replica}}})
	require.NoError(t, err)
	a := startAwait(t, g, target(d))

	tr := waitLine(t, g, cutover.LineThreadsRunning, failing, 5*time.Second)
	assert.Equal(t, "<= 3", tr.Limit)
	lag := waitLine(t, g, cutover.LineReplicaLag, failing, 5*time.Second)
	assert.Contains(t, lag.Detail, "replica: cutover: not replicating (IO=Yes SQL=No)")
	sleepers.Wait()
	waitLine(t, g, cutover.LineThreadsRunning, passing, 5*time.Second)
	a.stillWaiting(t) // the replica still holds it

	_, err = d.Replica.ExecContext(ctx, "START SLAVE SQL_THREAD")
	require.NoError(t, err)
	require.NoError(t, a.result(t, 10*time.Second))
	l, _ := g.Checklist().Line(cutover.LineReplicaLag)
	assert.True(t, l.OK)
}

// Manual approval keeps the gate closed until Approve; a window that contains now opens it; one
// that does not keeps it closed until ctx ends.
func TestGateApproval(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	newGate := func(a cutover.Approval, ev *sink) *cutover.Gate {
		cfg := quiet()
		cfg.Approval = a
		g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Events: ev})
		require.NoError(t, err)
		return g
	}
	t.Run("manual", func(t *testing.T) {
		ev := &sink{}
		g := newGate(cutover.Approval{Mode: cutover.ApprovalManual}, ev)
		a := startAwait(t, g, target(d))
		l := waitLine(t, g, cutover.LineApproval, failing, 5*time.Second)
		assert.Equal(t, "not approved", l.Value)
		time.Sleep(200 * time.Millisecond)
		a.stillWaiting(t)
		require.NoError(t, g.Approve(context.Background(), "dba@example"))
		require.NoError(t, a.result(t, 5*time.Second))
		e, ok := ev.find(cutover.EventApproval)
		require.True(t, ok)
		assert.Contains(t, e.Message, "dba@example")
	})
	now := time.Now().In(time.UTC)
	around, err := cutover.ParseApproval(fmt.Sprintf("%s-%s", now.Add(-time.Hour).Format("15:04"), now.Add(time.Hour).Format("15:04")), time.UTC)
	require.NoError(t, err)
	elsewhere, err := cutover.ParseApproval(fmt.Sprintf("%s-%s", now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04")), time.UTC)
	require.NoError(t, err)
	t.Run("window contains now", func(t *testing.T) {
		g := newGate(around, &sink{})
		require.ErrorIs(t, g.Approve(context.Background(), "x"), cutover.ErrNotManual)
		a := startAwait(t, g, target(d))
		require.NoError(t, a.result(t, 5*time.Second))
	})
	t.Run("window closed now", func(t *testing.T) {
		ev := &sink{}
		g := newGate(elsewhere, ev)
		a := startAwait(t, g, target(d))
		l := waitLine(t, g, cutover.LineApproval, failing, 5*time.Second)
		assert.Contains(t, l.Detail, "outside the approval window")
		time.Sleep(300 * time.Millisecond)
		a.stillWaiting(t)
		a.cancel()
		require.ErrorIs(t, a.result(t, 5*time.Second), context.Canceled)
		assert.Equal(t, 1, ev.kinds()[cutover.EventGateClosed])
		assert.NotEmpty(t, g.Checklist().Closed)
	})
}

// A cancel while the gate waits ends it quietly (issue 13): the checklist says "cancelled",
// keeps the lines of the last complete check (none reads "context canceled"), and no
// gate_waiting event follows the cancel.
func TestGateCancelIsQuiet(t *testing.T) {
	d := sandboxtest.New(t)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := quiet()
	cfg.Blockers = cutover.Blockers{} // the lock-waiter query is the one a cancel cut short
	cfg.Approval = cutover.Approval{Mode: cutover.ApprovalManual}
	ev := &sink{}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state, Events: ev})
	require.NoError(t, err)
	a := startAwait(t, g, target(d))
	waitLine(t, g, cutover.LineApproval, failing, 5*time.Second)
	waiting := ev.kinds()[cutover.EventGateWaiting]
	a.cancel()
	require.ErrorIs(t, a.result(t, 5*time.Second), context.Canceled)
	cl := g.Checklist()
	assert.Equal(t, "cancelled", cl.Closed)
	for _, l := range cl.Lines {
		assert.NotContains(t, l.Detail+l.Value, "context canceled", l.Name)
	}
	assert.Equal(t, waiting, ev.kinds()[cutover.EventGateWaiting], "no gate_waiting after the cancel")
	e, ok := ev.find(cutover.EventGateClosed)
	require.True(t, ok)
	assert.Equal(t, "gate closed without opening: cancelled", e.Message)
}

// With MariaDB's user statistics on (the sandbox runs with userstat=1), the query-rate line
// follows the table's own writes: a burst of writes on the table closes the gate, and it opens
// again once the rate is back to its baseline.
func TestGateQPSFollowsTheTable(t *testing.T) {
	d := sandboxtest.New(t)
	ctx := context.Background()
	_, err := d.Primary.ExecContext(ctx, "SET GLOBAL userstat = 1") // already on in the sandbox
	require.NoError(t, err)
	d.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, n INT)", "INSERT INTO t SELECT seq, 0 FROM seq_1_to_100")
	cfg := quiet()
	cfg.Window = cutover.Window{MaxQPSRatio: 2, QPSBaseline: 600 * time.Millisecond, QPSRecent: 300 * time.Millisecond}
	cfg.Approval = cutover.Approval{Mode: cutover.ApprovalManual} // holds the gate while we watch the line
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state})
	require.NoError(t, err)

	burst, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	a := startAwait(t, g, target(d))
	time.Sleep(time.Second) // a quiet baseline
	go func() {
		defer close(done)
		for i := 0; burst.Err() == nil; i++ {
			_, _ = d.Primary.ExecContext(ctx, "UPDATE t SET n = n + 1 WHERE id = ?", 1+i%100)
		}
	}()
	l := waitLine(t, g, cutover.LineQPS, failing, 5*time.Second)
	assert.Contains(t, l.Detail, "rows changed/s on the table")
	a.stillWaiting(t)
	stop()
	<-done
	waitLine(t, g, cutover.LineQPS, passing, 5*time.Second)
	require.NoError(t, g.Approve(ctx, "dba"))
	require.NoError(t, a.result(t, 10*time.Second))
}
