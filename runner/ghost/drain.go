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
//
// The marker also has to reach gh-ost through its binlog source, the replica, which may still be
// applying the copy's last chunks: with the apply loop kept awake across the copy's end
// (copytail.go) the cut-over came 10 ms after the last chunk and the lock waited 216 ms for the
// replica on an idle table. So the drain also waits, within the same bounds, until gh-ost has read
// a changelog heartbeat written after the drain began (gh-ost writes one every heartbeat
// interval, DefaultHeartbeatInterval): everything the primary wrote before that moment has come
// through the stream, and only the writes of the last few milliseconds are left to the lock.
const (
	drainBelow = 20
	drainMax   = time.Second
	drainPoll  = 2 * time.Millisecond
)

// drainer returns the hooks' drain for queue, gh-ost's applyEventsQueue (eventQueue); count is
// the waker's share of the queue, which is no backlog; streamed is when the newest changelog
// heartbeat gh-ost has read was written (MigrationContext.GetLastHeartbeatOnChangelogTime).
func drainer(queue reflect.Value, count *noops, logger base.Logger, streamed func() time.Time) func(context.Context, time.Duration) {
	backlog := func() int64 { return max(int64(queue.Len())-count.pending(), 0) }
	return func(ctx context.Context, within time.Duration) {
		start, first := time.Now(), backlog()
		limit := min(drainMax, within)
		n, current := first, !streamed().Before(start)
		t := time.NewTicker(drainPoll)
		defer t.Stop()
		for (n > drainBelow || !current) && time.Since(start) < limit {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, current = backlog(), !streamed().Before(start)
		}
		stream := "the stream caught up"
		if !current {
			stream = "the stream not caught up"
		}
		logger.Infof("cut-over: apply backlog %d event(s) at the permit, %d after %s, %s (drained to at most %d and a heartbeat written after the permit, for at most %s)",
			first, n, time.Since(start).Round(time.Millisecond), stream, drainBelow, limit.Round(time.Millisecond))
	}
}
