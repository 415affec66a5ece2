package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner/chunk"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/native"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventStatus   EventKind = "status"   // a lifecycle transition (Status)
	EventProgress EventKind = "progress" // an engine progress report (Progress)
	EventThrottle EventKind = "throttle" // the throttle decision changed (Throttle)
	EventBlocker  EventKind = "blocker"  // connections hold up a native ALTER (Blockers)
	EventLease    EventKind = "lease"    // the run lost its lease and stopped (Reason)
)

// ErrLeaseLost is returned by Wait when the run stopped because it could no longer renew its
// lease, or another controller claimed the migration: its worker was stopped with its ghost
// tables kept, and nothing more was written to the store (the new owner's record stands).
var ErrLeaseLost = errors.New("runner: the migration's lease was lost; the controller holding it now goes on")

// Event is what a run reports to its caller, as it happens.
type Event struct {
	Time        time.Time           `json:"time"`
	MigrationID string              `json:"migration_id"`
	Kind        EventKind           `json:"kind"`
	Status      migration.Status    `json:"status,omitempty"`
	Reason      string              `json:"reason,omitempty"`
	Progress    *migration.Progress `json:"progress,omitempty"`
	Throttle    *throttle.Decision  `json:"throttle,omitempty"`
	Blockers    []native.Blocker    `json:"blockers,omitempty"`
}

// Handle is one running migration.
type Handle struct {
	r       *Runner
	id      string
	plan    *planner.Plan
	opts    RunOptions
	monitor *throttle.Monitor
	labels  metrics.Labels
	cancel  context.CancelCauseFunc
	claimed time.Time // when the lease was claimed, by this process's clock

	emitMu sync.Mutex // serializes OnEvent

	mu        sync.Mutex
	status    migration.Status
	worker    *ghost.Worker
	chunks    *chunker          // steers gh-ost's chunk size; nil before gh-ost runs
	throttled time.Time         // when the current throttle began; zero when not throttled
	recorded  throttle.Decision // the last decision recorded by throttleChanged
	last      migration.Progress
	tuning    tuning // what an operator set while it ran (or before a restart: Runner.Resume)
	result    Result
	lastSaved time.Time

	resume *resumeState // set for a migration continued by Runner.Resume
	revert *revertState // set for a revert (Runner.Revert)

	done chan struct{}
	err  error
}

// ID is the migration id in the store.
func (h *Handle) ID() string { return h.id }

// Pause holds the migration back (as a manual throttle) until Resume.
func (h *Handle) Pause(reason string) { h.monitor.Pause(reason) }

// Resume lifts a Pause.
func (h *Handle) Resume() { h.monitor.Resume() }

// Cancel stops the migration; the original table stays as it was. Wait returns ErrCancelled.
func (h *Handle) Cancel() { h.cancel(nil) }

// Release stops the run as a lost lease does, for another controller to go on with: the gh-ost
// worker stops with its tables and checkpoint kept, nothing more is written, Wait returns
// ErrLeaseLost. The caller then releases the lease (store.ReleaseLease) once Done is closed.
func (h *Handle) Release(why string) { h.loseLease(errors.New(why)) }

// SetChunkSize changes gh-ost's copy chunk size while it runs; by (who asked) goes into the event
// log with it. The size stays as set: no longer sized by time, and kept by a worker resumed after a
// crash and by a controller that takes the migration over (Runner.Resume).
func (h *Handle) SetChunkSize(n int64, by string) error {
	h.mu.Lock()
	w := h.worker
	h.mu.Unlock()
	if w == nil {
		return errors.New("runner: chunk size applies to a running gh-ost migration only")
	}
	if err := w.SetChunkSize(n); err != nil {
		return err
	}
	h.mu.Lock()
	h.tuning.ChunkSize, h.tuning.ChunkBy = n, by
	ch := h.chunks
	h.mu.Unlock()
	if ch != nil {
		ch.setByOperator(n, setBy(by)) // the operator's size stays: no longer sized by time
	}
	h.r.metrics.ChunkResized(h.labels, string(chunk.KindOperator))
	h.recordTuning("chunk size set to "+strconv.FormatInt(n, 10)+byWhom(by), tuning{ChunkSize: n, ChunkBy: by})
	return nil
}

