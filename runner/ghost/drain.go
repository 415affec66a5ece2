package ghost

import (
	"context"
	"reflect"
	"time"

	"github.com/github/gh-ost/go/base"
)

// Draining gh-ost's apply queue before the cut-over. gh-ost's atomic cut-over locks the original
// table, writes a changelog marker and keeps the lock until its apply loop has applied every
// binlog event up to the marker (Migrator.atomicCutOver → waitForEventsUpToLock,
// go/logic/migrator.go). Whatever waits in the apply queue when the lock is taken is applied
// under it: under 1500 foreground operations a second the queue held 400–500 events at about
// 2,000 events a second, and the lock lasted 200–250 ms, the run's longest stall (BENCHMARKS.md,
// run 4). Once the gate's permit is there, the worker lets the queue run down first: it waits
// until no more than drainBelow events are queued, at most drainMax and half of what is left of the
// permit (the attempt must start within it), and then lets gh-ost go.
// Nothing is locked meanwhile and the application's writes go on; the wait only moves the
// applying out of the lock.
const (
	drainBelow = 20
	drainMax   = time.Second
	drainPoll  = 2 * time.Millisecond
)

// drainer returns the hooks' drain for queue, gh-ost's applyEventsQueue (eventQueue); count is
// the waker's share of the queue, which is no backlog.
func drainer(queue reflect.Value, count *noops, logger base.Logger) func(context.Context, time.Duration) {
	backlog := func() int64 { return max(int64(queue.Len())-count.pending(), 0) }
	return func(ctx context.Context, within time.Duration) {
		start, first := time.Now(), backlog()
		limit := min(drainMax, within)
		n := first
		t := time.NewTicker(drainPoll)
		defer t.Stop()
		for n > drainBelow && time.Since(start) < limit {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n = backlog()
		}
		logger.Infof("cut-over: apply backlog %d event(s) at the permit, %d after %s (drained to at most %d, for at most %s)",
			first, n, time.Since(start).Round(time.Millisecond), drainBelow, limit.Round(time.Millisecond))
	}
}
