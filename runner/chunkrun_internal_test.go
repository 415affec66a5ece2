package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/chunk"
)

// The chunker turns the primary's row-lock time counter into waiting per second, and a manual
// pause (unlike a throttle of our throttler) does not shrink the chunks.
func TestChunkerSignals(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rep := func(s float64, rows int64, throttled bool, source string) migration.Progress {
		at := t0.Add(time.Duration(s * float64(time.Second)))
		return migration.Progress{Time: at, Phase: migration.PhaseCopying,
			RowsCopied: rows, ChunksCopied: rows / 8000, LastChunkAt: at, Throttled: throttled, ThrottleSource: source}
	}
	c := newChunker(chunk.Config{}, 8000, 0, "")
	_, _, changed := c.step(rep(0, 0, false, ""), 0, true)
	assert.False(t, changed)
	n, r, changed := c.step(rep(1, 80_000, false, ""), 120*time.Millisecond, true) // 120ms/s of waiting
	assert.True(t, changed)
	assert.Equal(t, int64(4000), n)
	assert.Equal(t, chunk.KindShrinkLoad, r.Kind, r.Detail)

	_, _, changed = c.step(rep(1.5, 90_000, true, "manual"), 120*time.Millisecond, true)
	assert.False(t, changed, "a manual pause is no reason to shrink")
	_, _, changed = c.step(rep(2, 90_000, false, ""), 120*time.Millisecond, true)
	assert.False(t, changed)
	n, r, changed = c.step(rep(2.5, 95_000, true, "replica_lag"), 120*time.Millisecond, true)
	assert.True(t, changed)
	assert.Equal(t, int64(2000), n)
	assert.Equal(t, chunk.KindShrinkThrottle, r.Kind, r.Detail)

	c.setByOperator(500, "set by an operator")
	_, _, changed = c.step(rep(3, 95_000, false, ""), time.Second, true)
	assert.False(t, changed, "an operator's size stays")
	n, r = c.current()
	assert.Equal(t, int64(500), n)
	assert.Equal(t, chunk.KindOperator, r.Kind)
	assert.Equal(t, int64(500), c.restartAt(8000), "a worker resumed after a crash starts at the operator's size")
	n, r = c.current()
	assert.Equal(t, int64(500), n)
	assert.Equal(t, chunk.KindOperator, r.Kind)
	assert.Equal(t, "set by an operator; no longer sized by time", r.Detail)
}

// Without an operator's size, a resumed worker starts at the first one's starting size and is
// sized by time again from there.
func TestChunkerRestartAt(t *testing.T) {
	c := newChunker(chunk.Config{}, 36_000, 0, "")
	c.size = 100_000 // grown since
	assert.Equal(t, int64(36_000), c.restartAt(36_000))
	n, r := c.current()
	assert.Equal(t, int64(36_000), n)
	assert.Equal(t, chunk.KindHold, r.Kind)
	assert.False(t, c.operator)
}

// After a shrink on the application's lock waits, the chunker grows back only to three quarters
// of the size that made them wait, and that ceiling rises by a quarter every 10 s without another.
func TestChunkerLockWaitCeiling(t *testing.T) {
	t0 := time.Unix(1000, 0)
	chunks := int64(0)
	rep := func(s float64) migration.Progress { // one 100ms chunk ending at each report
		chunks++
		at := t0.Add(time.Duration(s * float64(time.Second)))
		return migration.Progress{Time: at, Phase: migration.PhaseCopying, ChunksCopied: chunks, LastChunkAt: at}
	}
	c := newChunker(chunk.Config{Quiet: time.Nanosecond}, 40_000, 0, "")
	c.step(rep(0), 0, true)
	c.step(rep(0.5), 100*time.Millisecond, true)
	n, r, _ := c.step(rep(1), 200*time.Millisecond, true) // 200ms/s of waiting, over a second
	assert.Equal(t, int64(20_000), n)
	assert.Equal(t, chunk.KindShrinkLoad, r.Kind, r.Detail)

	// No more waiting from here on; a 100ms chunk every 100ms, for 15s.
	var before, after int64 // the largest size within 10s of the shrink, and in the 5s after
	var held chunk.Reason
	for i := 11; i <= 150; i++ {
		s := float64(i) / 10
		n, r, _ := c.step(rep(s), 200*time.Millisecond, true)
		if s < 10 {
			before = max(before, n)
			if r.Kind == chunk.KindHold && n == before {
				held = r
			}
		} else {
			after = max(after, n)
		}
	}
	assert.Equal(t, int64(30_000), before, "grown back to 3/4 of the 40000 that made the application wait, not doubled")
	assert.Contains(t, held.Detail, "below the 40000 rows at which the application waited on row locks")
	assert.Equal(t, int64(37_500), after, "10s later the ceiling is a quarter higher")
}

// The application's lock waiting is averaged over up to 2 s (at least 1 s): one 60 ms wait in one
// half-second report is no reason to halve, waiting that goes on is.
func TestChunkerLockWaitWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	chunks := int64(0)
	rep := func(s float64) migration.Progress {
		chunks++
		at := t0.Add(time.Duration(s * float64(time.Second)))
		return migration.Progress{Time: at, Phase: migration.PhaseCopying, ChunksCopied: chunks, LastChunkAt: at}
	}
	c := newChunker(chunk.Config{Quiet: time.Hour}, 8000, 0, "")
	for i, lock := range []time.Duration{0, 0, 0, 60 * time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond} {
		_, r, changed := c.step(rep(float64(i)/2), lock, true)
		assert.False(t, changed, "one wait of 60ms at %.1fs halved the chunks: %s", float64(i)/2, r.Detail)
	}
	var shrunk bool
	lock := 60 * time.Millisecond
	for i := 6; i < 12 && !shrunk; i++ { // 40ms every half second: 80ms/s
		lock += 40 * time.Millisecond
		n, r, changed := c.step(rep(float64(i)/2), lock, true)
		if changed {
			shrunk = true
			assert.Equal(t, int64(4000), n)
			assert.Equal(t, chunk.KindShrinkLoad, r.Kind, r.Detail)
			assert.LessOrEqual(t, i, 8, "the waiting showed only after %.1fs", float64(i-6)/2)
		}
	}
	assert.True(t, shrunk, "waiting that went on never halved the chunks")
}
