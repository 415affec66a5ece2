package runner

import (
	"context"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/runner/estimate"
)

// ghostProgress completes a report of the gh-ost worker with what the runner knows better and
// passes it on: the rate and ETA come from the runner's estimator (rows remaining over a rate
// smoothed across a long window, honest while held; issue 12), not the worker's 5-second window.
func (h *Handle) ghostProgress(ctx context.Context, est *estimate.Estimator, p migration.Progress) {
	h.throttleSource(&p) // before the estimator: a held report is one the throttler holds
	e := est.Observe(p)
	p.RowsPerSecond, p.ETA, p.CutOverETA, p.ETAState = e.Rate, e.ETA, e.CutOverETA, e.State
	h.progress(ctx, p)
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
	}
}
