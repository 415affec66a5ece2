package ghost

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestAwaitApplied: at the gate, AwaitApplied returns once gh-ost has applied a write made on the
// primary to the ghost table (read through the replica, so the position is translated), and not
// while gh-ost is throttled: then it says how far the applier got, wrapping ErrNotApplied. Before
// the gate the worker refuses to answer.
func TestAwaitApplied(t *testing.T) {
	for _, onPrimary := range []bool{false, true} {
		name := "through the replica"
		if onPrimary {
			name = "on the primary"
		}
		t.Run(name, func(t *testing.T) {
			db := sandboxtest.New(t)
			db.Exec(t,
				"CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NOT NULL)",
				"INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
			db.WaitReplica(t)
			spec := testSpec(t, db, "t", "ADD COLUMN extra INT NULL")
			spec.OnPrimary = onPrimary
			w := startWorker(t, spec)
			select {
			case <-w.Ready():
			case <-w.Done():
				_, err := w.Wait()
				t.Fatalf("worker ended before the gate: %v", err)
			case <-time.After(90 * time.Second):
				t.Fatalf("worker not ready: %s", logTail(w.Spec().LogFile(), 30))
			}
			ctx := context.Background()
			write := func(v int) (string, uint64) {
				_, err := db.Primary.Exec("UPDATE t SET v = ? WHERE id = 7", v)
				require.NoError(t, err)
				var file string
				var pos uint64
				var x, y any
				require.NoError(t, db.Primary.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x, &y))
				return file, pos
			}
			ghostValue := func() int {
				var v int
				require.NoError(t, db.Primary.QueryRow("SELECT v FROM "+GhostTable("t")+" WHERE id = 7").Scan(&v))
				return v
			}

			// Applied: the ghost table has the write when AwaitApplied returns.
			for i := 1; i <= 20; i++ {
				file, pos := write(-i)
				actx, cancel := context.WithTimeout(ctx, 5*time.Second)
				require.NoError(t, w.AwaitApplied(actx, file, pos))
				cancel()
				require.Equal(t, -i, ghostValue(), "write %d must be in the ghost table once applied", i)
			}

			// Throttled: gh-ost applies nothing, so the wait ends with where the applier is.
			require.NoError(t, w.Throttle("test"))
			time.Sleep(time.Second) // gh-ost obeys within ~350 ms plus the batch in flight
			file, pos := write(1234)
			actx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			err := w.AwaitApplied(actx, file, pos)
			cancel()
			require.ErrorIs(t, err, ErrNotApplied)
			if onPrimary {
				assert.Contains(t, err.Error(), "not yet through "+file)
			}
			assert.NotEqual(t, 1234, ghostValue(), "throttled, gh-ost must not have applied the write")
			require.NoError(t, w.Unthrottle())
			actx, cancel = context.WithTimeout(ctx, 10*time.Second)
			require.NoError(t, w.AwaitApplied(actx, file, pos))
			cancel()
			assert.Equal(t, 1234, ghostValue())

			res, err := func() (Result, error) { require.NoError(t, w.CutOver(0)); return w.Wait() }()
			require.NoError(t, err, logTail(w.Spec().LogFile(), 30))
			assert.NotEmpty(t, res.OldTable)
			requireNoRace(t, w)
		})
	}
}

// TestAwaitAppliedBeforeTheGate: the applier's position is read only once gh-ost waits at the
// gate; before, the worker refuses with a reason.
func TestAwaitAppliedBeforeTheGate(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NOT NULL)", "INSERT INTO t SELECT seq, seq FROM seq_1_to_50000")
	db.WaitReplica(t)
	spec := testSpec(t, db, "t", "ADD COLUMN extra INT NULL")
	spec.OnPrimary = true
	spec.ChunkSize = 100 // a long copy: the worker is still copying when asked
	w := startWorker(t, spec)
	require.NoError(t, w.Throttle("hold the copy"))
	var file string
	var pos uint64
	var x, y any
	require.NoError(t, db.Primary.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &x, &y))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := w.AwaitApplied(ctx, file, pos)
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrNotApplied)
	assert.Contains(t, err.Error(), "has not reached the cut-over gate")
	require.NoError(t, w.Abort())
}
