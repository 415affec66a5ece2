package ghost

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// backlogAtGate builds a backlog of binlog events in a worker waiting at the gate: the worker is
// throttled (gh-ost's apply loop holds, its streamer fills the queue), rounds of an UPDATE of
// every row of the 2000-row table are written, and the throttle is lifted. It returns the
// progress reports from before the throttle to after the queue drained.
func backlogAtGate(t *testing.T, adaptive bool) []migration.Progress {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
	db.WaitReplica(t)
	spec := testSpec(t, db, "t", "ADD COLUMN c INT NOT NULL DEFAULT 7")
	spec.AdaptiveDMLBatch = adaptive
	w := startWorker(t, spec)
	log := collect(w)
	select {
	case <-w.Ready():
	case <-time.After(90 * time.Second):
		t.Fatalf("not ready: %s", logTail(spec.LogFile(), 30))
	}
	require.NoError(t, w.Throttle("test: let a backlog build"))
	for i := 0; i < 5; i++ {
		db.Exec(t, "UPDATE t SET a = a + 1") // 2000 row events each
	}
	db.WaitReplica(t)
	time.Sleep(time.Second) // the streamer fills gh-ost's queue (1000 entries) meanwhile
	require.NoError(t, w.Unthrottle())
	deadline := time.Now().Add(60 * time.Second)
	for !drained(log) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // the batch shrinks back once the queue drained
	res, err := runToCompletion(t, w)
	require.NoError(t, err, "result %+v; log %s", res, logTail(spec.LogFile(), 30))
	requireNoRace(t, w)
	require.GreaterOrEqual(t, appliedEvents(t, w), int64(10_000), "every row event applied")
	return log.all()
}

// drained says whether the reports showed a backlog and then none: the queue drained.
func drained(l *eventLog) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := false
	for _, p := range l.events {
		if p.BacklogEvents > 0 {
			seen = true
		}
		if seen && p.BacklogEvents == 0 {
			return true
		}
	}
	return false
}

// The apply batch grows while a backlog waits, up to gh-ost's 100, says why, shrinks back once the
// queue drained, and the loop's capacity is measured from that time.
func TestDMLBatchGrowsWithTheBacklog(t *testing.T) {
	events := backlogAtGate(t, true)
	var maxSize int64
	var grewWhy string
	for _, p := range events {
		if p.DMLBatchSize > maxSize {
			maxSize, grewWhy = p.DMLBatchSize, p.DMLBatchReason
		}
	}
	require.Greater(t, maxSize, int64(DefaultDMLBatchSize), "the batch grew with the backlog")
	require.LessOrEqual(t, maxSize, int64(100), "within gh-ost's bound")
	require.Regexp(t, `^(grow|hold): backlog \d+`, grewWhy)
	last := lastWorkerReport(events)
	require.Equal(t, int64(DefaultDMLBatchSize), last.DMLBatchSize, "back at the floor after the queue drained: %s", last.DMLBatchReason)
	require.Greater(t, last.ApplyRate, 0.0, "the capacity was measured while the backlog waited")
	require.Greater(t, last.ApplyRateSeconds, 0.0)
	t.Logf("largest batch %d (%s); apply capacity %.0f events/s over %.2fs", maxSize, grewWhy, last.ApplyRate, last.ApplyRateSeconds)
}

// By default the batch is fixed: it stays at its size under the same backlog, and the capacity
// is still measured.
func TestDMLBatchFixed(t *testing.T) {
	events := backlogAtGate(t, false)
	for _, p := range events {
		if p.DMLBatchSize == 0 {
			continue
		}
		require.Equal(t, int64(DefaultDMLBatchSize), p.DMLBatchSize)
		require.True(t, strings.HasPrefix(p.DMLBatchReason, "fixed: "), p.DMLBatchReason)
	}
	last := lastWorkerReport(events)
	require.Greater(t, last.ApplyRate, 0.0)
	// The capacity stays on the final report, which the store keeps (store.ReadApplyCapacity).
	done := events[len(events)-1]
	require.Equal(t, migration.PhaseDone, done.Phase)
	require.Equal(t, last.ApplyRate, done.ApplyRate)
	require.Equal(t, last.ApplyRateSeconds, done.ApplyRateSeconds)
	t.Logf("apply capacity at a fixed batch of %d: %.0f events/s over %.2fs", last.DMLBatchSize, last.ApplyRate, last.ApplyRateSeconds)
}

// lastWorkerReport is the last report of the worker's own (the controller adds a final one of
// its own, without the worker's figures).
func lastWorkerReport(events []migration.Progress) migration.Progress {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].DMLBatchSize > 0 {
			return events[i]
		}
	}
	return migration.Progress{}
}
