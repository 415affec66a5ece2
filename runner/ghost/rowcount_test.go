package ghost

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
	gosql "github.com/github/gh-ost/go/sql"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
)

func TestCountDue(t *testing.T) {
	for _, c := range []struct {
		copied, est   int64
		counted, flor bool
		want          bool
	}{
		{0, 0, false, false, false},               // nothing estimated: nothing to check
		{899, 1000, false, false, false},          // under nine tenths of the estimate
		{900, 1000, false, false, true},           // at nine tenths
		{5000, 1000, false, false, true},          // far past a low estimate
		{950, 1000, true, false, false},           // counted: only once the copy passes it
		{1001, 1000, true, false, true},           // rows arrived in the range since the count
		{900, 1000, true, true, true},             // a floor is continued near it
		{899, 1000, true, true, false},            //
		{1_000_000, 1_000_000, true, false, true}, // equal to the count: count again (rows may follow)
	} {
		require.Equal(t, c.want, due(c.copied, c.est, c.counted, c.flor), "%+v", c)
	}
}

// TestCountAfter counts a composite key's rows after a position in steps smaller than the rest,
// against the server's own count of the same range.
func TestCountAfter(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE c (a INT NOT NULL, b VARCHAR(8) NOT NULL, v INT, PRIMARY KEY (a, b))",
		"INSERT INTO c SELECT seq DIV 10, LPAD(seq MOD 10, 2, '0'), seq FROM seq_1_to_1000")
	db.WaitReplica(t)
	mc := base.NewMigrationContext()
	mc.DatabaseName, mc.OriginalTableName = db.Name, "c"
	ins := Endpoint(db.Env.Replica)
	for _, step := range []int64{7, 1000, 5000} {
		rc, err := newRowCounter(ins, db.Name, reflect.Value{}, base.NewMigrationContext().Log)
		require.NoError(t, err)
		rc.step, rc.mc, rc.key, rc.keyName = step, mc, gosql.NewColumnList([]string{"a", "b"}), "PRIMARY"
		rc.end = []any{90, "05"} // the copy's range ends at (90, '05')
		for _, after := range [][]any{{3, "04"}, {0, "00"}, {89, "99"}, {90, "05"}} {
			var want int64
			require.NoError(t, db.Replica.QueryRow("SELECT COUNT(*) FROM c WHERE (a, b) > (?, ?) AND (a, b) <= (90, '05')", after...).Scan(&want))
			left, complete, err := rc.countAfter(context.Background(), after)
			require.NoError(t, err)
			require.True(t, complete)
			require.Equal(t, want, left, "step %d, after %v", step, after)
		}
		require.NoError(t, rc.Close())
	}

	// Out of time before the first statement: no count and no error (the estimate stays).
	rc, err := newRowCounter(ins, db.Name, reflect.Value{}, base.NewMigrationContext().Log)
	require.NoError(t, err)
	rc.mc, rc.key, rc.keyName, rc.end = mc, gosql.NewColumnList([]string{"a", "b"}), "PRIMARY", []any{90, "05"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	left, complete, err := rc.countAfter(ctx, []any{0, "00"})
	require.NoError(t, err)
	require.False(t, complete, "a count that ran out of time is a floor")
	require.Zero(t, left)
	// The server gone (here: the connection closed): an error that names the count.
	require.NoError(t, rc.Close())
	_, _, err = rc.countAfter(context.Background(), []any{0, "00"})
	require.ErrorContains(t, err, "count the rows left")
}

// TestRowCountWhenStatisticsAreStale migrates a table whose statistics say a tenth of its rows
// (persistent statistics set so, as after growth with STATS_AUTO_RECALC off): the progress must
// show the true share copied mid-copy, not 99% from the moment the copy passed the estimate.
func TestRowCountWhenStatisticsAreStale(t *testing.T) {
	const rows, stale = 30000, 3000
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE s (id INT NOT NULL PRIMARY KEY, a INT NOT NULL) STATS_PERSISTENT=1 STATS_AUTO_RECALC=0",
		fmt.Sprintf("INSERT INTO s SELECT seq, seq FROM seq_1_to_%d", rows))
	db.WaitReplica(t)
	ctx := context.Background()
	for name, h := range map[string]*sql.DB{"primary": db.Primary, "replica": db.Replica} {
		c, err := h.Conn(ctx)
		require.NoError(t, err)
		for _, q := range []string{"SET sql_log_bin = 0", "ANALYZE TABLE s",
			fmt.Sprintf("UPDATE mysql.innodb_table_stats SET n_rows = %d WHERE database_name = DATABASE() AND table_name = 's'", stale),
			// InnoDB reads persistent statistics when it opens the table anew; a pair of renames
			// evicts it from the dictionary cache.
			"RENAME TABLE s TO s_stale, s_stale TO s"} {
			_, err := c.ExecContext(ctx, q)
			require.NoError(t, err, "%s on the %s", q, name)
		}
		var est int64
		require.NoError(t, c.QueryRowContext(ctx, "EXPLAIN SELECT * FROM s").Scan(new(any), new(any), new(any), new(any), new(any), new(any), new(any), new(any), &est, new(any)))
		require.Equal(t, int64(stale), est, "the %s's statistics were not made stale", name)
		require.NoError(t, c.Close())
	}
	spec := testSpec(t, db, "s", "MODIFY a BIGINT NOT NULL")
	spec.EstimateRowsOnly = true
	spec.ChunkSize, spec.NiceRatio = 100, 4 // a copy of some seconds, seen mid-way by several reports
	w := startWorker(t, spec)
	log := collect(w)
	_, err := runToCompletion(t, w)
	require.NoError(t, err)
	requireNoRace(t, w)
	b, err := os.ReadFile(spec.LogFile())
	require.NoError(t, err)
	require.Contains(t, string(b), fmt.Sprintf("Estimated number of rows via EXPLAIN: %d", stale), "gh-ost saw the stale statistics")
	m := regexp.MustCompile(`row count: (\d+) row\(s\) left after the (\d+) copied.*the copy's total is (\d+)`).FindStringSubmatch(string(b))
	require.NotNil(t, m, "no row count in the worker log:\n%s", logTail(spec.LogFile(), 30))
	total, _ := strconv.ParseInt(m[3], 10, 64)
	require.EqualValues(t, rows, total, "the count found the table's rows")

	var mid int
	var countedAt time.Time
	for _, p := range log.all() {
		if p.Phase != migration.PhaseCopying || p.RowsCopied == 0 {
			continue
		}
		require.LessOrEqual(t, p.Ratio, 0.99, "progress %+v", p)
		if p.RowsEstimated != rows {
			require.True(t, countedAt.IsZero(), "the total went back to the estimate after the count: %+v", p)
			continue
		}
		if countedAt.IsZero() {
			countedAt = p.Time
		}
		require.InDelta(t, min(float64(p.RowsCopied)/rows, 0.99), p.Ratio, 0.001, "progress %+v", p)
		if p.Ratio > 0.2 && p.Ratio < 0.8 {
			mid++
		}
	}
	require.NotZero(t, mid, "no report showed the copy mid-way")
}
