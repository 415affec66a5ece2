package ghost

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// testSpec is a spec for table in db through the replica, with a short private work dir (unix
// socket paths are limited to ~100 bytes).
func testSpec(t *testing.T, db *sandboxtest.DB, table, alter string) Spec {
	t.Helper()
	dir, err := os.MkdirTemp("", "gg-ghost-")
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("GG_KEEP_LOGS") != "" {
			t.Logf("worker log kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	id := make([]byte, 6)
	_, _ = rand.Read(id)
	return Spec{
		MigrationID: t.Name() + "-" + hex.EncodeToString(id),
		Schema:      db.Name, Table: table, Alter: alter,
		Primary: Endpoint(db.Env.Primary), Replica: Endpoint(db.Env.Replica),
		WorkDir: dir,
	}
}

// recorder collects a worker's events until the channel closes.
type eventLog struct {
	mu     sync.Mutex
	events []migration.Progress
	done   chan struct{}
}

func collect(w *Worker) *eventLog {
	l := &eventLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for p := range w.Events() {
			l.mu.Lock()
			l.events = append(l.events, p)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *eventLog) all() []migration.Progress {
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]migration.Progress(nil), l.events...)
}

func (l *eventLog) last() (migration.Progress, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) == 0 {
		return migration.Progress{}, false
	}
	return l.events[len(l.events)-1], true
}

// runToCompletion waits for Ready, lets the cut-over happen and returns Wait's outcome.
func runToCompletion(t *testing.T, w *Worker) (Result, error) {
	t.Helper()
	select {
	case <-w.Ready():
	case <-w.Done():
		return w.Wait()
	case <-time.After(90 * time.Second):
		_ = w.Abort()
		t.Fatalf("worker not ready after 90s; log %s:\n%s", w.Spec().LogFile(), logTail(w.Spec().LogFile(), 40))
	}
	require.NoError(t, w.CutOver(0))
	return w.Wait()
}

// requireNoRace fails the test when the worker (the race-instrumented test binary) reported a data
// race in its log.
func requireNoRace(t *testing.T, w *Worker) {
	t.Helper()
	b, err := os.ReadFile(w.Spec().LogFile())
	require.NoError(t, err)
	require.NotContains(t, string(b), "WARNING: DATA RACE", "worker log %s", w.Spec().LogFile())
	// gh-ost's default logger garbled every status line ("0.0%!;(MISSING)"); the worker's must not.
	require.NotContains(t, string(b), "%!", "a log line was formatted twice: %s", w.Spec().LogFile())
	require.Regexp(t, `INFO Copy: \d+/\d+ \d+\.\d%; Applied`, string(b), "gh-ost's status lines are in the log, readable")
}

var appliedRE = regexp.MustCompile(`Applied: (\d+);`)

// appliedEvents is the last "Applied: N" (binlog events applied to the ghost table) in gh-ost's
// status lines in the worker log.
func appliedEvents(t *testing.T, w *Worker) int64 {
	t.Helper()
	b, err := os.ReadFile(w.Spec().LogFile())
	require.NoError(t, err)
	m := appliedRE.FindAllSubmatch(b, -1)
	require.NotEmpty(t, m, "no status line in the worker log")
	n, err := strconv.ParseInt(string(m[len(m)-1][1]), 10, 64)
	require.NoError(t, err)
	return n
}

func startWorker(t *testing.T, spec Spec) *Worker {
	t.Helper()
	w, err := Start(context.Background(), spec)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Abort() })
	return w
}

// readyWorker starts a worker adding column c to a 2000-row table t and waits until it is at the
// gate.
func readyWorker(t *testing.T, db *sandboxtest.DB) (Spec, *Worker) {
	t.Helper()
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
	db.WaitReplica(t)
	spec := testSpec(t, db, "t", "ADD COLUMN c INT NOT NULL DEFAULT 7")
	w := startWorker(t, spec)
	select {
	case <-w.Ready():
	case <-time.After(90 * time.Second):
		t.Fatalf("not ready: %s", logTail(spec.LogFile(), 30))
	}
	return spec, w
}

// holdInTransaction opens a transaction on a connection of its own that runs stmt and keeps its
// locks until commit is called.
func holdInTransaction(t *testing.T, db *sql.DB, stmt string) (commit func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = conn.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, stmt)
	require.NoError(t, err)
	return func() {
		_, err := conn.ExecContext(ctx, "COMMIT")
		require.NoError(t, err)
	}
}

// permitUntilRetry gives w a short permit that a blocked first attempt outlives, and waits until
// gh-ost's retry comes back to the gate for a new one.
func permitUntilRetry(t *testing.T, w *Worker) {
	t.Helper()
	require.NoError(t, w.CutOver(300*time.Millisecond))
	select {
	case attempt := <-w.GateAgain():
		require.GreaterOrEqual(t, attempt, 2)
	case <-w.Done():
		_, err := w.Wait()
		t.Fatalf("the worker ended instead of waiting at the gate again: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatalf("the retry never came back to the gate: %s", logTail(w.Spec().LogFile(), 40))
	}
}
