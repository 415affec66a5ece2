package cutover_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
)

// checksumTable creates t with a composite primary key, NULLs and many types, and its ghost
// _t_gho as gh-ost would after "MODIFY n BIGINT, CONVERT s to utf8mb4, ADD COLUMN extra":
// different column types and charsets, one column more.
func checksumTable(t *testing.T) *sandboxtest.DB {
	t.Helper()
	d := sandboxtest.New(t)
	d.Exec(t,
		`CREATE TABLE t (a INT NOT NULL, b VARCHAR(20) NOT NULL, n INT NULL, s VARCHAR(30) CHARACTER SET latin1 NULL,
			f DOUBLE NULL, dt DATETIME(3) NULL, bin VARBINARY(8) NULL, e ENUM('x','y') NULL, PRIMARY KEY (a, b))`,
		`INSERT INTO t
			SELECT seq DIV 3, CONCAT('k', seq MOD 3), IF(seq MOD 5 = 0, NULL, seq * 7),
				IF(seq MOD 7 = 0, NULL, IF(seq MOD 2 = 0, 'caf\xe9', CONCAT('s', seq))),
				seq / 3, '2024-01-02 03:04:05.678' + INTERVAL seq SECOND,
				IF(seq MOD 4 = 0, NULL, UNHEX(HEX(seq))), IF(seq MOD 2 = 0, 'x', NULL)
			FROM seq_1_to_100`,
		"CREATE TABLE _t_gho LIKE t",
		"ALTER TABLE _t_gho MODIFY n BIGINT NULL, MODIFY s VARCHAR(30) CHARACTER SET utf8mb4 NULL, ADD COLUMN extra INT NOT NULL DEFAULT 42",
		"INSERT INTO _t_gho (a, b, n, s, f, dt, bin, e) SELECT a, b, n, s, f, dt, bin, e FROM t",
	)
	return d
}

// applier stands in for gh-ost's applier in these tests, which compare hand-made tables: await
// is called with the primary's binlog position each time the checksum waits for the ghost table
// to catch up (Deps.AwaitApplied). Nil await means nothing writes: the ghost table is as applied
// as it will ever be. The real thing is tested against gh-ost in the runner's
// TestGateChecksumUnderSustainedWrites and TestGateChecksumNamesATamperedRow.
type applier struct {
	calls atomic.Int64
	await func(ctx context.Context, call int64) error
}

func (a *applier) awaitApplied(ctx context.Context, file string, pos uint64) error {
	n := a.calls.Add(1)
	if file == "" || pos == 0 {
		return fmt.Errorf("no binlog position: %q:%d", file, pos)
	}
	if a.await == nil {
		return nil
	}
	return a.await(ctx, n)
}

func checksumGate(t *testing.T, d *sandboxtest.DB, eng *engine, ev *sink, ap *applier, chunk int) *cutover.Gate {
	t.Helper()
	cfg := quiet()
	cfg.Checksum = cutover.Checksum{Enabled: true, ChunkSize: chunk, Rechecks: 3, RecheckWait: 50 * time.Millisecond, ApplyTimeout: 500 * time.Millisecond}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: eng.state, Events: ev, AwaitApplied: ap.awaitApplied})
	require.NoError(t, err)
	return g
}

// The checksum cannot be exact without the engine's applied position: New refuses.
func TestChecksumNeedsAppliedPosition(t *testing.T) {
	d := sandboxtest.New(t)
	cfg := quiet()
	cfg.Checksum.Enabled = true
	_, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: readyEngine().state})
	require.ErrorIs(t, err, cutover.ErrConfig)
	assert.Contains(t, err.Error(), "AwaitApplied")
}

func TestChecksumIdentical(t *testing.T) {
	d := checksumTable(t)
	ap := &applier{}
	g := checksumGate(t, d, readyEngine(), &sink{}, ap, 7)
	a := startAwait(t, g, target(d))
	require.NoError(t, a.result(t, 20*time.Second))
	l, ok := g.Checklist().Line(cutover.LineChecksum)
	require.True(t, ok)
	assert.True(t, l.OK)
	assert.Equal(t, "15 chunks, 100 rows match", l.Value) // 100 rows in chunks of 7
	assert.Equal(t, int64(15), ap.calls.Load(), "one wait for the applier per chunk")
}

