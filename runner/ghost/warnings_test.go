package ghost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// refWriter inserts rows into the table under migration and, in the same transaction, into a
// reference table of the same shape: whatever gh-ost does, the original must end up equal to the
// reference. row(n) gives the n-th row's values after the id.
type refWriter struct {
	db      *sql.DB
	table   string
	nextID  int64
	row     func(rng *rand.Rand, id int64) []any
	columns string // the columns after id, e.g. "u, v"

	mu      sync.Mutex
	written int
	errs    []error
}

func (w *refWriter) run(ctx context.Context) {
	rng := rand.New(rand.NewPCG(3, 4))
	marks := strings.Repeat(", ?", strings.Count(w.columns, ",")+1)
	ins := func(table string) string {
		return fmt.Sprintf("INSERT INTO %s (id, %s) VALUES (?%s)", quoteIdent(table), w.columns, marks)
	}
	for ctx.Err() == nil {
		id := w.nextID
		w.nextID++
		args := append([]any{id}, w.row(rng, id)...)
		err := w.tx(ins(w.table), ins("ref"), args)
		w.mu.Lock()
		if err != nil {
			w.errs = append(w.errs, err)
		} else {
			w.written++
		}
		w.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
}

func (w *refWriter) tx(stmt, refStmt string, args []any) error {
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec(stmt, args...); err != nil {
		return err
	}
	if _, err := tx.Exec(refStmt, args...); err != nil {
		return err
	}
	return tx.Commit()
}

func (w *refWriter) start() (stop func() (written int, errs []error)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	return func() (int, []error) {
		cancel()
		<-done
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.written, w.errs
	}
}

// requireEqualToRef checks that table holds exactly the rows of the reference table (every
// column compared, NULL-safe), and that no table but the two exists: no ghost, changelog or
// sentry table was left behind.
func requireEqualToRef(t *testing.T, where string, db *sql.DB, schema, table, columns string) {
	t.Helper()
	var n, ref, same int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+quoteIdent(table)).Scan(&n))
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM ref").Scan(&ref))
	var on []string
	for _, c := range strings.Split("id, "+columns, ",") {
		c = quoteIdent(strings.TrimSpace(c))
		on = append(on, "x."+c+" <=> r."+c)
	}
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM "+quoteIdent(table)+" x JOIN ref r ON "+
		strings.Join(on, " AND ")).Scan(&same))
	require.Equal(t, ref, n, "%s: %s has %d rows, the reference %d", where, table, n, ref)
	require.Equal(t, ref, same, "%s: %d of %d rows of %s differ from the reference", where, ref-same, ref, table)

	rows, err := db.Query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME NOT IN (?, 'ref')", schema, table)
	require.NoError(t, err)
	defer rows.Close()
	var left []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		left = append(left, name)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, left, "%s: tables left behind", where)
}

// warningCase is one change gh-ost v1.1.10 would, without PanicOnWarnings, complete while
// silently losing or changing rows the writer creates during the copy.
type warningCase struct {
	alter   string
	row     func(rng *rand.Rand, id int64) []any
	warning []string // what the error must name
}

