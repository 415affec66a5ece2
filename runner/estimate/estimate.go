// Package estimate turns a copy's progress reports into a rate and an ETA that can be trusted
// (issue 12): the ETA is the rows remaining over a rate smoothed across a long window, the window
// restarts short when the copy's regime changes (its start, a new chunk size), time spent
// throttled or paused is left out of the rate, and while the copy is held the estimate says so
// instead of repeating a stale figure. It is pure arithmetic over the reports it is given, so it
// is tested without a server.
package estimate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// Config is the estimator's settings, an immutable value; zero fields take their defaults (see
// WithDefaults).
type Config struct {
	// Window is the time constant of the exponentially weighted rate the ETA divides by. Long,
	// because a copy's rate moves with the box's other load from one second to the next while
	// the ETA should not. Default 30s.
	Window time.Duration
	// MinWindow is the shortest window, used at the start of the copy and after a chunk-size
	// change; it then grows with the time observed, up to Window. Default 500ms: time-sized
	// chunks grow for the first seconds of a copy and the rate with them, and a longer window
	// lagged behind (BenchmarkETA on a quiet box: +318% at 10% with 2s, +119% with 500ms).
	MinWindow time.Duration
	// RestartWindow is what a chunk-size change shortens the observed time to: the rate measured
	// with the old chunk still counts, but the new one takes over quickly. Default 500ms.
	RestartWindow time.Duration
	// Warmup is how much copying (not held) must be seen before an ETA is promised, measured
	// between reports: four progress reports. It counts all the copying seen, restarts or not.
	// Default 2s.
	Warmup time.Duration
	// ChunkWarmup is the same when the reports carry chunk ends (the worker's do): the rate is
	// then measured over whole chunks, and a few of them tell it as well as four reports did.
	// Default 300ms: replayed over BenchmarkETA's 2M-row traces (copies of 11–13 s, 10% reached
	// within 1.6 s of the first chunk), 2s gave no ETA at 10% in 3 runs of 3, 500ms one within
	// −8% and −16% in two and none in the third, and the same worst error after 10% (see
	// BENCHMARKS.md, "Chunk timing"); on the faster copies of 5–9 s since, 500ms gave no ETA at 10%
	// in 8 runs of 22, 300ms one in 6 of those 8 (−17 … −2%), and every other estimate stayed the
	// same (BENCHMARKS.md, runs 7 and 8).
	ChunkWarmup time.Duration
	// CutOverTail is the expected time from the end of the copy to the end of the cut-over
	// (gh-ost's binlog catch-up, the changelog handshake and the rename), not counting a gate
	// that waits for approval. Default 500ms: 300–400ms in four idle 2M-row runs of
	// bench.BenchmarkETA once the apply loop no longer slept its second after the copy
	// (runner/ghost/copytail.go; 1.0–5.1s before it), 200–350ms under 400 and 1500 writes/s
	// (BENCHMARKS.md, run 5).
	CutOverTail time.Duration
	// Ramp projects the rest of the copy, while the chunks still grow toward ChunkTarget and
	// ChunkMax (the chunk sizer's target time and largest size; runner/chunk's defaults 500ms,
	// 100000), at the rates the model of ramp.go expects. Off by default: on a simulated ramp it
	// takes the error at 10% from +68% to +2%, but on the sandbox's real copies the rates per
	// chunk size were too noisy to fit (a 0.5 s report holds a handful of chunks, and the box's
	// other load moved the rate fivefold between neighbouring sizes), so it stayed off in two of
	// three runs and was too short in the third (BENCHMARKS.md, "ETA").
	Ramp        bool
	ChunkTarget time.Duration
	ChunkMax    int64
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Window, 30*time.Second)
	def(&c.MinWindow, 500*time.Millisecond)
	def(&c.RestartWindow, 500*time.Millisecond)
	def(&c.Warmup, 2*time.Second)
	def(&c.ChunkWarmup, 300*time.Millisecond)
	def(&c.CutOverTail, 500*time.Millisecond)
	def(&c.ChunkTarget, 500*time.Millisecond)
	if c.ChunkMax == 0 {
		c.ChunkMax = 100_000
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"window", c.Window}, {"min window", c.MinWindow}, {"restart window", c.RestartWindow}, {"warmup", c.Warmup}, {"chunk warmup", c.ChunkWarmup}, {"cut-over tail", c.CutOverTail}, {"chunk target", c.ChunkTarget}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.name, d.v))
		}
	}
	if c.ChunkMax < 0 {
		errs = append(errs, fmt.Errorf("chunk max %d: must not be negative", c.ChunkMax))
	}
	if c.MinWindow > c.Window {
		errs = append(errs, fmt.Errorf("min window %v: longer than the window %v", c.MinWindow, c.Window))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("estimate: invalid config: %w", err)
	}
	return nil
}

