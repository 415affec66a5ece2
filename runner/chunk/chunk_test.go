package chunk

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func TestNext(t *testing.T) {
	cfg := Config{}.WithDefaults()
	quiet := time.Hour
	tests := []struct {
		name   string
		cur    int64
		o      Observation
		want   int64
		kind   Kind
		detail string
	}{
		{"nothing measured", 1000, Observation{SinceThrottle: quiet}, 1000, KindHold, "measuring 1000-row chunks"},
		{"very fast chunk quadruples at most", 1000, Observation{ChunkTime: 50 * ms, SinceThrottle: quiet}, 4000, KindGrow, "1000 rows took 50ms < 500ms target"},
		{"fast chunk doubles at most", 1000, Observation{ChunkTime: 100 * ms, SinceThrottle: quiet}, 2000, KindGrow, "1000 rows took 100ms < 500ms target"},
		{"near the target grows by what is left", 1000, Observation{ChunkTime: 300 * ms, SinceThrottle: quiet}, 1500, KindGrow, "took 300ms"},
		{"within the band holds", 1000, Observation{ChunkTime: 450 * ms, SinceThrottle: quiet}, 1000, KindHold, "1000 rows take 450ms"},
		{"slightly over the target holds", 1000, Observation{ChunkTime: 700 * ms, SinceThrottle: quiet}, 1000, KindHold, ""},
		{"slow chunk shrinks proportionally", 10000, Observation{ChunkTime: 2 * time.Second, SinceThrottle: quiet}, 2500, KindShrinkSlow, "10000 rows took 2s > 500ms target"},
		{"throttle halves at once", 8000, Observation{ThrottleBegan: true, Throttled: true, Throttle: "replica_lag", ChunkTime: 10 * ms}, 4000, KindShrinkThrottle, "halved on throttle (replica_lag)"},
		{"held: no change", 8000, Observation{Throttled: true, ChunkTime: 10 * ms}, 8000, KindHold, "held by the throttler"},
		{"no growth soon after a throttle", 1000, Observation{ChunkTime: 50 * ms, SinceThrottle: 2 * time.Second}, 1000, KindHold, ""},
		{"growth stops at gh-ost's maximum", 80_000, Observation{ChunkTime: 50 * ms, SinceThrottle: quiet}, 100_000, KindGrow, ""},
		{"at the maximum holds", 100_000, Observation{ChunkTime: 50 * ms, SinceThrottle: quiet}, 100_000, KindHold, ""},
		{"a throttle halves no lower than the floor", 1500, Observation{ThrottleBegan: true, Throttle: "max_load"}, 1000, KindShrinkThrottle, ""},
		{"at the floor a throttle holds", 1000, Observation{ThrottleBegan: true, Throttle: "max_load"}, 1000, KindHold, "held by the throttler"},
		{"below the floor, as configured, nothing shrinks", 15, Observation{ThrottleBegan: true, Throttle: "max_load"}, 15, KindHold, ""},
		{"a slow chunk shrinks to the floor at most", 4000, Observation{ChunkTime: 10 * time.Second, SinceThrottle: quiet}, 1000, KindShrinkSlow, "4000 rows took 10s"},
		{"a very slow chunk at the floor stays there", 1000, Observation{ChunkTime: time.Minute, SinceThrottle: quiet}, 1000, KindHold, "at the floor of 1000 rows"},
		{"lock waits halve no lower than the floor", 1500, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 80 * ms}, 1000, KindShrinkLoad, ""},
		{"lock waits at the floor hold", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 80 * ms}, 1000, KindHold, "row lock waits 80ms/s > 50ms/s at the floor of 1000 rows"},
		{"out-of-bounds size is clamped first", 500_000, Observation{SinceThrottle: quiet}, 100_000, KindHold, ""},
		{"lock waits halve", 8000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 80 * ms}, 4000, KindShrinkLoad, "row lock waits 80ms/s > 50ms/s"},
		{"some lock waiting: no growth", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 20 * ms}, 1000, KindHold, ""},
		{"little lock waiting: growth", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 5 * ms}, 4000, KindGrow, ""},
		{"growth stops at 3/4 of a lock-wait ceiling", 20_000, Observation{ChunkTime: 100 * ms, SinceThrottle: quiet, Ceiling: 40_000}, 30_000, KindGrow, ""},
		{"at 3/4 of the ceiling holds", 30_000, Observation{ChunkTime: 100 * ms, SinceThrottle: quiet, Ceiling: 40_000}, 30_000, KindHold, "below the 40000 rows at which the application waited"},
		{"a ceiling far above does not slow growth", 1000, Observation{ChunkTime: 100 * ms, SinceThrottle: quiet, Ceiling: 40_000}, 2000, KindGrow, ""},
		{"lock waits not read: growth", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: -1}, 4000, KindGrow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, r := Next(cfg, tt.cur, tt.o)
			assert.Equal(t, tt.want, n)
			assert.Equal(t, tt.kind, r.Kind)
			assert.True(t, strings.Contains(r.Detail, tt.detail), "detail %q lacks %q", r.Detail, tt.detail)
		})
	}

	// With the floor at gh-ost's minimum, shrinking stops there.
	low := Config{Floor: MinSize}.WithDefaults()
	n, r := Next(low, 15, Observation{ThrottleBegan: true, Throttle: "max_load"})
	assert.Equal(t, MinSize, n)
	assert.Equal(t, KindShrinkThrottle, r.Kind)
	n, r = Next(low, MinSize, Observation{ChunkTime: time.Minute, SinceThrottle: quiet})
	assert.Equal(t, MinSize, n)
	assert.Equal(t, KindHold, r.Kind)
}