func TestChecksumMismatch(t *testing.T) {
	cases := map[string]struct{ inject, row string }{
		"changed value":   {"UPDATE _t_gho SET s = 'other' WHERE a = 20 AND b = 'k1'", "row (a, b) = (20, k1) differs in s"},
		"NULL vs empty":   {"UPDATE _t_gho SET bin = '' WHERE a = 20 AND b = 'k0' AND bin IS NULL", "row (a, b) = (20, k0) differs in bin"}, // seq 60
		"missing row":     {"DELETE FROM _t_gho WHERE a = 20 AND b = 'k1'", "row (a, b) = (20, k1) is missing from the ghost table"},
		"extra row (end)": {"INSERT INTO _t_gho (a, b) VALUES (999, 'zz')", "row (a, b) = (999, zz) is only in the ghost table"},
		"two columns":     {"UPDATE _t_gho SET n = n + 1, e = 'y' WHERE a = 20 AND b = 'k1'", "row (a, b) = (20, k1) differs in n, e"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := checksumTable(t)
			d.Exec(t, tc.inject)
			ev := &sink{}
			g := checksumGate(t, d, readyEngine(), ev, &applier{}, 7)
			a := startAwait(t, g, target(d))
			l := waitLine(t, g, cutover.LineChecksum, func(l cutover.Line) bool { return l.Value != "" && l.Detail != "" && !l.OK }, 20*time.Second)
			assert.Contains(t, l.Value, "mismatching chunk")
			assert.False(t, l.Pending, "a mismatch is a failure, not pending")
			if name == "extra row (end)" {
				assert.Contains(t, l.Detail, "+inf)")
			} else {
				// Keys in order: (0,k1), (0,k2), (1,k0), ...; chunks of 7 end at the 56th key
				// (18,k2) and the 63rd (21,k0): (20,k0) and (20,k1) are in the 9th chunk.
				assert.Contains(t, l.Detail, "(a, b) in ((18, k2), (21, k0)]")
			}
			assert.Contains(t, l.Detail, tc.row)
			e, ok := ev.find(cutover.EventChecksumMismatch)
			require.True(t, ok)
			require.IsType(t, cutover.Mismatch{}, e.Data)
			assert.Contains(t, e.Message, tc.row)
			time.Sleep(200 * time.Millisecond)
			a.stillWaiting(t)
		})
	}
}

