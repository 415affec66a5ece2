package runner_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/store"
)

// TestRunResumesAfterWorkerKill: kill -9 of the gh-ost worker in the middle of the copy, after a
// checkpoint; the runner resumes it from the checkpoint by itself (an event says why), the ghost
// table is not reset, and the migration completes with every row of the writer's model on the
// primary and the replica.
func TestRunResumesAfterWorkerKill(t *testing.T) {
	const rows = 150_000
	f := newFixture(t, sandboxtest.Env(t), rows, nil)
	w := f.writer(t)
	var ev events
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"),
		runner.RunOptions{OnEvent: ev.add})
	require.NoError(t, err)

	// Copy 40%, then crawl (10-row chunks, nice ratio 4) until gh-ost's first checkpoint, then kill the worker.
	ghostRows := func() int64 {
		var n int64
		_ = f.d.Primary.QueryRow("SELECT COUNT(*) FROM " + ghost.GhostTable("items")).Scan(&n)
		return n
	}
	require.Eventually(t, func() bool { return ghostRows() >= rows*2/5 }, 2*time.Minute, 20*time.Millisecond)
	// 10-row chunks alone still copy some 10,000 rows a second on a quiet box, the rest of the
	// table before the checkpoint: gh-ost also sleeps 4 times each chunk's time after it.
	require.NoError(t, h.SetChunkSize(10, "dba"))
	require.NoError(t, h.SetNiceRatio(4, "dba"))
	require.Eventually(t, func() bool {
		var n int
		return f.d.Primary.QueryRow("SELECT COUNT(*) FROM "+ghost.CheckpointTable("items")).Scan(&n) == nil && n > 0
	}, 2*time.Minute, 100*time.Millisecond, "gh-ost never checkpointed")
	atKill := ghostRows()
	pid := workerPid(t)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	killed := time.Now()

	require.Eventually(t, func() bool {
		_, ok := ev.find(func(e runner.Event) bool { return e.Progress != nil && e.Progress.Phase == migration.PhaseCopying })
		return ok && workerPidOrZero() != 0 && workerPidOrZero() != pid
	}, time.Minute, 50*time.Millisecond, "no new worker after the kill")
	// A reset would bring it near zero; the writer's own deletes, which gh-ost applies to the ghost
	// table too, may take away a few rows between the two counts.
	require.GreaterOrEqual(t, ghostRows(), atKill-atKill/50, "the resume must not reset the ghost table (%d rows at the kill)", atKill)
	// The operator's 10 rows and nice ratio stay: the resumed worker does not go back to the
	// starting size.
	require.Equal(t, int64(10), h.ChunkSize())
	require.Eventually(t, func() bool {
		_, ok := ev.find(func(e runner.Event) bool {
			p := e.Progress
			return p != nil && p.Phase == migration.PhaseCopying && p.Time.After(killed) && p.ChunkSize == 10 && p.NiceRatio == 4 &&
				p.ChunkReason == "operator: set by dba; no longer sized by time"
		})
		return ok
	}, time.Minute, 50*time.Millisecond, "the resumed worker copies at the operator's size")
	require.NoError(t, h.SetChunkSize(1000, "dba"))
	require.NoError(t, h.SetNiceRatio(0, "dba"))
	res, err := h.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
	f.verify(t, w)

	evs, err := f.store.Events(context.Background(), res.MigrationID, 0, 1000)
	require.NoError(t, err)
	found := false
	var tunings []string
	for _, e := range evs {
		if e.Kind == store.EventRetry && strings.Contains(e.Message, "resuming from checkpoint") {
			found = true
		}
		if e.Kind == store.EventTuning {
			tunings = append(tunings, e.Message)
		}
	}
	require.True(t, found, "the resume is in the event log")
	require.Equal(t, []string{"chunk size set to 10 by dba", "nice ratio set to 4 by dba",
		"chunk size set to 1000 by dba", "nice ratio set to 0 by dba"}, tunings)
}

// workerPid is the pid of this test process's one gh-ost worker.
func workerPid(t *testing.T) int {
	t.Helper()
	pid := workerPidOrZero()
	require.NotZero(t, pid, "no gh-ost worker child found")
	return pid
}

func workerPidOrZero() int {
	self, _ := os.Executable()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Equal(cmd, []byte(self+"\x00"+ghost.Sentinel+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat: pid (comm) state ppid …
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) {
			return pid
		}
	}
	return 0
}
