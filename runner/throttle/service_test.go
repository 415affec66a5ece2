package throttle

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func report(svc, inst string, at time.Time, requests, errors int64, p99 time.Duration) HealthReport {
	return HealthReport{Service: svc, Instance: inst, At: at, Window: 5 * time.Second, Requests: requests, Errors: errors, P99: p99}
}

// servicesIn builds the inputs the decision reads: baselines from before, latest reports.
func servicesIn(cfg ServiceHealth, start time.Time, before, after []HealthReport, now time.Time) (inputs, []string) {
	in := inputs{services: serviceState{latest: map[string]HealthReport{}, noted: map[string]bool{}}}
	notes := absorb(cfg, &in.services, start, append(before, after...), now)
	return in, notes
}

func TestDecideServices(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start.Add(time.Minute)
	sh := ServiceHealth{Factor: 3}.WithDefaults()
	// orders: a baseline p99 of 38ms (median of 30, 38, 900: one spike is no baseline), 0.5% errors.
	base := []HealthReport{
		report("orders", "api-1", start.Add(-20*time.Second), 1000, 5, 30*time.Millisecond),
		report("orders", "api-2", start.Add(-10*time.Second), 1000, 5, 38*time.Millisecond),
		report("orders", "api-1", start.Add(-5*time.Second), 1000, 5, 900*time.Millisecond),
		report("orders", "api-1", start.Add(-40*time.Second), 1000, 900, 5*time.Second), // before the window
		report("fast", "f-1", start.Add(-time.Second), 500, 0, 2*time.Millisecond),
		report("tiny", "t-1", start.Add(-time.Second), 3, 0, time.Millisecond), // too few requests
	}
	tests := []struct {
		name   string
		latest []HealthReport
		cfg    func(*ServiceHealth)
		hold   bool
		value  float64
		reason string // exact when set
		part   string // substring
	}{
		{name: "at the baseline", latest: []HealthReport{report("orders", "api-1", now, 400, 2, 40*time.Millisecond)}},
		{name: "p99 above 3x the baseline, worst instance named",
			latest: []HealthReport{
				report("orders", "api-1", now, 400, 0, 200*time.Millisecond),
				report("orders", "api-7f3a", now, 400, 0, 412*time.Millisecond),
			},
			hold: true, value: 412, reason: "service orders p99 412ms > 3.0× baseline 38ms (instance api-7f3a)"},
		{name: "just under 3x", latest: []HealthReport{report("orders", "api-1", now, 400, 0, 113*time.Millisecond)}},
		{name: "a fast service is held at the floor, not at 3x its 2ms",
			latest: []HealthReport{report("fast", "f-1", now, 400, 0, 30*time.Millisecond)}},
		{name: "above the floor",
			latest: []HealthReport{report("fast", "f-1", now, 400, 0, 61*time.Millisecond)},
			hold:   true, reason: "service fast p99 61ms > floor 50ms (3.0× baseline 2ms is less; instance f-1)"},
		{name: "error rate above 3x the baseline",
			latest: []HealthReport{report("orders", "api-2", now, 1000, 42, 38*time.Millisecond)},
			hold:   true, value: 4.2, reason: "service orders error rate 4.2% > 3.0× baseline 0.5% (instance api-2, 42 of 1000 requests)"},
		{name: "error rate under the floor of 1%", latest: []HealthReport{report("fast", "f-1", now, 1000, 9, time.Millisecond)}},
		{name: "error rate above the floor",
			latest: []HealthReport{report("fast", "f-1", now, 1000, 20, time.Millisecond)},
			hold:   true, part: "error rate 2% > floor 1%"},
		{name: "too few requests to trust", latest: []HealthReport{report("orders", "api-1", now, 19, 19, time.Second)}},
		{name: "fewer requests allowed",
			latest: []HealthReport{report("orders", "api-1", now, 5, 0, time.Second)},
			cfg:    func(s *ServiceHealth) { s.MinRequests = 5 }, hold: true},
		{name: "no baseline: not watched", latest: []HealthReport{report("tiny", "t-1", now, 400, 400, 10*time.Second)}},
		{name: "a service that only came after the start", latest: []HealthReport{report("late", "l-1", now, 400, 400, 10*time.Second)}},
		{name: "a report within StaleAfter still holds, its age said",
			latest: []HealthReport{report("orders", "api-1", now.Add(-2*time.Second), 400, 0, time.Second)},
			hold:   true, part: "(instance api-1, last report 2s ago)"},
		{name: "a stale report no longer holds",
			latest: []HealthReport{report("orders", "api-1", now.Add(-4*time.Second), 400, 0, time.Second)}},
		{name: "factor 5", latest: []HealthReport{report("orders", "api-1", now, 400, 0, 150*time.Millisecond)},
			cfg: func(s *ServiceHealth) { s.Factor = 5 }},
		{name: "off", latest: []HealthReport{report("orders", "api-1", now, 400, 400, 10*time.Second)},
			cfg: func(s *ServiceHealth) { s.Factor = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sh
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			in, _ := servicesIn(c, start, base, tt.latest, now)
			d := decide(Config{ServiceHealth: c}, in, now)
			require.Equal(t, tt.hold, d.Throttle, "%+v", d)
			if !tt.hold {
				return
			}
			assert.Equal(t, SourceServiceHealth, d.Source)
			if tt.value != 0 {
				assert.InDelta(t, tt.value, d.Value, 1e-9)
			}
			if tt.reason != "" {
				assert.Equal(t, tt.reason, d.Reason)
			}
			assert.Contains(t, d.Reason, tt.part)
			assert.Equal(t, tt.latest[len(tt.latest)-1].Service, d.Subject)
		})
	}
}

