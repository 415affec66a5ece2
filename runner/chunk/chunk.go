// Package chunk sizes gh-ost's copy chunks by time, as pt-online-schema-change's --chunk-time and
// Spirit's target chunk time do (issue 12): start small, grow while a chunk stays under the target
// and the throttler is quiet, shrink at once when the throttler starts holding the copy back (lag,
// load, the HTTP check), when the application waits on the copy's row locks, or when a chunk is
// slow, always within gh-ost's bounds (10..100000,
// MigrationContext.SetChunkSize in go/base/context.go).
//
// gh-ost reports no per-chunk timing (v1.1.10 has no per-chunk hook either: go/logic/hooks.go),
// so a Meter infers a chunk's duration from outside: the rows copied between two progress reports
// and the chunk size in force give the chunks copied, the time between the reports their
// duration. Next is a pure function from the current size and one observation to the next size
// and the reason, tested without a server.
package chunk

import (
	"errors"
	"fmt"
	"time"
)

// gh-ost's bounds (MigrationContext.SetChunkSize clamps to them).
const (
	MinSize int64 = 10
	MaxSize int64 = 100_000
)

// Config is the controller's settings, an immutable value; zero fields take their defaults.
type Config struct {
	// Fixed turns the controller off: the chunk size stays as configured. The zero value sizes
	// chunks by time (on by default, issue 12).
	Fixed bool
	// Target is the time one chunk should take. Default 500ms: the row locks of an INSERT …
	// SELECT are held for the chunk's time, and half a second is what pt-osc's --chunk-time
	// defaults to (0.5).
	Target time.Duration
	// Min and Max bound the size; defaults gh-ost's 10 and 100000.
	Min, Max int64
	// Quiet is how long the throttler must have been clear before the size may grow again.
	// Default 5s.
	Quiet time.Duration
	// MaxLockWait is how much row-lock waiting per second on the primary (Innodb_row_lock_time)
	// the copy may cause: above it the size halves, and it grows only while the waiting stays
	// under a quarter of it. gh-ost copies with INSERT … SELECT … LOCK IN SHARE MODE
	// (go/logic/applier.go), so an application's UPDATE of a row in the chunk waits for the
	// chunk's statement: with random keys a chunk of c rows of an n-row table is hit by c/n of
	// the writes, which a p99 sees once c/n passes 1%. Default 50ms a second.
	MaxLockWait time.Duration
	// Floor is as far as a throttle, a slow chunk or lock waits shrink the size (a chunk already
	// smaller, as configured, stays as it is). Default 1000, gh-ost's own chunk size: below it a
	// chunk's time is its statements' fixed cost and the box's contention, not its rows, and the
	// lock waits are the application's own (1500 random-key writes a second meet a 1000-row
	// chunk of a 2M-row table less than once a second). Without it a busy box halved the chunks
	// of a 2M-row copy under 1500 writes/s down to 34 rows, 35 times in one run, and the copy
	// took 107 s against pt-osc's 25 s (BENCHMARKS.md, run 5).
	Floor int64
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Target == 0 {
		c.Target = 500 * time.Millisecond
	}
	if c.Min == 0 {
		c.Min = MinSize
	}
	if c.Max == 0 {
		c.Max = MaxSize
	}
	if c.Quiet == 0 {
		c.Quiet = 5 * time.Second
	}
	if c.MaxLockWait == 0 {
		c.MaxLockWait = 50 * time.Millisecond
	}
	if c.Floor == 0 {
		c.Floor = 1000
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Target < 0 {
		errs = append(errs, fmt.Errorf("target %v: must not be negative", c.Target))
	}
	if c.MaxLockWait < 0 {
		errs = append(errs, fmt.Errorf("max lock wait %v: must not be negative", c.MaxLockWait))
	}
	if c.Quiet < 0 {
		errs = append(errs, fmt.Errorf("quiet %v: must not be negative", c.Quiet))
	}
	if c.Floor < 0 {
		errs = append(errs, fmt.Errorf("floor %d: must not be negative", c.Floor))
	}
	if c.Min < MinSize || c.Max > MaxSize || c.Min > c.Max {
		errs = append(errs, fmt.Errorf("bounds %d..%d: must lie within gh-ost's %d..%d", c.Min, c.Max, MinSize, MaxSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("chunk: invalid config: %w", err)
	}
	return nil
}

// Kind is what a decision did; a small closed set, so it can serve as a metrics label.
type Kind string

// Kinds of decision.
const (
	KindHold           Kind = "hold"            // size unchanged
	KindGrow           Kind = "grow"            // chunks are fast and the throttler quiet
	KindShrinkSlow     Kind = "shrink_slow"     // a chunk took longer than the target
	KindShrinkThrottle Kind = "shrink_throttle" // the throttler began to hold the copy back
	KindShrinkLoad     Kind = "shrink_load"     // the application waited on the copy's row locks
	KindOperator       Kind = "operator"        // set by hand; the controller no longer steers
)

// Kinds lists every kind.
var Kinds = []Kind{KindHold, KindGrow, KindShrinkSlow, KindShrinkThrottle, KindShrinkLoad, KindOperator}

// Reason is why the size is what it is.
type Reason struct {
	Kind   Kind   `json:"kind"`
	Detail string `json:"detail"`
}

// Observation is what the controller sees at one decision.
type Observation struct {
	// ChunkTime is the measured time of one chunk at the current size; zero when not measured
	// (nothing copied at this size yet, or the copy was held).
	ChunkTime time.Duration
	// ThrottleBegan is set when the throttler began holding the copy back since the last
	// decision, for a reason that the copy's pace can cause (lag, load, HTTP check); Throttle
	// names it. A manual pause is no reason to shrink.
	ThrottleBegan bool
	Throttle      string
	// Throttled is whether the copy is held now; SinceThrottle how long the throttler has been
	// clear (large when it never throttled).
	Throttled     bool
	SinceThrottle time.Duration
	// LockWait is the row-lock waiting on the primary per second of the last interval
	// (Innodb_row_lock_time's increase over the interval's length); negative when not read.
	LockWait time.Duration
	// Ceiling, when positive, is a size at which the application's lock waits went over
	// MaxLockWait not long ago (the runner relaxes it with time, LoadCeiling): growth stops at
	// three quarters of it, so that the size settles below the waits instead of doubling back
	// into them and halving again (under 400 and 1500 writes a second the size swung between
	// 24k and 48k rows, halved 6–10 times a run).
	Ceiling int64
}

// LoadCeiling is the Ceiling after a shrink on lock waits at size, since ago: a quarter higher
// for every ceilingRelax that passed without another, none once that reaches max.
func LoadCeiling(size int64, ago time.Duration, max int64) int64 {
	if size <= 0 {
		return 0
	}
	c := float64(size)
	for t := ago; t >= ceilingRelax; t -= ceilingRelax {
		c *= 1.25
		if c >= float64(max) {
			return 0
		}
	}
	return int64(c)
}

// ceilingRelax is how long a Ceiling stays as it is: the application's writes change, and a size
// that made them wait may not a little later.
const ceilingRelax = 10 * time.Second

// Next returns the size after cur given o, and why.
func Next(cfg Config, cur int64, o Observation) (int64, Reason) {
	cur = clamp(cur, cfg.Min, cfg.Max)
	floor := min(cur, max(cfg.Floor, cfg.Min)) // shrinking stops there
	switch {
	case o.ThrottleBegan && cur > floor:
		n := clamp(max(cur/2, floor), cfg.Min, cfg.Max)
		return n, Reason{KindShrinkThrottle, fmt.Sprintf("halved on throttle (%s)", o.Throttle)}
	case o.Throttled || o.ThrottleBegan:
		return cur, Reason{KindHold, "held by the throttler"}
	case o.LockWait > cfg.MaxLockWait && cur > floor:
		n := clamp(max(cur/2, floor), cfg.Min, cfg.Max)
		return n, Reason{KindShrinkLoad, fmt.Sprintf("row lock waits %v/s > %v/s", o.LockWait.Round(time.Millisecond), cfg.MaxLockWait)}
	case o.LockWait > cfg.MaxLockWait:
		return cur, Reason{KindHold, fmt.Sprintf("row lock waits %v/s > %v/s at the floor of %d rows", o.LockWait.Round(time.Millisecond), cfg.MaxLockWait, floor)}
	case o.ChunkTime <= 0:
		return cur, Reason{KindHold, fmt.Sprintf("measuring %d-row chunks", cur)}
	case o.ChunkTime > cfg.Target*3/2:
		// Proportionally, at once: the chunk that ran long held its row locks that long.
		n := clamp(max(int64(float64(cur)*float64(cfg.Target)/float64(o.ChunkTime)), floor), cfg.Min, cfg.Max)
		if n >= cur {
			return cur, Reason{KindHold, fmt.Sprintf("%d rows took %v > %v target, at the floor of %d rows", cur, o.ChunkTime.Round(time.Millisecond), cfg.Target, floor)}
		}
		return n, Reason{KindShrinkSlow, fmt.Sprintf("%d rows took %v > %v target", cur, o.ChunkTime.Round(time.Millisecond), cfg.Target)}
	case o.ChunkTime < cfg.Target*4/5 && o.SinceThrottle >= cfg.Quiet && cur < cfg.Max && o.LockWait < cfg.MaxLockWait/4:
		n := clamp(int64(float64(cur)*Growth(cfg.Target, o.ChunkTime)), cfg.Min, cfg.Max)
		if o.Ceiling > 0 && n > o.Ceiling*3/4 {
			if n = max(o.Ceiling*3/4, cur); n == cur {
				return cur, Reason{KindHold, fmt.Sprintf("%d rows take %v, below the %d rows at which the application waited on row locks", cur, o.ChunkTime.Round(time.Millisecond), o.Ceiling)}
			}
		}
		if n > cur {
			return n, Reason{KindGrow, fmt.Sprintf("%d rows took %v < %v target", cur, o.ChunkTime.Round(time.Millisecond), cfg.Target)}
		}
	}
	return cur, Reason{KindHold, fmt.Sprintf("%d rows take %v (target %v)", cur, o.ChunkTime.Round(time.Millisecond), cfg.Target)}
}

// Growth is the factor a chunk that took t grows by, under a target: toward 90% of the target,
// at most doubling near it and quadrupling while a chunk takes under an eighth of it (a fourfold
// chunk then stays under half the target even if its time grew with its rows alone). Every step
// costs two progress reports (the chunk in flight is of the old size), and from the default
// start of 1000 rows the doubling-only ramp was the whole first tenth of a quiet copy, whose rate
// then made the ETA at 10% half again too long (BENCHMARKS.md, "ETA"). The ETA's ramp model
// (runner/estimate) projects with the same rule.
func Growth(target, t time.Duration) float64 {
	if t <= 0 {
		return 1
	}
	step := 2.0
	if t < target/8 {
		step = 4
	}
	return min(step, 0.9*float64(target)/float64(t))
}

func clamp(n, lo, hi int64) int64 { return min(max(n, lo), hi) }
