package ghost

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// raceCutOver writes, on the sandbox primary, the binlog that gh-ost's cut-over race leaves: the
// ghost table (the original's rows with the alter applied), the changelog table, gh-ost's marker
// (after earlier, a previous attempt's marker and a write gh-ost applied), then lost() on the
// ORIGINAL table, then gh-ost's rename. On MariaDB the DML that wins the metadata lock after UNLOCK
// TABLES runs exactly there: after the last marker, before the rename, on the old table. Running
// the statements in that order is the race without the luck. It returns the audit mark taken
// before and the old table's name.
func raceCutOver(t *testing.T, db *sandboxtest.DB, table, alter string, applied, lost func()) (auditMark, string) {
	t.Helper()
	ctx := context.Background()
	mark, err := markBinlog(ctx, db.Primary, db.Name, table)
	require.NoError(t, err)
	gho, ghc, old := GhostTable(table), ChangelogTable(table), ghostTableName(table, "20240102030405_del")
	db.Exec(t, "CREATE TABLE "+quoteIdent(gho)+" LIKE "+quoteIdent(table), "ALTER TABLE "+quoteIdent(gho)+" "+alter)
	ghoCols, err := tableColumns(ctx, db.Primary, db.Name, gho)
	require.NoError(t, err)
	var names []string
	for _, c := range ghoCols {
		for _, oc := range mark.cols {
			if oc.name == c.name {
				names = append(names, quoteIdent(c.name))
			}
		}
	}
	db.Exec(t,
		"INSERT INTO "+quoteIdent(gho)+" ("+strings.Join(names, ", ")+") SELECT "+strings.Join(names, ", ")+" FROM "+quoteIdent(table),
		// gh-ost's changelog table and its state write (logic/applier.go CreateChangelogTable, WriteChangelog).
		"CREATE TABLE "+quoteIdent(ghc)+` (id BIGINT AUTO_INCREMENT, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
			hint VARCHAR(64) CHARSET ascii NOT NULL, value VARCHAR(4096) CHARSET ascii NOT NULL, PRIMARY KEY (id), UNIQUE KEY hint_uidx (hint))`)
	marker := "INSERT INTO " + quoteIdent(ghc) + " (id, hint, value) VALUES (2, 'state', ?) ON DUPLICATE KEY UPDATE value = VALUES(value)"
	_, err = db.Primary.Exec(marker, markerState+":1")
	require.NoError(t, err)
	if applied != nil {
		applied() // between a failed attempt's marker and the last one: gh-ost applied these
	}
	_, err = db.Primary.Exec(marker, markerState+":2")
	require.NoError(t, err)
	lost()
	db.Exec(t, "rename /* gh-ost */ table "+qualified(db.Name, table)+" to "+qualified(db.Name, old)+", "+
		qualified(db.Name, gho)+" to "+qualified(db.Name, table))
	return mark, old
}

func testTarget(db *sandboxtest.DB, table string) auditTarget {
	return auditTarget{primary: Endpoint(db.Env.Primary), serverID: auditServerID(Spec{MigrationID: db.Name}),
		schema: db.Name, table: table}
}

func checksum(t *testing.T, db *sandboxtest.DB, table string) int64 {
	t.Helper()
	var name string
	var sum int64
	require.NoError(t, db.Primary.QueryRow("CHECKSUM TABLE "+quoteIdent(table)).Scan(&name, &sum))
	return sum
}

type outcomeRow struct {
	op      LostWriteOp
	key     string
	outcome RepairOutcome
}

func outcomes(ws []LostWrite) []outcomeRow {
	out := make([]outcomeRow, len(ws))
	for i, w := range ws {
		out[i] = outcomeRow{w.Op, w.Key[0].Value, w.Outcome}
	}
	return out
}

