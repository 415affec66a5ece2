package batch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNext(t *testing.T) {
	cfg := Config{}
	tests := []struct {
		name          string
		cur, backlog  int64
		want          int64
		kind          Kind
		detailPresent string
	}{
		{"empty queue at the floor holds", 10, 0, 10, KindHold, "the floor of 10"},
		{"a short queue holds", 10, 19, 10, KindHold, "backlog 19"},
		{"a full batch twice over doubles", 10, 20, 20, KindGrow, "backlog 20 ≥ 2×10"},
		{"growth stops at gh-ost's 100", 80, 500, 100, KindGrow, ""},
		{"at 100 holds", 100, 5000, 100, KindHold, "batches of 100"},
		{"between a quarter and twice holds", 40, 15, 40, KindHold, ""},
		{"a drained queue halves", 40, 9, 20, KindShrink, "backlog 9 < 40/4"},
		{"shrink stops at the floor", 15, 0, 10, KindShrink, ""},
		{"below the floor is clamped first", 1, 0, 10, KindHold, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, r := Next(cfg, tt.cur, tt.backlog)
			assert.Equal(t, tt.want, n)
			assert.Equal(t, tt.kind, r.Kind)
			assert.Contains(t, r.Detail, tt.detailPresent)
			assert.Contains(t, Kinds, r.Kind)
		})
	}
}

func TestNextFixed(t *testing.T) {
	n, r := Next(Config{Fixed: true}, 10, 100_000)
	assert.Equal(t, int64(10), n)
	assert.Equal(t, KindFixed, r.Kind)
}

// A steady backlog drives the size up to the maximum in a few steps, and an empty queue back
// down to the floor: the size never leaves gh-ost's bounds.
func TestNextConverges(t *testing.T) {
	cfg := Config{Min: 5, Max: 100}
	n := int64(5)
	for i := 0; i < 10; i++ {
		n, _ = Next(cfg, n, 1000)
		require.LessOrEqual(t, n, int64(100))
	}
	assert.Equal(t, int64(100), n)
	for i := 0; i < 10; i++ {
		n, _ = Next(cfg, n, 0)
		require.GreaterOrEqual(t, n, int64(5))
	}
	assert.Equal(t, int64(5), n)
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	require.NoError(t, Config{Min: 1, Max: 100}.Validate())
	for _, c := range []Config{{Min: 101}, {Min: 50, Max: 20}, {Max: 200}, {Interval: -time.Second}} {
		assert.Error(t, c.Validate(), "%+v", c)
	}
}

func TestCapacity(t *testing.T) {
	var c Capacity
	assert.Zero(t, c.Rate(), "nothing measured")
	busy := Interval{Length: time.Second, Applied: 900, StartBacklog: 50, EndBacklog: 40, Size: 10}
	c.Observe(busy)
	busy.Applied = 1100
	c.Observe(busy)
	assert.InDelta(t, 1000, c.Rate(), 0.001)
	// Intervals that say nothing of the capacity are left out.
	for name, iv := range map[string]Interval{
		"less than a batch waiting: the loop was not busy": {Length: time.Second, Applied: 10, StartBacklog: 5, EndBacklog: 5, Size: 10},
		"the queue may have run dry":                       {Length: time.Second, Applied: 10, StartBacklog: 50, EndBacklog: 0, Size: 10},
		"held by the throttler":                            {Length: time.Second, StartBacklog: 50, EndBacklog: 50, Size: 10, Throttled: true},
		"a chunk was copied meanwhile":                     {Length: time.Second, Applied: 5, StartBacklog: 50, EndBacklog: 60, Size: 10, Copied: true},
		"nothing applied: a chunk in flight":               {Length: time.Second, StartBacklog: 50, EndBacklog: 90, Size: 10},
		"no time":                                          {Applied: 10, StartBacklog: 50, EndBacklog: 50, Size: 10},
	} {
		c.Observe(iv)
		assert.InDelta(t, 1000, c.Rate(), 0.001, name)
	}
	assert.InDelta(t, 2.0, c.Seconds, 0.001)
}
