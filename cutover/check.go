package cutover

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/runner"
)

// check evaluates every condition once and returns the checklist. Collecting failures are
// lines that fail with the error as detail, never errors of Await: a condition that cannot be
// verified keeps the gate closed.
func (g *Gate) check(ctx context.Context, t runner.Target, cs *checksummer, wg *sync.WaitGroup) Checklist {
	qctx, cancel := context.WithTimeout(ctx, g.cfg.QueryTimeout)
	defer cancel()
	now := time.Now()
	cl := Checklist{MigrationID: t.MigrationID, Schema: t.Schema, Table: t.Table, Time: now}
	cl.Lines = append(cl.Lines, g.engineLines()...)
	if g.cfg.Window.MaxReplicaLag > 0 {
		cl.Lines = append(cl.Lines, g.lagLine(qctx))
	}
	cl.Lines = append(cl.Lines, g.loadLines(qctx, t, now)...)
	cl.Lines = append(cl.Lines, g.blockerLines(qctx, t)...)
	if cs != nil {
		cl.Lines = append(cl.Lines, cs.line())
	}
	approval := g.approvalLine(now)
	if g.deps.Registry != nil {
		// Participants are asked last: prepare makes services shed writes or switch shapes, so it
		// goes out only once every other condition (approval included) holds, keeping that
		// window as short as the cut-over itself rather than as long as the wait for a DBA. The
		// backlog is the exception: the writes prepare holds back are what lets it drain.
		others := approval.OK
		for _, l := range cl.Lines {
			switch {
			case l.OK, l.Name == LineBacklog:
			case l.Name == LineChecksum && cs != nil && !cs.holdsPrepare():
			default:
				others = false
			}
		}
		cl.Lines = append(cl.Lines, g.participantsLine(ctx, t, wg, others))
	}
	cl.Lines = append(cl.Lines, approval)
	return cl
}

func (g *Gate) engineLines() []Line {
	ready, backlog := g.deps.Engine()
	e := Line{Name: LineEngine, OK: ready, Value: "copying", Limit: "copy complete, postponing cut-over"}
	if ready {
		e.Value = "ready"
	}
	b := Line{Name: LineBacklog, OK: backlog <= g.cfg.Window.MaxBacklog, Value: fmt.Sprint(backlog),
		Limit: fmt.Sprintf("<= %d events", g.cfg.Window.MaxBacklog)}
	if !b.OK {
		b.Detail = "binlog events not yet applied to the ghost table"
	}
	return []Line{e, b}
}

func (g *Gate) lagLine(ctx context.Context) Line {
	l := Line{Name: LineReplicaLag, Limit: "<= " + g.cfg.Window.MaxReplicaLag.String()}
	if g.deps.ReplicaLag != nil {
		lag, err := g.deps.ReplicaLag(ctx)
		if err != nil {
			l.Value, l.Detail = "unknown", err.Error()
			return l
		}
		l.OK, l.Value = lag <= g.cfg.Window.MaxReplicaLag, lag.String()
		return l
	}
	var worst time.Duration
	var bad []string
	for _, r := range g.deps.Replicas {
		lag, err := replicaLag(ctx, r.DB)
		switch {
		case err != nil:
			bad = append(bad, r.Name+": "+err.Error())
		case lag > g.cfg.Window.MaxReplicaLag:
			bad = append(bad, fmt.Sprintf("%s: %s behind", r.Name, lag))
		}
		worst = max(worst, lag)
	}
	l.OK, l.Value, l.Detail = len(bad) == 0, worst.String(), strings.Join(bad, "; ")
	if len(bad) > 0 && worst <= g.cfg.Window.MaxReplicaLag {
		l.Value = "unknown"
	}
	return l
}

