package ghost

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/go-sql-driver/mysql"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// typesTable has a wide set of column types and a composite primary key (INT + utf8mb4 VARCHAR).
const typesTable = `CREATE TABLE %s (
  k1 INT NOT NULL,
  k2 VARCHAR(20) CHARACTER SET utf8mb4 NOT NULL,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  de DECIMAL(30,8), fl FLOAT, db DOUBLE,
  d DATE, tm TIME(3), dt DATETIME(6), ts TIMESTAMP(6) NULL DEFAULT NULL, yr YEAR,
  ch CHAR(10), vc VARCHAR(200), tx TEXT, bl BLOB, bn BINARY(8), vb VARBINARY(32),
  js JSON, en ENUM('a','b','c'), st SET('x','y','z'), bt BIT(13),
  emo VARCHAR(50) CHARACTER SET utf8mb4, lat VARCHAR(50) CHARACTER SET latin1,
  PRIMARY KEY (k1, k2)
)`

// typedColumn generates random values (NULL included) for one column; binary columns are compared
// byte for byte, the others with their type's own equality.
type typedColumn struct {
	name   string
	gen    func(r *rand.Rand) any
	binary bool
}

func pick[T any](r *rand.Rand, vs ...T) T { return vs[r.IntN(len(vs))] }

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