// TestAuditRepairsLostWrites: deletes, updates (one event with two rows) and inserts lost in the
// race are replayed on the new table; several lost writes to one row are applied as one; a row
// a later write on the new table deleted needs nothing (its history no longer matters); a row a
// later write changed from a state without the lost write is a real conflict (a lost update that
// no replay can merge), as is a row that differs from what gh-ost had applied for a reason the
// binlog does not show: left alone and named in a *LostWritesError. The old table is never
// touched; writes gh-ost applied before its last marker are not reported.
func TestAuditRepairsLostWrites(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL, b VARCHAR(20) NOT NULL)",
		"INSERT INTO t SELECT seq, seq, CONCAT('r', seq) FROM seq_1_to_10")
	mark, old := raceCutOver(t, db, "t", "ADD COLUMN c INT NOT NULL DEFAULT 7, MODIFY a BIGINT NOT NULL",
		func() { db.Exec(t, "UPDATE t SET a = 1001 WHERE id = 1", "UPDATE _t_gho SET a = 1001 WHERE id = 1") },
		func() {
			db.Exec(t, "DELETE FROM t WHERE id = 3", "UPDATE t SET a = 40 WHERE id = 4",
				"INSERT INTO t VALUES (11, 110, 'new')", "UPDATE t SET a = 50 WHERE id = 5", "DELETE FROM t WHERE id = 6",
				"UPDATE t SET b = CONCAT(b, '!') WHERE id IN (7, 8)",
				"UPDATE t SET a = 90 WHERE id = 9", "UPDATE t SET a = 91 WHERE id = 9", "DELETE FROM t WHERE id = 9",
				"INSERT INTO t VALUES (12, 120, 'gone')", "DELETE FROM t WHERE id = 12",
				"UPDATE t SET a = 100 WHERE id = 10")
		})
	// Applications write the new table after the rename: row 5 is updated from its stale state
	// (a lost update: a conflict), row 6 deleted again (nothing to do). Row 10 differs from what gh-ost applied without any binlog trace (a
	// session with sql_log_bin=0): the lost update cannot be placed, a real conflict.
	db.Exec(t, "UPDATE t SET a = 55 WHERE id = 5", "DELETE FROM t WHERE id = 6")
	conn, err := db.Primary.Conn(context.Background())
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), "SET SESSION sql_log_bin = 0")
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), "UPDATE t SET b = 'elsewhere' WHERE id = 10")
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	oldSum := checksum(t, db, old)

	writes, err := auditCutOver(context.Background(), db.Primary, testTarget(db, "t"), mark)
	var lwe *LostWritesError
	require.ErrorAs(t, err, &lwe)
	require.Equal(t, []outcomeRow{
		{OpDelete, "3", OutcomeRepaired}, {OpUpdate, "4", OutcomeRepaired}, {OpInsert, "11", OutcomeRepaired},
		{OpUpdate, "5", OutcomeConflict}, {OpDelete, "6", OutcomeAlreadyApplied},
		{OpUpdate, "7", OutcomeRepaired}, {OpUpdate, "8", OutcomeRepaired},
		{OpUpdate, "9", OutcomeRepaired}, {OpUpdate, "9", OutcomeRepaired}, {OpDelete, "9", OutcomeRepaired},
		{OpInsert, "12", OutcomeAlreadyApplied}, {OpDelete, "12", OutcomeAlreadyApplied},
		{OpUpdate, "10", OutcomeConflict},
	}, outcomes(writes))
	require.Equal(t, []outcomeRow{{OpUpdate, "5", OutcomeConflict}, {OpUpdate, "10", OutcomeConflict}}, outcomes(lwe.Writes))
	require.Contains(t, lwe.Error(), "update "+db.Name+".t (id=10)")
	require.Contains(t, lwe.Writes[0].Reason, "written again on the new table after the rename")
	require.Contains(t, lwe.Writes[1].Reason, "changed since")
	require.Equal(t, db.Name, writes[0].Schema)
	require.Regexp(t, `^.+\.\d+:\d+$`, writes[0].Binlog)

	type row struct {
		a    int64
		b    string
		c    int
		seen bool
	}
	got := map[int]row{}
	rows, err := db.Primary.Query("SELECT id, a, b, c FROM t")
	require.NoError(t, err)
	for rows.Next() {
		var id int
		var r row
		require.NoError(t, rows.Scan(&id, &r.a, &r.b, &r.c))
		r.seen = true
		got[id] = r
	}
	require.NoError(t, rows.Err())
	require.Equal(t, row{1001, "r1", 7, true}, got[1])
	require.False(t, got[3].seen, "lost delete repaired")
	require.Equal(t, row{40, "r4", 7, true}, got[4])
	require.Equal(t, row{110, "new", 7, true}, got[11])
	require.Equal(t, row{55, "r5", 7, true}, got[5], "a conflicting row is left as the later write made it")
	require.False(t, got[6].seen, "the later delete is the final state")
	require.Equal(t, row{7, "r7!", 7, true}, got[7])
	require.Equal(t, row{8, "r8!", 7, true}, got[8])
	require.False(t, got[9].seen, "three lost writes to one row, applied as one")
	require.False(t, got[12].seen, "inserted and deleted again: never there")
	require.Equal(t, row{10, "elsewhere", 7, true}, got[10], "a conflicting row is not overwritten")
	require.Len(t, got, 8)
	require.Equal(t, oldSum, checksum(t, db, old), "the old table must not be touched")

	again, err := auditCutOver(context.Background(), db.Primary, testTarget(db, "t"), mark)
	require.ErrorAs(t, err, &lwe)
	require.Equal(t, []outcomeRow{
		// The first audit's repairs are writes on the new table after the rename that left each row
		// in the lost writes' final state.
		{OpDelete, "3", OutcomeAlreadyApplied}, {OpUpdate, "4", OutcomeAlreadyApplied}, {OpInsert, "11", OutcomeAlreadyApplied},
		{OpUpdate, "5", OutcomeConflict}, {OpDelete, "6", OutcomeAlreadyApplied},
		{OpUpdate, "7", OutcomeAlreadyApplied}, {OpUpdate, "8", OutcomeAlreadyApplied},
		{OpUpdate, "9", OutcomeAlreadyApplied}, {OpUpdate, "9", OutcomeAlreadyApplied}, {OpDelete, "9", OutcomeAlreadyApplied},
		{OpInsert, "12", OutcomeAlreadyApplied}, {OpDelete, "12", OutcomeAlreadyApplied},
		{OpUpdate, "10", OutcomeConflict},
	}, outcomes(again))
}