// A chunk is compared only once the applier says it has applied the binlog up to the position
// the original's chunk was read at: the checksum waits (pending, "running") meanwhile, and a ghost
// table that is behind until then is not a mismatch.
func TestChecksumWaitsForTheApplier(t *testing.T) {
	d := checksumTable(t)
	d.Exec(t, "UPDATE _t_gho SET n = -1 WHERE a = 0 AND b = 'k1'") // in the first chunk: the applier is behind
	caughtUp := make(chan struct{})
	waiting := make(chan struct{}, 1)
	ap := &applier{await: func(ctx context.Context, call int64) error {
		if call == 1 {
			waiting <- struct{}{}
			select { // the test applies the write, then lets the applier report it
			case <-caughtUp:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	ev := &sink{}
	g := checksumGate(t, d, readyEngine(), ev, ap, 7)
	a := startAwait(t, g, target(d))
	<-waiting
	// The checklist is published by the gate's check loop, which may not have shown this pass yet.
	running := waitLine(t, g, cutover.LineChecksum, func(l cutover.Line) bool { return l.Name != "" }, 10*time.Second)
	assert.False(t, running.OK)
	assert.True(t, running.Pending, "a pass still running is pending, not failing: %+v", running)
	_, err := d.Primary.ExecContext(context.Background(), "UPDATE _t_gho g JOIN t USING (a, b) SET g.n = t.n WHERE a = 0 AND b = 'k1'")
	require.NoError(t, err)
	close(caughtUp)
	require.NoError(t, a.result(t, 20*time.Second))
	l, _ := g.Checklist().Line(cutover.LineChecksum)
	assert.True(t, l.OK, l.Value+" "+l.Detail)
	assert.Empty(t, l.Detail, "matched at the first look")
	_, found := ev.find(cutover.EventChecksumMismatch)
	assert.False(t, found)
}

// An applier that does not get there (a throttled gh-ost) leaves the chunk busy, with the
// reason, never a mismatch; once it applies, the chunk is compared again and matches.
func TestChecksumApplierBehindIsBusy(t *testing.T) {
	d := checksumTable(t)
	var applying atomic.Bool
	ap := &applier{await: func(ctx context.Context, _ int64) error {
		if applying.Load() {
			return nil
		}
		<-ctx.Done() // ApplyTimeout
		return errors.New("applied through binlog.000001:4, not yet")
	}}
	ev := &sink{}
	g := checksumGate(t, d, readyEngine(), ev, ap, 50)
	a := startAwait(t, g, target(d))
	l := waitLine(t, g, cutover.LineChecksum, func(l cutover.Line) bool { return strings.Contains(l.Value, "still changing") }, 30*time.Second)
	assert.False(t, l.OK)
	assert.True(t, l.Pending, "undecided chunks are compared again: pending")
	assert.Contains(t, l.Detail, "the engine had not applied the binlog through")
	assert.Contains(t, l.Detail, "applied through binlog.000001:4, not yet")
	a.stillWaiting(t)
	applying.Store(true)
	require.NoError(t, a.result(t, 20*time.Second))
	l, _ = g.Checklist().Line(cutover.LineChecksum)
	assert.True(t, l.OK, l.Value+" "+l.Detail)
	_, found := ev.find(cutover.EventChecksumMismatch)
	assert.False(t, found, "a slow applier is not a mismatch")
}

// A write that lands after the position the original's chunk was read at, and that the applier
// already applied, makes the first look differ (the ghost table is ahead); the strict recheck
// holds the chunk's share locks until the ghost's chunk is read (a writer cannot get in: NOWAIT
// fails), and matches. The first look had released its locks (the same NOWAIT succeeds).
func TestChecksumStrictRecheckHoldsTheLocks(t *testing.T) {
	d := checksumTable(t)
	var firstLocked, strictLocked error
	ap := &applier{await: func(ctx context.Context, call int64) error {
		lockRow := func() error {
			tx, err := d.Primary.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			_, err = tx.ExecContext(ctx, "SELECT n FROM t WHERE a = 3 AND b = 'k0' FOR UPDATE NOWAIT")
			return err
		}
		switch call {
		case 1: // the first look: no lock held; a writer writes the row and gh-ost applies it
			firstLocked = lockRow()
			for _, q := range []string{"UPDATE t SET n = 777 WHERE a = 3 AND b = 'k0'", "UPDATE _t_gho SET n = 777 WHERE a = 3 AND b = 'k0'"} {
				if _, err := d.Primary.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		case 2: // the strict look: the chunk is share-locked
			strictLocked = lockRow()
		}
		return nil
	}}
	ev := &sink{}
	g := checksumGate(t, d, readyEngine(), ev, ap, 1000) // one chunk
	a := startAwait(t, g, target(d))
	require.NoError(t, a.result(t, 20*time.Second))
	l, _ := g.Checklist().Line(cutover.LineChecksum)
	assert.True(t, l.OK, l.Value+" "+l.Detail)
	assert.Contains(t, l.Detail, "1 chunk(s) matched on recheck")
	assert.NoError(t, firstLocked, "the first look must not hold its locks while it waits")
	var me *mysql.MySQLError
	require.ErrorAs(t, strictLocked, &me, "the strict look must hold its locks while it waits")
	assert.Equal(t, uint16(1205), me.Number, me.Message)
	assert.Equal(t, int64(2), ap.calls.Load())
	_, found := ev.find(cutover.EventChecksumMismatch)
	assert.False(t, found)
}
