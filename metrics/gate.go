package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GateLabels identify a migrated table at the gate (gh-ost migrations only have one).
type GateLabels struct {
	Schema string
	Table  string
}

func (l GateLabels) values() []string { return []string{l.Schema, l.Table} }

var gateLabels = []string{"schema", "table"}

// Condition is one line of a gate checklist as the metrics see it. Name is one of the gate's
// closed set of line names (cutover.Line*), so it is a bounded label.
type Condition struct {
	Name string
	OK   bool
}

// ChecksumProgress is how far the gate's checksum got.
type ChecksumProgress struct {
	Chunks int64
	Rows   int64
}

// ParticipantCounts are the registered service instances by state.
type ParticipantCounts struct {
	Live, Lapsed, Prepared int
}

// Gate records the cut-over gate of `migrate serve` (issue 13): whether each migration waits at
// the gate and for how long, each condition of its checklist, the checksum's progress and
// mismatches, what the participants answered, and the participants' states. Safe for
// concurrent use.
type Gate struct {
	mu    sync.Mutex
	since map[GateLabels]time.Time // when each table's gate began waiting

	source func() ParticipantCounts // read at each scrape; nil: no registry

	waiting            *prometheus.GaugeVec
	waitGauge          *prometheus.GaugeVec
	condition          *prometheus.GaugeVec
	events             *prometheus.CounterVec
	checksumChunks     *prometheus.GaugeVec
	checksumRows       *prometheus.GaugeVec
	checksumMismatches *prometheus.CounterVec
	participantIssues  *prometheus.CounterVec
	participants       *prometheus.GaugeVec
}

// Gate event kinds counted by ghostgate_gate_events_total (a closed set: other kinds are
// counted as "other").
var gateEventKinds = map[string]bool{"gate_waiting": true, "gate_opened": true, "gate_closed": true,
	"checksum": true, "checksum_mismatch": true, "participant": true, "participant_phase": true, "approval": true}

// Participant issues counted by ghostgate_participant_issues_total (cutover's closed set).
var participantIssues = map[string]bool{"lapsed": true, "not_ready": true, "timeout": true}

// NewGate creates the gate's collectors and registers them on reg (nil: not registered).
// participants, when not nil, is read at each scrape for ghostgate_participants.
func NewGate(reg prometheus.Registerer, participants func() ParticipantCounts) *Gate {
	g := &Gate{
		since:  map[GateLabels]time.Time{},
		source: participants,
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("gate_waiting"),
			Help: "1 while the migration waits at the cut-over gate (ready, the gate closed), else 0."}, gateLabels),
		waitGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("gate_wait_seconds"),
			Help: "Seconds the migration has been waiting at the cut-over gate (0 when it does not wait)."}, gateLabels),
		condition: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("gate_condition_ok"),
			Help: "1 when the checklist line holds, 0 when it keeps the gate closed, by condition."}, append(gateLabels, "condition")),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("gate_events_total"),
			Help: "Decisions of the cut-over gate written to the event log, by kind."}, append(gateLabels, "kind")),
		checksumChunks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("checksum_chunks"),
			Help: "Chunks the gate's checksum has compared so far."}, gateLabels),
		checksumRows: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("checksum_rows"),
			Help: "Rows the gate's checksum has compared so far."}, gateLabels),
		checksumMismatches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("checksum_mismatches_total"),
			Help: "Chunks whose original and ghost rows still differed once the original held still."}, gateLabels),
		participantIssues: prometheus.NewCounterVec(prometheus.CounterOpts{Name: fq("participant_issues_total"),
			Help: "Participant failures the gate named: lapsed lease, not ready, no ack by the deadline."}, append(gateLabels, "issue")),
		participants: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: fq("participants"),
			Help: "Registered service instances by state: live (lease held), lapsed, prepared (acked prepare, ready)."}, []string{"state"}),
	}
	if reg != nil {
		reg.MustRegister(g) // itself: Collect brings the wait seconds and participants up to date
	}
	return g
}