// Estimate is the estimator's view after one report.
type Estimate struct {
	// Rate is rows per second: the smoothed rate while copying, what is actually being copied
	// while held (it drops to 0 when nothing moves).
	Rate float64
	// ETA and CutOverETA are the expected time until the copy ends and until the cut-over is
	// done; zero unless State is migration.ETAKnown.
	ETA, CutOverETA time.Duration
	// ETALow and ETAHigh bound the copy's ETA by the spread of the rate over the last
	// rangeWindow of copying (its fastest and slowest tenth): what the point estimate cannot
	// promise on a box whose load moves the rate, said as a range. Zero unless State is known.
	ETALow, ETAHigh time.Duration
	State           migration.ETAState
}

// rangeWindow is how much recent copying the ETA's range is taken from.
const rangeWindow = 10 * time.Second

// Estimator follows one copy. It is not safe for concurrent use: its owner feeds it the reports
// in order.
type Estimator struct {
	cfg      Config
	prev     migration.Progress
	have     bool
	smoothed float64       // rows per second over the time not held
	seen     time.Duration // time not held observed, shortened by Restart: the EWMA's window
	copied   time.Duration // time not held observed in all: the warmup
	last     Estimate
	size     int64 // the chunk size in force since the last report (SetChunkSize)
	ramp     *ramp
	recent   []interval // the copying intervals of the last rangeWindow, for the ETA's range

	// Reports that carry chunk ends (migration.Progress.LastChunkAt) are measured between chunk
	// ends (endAt, endRows) rather than between reports: gh-ost's rows come in whole chunks, and
	// with chunks near the half-second target a report interval saw one chunk or two, a rate
	// that jumped by half from one report to the next (BENCHMARKS.md, "Chunk timing").
	endOK   bool
	endAt   time.Time
	endRows int64
	heldAt  time.Time // the last report held: the next base is a chunk end after it
}

// stallSample is how long no chunk may end before the time is folded into the rate as copying
// nothing: a stalled copy's ETA grows instead of repeating the rate of before the stall.
const stallSample = time.Second

// interval is one report-to-report stretch of copying: its rate and length.
type interval struct {
	rate float64
	dt   time.Duration
}

// New returns an estimator with cfg (defaults filled in).
func New(cfg Config) (*Estimator, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Estimator{cfg: cfg, last: Estimate{State: migration.ETAEstimating}, ramp: newRamp(cfg.ChunkTarget, cfg.ChunkMax)}, nil
}

// SetChunkSize tells the estimator the chunk size in force from the last report on (the chunk
// sizer's decision at it): the rate the next interval shows is that size's.
func (e *Estimator) SetChunkSize(n int64) { e.size = n }

// Restart says the copy's regime changed (a new chunk size): the rate seen so far is kept but
// weighs less, so the new rate takes over within about RestartWindow.
func (e *Estimator) Restart() {
	e.seen = min(e.seen, e.cfg.RestartWindow)
}

// Observe takes the next report and returns the estimate after it.
func (e *Estimator) Observe(p migration.Progress) Estimate {
	if copyDone(p) {
		e.prev, e.have = p, true
		e.last = Estimate{State: migration.ETADone}
		return e.last
	}
	if !e.have {
		e.prev, e.have = p, true
		return e.last
	}
	dt := p.Time.Sub(e.prev.Time)
	if dt <= 0 {
		return e.last
	}
	inst := float64(max(p.RowsCopied-e.prev.RowsCopied, 0)) / dt.Seconds()
	// An interval that begins or ends throttled is held: what was copied in it says nothing about
	// the copy's speed, and counting it would drag the rate down for a whole window after.
	held := p.Throttled || e.prev.Throttled
	copying := p.Phase == migration.PhaseCopying && e.prev.Phase == migration.PhaseCopying
	if held {
		e.prev = p
		e.endOK, e.heldAt = false, p.Time
		e.last = Estimate{Rate: inst, State: migration.ETAHeld}
		return e.last
	}
	if copying {
		if sdt, rows, ok := e.sample(p, dt); ok {
			r := float64(rows) / sdt.Seconds()
			e.smooth(r, sdt)
			e.ramp.observe(e.size, rows, sdt, p.Time)
			if e.smoothed > 0 {
				e.recent = appendInterval(e.recent, interval{r, sdt})
			}
		}
	}
	e.prev = p
	est := Estimate{Rate: e.smoothed, State: migration.ETAEstimating}
	remaining := p.RowsEstimated - p.RowsCopied
	warmup := e.cfg.Warmup
	if e.endOK {
		warmup = e.cfg.ChunkWarmup
	}
	if e.copied >= warmup && e.smoothed > 0 && remaining >= 0 && p.RowsEstimated > 0 {
		est.State = migration.ETAKnown
		eta := time.Duration(float64(remaining) / e.smoothed * float64(time.Second))
		if proj, ok := e.ramp.project(p.Time, remaining); ok && e.cfg.Ramp && proj < eta {
			eta = proj // the chunks are still growing: the rest goes faster than so far
		}
		est.ETA = eta.Round(100 * time.Millisecond)
		est.CutOverETA = est.ETA + e.cfg.CutOverTail
		if lo, hi, ok := spread(e.recent); ok {
			// The point estimate stays inside its range however the two were reached.
			est.ETALow = min(time.Duration(float64(remaining)/hi*float64(time.Second)), eta).Round(100 * time.Millisecond)
			est.ETAHigh = max(time.Duration(float64(remaining)/lo*float64(time.Second)), eta).Round(100 * time.Millisecond)
		}
	}
	e.last = est
	return est
}

