package loadgen_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ghostgate/ghostgate/internal/loadgen"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup creates spec's table in a fresh database and seeds it.
func setup(t *testing.T, spec loadgen.Spec, rows int64) *sandboxtest.DB {
	t.Helper()
	d := sandboxtest.New(t)
	ctx := context.Background()
	require.NoError(t, loadgen.Create(ctx, d.Primary, spec))
	if rows > 0 {
		require.NoError(t, loadgen.Seed(ctx, d.Primary, spec, rows))
	}
	return d
}

// run starts a tracked writer, lets it do ops operations and returns its result.
func run(t *testing.T, db *sql.DB, cfg loadgen.Config) loadgen.Result {
	t.Helper()
	w, err := loadgen.NewWriter(db, cfg)
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	res, err := w.Wait()
	require.NoError(t, err)
	return res
}

// verifyBoth compares the table with the model on the primary and, once caught up, the replica.
func verifyBoth(t *testing.T, d *sandboxtest.DB, table string, m *loadgen.Model) {
	t.Helper()
	ctx := context.Background()
	d.WaitReplica(t)
	for name, db := range map[string]*sql.DB{"primary": d.Primary, "replica": d.Replica} {
		diff, err := loadgen.Verify(ctx, db, table, m)
		require.NoError(t, err, name)
		require.True(t, diff.Empty(), "%s: %s", name, diff)
		require.Equal(t, m.Len(), diff.Checked, name)
	}
}

func mixed(spec loadgen.Spec, ops int64) loadgen.Config {
	return loadgen.Config{
		Spec: spec, Workers: 4, Mix: loadgen.Mix{Insert: 3, Update: 4, Delete: 2, Read: 1},
		MaxOps: ops, FirstSeq: 1_000_000, RandSeed: 42,
	}
}

func TestWriterOnStaticTableVerifiesClean(t *testing.T) {
	spec := loadgen.Simple("items")
	d := setup(t, spec, 2000)
	res := run(t, d.Primary, mixed(spec, 2000))

	require.Empty(t, res.Anomalies)
	st := res.Stats
	require.Equal(t, 2000, st.All.Count, "MaxOps bounds the run")
	require.Zero(t, st.All.Errors, "%v", st.Errors)
	for _, op := range []loadgen.Op{loadgen.OpInsert, loadgen.OpUpdate, loadgen.OpDelete, loadgen.OpRead} {
		require.Positive(t, st.ByOp[op].Count, op)
	}
	require.Positive(t, st.All.P99)
	require.GreaterOrEqual(t, st.All.P999, st.All.P99)
	require.GreaterOrEqual(t, st.All.Max, st.All.P999)
	require.Equal(t, 2000+st.ByOp[loadgen.OpInsert].Count-st.ByOp[loadgen.OpDelete].Count, res.Model.Len())
	verifyBoth(t, d, spec.Table, res.Model)
}

func TestVerifyDetectsOutOfBandChanges(t *testing.T) {
	spec := loadgen.Simple("items")
	d := setup(t, spec, 200)
	res := run(t, d.Primary, mixed(spec, 300))
	require.Empty(t, res.Anomalies)

	keys := res.Model.Keys()
	gone, changed := keys[0][0], keys[1][0]
	d.Exec(t,
		"DELETE FROM items WHERE id = "+gone,
		"UPDATE items SET c = 'tampered' WHERE id = "+changed,
		"INSERT INTO items (id, k, c, pad) VALUES (-5, 1, 'extra', '')",
	)
	want, _ := res.Model.Get(changed)

	d.WaitReplica(t)
	for _, db := range []*sql.DB{d.Primary, d.Replica} {
		diff, err := loadgen.Verify(context.Background(), db, spec.Table, res.Model)
		require.NoError(t, err)
		require.False(t, diff.Empty())
		require.Len(t, diff.Missing, 1)
		require.Equal(t, []string{gone}, diff.Missing[0].Key(1))
		require.Len(t, diff.Extra, 1)
		require.Equal(t, []string{"-5"}, diff.Extra[0].Key(1))
		require.Len(t, diff.Wrong, 1)
		require.Equal(t, []string{changed}, diff.Wrong[0].Key)
		require.Equal(t, []loadgen.ColumnDiff{{
			Column: "c", Want: want.Vals[2], Got: sql.NullString{String: "tampered", Valid: true},
		}}, diff.Wrong[0].Columns)
		require.Contains(t, diff.String(), "wrong (id="+changed+`): c want "`)
		require.Contains(t, diff.String(), `got "tampered";`)
	}
}

