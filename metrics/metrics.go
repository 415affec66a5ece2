// Package metrics exposes ghostgate's migrations to Prometheus: copy progress, throttling,
// cut-over attempts and outcomes. It follows the client_golang conventions the house style asks
// for: a caller-supplied registry (no promauto globals, no package state), namespace "ghostgate",
// base units (seconds, ratios), "_total" only on counters, and bounded labels — schema, table and
// strategy, plus small closed sets (throttle reason, result, final status). The migration id is
// never a label: every migration would create new series forever.
package metrics

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ghostgate/ghostgate/internal/version"
	"github.com/ghostgate/ghostgate/migration"
)

// Namespace prefixes every metric name.
const Namespace = "ghostgate"

// Labels identify the migrated table. At most one migration is active per table (the store
// enforces it), so these labels name one running migration at a time.
type Labels struct {
	Schema   string
	Table    string
	Strategy string
}

func (l Labels) values() []string { return []string{l.Schema, l.Table, l.Strategy} }

var tableLabels = []string{"schema", "table", "strategy"}

// Throttle reasons: the closed set the throttle_events_total reason label takes.
const (
	ReasonMaxLoad        = "max_load"
	ReasonCriticalLoad   = "critical_load"
	ReasonReplicaLag     = "replica_lag"
	ReasonReplicaStopped = "replica_stopped"
	ReasonManual         = "manual"
	ReasonHTTP           = "http"
	ReasonServiceHealth  = "service_health" // a participant's p99 or error rate (the service is named in the reason, not the label)
	ReasonOther          = "other"
)

// Reasons lists the throttle reason label values.
var Reasons = []string{ReasonMaxLoad, ReasonCriticalLoad, ReasonReplicaLag, ReasonReplicaStopped, ReasonManual, ReasonHTTP, ReasonServiceHealth, ReasonOther}

// ReasonLabel maps a throttle reason as engines report it (free text such as "replica-lag: 2.1s
// > 1.5s") to the closed label set, so a chatty reason cannot explode the series count.
func ReasonLabel(reason string) string {
	r := strings.ToLower(strings.TrimSpace(reason))
	r = strings.NewReplacer("-", "_", " ", "_").Replace(r)
	switch {
	case strings.HasPrefix(r, "paused"):
		return ReasonManual // the throttler's manual pause: "paused by operator: ..."
	case strings.HasPrefix(r, "lag="):
		// gh-ost's own replica lag check ("lag=3.01s", go/logic/throttler.go). It fires for a
		// moment after every pause longer than the lag limit: gh-ost writes no changelog
		// heartbeat while throttled by user command (Applier.InitiateHeartbeat).
		return ReasonReplicaLag
	case strings.HasPrefix(r, "service_"):
		return ReasonServiceHealth // the throttler's "service orders p99 412ms > …"
	}
	for _, k := range Reasons {
		if strings.HasPrefix(r, k) {
			return k
		}
	}
	return ReasonOther
}

// sourceLabel is the reason label of a throttler source ("manual", "replica_lag", ...): they are
// spelled alike. Empty when the source is not one of the labels.
func sourceLabel(source string) string {
	for _, k := range Reasons {
		if source == k && k != ReasonOther {
			return k
		}
	}
	return ""
}

// Metrics records migrations into Prometheus collectors. It is safe for concurrent use.
type Metrics struct {
	mu   sync.Mutex
	last map[Labels]observed // the previous Observe per table, to turn levels into counts

	rowsCopied      *prometheus.CounterVec
	copyRate        *prometheus.GaugeVec
	progress        *prometheus.GaugeVec
	eta             *prometheus.GaugeVec
	lag             *prometheus.GaugeVec
	backlog         *prometheus.GaugeVec
	throttled       *prometheus.GaugeVec
	chunkSize       *prometheus.GaugeVec
	niceRatio       *prometheus.GaugeVec
	dmlBatchSize    *prometheus.GaugeVec
	applyRate       *prometheus.GaugeVec
	chunkResizes    *prometheus.CounterVec
	throttleEvents  *prometheus.CounterVec
	cutOverAttempts *prometheus.CounterVec
	cutOverLock     *prometheus.HistogramVec
	finished        *prometheus.CounterVec
	active          *prometheus.GaugeVec
}

type observed struct {
	copied    int64
	throttled bool
	reason    string
}

