package runner_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// The gate's checksum against real gh-ost (issue 10): under a sustained writer it must pass (no
// false mismatch) and the table must end equal to a reference table the writer kept in the same
// transactions; a row changed behind gh-ost's back must be caught and named.

// mirrorWriter writes random inserts, updates and deletes over the key range of items, each in
// one transaction that does the same to items_ref. It measures every transaction's latency.
type mirrorWriter struct {
	db      *sql.DB
	maxID   int64
	skip    int64 // a key it never touches (0: none)
	rate    int   // transactions per second, all workers together
	workers int

	stop    chan struct{}
	wg      sync.WaitGroup
	txs     atomic.Int64
	retries atomic.Int64
	mu      sync.Mutex
	worst   time.Duration // the longest transaction since the last resetWorst
	err     error
}

func startMirrorWriter(t *testing.T, db *sql.DB, maxID, skip int64, rate int) *mirrorWriter {
	t.Helper()
	w := &mirrorWriter{db: db, maxID: maxID, skip: skip, rate: rate, workers: 4, stop: make(chan struct{})}
	for i := range w.workers {
		w.wg.Add(1)
		go w.run(int64(i))
	}
	t.Cleanup(func() { _ = w.halt() })
	return w
}

func (w *mirrorWriter) run(seed int64) {
	defer w.wg.Done()
	r := rand.New(rand.NewSource(seed + 42))
	tick := time.NewTicker(time.Second * time.Duration(w.workers) / time.Duration(w.rate))
	defer tick.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
		id := 1 + r.Int63n(w.maxID+w.maxID/10) // a tenth beyond the seeded keys: inserts at the end too
		if id == w.skip {
			continue
		}
		var stmt string
		var args []any
		switch op := r.Intn(9); {
		case op < 3:
			stmt, args = "INSERT INTO %s (id, k, c, pad) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE k = VALUES(k), c = VALUES(c), pad = VALUES(pad)",
				[]any{id, r.Int31(), fmt.Sprintf("ins-%d", r.Int63()), "p"}
		case op < 7:
			stmt, args = "UPDATE %s SET k = ?, c = ? WHERE id = ?", []any{r.Int31(), fmt.Sprintf("upd-%d", r.Int63()), id}
		default:
			stmt, args = "DELETE FROM %s WHERE id = ?", []any{id}
		}
		began := time.Now()
		if err := w.tx(stmt, args); err != nil {
			w.mu.Lock()
			w.err = errors.Join(w.err, err)
			w.mu.Unlock()
			return
		}
		took := time.Since(began)
		w.txs.Add(1)
		w.mu.Lock()
		w.worst = max(w.worst, took)
		w.mu.Unlock()
	}
}

// tx runs stmt on items and on items_ref in one transaction, retrying a deadlock.
func (w *mirrorWriter) tx(stmt string, args []any) error {
	for {
		err := func() error {
			tx, err := w.db.Begin()
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			for _, table := range []string{"items", "items_ref"} {
				if _, err := tx.Exec(fmt.Sprintf(stmt, table), args...); err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) {
			w.retries.Add(1)
			continue
		}
		return err
	}
}

func (w *mirrorWriter) resetWorst() {
	w.mu.Lock()
	w.worst = 0
	w.mu.Unlock()
}

func (w *mirrorWriter) worstStall() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.worst
}

// halt stops the writer (once) and returns its error.
func (w *mirrorWriter) halt() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// requireMirrored checks that items and items_ref hold the same rows on db.
func requireMirrored(t *testing.T, db *sql.DB, where string) {
	t.Helper()
	var n, diff int64
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM items").Scan(&n))
	require.NoError(t, db.QueryRow(`SELECT
		(SELECT COUNT(*) FROM items i LEFT JOIN items_ref r USING (id)
			WHERE r.id IS NULL OR NOT (i.k <=> r.k AND i.c <=> r.c AND i.pad <=> r.pad)) +
		(SELECT COUNT(*) FROM items_ref r LEFT JOIN items i USING (id) WHERE i.id IS NULL)`).Scan(&diff))
	require.Zero(t, diff, "%s: rows of items that differ from items_ref (of %d)", where, n)
	require.Positive(t, n, where)
}

