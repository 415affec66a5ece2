package ghost

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestRevertKeepsLaterWrites: a completed migration is undone by gh-ost's Revert through the same
// gate (a permit) and the same verification: the old shape is back, and every write made on the
// new table since the cut-over (a writer runs throughout) is in the table, on primary and replica.
func TestRevertKeepsLaterWrites(t *testing.T) {
	db := sandboxtest.New(t)
	seedResume(t, db, 20_000)
	before := db.ColumnType(t, "t", "a")
	writer := newModelWriter(db.Primary, "t", 20_000)
	stopWriter := startWriter(writer)
	defer stopWriter()

	spec := testSpec(t, db, "t", "ADD COLUMN d INT NOT NULL DEFAULT 7, MODIFY b VARCHAR(100) NOT NULL")
	res, err := runToCompletion(t, startWorker(t, spec))
	require.NoError(t, err, logTail(spec.LogFile(), 30))
	require.NotEmpty(t, res.OldTable)
	require.Contains(t, db.Tables(t), CheckpointTable("t"), "kept with the old table: the revert point")
	time.Sleep(time.Second) // writes on the new shape, which the revert must carry back

	rev := testSpec(t, db, "t", "")
	rev.Revert, rev.OldTable, rev.InspectorServerID = true, res.OldTable, res.InspectorServerID
	rw := startWorker(t, rev)
	select {
	case <-rw.Ready():
	case <-time.After(60 * time.Second):
		t.Fatalf("revert not at the gate: %s", logTail(rev.LogFile(), 30))
	}
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "d"), "no swap back without the gate")
	require.NoError(t, rw.CutOver(0))
	rres, err := rw.Wait()
	require.NoError(t, err, logTail(rev.LogFile(), 30))
	require.Contains(t, rres.OldTable, "_rev_del", "the migrated table is kept too")
	requireGapReplayed(t, rev.LogFile())
	time.Sleep(300 * time.Millisecond)
	stopWriter()
	require.Empty(t, writer.errs)

	require.Empty(t, db.ColumnType(t, "t", "d"), "the old shape is back")
	require.Equal(t, before, db.ColumnType(t, "t", "a"))
	require.Equal(t, "varchar(64)", db.ColumnType(t, "t", "b"))
	db.WaitReplica(t)
	requireModel(t, "primary", db.Primary, "t", writer.model)
	requireModel(t, "replica", db.Replica, "t", writer.model)
}

// TestRevertRefused: without the checkpoint written after the cut-over, or without the old table,
// a revert is refused with the reason and changes nothing.
func TestRevertRefused(t *testing.T) {
	db := sandboxtest.New(t)
	seedResume(t, db, 2_000)
	spec := testSpec(t, db, "t", "ADD COLUMN d INT NOT NULL DEFAULT 7")
	spec.NoCheckpoint = true
	res, err := runToCompletion(t, startWorker(t, spec))
	require.NoError(t, err)
	rev := testSpec(t, db, "t", "")
	rev.Revert, rev.OldTable = true, res.OldTable
	_, err = Start(context.Background(), rev)
	require.ErrorIs(t, err, ErrNotResumable)
	require.Contains(t, err.Error(), "a revert needs the checkpoint written after the cut-over")
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "d"), "nothing changed")

	rev.OldTable = "_t_20000101000000_del"
	_, err = Start(context.Background(), rev)
	require.ErrorIs(t, err, ErrNotResumable)
	require.Contains(t, err.Error(), "is gone")
}

// requireGapReplayed checks that a resumed or reverted worker replayed its stream gap
// (streamgap.go): what would fail if gh-ost stopped calling the hooks after adding its listener.
func requireGapReplayed(t *testing.T, logFile string) {
	t.Helper()
	b, err := os.ReadFile(logFile)
	require.NoError(t, err)
	require.Regexp(t, `stream gap: replayed \d+ row event\(s\) of t between \S+:\d+ and \S+:\d+`, string(b))
}