func TestWriterReportsChangesBehindItsBack(t *testing.T) {
	spec := loadgen.Simple("items")
	d := setup(t, spec, 5)
	w, err := loadgen.NewWriter(d.Primary, loadgen.Config{
		Spec: spec, Workers: 1, Mix: loadgen.Mix{Read: 1}, MaxOps: 3000, RandSeed: 7,
	})
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	// The snapshot was taken by Start, so the writer expects the old value of row 3.
	d.Exec(t, "UPDATE items SET k = -1 WHERE id = 3")
	res, err := w.Wait()
	require.NoError(t, err)
	require.NotEmpty(t, res.Anomalies, "3000 reads of 5 rows never met the changed one")
	require.Equal(t, loadgen.OpRead, res.Anomalies[0].Op)
	require.Equal(t, []string{"3"}, res.Anomalies[0].Key)
	require.Contains(t, res.Anomalies[0].String(), `column k was "-1"`)
}

func TestCompositeKey(t *testing.T) {
	spec := loadgen.Composite("orders")
	d := setup(t, spec, 500)
	var n int
	require.NoError(t, d.Primary.QueryRow("SELECT COUNT(DISTINCT tenant) FROM orders").Scan(&n))
	require.Equal(t, 16, n)

	res := run(t, d.Primary, mixed(spec, 1500))
	require.Empty(t, res.Anomalies)
	require.Zero(t, res.Stats.All.Errors, "%v", res.Stats.Errors)
	verifyBoth(t, d, spec.Table, res.Model)
	_, ok := res.Model.Get("3", "c-0")
	require.True(t, ok || res.Stats.ByOp[loadgen.OpDelete].Count > 0, "seeded row (3, c-0) kept unless deleted")
}

func TestManyTypesRoundTrip(t *testing.T) {
	spec := loadgen.ManyTypes("types")
	d := setup(t, spec, 100)
	res := run(t, d.Primary, mixed(spec, 1500))
	require.Empty(t, res.Anomalies)
	require.Zero(t, res.Stats.All.Errors, "%v", res.Stats.Errors)
	verifyBoth(t, d, spec.Table, res.Model)

	// Every column held both NULL and non-NULL values, so the types were really exercised.
	names := res.Model.Names()
	for i := 1; i < len(names); i++ {
		var nulls, values int
		for _, k := range res.Model.Keys() {
			r, _ := res.Model.Get(k...)
			if r.Vals[i].Valid {
				values++
			} else {
				nulls++
			}
		}
		require.Positive(t, values, names[i])
		if names[i] != "i8" && names[i] != "i32" && names[i] != "vc" { // seeded non-NULL
			require.Positive(t, nulls, names[i])
		}
	}
}

// TestCanonicalForms pins the forms values are compared in, for values whose text form is easy to
// get wrong: a FLOAT shown with 6 digits would hide damage; binary padding, BIT bytes, latin1.
func TestCanonicalForms(t *testing.T) {
	spec := loadgen.ManyTypes("types")
	d := setup(t, spec, 0)
	d.Exec(t, `INSERT INTO types (id, u64, flt, dbl, ts, ch, l1, bin, bt, js, st)
		VALUES (1, 18446744073709551615, 16777217, 0.1, '2001-02-03 04:05:06.5', 'a😀  ', 'é£', 'ab', 5,
		'{"a": [1, "ü"]}', 'blue,red')`)
	m, err := loadgen.Snapshot(context.Background(), d.Primary, spec)
	require.NoError(t, err)
	row, ok := m.Get("1")
	require.True(t, ok)
	got := map[string]sql.NullString{}
	for i, n := range m.Names() {
		got[n] = row.Vals[i]
	}
	want := map[string]string{
		"u64": "18446744073709551615", "flt": "16777216", "dbl": "0.1", "ts": "2001-02-03 04:05:06.500000",
		"ch": "a😀", "l1": "é£", "bin": "ab" + string(make([]byte, 14)), "bt": "\x00\x05",
		"js": `{"a": [1, "ü"]}`, "st": "red,blue",
	}
	for col, v := range want {
		require.Equal(t, sql.NullString{String: v, Valid: true}, got[col], col)
	}
	require.False(t, got["i16"].Valid, "unset column is NULL")
}