// SetNiceRatio changes gh-ost's sleep after each copy chunk while it runs, in multiples of the
// chunk's time (0..migration.MaxNiceRatio): the lever for an application that suffers from the copy
// more than its figures or the throttler show (BENCHMARKS.md, run 7). by (who asked) goes into the
// event log with it. A worker resumed after a crash, and a controller that takes the migration
// over (Runner.Resume), start with it too.
func (h *Handle) SetNiceRatio(r float64, by string) error {
	if err := migration.CheckNiceRatio(r); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	h.mu.Lock()
	w := h.worker
	h.mu.Unlock()
	if w == nil {
		return errors.New("runner: nice ratio applies to a running gh-ost migration only")
	}
	if err := w.SetNiceRatio(r); err != nil {
		return err
	}
	h.mu.Lock()
	h.tuning.NiceRatio, h.tuning.NiceBy = &r, by
	ch := h.chunks
	h.mu.Unlock()
	if ch != nil {
		ch.setNice(r) // a chunk's time is measured without gh-ost's sleep
	}
	h.recordTuning("nice ratio set to "+formatRatio(r)+byWhom(by), tuning{NiceRatio: &r, NiceBy: by})
	return nil
}

// recordTuning writes an operator's change to the event log (store.EventTuning), with what a
// resumed run needs to start from it (Runner.Resume reads it back). Best effort: the change is
// made in the running worker already; a store that does not answer loses it for a later resume
// only.
func (h *Handle) recordTuning(msg string, t tuning) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.r.store.AddEvent(ctx, h.id, store.EventTuning, msg, t)
}

// NiceRatio is gh-ost's nice ratio now: as an operator last set it, else the configured one.
func (h *Handle) NiceRatio() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tuning.NiceRatio != nil {
		return *h.tuning.NiceRatio
	}
	return h.r.cfg.Ghost.NiceRatio
}

// ErrNoGhostWorker: AwaitApplied was called on a migration that runs no gh-ost worker (a native
// ALTER, or before the worker started).
var ErrNoGhostWorker = errors.New("runner: no gh-ost worker is running for this migration")

// AwaitApplied blocks until the running gh-ost worker has applied to the ghost table every change
// the primary's binlog holds up to file:pos, or ctx ends (ghost.Worker.AwaitApplied). The cut-over
// gate's checksum calls it (cutover.Deps.AwaitApplied) to compare a chunk only once the ghost
// table holds everything the original's chunk did when it was read.
func (h *Handle) AwaitApplied(ctx context.Context, file string, pos uint64) error {
	h.mu.Lock()
	w := h.worker
	h.mu.Unlock()
	if w == nil {
		return ErrNoGhostWorker
	}
	return w.AwaitApplied(ctx, file, pos)
}

