package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
)

func TestGate(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	counts := metrics.ParticipantCounts{Live: 2, Lapsed: 1, Prepared: 1}
	g := metrics.NewGate(reg, func() metrics.ParticipantCounts { return counts })
	l := metrics.GateLabels{Schema: "shop", Table: "orders"}
	began := time.Now().Add(-90 * time.Second)
	g.Checklist(l, false, "", began, []metrics.Condition{{Name: "engine", OK: true}, {Name: "approval", OK: false}},
		&metrics.ChecksumProgress{Chunks: 3, Rows: 3000})
	g.Event(l, "checksum_mismatch", "")
	g.Event(l, "participant", "lapsed")
	g.Event(l, "participant", "waiting") // not an issue kind: counted as an event only
	g.Event(l, "something_new", "")

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ghostgate_gate_waiting 1 while the migration waits at the cut-over gate (ready, the gate closed), else 0.
# TYPE ghostgate_gate_waiting gauge
ghostgate_gate_waiting{schema="shop",table="orders"} 1
# HELP ghostgate_gate_condition_ok 1 when the checklist line holds, 0 when it keeps the gate closed, by condition.
# TYPE ghostgate_gate_condition_ok gauge
ghostgate_gate_condition_ok{condition="approval",schema="shop",table="orders"} 0
ghostgate_gate_condition_ok{condition="engine",schema="shop",table="orders"} 1
# HELP ghostgate_checksum_rows Rows the gate's checksum has compared so far.
# TYPE ghostgate_checksum_rows gauge
ghostgate_checksum_rows{schema="shop",table="orders"} 3000
# HELP ghostgate_checksum_mismatches_total Chunks whose original and ghost rows still differed once the original held still.
# TYPE ghostgate_checksum_mismatches_total counter
ghostgate_checksum_mismatches_total{schema="shop",table="orders"} 1
# HELP ghostgate_participant_issues_total Participant failures the gate named: lapsed lease, not ready, no ack by the deadline.
# TYPE ghostgate_participant_issues_total counter
ghostgate_participant_issues_total{issue="lapsed",schema="shop",table="orders"} 1
ghostgate_participant_issues_total{issue="not_ready",schema="shop",table="orders"} 0
ghostgate_participant_issues_total{issue="timeout",schema="shop",table="orders"} 0
# HELP ghostgate_gate_events_total Decisions of the cut-over gate written to the event log, by kind.
# TYPE ghostgate_gate_events_total counter
ghostgate_gate_events_total{kind="checksum_mismatch",schema="shop",table="orders"} 1
ghostgate_gate_events_total{kind="other",schema="shop",table="orders"} 1
ghostgate_gate_events_total{kind="participant",schema="shop",table="orders"} 2
# HELP ghostgate_participants Registered service instances by state: live (lease held), lapsed, prepared (acked prepare, ready).
# TYPE ghostgate_participants gauge
ghostgate_participants{state="lapsed"} 1
ghostgate_participants{state="live"} 2
ghostgate_participants{state="prepared"} 1
`), "ghostgate_gate_waiting", "ghostgate_gate_condition_ok", "ghostgate_checksum_rows", "ghostgate_checksum_mismatches_total",
		"ghostgate_participant_issues_total", "ghostgate_gate_events_total", "ghostgate_participants"))

	// The wait is brought up to date at each scrape.
	wait := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "ghostgate_gate_wait_seconds" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no ghostgate_gate_wait_seconds")
		return 0
	}
	require.InDelta(t, 90, wait(), 5)

	// Open: no longer waiting; the wait drops to 0. Ended: the live series go, counters stay.
	g.Checklist(l, true, "", time.Now(), nil, nil)
	require.Equal(t, 0.0, wait())
	require.Equal(t, 0.0, testutil.ToFloat64(gaugeOf(t, reg, "ghostgate_gate_waiting")))
	g.Ended(l)
	n, err := testutil.GatherAndCount(reg, "ghostgate_gate_waiting", "ghostgate_gate_condition_ok", "ghostgate_checksum_rows")
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = testutil.GatherAndCount(reg, "ghostgate_checksum_mismatches_total")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// gaugeOf returns the single series of name as a collector for testutil.ToFloat64.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return mf.GetMetric()[0].GetGauge().GetValue() })
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	metrics.RegisterBuildInfo(reg, "v1.2.3", "abc", "go1.99")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ghostgate_build_info The running build of ghostgate: always 1, described by its labels.
# TYPE ghostgate_build_info gauge
ghostgate_build_info{goversion="go1.99",revision="abc",version="v1.2.3"} 1
`)))
	n, err := testutil.GatherAndCount(metrics.NewRegistry(), "ghostgate_build_info")
	require.NoError(t, err)
	require.Equal(t, 1, n, "NewRegistry carries the build info")
}

// TestManualPauseReason: a DBA's pause counts as "manual", whatever the engine's text says
// (issue 13: it was counted as "other").
func TestManualPauseReason(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := metrics.New(reg)
	l := metrics.Labels{Schema: "s", Table: "t", Strategy: "ghost"}
	m.ObserveFrom(l, migration.Progress{Throttled: true, ThrottleReason: "paused by operator: paused by api (127.0.0.1)"}, "manual")
	m.Observe(l, migration.Progress{})
	m.Observe(l, migration.Progress{Throttled: true, ThrottleReason: "paused by operator"}) // no source: the text decides, and it is the throttler's pause (ReasonLabel)
	m.ObserveFrom(l, migration.Progress{}, "")
	m.ObserveFrom(l, migration.Progress{Throttled: true, ThrottleReason: "replica-lag: 3s > 1s"}, "not-a-reason")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ghostgate_throttle_events_total Times a migration started throttling (or changed reason), by reason.
# TYPE ghostgate_throttle_events_total counter
ghostgate_throttle_events_total{reason="manual",schema="s",strategy="ghost",table="t"} 2
ghostgate_throttle_events_total{reason="replica_lag",schema="s",strategy="ghost",table="t"} 1
`), "ghostgate_throttle_events_total"))
}
