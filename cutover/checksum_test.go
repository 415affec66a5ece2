package cutover_test

import (
	"context"
	"strings"
	"testing"
	"time"

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

func checksumGate(t *testing.T, d *sandboxtest.DB, eng *engine, ev *sink, rechecks int) *cutover.Gate {
	t.Helper()
	cfg := quiet()
	cfg.Checksum = cutover.Checksum{Enabled: true, ChunkSize: 7, Rechecks: rechecks, RecheckWait: 100 * time.Millisecond}
	g, err := cutover.New(cfg, cutover.Deps{DB: d.Primary, Engine: eng.state, Events: ev})
	require.NoError(t, err)
	return g
}

func TestChecksumIdentical(t *testing.T) {
	d := checksumTable(t)
	g := checksumGate(t, d, readyEngine(), &sink{}, 2)
	a := startAwait(t, g, target(d))
	require.NoError(t, a.result(t, 20*time.Second))
	l, ok := g.Checklist().Line(cutover.LineChecksum)
	require.True(t, ok)
	assert.True(t, l.OK)
	assert.Equal(t, "15 chunks, 100 rows match", l.Value) // 100 rows in chunks of 7
}

func TestChecksumMismatch(t *testing.T) {
	cases := map[string]string{
		"changed value":   "UPDATE _t_gho SET s = 'other' WHERE a = 20 AND b = 'k1'",
		"NULL vs empty":   "UPDATE _t_gho SET bin = '' WHERE a = 20 AND b = 'k0' AND bin IS NULL", // seq 60
		"missing row":     "DELETE FROM _t_gho WHERE a = 20 AND b = 'k1'",
		"extra row (end)": "INSERT INTO _t_gho (a, b) VALUES (999, 'zz')",
	}
	for name, inject := range cases {
		t.Run(name, func(t *testing.T) {
			d := checksumTable(t)
			d.Exec(t, inject)
			ev := &sink{}
			g := checksumGate(t, d, readyEngine(), ev, 2)
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
			e, ok := ev.find(cutover.EventChecksumMismatch)
			require.True(t, ok)
			assert.IsType(t, cutover.Mismatch{}, e.Data)
			time.Sleep(200 * time.Millisecond)
			a.stillWaiting(t)
		})
	}
}

// A chunk that differs only until the applier catches up passes: the recheck waits for the
// engine's backlog to drain, and the row is fixed meanwhile (as gh-ost's applier would).
func TestChecksumTransientMismatch(t *testing.T) {
	d := checksumTable(t)
	d.Exec(t, "UPDATE _t_gho SET n = -1 WHERE a = 0 AND b = 'k1'") // in the first chunk
	eng := readyEngine()
	eng.backlog.Store(3) // the applier is behind
	g := checksumGate(t, d, eng, &sink{}, 20)
	a := startAwait(t, g, target(d))
	time.Sleep(time.Second) // the first chunk has been compared and is waiting for the backlog
	running, _ := g.Checklist().Line(cutover.LineChecksum)
	assert.False(t, running.OK)
	assert.True(t, running.Pending, "a pass still running is pending, not failing: %+v", running)
	assert.True(t, strings.HasPrefix(running.Value, "running: "), running.Value)
	_, err := d.Primary.ExecContext(context.Background(), "UPDATE _t_gho g JOIN t USING (a, b) SET g.n = t.n WHERE a = 0 AND b = 'k1'")
	require.NoError(t, err)
	eng.backlog.Store(0)
	require.NoError(t, a.result(t, 20*time.Second))
	l, _ := g.Checklist().Line(cutover.LineChecksum)
	assert.True(t, l.OK)
	assert.Contains(t, l.Detail, "1 chunk(s) matched on recheck")
}

// Rows under live writes (each reaching the ghost table a moment after the original, as gh-ost
// applies them) make their chunk busy, never a mismatch; once the writes stop it settles and
// matches. A busy chunk keeps the gate closed.
func TestChecksumBusyChunkSettles(t *testing.T) {
	d := checksumTable(t)
	ev := &sink{}
	g := checksumGate(t, d, readyEngine(), ev, 3)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		// The ghost table is always one row behind the original while the writes go on, and
		// catches up when they stop: the applier's lag.
		defer close(done)
		i := 1000
		for ; ctx.Err() == nil; i++ {
			if _, err := d.Primary.Exec("INSERT INTO t (a, b, n) VALUES (?, 'live', ?)", i, i); err != nil {
				return
			}
			if i > 1000 {
				if _, err := d.Primary.Exec("INSERT INTO _t_gho (a, b, n) VALUES (?, 'live', ?)", i-1, i-1); err != nil {
					return
				}
			}
			time.Sleep(40 * time.Millisecond)
		}
		_, _ = d.Primary.Exec("INSERT INTO _t_gho (a, b, n) VALUES (?, 'live', ?)", i-1, i-1)
	}()
	a := startAwait(t, g, target(d))
	l := waitLine(t, g, cutover.LineChecksum, func(l cutover.Line) bool { return strings.Contains(l.Value, "still changing") }, 20*time.Second)
	assert.False(t, l.OK)
	assert.True(t, l.Pending, "chunks under live writes are compared again: pending")
	assert.Contains(t, l.Detail, "under live writes")
	time.Sleep(2 * time.Second)
	a.stillWaiting(t)
	_, found := ev.find(cutover.EventChecksumMismatch)
	assert.False(t, found, "live writes are not a mismatch")

	stop()
	<-done
	require.NoError(t, a.result(t, 20*time.Second))
	l, _ = g.Checklist().Line(cutover.LineChecksum)
	assert.True(t, l.OK, l.Value+" "+l.Detail)
}