// checksumRun is one migration through a gate with the checksum on.
type checksumRun struct {
	f      *fixture
	gate   *cutover.Gate
	events *gateEvents
	handle atomic.Pointer[runner.Handle]
	began  atomic.Pointer[time.Time] // when the gate was first asked
}

// gateEvents keeps the gate's events.
type gateEvents struct {
	mu  sync.Mutex
	all []cutover.Event
}

func (e *gateEvents) Record(_ context.Context, ev cutover.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
	return nil
}

func (e *gateEvents) of(kind cutover.EventKind) []cutover.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []cutover.Event
	for _, ev := range e.all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func newChecksumRun(t *testing.T, f *fixture) *checksumRun {
	t.Helper()
	cr := &checksumRun{f: f, events: &gateEvents{}}
	engine := func() (bool, int64) {
		h := cr.handle.Load()
		if h == nil {
			return false, 0
		}
		s := h.Status()
		return s == migration.StatusReady || s == migration.StatusCuttingOver, h.Progress().BacklogEvents
	}
	applied := func(ctx context.Context, file string, pos uint64) error {
		h := cr.handle.Load()
		if h == nil {
			return runner.ErrNoGhostWorker
		}
		return h.AwaitApplied(ctx, file, pos)
	}
	g, err := cutover.New(cutover.Config{
		Interval: 100 * time.Millisecond,
		Approval: cutover.Approval{Mode: cutover.ApprovalAuto},
		Checksum: cutover.Checksum{Enabled: true},
	}, cutover.Deps{DB: f.d.Primary, Engine: engine, AwaitApplied: applied, Events: cr.events})
	require.NoError(t, err)
	cr.gate = g
	return cr
}

// start runs ddl; before (optional) runs when gh-ost is ready, before the gate is asked.
func (cr *checksumRun) start(t *testing.T, ctx context.Context, ddl string, before func()) *runner.Handle {
	t.Helper()
	gate := gateFunc(func(ctx context.Context, tg runner.Target) error {
		now := time.Now()
		if cr.began.CompareAndSwap(nil, &now) && before != nil {
			before()
		}
		return cr.gate.Await(ctx, tg)
	})
	h, err := cr.f.runner.Start(ctx, cr.f.plan(t, ddl), runner.RunOptions{Gate: gate})
	require.NoError(t, err)
	cr.handle.Store(h)
	return h
}