// New creates the collectors and registers them on reg (nil: not registered, e.g. to collect
// them directly in a test). Like MustRegister it panics if reg already holds metrics of the same
// names: that is a wiring mistake, not a runtime condition.
func New(reg prometheus.Registerer) *Metrics {
	gauge := func(name, help string, extra ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq(name), Help: help}, append(tableLabels, extra...))
	}
	counter := func(name, help string, extra ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq(name), Help: help}, append(tableLabels, extra...))
	}
	m := &Metrics{
		last:            map[Labels]observed{},
		rowsCopied:      counter("rows_copied_total", "Rows copied from the original table into the new one."),
		copyRate:        gauge("copy_rows_per_second", "Current copy rate in rows per second."),
		progress:        gauge("progress_ratio", "Copy progress from 0 to 1; never above 1 even when the row estimate is low."),
		eta:             gauge("eta_seconds", "Estimated seconds until the copy completes."),
		lag:             gauge("replica_lag_seconds", "Replica lag seen by the throttler, in seconds."),
		backlog:         gauge("binlog_backlog_events", "Binlog events not yet applied to the new table."),
		throttled:       gauge("throttled", "1 while the migration is throttled, else 0."),
		chunkSize:       gauge("chunk_size_rows", "gh-ost's current copy chunk size in rows."),
		niceRatio:       gauge("nice_ratio", "gh-ost's sleep after each copy chunk, in multiples of the chunk's time (0: none)."),
		dmlBatchSize:    gauge("dml_batch_size_events", "gh-ost's current binlog apply batch: events applied per transaction (grows with the backlog)."),
		applyRate:       gauge("apply_capacity_events_per_second", "Binlog events per second gh-ost's apply loop applied while events waited for it (its measured capacity this run)."),
		chunkResizes:    counter("chunk_resizes_total", "Chunk size changes, by kind (grow, shrink_slow, shrink_throttle, operator).", "kind"),
		throttleEvents:  counter("throttle_events_total", "Times a migration started throttling (or changed reason), by reason.", "reason"),
		cutOverAttempts: counter("cutover_attempts_total", "Cut-over (rename) attempts, by result (ok, failed).", "result"),
		cutOverLock: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: fq("cutover_lock_duration_seconds"),
			Help: "How long a cut-over attempt held the table lock, in seconds.",
			// Around gh-ost's 3 s cut-over lock timeout, with resolution where applications feel it.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5, 10},
		}, tableLabels),
		finished: counter("migrations_finished_total", "Migrations that ended, by final status.", "status"),
		active:   gauge("migrations_active", "1 while a migration on the table is active, else 0."),
	}
	if reg != nil {
		reg.MustRegister(m.collectors()...)
	}
	return m
}

func fq(name string) string { return prometheus.BuildFQName(Namespace, "", name) }

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rowsCopied, m.copyRate, m.progress, m.eta, m.lag, m.backlog, m.throttled,
		m.chunkSize, m.niceRatio, m.dmlBatchSize, m.applyRate, m.chunkResizes, m.throttleEvents, m.cutOverAttempts, m.cutOverLock, m.finished, m.active}
}

// Describe implements prometheus.Collector, so a Metrics built with New(nil) can be collected
// or registered as one.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

var _ prometheus.Collector = (*Metrics)(nil)

// Started marks a migration on l's table as active and starts its row count afresh.
func (m *Metrics) Started(l Labels) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[l] = observed{}
	m.active.WithLabelValues(l.values()...).Set(1)
}

// Observe records one progress event. Rows copied is a counter of the rows seen copied: an event
// reporting fewer rows than before (a restarted engine) adds nothing. The ratio is clamped to
// [0, 1] and negative durations read as 0, whatever the engine reports.
func (m *Metrics) Observe(l Labels, p migration.Progress) { m.ObserveFrom(l, p, "") }

