package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// DefaultGateMaxTransactionAge is the default of --gate-max-transaction-age for `run` and
// `serve`: a transaction open longer holds the cut-over, named (connection id, user, age,
// statement). Issue 10: a SELECT … FOR UPDATE held 30 s at the cut-over was never named, and
// gh-ost's lock attempts stalled writers for seconds behind it.
const DefaultGateMaxTransactionAge = 10 * time.Second

// runPlan starts (or resumes) one plan for `migrate run`. A gh-ost plan goes through a cut-over
// gate that checks the blockers (old transactions, metadata-lock waiters) and the backlog,
// approves by itself, and says on errOut why it holds the rename and who is in the way.
func runPlan(ctx context.Context, r *runner.Runner, db *sql.DB, st *store.Store, p *planner.Plan, opts *RunOptions, onEvent func(runner.Event), errOut io.Writer) (*runner.Handle, error) {
	ro := runner.RunOptions{OnEvent: onEvent}
	var h atomic.Pointer[runner.Handle]
	if p.Strategy == planner.StrategyGhost {
		g, err := cutover.New(cutover.Config{
			Approval: cutover.Approval{Mode: cutover.ApprovalAuto},
			Window:   cutover.Window{MaxBacklog: 100},
			Blockers: cutover.Blockers{MaxTransactionAge: opts.MaxTransactionAge},
		}, cutover.Deps{DB: db, Engine: handleEngine(&h), Events: gateSink(st, errOut)})
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		ro.Gate = g
	}
	handle, err := startOrResume(ctx, opts, st, r, p, ro)
	if err != nil {
		return nil, err
	}
	h.Store(handle)
	return handle, nil
}

// handleEngine is the gate's view of the run: ready once gh-ost postpones the cut-over.
func handleEngine(h *atomic.Pointer[runner.Handle]) cutover.EngineState {
	return func() (bool, int64) {
		handle := h.Load()
		if handle == nil {
			return false, 0
		}
		s := handle.Status()
		return s == migration.StatusReady || s == migration.StatusCuttingOver, handle.Progress().BacklogEvents
	}
}

// gateSink records the gate's decisions in the store and prints why it waits (the failing
// lines, blockers named) and when it opens.
func gateSink(st *store.Store, errOut io.Writer) cutover.EventSink {
	return cutover.EventSinkFunc(func(ctx context.Context, e cutover.Event) error {
		switch e.Kind {
		case cutover.EventGateWaiting, cutover.EventGateOpened:
			fmt.Fprintf(errOut, "cut-over %s\n", e.Message)
			lines, _ := e.Data.([]cutover.Line)
			for _, l := range lines {
				fmt.Fprintf(errOut, "  %s: %s (limit %s) %s\n", l.Name, l.Value, l.Limit, l.Detail)
			}
		}
		return st.AddEvent(ctx, e.MigrationID, store.EventKind(e.Kind), e.Message, e.Data)
	})
}
