package server

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/runner"
)

// What `migrate serve` says about its migrations (issue 13: "serve logs what happens"): every
// lifecycle transition, throttle change and native blocker from the runner, every decision of
// the gates, and the gate metrics. Progress reports are not logged (they are metrics).

// logRunnerEvent logs one runner event; progress is left to the metrics.
func (c *Controller) logRunnerEvent(ev runner.Event) {
	log := c.opts.Log.With("migration", ev.MigrationID)
	switch ev.Kind {
	case runner.EventStatus:
		level := slog.LevelInfo
		if ev.Status == "failed" {
			level = slog.LevelError
		}
		log.Log(context.Background(), level, "migration "+string(ev.Status), "status", ev.Status, "reason", ev.Reason)
	case runner.EventThrottle:
		if d := ev.Throttle; d != nil && d.Throttle {
			log.Info("throttled", "source", d.Source, "reason", d.Reason)
		} else {
			log.Info("throttle off")
		}
	case runner.EventBlocker:
		log.Warn("blocked by other connections", "blockers", len(ev.Blockers), "reason", ev.Reason)
	}
}

// observeGateEvent logs a gate decision and counts it. Participant failures are warnings; the
// rest (waiting, opened, approval, …) is information.
func (c *Controller) observeGateEvent(gm *metrics.Gate, l metrics.GateLabels, e cutover.Event) {
	issue := ""
	if d, ok := e.Data.(map[string]string); ok {
		issue = d["issue"]
	}
	gm.Event(l, string(e.Kind), issue)
	attrs := []any{"migration", e.MigrationID, "schema", l.Schema, "table", l.Table, "kind", e.Kind}
	if issue != "" {
		attrs = append(attrs, "issue", issue)
	}
	switch e.Kind {
	case cutover.EventParticipant, cutover.EventChecksumMismatch:
		c.opts.Log.Warn(e.Message, attrs...)
	default:
		c.opts.Log.Info(e.Message, attrs...)
	}
}

// checksumCounts reads "N chunks, M rows" from the checksum line's value, the only place the
// gate reports its progress (cutover.checksummer.line).
var checksumCounts = regexp.MustCompile(`(\d+) chunks, (\d+) rows`)

// observeChecklist records one check of a gate in the metrics.
func (c *Controller) observeChecklist(gm *metrics.Gate, l metrics.GateLabels, cl cutover.Checklist) {
	conds := make([]metrics.Condition, len(cl.Lines))
	var cs *metrics.ChecksumProgress
	for i, line := range cl.Lines {
		conds[i] = metrics.Condition{Name: line.Name, OK: line.OK}
		if m := checksumCounts.FindStringSubmatch(line.Value); line.Name == cutover.LineChecksum && m != nil {
			chunks, _ := strconv.ParseInt(m[1], 10, 64)
			rows, _ := strconv.ParseInt(m[2], 10, 64)
			cs = &metrics.ChecksumProgress{Chunks: chunks, Rows: rows}
		}
	}
	gm.Checklist(l, cl.Open, cl.Closed, cl.Time, conds, cs)
}

// ParticipantCounts counts a registry's instances for ghostgate_participants: live and lapsed
// leases, and those that acknowledged prepare as ready (nil registry: none).
func ParticipantCounts(reg *cutover.Registry) func() metrics.ParticipantCounts {
	return func() metrics.ParticipantCounts {
		var n metrics.ParticipantCounts
		if reg == nil {
			return n
		}
		for _, p := range reg.Participants() {
			if !p.Live {
				n.Lapsed++
				continue
			}
			n.Live++
			if p.Phase == wire.PhasePrepare && p.Acked && p.Ready {
				n.Prepared++
			}
		}
		return n
	}
}