func TestLoadCeiling(t *testing.T) {
	assert.Equal(t, int64(40_000), LoadCeiling(40_000, 9*time.Second, MaxSize))
	assert.Equal(t, int64(50_000), LoadCeiling(40_000, 10*time.Second, MaxSize))
	assert.Equal(t, int64(62_500), LoadCeiling(40_000, 25*time.Second, MaxSize))
	assert.Zero(t, LoadCeiling(40_000, time.Minute, MaxSize), "relaxed past the largest size: no ceiling")
	assert.Zero(t, LoadCeiling(0, 0, MaxSize))
}

// Growth converges: with a chunk cost of a fixed 20ms plus 0.05ms a row, the size settles where a
// chunk takes between 80% and 150% of the target and stays there.
func TestNextConverges(t *testing.T) {
	cfg := Config{}.WithDefaults()
	cost := func(n int64) time.Duration { return 20*ms + time.Duration(n)*50*time.Microsecond }
	n := int64(1000)
	for range 30 {
		n, _ = Next(cfg, n, Observation{ChunkTime: cost(n), SinceThrottle: time.Hour})
	}
	assert.GreaterOrEqual(t, cost(n), cfg.Target*4/5)
	assert.LessOrEqual(t, cost(n), cfg.Target*3/2)
	next, r := Next(cfg, n, Observation{ChunkTime: cost(n), SinceThrottle: time.Hour})
	assert.Equal(t, n, next, "settled: %s", r.Detail)
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, Config{}.WithDefaults().Validate())
	for _, c := range []Config{{Target: -1}, {Min: 5}, {Max: 200_000}, {Min: 500, Max: 100}, {Quiet: -1}, {MaxLockWait: -1}, {Floor: -1}} {
		assert.Error(t, c.WithDefaults().Validate(), "%+v", c)
	}
}

func TestMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// obs: a report at s seconds with n chunks done, the last ended at end seconds (<0: none yet).
	obs := func(s float64, n int64, end float64, held ...bool) Obs {
		o := Obs{At: at(s), Chunks: n, Held: len(held) > 0 && held[0]}
		if end >= 0 {
			o.LastChunkAt = at(end)
		}
		return o
	}
	tests := []struct {
		name    string
		nice    float64
		reports []Obs
		want    []time.Duration
	}{
		{name: "the window runs from one chunk's end to a later one's", reports: []Obs{obs(0, 0, -1), obs(0.5, 1, 0.3), obs(1, 3, 0.9), obs(1.5, 5, 1.5)},
			want: []time.Duration{0, 0, 300 * ms, 300 * ms}},
		{name: "a window shorter than the polls can time grows", reports: []Obs{obs(0.5, 1, 0.45), obs(1, 2, 0.8), obs(1.5, 3, 1.25)},
			want: []time.Duration{0, 0, 400 * ms}},
		{name: "on-target chunks measure on target, not 0.5 or 1s", reports: []Obs{obs(0.5, 1, 0.2), obs(1, 1, 0.2), obs(1.5, 2, 0.75), obs(2, 3, 1.3), obs(2.5, 4, 1.85)},
			want: []time.Duration{0, 0, 550 * ms, 550 * ms, 550 * ms}},
		{name: "gh-ost's start is no chunk's time", reports: []Obs{obs(0, 0, -1), obs(0.5, 0, -1), obs(1, 0, -1), obs(1.5, 0, -1), obs(2, 1, 1.9), obs(2.5, 2, 2.4)},
			want: []time.Duration{0, 0, 0, 0, 0, 500 * ms}},
		{name: "nice ratio taken out", nice: 1, reports: []Obs{obs(0.5, 1, 0.1), obs(1, 3, 0.9)},
			want: []time.Duration{0, 200 * ms}},
		{name: "slow chunk seen before it ends", reports: []Obs{obs(0, 1, 0), obs(0.5, 1, 0), obs(1, 1, 0), obs(1.5, 1, 0)},
			want: []time.Duration{0, 0, time.Second, 1500 * ms}},
		{name: "held time is no chunk's time", reports: []Obs{obs(0, 1, 0), obs(0.5, 2, 0.4, true), obs(5, 2, 0.4, true), obs(5.5, 3, 5.3), obs(6, 4, 5.9), obs(6.5, 5, 6.4)},
			want: []time.Duration{0, 0, 0, 0, 600 * ms, 500 * ms}},
		{name: "a new worker counts from its checkpoint", reports: []Obs{obs(0, 10, 0), obs(1, 12, 1), obs(2, 3, -1), obs(3, 4, 2.5), obs(3.5, 5, 3.2)},
			want: []time.Duration{0, 500 * ms, 0, 0, 700 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMeter(tt.nice, time.Second)
			var got []time.Duration
			for _, o := range tt.reports {
				got = append(got, m.Observe(o))
			}
			assert.Equal(t, tt.want, got)
		})
	}

	// After a resize the chunk in flight is of the old size: its end opens the new size's window.
	m := NewMeter(0, time.Second)
	m.Observe(obs(0, 1, 0))
	assert.Equal(t, 250*ms, m.Observe(obs(0.5, 3, 0.5)))
	m.Resize(at(0.5))
	assert.Zero(t, m.Observe(obs(1, 4, 0.9)), "the old size's last chunk")
	assert.Zero(t, m.Observe(obs(1.5, 4, 0.9)))
	assert.Equal(t, 800*ms, m.Observe(obs(2.5, 5, 1.7)))
	// A stuck chunk after a resize is reported once a slow time, not at every report.
	m.Resize(at(2.5))
	got := []time.Duration{m.Observe(obs(3, 5, 1.7)), m.Observe(obs(3.5, 5, 1.7)), m.Observe(obs(4, 5, 1.7))}
	assert.Equal(t, []time.Duration{0, time.Second, 0}, got)

	// A new nice ratio: the window open at the change slept the old one, so the next opens at the
	// next chunk's end and takes the new sleep out (cycles of 400ms at nice 3 are 100ms chunks).
	m = NewMeter(0, time.Second)
	m.Observe(obs(0, 1, 0))
	assert.Equal(t, 100*ms, m.Observe(obs(0.5, 6, 0.5)))
	m.SetNice(3, at(0.5))
	assert.Zero(t, m.Observe(obs(1, 7, 0.9)), "the chunk in flight slept the old ratio")
	assert.Equal(t, 100*ms, m.Observe(obs(1.7, 9, 1.7)))
}
