package throttle

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// SourceServiceHealth: a service that takes part in the migration (a graybox participant) reports
// a p99 latency or an error rate above its own figures from before the copy began.
const SourceServiceHealth Source = "service_health"

// ServiceHealth configures the throttle on the services' own health (issue 12): the participants
// report, per table, their requests' p99 latency, error rate and count over the last seconds;
// the copy is held while an instance's figures for the migrated table rise above its service's
// baseline, taken from the reports of the BaselineWindow before the migration started. gh-ost,
// pt-osc and Spirit watch only the database; this watches what the database's users feel.
// The zero value is off.
type ServiceHealth struct {
	// Factor throttles while an instance's p99 exceeds Factor × its service's baseline p99 (and
	// MinP99), or its error rate Factor × the baseline's (and MinErrorRate). 0: off; else at
	// least 1.
	Factor float64
	// MinP99 is the floor of the p99 limit: a service whose baseline is 2 ms is not held at
	// 6 ms. Default 50ms.
	MinP99 time.Duration
	// MinErrorRate is the floor of the error-rate limit (a fraction: 0.01 is 1%). Default 0.01.
	MinErrorRate float64
	// MinRequests is the fewest requests a report (and a baseline) must count to be trusted: a
	// p99 of three requests is noise. Default 20.
	MinRequests int64
	// BaselineWindow is how far before the migration's start the reports that make the baseline
	// go back. Default 30s, at most 10m (the controller keeps no older reports).
	BaselineWindow time.Duration
	// StaleAfter is how long an instance's last report counts: an instance silent for longer
	// no longer holds the copy (it is named in a note), so a dead instance cannot hold a
	// migration for ever. Default 3s.
	StaleAfter time.Duration
}

// MaxBaselineWindow bounds ServiceHealth.BaselineWindow: the reports a controller keeps.
const MaxBaselineWindow = 10 * time.Minute

// Enabled reports whether the services' health is an input.
func (s ServiceHealth) Enabled() bool { return s.Factor > 0 }

// WithDefaults returns s with every unset field at its default.
func (s ServiceHealth) WithDefaults() ServiceHealth {
	if s.MinP99 == 0 {
		s.MinP99 = 50 * time.Millisecond
	}
	if s.MinErrorRate == 0 {
		s.MinErrorRate = 0.01
	}
	if s.MinRequests == 0 {
		s.MinRequests = 20
	}
	if s.BaselineWindow == 0 {
		s.BaselineWindow = 30 * time.Second
	}
	if s.StaleAfter == 0 {
		s.StaleAfter = 3 * time.Second
	}
	return s
}

// Validate names the first setting that cannot work, by the value given.
func (s ServiceHealth) Validate() error {
	var errs []error
	if s.Factor != 0 && !(s.Factor >= 1) { // also refuses NaN
		errs = append(errs, fmt.Errorf("service health factor %g: want 0 (off) or at least 1 (a smaller factor throttles at the baseline itself)", s.Factor))
	}
	if s.MinP99 < 0 {
		errs = append(errs, fmt.Errorf("service health p99 floor %v: must not be negative", s.MinP99))
	}
	if !(s.MinErrorRate >= 0 && s.MinErrorRate <= 1) {
		errs = append(errs, fmt.Errorf("service health error-rate floor %g: want a fraction between 0 and 1 (0.01 is 1%%)", s.MinErrorRate))
	}
	if s.MinRequests < 0 {
		errs = append(errs, fmt.Errorf("service health min requests %d: must not be negative", s.MinRequests))
	}
	if s.BaselineWindow < 0 || s.BaselineWindow > MaxBaselineWindow {
		errs = append(errs, fmt.Errorf("service health baseline window %v: want between 0 (default 30s) and %v", s.BaselineWindow, MaxBaselineWindow))
	}
	if s.StaleAfter < 0 {
		errs = append(errs, fmt.Errorf("service health stale after %v: must not be negative", s.StaleAfter))
	}
	return errors.Join(errs...)
}

