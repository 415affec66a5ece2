package runner_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
)

// TestTriggersCarriedOverUnderWrites: a table with BEFORE and AFTER triggers writing to a log
// table is migrated by gh-ost under writes; the triggers are on the new table afterwards (under
// the suffixed names the plan announced), and the log has exactly one row per committed write
// (counted in the same transactions): nothing fired twice (gh-ost's own writes to the ghost
// table fire none) and nothing was missed across the cut-over.
func TestTriggersCarriedOverUnderWrites(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 20_000, nil)
	f.d.Exec(t,
		"CREATE TABLE trig_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, kind CHAR(2) NOT NULL)",
		"CREATE TABLE writes (id INT PRIMARY KEY, n BIGINT NOT NULL)", "INSERT INTO writes VALUES (1, 0)",
		"CREATE TRIGGER items_bi BEFORE INSERT ON items FOR EACH ROW INSERT INTO trig_log (kind) VALUES ('bi')",
		"CREATE TRIGGER items_au AFTER UPDATE ON items FOR EACH ROW INSERT INTO trig_log (kind) VALUES ('au')",
		"CREATE TRIGGER items_ad AFTER DELETE ON items FOR EACH ROW INSERT INTO trig_log (kind) VALUES ('ad')")
	p := f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0")
	require.Equal(t, planner.StrategyGhost, p.Strategy)
	require.Empty(t, p.Blocking())
	var announced string
	for _, fd := range p.Findings {
		if fd.Code == planner.CodeTriggers {
			announced = fd.Message
		}
	}
	require.Contains(t, announced, "items_bi → items_bi"+planner.TriggerSuffix)

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var werr error
	for i := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 5))
			next := int64(50_000_000 + i*1_000_000)
			for ctx.Err() == nil {
				var q string
				var args []any
				switch rng.IntN(3) {
				case 0:
					next++
					q, args = "INSERT INTO items (id, k, c, pad) VALUES (?, 1, 'c', 'p')", []any{next}
				case 1:
					q, args = "UPDATE items SET k = k + 1 WHERE id = ?", []any{1 + rng.Int64N(20_000)}
				default:
					q, args = "DELETE FROM items WHERE id = ?", []any{1 + rng.Int64N(20_000)}
				}
				if err := countedWrite(ctx, f, q, args...); err != nil && ctx.Err() == nil {
					mu.Lock()
					werr = err
					mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	res, err := f.runner.Run(context.Background(), p, runner.RunOptions{})
	time.Sleep(300 * time.Millisecond) // writes after the cut-over fire the new table's triggers
	stop()
	wg.Wait()
	require.NoError(t, err)
	require.NoError(t, werr)
	require.NotEmpty(t, res.OldTable)

	names := f.d.Triggers(t, "items")
	require.ElementsMatch(t, []string{"items_ad" + planner.TriggerSuffix, "items_au" + planner.TriggerSuffix, "items_bi" + planner.TriggerSuffix}, names)
	var logged, counted int64
	require.NoError(t, f.d.Primary.QueryRow("SELECT COUNT(*) FROM trig_log").Scan(&logged))
	require.NoError(t, f.d.Primary.QueryRow("SELECT n FROM writes").Scan(&counted))
	require.Positive(t, counted)
	require.Equal(t, counted, logged, "one trigger row per committed write: none twice, none missed")
	t.Logf("%d writes during the migration, %d trigger rows", counted, logged)
}

// countedWrite runs q and, when it changed a row, counts it, in one transaction.
func countedWrite(ctx context.Context, f *fixture, q string, args ...any) error {
	tx, err := f.d.Primary.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	r, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		return nil // nothing changed, nothing fired: rolled back
	}
	if _, err := tx.ExecContext(ctx, "UPDATE writes SET n = n + 1"); err != nil {
		return err
	}
	return tx.Commit()
}