// sample is the copying interval p closes and the rows copied in it: from chunk end to chunk end
// when the reports carry them, else from report to report (dt). ok is false when p closes none.
func (e *Estimator) sample(p migration.Progress, dt time.Duration) (time.Duration, int64, bool) {
	if p.LastChunkAt.IsZero() && !e.endOK {
		return dt, max(p.RowsCopied-e.prev.RowsCopied, 0), true
	}
	switch {
	case !e.endOK:
		if p.LastChunkAt.After(e.heldAt) {
			e.endOK, e.endAt, e.endRows = true, p.LastChunkAt, p.RowsCopied
		}
		return 0, 0, false
	case p.LastChunkAt.After(e.endAt):
		sdt, rows := p.LastChunkAt.Sub(e.endAt), max(p.RowsCopied-e.endRows, 0)
		e.endAt, e.endRows = p.LastChunkAt, p.RowsCopied
		return sdt, rows, true
	case p.Time.Sub(e.endAt) >= stallSample:
		// No chunk ended for a while: that time copied nothing so far. The next chunk's end then
		// counts its rows over the time after this report: the two together are the true rate.
		sdt := p.Time.Sub(e.endAt)
		e.endAt, e.endRows = p.Time, p.RowsCopied
		return sdt, 0, true
	}
	return 0, 0, false
}

// smooth folds one interval's rate into the EWMA. The time constant grows with the time observed,
// from MinWindow to Window: early on (and after Restart) it is close to the plain mean of what was
// seen, later a long average that one slow second cannot swing.
func (e *Estimator) smooth(inst float64, dt time.Duration) {
	if e.smoothed == 0 && inst == 0 {
		// Nothing copied yet: gh-ost reports copying from the moment it starts, and its first
		// chunk can take seconds to come (BenchmarkETA's traces: 2 s of 0 rows at 2M rows). Those
		// seconds are no rate and no warmup: starting the average at 0 made the ETA too long for
		// as long as the window remembered them.
		return
	}
	first := e.seen == 0 && e.smoothed == 0
	e.seen += dt
	e.copied += dt
	if first {
		e.smoothed = inst
		return
	}
	tau := min(max(e.seen, e.cfg.MinWindow), e.cfg.Window)
	alpha := 1 - math.Exp(-dt.Seconds()/tau.Seconds())
	e.smoothed += alpha * (inst - e.smoothed)
}

// copyDone reports whether p comes after the copy: gh-ost postpones or cuts over only then.
func copyDone(p migration.Progress) bool {
	switch p.Phase {
	case migration.PhasePostponing, migration.PhaseCutOver, migration.PhaseCleanup, migration.PhaseDone:
		return true
	}
	return false
}

// appendInterval keeps the intervals of the last rangeWindow.
func appendInterval(s []interval, x interval) []interval {
	s = append(s, x)
	var total time.Duration
	for i := len(s) - 1; i >= 0; i-- {
		total += s[i].dt
		if total > rangeWindow {
			return s[i:]
		}
	}
	return s
}

// spread is the rate of the slowest and of the fastest tenth of the time in s (time-weighted
// quantiles); ok is false with fewer than four intervals or a slowest tenth that copied nothing.
func spread(s []interval) (lo, hi float64, ok bool) {
	if len(s) < 4 {
		return 0, 0, false
	}
	sorted := slices.Clone(s)
	slices.SortFunc(sorted, func(a, b interval) int { return cmp.Compare(a.rate, b.rate) })
	var total time.Duration
	for _, x := range sorted {
		total += x.dt
	}
	quantile := func(q float64) float64 {
		var acc time.Duration
		for _, x := range sorted {
			acc += x.dt
			if float64(acc) >= q*float64(total) {
				return x.rate
			}
		}
		return sorted[len(sorted)-1].rate
	}
	lo, hi = quantile(0.1), quantile(0.9)
	return lo, hi, lo > 0
}
