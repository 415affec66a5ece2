// Package migration holds the vocabulary every part of ghostgate shares about one migration: its
// lifecycle status, the legal transitions between statuses, and the progress event that engines
// emit and the store, metrics, API and front doors consume. It has no dependencies of ours so that
// any package (and services, through the wire types) can import it.
package migration

import (
	"fmt"
	"math"
	"time"
)

// Status is the lifecycle of one migration, persisted as a string so that a restarted controller,
// the TUI and services all read the same truth.
type Status string

// The lifecycle: queued → planning → running → ready → cutting_over → complete, with failed and
// cancelled as ends. Throttling is a property of a running migration (Progress.Throttled), not a
// status of its own.
const (
	StatusQueued      Status = "queued"
	StatusPlanning    Status = "planning"
	StatusRunning     Status = "running"
	StatusReady       Status = "ready" // copy done, waiting at the cut-over gate
	StatusCuttingOver Status = "cutting_over"
	StatusComplete    Status = "complete"
	StatusFailed      Status = "failed"
	StatusCancelled   Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusQueued, StatusPlanning, StatusRunning, StatusReady, StatusCuttingOver, StatusComplete, StatusFailed, StatusCancelled}

// Terminal reports whether s is an end state.
func (s Status) Terminal() bool {
	return s == StatusComplete || s == StatusFailed || s == StatusCancelled
}

// Active reports whether a migration in status s holds its table (at most one active per table).
func (s Status) Active() bool { return !s.Terminal() }

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// next lists the statuses each status may move to. Any active status may fail or be cancelled.
var next = map[Status][]Status{
	StatusQueued:      {StatusPlanning},
	StatusPlanning:    {StatusRunning},
	StatusRunning:     {StatusReady, StatusComplete}, // native engines complete without a gate
	StatusReady:       {StatusCuttingOver, StatusRunning},
	StatusCuttingOver: {StatusComplete, StatusReady}, // a failed rename attempt returns to the gate
}

// TransitionError says why a status change is not allowed.
type TransitionError struct {
	From, To Status
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("migration: cannot move from %q to %q", e.From, e.To)
}

// CheckTransition returns nil when from → to is a legal move, a *TransitionError otherwise.
func CheckTransition(from, to Status) error {
	if !from.Valid() || !to.Valid() || from.Terminal() {
		return &TransitionError{From: from, To: to}
	}
	if to == StatusFailed || to == StatusCancelled {
		return nil
	}
	for _, s := range next[from] {
		if s == to {
			return nil
		}
	}
	return &TransitionError{From: from, To: to}
}

// Phase is what an engine is doing right now, finer than Status.
type Phase string

// Engine phases.
const (
	PhaseStarting   Phase = "starting"
	PhaseWaiting    Phase = "waiting" // native: waiting for a metadata lock or a throttle to lift
	PhaseAltering   Phase = "altering"
	PhaseCopying    Phase = "copying"
	PhasePostponing Phase = "postponing" // gh-ost: copy done, applying binlog, waiting for the gate
	PhaseCutOver    Phase = "cut_over"
	PhaseCleanup    Phase = "cleanup"
	PhaseDone       Phase = "done"
)

