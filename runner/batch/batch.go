// Package batch sizes gh-ost's binlog apply batches by the backlog (issue 12; opt-in, see
// runner/ghost.Spec.AdaptiveDMLBatch for why): gh-ost applies the
// binlog events it queued for the ghost table in transactions of up to DMLBatchSize events
// (Migrator.onApplyEventStruct, go/logic/migrator.go), settable while it runs
// (MigrationContext.SetDMLBatchSize, go/base/context.go, bounded to 1..100). A batch only ever
// takes the events already queued, so it never waits for more: a small size costs nothing in
// latency, but one transaction per few events costs a commit (and a replica's apply of it) per
// few rows, which is what limits how fast the loop drains a backlog. So the size stays at its
// floor while the queue is short and doubles while a backlog builds, and halves back as it drains.
//
// Next is a pure function from the current size and the backlog to the next size and the reason,
// tested without a server; the worker calls it a few times a second (runner/ghost).
package batch

import (
	"fmt"
	"time"
)

// gh-ost's bounds (MigrationContext.SetDMLBatchSize clamps to them).
const (
	MinSize int64 = 1
	MaxSize int64 = 100
)

// DefaultMin is the floor of an adaptive size: gh-ost's own default batch (go/cmd/gh-ost/main.go
// --dml-batch-size 10). Below it nothing is gained (a batch takes only what is queued).
const DefaultMin int64 = 10

// Config is the sizer's settings, an immutable value; zero fields take their defaults.
type Config struct {
	// Fixed keeps the size as configured; the zero value adapts it.
	Fixed bool
	// Min and Max bound the size: defaults DefaultMin and gh-ost's 100.
	Min, Max int64
	// Interval is how often the backlog is looked at (default 25ms): a queue of a few hundred
	// events drains in about a tenth of a second, which the capacity measurement has to see in
	// several looks, and each look is a few atomic loads.
	Interval time.Duration
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Min == 0 {
		c.Min = DefaultMin
	}
	if c.Max == 0 {
		c.Max = MaxSize
	}
	if c.Interval == 0 {
		c.Interval = 25 * time.Millisecond
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	d := c.WithDefaults()
	if d.Min < MinSize || d.Max > MaxSize || d.Min > d.Max {
		return fmt.Errorf("batch: invalid config: bounds %d..%d must lie within gh-ost's %d..%d", d.Min, d.Max, MinSize, MaxSize)
	}
	if c.Interval < 0 {
		return fmt.Errorf("batch: invalid config: interval %v must not be negative", c.Interval)
	}
	return nil
}

// Kind is what a decision did; a small closed set, so it can serve as a metrics label.
type Kind string

// Kinds of decision.
const (
	KindHold   Kind = "hold"   // size unchanged
	KindGrow   Kind = "grow"   // a backlog is building: larger transactions drain it faster
	KindShrink Kind = "shrink" // the backlog drained: back toward the floor
	KindFixed  Kind = "fixed"  // adaptation off: the configured size
)

// Kinds lists every kind.
var Kinds = []Kind{KindHold, KindGrow, KindShrink, KindFixed}

// Reason is why the size is what it is.
type Reason struct {
	Kind   Kind   `json:"kind"`
	Detail string `json:"detail"`
}

// String is "kind: detail", as status shows it.
func (r Reason) String() string { return string(r.Kind) + ": " + r.Detail }

// Next returns the size after cur given the backlog (binlog events queued for the ghost table,
// not yet applied), and why. It doubles when the backlog is at least twice the size (a batch
// would be full twice over) and halves when the backlog is under a quarter of it; between, it
// holds, so that a backlog hovering around one size does not flap.
func Next(cfg Config, cur, backlog int64) (int64, Reason) {
	cfg = cfg.WithDefaults()
	if cfg.Fixed {
		return cur, Reason{KindFixed, fmt.Sprintf("fixed at %d events a transaction", cur)}
	}
	cur = min(max(cur, cfg.Min), cfg.Max)
	switch {
	case backlog >= 2*cur && cur < cfg.Max:
		n := min(2*cur, cfg.Max)
		return n, Reason{KindGrow, fmt.Sprintf("backlog %d ≥ 2×%d", backlog, cur)}
	case backlog < cur/4 && cur > cfg.Min:
		n := max(cur/2, cfg.Min)
		return n, Reason{KindShrink, fmt.Sprintf("backlog %d < %d/4", backlog, cur)}
	case cur == cfg.Min && backlog < 2*cur:
		return cur, Reason{KindHold, fmt.Sprintf("backlog %d: the floor of %d", backlog, cfg.Min)}
	}
	return cur, Reason{KindHold, fmt.Sprintf("backlog %d for batches of %d", backlog, cur)}
}

// Capacity accumulates how fast the apply loop drains its queue while it has one and does
// nothing else: gh-ost's loop (executeWriteFuncs) runs one thing at a time, queued events before
// a copy chunk, so over an interval that began with at least a full batch waiting, ended with
// events still waiting, saw no chunk copied and events applied, and that the throttler did not
// hold, the events applied over the interval's time are what the loop can apply, not what the
// application happened to write. (While a chunk is in flight the queue grows and nothing is
// applied; such intervals say nothing of the loop's speed.) The planner compares a table's write
// rate with it: the copy starves when writes outrun it (gh-ost issues #751, #1150).
type Capacity struct {
	Events  int64
	Seconds float64
}

// Interval is one look at the apply loop: how long it lasted, the events applied in it, the
// backlog at its start and end, the batch size then, whether a copy chunk completed in it and
// whether the throttler held the loop.
type Interval struct {
	Length                   time.Duration
	Applied                  int64
	StartBacklog, EndBacklog int64
	Size                     int64
	Copied, Throttled        bool
}

// Observe adds one interval when it measured the loop applying and nothing else.
func (c *Capacity) Observe(iv Interval) {
	if iv.Throttled || iv.Copied || iv.Length <= 0 || iv.Applied <= 0 || iv.StartBacklog < max(iv.Size, 1) || iv.EndBacklog <= 0 {
		return
	}
	c.Events += iv.Applied
	c.Seconds += iv.Length.Seconds()
}

// Rate is events applied per second of backlog; 0 when none was seen.
func (c Capacity) Rate() float64 {
	if c.Seconds <= 0 {
		return 0
	}
	return float64(c.Events) / c.Seconds
}
