package ghost

import (
	"database/sql"
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// TestMigrationUnderLoad runs a real gh-ost migration through the replica while a writer inserts,
// updates and deletes the whole time, then compares every row on primary and replica with the
// writer's model.
func TestMigrationUnderLoad(t *testing.T) {
	t.Run("binlog filtered", func(t *testing.T) { testMigrationUnderLoad(t, false) })
	t.Run("binlog unfiltered", func(t *testing.T) { testMigrationUnderLoad(t, true) })
}

func testMigrationUnderLoad(t *testing.T, noFilter bool) {
	const seeded = 30000
	db := sandboxtest.New(t)
	db.Exec(t,
		"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a BIGINT NOT NULL, b VARCHAR(64) NOT NULL)",
		"INSERT INTO t (id, a, b) SELECT seq, seq, CONCAT('seed-', seq) FROM seq_1_to_30000",
		"ANALYZE TABLE t")
	db.WaitReplica(t)

	writer := newModelWriter(db.Primary, "t", seeded)
	stopWriter := startWriter(writer)
	stopped := false
	defer func() {
		if !stopped {
			stopWriter()
		}
	}()
	time.Sleep(300 * time.Millisecond) // writes before gh-ost starts, too

	spec := testSpec(t, db, "t", "MODIFY id BIGINT NOT NULL, ADD COLUMN d INT NOT NULL DEFAULT 7")
	spec.ChunkSize = 500 // many chunks, so that the copy and the writer interleave
	spec.NoBinlogFilter = noFilter
	w := startWorker(t, spec)
	events := collect(w)
	res, err := runToCompletion(t, w)
	require.NoError(t, err, logTail(w.Spec().LogFile(), 40))
	time.Sleep(300 * time.Millisecond) // writes after the cut-over, too
	stopWriter()
	stopped = true
	require.Empty(t, writer.errs, "the writer must see no errors during the migration")
	t.Logf("writer: %d ops; gh-ost copied %d rows in %s; old table %s", writer.ops, res.RowsCopied, res.Duration, res.OldTable)

	db.WaitReplica(t)
	requireModel(t, "primary", db.Primary, "t", writer.model)
	requireModel(t, "replica", db.Replica, "t", writer.model)

	// The new shape is in place on both servers, and the new column has its default everywhere.
	for name, c := range map[string]*sql.DB{"primary": db.Primary, "replica": db.Replica} {
		var typ string
		require.NoError(t, c.QueryRow("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND COLUMN_NAME = 'id'", db.Name).Scan(&typ))
		require.Equal(t, "bigint", typ, name)
		var bad int
		require.NoError(t, c.QueryRow("SELECT COUNT(*) FROM t WHERE d <> 7").Scan(&bad))
		require.Zero(t, bad, name)
	}
	require.NotEmpty(t, res.OldTable)
	requireNoRace(t, w)
	requirePhases(t, events.all())
	requireDrained(t, w)
	requireCopyTail(t, w)
	if noFilter {
		require.Nil(t, res.BinlogFilter)
		return
	}
	// The copy's 60 chunks into the ghost table are at least 60 row events and their table maps
	// that gh-ost no longer decodes; the writer's and the changelog's events were forwarded.
	require.NotNil(t, res.BinlogFilter)
	t.Logf("%v", *res.BinlogFilter)
	require.GreaterOrEqual(t, res.BinlogFilter.Dropped, int64(2*seeded/500))
	require.Positive(t, res.BinlogFilter.Forwarded)
}

var drainedRE = regexp.MustCompile(`cut-over: apply backlog (\d+) event\(s\) at the permit, (\d+) after (\S+), the stream (caught up|not caught up) \(drained to at most (\d+) and a heartbeat written after the permit, for at most (\S+)\)`)

// requireDrained checks that the worker let gh-ost's apply queue run down before the cut-over
// (drain.go): the worker log says so, and the queue was at most the bound and the stream caught
// up with the permit when gh-ost went, or the wait reached its limit.
func requireDrained(t *testing.T, w *Worker) {
	t.Helper()
	log, err := os.ReadFile(w.Spec().LogFile())
	require.NoError(t, err)
	m := drainedRE.FindSubmatch(log)
	require.NotNil(t, m, "no drain before the cut-over in the worker log")
	t.Logf("%s", m[0])
	after, _ := strconv.Atoi(string(m[2]))
	below, _ := strconv.Atoi(string(m[5]))
	waited, err1 := time.ParseDuration(string(m[3]))
	limit, err2 := time.ParseDuration(string(m[6]))
	require.NoError(t, errors.Join(err1, err2))
	require.True(t, (after <= below && string(m[4]) == "caught up") || waited >= limit, "%s", m[0])
}

// requireCopyTail checks that gh-ost's apply loop was kept out of its one-second sleep at the
// copy's start and across its end (copytail.go): the worker log says so.
func requireCopyTail(t *testing.T, w *Worker) {
	t.Helper()
	log, err := os.ReadFile(w.Spec().LogFile())
	require.NoError(t, err)
	require.Contains(t, string(log), "copy start: the apply loop took the first chunk", logTail(w.Spec().LogFile(), 40))
	require.Contains(t, string(log), "copy tail: the apply loop kept awake past the copy's end", logTail(w.Spec().LogFile(), 40))
}

// requirePhases checks the event stream: phases only move forward, the ratio stays in [0,1], and
// the run was seen copying, postponing (ready), cutting over and done.
func requirePhases(t *testing.T, evs []migration.Progress) {
	t.Helper()
	order := map[migration.Phase]int{migration.PhaseStarting: 0, migration.PhaseCopying: 1,
		migration.PhasePostponing: 2, migration.PhaseCutOver: 3, migration.PhaseDone: 4}
	seen := map[migration.Phase]bool{}
	last := 0
	for _, e := range evs {
		o, ok := order[e.Phase]
		require.True(t, ok, "unexpected phase %q", e.Phase)
		require.GreaterOrEqual(t, o, last, "phase went back to %q", e.Phase)
		last = o
		seen[e.Phase] = true
		require.True(t, e.Ratio >= 0 && e.Ratio <= 1, "ratio %v", e.Ratio)
		require.LessOrEqual(t, e.RowsCopied, max(e.RowsEstimated, e.RowsCopied))
	}
	for _, p := range []migration.Phase{migration.PhasePostponing, migration.PhaseCutOver, migration.PhaseDone} {
		require.True(t, seen[p], "phase %q never reported", p)
	}
}

// TestOnPrimaryUnderLoad runs gh-ost against the primary itself (inspection and binlog there).
func TestOnPrimaryUnderLoad(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a BIGINT NOT NULL, b VARCHAR(64) NOT NULL)",
		"INSERT INTO t (id, a, b) SELECT seq, seq, CONCAT('seed-', seq) FROM seq_1_to_5000")
	db.WaitReplica(t)
	writer := newModelWriter(db.Primary, "t", 5000)
	stopWriter := startWriter(writer)
	spec := testSpec(t, db, "t", "ADD COLUMN d INT NOT NULL DEFAULT 7")
	spec.OnPrimary, spec.Replica, spec.ChunkSize = true, Endpoint{}, 200
	w := startWorker(t, spec)
	_, err := runToCompletion(t, w)
	stopWriter()
	require.NoError(t, err, logTail(w.Spec().LogFile(), 40))
	require.Empty(t, writer.errs)
	db.WaitReplica(t)
	requireModel(t, "primary", db.Primary, "t", writer.model)
	requireModel(t, "replica", db.Replica, "t", writer.model)
}

