package throttle

import (
	"fmt"
	"strings"
	"time"
)

// loadReading is the last read of the primary's global status.
type loadReading struct {
	at     time.Time // zero: not read yet
	values map[string]float64
	err    error
	// criticalSince is when critical load was first seen, held on every read since; zero when
	// the last read was under every critical limit.
	criticalSince time.Time
}

// replicaReading is the last read of one replica.
type replicaReading struct {
	name        string
	at          time.Time // zero: not read yet
	err         error     // unreachable or the read failed
	replicating bool      // SHOW SLAVE STATUS: IO and SQL threads both Yes
	status      string    // why not replicating, e.g. "IO=Yes SQL=No"
	heartbeat   bool      // our heartbeat row has reached the replica
	lag         time.Duration
	// behind is Seconds_Behind_Master, -1 when NULL or not read. It is only consulted until our
	// heartbeat arrives: whole seconds and blind to a stalled IO thread, but the best figure there
	// is before the first heartbeat.
	behind int64
}

// beatState is what the heartbeat writer has done, which bounds how long a replica may go
// without our row before that is lag rather than the heartbeat not having been written yet.
type beatState struct {
	started time.Time // when Run began writing; zero before Run
	first   time.Time // the writer clock of the first heartbeat written; zero before
}

// httpReading is the last answer of the HTTP check.
type httpReading struct {
	at     time.Time
	status int
	err    error
}

// inputs is everything the collectors last saw. decide reads it and nothing else.
type inputs struct {
	load     loadReading
	replicas []replicaReading
	http     httpReading
	beat     beatState
	paused   bool
	pauseMsg string
	services serviceState
}

// allRead reports whether every configured input has been read at least once.
func allRead(cfg Config, in inputs) bool {
	if len(cfg.statusVariables()) > 0 && in.load.at.IsZero() {
		return false
	}
	for _, r := range in.replicas {
		if r.at.IsZero() {
			return false
		}
	}
	return cfg.HTTPURL == "" || !in.http.at.IsZero()
}

// exceeded returns the first threshold that values reach or pass (gh-ost compares with >=).
func exceeded(values map[string]float64, limits []Threshold) (Threshold, float64, bool) {
	for _, t := range limits {
		if v, ok := values[strings.ToUpper(t.Variable)]; ok && v >= t.Limit {
			return t, v, true
		}
	}
	return Threshold{}, 0, false
}

// trackCritical returns the new start of a critical-load episode given the previous one and
// whether the reading at `at` was critical.
func trackCritical(since time.Time, critical bool, at time.Time) time.Time {
	switch {
	case !critical:
		return time.Time{}
	case since.IsZero():
		return at
	default:
		return since
	}
}

// decide turns the readings into one decision, the most severe first: critical load past its
// grace, critical load within it, manual pause, a replica not replicating, replica lag, max
// load, the HTTP check, the services' health. Since is left for the caller, which knows the previous decision.
func decide(cfg Config, in inputs, now time.Time) Decision {
	for _, rule := range []func(Config, inputs, time.Time) (Decision, bool){
		decideCritical, decideManual, decideReplicaStopped, decideReplicaLag, decideMaxLoad, decideHTTP, decideServices,
	} {
		if d, ok := rule(cfg, in, now); ok {
			d.Throttle = true
			return d
		}
	}
	return Decision{}
}

func decideCritical(cfg Config, in inputs, now time.Time) (Decision, bool) {
	if len(cfg.CriticalLoad) == 0 || in.load.criticalSince.IsZero() {
		return Decision{}, false
	}
	t, v, ok := exceeded(in.load.values, cfg.CriticalLoad)
	if !ok {
		return Decision{}, false
	}
	held := now.Sub(in.load.criticalSince)
	d := Decision{Source: SourceCriticalLoad, Subject: t.Variable, Value: v, Limit: t.Limit}
	if held >= cfg.CriticalLoadGrace {
		d.Critical = true
		d.Reason = fmt.Sprintf("critical load %s=%g >= %g for %v: abort", t.Variable, v, t.Limit, held.Round(time.Millisecond))
		return d, true
	}
	d.Reason = fmt.Sprintf("critical load %s=%g >= %g for %v (aborts after %v)", t.Variable, v, t.Limit,
		held.Round(time.Millisecond), cfg.CriticalLoadGrace)
	return d, true
}

func decideManual(_ Config, in inputs, _ time.Time) (Decision, bool) {
	if !in.paused {
		return Decision{}, false
	}
	reason := "paused by operator"
	if in.pauseMsg != "" {
		reason += ": " + in.pauseMsg
	}
	return Decision{Source: SourceManual, Reason: reason}, true
}

