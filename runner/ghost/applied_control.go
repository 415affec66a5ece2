package ghost

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrNotApplied is wrapped by AwaitApplied's error when gh-ost had not applied the binlog through
// the position before the wait ended; the error says how far it had got.
var ErrNotApplied = errors.New("ghost: gh-ost has not applied the binlog that far yet")

// AwaitApplied blocks until gh-ost has applied to the ghost table every change the primary's
// binary log holds up to file:pos (a position SHOW MASTER STATUS reported on the primary), or
// ctx ends (an error wrapping ErrNotApplied and naming the applier's position). Only valid while
// gh-ost waits at the cut-over gate (after Ready): that is where the gate's checksum calls it.
//
// gh-ost reads the binlog of its inspector, by default a replica, whose positions are its own:
// the primary's position is first translated by waiting (MASTER_POS_WAIT) until the replica has
// executed through it, and reading the replica's own binlog end (SHOW MASTER STATUS) then. The
// replica writes what it replicates to its binlog in commit order (log_slave_updates, which
// gh-ost requires on its inspector), so every change up to file:pos lies before that position.
func (w *Worker) AwaitApplied(ctx context.Context, file string, pos uint64) error {
	target := fmt.Sprintf("%s:%d", file, pos)
	if w.insp != nil {
		t, err := w.inspectorPosition(ctx, file, pos)
		if err != nil {
			return err
		}
		target = t
	}
	var last error // the worker's last "not yet", which says where the applier is
	for {
		step := maxAwaitApplied
		if dl, ok := ctx.Deadline(); ok {
			// A little short of the caller's deadline, so that the worker's answer (and its
			// reason) arrives before ctx ends.
			left := time.Until(dl)
			step = min(step, max(left-min(left/10, 100*time.Millisecond), time.Millisecond))
		}
		r, err := w.sendFor(ctx, command{Op: opAwaitApplied, Coords: target, N: max(step.Milliseconds(), 1)})
		switch {
		case err == nil:
			return nil
		case r.pending:
			last = err
			if ctx.Err() == nil {
				continue // the step was shorter than the caller's wait
			}
		case ctx.Err() == nil:
			return err
		}
		if last != nil {
			return fmt.Errorf("%w: %v", ErrNotApplied, last)
		}
		return fmt.Errorf("%w: %w", ErrNotApplied, ctx.Err())
	}
}

// inspectorPosition translates the primary's file:pos to the inspector's binlog (see
// AwaitApplied).
func (w *Worker) inspectorPosition(ctx context.Context, file string, pos uint64) (string, error) {
	secs := 1.0
	if dl, ok := ctx.Deadline(); ok {
		secs = max(time.Until(dl).Seconds(), 0.001)
	}
	var r sql.NullInt64
	err := w.insp.QueryRowContext(ctx, "SELECT MASTER_POS_WAIT(?, ?, ?)", file, pos, math.Round(secs*1000)/1000).Scan(&r)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", fmt.Errorf("%w: the replica gh-ost reads had not executed the primary's binlog through %s:%d: %w", ErrNotApplied, file, pos, ctx.Err())
	case err != nil:
		return "", fmt.Errorf("ghost: wait for the replica gh-ost reads: %w", err)
	case !r.Valid:
		return "", fmt.Errorf("ghost: the replica gh-ost reads is not replicating (MASTER_POS_WAIT returned NULL)")
	case r.Int64 < 0:
		return "", fmt.Errorf("%w: the replica gh-ost reads had not executed the primary's binlog through %s:%d within %.3fs", ErrNotApplied, file, pos, secs)
	}
	at, err := masterPosition(ctx, w.insp)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d", at.Name, at.Pos), nil
}
