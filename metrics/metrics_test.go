package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/migration"
)

var users = Labels{Schema: "app", Table: "users", Strategy: "ghost"}

func TestObserveExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Started(users)
	m.Observe(users, migration.Progress{Phase: migration.PhaseCopying, RowsCopied: 1500, RowsEstimated: 6000,
		RowsPerSecond: 750, ETA: 6 * time.Second, ReplicaLag: 250 * time.Millisecond, BacklogEvents: 12})

	const want = `
# HELP ghostgate_rows_copied_total Rows copied from the original table into the new one.
# TYPE ghostgate_rows_copied_total counter
ghostgate_rows_copied_total{schema="app",strategy="ghost",table="users"} 1500
# HELP ghostgate_copy_rows_per_second Current copy rate in rows per second.
# TYPE ghostgate_copy_rows_per_second gauge
ghostgate_copy_rows_per_second{schema="app",strategy="ghost",table="users"} 750
# HELP ghostgate_progress_ratio Copy progress from 0 to 1; never above 1 even when the row estimate is low.
# TYPE ghostgate_progress_ratio gauge
ghostgate_progress_ratio{schema="app",strategy="ghost",table="users"} 0.25
# HELP ghostgate_eta_seconds Estimated seconds until the copy completes.
# TYPE ghostgate_eta_seconds gauge
ghostgate_eta_seconds{schema="app",strategy="ghost",table="users"} 6
# HELP ghostgate_replica_lag_seconds Replica lag seen by the throttler, in seconds.
# TYPE ghostgate_replica_lag_seconds gauge
ghostgate_replica_lag_seconds{schema="app",strategy="ghost",table="users"} 0.25
# HELP ghostgate_binlog_backlog_events Binlog events not yet applied to the new table.
# TYPE ghostgate_binlog_backlog_events gauge
ghostgate_binlog_backlog_events{schema="app",strategy="ghost",table="users"} 12
# HELP ghostgate_throttled 1 while the migration is throttled, else 0.
# TYPE ghostgate_throttled gauge
ghostgate_throttled{schema="app",strategy="ghost",table="users"} 0
# HELP ghostgate_migrations_active 1 while a migration on the table is active, else 0.
# TYPE ghostgate_migrations_active gauge
ghostgate_migrations_active{schema="app",strategy="ghost",table="users"} 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"ghostgate_rows_copied_total", "ghostgate_copy_rows_per_second", "ghostgate_progress_ratio",
		"ghostgate_eta_seconds", "ghostgate_replica_lag_seconds", "ghostgate_binlog_backlog_events",
		"ghostgate_throttled", "ghostgate_migrations_active"))
}

// The nice ratio is a gauge of gh-ost copies only (those report a chunk size), 0 included, and it
// goes with the migration.
func TestNiceRatioGauge(t *testing.T) {
	m := New(nil)
	m.Started(users)
	g := m.niceRatio.WithLabelValues(users.values()...)
	m.Observe(users, migration.Progress{ChunkSize: 1000, NiceRatio: 2.5})
	assert.Equal(t, 2.5, testutil.ToFloat64(g))
	m.Observe(users, migration.Progress{ChunkSize: 1000})
	assert.Zero(t, testutil.ToFloat64(g), "back to none")
	m.Finished(users, migration.StatusComplete)
	assert.Zero(t, testutil.CollectAndCount(m.niceRatio), "gone with the migration")

	native := Labels{Schema: "app", Table: "orders", Strategy: "inplace"}
	m.Observe(native, migration.Progress{RowsCopied: 1})
	assert.Zero(t, testutil.CollectAndCount(m.niceRatio), "no gh-ost, no nice ratio")
}

func TestMetricNamesFollowConventions(t *testing.T) {
	m := New(nil)
	m.Observe(users, migration.Progress{RowsCopied: 1, Throttled: true, ThrottleReason: "manual", ChunkSize: 1000, DMLBatchSize: 10, ApplyRate: 2000})
	m.CutOverAttempt(users, time.Second, true)
	m.Finished(users, migration.StatusComplete)
	problems, err := testutil.CollectAndLint(m)
	require.NoError(t, err)
	assert.Empty(t, problems)

	reg := prometheus.NewRegistry()
	New(reg)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.True(t, strings.HasPrefix(mf.GetName(), "ghostgate_"), mf.GetName())
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				assert.NotContains(t, []string{"id", "migration", "migration_id"}, lp.GetName())
			}
		}
	}
}

func TestRowsCopiedNeverDecreases(t *testing.T) {
	tests := []struct {
		name   string
		copied []int64
		want   float64
	}{
		{"grows", []int64{0, 100, 250, 1000}, 1000},
		{"engine restart reports fewer", []int64{500, 200, 600}, 600},
		{"repeated value", []int64{10, 10, 10}, 10},
		{"negative garbage", []int64{-5, 20, -1}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(nil)
			m.Started(users)
			c := m.rowsCopied.WithLabelValues(users.values()...)
			prev := 0.0
			for _, n := range tt.copied {
				m.Observe(users, migration.Progress{RowsCopied: n})
				got := testutil.ToFloat64(c)
				assert.GreaterOrEqual(t, got, prev, "after %d", n)
				prev = got
			}
			assert.Equal(t, tt.want, prev)
		})
	}
}

func TestStartedResetsTheBaselineOfANewMigration(t *testing.T) {
	m := New(nil)
	m.Started(users)
	m.Observe(users, migration.Progress{RowsCopied: 100})
	m.Finished(users, migration.StatusComplete)
	m.Started(users)
	m.Observe(users, migration.Progress{RowsCopied: 40})
	assert.Equal(t, 140.0, testutil.ToFloat64(m.rowsCopied.WithLabelValues(users.values()...)))
}

func TestRatioStaysWithinBounds(t *testing.T) {
	tests := []struct {
		name string
		p    migration.Progress
		want float64
	}{
		{"engine ratio", migration.Progress{Ratio: 0.4}, 0.4},
		{"engine overshoot", migration.Progress{Ratio: 3.74}, 1},
		{"negative", migration.Progress{Ratio: -0.2}, 0},
		{"NaN", migration.Progress{Ratio: math.NaN()}, 0},
		{"derived from rows", migration.Progress{RowsCopied: 30, RowsEstimated: 120}, 0.25},
		{"low estimate after bulk load", migration.Progress{RowsCopied: 2434000, RowsEstimated: 650557}, 1},
		{"unknown estimate", migration.Progress{RowsCopied: 30}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(nil)
			m.Observe(users, tt.p)
			got := testutil.ToFloat64(m.progress.WithLabelValues(users.values()...))
			assert.GreaterOrEqual(t, got, 0.0)
			assert.LessOrEqual(t, got, 1.0)
			assert.InDelta(t, tt.want, got, 1e-9)
		})
	}
}

func TestThrottleEventsCountChangesByReason(t *testing.T) {
	m := New(nil)
	steps := []struct {
		throttled bool
		reason    string
	}{
		{false, ""},
		{true, "replica-lag: 2.1s > 1.5s"},
		{true, "replica_lag"}, // still the same throttle
		{true, "max_load: Threads_running=80>=50"},
		{false, ""},
		{true, "Manual pause by dba"},
		{true, "disk is full"},
	}
	for _, s := range steps {
		m.Observe(users, migration.Progress{Throttled: s.throttled, ThrottleReason: s.reason})
	}
	count := func(reason string) float64 {
		return testutil.ToFloat64(m.throttleEvents.WithLabelValues(append(users.values(), reason)...))
	}
	assert.Equal(t, 1.0, count(ReasonReplicaLag))
	assert.Equal(t, 1.0, count(ReasonMaxLoad))
	assert.Equal(t, 1.0, count(ReasonManual))
	assert.Equal(t, 1.0, count(ReasonOther))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.throttled.WithLabelValues(users.values()...)))
}

func TestReasonLabelIsBounded(t *testing.T) {
	tests := map[string]string{
		"max_load":                    ReasonMaxLoad,
		"Max-Load exceeded":           ReasonMaxLoad,
		"critical-load":               ReasonCriticalLoad,
		"replica_lag 3s":              ReasonReplicaLag,
		"replica stopped replicating": ReasonReplicaStopped,
		"http: 503":                   ReasonHTTP,
		"paused by operator: lunch":   ReasonManual,
		"lag=3.014021s":               ReasonReplicaLag,
		"":                            ReasonOther,
		"01KAMZ5Q8D7W2C3V4B5N6M7P8Q":  ReasonOther,
	}
	for in, want := range tests {
		assert.Equal(t, want, ReasonLabel(in), in)
	}
}

func TestCutOverAttempts(t *testing.T) {
	m := New(nil)
	m.CutOverAttempt(users, 3*time.Second, false)
	m.CutOverAttempt(users, 0, false) // never got the lock: no duration
	m.CutOverAttempt(users, 40*time.Millisecond, true)
	assert.Equal(t, 2.0, testutil.ToFloat64(m.cutOverAttempts.WithLabelValues(append(users.values(), "failed")...)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.cutOverAttempts.WithLabelValues(append(users.values(), "ok")...)))
	const want = `