// HealthReport is one instance's figures for the migrated table as the controller received them.
type HealthReport struct {
	Service  string
	Instance string
	At       time.Time     // when the controller received it (its own clock)
	Window   time.Duration // the span the figures cover (the participant's)
	Requests int64
	Errors   int64
	P99      time.Duration
}

// ErrorRate is Errors over Requests (0 without requests).
func (r HealthReport) ErrorRate() float64 {
	if r.Requests <= 0 {
		return 0
	}
	return float64(r.Errors) / float64(r.Requests)
}

// HealthSource supplies the reports of the service instances that use the migrated table
// (cutover's participant registry, for `migrate serve`).
type HealthSource interface {
	// HealthReports returns the reports received after since, oldest first.
	HealthReports(since time.Time) []HealthReport
	// WatchHealth says a throttler reads the reports from now on: the participants are asked to
	// send them faster than their heartbeats, until unwatch is called.
	WatchHealth() (unwatch func())
}

// baseline is one service's figures from before the migration started.
type baseline struct {
	p99       time.Duration // the median of the reports' p99s
	errorRate float64       // errors over requests of the reports
	requests  int64         // the most requests one report counted
	reports   int
}

// serviceState is what the service-health collector last saw.
type serviceState struct {
	read      bool                    // the baselines were taken
	baselines map[string]baseline     // by service
	latest    map[string]HealthReport // by instance: its last report not yet dropped as stale
	noted     map[string]bool         // services whose lack of a baseline was noted
	seen      time.Time               // the newest report's time read so far
}

// takeBaselines computes each service's baseline from the reports received in the window before
// start. A service needs MinRequests in one report at least; the median p99 makes one spike in
// the window no baseline.
func takeBaselines(cfg ServiceHealth, reports []HealthReport, start time.Time) map[string]baseline {
	type sums struct {
		p99s             []time.Duration
		requests, errors int64
		most             int64
	}
	by := map[string]*sums{}
	for _, r := range reports {
		if r.At.After(start) || r.At.Before(start.Add(-cfg.BaselineWindow)) || r.Requests < cfg.MinRequests {
			continue
		}
		s := by[r.Service]
		if s == nil {
			s = &sums{}
			by[r.Service] = s
		}
		s.p99s = append(s.p99s, r.P99)
		s.requests += r.Requests
		s.errors += r.Errors
		s.most = max(s.most, r.Requests)
	}
	out := make(map[string]baseline, len(by))
	for svc, s := range by {
		sort.Slice(s.p99s, func(i, j int) bool { return s.p99s[i] < s.p99s[j] })
		// Reports overlap (each covers the participant's window), which weighs requests alike
		// in both sums: the rate stays the share of failed requests.
		out[svc] = baseline{p99: s.p99s[len(s.p99s)/2], errorRate: float64(s.errors) / float64(s.requests),
			requests: s.most, reports: len(s.p99s)}
	}
	return out
}

// limits are the p99 and error-rate limits of a service with baseline b, and whether each is
// the floor (the baseline times the factor being lower).
func limits(cfg ServiceHealth, b baseline) (p99 time.Duration, p99Floor bool, rate float64, rateFloor bool) {
	p99 = time.Duration(cfg.Factor * float64(b.p99))
	if p99 < cfg.MinP99 {
		p99, p99Floor = cfg.MinP99, true
	}
	rate = cfg.Factor * b.errorRate
	if rate < cfg.MinErrorRate {
		rate, rateFloor = cfg.MinErrorRate, true
	}
	return p99, p99Floor, rate, rateFloor
}