func TestServiceNotes(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	sh := ServiceHealth{Factor: 3}.WithDefaults()
	st := serviceState{latest: map[string]HealthReport{}, noted: map[string]bool{}}
	notes := absorb(sh, &st, start, []HealthReport{
		report("orders", "api-1", start.Add(-time.Second), 100, 0, 38*time.Millisecond),
		report("tiny", "t-1", start.Add(-time.Second), 2, 0, time.Millisecond),
	}, start)
	require.Len(t, notes, 1)
	assert.Equal(t, "service health: orders baseline p99 38ms, error rate 0% (1 reports of the 30s before the start); holds the copy above p99 114ms or error rate 1%", notes[0])

	// A service without a baseline is said once, not on every report.
	at := start.Add(time.Second)
	notes = absorb(sh, &st, start, []HealthReport{report("tiny", "t-1", at, 100, 0, time.Millisecond), report("orders", "api-1", at, 100, 0, time.Millisecond)}, at)
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "tiny has no baseline (no report of at least 20 requests in the 30s before the start)")
	notes = absorb(sh, &st, start, []HealthReport{report("tiny", "t-1", at.Add(time.Second), 100, 0, time.Millisecond)}, at.Add(time.Second))
	require.Empty(t, notes)

	// An instance silent past StaleAfter is dropped, and said once.
	later := at.Add(3500 * time.Millisecond)
	notes = absorb(sh, &st, start, nil, later)
	require.Len(t, notes, 1)
	assert.Equal(t, "service health: instance api-1 of orders silent for 3.5s (> 3s): its figures no longer hold the copy", notes[0])
	require.Empty(t, absorb(sh, &st, start, nil, later.Add(time.Second)))
	// It reports again: it counts again.
	absorb(sh, &st, start, []HealthReport{report("orders", "api-1", later, 100, 0, time.Second)}, later)
	d, ok := decideServices(Config{ServiceHealth: sh}, inputs{services: st}, later)
	require.True(t, ok)
	assert.Contains(t, d.Reason, "instance api-1")
}

