package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/estimate"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// runGhost runs gh-ost in its worker process and steers it:
//  1. start the worker (it refuses leftovers of a dead run and learns the expected shape);
//  2. relay every throttle decision to gh-ost, and abort on a critical one;
//  3. forward progress until gh-ost has copied the table and waits at the gate (in-process);
//  4. ask the gate, then grant gh-ost a cut-over permit (atomic rename); when its attempts fail
//     until the permit expires, ask the gate again before any further attempt;
//  5. report the worker's verdict: success only when the rename happened and the shape is right.
//
// When ctx ends, ghost.Start's own watch aborts the worker and drops its tables.
func (h *Handle) runGhost(ctx context.Context) (err error) {
	spec := h.ghostSpec()
	if h.resume != nil {
		spec.Resume, spec.InspectorServerID = true, h.resume.inspectorServerID
	}
	if h.revert != nil {
		spec.Revert, spec.OldTable, spec.InspectorServerID, spec.Alter = true, h.revert.oldTable, h.revert.inspectorServerID, ""
	}
	var start string
	h.mu.Lock()
	kept := h.tuning // an operator's, set before this controller resumed the migration
	h.mu.Unlock()
	switch {
	case kept.ChunkSize != 0:
		spec.ChunkSize = kept.ChunkSize
	case spec.ChunkSize == 0 && h.revert == nil:
		if n, why, ok := startingChunk(ctx, h.r.store, h.r.cfg.Cluster, h.r.cfg.Chunk); ok {
			spec.ChunkSize, start = n, why
		}
	}
	w, err := ghost.Start(ctx, spec)
	if err != nil {
		return err
	}
	h.recordEngine(ctx, w, spec.Resume)
	h.mu.Lock()
	h.worker = w
	h.mu.Unlock()
	h.result.LogFile = w.Spec().LogFile()
	if w.Spec().PprofAddr != "" {
		noted := make(chan struct{})
		go func() { defer close(noted); h.notePprof(ctx, w) }()
		defer func() { <-noted }()
	}

	// The ETA models the chunk sizer's ramp-up with its own target and bound.
	ecfg, ccfg := h.r.cfg.Estimate, h.r.cfg.Chunk.WithDefaults()
	ecfg.ChunkTarget, ecfg.ChunkMax = cmp.Or(ecfg.ChunkTarget, ccfg.Target), cmp.Or(ecfg.ChunkMax, ccfg.Max)
	est, err := estimate.New(ecfg)
	if err != nil {
		_ = w.Abort()
		return err
	}
	size := w.Spec().ChunkSize
	if size == 0 {
		size = ghost.DefaultChunkSize // what the worker gives gh-ost for 0
	}
	est.SetChunkSize(size)
	ch := newChunker(h.r.cfg.Chunk, size, w.Spec().NiceRatio, start)
	if kept.ChunkSize != 0 {
		ch.setByOperator(kept.ChunkSize, setBy(kept.ChunkBy)+" before the migration was resumed")
	}
	h.mu.Lock()
	h.chunks = ch
	h.mu.Unlock()
	decisions, unsubscribe := h.monitor.Subscribe()
	defer unsubscribe()
	// The first decision is recorded like any change when it throttles: a migration that starts
	// throttled is throttled from its first second (issue 12).
	first := h.monitor.Decision()
	if err := h.relayThrottle(ctx, w, first, first.Throttle); err != nil {
		return err
	}
	events, ready, again := w.Events(), w.Ready(), w.GateAgain()
	gateDone := make(chan error, 1)
	var cutOverAt time.Time
	asked, gateRunning := false, false
	target := Target{MigrationID: h.id, Schema: h.plan.Schema, Table: h.plan.Table, Ghost: ghost.GhostTable(h.plan.Table)}
	if h.revert != nil {
		target.Ghost = h.revert.oldTable
	}
	// The gate's context; a resume replaces it (so it lives in a struct, not a local cancel).
	var g struct {
		ctx    context.Context
		cancel context.CancelFunc
	}
	g.ctx, g.cancel = context.WithCancel(ctx)
	defer func() { g.cancel() }()
	resumes := 0
	logLost := false
	noteLogLost := func() { // once per run: the log is what a DBA reads when something goes wrong
		if why := w.LogLost(); why != "" && !logLost {
			logLost = true
			_ = h.r.store.AddEvent(context.WithoutCancel(ctx), h.id, store.EventNote,
				fmt.Sprintf("the worker log %s is incomplete: %s (the migration goes on; free space on its file system)", w.Spec().LogFile(), why), nil)
		}
	}
	defer func() {
		// A gate still waiting is stopped and waited for: it tells the participants it prepared
		// to abort before the migration is reported as ended.
		if gateRunning {
			g.cancel()
			<-gateDone
		}
		// Participants hear the outcome: commit after the verified rename, abort otherwise.
		if f, ok := h.opts.Gate.(Finisher); ok && asked {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			f.Finish(fctx, target, err)
		}
	}()
	for {
		select {
		case p, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			h.ghostProgress(ctx, w, est, ch, p)
			noteLogLost()
		case d := <-decisions:
			if err := h.relayThrottle(ctx, w, d, true); err != nil {
				return err
			}
		case <-ready:
			ready = nil
			if err := h.transition(ctx, migration.StatusReady, "copy complete; gh-ost is postponing the cut-over"); err != nil {
				h.stopWorker(ctx, w, err)
				return err
			}
			asked, gateRunning = true, true
			gctx := g.ctx
			go func() { gateDone <- h.opts.Gate.Await(gctx, target) }()
		case attempt := <-again:
			if gateRunning {
				continue
			}
			_ = h.r.store.AddEvent(ctx, h.id, store.EventNote, fmt.Sprintf(
				"cut-over attempt %d: the earlier attempts failed and their permit expired; asking the gate again", attempt), nil)
			gateRunning = true
			gctx := g.ctx
			go func() { gateDone <- h.opts.Gate.Await(gctx, target) }()
		case gerr := <-gateDone:
			gateRunning = false
			if gerr != nil {
				h.stopWorker(ctx, w, gerr)
				return fmt.Errorf("runner: cut-over gate: %w", gerr)
			}
			if cutOverAt.IsZero() {
				if err := h.transition(ctx, migration.StatusCuttingOver, "gate open"); err != nil {
					h.stopWorker(ctx, w, err)
					return err
				}
				cutOverAt = time.Now()
			}
			permit := h.r.cfg.Ghost.CutOverPermit
			if permit <= 0 {
				permit = ghost.DefaultCutOverPermit
			}
			_ = h.r.store.AddEvent(ctx, h.id, store.EventCutOverAttempt, fmt.Sprintf(
				"gh-ost cut-over (atomic rename) permitted for %s", permit), nil)
			if err := w.CutOver(permit); err != nil {
				h.stopWorker(ctx, w, err)
				return err
			}
		case <-w.Done():
			for p := range w.Events() { // drain what the worker said last; closed before Done
				h.ghostProgress(ctx, w, est, ch, p)
			}
			res, err := w.Wait()
			noteLogLost()
			var re *ghost.ResumableError
			if errors.As(err, &re) && ctx.Err() == nil && resumes < maxAutoResumes {
				// The worker died after a checkpoint: go on from there, not from zero.
				resumes++
				if gateRunning { // the gate was for the dead worker; it asks again at the next Ready
					g.cancel()
					<-gateDone
					gateRunning = false
				}
				g.cancel()
				g.ctx, g.cancel = context.WithCancel(ctx)
				_ = h.r.store.AddEvent(ctx, h.id, store.EventRetry, fmt.Sprintf(
					"the gh-ost worker died (%v); resuming from checkpoint %d (%d rows copied, binlog %s), resume %d of %d",
					re.Cause, re.Checkpoint.ID, re.Checkpoint.RowsCopied, re.Checkpoint.Coords, resumes, maxAutoResumes), re.Checkpoint)
				spec := h.ghostSpec()
				spec.Resume, spec.InspectorServerID = true, res.InspectorServerID
				spec.ChunkSize = ch.restartAt(size)
				if w, err = ghost.Start(ctx, spec); err != nil {
					return err
				}
				h.recordEngine(ctx, w, true)
				h.mu.Lock()
				h.worker = w
				h.mu.Unlock()
				events, ready, again = w.Events(), w.Ready(), w.GateAgain()
				est.Restart()
				if err := h.relayThrottle(ctx, w, h.monitor.Decision(), false); err != nil {
					return err
				}
				continue
			}
			h.result.OldTable = res.OldTable
			if err == nil && res.OldTable != "" {
				// What a revert needs: the kept original, and the server whose binlog gh-ost read.
				_ = h.r.store.AddEvent(context.WithoutCancel(ctx), h.id, store.EventEngine, fmt.Sprintf(
					"cut over; the original is kept as %s (the revert point, with %s)", res.OldTable, ghost.CheckpointTable(h.plan.Table)),
					engineData{InspectorServerID: res.InspectorServerID, OldTable: res.OldTable})
			}
			h.result.CutOverRepairs = res.CutOverRepairs
			for _, lw := range res.CutOverRepairs {
				// A write that reached the old table during gh-ost's cut-over (see ghost's audit):
				// every one is written down, repaired or not.
				_ = h.r.store.AddEvent(context.WithoutCancel(ctx), h.id, store.EventNote, "cut-over lost write: "+lw.String(), lw)
			}
			if res.RowsCopied > h.result.RowsCopied {
				h.result.RowsCopied = res.RowsCopied
			}
			if !cutOverAt.IsZero() {
				h.result.CutOverTime = time.Since(cutOverAt)
				h.result.CutOverLock = res.LockDuration
				h.r.metrics.CutOverAttempt(h.labels, res.LockDuration, err == nil)
			}
			return err
		}
	}
}

