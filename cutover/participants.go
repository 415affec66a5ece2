package cutover

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/runner"
)

func sortViews(vs []view) {
	sort.Slice(vs, func(i, j int) bool { return vs[i].reg.InstanceID < vs[j].reg.InstanceID })
}

func instanceName(reg wire.Registration) string {
	return fmt.Sprintf("%s/%s@%s (%s)", reg.Service, reg.InstanceID, reg.Host, reg.Mode)
}

func (g *Gate) phaseRequest(t runner.Target, phase wire.Phase, deadline time.Time) wire.PhaseRequest {
	return wire.PhaseRequest{
		MigrationID: t.MigrationID, Schema: t.Schema, Table: t.Table, Phase: phase, Attempt: 1, Deadline: deadline,
		OldVersion: g.cfg.Participants.OldVersion, NewVersion: g.cfg.Participants.NewVersion,
	}
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ", last error: " + e
}

// recordIssue writes an instance's problem to the event log when its kind changed (not every
// check: attempts and ages move all the time). Waiting for a first ack is not an issue.
func (g *Gate) recordIssue(ctx context.Context, reg wire.Registration, kind, text string) {
	g.mu.Lock()
	changed := g.issues[reg.InstanceID] != kind
	g.issues[reg.InstanceID] = kind
	g.mu.Unlock()
	if changed && kind != "waiting" {
		_ = g.record(ctx, Event{Kind: EventParticipant, Message: instanceName(reg) + ": " + text,
			Data: map[string]string{"instance_id": reg.InstanceID, "service": reg.Service, "host": reg.Host, "issue": kind, "detail": text}})
	}
}

// PhaseError names the instances that did not acknowledge a commit or abort in time, and
// those that answered they could not apply it.
type PhaseError struct {
	Phase   wire.Phase
	Missing []string // no ack by the deadline
	Failed  []string // acked with ready=false: "id: message"
}

func (e *PhaseError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "no ack from "+strings.Join(e.Missing, ", "))
	}
	if len(e.Failed) > 0 {
		parts = append(parts, "failed: "+strings.Join(e.Failed, ", "))
	}
	return fmt.Sprintf("cutover: %s: %s", e.Phase, strings.Join(parts, "; "))
}

// PhaseResult is what the event log keeps about one commit or abort delivery.
type PhaseResult struct {
	Phase   wire.Phase `json:"phase"`
	Acked   []string   `json:"acked"`
	Missing []string   `json:"missing,omitempty"`
	Failed  []string   `json:"failed,omitempty"`
}

// deliverAll sends phase (commit or abort) to every instance that was sent anything for the
// migration, re-delivering failed or unanswered ones, until all acked or FinishTimeout passed.
func (g *Gate) deliverAll(ctx context.Context, t runner.Target, phase wire.Phase) error {
	if g.deps.Registry == nil {
		return nil
	}
	ids := g.deps.Registry.deliveredTo(t.MigrationID)
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	deadline := time.Now().Add(g.cfg.Participants.FinishTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	req := g.phaseRequest(t, phase, deadline)
	for {
		done := true
		for _, id := range ids {
			d, ok := g.deps.Registry.delivered(id, t.MigrationID)
			switch {
			case !ok: // evicted meanwhile: nobody left to tell
			case d.req.Phase != phase,
				!d.acked && !d.inflight && time.Since(d.sentAt) > 500*time.Millisecond:
				// First delivery, or a failed/unanswered one: send (again). Signals may be
				// lost or coalesced, so a signal-mode instance is signalled again too.
				wg.Go(func() { g.deps.Registry.deliver(ctx, id, req, 0) })
				done = false
			case !d.acked:
				done = false
			}
		}
		if done || !sleep(ctx, 50*time.Millisecond) {
			break
		}
	}
	cancel()
	wg.Wait()
	// ctx has expired when an instance stayed silent until the deadline: the outcome is still
	// recorded, with a context of its own.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	return g.phaseOutcome(rctx, t, phase, ids)
}

func (g *Gate) phaseOutcome(ctx context.Context, t runner.Target, phase wire.Phase, ids []string) error {
	res := PhaseResult{Phase: phase}
	for _, id := range ids {
		d, ok := g.deps.Registry.delivered(id, t.MigrationID)
		switch {
		case !ok:
		case d.req.Phase != phase || !d.acked:
			res.Missing = append(res.Missing, id)
		case !d.ack.Ready:
			res.Failed = append(res.Failed, id+": "+d.ack.Message)
		default:
			res.Acked = append(res.Acked, id)
		}
	}
	msg := fmt.Sprintf("%s acknowledged by %d of %d instance(s)", phase, len(res.Acked), len(ids))
	_ = g.record(ctx, Event{MigrationID: t.MigrationID, Kind: EventPhase, Message: msg, Data: res})
	if len(res.Missing) > 0 || len(res.Failed) > 0 {
		return &PhaseError{Phase: phase, Missing: res.Missing, Failed: res.Failed}
	}
	return nil
}
