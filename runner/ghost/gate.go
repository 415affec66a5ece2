package ghost

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/github/gh-ost/go/base"
	"github.com/github/gh-ost/go/logic"
)

// The cut-over gate inside the worker. gh-ost's own way to hold a cut-over is a postpone flag
// file, polled once a second; anyone who can delete that file (a tmp cleaner, another local user)
// makes gh-ost rename the tables with no approval, no prepared participants and no checksum. The
// worker therefore gives gh-ost no postpone file at all and holds the cut-over in-process instead:
//
//   - gh-ost calls Hooks.OnBeforeCutOver once, after the row copy and before its cut-over retry
//     loop (go/logic/migrator.go Migrate). The hook blocks, with the binlog still being applied,
//     until the controller grants a permit, and gh-ost renames only when it returns nil.
//   - A failed attempt (lock wait timeout, a long transaction) is retried by gh-ost's
//     retryOperationWithExponentialBackoff, which sleeps through logic.RetrySleepFn before each
//     retry. The worker's RetrySleepFn recognises that call and, after the backoff, waits again
//     for a permit that is valid at that moment: a permit is good for a bounded window, so a retry
//     long after the gate opened needs the gate again.
//
// A permit is a deadline. The controller sends it when its gate opens; the worker accepts an
// attempt only while now < deadline.

// ErrGateClosed is returned to gh-ost when the worker stops waiting for a permit (the controller
// is gone or the migration was aborted); gh-ost then fails the cut-over and cleans up.
var ErrGateClosed = errors.New("ghost: the cut-over gate did not open")

// cutOverRetryFunc is the gh-ost function whose retry sleeps separate cut-over attempts.
const cutOverRetryFunc = "logic.(*Migrator).retryOperationWithExponentialBackoff"

// Fast polling inside the cut-over's critical section: gh-ost looks for its blocked RENAME in the
// processlist and retries with a one-second sleep (go/logic/migrator.go atomicCutOver), so a
// RENAME not yet visible at the first look kept the table locked a whole second. The sleeps
// start at criticalFirstSleep and grow by half each time up to what gh-ost asked for, so a slow
// server gets about the patience it had (14 sleeps reach 2.4 s).
const criticalFirstSleep = 5 * time.Millisecond

// gatekeeper holds gh-ost's cut-over until the controller permits it.
type gatekeeper struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever the permit changes
	deadline time.Time     // the current permit is valid until then
	granted  int           // permits received
	attempts int           // cut-over attempts started under a permit
	waiting  atomic.Bool   // gh-ost is waiting for a permit now
	notify   func(attempt int)
}

func newGatekeeper(notify func(attempt int)) *gatekeeper {
	return &gatekeeper{changed: make(chan struct{}), notify: notify}
}

// grant permits cut-over attempts for the next validFor.
func (g *gatekeeper) grant(validFor time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deadline = time.Now().Add(validFor)
	g.granted++
	close(g.changed)
	g.changed = make(chan struct{})
}

// await returns nil once a permit is valid, counting an attempt; an error when ctx ends first.
func (g *gatekeeper) await(ctx context.Context) error {
	notified := false
	for {
		g.mu.Lock()
		if time.Now().Before(g.deadline) {
			g.attempts++
			g.waiting.Store(false)
			g.mu.Unlock()
			return nil
		}
		changed, attempt := g.changed, g.attempts+1
		g.mu.Unlock()
		g.waiting.Store(true)
		if !notified {
			notified = true
			g.notify(attempt)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			g.waiting.Store(false)
			return ErrGateClosed
		}
	}
}

// remaining is how long the current permit is still valid; zero or less when none is.
func (g *gatekeeper) remaining() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Until(g.deadline)
}

// state is a race-safe copy of the counters.
func (g *gatekeeper) state() (granted, attempts int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.granted, g.attempts
}

// hooks is the worker's base.Hooks: the gate and the copy milestone. gh-ost's own hook executor
// (external scripts in --hooks-path) is not used.
type hooks struct {
	ctx      context.Context
	gate     *gatekeeper
	copyDone *atomic.Bool
	atGate   *atomic.Bool          // set when OnBeforeCutOver is first called
	awake    func(context.Context) // waits until the apply loop is awake (awake.go); nil without a waker
	// gap replays what gh-ost's streamer dropped before its listener was added (streamgap.go):
	// before the row copy of a resume, before the cut-over of a revert; nil for a fresh run.
	gap       *gapReplay
	gapRevert bool
	// permitted runs once the gate let gh-ost go: the cut-over phase is reported at once, not at
	// the next progress poll, which a cut-over of a few tens of milliseconds can finish before.
	permitted func()
	// drain waits, bounded, for gh-ost's apply queue to run nearly empty (drain.go); nil when
	// the queue is out of reach.
	drain func(ctx context.Context, within time.Duration)
	// start queues the copy's first entry (copytail.go); nil when gh-ost's queues are out of reach.
	start func()
	// armCount hands the row counter what it needs from gh-ost (rowcount.go); nil without one.
	armCount func()
}

