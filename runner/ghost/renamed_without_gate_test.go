package ghost

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestRenamedWithoutGateIsSaidLoudly: gh-ost renames only under a permit, but the table can still
// end up with the new shape without one (here a person swaps the ghost table in by hand while the
// worker waits at the gate). The outcome must say exactly that: ErrCutOverWithoutGate, which is
// also an ErrRenamedBeforeAbort, never a plain failure that claims the original is intact.
func TestRenamedWithoutGateIsSaidLoudly(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_500")
	db.WaitReplica(t)
	w := startWorker(t, testSpec(t, db, "t", "ADD COLUMN c INT NOT NULL DEFAULT 7"))
	select {
	case <-w.Ready():
	case <-time.After(90 * time.Second):
		_ = w.Abort()
		t.Fatalf("not ready: %s", logTail(w.Spec().LogFile(), 30))
	}
	// Waiting at the gate, the table keeps its shape however long it waits.
	time.Sleep(1500 * time.Millisecond)
	require.Empty(t, db.ColumnType(t, "t", "c"), "no cut-over without a permit")

	db.Exec(t, "RENAME TABLE t TO t_by_hand, "+quoteIdent(GhostTable("t"))+" TO t")
	require.NoError(t, w.Abort())
	_, err := w.Wait()
	require.ErrorIs(t, err, ErrCutOverWithoutGate)
	require.ErrorIs(t, err, ErrRenamedBeforeAbort)
	require.Contains(t, err.Error(), "never opened the gate")
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "c"), "the new shape is what the table has")
}