var typedColumns = []typedColumn{
	{"ti", func(r *rand.Rand) any { return pick(r, int64(-128), 127, 0, r.Int64N(256)-128) }, false},
	{"tiu", func(r *rand.Rand) any { return pick(r, uint64(0), 255, r.Uint64N(256)) }, false},
	{"si", func(r *rand.Rand) any { return pick(r, int64(-32768), 32767, r.Int64N(65536)-32768) }, false},
	{"siu", func(r *rand.Rand) any { return pick(r, uint64(0), 65535, r.Uint64N(65536)) }, false},
	{"mi", func(r *rand.Rand) any { return pick(r, int64(-8388608), 8388607, r.Int64N(1<<24)-1<<23) }, false},
	{"miu", func(r *rand.Rand) any { return pick(r, uint64(0), 16777215, r.Uint64N(1<<24)) }, false},
	{"i", func(r *rand.Rand) any { return pick(r, int64(math.MinInt32), math.MaxInt32, r.Int64N(1<<32)-1<<31) }, false},
	{"iu", func(r *rand.Rand) any { return pick(r, uint64(0), math.MaxUint32, r.Uint64N(1<<32)) }, false},
	{"bi", func(r *rand.Rand) any { return pick(r, int64(math.MinInt64), math.MaxInt64, r.Int64()) }, false},
	{"biu", func(r *rand.Rand) any { return pick(r, uint64(0), math.MaxUint64, r.Uint64()) }, false},
	{"de", func(r *rand.Rand) any {
		return fmt.Sprintf("%s%d.%08d", pick(r, "", "-"), r.Int64N(1e15), r.Int64N(1e8))
	}, false},
	{"fl", func(r *rand.Rand) any {
		return pick(r, float32(0), float32(-1.5e-20), float32(3.4e38), float32(r.NormFloat64()*1e6))
	}, false},
	{"db", func(r *rand.Rand) any {
		return pick(r, 0.0, -2.2250738585072014e-308, 1.7976931348623157e308, r.NormFloat64()*1e12, 0.1)
	}, false},
	{"d", func(r *rand.Rand) any {
		return pick(r, "1000-01-01", "9999-12-31", fmt.Sprintf("%04d-%02d-%02d", 1000+r.IntN(9000), 1+r.IntN(12), 1+r.IntN(28)))
	}, false},
	{"tm", func(r *rand.Rand) any {
		return pick(r, "-838:59:59.000", "838:59:59.000", "00:00:00.001",
			fmt.Sprintf("%s%d:%02d:%02d.%03d", pick(r, "", "-"), r.IntN(839), r.IntN(60), r.IntN(60), r.IntN(1000)))
	}, false},
	{"dt", func(r *rand.Rand) any {
		return pick(r, "1000-01-01 00:00:00.000000", "9999-12-31 23:59:59.999999",
			fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", 1000+r.IntN(9000), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6)))
	}, false},
	{"ts", func(r *rand.Rand) any {
		return time.Unix(1+r.Int64N(2_000_000_000), r.Int64N(1e6)*1000).UTC().Format("2006-01-02 15:04:05.000000")
	}, false},
	{"yr", func(r *rand.Rand) any { return pick(r, 1901, 2155, 0, 1901+r.IntN(255)) }, false},
	{"ch", func(r *rand.Rand) any { return pick(r, "", "abc", "Zz 09", strings.Repeat("q", 10)) }, true},
	{"vc", func(r *rand.Rand) any {
		return pick(r, "", "plain", "MiXeD CaSe", "tab\tnew\nline", "quote ' \" \\ back", fmt.Sprintf("v-%d", r.IntN(1e9)))
	}, true},
	{"tx", func(r *rand.Rand) any { return strings.Repeat(pick(r, "a", "ß", "字", "😀"), r.IntN(3000)) }, true},
	{"bl", func(r *rand.Rand) any { return randBytes(r, r.IntN(2000)) }, true},
	{"bn", func(r *rand.Rand) any {
		// Trailing zero bytes are where binlog decoders have gone wrong before.
		return pick(r, []byte{1, 2, 3, 0, 0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0}, randBytes(r, 8), []byte{0xff, 0, 0xff})
	}, true},
	{"vb", func(r *rand.Rand) any { return pick(r, []byte{}, []byte{0}, randBytes(r, r.IntN(33))) }, true},
	{"js", func(r *rand.Rand) any {
		return pick(r, `{}`, `[]`, `null`, `{"a": 1, "b": [true, false, null], "c": {"d": "é😀"}}`,
			fmt.Sprintf(`{"n": %d, "f": %g, "s": "x%dy"}`, r.Int64(), r.NormFloat64(), r.IntN(100)))
	}, true},
	{"en", func(r *rand.Rand) any { return pick(r, "a", "b", "c") }, true},
	{"st", func(r *rand.Rand) any { return pick(r, "", "x", "y,z", "x,y,z") }, true},
	{"bt", func(r *rand.Rand) any { return pick(r, uint64(0), 8191, 1, r.Uint64N(8192)) }, false},
	{"emo", func(r *rand.Rand) any {
		return pick(r, "😀🎉", "日本語テキスト", "mixed é 😀 ß", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢")
	}, true},
	{"lat", func(r *rand.Rand) any { return pick(r, "café", "Ünïcödé ß ñ ø", "plain", "£ ¥ © ® ±") }, true},
}

// typedValues returns one random value per typed column, about one in eight NULL.
func typedValues(r *rand.Rand) []any {
	vals := make([]any, len(typedColumns))
	for i, c := range typedColumns {
		if r.IntN(8) == 0 {
			continue
		}
		vals[i] = c.gen(r)
	}
	return vals
}

type typesKey struct {
	k1 int64
	k2 string
}

// typesWriter applies every change to the migrated table and to a reference table of the same
// shape in one transaction; the reference table, which gh-ost never touches, is the model.
type typesWriter struct {
	db   *sql.DB
	rng  *rand.Rand
	keys []typesKey
	ops  int
	errs []error
}

func (w *typesWriter) newKey() typesKey {
	return typesKey{k1: w.rng.Int64N(1000), k2: pick(w.rng, "k", "K", "ключ", "😀", "") + fmt.Sprint(w.rng.IntN(1e6))}
}

func (w *typesWriter) tx(stmt string, args ...any) error {
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	for _, table := range []string{"ty", "ty_ref"} {
		if _, err := tx.Exec(fmt.Sprintf(stmt, table), args...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (w *typesWriter) step() error {
	names := make([]string, len(typedColumns))
	for i, c := range typedColumns {
		names[i] = c.name
	}
	switch op := w.rng.IntN(10); {
	case op < 4 || len(w.keys) == 0:
		k := w.newKey()
		args := append([]any{k.k1, k.k2}, typedValues(w.rng)...)
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
		err := w.tx("INSERT IGNORE INTO %s (k1, k2, "+strings.Join(names, ", ")+") VALUES ("+marks+")", args...)
		if err == nil {
			w.keys = append(w.keys, k)
		}
		return err
	case op < 8:
		k := w.keys[w.rng.IntN(len(w.keys))]
		args := append(typedValues(w.rng), k.k1, k.k2)
		return w.tx("UPDATE %s SET "+strings.Join(names, " = ?, ")+" = ? WHERE k1 = ? AND k2 = ?", args...)
	case op < 9:
		// A primary key change: gh-ost applies it as a delete and an insert.
		i := w.rng.IntN(len(w.keys))
		old, k := w.keys[i], w.newKey()
		err := w.tx("UPDATE IGNORE %s SET k1 = ?, k2 = ? WHERE k1 = ? AND k2 = ?", k.k1, k.k2, old.k1, old.k2)
		if err == nil {
			w.keys[i] = k
		}
		return err
	default:
		i := w.rng.IntN(len(w.keys))
		k := w.keys[i]
		w.keys = append(w.keys[:i], w.keys[i+1:]...)
		return w.tx("DELETE FROM %s WHERE k1 = ? AND k2 = ?", k.k1, k.k2)
	}
}

func (w *typesWriter) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := w.step(); err != nil {
			w.errs = append(w.errs, err)
		}
		w.ops++
		time.Sleep(3 * time.Millisecond)
	}
}

// requireSameAsReference compares the migrated table with the reference, column by column, on db.
func requireSameAsReference(t testingT, where string, db *sql.DB) {
	t.Helper()
	var refRows, rows int
	require.NoError(t, db.QueryRow("SELECT (SELECT COUNT(*) FROM ty_ref), (SELECT COUNT(*) FROM ty)").Scan(&refRows, &rows))
	require.Equal(t, refRows, rows, "%s: row count", where)
	sums := make([]string, len(typedColumns))
	for i, c := range typedColumns {
		x, r := "x."+c.name, "r."+c.name
		if c.binary {
			x, r = "BINARY "+x, "BINARY "+r
		}
		sums[i] = fmt.Sprintf("SUM(NOT (%s <=> %s))", x, r)
	}
	q := "SELECT COUNT(*), SUM(x.k1 IS NULL), " + strings.Join(sums, ", ") +
		" FROM ty_ref r LEFT JOIN ty x ON x.k1 = r.k1 AND BINARY x.k2 = BINARY r.k2"
	dest := make([]any, 2+len(typedColumns))
	got := make([]sql.NullInt64, len(dest))
	for i := range dest {
		dest[i] = &got[i]
	}
	require.NoError(t, db.QueryRow(q).Scan(dest...))
	require.Equal(t, int64(refRows), got[0].Int64, "%s: joined rows", where)
	require.Zero(t, got[1].Int64, "%s: rows missing from the migrated table", where)
	for i, c := range typedColumns {
		require.Zero(t, got[2+i].Int64, "%s: column %s differs in %d rows", where, c.name, got[2+i].Int64)
	}
}

// TestManyTypesCompositeKey proves the binlog path (go-mysql v1.13.0 decoding, gh-ost applying)
// keeps every value of a wide set of types intact, on a composite primary key, under writes that
// run through the copy and the postponed cut-over.
func TestManyTypesCompositeKey(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, fmt.Sprintf(typesTable, "ty"), "CREATE TABLE ty_ref LIKE ty")
	w := &typesWriter{db: db.Primary, rng: rand.New(rand.NewPCG(3, 4))}
	for range 300 { // seeded rows go through gh-ost's row copy
		require.NoError(t, w.step())
	}
	db.WaitReplica(t)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			cancel()
			wg.Wait()
			stopped = true
		}
	}
	defer stop()

	spec := testSpec(t, db, "ty", "MODIFY i BIGINT, ADD COLUMN extra INT NULL")
	spec.ChunkSize = 50
	gw := startWorker(t, spec)
	select {
	case <-gw.Ready():
	case <-gw.Done():
		_, err := gw.Wait()
		t.Fatalf("worker ended before ready: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("worker not ready after 90s")
	}
	time.Sleep(1500 * time.Millisecond) // writes applied from the binlog while postponing
	require.NoError(t, gw.CutOver(0))
	_, err := gw.Wait()
	require.NoError(t, err, logTail(gw.Spec().LogFile(), 40))
	stop()
	require.Empty(t, w.errs)
	t.Logf("types writer: %d ops", w.ops)

	db.WaitReplica(t)
	requireSameAsReference(t, "primary", db.Primary)
	requireSameAsReference(t, "replica", db.Replica)
	requireNoRace(t, gw)
	require.Greater(t, appliedEvents(t, gw), int64(100), "the binlog apply path must have been exercised")
}

// testingT is what the comparison helpers need, so that a test can check they do fail.
type testingT interface {
	require.TestingT
	Helper()
}

// failRecorder records a failed require instead of stopping the test.
type failRecorder struct{ failed bool }

func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) FailNow()              { f.failed = true; panic(f) }
func (f *failRecorder) Helper()               {}