var _ base.Hooks = (*hooks)(nil)

func (h *hooks) OnStartup() error          { return nil }
func (h *hooks) OnValidated() error        { return nil }
func (h *hooks) OnRowCountComplete() error { return nil }

// OnBeforeRowCopy comes after gh-ost added its binlog listener: a resume replays the stream gap.
// Then the apply loop is given its first entry (copytail.go, copyStart).
func (h *hooks) OnBeforeRowCopy() error {
	if h.gap != nil && !h.gapRevert {
		if err := h.gap.run(h.ctx); err != nil {
			return err
		}
	}
	if h.armCount != nil {
		h.armCount()
	}
	if h.start != nil {
		h.start()
	}
	return nil
}

// OnRowCopyComplete is the copy milestone gh-ost exposes nowhere else.
func (h *hooks) OnRowCopyComplete() error { h.copyDone.Store(true); return nil }

// OnBeginPostponed is never called: the worker sets no postpone flag file.
func (h *hooks) OnBeginPostponed() error { return nil }

// OnBeforeCutOver is the gate: gh-ost proceeds to the rename only when it returns nil. The gate
// is reported only once gh-ost's apply loop is awake (awake.go).
func (h *hooks) OnBeforeCutOver() error {
	h.atGate.Store(true)             // after Migrate/Revert set up the applier, in this goroutine (applied.go)
	if h.gap != nil && h.gapRevert { // a revert's listener is added just before (Migrator.Revert)
		if err := h.gap.run(h.ctx); err != nil {
			return err
		}
	}
	if h.awake != nil {
		h.awake(h.ctx)
	}
	for {
		if err := h.gate.await(h.ctx); err != nil {
			return err
		}
		if h.drain == nil {
			break
		}
		// gh-ost holds the table locked until it has applied every event up to the lock: what
		// is queued now is applied under the lock unless it is applied first (drain.go).
		h.drain(h.ctx, h.gate.remaining()/2) // half the permit at most: the attempt starts within it
		if h.gate.remaining() > 0 {
			break
		}
		// The permit ran out while the queue drained: the gate is asked again (await notifies).
	}
	if h.permitted != nil {
		h.permitted()
	}
	return nil
}

func (h *hooks) OnInteractiveCommand(string) error      { return nil }
func (h *hooks) OnSuccess(bool) error                   { return nil }
func (h *hooks) OnFailure() error                       { return nil }
func (h *hooks) OnBatchCopyRetry(string) error          { return nil }
func (h *hooks) OnStatus(string) error                  { return nil }
func (h *hooks) OnStopReplication() error               { return nil }
func (h *hooks) OnStartReplication() error              { return nil }
func (w *worker) installRetrySleep(ctx context.Context) { logic.RetrySleepFn = w.retrySleep(ctx) }

// retrySleep is the worker's logic.RetrySleepFn (one migration per process, so the package
// variable is the worker's alone):
//   - inside the cut-over's critical section (the table is locked) it sleeps briefly and then
//     longer, see criticalFirstSleep;
//   - between cut-over attempts it sleeps gh-ost's backoff and then waits for a valid permit;
//   - everywhere else it sleeps what gh-ost asked.
func (w *worker) retrySleep(ctx context.Context) func(time.Duration) {
	var critAttempt, critN int
	return func(d time.Duration) {
		if atomic.LoadInt64(&w.mc.InCutOverCriticalSectionFlag) > 0 {
			_, attempt := w.gate.state()
			if attempt != critAttempt {
				critAttempt, critN = attempt, 0
			}
			sleep := criticalFirstSleep
			for i := 0; i < critN && sleep < d; i++ {
				sleep += sleep / 2
			}
			critN++
			time.Sleep(min(sleep, d))
			return
		}
		if calledFrom(cutOverRetryFunc) {
			time.Sleep(d)
			// An error here means the worker is stopping; gh-ost's next checkAbort sees it.
			_ = w.gate.await(ctx)
			return
		}
		time.Sleep(d)
	}
}

// calledFrom reports whether a function whose name ends in fn is on the caller's stack.
func calledFrom(fn string) bool {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, fn) {
			return true
		}
		if !more {
			return false
		}
	}
}