// ChunkSize is gh-ost's copy chunk size now: the chunker's (sized by time, or the operator's),
// else the configured one (0 for a native migration), so a front door can show it before asking
// for a new one.
func (h *Handle) ChunkSize() int64 {
	h.mu.Lock()
	ch := h.chunks
	h.mu.Unlock()
	if ch != nil {
		n, _ := ch.current()
		return n
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tuning.ChunkSize != 0 || h.plan.Strategy != planner.StrategyGhost {
		return h.tuning.ChunkSize
	}
	if n := h.r.cfg.Ghost.ChunkSize; n > 0 {
		return n
	}
	return ghost.DefaultChunkSize // what ghost.Spec's defaults give a zero ChunkSize
}

// Status is the migration's current lifecycle status.
func (h *Handle) Status() migration.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// Progress is the engine's latest progress report (the zero value before the first).
func (h *Handle) Progress() migration.Progress {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Plan is the plan being run.
func (h *Handle) Plan() *planner.Plan { return h.plan }

// Throttle is the throttler's current decision.
func (h *Handle) Throttle() throttle.Decision { return h.monitor.Decision() }

// Done is closed when the migration has ended.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Wait blocks until the migration ends and returns its result.
func (h *Handle) Wait() (Result, error) {
	<-h.done
	return h.result, h.err
}

// run is the migration, step by step.
func (h *Handle) run(ctx context.Context) {
	defer close(h.done)
	defer h.cancel(nil)
	began := time.Now()
	h.result = Result{MigrationID: h.id, Strategy: h.plan.Strategy}
	h.r.metrics.Started(h.labels)

	// 1. queued → planning → running: the plan was made before Start; record that it is in force.
	// A resumed migration is already running (or was at the gate).
	var err error
	if h.resume != nil {
		err = h.startResumed(ctx)
	} else {
		err = h.transition(ctx, migration.StatusPlanning, "plan supplied: strategy "+string(h.plan.Strategy))
		if err == nil {
			err = h.transition(ctx, migration.StatusRunning, h.plan.Reason)
		}
	}
	// 2. The throttler and the store heartbeat run for as long as the engine does.
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(ctx)
	if err == nil {
		wg.Add(2)
		go func() { defer wg.Done(); _ = h.monitor.Run(bg) }()
		go func() { defer wg.Done(); h.heartbeat(bg) }()
		err = h.awaitThrottleSettled(ctx)
	}
	// 3. The engine.
	if err == nil {
		switch h.plan.Strategy {
		case planner.StrategyGhost:
			err = h.runGhost(ctx)
		default:
			err = h.runNative(ctx)
		}
	}
	stopBG()
	wg.Wait()
	// 4. The end, recorded whatever happened to ctx.
	h.finish(ctx, began, err)
}

// awaitThrottleSettled waits until the throttler has read every input once, so that the first
// decision the engine gets (and the run records) is a real one, not "not checked yet". Each first
// reading is bounded by the throttler's own timeouts.
func (h *Handle) awaitThrottleSettled(ctx context.Context) error {
	select {
	case <-h.monitor.Settled():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finish records the final status, in the store (with a fresh context: ctx may be cancelled),
// the metrics and the result.
func (h *Handle) finish(ctx context.Context, began time.Time, err error) {
	h.closeThrottleSpan(time.Now())
	h.result.Duration = time.Since(began)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case errors.Is(context.Cause(ctx), ErrLeaseLost):
		// Nothing is written: the store would refuse it (fenced), and the new owner's record is
		// the truth. The status stays what it was; the new owner moves it on.
		h.result.Status = h.Status()
		err = errors.Join(context.Cause(ctx), err)
		h.emit(Event{Kind: EventLease, Status: h.result.Status, Reason: context.Cause(ctx).Error()})
		h.r.metrics.Finished(h.labels, h.result.Status)
		h.err = err
		return
	case err == nil:
		h.result.Status = migration.StatusComplete
		err = h.transition(wctx, migration.StatusComplete, h.result.Summary())
	case ctx.Err() != nil && !errors.Is(err, throttle.ErrCritical):
		h.result.Status = migration.StatusCancelled
		if terr := h.transition(wctx, migration.StatusCancelled, cancelReason(h.Status())); terr != nil {
			err = errors.Join(err, terr)
		}
		err = fmt.Errorf("%w: %w", ErrCancelled, err)
	default:
		h.result.Status = migration.StatusFailed
		if errors.Is(err, ghost.ErrCutOverWithoutGate) {
			// The change is applied: written as exactly that, never as a failure that left the
			// original table as it was.
			_ = h.r.store.AddEvent(wctx, h.id, store.EventRenamedWithoutGate,
				"THE TABLE WAS RENAMED WITHOUT THE GATE'S PERMIT: the change is applied; "+err.Error(), nil)
		}
		if ferr := h.r.store.Fail(wctx, h.id, err); ferr != nil {
			err = errors.Join(err, ferr)
		}
		h.emit(Event{Kind: EventStatus, Status: migration.StatusFailed, Reason: err.Error()})
	}
	h.r.metrics.Finished(h.labels, h.result.Status)
	h.err = err
}

// cancelReason is the reason recorded with a cancel: where the migration was. The engine's
// error is the cancel's echo ("context canceled", "migration aborted"), not news (issue 13);
// Wait still returns it.
func cancelReason(was migration.Status) string {
	r := "cancelled while " + string(was)
	if was == migration.StatusReady {
		r += " (at the cut-over gate)"
	}
	return r + "; the original table is unchanged"
}

// transition writes the status change to the store (before it is acted on) and reports it.
func (h *Handle) transition(ctx context.Context, to migration.Status, reason string) error {
	if err := h.r.store.Transition(ctx, h.id, to, reason); err != nil {
		return err
	}
	h.mu.Lock()
	h.status = to
	h.mu.Unlock()
	h.emit(Event{Kind: EventStatus, Status: to, Reason: reason})
	return nil
}

// emit delivers an event to the caller. Events come from the run's goroutine and from the
// throttle watcher; the lock makes OnEvent see them one at a time, in order.
func (h *Handle) emit(ev Event) {
	if h.opts.OnEvent == nil {
		return
	}
	h.emitMu.Lock()
	defer h.emitMu.Unlock()
	ev.Time = time.Now()
	ev.MigrationID = h.id
	h.opts.OnEvent(ev)
}

// heartbeat renews the migration's lease every HeartbeatInterval, for as long as the engine runs.
// A renewal that succeeds extends the lease to LeaseDuration after it was sent (by this process's
// clock: the database set the expiry later than that). When renewals keep failing (the state
// database is unreachable, a partition), the run stops at the lease's end minus LeaseMargin,
// before any other controller may claim it; when another controller has claimed it already
// (fenced), it stops at once.
func (h *Handle) heartbeat(ctx context.Context) {
	lease, margin := h.r.store.LeaseDuration(), h.r.cfg.LeaseMargin
	validUntil := h.claimed.Add(lease)
	tick := time.NewTicker(h.r.cfg.HeartbeatInterval)
	defer tick.Stop()
	var lastErr error
	for {
		stopAt := validUntil.Add(-margin)
		deadline := time.NewTimer(time.Until(stopAt))
		select {
		case <-ctx.Done():
			deadline.Stop()
			return
		case <-deadline.C:
			h.loseLease(fmt.Errorf("no renewal succeeded for %v (last error: %v); stopping %v before the lease expires",
				time.Since(validUntil.Add(-lease)).Round(time.Millisecond), lastErr, margin))
			return
		case <-tick.C:
			deadline.Stop()
		}
		sent := time.Now()
		hctx, cancel := context.WithDeadline(ctx, stopAt)
		err := h.r.store.Heartbeat(hctx, h.id)
		cancel()
		switch {
		case err == nil:
			validUntil = sent.Add(lease)
		case errors.Is(err, store.ErrFenced), errors.Is(err, store.ErrNotOwner):
			h.loseLease(err)
			return
		case errors.Is(err, store.ErrNotActive), ctx.Err() != nil:
			return
		default:
			lastErr = err
		}
	}
}

// loseLease stops the run because its lease is gone: the context's cause makes the gh-ost worker
// stop with its tables kept (ghost.ErrReleased) and finish write nothing.
func (h *Handle) loseLease(why error) {
	h.cancel(fmt.Errorf("%w (%w): %w", ErrLeaseLost, ghost.ErrReleased, why))
}

// stopWorker ends w after err stopped the run: an Abort (its tables dropped) unless the run lost
// its lease, when the tables are the new owner's resume point and stay (Release).
func (h *Handle) stopWorker(ctx context.Context, w *ghost.Worker, err error) {
	if errors.Is(err, store.ErrFenced) {
		h.loseLease(err)
	}
	if errors.Is(err, store.ErrFenced) || errors.Is(context.Cause(ctx), ErrLeaseLost) {
		_ = w.Release()
		return
	}
	_ = w.Abort()
}

// progress sends an engine report to the metrics, the caller and (at most once per
// SaveProgressInterval) the store. The engines say themselves whether they are held back, and why:
// gh-ost reports the reason it was given, the native engine reports its wait.
func (h *Handle) progress(ctx context.Context, p migration.Progress) {
	h.throttleSource(&p)
	h.mu.Lock()
	h.last = p
	if p.RowsCopied > h.result.RowsCopied {
		h.result.RowsCopied = p.RowsCopied
	}
	save := time.Since(h.lastSaved) >= h.r.cfg.SaveProgressInterval || p.Phase == migration.PhaseDone
	if save {
		h.lastSaved = time.Now()
	}
	h.mu.Unlock()
	source := ""
	if d := h.monitor.Decision(); p.Throttled && d.Throttle {
		source = string(d.Source) // the throttler's own reason, not the engine's text
	}
	h.r.metrics.ObserveFrom(h.labels, p, source)
	h.emit(Event{Kind: EventProgress, Progress: &p})
	if save {
		_ = h.r.store.SaveProgress(ctx, h.id, p)
	}
}

// throttleChanged records a new throttle decision: an event in the store and to the caller, and
// the time spent throttled. A decision in the state last recorded is not news: the engines hand
// over the first decision and then every change, and the two may overlap. The first decision
// recorded is the settled one (see run), so a migration that starts throttled records that
// throttle and its time (issue 12), and an "off" with no "on" before it records nothing.
func (h *Handle) throttleChanged(ctx context.Context, d throttle.Decision) {
	// The span runs from when the throttler's state began (Decision.Since), not from when the
	// engine got to it: a migration that starts throttled is throttled while its worker starts.
	at := time.Now()
	if !d.Since.IsZero() && d.Since.Before(at) {
		at = d.Since
	}
	h.mu.Lock()
	if d.SameState(h.recorded) {
		h.mu.Unlock()
		return
	}
	h.recorded = d
	h.mu.Unlock()
	h.closeThrottleSpan(at)
	if d.Throttle {
		h.mu.Lock()
		h.throttled = at
		h.mu.Unlock()
	}
	msg := "throttle off"
	if d.Throttle {
		msg = "throttle on: " + d.Reason
	}
	_ = h.r.store.AddEvent(ctx, h.id, store.EventThrottle, msg, d)
	h.emit(Event{Kind: EventThrottle, Throttle: &d, Reason: msg})
}

func (h *Handle) closeThrottleSpan(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.throttled.IsZero() {
		h.result.ThrottledFor += max(now.Sub(h.throttled), 0)
		h.throttled = time.Time{}
	}
}

// runNative runs the plan's statement with its explicit ALGORITHM/LOCK clause.
func (h *Handle) runNative(ctx context.Context) error {
	// Throttle changes are recorded as they happen, while the executor waits or runs; the
	// watcher ends (unsubscribe closes its channel) before this returns.
	changes, unsubscribe := h.monitor.Subscribe()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for d := range changes {
			h.throttleChanged(ctx, d)
		}
	}()
	defer func() { unsubscribe(); <-watched }()
	h.throttleChanged(ctx, h.monitor.Decision())
	ex := native.New(h.r.primary, h.r.cfg.Native, h.monitor)
	res, err := ex.Run(ctx, h.plan.SQL, func(ev native.Event) {
		h.progress(ctx, ev.Progress)
		if len(ev.Blockers) > 0 {
			_ = h.r.store.AddEvent(ctx, h.id, store.EventBlocker, ev.Message, ev.Blockers)
			h.emit(Event{Kind: EventBlocker, Blockers: ev.Blockers, Reason: ev.Message})
		}
	})
	h.result.Attempts = res.Attempts
	return err
}

// ghostSpec builds the gh-ost worker's spec from the plan and the runner's config.
func (h *Handle) ghostSpec() ghost.Spec {
	c := h.r.cfg
	spec := ghost.Spec{
		MigrationID: h.id, Schema: h.plan.Schema, Table: h.plan.Table, Alter: h.plan.GhostAlter,
		Primary: c.Primary, OnPrimary: c.OnPrimary,
		ChunkSize: c.Ghost.ChunkSize, DMLBatchSize: c.Ghost.DMLBatchSize, AdaptiveDMLBatch: c.Ghost.AdaptiveDMLBatch,
		CutOverLockTimeout: c.Ghost.CutOverLockTimeout, NiceRatio: h.NiceRatio(),
		DropOldTable: c.Ghost.DropOldTable, IgnoreWarnings: c.Ghost.IgnoreWarnings, PprofAddr: c.Ghost.PprofAddr,
		NoBinlogFilter:     c.Ghost.NoBinlogFilter,
		EstimateRowsOnly:   !c.Ghost.ExactRowCount,
		CheckpointInterval: c.Ghost.CheckpointInterval,
		MaxLagMillis:       c.Throttle.WithDefaults().MaxLag.Milliseconds(),
		WorkDir:            filepath.Join(c.WorkDir, h.id),
	}
	// A plan that renames a column is only run once the user allowed it (--allow-incompatible):
	// tell gh-ost the rename is intended, or it refuses the ALTER.
	for _, f := range h.plan.Findings {
		if f.Code == planner.CodeRenameColumn {
			spec.ApproveRenamedColumns = true
		}
	}
	if len(c.Replicas) > 0 {
		spec.Replica = c.Replicas[0]
	}
	return spec
}