func detects(check func(testingT)) (failed bool) {
	f := &failRecorder{}
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
		failed = f.failed
	}()
	check(f)
	return f.failed
}

// TestReferenceComparisonDetects shows the comparison is not blind: a case change, a lost
// trailing zero byte, a rounded float, a different latin1 character or a missing row each fail it.
func TestReferenceComparisonDetects(t *testing.T) {
	db := sandboxtest.New(t)
	db.Exec(t, fmt.Sprintf(typesTable, "ty"), "CREATE TABLE ty_ref LIKE ty",
		"INSERT INTO ty_ref (k1, k2, vc, vb, fl, lat) VALUES (1, 'a', 'Case', x'010200', 1.25, 'café'), (2, 'b', 'x', NULL, NULL, NULL)",
		"INSERT INTO ty SELECT * FROM ty_ref")
	require.False(t, detects(func(tt testingT) { requireSameAsReference(tt, "same", db.Primary) }), "identical tables must compare equal")
	for _, change := range []string{
		"UPDATE ty SET vc = 'case' WHERE k1 = 1",
		"UPDATE ty SET vb = x'0102' WHERE k1 = 1",
		"UPDATE ty SET fl = 1.2500001 WHERE k1 = 1",
		"UPDATE ty SET lat = 'cafe' WHERE k1 = 1",
		"DELETE FROM ty WHERE k1 = 2",
	} {
		db.Exec(t, "DELETE FROM ty", "INSERT INTO ty SELECT * FROM ty_ref", change)
		require.True(t, detects(func(tt testingT) { requireSameAsReference(tt, change, db.Primary) }), "not detected: %s", change)
	}
}

// The controller's DSN survives a password with the characters a DSN uses as separators.
func TestEndpointDSNEscapesPassword(t *testing.T) {
	e := Endpoint{Host: "127.0.0.1", Port: 3306, User: "dba", Password: "p@ss/w?rd:x"}
	cfg, err := mysql.ParseDSN(e.dsn("shop") + repairDSNParams)
	require.NoError(t, err)
	require.Equal(t, "p@ss/w?rd:x", cfg.Passwd)
	require.Equal(t, "shop", cfg.DBName)
	require.Equal(t, "127.0.0.1:3306", cfg.Addr)
	require.True(t, cfg.ParseTime)
	require.Equal(t, "'+00:00'", cfg.Params["time_zone"])
}
