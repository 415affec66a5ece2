package runner

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
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
	operator bool // an operator set the size: it stays as set
	held     bool // the last report was held by a throttle
	// niceChanged: an operator changed gh-ost's nice ratio since the last report.
	niceChanged bool
	clearAt     time.Time     // when the last throttle ended; zero while none has
	locks       []lockReading // Innodb_row_lock_time read with the reports of the last lockWindow
	// waitedAt is the size that last shrank on the application's lock waits, and when
	// (chunk.Observation.Ceiling); zero before any.
	waitedAt   int64
	waitedTime time.Time
}

// lockReading is one read of the primary's Innodb_row_lock_time.
type lockReading struct {
	at    time.Time
	total time.Duration
}

// lockWindow is how far back the application's lock waiting is averaged: over one half-second
// report a single unlucky wait read as 100 ms a second and halved a chunk that was fine (the size
// swung between 24k and 48k rows under 400 writes/s); over 2 s (at least 1 s, after a resize) a
// chunk that makes the application wait still shows within a second, and one wait does not.
const lockWindow = 2 * time.Second

// newChunker steers from size; start, when not empty, says where that size came from.
func newChunker(cfg chunk.Config, size int64, nice float64, start string) *chunker {
	cfg = cfg.WithDefaults()
	reason := chunk.Reason{Kind: chunk.KindHold, Detail: "configured"}
	if !cfg.Fixed {
		reason.Detail = cmp.Or(start, "starting size") + "; sized by time toward " + cfg.Target.String() + " a chunk"
	}
	return &chunker{cfg: cfg, size: size, reason: reason,
		meter: chunk.NewMeter(nice, 2*cfg.Target)}
}

// startingChunkSamples is how many of the latest gh-ost copies the starting size is taken from.
const startingChunkSamples = 5

// startingChunk is the chunk size a copy sized by time starts from: a quarter of what this
// server's recent gh-ost copies (store.CopyRate, the median rate of the last few) copied in one
// target time, and never below gh-ost's default. From gh-ost's 1000 rows the sizer needs several
// steps of two reports each to reach its target, and on a quiet box those steps were the whole
// first tenth of the copy (BENCHMARKS.md, "ETA"). The quarter is the margin for a table whose
// rows are wider than the ones measured (the rate is in rows) and for the box's load having
// risen since: a first chunk over one and a half targets is shrunk in proportion at the next
// decision (chunk.Next). ok is false when nothing was measured or the store did not answer in a
// second; the run then starts from gh-ost's default.
func startingChunk(ctx context.Context, st *store.Store, cluster string, cfg chunk.Config) (int64, string, bool) {
	cfg = cfg.WithDefaults()
	if st == nil || cfg.Fixed {
		return 0, "", false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	r, err := st.CopyRate(ctx, cluster, startingChunkSamples)
	if err != nil || r.Samples == 0 || r.RowsPerSecond <= 0 {
		return 0, "", false
	}
	n := min(int64(r.RowsPerSecond*cfg.Target.Seconds()/4), cfg.Max)
	if n <= ghost.DefaultChunkSize {
		return 0, "", false
	}
	return n, fmt.Sprintf("started at a quarter of the %.0f rows/s of the last %d copies on this server", r.RowsPerSecond, r.Samples), true
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
		ChunkTime: c.meter.Observe(chunk.Obs{At: p.Time, Chunks: p.ChunksCopied, LastChunkAt: p.LastChunkAt, Held: held}),
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
		if n := len(c.locks); n > 0 && lockTime < c.locks[n-1].total {
			c.locks = c.locks[:0] // the counter went back (a server restart): start over
		}
		c.locks = append(c.locks, lockReading{p.Time, lockTime})
		for len(c.locks) > 2 && p.Time.Sub(c.locks[1].at) >= lockWindow {
			c.locks = c.locks[1:]
		}
		if first := c.locks[0]; len(c.locks) > 1 && p.Time.Sub(first.at) >= lockWindow/2 {
			o.LockWait = time.Duration(float64(lockTime-first.total) / p.Time.Sub(first.at).Seconds())
		}
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
	if c.waitedAt > 0 {
		if o.Ceiling = chunk.LoadCeiling(c.waitedAt, p.Time.Sub(c.waitedTime), c.cfg.Max); o.Ceiling == 0 {
			c.waitedAt = 0 // relaxed past the largest size: forgotten
		}
	}
	n, r := chunk.Next(c.cfg, c.size, o)
	if r.Kind == chunk.KindShrinkLoad {
		c.waitedAt, c.waitedTime = c.size, p.Time
	}
	if n == c.size {
		if o.ChunkTime > 0 || o.Throttled {
			c.reason = r // a new measurement; otherwise the last reason still holds
		}
		return c.size, c.reason, false
	}
	c.size, c.reason = n, r
	c.meter.Resize(p.Time)
	if len(c.locks) > 0 { // the waiting at the old size says nothing of the new one
		c.locks = append(c.locks[:0], c.locks[len(c.locks)-1])
	}
	return n, r, true
}

// undo reverts a size gh-ost did not take (the worker refused the command).
func (c *chunker) undo(size int64, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size, c.reason = size, chunk.Reason{Kind: chunk.KindHold, Detail: why}
	c.meter.Resize(time.Now())
}

// setByOperator records a size set by hand (how: "set by alice"): the controller stops
// steering.
func (c *chunker) setByOperator(n int64, how string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.operator, c.size = true, n
	c.reason = chunk.Reason{Kind: chunk.KindOperator, Detail: how + "; no longer sized by time"}
	c.meter.Resize(time.Now())
}

// restartAt is the size a worker resumed after a crash starts from: the size an operator set, if
// one did, else start (the first worker's starting size, sized again from there).
func (c *chunker) restartAt(start int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.operator {
		c.size, c.reason = start, chunk.Reason{Kind: chunk.KindHold, Detail: "a resumed worker starts at the starting size"}
	}
	c.meter.Resize(time.Now())
	return c.size
}

// setNice tells the chunk timing gh-ost's new nice ratio (Handle.SetNiceRatio).
func (c *chunker) setNice(r float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.meter.SetNice(r, time.Now())
	c.niceChanged = true
}

// takeNiceChanged says, once, that the nice ratio changed since it was last asked: the copy rate
// changes with it, and the run's estimator restarts its window (ghostProgress).
func (c *chunker) takeNiceChanged() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.niceChanged
	c.niceChanged = false
	return ch
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
