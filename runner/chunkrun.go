package runner

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/throttle"
)

// chunker steers one gh-ost copy's chunk size by time (runner/chunk) from the progress reports:
// it measures a chunk's time with a chunk.Meter and asks chunk.Next for the next size. Its
// methods are called from the run's goroutine (step) and from the API's (setByOperator).
type chunker struct {
	cfg chunk.Config

	mu       sync.Mutex
	meter    *chunk.Meter
	size     int64
	reason   chunk.Reason
	operator bool      // an operator set the size: it stays as set
	held     bool      // the last report was held by a throttle
	clearAt  time.Time // when the last throttle ended; zero while none has
	lockAt   time.Time // when lockTime was read; zero before
	lockTime time.Duration
}

func newChunker(cfg chunk.Config, size int64, nice float64) *chunker {
	cfg = cfg.WithDefaults()
	reason := chunk.Reason{Kind: chunk.KindHold, Detail: "configured"}
	if !cfg.Fixed {
		reason.Detail = "starting size; sized by time toward " + cfg.Target.String() + " a chunk"
	}
	return &chunker{cfg: cfg, size: size, reason: reason,
		meter: chunk.NewMeter(size, nice, 2*cfg.Target)}
}

// step takes one progress report and the primary's Innodb_row_lock_time read with it (lockOK
// false: not read) and returns the new size when the chunk size should change.
func (c *chunker) step(p migration.Progress, lockTime time.Duration, lockOK bool) (int64, chunk.Reason, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.Phase != migration.PhaseCopying {
		return c.size, c.reason, false
	}
	held := p.Throttled
	o := chunk.Observation{
		ChunkTime: c.meter.Observe(p.Time, p.RowsCopied, held),
		// Only our throttler's view of the servers is a reason to shrink: a manual pause says
		// nothing about the copy's pace, and gh-ost's own lag check fires after every pause
		// longer than the lag limit (it writes no heartbeat while paused; see metrics.ReasonLabel).
		ThrottleBegan: held && !c.held && p.ThrottleSource != "" && p.ThrottleSource != string(throttle.SourceManual),
		Throttle:      p.ThrottleSource,
		Throttled:     held,
		SinceThrottle: time.Duration(1<<63 - 1),
		LockWait:      -1,
	}
	if lockOK {
		if dt := p.Time.Sub(c.lockAt); !c.lockAt.IsZero() && dt > 0 && lockTime >= c.lockTime {
			o.LockWait = time.Duration(float64(lockTime-c.lockTime) / dt.Seconds())
		}
		c.lockAt, c.lockTime = p.Time, lockTime
	}
	if !held && c.held {
		c.clearAt = p.Time
	}
	c.held = held
	if !c.clearAt.IsZero() {
		o.SinceThrottle = p.Time.Sub(c.clearAt)
	}
	if c.cfg.Fixed || c.operator {
		return c.size, c.reason, false
	}
	n, r := chunk.Next(c.cfg, c.size, o)
	if n == c.size {
		if o.ChunkTime > 0 || o.Throttled {
			c.reason = r // a new measurement; otherwise the last reason still holds
		}
		return c.size, c.reason, false
	}
	c.size, c.reason = n, r
	c.meter.Resize(n)
	return n, r, true
}

// undo reverts a size gh-ost did not take (the worker refused the command).
func (c *chunker) undo(size int64, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size, c.reason = size, chunk.Reason{Kind: chunk.KindHold, Detail: why}
	c.meter.Resize(size)
}

// setByOperator records a size set by hand: the controller stops steering.
func (c *chunker) setByOperator(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.operator, c.size = true, n
	c.reason = chunk.Reason{Kind: chunk.KindOperator, Detail: "set by an operator; no longer sized by time"}
	c.meter.Resize(n)
}

// current is the size in force and why.
func (c *chunker) current() (int64, chunk.Reason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size, c.reason
}

// readRowLockTime reads the primary's Innodb_row_lock_time: the total time, in milliseconds,
// spent waiting for InnoDB row locks (a counter; MariaDB server status variables).
func readRowLockTime(ctx context.Context, db *sql.DB) (time.Duration, error) {
	var ms int64
	err := db.QueryRowContext(ctx, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_ROW_LOCK_TIME'").Scan(&ms)
	return time.Duration(ms) * time.Millisecond, err
}
