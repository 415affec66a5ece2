package ghost

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

const resumeRows = 200_000

// seedResume makes a table of n rows whose copy is slow enough (small chunks, a nice ratio) to be
// killed in the middle after a checkpoint.
func seedResume(t *testing.T, db *sandboxtest.DB, n int) {
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a BIGINT NOT NULL, b VARCHAR(64) NOT NULL)",
		fmt.Sprintf("INSERT INTO t (id, a, b) SELECT seq, seq, CONCAT('seed-', seq) FROM seq_1_to_%d", n), "ANALYZE TABLE t")
	db.WaitReplica(t)
}

// killAfterCheckpoint waits until gh-ost has copied minRows, slows the copy to a crawl (chunks of
// 10 rows) so that the kill lands near that point whatever the machine's speed, waits for a
// checkpoint past it, kills the worker with SIGKILL, and returns the ghost table's row count at the
// kill and the outcome.
func killAfterCheckpoint(t *testing.T, db *sandboxtest.DB, w *Worker, minRows int64) (int64, error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	ghostRows := func() int64 {
		var n int64
		_ = db.Primary.QueryRow("SELECT COUNT(*) FROM " + quoteIdent(GhostTable("t"))).Scan(&n)
		return n
	}
	for ghostRows() < minRows {
		require.True(t, time.Now().Before(deadline), "fewer than %d rows copied in 3 minutes: %s", minRows, logTail(w.Spec().LogFile(), 20))
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, w.SetChunkSize(10))
	for {
		require.True(t, time.Now().Before(deadline), "no checkpoint after %d rows in 3 minutes: %s", minRows, logTail(w.Spec().LogFile(), 20))
		cp, ok, err := readCheckpoint(context.Background(), db.Primary, db.Name, "t")
		require.NoError(t, err)
		if ok && cp.RowsCopied >= minRows {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	n := ghostRows()
	require.NoError(t, syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL))
	_, err := w.Wait()
	return n, err
}

// TestResumeAfterWorkerKill: a worker killed with SIGKILL in the middle of the copy leaves its
// tables; a run with Resume continues from the checkpoint (the ghost table is not reset) and ends
// with the table equal to the writer's model on the primary and the replica.
func TestResumeAfterWorkerKill(t *testing.T) {
	db := sandboxtest.New(t)
	seedResume(t, db, resumeRows)
	writer := newModelWriter(db.Primary, "t", resumeRows)
	stopWriter := startWriter(writer)
	defer stopWriter()

	spec := testSpec(t, db, "t", "MODIFY a BIGINT NOT NULL DEFAULT 0, ADD COLUMN d INT NOT NULL DEFAULT 7")
	// Nice ratio 4: at full speed the copy passed three quarters of the table before gh-ost's
	// first checkpoint (10 s), even crawling with 10-row chunks from two fifths on.
	spec.NiceRatio = 4
	first := startWorker(t, spec)
	began := time.Now()
	atKill, err := killAfterCheckpoint(t, db, first, resumeRows*2/5)
	beforeKill := time.Since(began)
	var re *ResumableError
	require.ErrorAs(t, err, &re, "a worker killed after a checkpoint is resumable")
	require.Positive(t, re.Checkpoint.RowsCopied)
	require.Less(t, atKill, int64(resumeRows*3/4), "killed in the middle of the copy")
	for _, table := range []string{GhostTable("t"), ChangelogTable("t"), CheckpointTable("t")} {
		require.Contains(t, db.Tables(t), table, "kept for the resume")
	}
	firstRes, _ := first.Wait()
	require.NoFileExists(t, spec.socketFile(), "a killed worker's socket is removed")
	require.FileExists(t, spec.LogFile(), "its log stays")

	spec.Resume, spec.InspectorServerID = true, firstRes.InspectorServerID
	resumed := startWorker(t, spec)
	var atResume int64
	require.NoError(t, db.Primary.QueryRow("SELECT COUNT(*) FROM "+quoteIdent(GhostTable("t"))).Scan(&atResume))
	// A reset would bring it near zero; the writer's own deletes, which gh-ost applies to the ghost
	// table too, may take away a few rows between the two counts.
	require.GreaterOrEqual(t, atResume, atKill-atKill/50, "the resume must not reset the ghost table (%d rows at the kill)", atKill)
	began = time.Now()
	res, err := runToCompletion(t, resumed)
	require.NoError(t, err, logTail(spec.LogFile(), 40))
	require.NotNil(t, res.ResumedFrom)
	require.Equal(t, re.Checkpoint.ID, res.ResumedFrom.ID)
	requireGapReplayed(t, spec.LogFile())
	t.Logf("killed after %s at %d rows in the ghost table (checkpoint %d at %d rows); the resumed run finished in %s",
		beforeKill.Round(time.Millisecond), atKill, re.Checkpoint.ID, re.Checkpoint.RowsCopied, time.Since(began).Round(time.Millisecond))

	stopWriter()
	require.Empty(t, writer.errs)
	db.WaitReplica(t)
	requireModel(t, "primary", db.Primary, "t", writer.model)
	requireModel(t, "replica", db.Replica, "t", writer.model)
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "d"))
}