// TestConcurrentMigrations: two migrations at once need their own binlog server ids, sockets and
// flag files; with shared ones they kick each other off the binlog (error 4052) or cut over
// together.
func TestConcurrentMigrations(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t,
		"CREATE TABLE t1 (id INT PRIMARY KEY, v INT)", "INSERT INTO t1 SELECT seq, seq FROM seq_1_to_3000",
		"CREATE TABLE t2 (id INT PRIMARY KEY, v INT)", "INSERT INTO t2 SELECT seq, seq FROM seq_1_to_3000")
	db.WaitReplica(t)
	s1, s2 := testSpec(t, db, "t1", "MODIFY v BIGINT"), testSpec(t, db, "t2", "ADD COLUMN c INT")
	require.NotEqual(t, s1.withDefaults().ReplicaServerID, s2.withDefaults().ReplicaServerID)
	w1, w2 := startWorker(t, s1), startWorker(t, s2)
	for _, w := range []*Worker{w1, w2} {
		select {
		case <-w.Ready():
		case <-w.Done():
			_, err := w.Wait()
			t.Fatalf("%s ended before ready: %v", w.Spec().Table, err)
		case <-time.After(60 * time.Second):
			t.Fatalf("%s not ready", w.Spec().Table)
		}
	}
	// Only the first is released: the second must keep postponing.
	require.NoError(t, w1.CutOver(0))
	_, err := w1.Wait()
	require.NoError(t, err)
	select {
	case <-w2.Done():
		t.Fatal("the second migration cut over without being told")
	case <-time.After(1500 * time.Millisecond):
	}
	require.NoError(t, w2.CutOver(0))
	_, err = w2.Wait()
	require.NoError(t, err)
}

// TestEarlyCutOver: a cut-over allowed before the copy is done must hold, although gh-ost
// re-creates its postpone flag file when it starts migrating.
func TestEarlyCutOver(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)",
		"INSERT INTO t (id, a) SELECT seq, seq FROM seq_1_to_2000")
	db.WaitReplica(t)
	w := startWorker(t, testSpec(t, db, "t", "MODIFY a BIGINT NOT NULL"))
	require.NoError(t, w.CutOver(0))
	select {
	case <-w.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("an early cut-over was lost: still running after 60s; log:\n%s", logTail(w.Spec().LogFile(), 30))
	}
	_, err := w.Wait()
	require.NoError(t, err)
}
