package cutover

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/runner"
)

// prepRound is one round of prepare deliveries (see Participants): n counts the rounds of the
// migration (0: none running), deadline is when it is aborted unless the gate opened.
type prepRound struct {
	n        int
	started  time.Time
	deadline time.Time
}

// roundState is the gate's memory of its rounds, kept under Gate.mu.
type roundState struct {
	cur     prepRound
	count   int           // rounds started so far
	next    time.Time     // no new round before this (backoff)
	backoff time.Duration // the pause after the last aborted round
	why     string        // why the last round was aborted
}

// participantsLine runs the prepare rounds and passes when every live instance of the table
// acknowledged ready in the current round. A lapsed instance is never counted as ready; once it
// has been lapsed for EvictAfter it is evicted (unless KeepLapsed). A round starts only when
// othersOK (every other condition holds) and the backoff has passed; when its deadline passes
// without the gate opening, it is aborted.
func (g *Gate) participantsLine(ctx context.Context, t runner.Target, wg *sync.WaitGroup, othersOK bool) Line {
	now := time.Now()
	views := g.evictLapsed(ctx, g.deps.Registry.forTable(t.Schema+"."+t.Table, t.MigrationID), now)
	l := Line{Name: LineParticipants, Limit: "every live instance acknowledged prepare"}
	if why := g.deps.Registry.fleetStale(); why != "" {
		// Not counted from a partial view: an instance registered with another controller
		// would be missing from it, and the gate could open without its prepare.
		l.Value, l.Detail = "fleet not read", why
		return l
	}
	var issues []string
	live := 0
	for _, v := range views {
		if v.live {
			live++
			continue
		}
		text := fmt.Sprintf("lease lapsed, last heartbeat %s ago", now.Sub(v.lastBeat).Round(time.Second))
		if !g.cfg.Participants.KeepLapsed {
			text += fmt.Sprintf(" (evicted %s after the lapse)", g.cfg.Participants.EvictAfter)
		}
		issues = append(issues, instanceName(v.reg)+": "+text)
		g.recordIssue(ctx, v.reg, "lapsed", text)
	}
	g.mu.Lock()
	rs := g.rounds
	g.mu.Unlock()
	ready, held := 0, false
	switch {
	case rs.cur.n == 0 && live > 0 && !othersOK:
		held = len(issues) == 0 // only held ones: nobody asked yet, by design (see check)
		for _, v := range views {
			if v.live {
				issues = append(issues, instanceName(v.reg)+": prepare held until the other conditions hold")
			}
		}
	case rs.cur.n == 0 && live > 0 && now.Before(rs.next):
		issues = append(issues, fmt.Sprintf("next prepare round in %s (round %d aborted: %s)",
			rs.next.Sub(now).Round(100*time.Millisecond), rs.count, rs.why))
	case live > 0:
		if rs.cur.n == 0 {
			rs.cur = g.startRound(now)
		}
		var waiting []string
		ready, waiting = g.roundViews(ctx, t, wg, views, rs.cur, now)
		issues = append(issues, waiting...)
		// Past its deadline a round ends unless the gate opens at this very check: instances
		// that acked ready stop shedding by themselves when their hold passes, so a round kept
		// open longer would count them as ready when they no longer are.
		if now.After(rs.cur.deadline) && !(ready == live && othersOK) {
			g.abortRound(ctx, t, wg, rs.cur, waiting, now)
			ready = 0
			issues = append(issues, fmt.Sprintf("prepare round %d aborted at its deadline", rs.cur.n))
		}
	}
	l.OK = len(issues) == 0
	l.Value = fmt.Sprintf("%d/%d ready", ready, len(views))
	if held {
		// Not a failing participant: a pending line (the TUI and status show "not asked yet").
		l.Pending, l.Value = true, "not asked yet"
	}
	l.Detail = strings.Join(issues, "; ")
	return l
}

func (g *Gate) startRound(now time.Time) prepRound {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rounds.count++
	g.rounds.cur = prepRound{n: g.rounds.count, started: now, deadline: now.Add(g.cfg.Participants.PrepareTimeout)}
	return g.rounds.cur
}

