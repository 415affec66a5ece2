package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/store"
)

// ErrNotRevertible means a migration cannot be reverted: it is not a completed gh-ost migration
// that kept its original table. ghost.ErrNotResumable (from the engine) says why the kept state
// cannot be used (the checkpoint or the old table gone, binlogs purged).
var ErrNotRevertible = errors.New("runner: migration cannot be reverted")

// RevertWindow says whether a completed gh-ost migration can still be reverted (Runner.Revert),
// and what closed the window when it cannot: the kept original dropped, a later checkpoint (a
// later migration of the table), the binlogs purged past the cut-over's checkpoint.
type RevertWindow struct {
	// OldTable is the kept original the revert would swap back ("" when none was kept).
	OldTable string `json:"old_table,omitempty"`
	// Since is when the cut-over's checkpoint was written: the writes a revert replays start there.
	Since time.Time `json:"since,omitempty"`
	// Binlog is that checkpoint's "file:position" on the server gh-ost read the binlog from.
	Binlog string `json:"binlog,omitempty"`
	Open   bool   `json:"open"`
	// Reason says why the window is closed ("" when open).
	Reason string `json:"reason,omitempty"`
}

// RevertWindow reports whether migration id can be reverted now; nil when it is not a completed
// gh-ost migration (nothing to undo that way). It changes nothing.
func (r *Runner) RevertWindow(ctx context.Context, id string) (*RevertWindow, error) {
	m, err := r.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var plan planner.Plan
	if m.Status != migration.StatusComplete || json.Unmarshal(m.Plan, &plan) != nil || plan.Strategy != planner.StrategyGhost {
		return nil, nil
	}
	d, err := r.lastEngine(ctx, id)
	if err != nil || d.OldTable == "" {
		return &RevertWindow{Reason: "the original table was not kept (--drop-old-table): there is nothing to swap back"}, nil
	}
	w := r.window(ctx, plan, d)
	return &w, nil
}

// window checks the kept original and gh-ost's post-cut-over checkpoint (ghost.CheckRevert).
func (r *Runner) window(ctx context.Context, plan planner.Plan, d engineData) RevertWindow {
	ins, insAddr := r.primary, r.cfg.Primary.Addr()
	if !r.cfg.OnPrimary && len(r.replicas) > 0 {
		ins, insAddr = r.replicas[0].DB, r.replicas[0].Name // gh-ost reads the first replica's binlog
	}
	w := RevertWindow{OldTable: d.OldTable}
	cp, err := ghost.CheckRevert(ctx, r.primary, ins, insAddr, plan.Schema, plan.Table, d.OldTable, d.InspectorServerID)
	var nr *ghost.NotResumableError
	switch {
	case errors.As(err, &nr):
		w.Reason = nr.Reason
	case err != nil:
		w.Reason = "cannot be checked now: " + err.Error()
	default:
		w.Open, w.Since, w.Binlog = true, cp.Time, cp.Coords
	}
	return w
}

// revertState is what a revert undoes.
type revertState struct {
	of                string // the migration being undone
	oldTable          string
	inspectorServerID uint32
}

// Revert undoes the completed gh-ost migration id: gh-ost replays every write made on the new
// table since the cut-over into the kept original and swaps the two back (Migrator.Revert). The
// revert is a migration of its own (a new record, returned by Handle.ID) and goes through the
// same gate as the forward cut-over (opts.Gate: approval, participants, checksum) and the same
// cut-over audit. It needs the original kept (the default) and gh-ost's checkpoint written after
// the cut-over; without them, or with the binlogs purged, it changes nothing and says why.
func (r *Runner) Revert(ctx context.Context, id string, opts RunOptions) (*Handle, error) {
	m, err := r.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var plan planner.Plan
	if err := json.Unmarshal(m.Plan, &plan); err != nil || len(m.Plan) == 0 {
		return nil, fmt.Errorf("%w: %s has no readable plan", ErrNotRevertible, id)
	}
	switch {
	case plan.Strategy != planner.StrategyGhost:
		return nil, fmt.Errorf("%w: %s was a %s change, done by the server in place; undo it with the reverse ALTER", ErrNotRevertible, id, plan.Strategy)
	case m.Status != migration.StatusComplete:
		return nil, fmt.Errorf("%w: %s is %s, not complete", ErrNotRevertible, id, m.Status)
	}
	d, err := r.lastEngine(ctx, id)
	if err != nil || d.OldTable == "" {
		return nil, fmt.Errorf("%w: %s kept no original table (--drop-old-table?): there is nothing to swap back", ErrNotRevertible, id)
	}
	if w := r.window(ctx, plan, d); !w.Open {
		return nil, fmt.Errorf("%w: %s: %s", ErrNotRevertible, id, w.Reason)
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return nil, err
	}
	claimed := time.Now()
	rm, err := r.store.Create(ctx, store.NewMigration{
		Schema: plan.Schema, Table: plan.Table, Strategy: string(plan.Strategy), Plan: planJSON, Cluster: r.cfg.Cluster,
		DDL: fmt.Sprintf("-- revert of migration %s:\n%s", id, m.DDL),
	})
	if err != nil {
		return nil, err
	}
	plan.Reason = fmt.Sprintf("revert of %s: gh-ost replays the writes made since its cut-over into %s and swaps it back", id, d.OldTable)
	h, err := r.launch(ctx, rm.ID, &plan, opts, claimed, func(h *Handle) {
		h.revert = &revertState{of: id, oldTable: d.OldTable, inspectorServerID: d.InspectorServerID}
	})
	if err != nil {
		_ = r.store.Fail(context.WithoutCancel(ctx), rm.ID, err)
		return nil, err
	}
	_ = r.store.AddEvent(ctx, id, store.EventNote, "revert started as migration "+rm.ID, nil)
	return h, nil
}
