package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/store"
)

// ErrNotRevertible means a migration cannot be reverted: it is not a completed gh-ost migration
// that kept its original table. ghost.ErrNotResumable (from the engine) says why the kept state
// cannot be used (the checkpoint or the old table gone, binlogs purged).
var ErrNotRevertible = errors.New("runner: migration cannot be reverted")

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
	var kept int
	if err := r.primary.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		plan.Schema, d.OldTable).Scan(&kept); err != nil {
		return nil, fmt.Errorf("runner: look up %s: %w", d.OldTable, err)
	}
	if kept == 0 {
		return nil, fmt.Errorf("%w: the original table %s.%s is gone (dropped, or already swapped back by a revert): there is nothing to swap back",
			ErrNotRevertible, plan.Schema, d.OldTable)
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