// TestUntrackedWriterNeverExceedsItsRate: an untracked writer keeps no model and paces its
// operations: each worker runs at most one per tick and skips the ticks it missed, so over the
// run it can never do more than rate × duration plus one per worker. (How close it gets to the
// rate depends on the machine: that is for benchmarks, not a test.)
func TestUntrackedWriterNeverExceedsItsRate(t *testing.T) {
	spec := loadgen.Simple("items")
	d := setup(t, spec, 1000)
	w, err := loadgen.NewWriter(d.Primary, loadgen.Config{
		Spec: spec, Workers: 4, Mix: loadgen.Mix{Update: 1, Read: 1}, Rate: 200,
		Duration: 2 * time.Second, Untracked: true, KeyRange: 1000,
	})
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	res, err := w.Wait()
	require.NoError(t, err)
	require.Nil(t, res.Model)
	require.Positive(t, res.Stats.All.Count)
	require.LessOrEqual(t, res.Stats.All.Count, 400+4, "200 ops/s for 2 s, at most one extra tick per worker")
	require.Zero(t, res.Stats.All.Errors, "%v", res.Stats.Errors)
}

func TestStopEndsAnUnboundedWriter(t *testing.T) {
	spec := loadgen.Composite("orders")
	d := setup(t, spec, 0)
	w, err := loadgen.NewWriter(d.Primary, mixed(spec, 0))
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	time.Sleep(500 * time.Millisecond)
	res, err := w.Stop()
	require.NoError(t, err)
	require.Positive(t, res.Stats.All.Count)
	verifyBoth(t, d, spec.Table, res.Model)
}

func TestSeedUsesSequenceAndAnalyzes(t *testing.T) {
	spec := loadgen.Simple("items")
	t0 := time.Now()
	d := setup(t, spec, 250_001) // more than two chunks
	t.Logf("seeded 250001 rows in %s", time.Since(t0))
	var n, maxID, k int64
	require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*), MAX(id) FROM items").Scan(&n, &maxID))
	require.Equal(t, int64(250_001), n)
	require.Equal(t, int64(250_001), maxID)
	require.NoError(t, d.Primary.QueryRow("SELECT k FROM items WHERE id = 123456").Scan(&k))
	require.Equal(t, int64(23456), k)
	var rows int64
	require.NoError(t, d.Primary.QueryRow(`SELECT TABLE_ROWS FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items'`).Scan(&rows))
	require.InDelta(t, 250_001, rows, 50_000, "statistics refreshed")
}

// TestWriterSurvivesRenameAndNewShape swaps the table under a running writer the way gh-ost cuts
// over (LOCK TABLES on the original, a RENAME queued behind it, UNLOCK): the new table has k
// widened to BIGINT and an extra column. The writer goes on against the new table under the same
// name, and the rows match its model.
func TestWriterSurvivesRenameAndNewShape(t *testing.T) {
	spec := loadgen.Simple("items")
	d := setup(t, spec, 1000)
	d.Exec(t, "CREATE TABLE items_new LIKE items",
		"ALTER TABLE items_new MODIFY k BIGINT NOT NULL DEFAULT 0, ADD COLUMN extra INT NOT NULL DEFAULT 7")
	w, err := loadgen.NewWriter(d.Primary, mixed(spec, 0))
	require.NoError(t, err)
	require.NoError(t, w.Start(context.Background()))
	time.Sleep(300 * time.Millisecond)

	ctx := context.Background()
	locker, err := d.Primary.Conn(ctx)
	require.NoError(t, err)
	defer locker.Close()
	_, err = locker.ExecContext(ctx, "LOCK TABLES items WRITE, items_new WRITE")
	require.NoError(t, err)
	_, err = locker.ExecContext(ctx, "INSERT INTO items_new (id, k, c, pad) SELECT id, k, c, pad FROM items")
	require.NoError(t, err)
	renamed := make(chan error, 1)
	go func() {
		_, err := d.Primary.ExecContext(ctx, "RENAME TABLE items TO items_old, items_new TO items")
		renamed <- err
	}()
	require.Eventually(t, func() bool { // the RENAME is queued behind the lock, ahead of the writer
		var n int
		err := d.Primary.QueryRow(`SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE INFO LIKE 'RENAME TABLE items TO%' AND STATE LIKE 'Waiting%'`).Scan(&n)
		return err == nil && n == 1
	}, 5*time.Second, 10*time.Millisecond)
	_, err = locker.ExecContext(ctx, "UNLOCK TABLES")
	require.NoError(t, err)
	require.NoError(t, <-renamed)
	time.Sleep(500 * time.Millisecond)

	res, err := w.Stop()
	require.NoError(t, err)
	require.Empty(t, res.Anomalies)
	require.Zero(t, res.Stats.All.Errors, "%v", res.Stats.Errors)
	verifyBoth(t, d, spec.Table, res.Model)
	var before, after int
	require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*) FROM items_old WHERE id >= 1000000").Scan(&before))
	require.NoError(t, d.Primary.QueryRow("SELECT COUNT(*) FROM items WHERE id >= 1000000").Scan(&after))
	require.Greater(t, after, before, "the writer inserted into the new table after the swap")
	t.Logf("writer across the swap: %s", res.Stats)
}
