package store

import (
	"os/exec"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

// deadPID returns the pid of a process that has exited (and been reaped).
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	require.False(t, pidAlive(cmd.Process.Pid), "pid %d was reused at once", cmd.Process.Pid)
	return cmd.Process.Pid
}

// ageHeartbeat moves a migration's last heartbeat into the past, as if its owner stopped.
func ageHeartbeat(t *testing.T, d *sandboxtest.DB, s *Store, id string, by time.Duration) {
	t.Helper()
	_, err := d.Primary.ExecContext(t.Context(), "UPDATE "+s.migrations+
		" SET heartbeat_at = UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND, lease_expires_at = lease_expires_at - INTERVAL ? MICROSECOND WHERE id = ?",
		by.Microseconds(), by.Microseconds(), id)
	require.NoError(t, err)
}

func byKind(ls []Leftover, k LeftoverKind) []Leftover {
	var out []Leftover
	for _, l := range ls {
		if l.Kind == k {
			out = append(out, l)
		}
	}
	return out
}

func TestLeftoversStaleOwner(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	remote := openOn(t, d, Options{Owner: Owner{Host: "other-host", PID: 4242}, StaleAfter: 5 * time.Second})
	restarted := openOn(t, d, Options{StaleAfter: 5 * time.Second}) // this host, this pid

	m, err := remote.Create(t.Context(), NewMigration{Schema: d.Name, Table: "users", DDL: "ALTER TABLE users ADD c INT", Strategy: "ghost"})
	require.NoError(t, err)
	require.NoError(t, remote.Transition(t.Context(), m.ID, migration.StatusPlanning, "plan"))
	require.NoError(t, remote.Transition(t.Context(), m.ID, migration.StatusRunning, "copy"))

	ls, err := restarted.Leftovers(t.Context(), d.Name)
	require.NoError(t, err)
	assert.Empty(t, ls, "a fresh heartbeat from another host is a live run")
	var alive *OwnerAliveError
	require.ErrorAs(t, restarted.MarkInterrupted(t.Context(), m.ID, "user"), &alive)
	assert.Equal(t, Owner{Host: "other-host", PID: 4242}, alive.Owner)

	ageHeartbeat(t, d, remote, m.ID, time.Minute)
	ls, err = restarted.Leftovers(t.Context(), d.Name)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	l := ls[0]
	assert.Equal(t, LeftoverStaleMigration, l.Kind)
	assert.Equal(t, m.ID, l.MigrationID)
	assert.Equal(t, migration.StatusRunning, l.Status)
	assert.Equal(t, "users", l.Table)
	assert.GreaterOrEqual(t, l.HeartbeatAge, time.Minute)
	assert.Contains(t, l.Reason, "has not sent a heartbeat")
	assert.Equal(t, "migrate cleanup --migration "+m.ID, l.Command)

	got, err := restarted.Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, migration.StatusRunning, got.Status, "detection alone changes nothing")

	require.NoError(t, restarted.Cleanup(t.Context(), l))
	got, err = restarted.Get(t.Context(), m.ID)
	require.NoError(t, err)
	assert.Equal(t, migration.StatusFailed, got.Status)
	assert.Contains(t, got.Error, "interrupted")
	evs, err := restarted.Events(t.Context(), m.ID, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, EventLeftover, evs[len(evs)-1].Kind)
	assert.ErrorIs(t, restarted.Cleanup(t.Context(), l), ErrLeftoverGone)

	ls, err = restarted.Leftovers(t.Context(), d.Name)
	require.NoError(t, err)
	assert.Empty(t, ls)
	_, err = restarted.Create(t.Context(), NewMigration{Schema: d.Name, Table: "users", DDL: "ALTER TABLE users ADD c INT", Strategy: "ghost"})
	assert.NoError(t, err, "the table is free again")
}

func TestLeftoversDeadPIDOnSameHost(t *testing.T) {
	t.Parallel()
	d := sandboxtest.New(t)
	pid := deadPID(t)
	gone := openOn(t, d, Options{Owner: Owner{Host: CurrentOwner().Host, PID: pid}})
	m, err := gone.Create(t.Context(), NewMigration{Schema: d.Name, Table: "users", DDL: "ALTER TABLE users ADD c INT", Strategy: "ghost"})
	require.NoError(t, err)

	// The heartbeat is fresh, but the owner ran here and its process is gone: no need to wait.
	s := openOn(t, d, Options{})
	ls, err := s.Leftovers(t.Context())
	require.NoError(t, err)
	stale := byKind(ls, LeftoverStaleMigration)
	require.Len(t, stale, 1)
	assert.Equal(t, m.ID, stale[0].MigrationID)
	assert.Contains(t, stale[0].Reason, "no longer running")
	require.NoError(t, s.MarkInterrupted(t.Context(), m.ID, "controller died"))

	// A live process on this host with a fresh heartbeat is not a leftover.
	live, err := s.Create(t.Context(), NewMigration{Schema: d.Name, Table: "orders", DDL: "ALTER TABLE orders ADD c INT", Strategy: "ghost"})
	require.NoError(t, err)
	ls, err = s.Leftovers(t.Context(), d.Name)
	require.NoError(t, err)
	assert.Empty(t, ls)
	var alive *OwnerAliveError
	assert.ErrorAs(t, s.MarkInterrupted(t.Context(), live.ID, "no"), &alive)
}