# HELP ghostgate_cutover_lock_duration_seconds How long a cut-over attempt held the table lock, in seconds.
# TYPE ghostgate_cutover_lock_duration_seconds histogram
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.005"} 0
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.01"} 0
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.025"} 0
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.05"} 1
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.1"} 1
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.25"} 1
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="0.5"} 1
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="1"} 1
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="2"} 1
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="3"} 2
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="5"} 2
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="10"} 2
ghostgate_cutover_lock_duration_seconds_bucket{schema="app",strategy="ghost",table="users",le="+Inf"} 2
ghostgate_cutover_lock_duration_seconds_sum{schema="app",strategy="ghost",table="users"} 3.04
ghostgate_cutover_lock_duration_seconds_count{schema="app",strategy="ghost",table="users"} 2
`
	require.NoError(t, testutil.CollectAndCompare(m, strings.NewReader(want), "ghostgate_cutover_lock_duration_seconds"))
}

func TestFinishedCountsStatusAndClearsLiveGauges(t *testing.T) {
	m := New(nil)
	orders := Labels{Schema: "app", Table: "orders", Strategy: "instant"}
	m.Started(users)
	m.Started(orders)
	m.Observe(users, migration.Progress{RowsCopied: 10, RowsPerSecond: 5, Throttled: true, ThrottleReason: "manual"})
	m.Observe(orders, migration.Progress{RowsPerSecond: 1})
	m.Finished(users, migration.StatusFailed)
	m.Finished(users, migration.StatusRunning) // not an end: ignored

	assert.Equal(t, 1.0, testutil.ToFloat64(m.finished.WithLabelValues(append(users.values(), "failed")...)))
	assert.Equal(t, 1, testutil.CollectAndCount(m.finished), "only the terminal status was counted")
	assert.Equal(t, 0.0, testutil.ToFloat64(m.active.WithLabelValues(users.values()...)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.active.WithLabelValues(orders.values()...)))
	assert.Equal(t, 1, testutil.CollectAndCount(m.copyRate), "only the running migration reports a rate")
	assert.Equal(t, 1, testutil.CollectAndCount(m.throttled), "the finished migration's throttled series is gone")
	assert.Equal(t, 10.0, testutil.ToFloat64(m.rowsCopied.WithLabelValues(users.values()...)), "counters survive")
}

func TestIndependentInstancesAndDoubleRegistration(t *testing.T) {
	reg1, reg2 := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, b := New(reg1), New(reg2)
	a.Observe(users, migration.Progress{RowsCopied: 7})
	assert.Equal(t, 7.0, testutil.ToFloat64(a.rowsCopied.WithLabelValues(users.values()...)))
	assert.Equal(t, 0, testutil.CollectAndCount(b.rowsCopied), "no shared state between instances")
	assert.Panics(t, func() { New(reg1) }, "registering twice is a wiring mistake")
}

func TestHandlerServesRegistry(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	m.Observe(users, migration.Progress{RowsCopied: 42})
	srv := httptest.NewServer(Handler(reg))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `ghostgate_rows_copied_total{schema="app",strategy="ghost",table="users"} 42`)
	assert.Contains(t, string(body), "go_goroutines")
}

// The throttler's source names the reason when the engine reports one, whatever the text says.
func TestThrottleSourceIsTheReason(t *testing.T) {
	m := New(nil)
	count := func(reason string) float64 {
		return testutil.ToFloat64(m.throttleEvents.WithLabelValues(append(users.values(), reason)...))
	}
	m.Observe(users, migration.Progress{Throttled: true, ThrottleReason: "replica 127.0.0.1:3307 lag 2000ms > 1500ms", ThrottleSource: "replica_lag"})
	m.Observe(users, migration.Progress{Throttled: true, ThrottleReason: "paused by operator", ThrottleSource: "manual"})
	m.Observe(users, migration.Progress{Throttled: true, ThrottleReason: "something", ThrottleSource: "not_a_label"})
	assert.Equal(t, 1.0, count(ReasonReplicaLag))
	assert.Equal(t, 1.0, count(ReasonManual))
	assert.Equal(t, 1.0, count(ReasonOther))
}

// An ETA that is not a promise (held, estimating) is absent rather than stale.
func TestETAAbsentUnlessKnown(t *testing.T) {
	m := New(nil)
	n := func() int { return testutil.CollectAndCount(m.eta) }
	m.Observe(users, migration.Progress{ETA: 6 * time.Second, ETAState: migration.ETAKnown})
	assert.Equal(t, 1, n())
	m.Observe(users, migration.Progress{Throttled: true, ETAState: migration.ETAHeld})
	assert.Equal(t, 0, n())
	m.Observe(users, migration.Progress{ETA: 5 * time.Second, ETAState: migration.ETAKnown})
	assert.Equal(t, 5.0, testutil.ToFloat64(m.eta.WithLabelValues(users.values()...)))
	m.Observe(users, migration.Progress{ETAState: migration.ETAEstimating})
	assert.Equal(t, 0, n())
}
