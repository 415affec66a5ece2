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

	c.setByOperator(500)
	_, _, changed = c.step(rep(3, 95_000, false, ""), time.Second, true)
	assert.False(t, changed, "an operator's size stays")
	n, r = c.current()
	assert.Equal(t, int64(500), n)
	assert.Equal(t, chunk.KindOperator, r.Kind)
}