func (g *Gate) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.waiting, g.waitGauge, g.condition, g.events, g.checksumChunks, g.checksumRows,
		g.checksumMismatches, g.participantIssues, g.participants}
}

// Describe implements prometheus.Collector.
func (g *Gate) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range g.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector; the wait seconds and participants are brought up to
// date first.
func (g *Gate) Collect(ch chan<- prometheus.Metric) {
	g.Tick(time.Now())
	if g.source != nil {
		g.Participants(g.source())
	}
	for _, c := range g.collectors() {
		c.Collect(ch)
	}
}

var _ prometheus.Collector = (*Gate)(nil)

// Checklist records a check of the gate of l's table: waiting (not open and not closed), each
// condition, and the checksum's progress when known (nil: the line has no progress).
func (g *Gate) Checklist(l GateLabels, open bool, closed string, at time.Time, conds []Condition, cs *ChecksumProgress) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := l.values()
	waits := !open && closed == ""
	if _, ok := g.since[l]; !ok && waits {
		g.since[l] = at
		// The counters exist from the first check on, at 0, so that rate() and increase() in
		// alert rules see the first mismatch or issue rather than a series appearing.
		g.checksumMismatches.WithLabelValues(v...).Add(0)
		for issue := range participantIssues {
			g.participantIssues.WithLabelValues(append(v, issue)...).Add(0)
		}
	}
	if !waits {
		delete(g.since, l)
		g.waitGauge.WithLabelValues(v...).Set(0)
	}
	g.waiting.WithLabelValues(v...).Set(boolValue(waits))
	for _, c := range conds {
		g.condition.WithLabelValues(append(v, c.Name)...).Set(boolValue(c.OK))
	}
	if cs != nil {
		g.checksumChunks.WithLabelValues(v...).Set(float64(cs.Chunks))
		g.checksumRows.WithLabelValues(v...).Set(float64(cs.Rows))
	}
}

// Tick brings the wait seconds of every waiting gate up to now.
func (g *Gate) Tick(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for l, since := range g.since {
		g.waitGauge.WithLabelValues(l.values()...).Set(nonNegative(now.Sub(since).Seconds()))
	}
}

// Event counts one gate decision of kind (a cutover event kind); for a participant event, issue
// is its kind (lapsed, not_ready, timeout).
func (g *Gate) Event(l GateLabels, kind, issue string) {
	v := l.values()
	if !gateEventKinds[kind] {
		kind = "other"
	}
	g.events.WithLabelValues(append(v, kind)...).Inc()
	switch {
	case kind == "checksum_mismatch":
		g.checksumMismatches.WithLabelValues(v...).Inc()
	case kind == "participant" && participantIssues[issue]:
		g.participantIssues.WithLabelValues(append(v, issue)...).Inc()
	}
}

// Ended removes the live series of l's gate (waiting, wait seconds, conditions, checksum
// progress) once its migration ended; the counters stay.
func (g *Gate) Ended(l GateLabels) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.since, l)
	v := l.values()
	for _, gv := range []*prometheus.GaugeVec{g.waiting, g.waitGauge, g.checksumChunks, g.checksumRows} {
		gv.DeleteLabelValues(v...)
	}
	g.condition.DeletePartialMatch(prometheus.Labels{"schema": l.Schema, "table": l.Table})
}

// Participants records the registry's instances by state.
func (g *Gate) Participants(c ParticipantCounts) {
	g.participants.WithLabelValues("live").Set(float64(c.Live))
	g.participants.WithLabelValues("lapsed").Set(float64(c.Lapsed))
	g.participants.WithLabelValues("prepared").Set(float64(c.Prepared))
}

// RegisterBuildInfo registers ghostgate_build_info: 1, with the build's version, VCS revision
// and Go version as labels (one series per process).
func RegisterBuildInfo(reg prometheus.Registerer, version, revision, goVersion string) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: fq("build_info"), Help: "The running build of ghostgate: always 1, described by its labels.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	}, func() float64 { return 1 }))
}