func TestLeftoversOrphanTables(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{StaleAfter: 5 * time.Second})
	for _, tbl := range []string{"users", "_users_gho", "_users_ghc", "orders", "_orders_del",
		"_gone_del", "_gone2_20260102030405_del", "live", "_live_gho", "_nothing_gho", "x_gho", "crashed", "_crashed_gho"} {
		d.Exec(t, "CREATE TABLE "+qualify(d.Name, tbl)+" (id INT PRIMARY KEY)")
	}
	d.Exec(t, "INSERT INTO "+qualify(d.Name, "users")+" VALUES (1), (2)")
	_, err := s.Create(t.Context(), NewMigration{Schema: d.Name, Table: "live", DDL: "ALTER TABLE live ADD c INT", Strategy: "ghost"})
	require.NoError(t, err)
	remote := openOn(t, d, Options{Owner: Owner{Host: "other-host", PID: 1}})
	crashed, err := remote.Create(t.Context(), NewMigration{Schema: d.Name, Table: "crashed", DDL: "ALTER TABLE crashed ADD c INT", Strategy: "ghost"})
	require.NoError(t, err)
	ageHeartbeat(t, d, s, crashed.ID, time.Hour)

	ls, err := s.Leftovers(t.Context(), d.Name)
	require.NoError(t, err)
	orphans := map[string]Leftover{}
	for _, l := range byKind(ls, LeftoverOrphanTable) {
		orphans[l.OrphanTable] = l
	}
	require.Len(t, byKind(ls, LeftoverStaleMigration), 1)
	assert.ElementsMatch(t, []string{"_users_gho", "_users_ghc", "_gone_del",
		"_gone2_20260102030405_del", "_nothing_gho", "_crashed_gho"}, keys(orphans), "_live_gho belongs to a live run; x_gho is not gh-ost's")
	kept := byKind(ls, LeftoverKeptTable)
	require.Len(t, kept, 1, "an old table whose original exists is kept, not an orphan")
	assert.Equal(t, "_orders_del", kept[0].OrphanTable)

	q := func(tbl string) string { return qualify(d.Name, tbl) }
	assert.Equal(t, "users", orphans["_users_gho"].Table)
	assert.Equal(t, "DROP TABLE "+q("_users_gho"), orphans["_users_gho"].SQL)
	assert.Equal(t, "migrate cleanup --schema "+d.Name+" --table _users_gho", orphans["_users_gho"].Command)
	assert.Equal(t, "RENAME TABLE "+q("_gone_del")+" TO "+q("gone"), orphans["_gone_del"].SQL, "the only copy is renamed back, never dropped")
	assert.Equal(t, "RENAME TABLE "+q("_gone2_20260102030405_del")+" TO "+q("gone2"), orphans["_gone2_20260102030405_del"].SQL)
	assert.Empty(t, orphans["_nothing_gho"].SQL, "no remedy is guessed when the original is missing")
	assert.Equal(t, crashed.ID, orphans["_crashed_gho"].MigrationID)
	assert.Contains(t, orphans["_crashed_gho"].Reason, "interrupted migration "+crashed.ID)
	for _, l := range orphans {
		assert.NotContains(t, l.SQL, "DROP TABLE "+q(l.Table), "never the original")
	}

	require.NoError(t, s.Cleanup(t.Context(), orphans["_users_gho"]))
	require.NoError(t, s.Cleanup(t.Context(), orphans["_gone_del"]))
	assert.Error(t, s.Cleanup(t.Context(), orphans["_nothing_gho"]))
	assert.ErrorIs(t, s.Cleanup(t.Context(), orphans["_users_gho"]), ErrLeftoverGone)
	forged := orphans["_users_ghc"]
	forged.SQL = "DROP TABLE " + q("users")
	require.NoError(t, s.Cleanup(t.Context(), forged), "cleanup acts on its own finding, not the passed SQL")

	var n int
	require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*) FROM "+q("users")).Scan(&n))
	assert.Equal(t, 2, n, "the original table is untouched")
	for tbl, want := range map[string]bool{"_users_gho": false, "_users_ghc": false, "gone": true, "_gone_del": false, "_nothing_gho": true} {
		exists, err := s.tableExists(t.Context(), d.Name, tbl)
		require.NoError(t, err)
		assert.Equal(t, want, exists, tbl)
	}
}

