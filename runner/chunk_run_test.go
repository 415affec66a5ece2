package runner_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/internal/sandbox/sandboxtest"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/runner/ghost"
)

// waitProgress waits for a progress event matching pred and returns it.
func waitProgress(t *testing.T, evs *events, timeout time.Duration, what string, pred func(migration.Progress) bool) migration.Progress {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ev, ok := evs.find(func(e runner.Event) bool { return e.Progress != nil && pred(*e.Progress) }); ok {
			return *ev.Progress
		}
		time.Sleep(20 * time.Millisecond)
	}
	p, _ := lastProgress(evs)
	t.Fatalf("no progress %s within %v; last: %+v", what, timeout, p)
	return migration.Progress{}
}

// Chunks are sized by time by default: on the quiet sandbox 1000-row chunks take far less than
// the 0.5s target, so the size grows; a throttle halves it at once; a size set by an operator
// stays. The size and its reason are in the progress and the metrics.
func TestRunSizesChunksByTime(t *testing.T) {
	var unhealthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	// Nice ratio 3: the copy lasts long enough to throttle it halfway (the meter takes the
	// sleeps out of the chunk's time).
	f := newFixture(t, sandboxtest.Env(t), 400_000, func(c *runner.Config) {
		c.Throttle.HTTPURL = srv.URL
		c.Ghost.NiceRatio = 3
	})
	var evs events
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"),
		runner.RunOptions{OnEvent: evs.add})
	require.NoError(t, err)
	t.Cleanup(func() { h.Cancel(); _, _ = h.Wait() })

	first := waitProgress(t, &evs, 60*time.Second, "copying", func(p migration.Progress) bool { return p.Phase == migration.PhaseCopying })
	assert.Equal(t, int64(1000), first.ChunkSize, "starts at the configured size")
	// Two growth steps at least (a step grows up to fourfold, chunk.Growth).
	grown := waitProgress(t, &evs, 30*time.Second, "with a grown chunk", func(p migration.Progress) bool { return p.ChunkSize > 4000 })
	assert.True(t, strings.HasPrefix(grown.ChunkReason, "grow: "), grown.ChunkReason)
	require.Less(t, grown.Ratio, 0.9, "copy nearly done before the throttle; use more rows")

	unhealthy.Store(true)
	shrunk := waitProgress(t, &evs, 10*time.Second, "shrunk on throttle", func(p migration.Progress) bool {
		return strings.HasPrefix(p.ChunkReason, "shrink_throttle: ")
	})
	assert.Contains(t, shrunk.ChunkReason, "http")
	assert.True(t, shrunk.Throttled)
	unhealthy.Store(false)

	require.NoError(t, h.SetChunkSize(700, "dba"))
	set := waitProgress(t, &evs, 10*time.Second, "set by the operator", func(p migration.Progress) bool {
		return strings.HasPrefix(p.ChunkReason, "operator: ")
	})
	assert.Equal(t, int64(700), set.ChunkSize)

	res, err := h.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
	last, _ := lastProgress(&evs)
	assert.Equal(t, int64(700), last.ChunkSize, "the operator's size stayed")

	var path []string // the sizes the copy went through, for the log
	for _, e := range evs.all {
		if p := e.Progress; p != nil && p.Phase == migration.PhaseCopying && (len(path) == 0 || !strings.HasSuffix(path[len(path)-1], p.ChunkReason)) {
			path = append(path, fmt.Sprintf("%d %s", p.ChunkSize, p.ChunkReason))
		}
	}
	t.Logf("chunk sizes:\n%s", strings.Join(path, "\n"))

	reg := prometheus.NewRegistry()
	reg.MustRegister(f.metrics)
	families, err := reg.Gather()
	require.NoError(t, err)
	kinds := map[string]float64{}
	for _, mf := range families {
		if mf.GetName() == "ghostgate_chunk_resizes_total" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "kind" {
						kinds[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	assert.GreaterOrEqual(t, kinds["grow"], 2.0)
	assert.GreaterOrEqual(t, kinds["shrink_throttle"], 1.0, "%v", kinds)
	assert.Equal(t, 1.0, kinds["operator"], "%v", kinds)
}

// A copy starts from this server's measured copy rate, not from gh-ost's 1000 rows: after one
// copy on the fixture's store, the next starts at a quarter of what that copy did in one target
// time, and says so in the progress.
func TestRunStartsChunksFromThisServersRate(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 200_000, nil)
	var evs events
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"), runner.RunOptions{OnEvent: evs.add})
	require.NoError(t, err)
	_, err = h.Wait()
	require.NoError(t, err)
	first := waitProgress(t, &evs, time.Second, "copying", func(p migration.Progress) bool { return p.Phase == migration.PhaseCopying })
	require.Equal(t, int64(1000), first.ChunkSize, "nothing measured on this store yet")

	rate, err := f.store.CopyRate(context.Background(), "", 5)
	require.NoError(t, err)
	require.Equal(t, 1, rate.Samples)
	want := int64(rate.RowsPerSecond * 0.5 / 4)
	require.Greater(t, want, int64(1000), "the first copy was too slow to start the next one higher (%.0f rows/s)", rate.RowsPerSecond)

	var again events
	h, err = f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k INT NOT NULL DEFAULT 0"), runner.RunOptions{OnEvent: again.add})
	require.NoError(t, err)
	_, err = h.Wait()
	require.NoError(t, err)
	second := waitProgress(t, &again, time.Second, "copying", func(p migration.Progress) bool { return p.Phase == migration.PhaseCopying })
	assert.InDelta(t, float64(min(want, 100_000)), float64(second.ChunkSize), 1, "the second copy's first size")
	assert.Contains(t, second.ChunkReason, "started at a quarter of the")
	require.Equal(t, "int(11)", f.d.ColumnType(t, "items", "k"))
}

// The nice ratio changes while gh-ost copies: gh-ost itself reports the new ratio, the copy slows
// by about its factor, a worker resumed after a kill -9 keeps it, and 0 gives the full speed
// back. Out-of-range ratios are refused before anything is sent.
func TestRunNiceRatioAtRuntime(t *testing.T) {
	f := newFixture(t, sandboxtest.Env(t), 300_000, func(c *runner.Config) {
		c.Chunk.Fixed = true
		c.Ghost.ChunkSize = 1000
	})
	var evs events
	h, err := f.runner.Start(context.Background(), f.plan(t, "ALTER TABLE items MODIFY k BIGINT NOT NULL DEFAULT 0"),
		runner.RunOptions{OnEvent: evs.add})
	require.NoError(t, err)
	t.Cleanup(func() { h.Cancel(); _, _ = h.Wait() })

	// chunksPerSecond measures gh-ost's chunks between two progress reports at least d apart.
	chunksPerSecond := func(d time.Duration) float64 {
		t.Helper()
		from, _ := lastProgress(&evs)
		to := waitProgress(t, &evs, d+10*time.Second, "a report "+d.String()+" later", func(p migration.Progress) bool {
			return p.Time.Sub(from.Time) >= d
		})
		require.Equal(t, migration.PhaseCopying, to.Phase, "the copy ended while measured; use more rows")
		return float64(to.ChunksCopied-from.ChunksCopied) / to.Time.Sub(from.Time).Seconds()
	}
	waitProgress(t, &evs, 60*time.Second, "copying", func(p migration.Progress) bool {
		return p.Phase == migration.PhaseCopying && p.ChunksCopied > 0
	})
	assert.Zero(t, h.NiceRatio(), "the configured ratio before any change")
	full := chunksPerSecond(300 * time.Millisecond) // for the log: the copy is over in a second or two

	for _, bad := range []float64{-1, 101, math.NaN()} {
		require.Error(t, h.SetNiceRatio(bad, "dba"), "ratio %v", bad)
	}
	require.NoError(t, h.SetNiceRatio(100, "dba"))
	assert.Equal(t, 100.0, h.NiceRatio())
	set := time.Now()
	waitProgress(t, &evs, 10*time.Second, "gh-ost reporting ratio 100", func(p migration.Progress) bool {
		return p.NiceRatio == 100 && p.Time.After(set)
	})
	slowed := chunksPerSecond(3 * time.Second)
	t.Logf("chunks/s: %.1f at nice 0, %.1f at nice 100", full, slowed)
	// After each chunk gh-ost sleeps 100 times the chunk's own time, and a chunk of 1000 rows
	// (its range query, the INSERT … SELECT, the commit) takes over 3 ms on the sandbox even when
	// it is idle: at most 3 chunks a second, fewer on a busier box, where a copy that ignored the
	// ratio does a hundred or more.
	assert.Less(t, slowed, 10.0, "the copy did not slow down with the ratio")

	// A worker killed after its first checkpoint is resumed with the ratio set, not the configured one.
	require.Eventually(t, func() bool {
		var n int
		return f.d.Primary.QueryRow("SELECT COUNT(*) FROM "+ghost.CheckpointTable("items")).Scan(&n) == nil && n > 0
	}, time.Minute, 100*time.Millisecond, "gh-ost never checkpointed")
	pid := workerPid(t)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { p := workerPidOrZero(); return p != 0 && p != pid }, time.Minute, 50*time.Millisecond, "no new worker after the kill")
	killed := time.Now()
	waitProgress(t, &evs, time.Minute, "the resumed worker copying at ratio 100", func(p migration.Progress) bool {
		return p.Time.After(killed) && p.Phase == migration.PhaseCopying && p.NiceRatio == 100
	})

	require.NoError(t, h.SetNiceRatio(0, "dba"))
	res, err := h.Wait()
	require.NoError(t, err)
	require.Equal(t, migration.StatusComplete, res.Status)
	require.Equal(t, "bigint(20)", f.d.ColumnType(t, "items", "k"))
	require.Error(t, h.SetNiceRatio(1, "dba"), "no worker runs any more")
}
