package ghost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestFullDiskLogIsReported: the worker log on a file system that is full (/dev/full answers
// every write with ENOSPC) does not stop the migration, and is not silent either: the result says
// the log is incomplete and why. The run's socket and flag files are gone once it ended.
func TestFullDiskLogIsReported(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("this test needs /dev/full (Linux): %v", err)
	}
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
	db.WaitReplica(t)
	spec := testSpec(t, db, "t", "ADD COLUMN c INT NOT NULL DEFAULT 7")
	require.NoError(t, os.Symlink("/dev/full", spec.LogFile()))
	w := startWorker(t, spec)
	res, err := runToCompletion(t, w)
	require.NoError(t, err)
	require.Contains(t, res.LogLost, "no space left on device", "the lost log is reported")
	require.Contains(t, w.LogLost(), "later lines are lost")
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "c"), "the migration itself went on")
	for _, f := range []string{spec.socketFile(), spec.throttleFile(), spec.panicFile(), spec.pprofFile()} {
		require.NoFileExists(t, f)
	}
	left, err := filepath.Glob(filepath.Join(spec.WorkDir, "*"))
	require.NoError(t, err)
	require.Equal(t, []string{spec.LogFile()}, left, "only the log stays")
}
