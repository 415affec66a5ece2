package ghost

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestRetryAfterPermitAsksTheGateAgain: a transaction that holds the table's metadata lock makes
// gh-ost's first cut-over attempt fail (lock wait timeout); its permit has run out by the retry,
// so the retry waits at the gate (GateAgain) instead of renaming, and the table keeps its shape
// until a new permit. This is what would break if gh-ost's cut-over retries stopped going through
// logic.RetrySleepFn from retryOperationWithExponentialBackoff (gate.go).
func TestRetryAfterPermitAsksTheGateAgain(t *testing.T) {
	db := sandboxtest.New(t)
	spec, w := readyWorker(t, db)
	// A transaction that read the table holds its metadata lock until it ends.
	commit := holdInTransaction(t, db.Primary, "SELECT * FROM t WHERE id = 1 FOR UPDATE")

	permitUntilRetry(t, w)
	commit()
	time.Sleep(2 * time.Second)
	require.Empty(t, db.ColumnType(t, "t", "c"), "no retry renamed without a new permit")

	require.NoError(t, w.CutOver(0))
	res, err := w.Wait()
	require.NoError(t, err, logTail(spec.LogFile(), 40))
	require.GreaterOrEqual(t, res.CutOverAttempts, 2)
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "c"))
}