// decideServices throttles on the instance whose figures stand furthest above its service's
// limits. Reports older than StaleAfter, of fewer than MinRequests, or of a service without a
// baseline do not count.
func decideServices(cfg Config, in inputs, now time.Time) (Decision, bool) {
	sh := cfg.ServiceHealth
	if !sh.Enabled() || !in.services.read {
		return Decision{}, false
	}
	var best Decision
	worst := 1.0
	for _, id := range sortedKeys(in.services.latest) {
		r := in.services.latest[id]
		b, ok := in.services.baselines[r.Service]
		age := now.Sub(r.At)
		if !ok || r.Requests < sh.MinRequests || age > sh.StaleAfter {
			continue
		}
		p99Limit, p99Floor, rateLimit, rateFloor := limits(sh, b)
		where := "instance " + id
		if age >= time.Second {
			where += fmt.Sprintf(", last report %s ago", age.Round(100*time.Millisecond))
		}
		if ratio := float64(r.P99) / float64(p99Limit); r.P99 > p99Limit && ratio > worst {
			worst = ratio
			limit := fmt.Sprintf("%.1f× baseline %s (%s)", sh.Factor, msText(b.p99), where)
			if p99Floor {
				limit = fmt.Sprintf("floor %s (%.1f× baseline %s is less; %s)", msText(p99Limit), sh.Factor, msText(b.p99), where)
			}
			best = Decision{Source: SourceServiceHealth, Subject: r.Service, Value: ms(r.P99), Limit: ms(p99Limit),
				Reason: fmt.Sprintf("service %s p99 %s > %s", r.Service, msText(r.P99), limit)}
		}
		if rate := r.ErrorRate(); rate > rateLimit && rate/rateLimit > worst {
			worst = rate / rateLimit
			limit := fmt.Sprintf("%.1f× baseline %s", sh.Factor, pct(b.errorRate))
			if rateFloor {
				limit = fmt.Sprintf("floor %s", pct(rateLimit))
			}
			best = Decision{Source: SourceServiceHealth, Subject: r.Service, Value: 100 * rate, Limit: 100 * rateLimit,
				Reason: fmt.Sprintf("service %s error rate %s > %s (%s, %d of %d requests)", r.Service, pct(rate), limit, where, r.Errors, r.Requests)}
		}
	}
	return best, best.Source != ""
}

// absorb takes newly received reports into the state and returns the notes worth recording:
// the baselines when first taken, a service without one, an instance that fell silent.
func absorb(cfg ServiceHealth, st *serviceState, start time.Time, reports []HealthReport, now time.Time) []string {
	var notes []string
	if !st.read {
		st.read, st.baselines = true, takeBaselines(cfg, reports, start)
		for _, svc := range sortedKeys(st.baselines) {
			b := st.baselines[svc]
			p99, _, rate, _ := limits(cfg, b)
			notes = append(notes, fmt.Sprintf("service health: %s baseline p99 %s, error rate %s (%d reports of the %s before the start); holds the copy above p99 %s or error rate %s",
				svc, msText(b.p99), pct(b.errorRate), b.reports, cfg.BaselineWindow, msText(p99), pct(rate)))
		}
	}
	for _, r := range reports {
		if r.At.After(st.seen) {
			st.seen = r.At
		}
		if prev, ok := st.latest[r.Instance]; !ok || !r.At.Before(prev.At) {
			st.latest[r.Instance] = r
		}
		if _, ok := st.baselines[r.Service]; !ok && !st.noted[r.Service] && r.At.After(start) {
			st.noted[r.Service] = true
			notes = append(notes, fmt.Sprintf("service health: %s has no baseline (no report of at least %d requests in the %s before the start): its figures are not watched",
				r.Service, cfg.MinRequests, cfg.BaselineWindow))
		}
	}
	for _, id := range sortedKeys(st.latest) {
		r := st.latest[id]
		if age := now.Sub(r.At); age > cfg.StaleAfter {
			delete(st.latest, id)
			if _, ok := st.baselines[r.Service]; ok && r.At.After(start) {
				notes = append(notes, fmt.Sprintf("service health: instance %s of %s silent for %s (> %s): its figures no longer hold the copy",
					id, r.Service, age.Round(100*time.Millisecond), cfg.StaleAfter))
			}
		}
	}
	return notes
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// msText is a latency as a DBA reads it: whole milliseconds, or with a decimal below 10ms.
func msText(d time.Duration) string {
	if d < 10*time.Millisecond {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", ms(d)), ".0") + "ms"
	}
	return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds())
}

func pct(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*f), ".0") + "%" }
