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
		{"fast chunk doubles at most", 1000, Observation{ChunkTime: 50 * ms, SinceThrottle: quiet}, 2000, KindGrow, "1000 rows took 50ms < 500ms target"},
		{"near the target grows by what is left", 1000, Observation{ChunkTime: 300 * ms, SinceThrottle: quiet}, 1500, KindGrow, "took 300ms"},
		{"within the band holds", 1000, Observation{ChunkTime: 450 * ms, SinceThrottle: quiet}, 1000, KindHold, "1000 rows take 450ms"},
		{"slightly over the target holds", 1000, Observation{ChunkTime: 700 * ms, SinceThrottle: quiet}, 1000, KindHold, ""},
		{"slow chunk shrinks proportionally", 10000, Observation{ChunkTime: 2 * time.Second, SinceThrottle: quiet}, 2500, KindShrinkSlow, "10000 rows took 2s > 500ms target"},
		{"throttle halves at once", 8000, Observation{ThrottleBegan: true, Throttled: true, Throttle: "replica_lag", ChunkTime: 10 * ms}, 4000, KindShrinkThrottle, "halved on throttle (replica_lag)"},
		{"held: no change", 8000, Observation{Throttled: true, ChunkTime: 10 * ms}, 8000, KindHold, "held by the throttler"},
		{"no growth soon after a throttle", 1000, Observation{ChunkTime: 50 * ms, SinceThrottle: 2 * time.Second}, 1000, KindHold, ""},
		{"growth stops at gh-ost's maximum", 80_000, Observation{ChunkTime: 50 * ms, SinceThrottle: quiet}, 100_000, KindGrow, ""},
		{"at the maximum holds", 100_000, Observation{ChunkTime: 50 * ms, SinceThrottle: quiet}, 100_000, KindHold, ""},
		{"shrink stops at gh-ost's minimum", 15, Observation{ThrottleBegan: true, Throttle: "max_load"}, 10, KindShrinkThrottle, ""},
		{"a very slow chunk at the minimum stays there", 10, Observation{ChunkTime: time.Minute, SinceThrottle: quiet}, 10, KindShrinkSlow, ""},
		{"out-of-bounds size is clamped first", 500_000, Observation{SinceThrottle: quiet}, 100_000, KindHold, ""},
		{"lock waits halve", 8000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 80 * ms}, 4000, KindShrinkLoad, "row lock waits 80ms/s > 50ms/s"},
		{"some lock waiting: no growth", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 20 * ms}, 1000, KindHold, ""},
		{"little lock waiting: growth", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: 5 * ms}, 2000, KindGrow, ""},
		{"lock waits not read: growth", 1000, Observation{ChunkTime: 10 * ms, SinceThrottle: quiet, LockWait: -1}, 2000, KindGrow, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, r := Next(cfg, tt.cur, tt.o)
			assert.Equal(t, tt.want, n)
			assert.Equal(t, tt.kind, r.Kind)
			assert.True(t, strings.Contains(r.Detail, tt.detail), "detail %q lacks %q", r.Detail, tt.detail)
		})
	}
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
	for _, c := range []Config{{Target: -1}, {Min: 5}, {Max: 200_000}, {Min: 500, Max: 100}, {Quiet: -1}, {MaxLockWait: -1}} {
		assert.Error(t, c.WithDefaults().Validate(), "%+v", c)
	}
}

func TestMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name    string
		size    int64
		nice    float64
		reports []struct {
			s    float64
			rows int64
			held bool
		}
		want []time.Duration
	}{
		{name: "two chunks in a window", size: 1000, reports: rs(r(0, 0), r(0.5, 4000), r(1, 8000)),
			want: []time.Duration{0, 125 * ms, 125 * ms}},
		{name: "nice ratio taken out", size: 1000, nice: 1, reports: rs(r(0, 0), r(0.5, 2000)),
			want: []time.Duration{0, 125 * ms}},
		{name: "slow chunk seen before it ends", size: 10000, reports: rs(r(0, 0), r(0.5, 0), r(1, 0), r(1.5, 0)),
			want: []time.Duration{0, 0, time.Second, 0}},
		{name: "one chunk per second", size: 1000, reports: rs(r(0, 0), r(0.5, 0), r(1, 1000)),
			want: []time.Duration{0, 0, time.Second}},
		{name: "held time is no chunk's time", size: 1000, reports: rs(r(0, 0), r(0.5, 1000, true), r(5, 1000, true), r(5.5, 1000), r(6, 3000)),
			want: []time.Duration{0, 0, 0, 0, 250 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMeter(tt.size, tt.nice, time.Second)
			var got []time.Duration
			for _, x := range tt.reports {
				got = append(got, m.Observe(at(x.s), x.rows, x.held))
			}
			assert.Equal(t, tt.want, got)
		})
	}

	m := NewMeter(1000, 0, time.Second)
	m.Observe(at(0), 0, false)
	m.Resize(4000)
	assert.Zero(t, m.Observe(at(0.5), 3000, false), "the chunk in flight is of the old size")
	assert.Equal(t, 250*ms, m.Observe(at(1.5), 19000, false))
}

type report = struct {
	s    float64
	rows int64
	held bool
}

func r(s float64, rows int64, held ...bool) report {
	return report{s: s, rows: rows, held: len(held) > 0 && held[0]}
}

func rs(x ...report) []report { return x }