// Progress is one progress event of a running migration. Engines emit it about once a second;
// every field is a plain value so that it serializes to JSON for the store, API and JSON output.
type Progress struct {
	Time           time.Time     `json:"time"`
	Phase          Phase         `json:"phase"`
	RowsCopied     int64         `json:"rows_copied"`
	RowsEstimated  int64         `json:"rows_estimated"`
	RowsPerSecond  float64       `json:"rows_per_second"`
	Ratio          float64       `json:"ratio"` // 0..1, never above 1
	ETA            time.Duration `json:"eta_ns"`
	BacklogEvents  int64         `json:"backlog_events"` // binlog events not yet applied to the ghost table
	ReplicaLag     time.Duration `json:"replica_lag_ns"`
	Throttled      bool          `json:"throttled"`
	ThrottleReason string        `json:"throttle_reason,omitempty"`
	// ThrottleSource is the throttler's source for the current throttle (e.g. "manual",
	// "replica_lag", see runner/throttle); empty when not throttled or when gh-ost throttles on a
	// check of its own.
	ThrottleSource string `json:"throttle_source,omitempty"`
	// ETAState says what ETA is worth: ETA is only a promise in state ETAKnown.
	ETAState ETAState `json:"eta_state,omitempty"`
	// CutOverETA is the expected time until the cut-over is done: the copy's ETA plus the
	// expected tail (binlog catch-up and rename), in state ETAKnown only.
	CutOverETA time.Duration `json:"cutover_eta_ns"`
	// ETALow and ETAHigh bound ETA by the spread of the copy rate over its last seconds (state
	// ETAKnown only): the estimate a DBA can plan with is the range, the rate moves with load.
	ETALow  time.Duration `json:"eta_low_ns,omitempty"`
	ETAHigh time.Duration `json:"eta_high_ns,omitempty"`
	// ChunkSize is the copy's current rows per chunk (gh-ost), ChunkReason why it is that size.
	ChunkSize   int64  `json:"chunk_size,omitempty"`
	ChunkReason string `json:"chunk_reason,omitempty"`
	// NiceRatio is gh-ost's sleep after each chunk in multiples of the chunk's time, as the
	// worker's gh-ost has it (0: none).
	NiceRatio float64 `json:"nice_ratio,omitempty"`
	// ChunksCopied is how many chunks gh-ost has copied (its iteration counter), LastChunkAt when
	// the last of them was seen done (to 50ms): what a chunk's time is measured from (runner/chunk).
	ChunksCopied int64     `json:"chunks_copied,omitempty"`
	LastChunkAt  time.Time `json:"last_chunk_at,omitzero"`
	// DMLBatchSize is how many binlog events gh-ost applies to the ghost table per transaction
	// now, DMLBatchReason why (it grows with the backlog; runner/batch).
	DMLBatchSize   int64  `json:"dml_batch_size,omitempty"`
	DMLBatchReason string `json:"dml_batch_reason,omitempty"`
	// ApplyRate is the binlog events per second gh-ost's apply loop applied while events were
	// waiting for it (its capacity), measured over ApplyRateSeconds of such time in this run; 0
	// while no backlog was seen. The planner's write-rate forecast reads it back from the store.
	ApplyRate        float64 `json:"apply_rate,omitempty"`
	ApplyRateSeconds float64 `json:"apply_rate_seconds,omitempty"`
	Message          string  `json:"message,omitempty"`
}

// ETAState says how far a Progress's ETA can be trusted.
type ETAState string

// ETA states.
const (
	ETAEstimating ETAState = "estimating" // too little of the copy seen to promise a time
	ETAKnown      ETAState = "known"      // ETA is rows remaining over the smoothed copy rate
	ETAHeld       ETAState = "held"       // paused or throttled: no time can be promised
	ETADone       ETAState = "done"       // the copy is complete
)

// ClampRatio returns copied/estimated in [0, 1]. Statistics-based estimates can be far below the
// real row count right after a bulk load (gh-ost printed "Copy: 2434000/650557 374%"): progress must
// never claim more than 100%, and an unknown estimate means 0, not a division by zero.
func ClampRatio(copied, estimated int64) float64 {
	if estimated <= 0 || copied <= 0 {
		return 0
	}
	r := float64(copied) / float64(estimated)
	if r > 1 {
		return 1
	}
	return r
}

// MaxNiceRatio bounds the nice ratio: gh-ost takes any, but at 100 a half-second chunk is
// followed by almost a minute of sleep, and a larger one is a typo, not a plan.
const MaxNiceRatio = 100

// CheckNiceRatio says why r cannot be a nice ratio (nil when it can): every door that takes one
// (gh-ost's spec, the worker's command, the runner, the API, the CLI, the TUI) asks here.
func CheckNiceRatio(r float64) error {
	if math.IsNaN(r) || r < 0 || r > MaxNiceRatio {
		return fmt.Errorf("nice ratio %v: must be 0-%d", r, MaxNiceRatio)
	}
	return nil
}