func (g *Gate) loadLines(ctx context.Context, t runner.Target, now time.Time) []Line {
	w := g.cfg.Window
	if w.MaxThreadsRunning == 0 && w.MaxQPSRatio == 0 {
		return nil
	}
	st, err := readStatus(ctx, g.deps.DB, "THREADS_RUNNING", "QUESTIONS")
	var out []Line
	if w.MaxThreadsRunning > 0 {
		// Threads_running counts the gate's own query too.
		l := Line{Name: LineThreadsRunning, Limit: fmt.Sprintf("<= %d", w.MaxThreadsRunning)}
		if err != nil {
			l.Value, l.Detail = "unknown", err.Error()
		} else {
			l.OK, l.Value = int(st["THREADS_RUNNING"]) <= w.MaxThreadsRunning, fmt.Sprint(st["THREADS_RUNNING"])
		}
		out = append(out, l)
	}
	if w.MaxQPSRatio > 0 {
		// The table's own write rate when MariaDB keeps per-table statistics (userstat=ON);
		// the server's query rate otherwise.
		v, src := st["QUESTIONS"], sourceQuestions
		if rows, ok, terr := tableWrites(ctx, g.deps.DB, t.Schema, t.Table); terr == nil && ok {
			v, src = rows, sourceTableWrites
		}
		g.mu.Lock()
		if g.qps.source != src {
			g.qps = rateWindow{baseline: g.qps.baseline, recent: g.qps.recent, source: src}
		}
		if err == nil {
			g.qps.add(now, v)
		}
		l := qpsLine(&g.qps, w.MaxQPSRatio)
		g.mu.Unlock()
		if err != nil {
			l.OK, l.Value, l.Detail = false, "unknown", err.Error()
		}
		out = append(out, l)
	}
	return out
}

func (g *Gate) blockerLines(ctx context.Context, t runner.Target) []Line {
	var out []Line
	if age := g.cfg.Blockers.MaxTransactionAge; age > 0 {
		out = append(out, g.transactions(ctx, t, age))
	}
	if !g.cfg.Blockers.IgnoreMDLWaiters {
		bs, err := mdlWaiters(ctx, g.deps.DB)
		out = append(out, waitersLine(bs, err))
	}
	return out
}

func (g *Gate) approvalLine(now time.Time) Line {
	a := g.cfg.Approval
	l := Line{Name: LineApproval, Limit: a.String()}
	switch a.Mode {
	case ApprovalAuto:
		l.OK, l.Value = true, "automatic"
	case ApprovalManual:
		g.mu.Lock()
		l.OK = g.approved
		g.mu.Unlock()
		l.Value = "not approved"
		if l.OK {
			l.Value = "approved"
		} else {
			l.Detail = "waiting for a DBA to approve (API, CLI or TUI)"
		}
	case ApprovalWindow:
		local := now.In(a.location())
		l.OK = a.InWindow(now)
		l.Value = local.Format("15:04 MST")
		if !l.OK {
			l.Detail = "outside the approval window " + a.String()
		}
	}
	return l
}

// trxPollInterval is the least time between two reads of INNODB_TRX. The server answers it from
// a cache that it refreshes only when nobody read it during the last 100 ms
// (CACHE_MIN_IDLE_TIME_US in storage/innobase/trx/trx0i_s.cc): polled more often, the table
// freezes and keeps showing transactions that committed long ago. Seen here on MariaDB 10.11
// with a 50 ms check interval: a committed transaction stayed listed for as long as the gate ran.
const trxPollInterval = 400 * time.Millisecond

// transactions is the line of old transactions, re-read at most every trxPollInterval.
func (g *Gate) transactions(ctx context.Context, t runner.Target, age time.Duration) Line {
	g.mu.Lock()
	plugin, last, at := g.plugin, g.trxLine, g.trxAt
	g.mu.Unlock()
	if !at.IsZero() && time.Since(at) < trxPollInterval {
		return last
	}
	bs, err := oldTransactions(ctx, g.deps.DB, t.Schema, []string{t.Table, ghostOf(t)}, age, plugin)
	l := transactionsLine(bs, err, age, plugin)
	g.mu.Lock()
	g.trxLine, g.trxAt = l, time.Now()
	g.mu.Unlock()
	return l
}
