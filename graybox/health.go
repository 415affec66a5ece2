package graybox

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Readiness is an http.Handler for a readiness probe (e.g. Kubernetes readinessProbe). It answers
// 200 {"status":"ok"}, or 503 with {"status":"migrating"} during a cut-over when the service opts
// in with ReportMigrating, or 503 {"status":"unavailable","reason":…} when Check fails. Without
// the opt-in, a cut-over still shows in the body: 200 {"status":"ok","migrating":true}. Both
// follow Migrating, which (for Participant.Migrating) ends by itself when the prepare's hold
// passes or the controller has been silent for a lease.
//
// Taking instances out of rotation during the cut-over is a choice: it moves traffic to
// instances of other services (or queues it at the load balancer) for the seconds of the rename,
// but with every instance migrating at once it empties the pool. Services whose instances all
// take part should rather shed writes (ShedWrites) and keep serving reads.
type Readiness struct {
	// Migrating reports whether a cut-over is in progress (typically Participant.Migrating).
	Migrating func() bool
	// ReportMigrating opts in to answering 503 "migrating" while Migrating() holds.
	ReportMigrating bool
	// Check is the service's own readiness check; nil means always ready.
	Check func(ctx context.Context) error
}

// Readiness statuses, in the JSON body.
const (
	StatusOK          = "ok"
	StatusMigrating   = "migrating"
	StatusUnavailable = "unavailable"
)

type readinessBody struct {
	Status    string `json:"status"`
	Migrating bool   `json:"migrating,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// ServeHTTP answers the probe.
func (r Readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	migrating := r.Migrating != nil && r.Migrating()
	body, code := readinessBody{Status: StatusOK, Migrating: migrating}, http.StatusOK
	switch {
	case r.ReportMigrating && migrating:
		body, code = readinessBody{Status: StatusMigrating, Migrating: true}, http.StatusServiceUnavailable
	case r.Check != nil:
		if err := r.Check(req.Context()); err != nil {
			body, code = readinessBody{Status: StatusUnavailable, Migrating: migrating, Reason: err.Error()}, http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// DefaultRetryAfter is the Retry-After of ShedWrites when none is given: a gh-ost cut-over holds
// its lock for about a second, so asking clients to come back a second later is enough.
const DefaultRetryAfter = time.Second

// ShedWrites returns middleware that answers 429 Too Many Requests with a Retry-After header
// to writes (any method but GET, HEAD and OPTIONS) while shed() holds, and passes everything
// else to next. Pass Participant.Migrating to shed during prepare → commit, or a Switch to
// decide yourself. retryAfter is rounded up to whole seconds (the header's unit); 0 means
// DefaultRetryAfter.
func ShedWrites(shed func() bool, retryAfter time.Duration, next http.Handler) http.Handler {
	return ShedWritesCounted(shed, retryAfter, nil, next)
}

// ShedWritesCounted is ShedWrites that also counts, in stats (nil: no counting), the writes it
// shed and let through and how long shedding lasts: what a service exports as its shedding
// metric with the metrics library it already uses (graybox itself depends on the standard
// library only). One ShedStats may count several handlers.
func ShedWritesCounted(shed func() bool, retryAfter time.Duration, stats *ShedStats, next http.Handler) http.Handler {
	if retryAfter <= 0 {
		retryAfter = DefaultRetryAfter
	}
	secs := strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isRead(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if !shed() {
			stats.observe(false)
			next.ServeHTTP(w, r)
			return
		}
		stats.observe(true)
		w.Header().Set("Retry-After", secs)
		http.Error(w, "writes paused during a schema cut-over; retry shortly", http.StatusTooManyRequests)
	})
}

// ShedStats counts what ShedWritesCounted did with writes. Safe for concurrent use; the zero
// value is ready.
type ShedStats struct {
	shed, passed atomic.Int64
	since        atomic.Int64 // UnixNano of the first shed write of the current run, 0 when not shedding
	longest      atomic.Int64 // nanoseconds: the longest run of shed writes so far
}

// ShedStatsSnapshot is a ShedStats at one moment.
type ShedStatsSnapshot struct {
	Shed   int64 // writes answered 429
	Passed int64 // writes passed to the handler
	// Shedding is how long the current run of shed writes has lasted (0 when the last write
	// passed): from the first 429 of the run until now.
	Shedding time.Duration
	// Longest is the longest run of shed writes so far, from its first 429 to its last.
	Longest time.Duration
}

// Snapshot returns the counts now.
func (s *ShedStats) Snapshot() ShedStatsSnapshot {
	out := ShedStatsSnapshot{Shed: s.shed.Load(), Passed: s.passed.Load(), Longest: time.Duration(s.longest.Load())}
	if since := s.since.Load(); since != 0 {
		out.Shedding = time.Since(time.Unix(0, since))
	}
	return out
}

func (s *ShedStats) observe(shed bool) {
	if s == nil {
		return
	}
	now := time.Now().UnixNano()
	if !shed {
		s.passed.Add(1)
		s.since.Store(0)
		return
	}
	s.shed.Add(1)
	s.since.CompareAndSwap(0, now)
	if run := now - s.since.Load(); run > 0 {
		for {
			l := s.longest.Load()
			if run <= l || s.longest.CompareAndSwap(l, run) {
				break
			}
		}
	}
}

func isRead(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// Switch is a concurrency-safe on/off flag, for conditions the service sets itself (e.g. shed
// writes only from its prepare callback until commit). The zero value is off.
type Switch struct{ on atomic.Bool }

// Set turns the switch on or off.
func (s *Switch) Set(on bool) { s.on.Store(on) }

// On reports whether the switch is on.
func (s *Switch) On() bool { return s.on.Load() }
