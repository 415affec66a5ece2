package ghost

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// tableState is what must survive an aborted run unchanged.
type tableState struct {
	checksum int64
	rows     int64
	shape    string
}

func stateOf(t *testing.T, db *sql.DB, schema, table string) tableState {
	t.Helper()
	var s tableState
	var name string
	require.NoError(t, db.QueryRow("CHECKSUM TABLE "+qualified(schema, table)).Scan(&name, &s.checksum))
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+qualified(schema, table)).Scan(&s.rows))
	stmt, err := showCreate(context.Background(), db, schema, table)
	require.NoError(t, err)
	s.shape = normalizeShape(stmt)
	return s
}

// requireCleanAfterAbort checks the original is intact and no gh-ost table is left, on the primary
// and (after replication caught up) on the replica.
func requireCleanAfterAbort(t *testing.T, db *sandboxtest.DB, table string, before tableState) {
	t.Helper()
	db.WaitReplica(t)
	for name, conn := range map[string]*sql.DB{"primary": db.Primary, "replica": db.Replica} {
		require.Equal(t, before, stateOf(t, conn, db.Name, table), "%s: original table changed", name)
		rows, err := conn.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> ?", db.Name, table)
		require.NoError(t, err)
		var left []string
		for rows.Next() {
			var n string
			require.NoError(t, rows.Scan(&n))
			left = append(left, n)
		}
		require.NoError(t, rows.Err())
		_ = rows.Close()
		require.Empty(t, left, "%s: tables left behind", name)
	}
}

// seedBig creates a table large enough for a long copy at a small chunk size.
func seedBig(t *testing.T, db *sandboxtest.DB, rows int) {
	t.Helper()
	db.Exec(t, "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, v VARCHAR(40) NOT NULL)")
	_, err := db.Primary.Exec("INSERT INTO big SELECT seq, CONCAT('v', seq) FROM seq_1_to_" + strconv.Itoa(rows))
	require.NoError(t, err)
	db.WaitReplica(t)
}

// waitEvent waits until an event satisfies cond, failing the test after timeout.
func waitEvent(t *testing.T, w *Worker, l *eventLog, timeout time.Duration, what string, cond func(migration.Progress) bool) migration.Progress {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p, ok := l.last(); ok && cond(p) {
			return p
		}
		select {
		case <-w.Done():
			_, err := w.Wait()
			t.Fatalf("worker ended while waiting for %s: %v", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("no event with %s within %s", what, timeout)
	return migration.Progress{}
}

func copying(p migration.Progress) bool { return p.Phase == migration.PhaseCopying && p.RowsCopied > 0 }

// TestThrottleThenAbortMidCopy: a throttle stops the copy within a second and an unthrottle resumes
// it; an abort mid-copy leaves the original table as it was and no gh-ost table behind.
func TestThrottleThenAbortMidCopy(t *testing.T) {
	db := sandboxtest.New(t)
	seedBig(t, db, 50000)
	before := stateOf(t, db.Primary, db.Name, "big")

	spec := testSpec(t, db, "big", "ADD COLUMN extra INT NULL")
	spec.ChunkSize = 10 // 5,000 chunks: the copy is still running when we act
	w := startWorker(t, spec)
	events := collect(w)
	waitEvent(t, w, events, 60*time.Second, "copy progress", copying)

	require.NoError(t, w.Throttle("test pause"))
	time.Sleep(800 * time.Millisecond) // the chunk in flight, gh-ost's 100 ms check, one event interval
	p1 := waitEvent(t, w, events, 2*time.Second, "throttled", func(p migration.Progress) bool { return p.Throttled })
	require.Equal(t, "test pause", p1.ThrottleReason)
	require.Less(t, p1.Ratio, 1.0)
	time.Sleep(1500 * time.Millisecond)
	p2, _ := events.last()
	require.True(t, p2.Throttled)
	require.Equal(t, p1.RowsCopied, p2.RowsCopied, "the copy advanced while throttled")

	require.NoError(t, w.Unthrottle())
	waitEvent(t, w, events, 5*time.Second, "copy resumed", func(p migration.Progress) bool {
		return !p.Throttled && p.RowsCopied > p2.RowsCopied
	})
	require.NoError(t, w.SetChunkSize(20))
	require.Error(t, w.SetChunkSize(5), "the worker refuses a chunk size gh-ost would clamp")

	require.NoError(t, w.Abort())
	_, err := w.Wait()
	require.ErrorIs(t, err, ErrAborted)
	require.ErrorIs(t, w.Throttle("late"), ErrNotRunning)
	events.all() // the channel is closed
	requireCleanAfterAbort(t, db, "big", before)
}

// TestWorkerCrashCleansUp: a worker that dies (here: killed behind the controller's back) takes the
// abort path: tables dropped, original intact, an error with the tail of the worker log.
func TestWorkerCrashCleansUp(t *testing.T) {
	db := sandboxtest.New(t)
	seedBig(t, db, 20000)
	before := stateOf(t, db.Primary, db.Name, "big")

	spec := testSpec(t, db, "big", "ADD COLUMN extra INT NULL")
	spec.ChunkSize = 10
	w := startWorker(t, spec)
	events := collect(w)
	waitEvent(t, w, events, 60*time.Second, "copy progress", copying)
	require.NoError(t, w.Throttle("hold")) // stays mid-copy
	require.NoError(t, syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL))

	_, err := w.Wait()
	var we *WorkerError
	require.True(t, errors.As(err, &we), "want *WorkerError, got %v", err)
	require.NotErrorIs(t, err, ErrAborted)
	require.Equal(t, -1, we.ExitCode)
	require.Contains(t, we.LogTail, "Copy:", "the error carries the worker log's tail")
	events.all()
	requireCleanAfterAbort(t, db, "big", before)
}

// TestContextCancelAbortsWhilePostponing: ending Start's context while gh-ost waits at the
// cut-over aborts the run; the table keeps its old shape.
func TestContextCancelAbortsWhilePostponing(t *testing.T) {
	db := sandboxtest.New(t)
	seedBig(t, db, 2000)
	before := stateOf(t, db.Primary, db.Name, "big")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := Start(ctx, testSpec(t, db, "big", "MODIFY v VARCHAR(80) NOT NULL"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Abort() })
	select {
	case <-w.Ready():
	case <-time.After(60 * time.Second):
		t.Fatal("not ready")
	}
	cancel()
	_, err = w.Wait()
	require.ErrorIs(t, err, ErrAborted)
	requireCleanAfterAbort(t, db, "big", before)
}

// TestLeftoversRefused: tables of a dead run block a new one with a typed error naming them, and
// are not dropped.
func TestLeftoversRefused(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE _t_gho (id INT PRIMARY KEY)", "CREATE TABLE _t_ghc (id INT PRIMARY KEY)")
	_, err := Start(context.Background(), testSpec(t, db, "t", "ADD COLUMN c INT"))
	var le *LeftoverError
	require.True(t, errors.As(err, &le), "want *LeftoverError, got %v", err)
	require.Equal(t, []string{"_t_gho", "_t_ghc"}, le.Tables)
	require.Equal(t, "DROP TABLE `"+db.Name+"`.`_t_gho`", le.DropStatements()[0])
	for _, name := range le.Tables {
		ok, err := tableExists(context.Background(), db.Primary, db.Name, name)
		require.NoError(t, err)
		require.True(t, ok, "%s must not be dropped", name)
	}
}