// recordEngine writes what a later resume needs: the server gh-ost reads the binlog from.
func (h *Handle) recordEngine(ctx context.Context, w *ghost.Worker, resumed bool) {
	id := w.InspectorServerID()
	msg := fmt.Sprintf("gh-ost worker started, binlog read from server_id %d", id)
	if resumed {
		msg = fmt.Sprintf("gh-ost worker resumed from its checkpoint, binlog read from server_id %d", id)
	}
	_ = h.r.store.AddEvent(ctx, h.id, store.EventEngine, msg, engineData{InspectorServerID: id, Resumed: resumed})
}

// maxAutoResumes bounds how often one run resumes a worker that died: a worker that keeps dying
// has a cause a person must look at.
const maxAutoResumes = 3

// relayThrottle hands a throttle decision to gh-ost: our throttler decides, gh-ost obeys (as a
// user-commanded throttle, within a few hundred milliseconds). A critical decision aborts.
func (h *Handle) relayThrottle(ctx context.Context, w *ghost.Worker, d throttle.Decision, changed bool) error {
	if d.Critical {
		h.stopWorker(ctx, w, nil)
		return &throttle.CriticalError{Decision: d}
	}
	if changed {
		h.throttleChanged(ctx, d)
	}
	var err error
	if d.Throttle {
		err = w.Throttle(d.Reason)
	} else if changed {
		err = w.Unthrottle()
	}
	if err != nil {
		select {
		case <-w.Done():
			return nil // the worker has ended; Wait says how
		default:
		}
		if errors.Is(err, ghost.ErrNotRunning) {
			// The worker is exiting (its stdin is closed) while its end is still being verified:
			// after a cut-over that end may well be a success, which only Wait can tell.
			return nil
		}
		return fmt.Errorf("runner: relay throttle to gh-ost: %w", err)
	}
	return nil
}