func TestServiceHealthValidate(t *testing.T) {
	for _, tt := range []struct {
		s    ServiceHealth
		want string
	}{
		{ServiceHealth{Factor: 0.5}, "factor 0.5: want 0 (off) or at least 1"},
		{ServiceHealth{Factor: 3, MinP99: -time.Second}, "p99 floor -1s"},
		{ServiceHealth{Factor: 3, MinErrorRate: 5}, "error-rate floor 5: want a fraction"},
		{ServiceHealth{Factor: 3, MinRequests: -1}, "min requests -1"},
		{ServiceHealth{Factor: 3, BaselineWindow: time.Hour}, "baseline window 1h0m0s"},
		{ServiceHealth{Factor: 3, StaleAfter: -time.Second}, "stale after -1s"},
	} {
		err := Config{ServiceHealth: tt.s}.WithDefaults().Validate()
		require.Error(t, err, "%+v", tt.s)
		assert.Contains(t, err.Error(), tt.want)
	}
	require.NoError(t, Config{ServiceHealth: ServiceHealth{Factor: 3}}.WithDefaults().Validate())
	require.NoError(t, Config{}.WithDefaults().Validate())
}

// fakeSource is a HealthSource of hand-made reports.
type fakeSource struct {
	mu      sync.Mutex
	reports []HealthReport
	watched int
}

func (f *fakeSource) add(r HealthReport) {
	f.mu.Lock()
	f.reports = append(f.reports, r)
	f.mu.Unlock()
}

func (f *fakeSource) HealthReports(since time.Time) []HealthReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []HealthReport
	for _, r := range f.reports {
		if r.At.After(since) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeSource) WatchHealth() func() {
	f.mu.Lock()
	f.watched++
	f.mu.Unlock()
	return func() { f.mu.Lock(); f.watched--; f.mu.Unlock() }
}

// TestMonitorThrottlesOnServiceHealth: the monitor reads a source, takes the baseline from
// before its start, throttles within its interval of a bad report, and clears when the
// reports clear or the instance falls silent. With no replica and no load threshold the
// monitor reads no server: the pool is never used.
func TestMonitorThrottlesOnServiceHealth(t *testing.T) {
	src := &fakeSource{}
	src.add(report("orders", "api-1", time.Now().Add(-5*time.Second), 500, 0, 20*time.Millisecond))
	m, err := New(&sql.DB{}, nil, Config{ServiceHealth: ServiceHealth{Factor: 3, StaleAfter: time.Second}})
	require.NoError(t, err)
	var mu sync.Mutex
	var notes []string
	m.WatchServices(src, func(s string) { mu.Lock(); notes = append(notes, s); mu.Unlock() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var stop sync.Once
	end := func() { stop.Do(func() { cancel(); require.NoError(t, <-done) }) }
	t.Cleanup(end)
	require.Eventually(t, func() bool { src.mu.Lock(); defer src.mu.Unlock(); return src.watched == 1 }, time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // past the start: the next reports are not in the baseline

	src.add(report("orders", "api-1", time.Now(), 500, 0, 25*time.Millisecond))
	waitFor(t, m, time.Second, "clear at the baseline", isClear)
	src.add(report("orders", "api-1", time.Now(), 500, 0, 300*time.Millisecond))
	d := waitFor(t, m, time.Second, "service health", bySource(SourceServiceHealth))
	assert.Equal(t, "orders", d.Subject)
	assert.Contains(t, d.Reason, "service orders p99 300ms > 3.0× baseline 20ms (instance api-1)")
	src.add(report("orders", "api-1", time.Now(), 500, 0, 20*time.Millisecond))
	waitFor(t, m, time.Second, "clear once the figures clear", isClear)

	src.add(report("orders", "api-1", time.Now(), 500, 0, 300*time.Millisecond))
	waitFor(t, m, time.Second, "held again", bySource(SourceServiceHealth))
	waitFor(t, m, 3*time.Second, "clear once the instance is silent past StaleAfter", isClear)
	mu.Lock()
	got := strings.Join(notes, "\n")
	mu.Unlock()
	assert.Contains(t, got, "orders baseline p99 20ms")
	assert.Contains(t, got, "instance api-1 of orders silent for")
	src.mu.Lock()
	assert.Equal(t, 1, src.watched, "watched while running")
	src.mu.Unlock()
	end()
	src.mu.Lock()
	assert.Equal(t, 0, src.watched, "unwatched when Run ends")
	src.mu.Unlock()
}
