package ghost

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// Sentinel is argv[1] of a worker process: the controller re-executes its own binary as
// "<binary> __ghostgate-worker" and MaybeRunWorker recognises it.
const Sentinel = "__ghostgate-worker"

// Protocol between controller and worker, both JSON lines:
//   - stdin (controller → worker): the Spec as the first line, then commands;
//   - fd 3 (worker → controller): events.
//
// The worker's stdout and stderr go to the log file in the work dir. A worker whose stdin reaches
// EOF has lost its controller and exits.
const eventsFD = 3

// Commands the controller sends.
const (
	opThrottle   = "throttle"
	opUnthrottle = "unthrottle"
	opChunkSize  = "chunk_size"
	opNiceRatio  = "nice_ratio"
	opCutOver    = "cut_over"
	// opAwaitApplied asks the worker to acknowledge once gh-ost's applier has applied the binlog
	// of the server it reads through Coords (applied.go); N bounds the wait in milliseconds.
	opAwaitApplied = "await_applied"
)

type command struct {
	ID     int64  `json:"id"`
	Op     string `json:"op"`
	Reason string `json:"reason,omitempty"`
	N      int64  `json:"n,omitempty"`      // chunk size; a cut-over permit's validity in ms; an await's bound in ms
	Coords string `json:"coords,omitempty"` // await_applied: "file:position" in the binlog gh-ost reads
	// Ratio is nice_ratio's: the sleep after each chunk, in multiples of the chunk's time.
	Ratio float64 `json:"ratio,omitempty"`
}

// Events the worker sends.
const (
	evProgress = "progress"
	evAck      = "ack"
	evGate     = "gate"     // gh-ost waits at the cut-over gate for a permit (first attempt or a retry)
	evDone     = "done"     // Migrate returned
	evLogLost  = "log_lost" // the worker log could not be written (Error says why): it is incomplete
)

type event struct {
	Type     string              `json:"type"`
	Progress *migration.Progress `json:"progress,omitempty"`
	AckID    int64               `json:"ack_id,omitempty"`
	Error    string              `json:"error,omitempty"`
	// ack of await_applied only: the binlog position gh-ost's applier has applied through.
	Coords string `json:"coords,omitempty"`
	// ack of await_applied only: the wait ended before the applier got there (Error says where it is).
	Pending bool `json:"pending,omitempty"`
	// gate only: the cut-over attempt that waits for a permit (1 for the first).
	Attempt int `json:"attempt,omitempty"`
	// done only:
	CutOverComplete bool   `json:"cut_over_complete,omitempty"`
	OldTable        string `json:"old_table,omitempty"`
	RowsCopied      int64  `json:"rows_copied,omitempty"`
	// Permits and Attempts count the controller's cut-over permits and the attempts gh-ost
	// started under one: a completed cut-over with no permit would be a gate bypass.
	Permits  int `json:"permits,omitempty"`
	Attempts int `json:"attempts,omitempty"`
	// LockDuration is how long the cut-over held its table lock: from LOCK TABLES to the end of
	// the rename (gh-ost's LockTablesStartTime → RenameTablesEndTime), in nanoseconds.
	LockDuration time.Duration `json:"lock_duration_ns,omitempty"`
	// Guard is what the rename guard did (renameguard.go).
	Guard GuardStats `json:"guard,omitempty"`
	// BinlogFilter is what the binlog filter did (binlogfilter.go); nil when it was off.
	BinlogFilter *FilterStats `json:"binlog_filter,omitempty"`
}

// eventWriter serializes events onto the events pipe; safe for concurrent use.
type eventWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newEventWriter(w io.Writer) *eventWriter { return &eventWriter{enc: json.NewEncoder(w)} }

// send writes one event. A failed write means the controller is gone; the worker notices that on
// stdin, so the error is dropped here.
func (e *eventWriter) send(ev event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(ev)
}
