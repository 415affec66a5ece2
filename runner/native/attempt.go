package native

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/migration"
)

// attempt runs the ALTER once on the session. While the ALTER waits, a probe on another
// connection looks up who blocks it and reports them; the probe's findings are returned.
func (e *Executor) attempt(ctx context.Context, s *session, stmt string, st statement, n int, emit func(Event)) ([]Blocker, error) {
	probeCtx, stopProbe := context.WithCancel(ctx)
	var (
		wg       sync.WaitGroup
		blockers []Blocker
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		blockers = e.probe(probeCtx, s, st, n, emit)
	}()

	// Cancelling the driver's context only drops the client side; the server would go on
	// waiting or rebuilding. KILL QUERY stops the statement itself.
	stopKill := context.AfterFunc(ctx, func() { e.kill(s.id) })
	_, err := s.conn.ExecContext(context.WithoutCancel(ctx), stmt)
	stopKill()
	stopProbe()
	wg.Wait() // the probe reports from its goroutine: wait, so reports never overlap
	if err != nil && isLockWaitTimeout(err) && blockers == nil {
		// The probe did not get to run (or failed): look now, the holders are still there.
		blockers, _ = findBlockers(ctx, e.db, st.Schema, st.Table, s.id, s.plugin, e.cfg.MinTrxAge)
	}
	return blockers, err
}

// probeDelay is how long an attempt may wait before the probe looks: a quarter of the lock
// wait timeout, at most 500ms, so that an ALTER that gets its lock at once costs no query.
func (e *Executor) probeDelay() time.Duration {
	return min(e.cfg.LockWaitTimeout/4, 500*time.Millisecond)
}

// probe waits probeDelay, then lists and reports the blockers while the ALTER still waits.
func (e *Executor) probe(ctx context.Context, s *session, st statement, n int, emit func(Event)) []Blocker {
	if sleep(ctx, e.probeDelay()) != nil {
		return nil
	}
	bs, err := findBlockers(ctx, e.db, st.Schema, st.Table, s.id, s.plugin, e.cfg.MinTrxAge)
	if err != nil || ctx.Err() != nil {
		return bs
	}
	emit(Event{Blockers: bs, Progress: migration.Progress{Phase: migration.PhaseWaiting, Message: fmt.Sprintf(
		"attempt %d waits for the metadata lock on %s: %s", n, qualified(st.Schema, st.Table), describeBlockers(bs))}})
	return bs
}

// kill stops the session's running statement from another connection.
func (e *Executor) kill(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// id is the integer CONNECTION_ID() the server gave us, not input: formatting it is safe,
	// and KILL does not take a placeholder.
	_, _ = e.db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", id))
}