// checksumRows is the table size: 30,000 by default, GG_CHECKSUM_ROWS to measure bigger ones.
func checksumRows(t *testing.T) int64 {
	if s := os.Getenv("GG_CHECKSUM_ROWS"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	return 30_000
}

func newMirroredFixture(t *testing.T, rows int64) *fixture {
	t.Helper()
	f := newFixture(t, sandboxtest.Env(t), rows, nil)
	f.d.Exec(t, "CREATE TABLE items_ref LIKE items", "INSERT INTO items_ref SELECT * FROM items")
	return f
}

// TestGateChecksumUnderSustainedWrites: with a writer at about 200 transactions per second over
// the whole key range, the gate's checksum passes (no mismatch is ever reported), the gate opens,
// and after the cut-over the table equals the reference table on the primary and the replica.
// The test also runs the same migration with no writer, and logs how long the checksum took and
// the writer's longest transaction while it ran.
func TestGateChecksumUnderSustainedWrites(t *testing.T) {
	rows := checksumRows(t)
	for _, rate := range []int{0, 200} {
		t.Run(fmt.Sprintf("%d_tx_per_s", rate), func(t *testing.T) {
			f := newMirroredFixture(t, rows)
			var w *mirrorWriter
			if rate > 0 {
				w = startMirrorWriter(t, f.d.Primary, rows, 0, rate)
			}
			cr := newChecksumRun(t, f)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			var beforeGate time.Duration // the writer's longest transaction during the copy, for comparison
			h := cr.start(t, ctx, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0", func() {
				if w != nil {
					beforeGate = w.worstStall()
					w.resetWorst()
				}
			})
			// The checksum's duration: from the gate's first ask to its line turning OK.
			var took, stall time.Duration
			var txsAtStart, txsAtEnd int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				for cr.began.Load() == nil {
					select {
					case <-h.Done():
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
				if w != nil {
					txsAtStart = w.txs.Load()
				}
				for {
					if l, ok := cr.gate.Checklist().Line(cutover.LineChecksum); ok && l.OK {
						took = time.Since(*cr.began.Load())
						if w != nil {
							stall, txsAtEnd = w.worstStall(), w.txs.Load()
						}
						return
					}
					select {
					case <-h.Done():
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}()
			res, err := h.Wait()
			<-done
			require.NoError(t, err, "%+v", cr.events.of(cutover.EventGateWaiting))
			assert.Empty(t, cr.events.of(cutover.EventChecksumMismatch), "a false mismatch")
			require.NotEmpty(t, cr.events.of(cutover.EventGateOpened))
			require.NotZero(t, took, "the checksum line never turned OK")
			opened := cr.events.of(cutover.EventGateOpened)[0].Data.(cutover.Checklist)
			l, _ := opened.Line(cutover.LineChecksum)
			msg := fmt.Sprintf("checksum of %d rows at %d tx/s: %s (%s; %s)", rows, rate, took.Round(time.Millisecond), l.Value, l.Detail)
			if w != nil {
				require.NoError(t, w.halt())
				msg += fmt.Sprintf("; writer: %d tx (%.0f/s) during the checksum, %d deadlocks retried, longest transaction during it %s (during the copy before it: %s); from the gate on %s (the cut-over held its lock %s)",
					txsAtEnd-txsAtStart, float64(txsAtEnd-txsAtStart)/took.Seconds(), w.retries.Load(), stall.Round(time.Millisecond),
					beforeGate.Round(time.Millisecond), w.worstStall().Round(time.Millisecond), res.CutOverLock.Round(time.Millisecond))
			}
			t.Log(msg)
			f.d.WaitReplica(t)
			requireMirrored(t, f.d.Primary, "primary")
			requireMirrored(t, f.d.Replica, "replica")
			assert.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
		})
	}
}

// TestGateChecksumNamesATamperedRow: a row changed directly in the ghost table (behind gh-ost's
// back) while the writer runs is a mismatch: the gate stays closed and names the key range, the
// row and the column. Cancelled, the migration leaves the original equal to the reference.
func TestGateChecksumNamesATamperedRow(t *testing.T) {
	const rows = 20_000
	const tampered = 12_345 // a key the writer leaves alone, so that no write heals it
	f := newMirroredFixture(t, rows)
	w := startMirrorWriter(t, f.d.Primary, rows, tampered, 200)
	cr := newChecksumRun(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h := cr.start(t, ctx, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0", func() {
		_, err := f.d.Primary.Exec("UPDATE "+ghost.GhostTable("items")+" SET c = 'tampered' WHERE id = ?", tampered)
		assert.NoError(t, err)
	})
	var l cutover.Line
	require.Eventually(t, func() bool {
		l, _ = cr.gate.Checklist().Line(cutover.LineChecksum)
		return strings.Contains(l.Value, "mismatching chunk")
	}, 3*time.Minute, 50*time.Millisecond, "no mismatch reported: %+v", cr.gate.Checklist())
	t.Log(l.Detail)
	assert.Contains(t, l.Detail, fmt.Sprintf("row id = %d differs in c", tampered))
	assert.Regexp(t, `id in \(\d+, \d+\]`, l.Detail)
	ms := cr.events.of(cutover.EventChecksumMismatch)
	require.Len(t, ms, 1)
	m := ms[0].Data.(cutover.Mismatch)
	assert.Equal(t, []string{strconv.Itoa(tampered)}, m.Row.Key)
	assert.Equal(t, []string{"c"}, m.Row.Columns)
	lo, _ := strconv.Atoi(m.Range.From[0])
	hi, _ := strconv.Atoi(m.Range.To[0])
	assert.True(t, lo < tampered && tampered <= hi, "range %s holds the row", m.Range)
	time.Sleep(time.Second)
	assert.Empty(t, cr.events.of(cutover.EventGateOpened), "the gate must stay closed")
	h.Cancel()
	_, err := h.Wait()
	require.ErrorIs(t, err, runner.ErrCancelled)
	require.NoError(t, w.halt())
	f.d.WaitReplica(t)
	requireMirrored(t, f.d.Primary, "primary")
	requireMirrored(t, f.d.Replica, "replica")
	assert.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"))
}