// runWarningCase seeds t (id, u, v) with 20,000 rows (u = id, v short), starts a writer once the
// copy runs, and requires the run to fail with the warning named and the original intact.
func runWarningCase(t *testing.T, c warningCase) {
	const seeded = 20000
	db := sandboxtest.New(t)
	db.Exec(t, "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, u INT NOT NULL, v VARCHAR(64) NOT NULL)",
		fmt.Sprintf("INSERT INTO t SELECT seq, seq, CONCAT('s', seq) FROM seq_1_to_%d", seeded),
		"CREATE TABLE ref LIKE t", "INSERT INTO ref SELECT * FROM t")
	db.WaitReplica(t)

	spec := testSpec(t, db, "t", c.alter)
	spec.ChunkSize = 100 // 200 chunks: the writer's rows arrive while the copy runs
	// and gh-ost sleeps five times each chunk's time after it: a quiet box copied the 200 chunks in
	// 0.35 s, between two progress reports, and the copy was never seen running.
	spec.NiceRatio = 5
	w := startWorker(t, spec)
	events := collect(w)
	waitEvent(t, w, events, 60*time.Second, "copy progress", copying)
	writer := &refWriter{db: db.Primary, table: "t", nextID: seeded + 1, columns: "u, v", row: c.row}
	stop := writer.start()
	var res Result
	var err error
	select {
	case <-w.Done():
		res, err = w.Wait()
	case <-w.Ready():
		_ = w.Abort()
		written, _ := stop()
		t.Fatalf("gh-ost copied the table and waits at the gate although %d rows of the writer could not be copied faithfully", written)
	case <-time.After(120 * time.Second):
		t.Fatalf("the run neither failed nor got ready in 120s; log:\n%s", logTail(spec.LogFile(), 30))
	}
	time.Sleep(200 * time.Millisecond) // writes after the failure reach the original as well
	written, werrs := stop()
	require.Empty(t, werrs, "the writer must not notice gh-ost")
	require.Positive(t, written)

	require.Error(t, err, "the run must fail")
	var we *WorkerError
	require.True(t, errors.As(err, &we), "want *WorkerError, got %T: %v", err, err)
	for _, s := range c.warning {
		require.Contains(t, we.Message, s, "gh-ost's error names the warning")
	}
	require.NotErrorIs(t, err, ErrRenamedBeforeAbort)
	t.Logf("failed as it must after %d writes: %s", written, we.Message)
	require.Empty(t, res.OldTable)

	db.WaitReplica(t)
	for name, conn := range map[string]*sql.DB{"primary": db.Primary, "replica": db.Replica} {
		requireEqualToRef(t, name, conn, db.Name, "t", "u, v")
		var typ string
		require.NoError(t, conn.QueryRow("SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't' AND COLUMN_NAME = 'v'", db.Name).Scan(&typ))
		require.Equal(t, "varchar(64)", typ, "%s: the original keeps its shape", name)
	}
}

// TestUniqueKeyWithDuplicatesDuringCopyFails is issue 8's "no silent row loss": a UNIQUE key is
// added while a writer keeps inserting rows whose u duplicates an existing row's. Stock gh-ost's
// INSERT IGNORE (row copy and binlog apply alike, go/sql/builder.go) dropped them and reported
// success; with PanicOnWarnings the run fails naming the duplicate, and the original table has
// every row, on primary and replica.
func TestUniqueKeyWithDuplicatesDuringCopyFails(t *testing.T) {
	runWarningCase(t, warningCase{
		alter: "ADD UNIQUE KEY uk_u (u)",
		row: func(rng *rand.Rand, id int64) []any {
			return []any{1 + rng.IntN(20000), fmt.Sprintf("dup-%d", id)} // u collides with a seeded row's
		},
		warning: []string{"Duplicate entry", "uk_u"},
	})
}

// TestNarrowedColumnWithLongValuesDuringCopyFails: MODIFY to a narrower VARCHAR while a writer
// writes values longer than the new width. Every seeded value fits; gh-ost's INSERT IGNORE turns
// STRICT_ALL_TABLES' "Data too long" error into a truncation warning (go/logic/applier.go
// generateSqlModeQuery), which PanicOnWarnings makes fatal instead of storing a cut value.
func TestNarrowedColumnWithLongValuesDuringCopyFails(t *testing.T) {
	runWarningCase(t, warningCase{
		alter: "MODIFY v VARCHAR(8) NOT NULL",
		row: func(_ *rand.Rand, id int64) []any {
			return []any{id, fmt.Sprintf("long-value-%d", id)} // 16+ characters
		},
		warning: []string{"Data truncated for column 'v'"},
	})
}