// TestAuditManyTypesCompositeKey replays lost inserts, updates, primary key changes, deletes and
// multi-row events over a wide set of types on a composite key, across an alter that widens a
// column and adds one; afterwards the new table equals the reference table (written in the same
// transactions as the lost writes), value for value.
func TestAuditManyTypesCompositeKey(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, fmt.Sprintf(typesTable, "ty"), "CREATE TABLE ty_ref LIKE ty")
	// The application's session is not in UTC: TIMESTAMPs must still be replayed to the instant.
	app := sandboxtest.Open(t, db.Env.Primary.DSN(db.Name, "time_zone=%27%2B05%3A30%27"))
	w := &typesWriter{db: app, rng: rand.New(rand.NewPCG(7, 8))}
	for range 150 {
		require.NoError(t, w.step())
	}
	mark, _ := raceCutOver(t, db, "ty", "MODIFY i BIGINT, ADD COLUMN extra INT NULL", nil, func() {
		for range 150 {
			require.NoError(t, w.step())
		}
		require.NoError(t, w.tx("UPDATE %s SET ti = 1 WHERE k1 < 500"))
		require.NoError(t, w.tx("DELETE FROM %s WHERE k1 >= 900"))
	})
	require.True(t, detects(func(tt testingT) { requireSameAsReference(tt, "before the repair", db.Primary) }),
		"the lost writes must be missing from the new table before the audit")
	writes, err := auditCutOver(context.Background(), db.Primary, testTarget(db, "ty"), mark)
	require.NoError(t, err)
	ops := map[LostWriteOp]int{}
	for _, lw := range writes {
		require.Equal(t, OutcomeRepaired, lw.Outcome, lw.String())
		ops[lw.Op]++
	}
	t.Logf("lost writes repaired: %v", ops)
	require.Positive(t, ops[OpInsert])
	require.Positive(t, ops[OpUpdate])
	require.Positive(t, ops[OpDelete])
	requireSameAsReference(t, "repaired", db.Primary)
}