// ObserveFrom is Observe with the throttler's own source of the decision (runner/throttle's
// Source: "manual" for a DBA's pause, "replica_lag", …). When it is one of Reasons it is the
// reason label, so that a manual pause counts as "manual" whatever its text says (issue 13);
// otherwise the reason is read from the engine's text.
func (m *Metrics) ObserveFrom(l Labels, p migration.Progress, source string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := l.values()
	prev, seen := m.last[l]
	if !seen {
		m.active.WithLabelValues(v...).Set(1) // observed without Started: a resumed run
	}
	if p.RowsCopied > prev.copied {
		m.rowsCopied.WithLabelValues(v...).Add(float64(p.RowsCopied - prev.copied))
		prev.copied = p.RowsCopied
	} else {
		m.rowsCopied.WithLabelValues(v...).Add(0) // make the series exist from the first event
	}
	m.copyRate.WithLabelValues(v...).Set(nonNegative(p.RowsPerSecond))
	m.progress.WithLabelValues(v...).Set(ratio(p))
	if p.ETAState == "" || p.ETAState == migration.ETAKnown || p.ETAState == migration.ETADone {
		m.eta.WithLabelValues(v...).Set(nonNegative(p.ETA.Seconds()))
	} else {
		// Estimating, or held by a throttle: no time can be promised, and a stale one would be a
		// lie (issue 12). An absent series is "unknown".
		m.eta.DeleteLabelValues(v...)
	}
	m.lag.WithLabelValues(v...).Set(nonNegative(p.ReplicaLag.Seconds()))
	m.backlog.WithLabelValues(v...).Set(nonNegative(float64(p.BacklogEvents)))
	m.throttled.WithLabelValues(v...).Set(boolValue(p.Throttled))
	if p.ChunkSize > 0 { // a gh-ost copy
		m.chunkSize.WithLabelValues(v...).Set(float64(p.ChunkSize))
		m.niceRatio.WithLabelValues(v...).Set(nonNegative(p.NiceRatio))
	}
	if p.DMLBatchSize > 0 {
		m.dmlBatchSize.WithLabelValues(v...).Set(float64(p.DMLBatchSize))
	}
	if p.ApplyRate > 0 {
		m.applyRate.WithLabelValues(v...).Set(p.ApplyRate)
	}
	if p.Throttled {
		reason := ReasonLabel(p.ThrottleReason)
		if s := sourceLabel(p.ThrottleSource); s != "" {
			reason = s // the source the runner put on the report (issue 12)
		}
		if slices.Contains(Reasons, source) {
			reason = source
		}
		if !prev.throttled || prev.reason != reason {
			m.throttleEvents.WithLabelValues(append(v, reason)...).Inc()
		}
		prev.reason = reason
	}
	prev.throttled = p.Throttled
	m.last[l] = prev
}

// ChunkResized counts one change of the chunk size by its kind (runner/chunk's closed set).
func (m *Metrics) ChunkResized(l Labels, kind string) {
	m.chunkResizes.WithLabelValues(append(l.values(), kind)...).Inc()
}

// CutOverAttempt records one rename attempt and how long it held the table lock (not observed
// when zero: the attempt never got the lock).
func (m *Metrics) CutOverAttempt(l Labels, lockDuration time.Duration, ok bool) {
	result := "failed"
	if ok {
		result = "ok"
	}
	m.cutOverAttempts.WithLabelValues(append(l.values(), result)...).Inc()
	if lockDuration > 0 {
		m.cutOverLock.WithLabelValues(l.values()...).Observe(lockDuration.Seconds())
	}
}

// Finished records the end of the migration on l's table with its final status, marks the table
// inactive and removes the live gauges (rate, progress, ETA, lag, backlog, throttled) so that a
// finished migration does not keep reporting its last values. Non-terminal statuses are ignored.
func (m *Metrics) Finished(l Labels, status migration.Status) {
	if !status.Terminal() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := l.values()
	m.finished.WithLabelValues(append(v, string(status))...).Inc()
	m.active.WithLabelValues(v...).Set(0)
	for _, g := range []*prometheus.GaugeVec{m.copyRate, m.progress, m.eta, m.lag, m.backlog, m.throttled, m.chunkSize, m.niceRatio, m.dmlBatchSize, m.applyRate} {
		g.DeleteLabelValues(v...)
	}
	delete(m.last, l)
}

// ratio is the event's ratio, or copied/estimated when the engine left it at zero, in [0, 1].
func ratio(p migration.Progress) float64 {
	r := p.Ratio
	if r == 0 {
		r = migration.ClampRatio(p.RowsCopied, p.RowsEstimated)
	}
	if math.IsNaN(r) || r < 0 {
		return 0
	}
	return math.Min(r, 1)
}

func nonNegative(f float64) float64 {
	if math.IsNaN(f) || f < 0 {
		return 0
	}
	return f
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewRegistry returns a registry with the Go runtime and process collectors and
// ghostgate_build_info, the usual base for a controller's /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	v := version.Get()
	RegisterBuildInfo(reg, v.Version, v.Revision, v.GoVersion)
	return reg
}

// Handler serves the metrics gathered from g (usually the registry given to New) at /metrics.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
