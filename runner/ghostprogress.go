package runner

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/estimate"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/store"
)

// ghostProgress completes a report of the gh-ost worker with what the runner knows better and
// passes it on: the rate and ETA come from the runner's estimator (rows remaining over a rate
// smoothed across a long window, honest while held; issue 12), not the worker's 5-second window.
// The chunk size is steered from the same reports (see chunker).
func (h *Handle) ghostProgress(ctx context.Context, w chunkSetter, est *estimate.Estimator, ch *chunker, p migration.Progress) {
	h.throttleSource(&p) // before the estimator: a held report is one the throttler holds
	if ch.takeNiceChanged() {
		est.Restart() // the rate changes with the sleep after each chunk
	}
	e := est.Observe(p)
	p.RowsPerSecond, p.ETA, p.CutOverETA, p.ETAState = e.Rate, e.ETA, e.CutOverETA, e.State
	p.ETALow, p.ETAHigh = e.ETALow, e.ETAHigh
	old, _ := ch.current()
	var lockTime time.Duration
	var lockErr error = errNotCopying
	if p.Phase == migration.PhaseCopying {
		// The application's row-lock waits are the copy's cost to it (chunk.Config.MaxLockWait).
		lctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		lockTime, lockErr = readRowLockTime(lctx, h.r.primary)
		cancel()
	}
	if n, r, changed := ch.step(p, lockTime, lockErr == nil); changed {
		if err := w.SetChunkSize(n); err != nil {
			ch.undo(old, "resize to "+strconv.FormatInt(n, 10)+" refused: "+err.Error())
		} else {
			est.Restart() // the rate changes with the chunk size
			h.r.metrics.ChunkResized(h.labels, string(r.Kind))
		}
	}
	p.ChunkSize, p.ChunkReason = chunkState(ch)
	est.SetChunkSize(p.ChunkSize) // the size the next interval copies at
	h.progress(ctx, p)
}

var errNotCopying = errors.New("not copying")

// chunkSetter is the part of the gh-ost worker the chunker uses.
type chunkSetter interface{ SetChunkSize(n int64) error }

func chunkState(ch *chunker) (int64, string) {
	n, r := ch.current()
	return n, string(r.Kind) + ": " + r.Detail
}

// throttleSource names the throttler's source (and its current reason) on a report that says the
// engine is held back while our throttler throttles, so that a manual pause is counted as
// "manual" and not as whatever its free-text reason looks like (issue 12). A throttle of gh-ost's
// own (the throttler clear) keeps gh-ost's reason and no source.
func (h *Handle) throttleSource(p *migration.Progress) {
	if !p.Throttled || p.ThrottleSource != "" {
		return
	}
	if d := h.monitor.Decision(); d.Throttle {
		p.ThrottleSource, p.ThrottleReason = string(d.Source), d.Reason
		// gh-ost writes no changelog heartbeat while it is throttled by a command
		// (go/logic/applier.go InitiateHeartbeat), so the lag it reports then grows with the
		// pause (a paused copy showed "lag 21s" on a replica 0 s behind); our own heartbeat's
		// reading is the truth.
		if lag, ok := h.monitor.Lag(); ok {
			p.ReplicaLag = lag
		}
	}
}

// notePprof writes the worker's profile address to the event log once the worker serves it
// (GhostTuning.PprofAddr; the port may be the kernel's choice). It returns when the worker ends.
func (h *Handle) notePprof(ctx context.Context, w *ghost.Worker) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if addr := w.PprofAddr(); addr != "" {
			_ = h.r.store.AddEvent(ctx, h.id, store.EventNote, "gh-ost worker pprof: http://"+addr+"/debug/pprof/", nil)
			return
		}
		select {
		case <-w.Done():
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