// roundViews delivers the round's prepare to every live instance that has not got it (or whose
// delivery failed: delivery is idempotent) and counts the ready ones; the rest are named.
func (g *Gate) roundViews(ctx context.Context, t runner.Target, wg *sync.WaitGroup, views []view, rd prepRound, now time.Time) (int, []string) {
	send := func(v view) {
		req := g.phaseRequest(t, wire.PhasePrepare, rd.deadline)
		// The hold left when the instance receives it: what remains of the round's hold.
		req.HoldMillis = max(rd.started.Add(g.cfg.Participants.PrepareHold).Sub(time.Now()).Milliseconds(), 1)
		wg.Go(func() { g.deps.Registry.deliver(ctx, v.reg.InstanceID, req, rd.n) })
	}
	ready := 0
	var issues []string
	for _, v := range views {
		if !v.live {
			continue
		}
		kind, text := "", ""
		switch d := v.d; {
		case !v.has || d.req.Phase != wire.PhasePrepare || d.round != rd.n:
			send(v)
			kind, text = "waiting", fmt.Sprintf("prepare sent (round %d)", rd.n)
		case d.acked && d.ack.Ready:
			ready++
			continue
		case d.acked:
			kind, text = "not_ready", "not ready: "+d.ack.Message
		case d.err != "" && !d.inflight && now.Sub(d.sentAt) > 200*time.Millisecond:
			send(v)
			kind, text = "waiting", fmt.Sprintf("delivery failed (attempt %d): %s", d.req.Attempt, d.err)
		default:
			kind, text = "waiting", fmt.Sprintf("waiting for ack (attempt %d)%s", d.req.Attempt, errSuffix(d.err))
		}
		if kind == "waiting" && now.After(rd.deadline) {
			kind, text = "timeout", fmt.Sprintf("no ack by the round's deadline (attempt %d)%s", v.d.req.Attempt, errSuffix(v.d.err))
		}
		issues = append(issues, instanceName(v.reg)+": "+text)
		g.recordIssue(ctx, v.reg, kind, text)
	}
	return ready, issues
}

// abortRound ends a round that passed its deadline without the gate opening: every instance
// that was sent its prepare hears abort (and stops shedding), and the next round waits for the
// backoff. The deliveries run on the await's context: when Await ends first, its own abort
// reaches them.
func (g *Gate) abortRound(ctx context.Context, t runner.Target, wg *sync.WaitGroup, rd prepRound, why []string, now time.Time) {
	p := g.cfg.Participants
	g.mu.Lock()
	rs := &g.rounds
	if rs.cur.n != rd.n {
		g.mu.Unlock()
		return
	}
	rs.backoff = min(max(2*rs.backoff, p.RoundBackoff), p.MaxRoundBackoff)
	rs.next, rs.cur = now.Add(rs.backoff), prepRound{}
	rs.why = strings.Join(why, "; ")
	if rs.why == "" {
		rs.why = "the other conditions did not hold"
	}
	backoff, reason := rs.backoff, rs.why
	g.mu.Unlock()
	req := g.phaseRequest(t, wire.PhaseAbort, now.Add(p.PrepareTimeout))
	for _, id := range g.deps.Registry.deliveredTo(t.MigrationID) {
		if d, ok := g.deps.Registry.delivered(id, t.MigrationID); ok && d.req.Phase == wire.PhasePrepare && d.round == rd.n {
			wg.Go(func() { g.deps.Registry.deliver(ctx, id, req, rd.n) })
		}
	}
	_ = g.record(ctx, Event{Kind: EventRound,
		Message: fmt.Sprintf("prepare round %d aborted after %s: %s; next round in %s", rd.n, p.PrepareTimeout, reason, backoff),
		Data:    map[string]string{"round": fmt.Sprint(rd.n), "reason": reason, "backoff": backoff.String()}})
}

// evictLapsed evicts (by policy) the instances whose lease lapsed more than EvictAfter ago and
// returns the views left. Each eviction is recorded with who and why.
func (g *Gate) evictLapsed(ctx context.Context, views []view, now time.Time) []view {
	p := g.cfg.Participants
	if p.KeepLapsed {
		return views
	}
	out := views[:0]
	for _, v := range views {
		if v.live || now.Sub(v.expires) < p.EvictAfter {
			out = append(out, v)
			continue
		}
		if err := g.deps.Registry.evictIf(v.reg.InstanceID, v.expires); err != nil {
			out = append(out, v) // it heartbeated meanwhile
			continue
		}
		why := fmt.Sprintf("lease lapsed %s ago (last heartbeat %s ago), evicted after %s by policy",
			now.Sub(v.expires).Round(time.Second), now.Sub(v.lastBeat).Round(time.Second), p.EvictAfter)
		_ = g.record(ctx, Event{Kind: EventEvicted, Message: "evicted " + instanceName(v.reg) + ": " + why,
			Data: map[string]string{"instance_id": v.reg.InstanceID, "service": v.reg.Service, "host": v.reg.Host,
				"by": "gate policy (evict lapsed instances)", "reason": why}})
	}
	return out
}