// TestLeftoversKeptTables: the old tables of completed migrations are listed as kept (with the
// migration, when they were kept and their size), never as orphans, and are dropped one by one by
// their own name; cleaning a leftover of the same table does not touch them (issue 13).
func TestLeftoversKeptTables(t *testing.T) {
	t.Parallel()
	s, d := newStore(t, Options{})
	ctx := t.Context()
	m, err := s.Create(ctx, NewMigration{Schema: d.Name, Table: "orders", DDL: "ALTER TABLE orders MODIFY id BIGINT", Strategy: "ghost"})
	require.NoError(t, err)
	for _, st := range []migration.Status{migration.StatusPlanning, migration.StatusRunning, migration.StatusReady,
		migration.StatusCuttingOver, migration.StatusComplete} {
		require.NoError(t, s.Transition(ctx, m.ID, st, string(st)))
	}
	m, err = s.Get(ctx, m.ID)
	require.NoError(t, err)
	// gh-ost names the old table after its start, in local time.
	stamped := "_orders_" + m.StartedAt.Local().Format("20060102150405") + "_del"
	older := "_orders_20200102030405_del" // an earlier migration the store does not know
	reverted := "_orders_20200102030405_rev_del"
	// A migration whose cut-over recorded its old table (the runner's engine event): matched by
	// name whatever the time in it says.
	rec, err := s.Create(ctx, NewMigration{Schema: d.Name, Table: "orders", DDL: "ALTER TABLE orders ADD x INT", Strategy: "ghost"})
	require.NoError(t, err)
	for _, st := range []migration.Status{migration.StatusPlanning, migration.StatusRunning, migration.StatusComplete} {
		require.NoError(t, s.Transition(ctx, rec.ID, st, string(st)))
	}
	recorded := "_orders_20110101000000_del"
	require.NoError(t, s.AddEvent(ctx, rec.ID, EventEngine, "cut over", map[string]string{"old_table": recorded}))
	for _, tbl := range []string{"orders", stamped, older, reverted, recorded, "_orders_ghc", "_gone3_20200102030405_rev_del"} {
		d.Exec(t, "CREATE TABLE "+qualify(d.Name, tbl)+" (id INT PRIMARY KEY, pad CHAR(200))")
	}
	d.Exec(t, "INSERT INTO "+qualify(d.Name, stamped)+" SELECT seq, 'x' FROM seq_1_to_2000",
		"ANALYZE TABLE "+qualify(d.Name, stamped))

	ls, err := s.Leftovers(ctx, d.Name)
	require.NoError(t, err)
	kept := map[string]Leftover{}
	for _, l := range byKind(ls, LeftoverKeptTable) {
		kept[l.OrphanTable] = l
		assert.True(t, l.Kept())
	}
	require.ElementsMatch(t, []string{stamped, older, reverted, recorded}, keys(kept))
	orphans := byKind(ls, LeftoverOrphanTable)
	require.Len(t, orphans, 2)
	sort.Slice(orphans, func(i, j int) bool { return orphans[i].OrphanTable < orphans[j].OrphanTable })
	assert.Equal(t, "_orders_ghc", orphans[1].OrphanTable)
	assert.False(t, orphans[1].Kept())
	assert.Equal(t, "RENAME TABLE "+qualify(d.Name, "_gone3_20200102030405_rev_del")+" TO "+qualify(d.Name, "gone3"), orphans[0].SQL,
		"a revert's old table whose original is gone is renamed back to the original's name")
	assert.Equal(t, rec.ID, kept[recorded].MigrationID, "the recorded name wins over the time in it")
	assert.Equal(t, "orders", kept[reverted].Table)
	assert.Contains(t, kept[reverted].Reason, "kept after a revert")
	orphans = orphans[1:]

	k := kept[stamped]
	assert.Equal(t, m.ID, k.MigrationID)
	assert.Equal(t, "orders", k.Table)
	assert.WithinDuration(t, m.FinishedAt, k.KeptSince, time.Millisecond, "kept since the migration finished")
	assert.Greater(t, k.Rows, int64(1000))
	assert.Greater(t, k.Bytes, int64(200_000))
	assert.Contains(t, k.Reason, "kept after the cut-over of migration "+m.ID)
	assert.Equal(t, "migrate cleanup --schema "+d.Name+" --table "+stamped, k.Command)
	o := kept[older]
	assert.Empty(t, o.MigrationID, "the store has no migration that started then")
	assert.Equal(t, time.Date(2020, 1, 2, 3, 4, 5, 0, time.Local), o.KeptSince, "the time in its name")

	require.NoError(t, s.Cleanup(ctx, orphans[0]))
	for tbl, want := range map[string]bool{"_orders_ghc": false, stamped: true, older: true, "orders": true} {
		exists, err := s.tableExists(ctx, d.Name, tbl)
		require.NoError(t, err)
		assert.Equal(t, want, exists, tbl)
	}
	require.NoError(t, s.Cleanup(ctx, o))
	for tbl, want := range map[string]bool{stamped: true, older: false} {
		exists, err := s.tableExists(ctx, d.Name, tbl)
		require.NoError(t, err)
		assert.Equal(t, want, exists, tbl)
	}
}

func keys(m map[string]Leftover) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