// decideReplicaStopped throttles on a replica that cannot prove it is replicating: not read yet,
// unreachable, or with a stopped IO/SQL thread. Such a replica never counts as lag 0.
func decideReplicaStopped(_ Config, in inputs, _ time.Time) (Decision, bool) {
	for _, r := range in.replicas {
		d := Decision{Source: SourceReplicaStopped, Subject: r.name}
		switch {
		case r.at.IsZero():
			d.Reason = fmt.Sprintf("replica %s not checked yet", r.name)
		case r.err != nil:
			d.Reason = fmt.Sprintf("replica %s unreachable: %v", r.name, r.err)
		case !r.replicating:
			d.Reason = fmt.Sprintf("replica %s not replicating (%s)", r.name, r.status)
		default:
			continue
		}
		return d, true
	}
	return Decision{}, false
}

// decideReplicaLag reports the worst lagging replica. Before our heartbeat has reached a replica
// its lag is known only from below: at least the time since the first heartbeat was written (or,
// before one was written, since the writer started) and at least Seconds_Behind_Master. It
// throttles once that bound passes MaxLag, not before: a replica cannot have received a heartbeat
// that was written a moment ago, and throttling on that is the spurious "no heartbeat received
// yet" every run started with (issue 12).
func decideReplicaLag(cfg Config, in inputs, now time.Time) (Decision, bool) {
	var worst *replicaReading
	for i := range in.replicas {
		r := &in.replicas[i]
		if !r.heartbeat {
			if d, ok := noHeartbeatLag(cfg, in.beat, *r, now); ok {
				return d, true
			}
			continue
		}
		if r.lag > cfg.MaxLag && (worst == nil || r.lag > worst.lag) {
			worst = r
		}
	}
	if worst == nil {
		return Decision{}, false
	}
	return Decision{Source: SourceReplicaLag, Subject: worst.name, Value: ms(worst.lag), Limit: ms(cfg.MaxLag),
		Reason: fmt.Sprintf("replica %s lag %dms > %dms", worst.name, worst.lag.Milliseconds(), cfg.MaxLag.Milliseconds())}, true
}

// noHeartbeatLag decides on a replica our heartbeat has not reached yet, from the lower bounds
// of its lag.
func noHeartbeatLag(cfg Config, beat beatState, r replicaReading, now time.Time) (Decision, bool) {
	d := Decision{Source: SourceReplicaLag, Subject: r.name, Limit: ms(cfg.MaxLag)}
	if behind := time.Duration(r.behind) * time.Second; behind > cfg.MaxLag {
		d.Value = ms(behind)
		d.Reason = fmt.Sprintf("replica %s Seconds_Behind_Master=%d > %dms (no heartbeat received yet)",
			r.name, r.behind, cfg.MaxLag.Milliseconds())
		return d, true
	}
	switch {
	case !beat.first.IsZero() && now.Sub(beat.first) > cfg.MaxLag:
		d.Value = ms(now.Sub(beat.first))
		d.Reason = fmt.Sprintf("replica %s: no heartbeat received in %dms > %dms", r.name,
			now.Sub(beat.first).Milliseconds(), cfg.MaxLag.Milliseconds())
	case beat.first.IsZero() && (beat.started.IsZero() || now.Sub(beat.started) > cfg.MaxLag):
		// No heartbeat could be written (or the writer is not running): the lag cannot be known.
		d.Reason = fmt.Sprintf("replica %s: no heartbeat written yet, lag unknown", r.name)
	default:
		return Decision{}, false
	}
	return d, true
}

func decideMaxLoad(cfg Config, in inputs, _ time.Time) (Decision, bool) {
	if len(cfg.MaxLoad) == 0 && len(cfg.CriticalLoad) == 0 {
		return Decision{}, false
	}
	switch {
	case in.load.at.IsZero():
		return Decision{Source: SourceMaxLoad, Reason: "load not read yet"}, true
	case in.load.err != nil:
		return Decision{Source: SourceMaxLoad, Reason: fmt.Sprintf("cannot read load: %v", in.load.err)}, true
	}
	t, v, ok := exceeded(in.load.values, cfg.MaxLoad)
	if !ok {
		return Decision{}, false
	}
	return Decision{Source: SourceMaxLoad, Subject: t.Variable, Value: v, Limit: t.Limit,
		Reason: fmt.Sprintf("max load %s=%g >= %g", t.Variable, v, t.Limit)}, true
}

func decideHTTP(cfg Config, in inputs, _ time.Time) (Decision, bool) {
	if cfg.HTTPURL == "" {
		return Decision{}, false
	}
	d := Decision{Source: SourceHTTP, Subject: cfg.HTTPURL}
	switch {
	case in.http.at.IsZero():
		d.Reason = "http check not run yet"
	case in.http.err != nil:
		d.Reason = fmt.Sprintf("http check %s: %v", cfg.HTTPURL, in.http.err)
	case in.http.status < 200 || in.http.status > 299:
		d.Value = float64(in.http.status)
		d.Reason = fmt.Sprintf("http check %s returned %d", cfg.HTTPURL, in.http.status)
	default:
		return Decision{}, false
	}
	return d, true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