// TestAuditUnsupportedTypeIsConflict: a type the repair does not know is reported, not guessed; a
// row whose unknown column the alter dropped is repaired.
func TestAuditUnsupportedTypeIsConflict(t *testing.T) {
	for _, tc := range []struct {
		alter string
		want  RepairOutcome
	}{
		{"ADD COLUMN c INT", OutcomeConflict},
		{"DROP COLUMN p", OutcomeRepaired},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			db := sandboxtest.New(t)
			db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY, a INT, p POINT NULL)", "INSERT INTO t VALUES (1, 1, POINT(1, 2))")
			mark, _ := raceCutOver(t, db, "t", tc.alter, nil, func() { db.Exec(t, "UPDATE t SET a = 2 WHERE id = 1") })
			writes, err := auditCutOver(context.Background(), db.Primary, testTarget(db, "t"), mark)
			require.Len(t, writes, 1)
			require.Equal(t, tc.want, writes[0].Outcome, writes[0].String())
			var a int
			require.NoError(t, db.Primary.QueryRow("SELECT a FROM t WHERE id = 1").Scan(&a))
			if tc.want == OutcomeConflict {
				require.ErrorAs(t, err, new(*LostWritesError))
				require.Contains(t, writes[0].Reason, "not supported")
				require.Equal(t, 1, a, "not repaired")
				return
			}
			require.NoError(t, err)
			require.Equal(t, 2, a)
		})
	}
}

// TestRepairSessionIsUTC: TIMESTAMPs are decoded from the binlog as UTC strings and must be
// compared and written in a UTC session, whatever the server's zone.
func TestRepairSessionIsUTC(t *testing.T) {
	db := sandboxtest.New(t)
	rdb, err := openRepairDB(testTarget(db, "t"))
	require.NoError(t, err)
	defer rdb.Close()
	var tz string
	require.NoError(t, rdb.QueryRow("SELECT @@session.time_zone").Scan(&tz))
	require.Equal(t, "+00:00", tz)
}

// TestAuditWithoutCutOverFails: a binlog without gh-ost's marker and rename cannot be audited;
// that is an error, never an empty list.
func TestAuditWithoutCutOverFails(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	mark, err := markBinlog(context.Background(), db.Primary, db.Name, "t")
	require.NoError(t, err)
	db.Exec(t, "INSERT INTO t VALUES (1)")
	_, err = auditCutOver(context.Background(), db.Primary, testTarget(db, "t"), mark)
	require.ErrorIs(t, err, ErrAuditFailed)
	require.Contains(t, err.Error(), "marker")
}

// TestWorkerCutOverAuditFindsNothing: a real gh-ost cut-over without concurrent writes has no lost
// writes; the audit ran (it fails the run when it cannot find gh-ost's marker and rename) from the
// position advanced at Ready.
func TestWorkerCutOverAuditFindsNothing(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, a INT NOT NULL)",
		"INSERT INTO t SELECT seq, seq FROM seq_1_to_2000")
	db.WaitReplica(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before, err := masterPosition(ctx, db.Primary)
	require.NoError(t, err)
	w := startWorker(t, testSpec(t, db, "t", "ADD COLUMN c INT NOT NULL DEFAULT 7"))
	res, err := runToCompletion(t, w)
	require.NoError(t, err, logTail(w.Spec().LogFile(), 30))
	require.Empty(t, res.CutOverRepairs)
	// The copy of 2000 rows is more than 16 KB of row events: the mark moved past it at Ready.
	require.Positive(t, w.mark.pos.Compare(before))
	if w.mark.pos.Name == before.Name {
		require.Greater(t, w.mark.pos.Pos-before.Pos, uint32(16000), "the mark must move to Ready, past the row copy")
	}

	end, err := masterPosition(ctx, db.Primary)
	require.NoError(t, err)
	lost, _, err := readLostRows(ctx, w.auditTarget(), w.mark.pos, end)
	require.NoError(t, err, "marker and rename are found from the Ready mark")
	require.Empty(t, lost)
	require.False(t, errors.Is(err, ErrAuditFailed))
}