// TestResumeRefused: what blocks a resume is said plainly, and nothing is changed: a different
// change than the run's, the run's tables cleaned up, and (on a pair of its own, whose binlogs it
// purges) binlogs purged past the checkpoint.
func TestResumeRefused(t *testing.T) {
	t.Run("changed DDL", func(t *testing.T) {
		db := sandboxtest.New(t)
		seedResume(t, db, 60_000)
		spec := testSpec(t, db, "t", "ADD COLUMN d INT NOT NULL DEFAULT 7")
		_, err := killAfterCheckpoint(t, db, startWorker(t, spec), 1)
		require.True(t, errors.As(err, new(*ResumableError)), "%v", err)
		other := spec
		other.Alter, other.Resume = "ADD COLUMN e INT NOT NULL DEFAULT 8", true
		_, err = Start(context.Background(), other)
		require.ErrorIs(t, err, ErrNotResumable)
		require.Contains(t, err.Error(), "does not have the shape this change gives")
		require.Contains(t, db.Tables(t), GhostTable("t"), "a refused resume changes nothing")
	})
	t.Run("purged binlogs", func(t *testing.T) {
		env := sandboxtest.Isolated(t, "ghost-purge")
		db := sandboxtest.NewOn(t, env)
		seedResume(t, db, 60_000)
		spec := testSpec(t, db, "t", "ADD COLUMN d INT NOT NULL DEFAULT 7")
		_, err := killAfterCheckpoint(t, db, startWorker(t, spec), 1)
		require.True(t, errors.As(err, new(*ResumableError)), "%v", err)
		// gh-ost read the replica's binlog: purge it past the checkpoint.
		db.Replica.SetMaxOpenConns(1)
		for _, q := range []string{"FLUSH BINARY LOGS", "FLUSH BINARY LOGS"} {
			_, err := db.Replica.Exec(q)
			require.NoError(t, err)
		}
		var file string
		var pos, _x, _y any
		require.NoError(t, db.Replica.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &_x, &_y))
		// A binlog a dump thread still reads is not purged (only a warning): the killed worker's
		// connection may linger for a moment.
		require.Eventually(t, func() bool {
			if _, err := db.Replica.Exec("PURGE BINARY LOGS TO '" + file + "'"); err != nil {
				return false
			}
			var first string
			var size any
			return db.Replica.QueryRow("SHOW BINARY LOGS").Scan(&first, &size) == nil && first == file
		}, 20*time.Second, 200*time.Millisecond, "the replica's binlogs could not be purged")
		spec.Resume = true
		_, err = Start(context.Background(), spec)
		require.ErrorIs(t, err, ErrNotResumable)
		require.Contains(t, err.Error(), "the binlogs were purged past the checkpoint")
		require.Contains(t, err.Error(), "oldest binlog is now "+file)
	})
}
