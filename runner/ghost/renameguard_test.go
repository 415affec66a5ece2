package ghost

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// TestLastBefore: the probe is the RENAME's last name that sorts before the table.
func TestLastBefore(t *testing.T) {
	got, ok := lastBefore("t", "_t_del", "_t_gho")
	require.True(t, ok)
	require.Equal(t, "_t_gho", got)
	_, ok = lastBefore("A", "_A_del", "_A_gho") // 'A' < '_': the RENAME queues on A first
	require.False(t, ok)
	got, ok = lastBefore("t", "_t_20261201_del", "_t_gho")
	require.True(t, ok)
	require.Equal(t, "_t_gho", got)
}

// TestRenameGuard drives the guard against the server with gh-ost's own cut-over statements,
// issued by hand on separate sessions so that each moment can be held: the lock session, the
// RENAME that blocks on it, and the DROP of the magic table that lets the RENAME reach the
// original table.
func TestRenameGuard(t *testing.T) {
	d := sandboxtest.New(t)
	spec := testSpec(t, d, "t", "ADD COLUMN c INT")
	gdb, err := openGuardDB(spec.Primary)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gdb.Close() })
	mc := base.NewMigrationContext()
	mc.DatabaseName, mc.OriginalTableName = d.Name, "t"
	g := &renameGuard{}
	g.attach(gdb, mc)

	setup := func(t *testing.T) (lock *sql.Conn, renamed chan error) {
		d.Exec(t, "DROP TABLE IF EXISTS t, _t_gho, _t_del",
			"CREATE TABLE t (id INT PRIMARY KEY)", "CREATE TABLE _t_gho LIKE t", "CREATE TABLE _t_del (id INT)")
		ctx := context.Background()
		lock, err := d.Primary.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = lock.ExecContext(ctx, "UNLOCK TABLES"); _ = lock.Close() })
		_, err = lock.ExecContext(ctx, "LOCK TABLES t WRITE, _t_del WRITE")
		require.NoError(t, err)
		renamed = make(chan error, 1)
		go func() {
			_, err := d.Primary.Exec("rename /* gh-ost */ table `" + d.Name + "`.`t` to `" + d.Name + "`.`_t_del`, `" +
				d.Name + "`.`_t_gho` to `" + d.Name + "`.`t`")
			renamed <- err
		}()
		require.Eventually(t, func() bool {
			id, err := g.findRename(ctx, d.Name, "t", "_t_gho")
			return err == nil && id != 0
		}, 10*time.Second, 5*time.Millisecond, "the RENAME shows in the processlist")
		return lock, renamed
	}

	t.Run("no rename: unlock at once", func(t *testing.T) {
		before := g.stats()
		g.beforeUnlock()
		require.Equal(t, before.NoRename+1, g.stats().NoRename)
	})

	t.Run("magic table dropped: the RENAME waits on t, unlock", func(t *testing.T) {
		lock, renamed := setup(t)
		ctx := context.Background()
		_, err := lock.ExecContext(ctx, "DROP TABLE _t_del")
		require.NoError(t, err)
		before := g.stats()
		g.beforeUnlock()
		require.Equal(t, before.Held+1, g.stats().Held, "%+v", g.stats())
		_, err = lock.ExecContext(ctx, "UNLOCK TABLES")
		require.NoError(t, err)
		require.NoError(t, <-renamed, "the RENAME completes once the lock is gone")
	})

	t.Run("RENAME queued behind a reader of the ghost table: not first in line, killed", func(t *testing.T) {
		ctx := context.Background()
		reader, err := d.Primary.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = reader.Close() })
		lock, renamed := setup(t)
		_, err = reader.ExecContext(ctx, "BEGIN")
		require.NoError(t, err)
		_, err = reader.ExecContext(ctx, "SELECT * FROM _t_gho") // holds _t_gho's shared lock until COMMIT
		require.NoError(t, err)
		_, err = lock.ExecContext(ctx, "DROP TABLE _t_del")
		require.NoError(t, err)
		before := g.stats()
		g.beforeUnlock() // the RENAME has _t_del but waits for _t_gho: a DML on t would go first
		require.Equal(t, before.Killed+1, g.stats().Killed, "%+v", g.stats())
		require.Error(t, <-renamed)
		_, err = reader.ExecContext(ctx, "COMMIT")
		require.NoError(t, err)
	})

	t.Run("RENAME never reaches t: it is killed under the lock", func(t *testing.T) {
		lock, renamed := setup(t)
		before := g.stats()
		start := time.Now()
		g.beforeUnlock() // the magic table still exists and is locked: the RENAME is stuck before t
		require.Equal(t, before.Killed+1, g.stats().Killed, "%+v", g.stats())
		require.GreaterOrEqual(t, time.Since(start), guardBound)
		err := <-renamed
		var me *mysql.MySQLError
		require.True(t, errors.As(err, &me), "the RENAME fails: %v", err)
		_, err = lock.ExecContext(context.Background(), "UNLOCK TABLES")
		require.NoError(t, err)
		var n int
		require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '_t_gho'", d.Name).Scan(&n))
		require.Equal(t, 1, n, "nothing was renamed")
	})
}

// TestGuardStopsRenameQueuedBehindGhostReader, with real gh-ost: a transaction that read the ghost
// table holds its shared metadata lock, so at the cut-over the RENAME gets the magic table's name
// but waits for the ghost table, not yet in line for the original one. Unlocking then would let
// the writers waiting on the original run against the table being renamed away. The attempt must
// fail with nothing renamed (the guard kills the RENAME, or finds it timed out), ask the gate
// again, and complete once the reader is gone.
func TestGuardStopsRenameQueuedBehindGhostReader(t *testing.T) {
	db := sandboxtest.New(t)
	spec, w := readyWorker(t, db)
	commit := holdInTransaction(t, db.Primary, "SELECT COUNT(*) FROM "+qualified(db.Name, GhostTable("t")))

	permitUntilRetry(t, w)
	require.Empty(t, db.ColumnType(t, "t", "c"), "nothing was renamed while the RENAME was not first in line")
	commit()

	require.NoError(t, w.CutOver(0))
	res, err := w.Wait()
	require.NoError(t, err, logTail(spec.LogFile(), 40))
	t.Logf("guard: %+v over %d attempt(s)", res.Guard, res.CutOverAttempts)
	require.Positive(t, res.Guard.Killed+res.Guard.NoRename, "the guard stopped (or saw gone) the RENAME of the first attempt: %+v", res.Guard)
	require.Positive(t, res.Guard.Held, "the last attempt's unlock waited for the RENAME: %+v", res.Guard)
	require.Equal(t, "int(11)", db.ColumnType(t, "t", "c"))
	require.Empty(t, res.CutOverRepairs)
}
