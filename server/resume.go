package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// Resumed is what ResumeInterrupted did about one interrupted migration.
type Resumed struct {
	MigrationID string
	Table       string // schema.table
	Err         error  // nil: it runs on from its checkpoint
}

// ResumeInterrupted resumes every gh-ost migration left active by a controller that is gone, from
// gh-ost's checkpoint, each with a gate of the controller's defaults: its participants are asked
// afresh, never assumed from the dead run; a manual approval the dead run recorded is kept
// (keepApproval). A migration whose controller
// still lives is left alone (the store refuses the takeover); native migrations cannot resume and
// stay listed as interrupted.
//
// Among several controllers on one state database, each one's claim loop calls it: a migration
// whose owner's lease expired is claimed (store.TakeOver, with the next fencing token) by exactly
// one of them. It costs one query on the migrations table when nothing is stale.
func (c *Controller) ResumeInterrupted(ctx context.Context) ([]Resumed, error) {
	stale, err := c.opts.Store.Stale(ctx)
	if err != nil || len(stale) == 0 {
		return nil, err
	}
	var out []Resumed
	for _, m := range stale {
		cl, ours := c.clusterOf(m)
		if !ours {
			continue // a cluster another controller of the fleet runs
		}
		if m.Status == migration.StatusQueued {
			// Claimed from the queue by a controller that died before starting it: back in line.
			if err := c.opts.Store.Requeue(ctx, m.ID); err != nil {
				out = append(out, Resumed{MigrationID: m.ID, Table: m.Schema + "." + m.Table, Err: err})
			}
			continue
		}
		var p planner.Plan
		if json.Unmarshal(m.Plan, &p) != nil || p.Strategy != planner.StrategyGhost {
			continue
		}
		res := Resumed{MigrationID: m.ID, Table: m.Schema + "." + m.Table}
		// The gate the migration was submitted with: its limits and approval mode, not this
		// controller's defaults (the approval itself is kept by keepApproval).
		gcfg, err := c.gateConfig(cl, c.recordedRequest(ctx, m.ID))
		if err != nil {
			return out, err
		}
		var r *run
		r, res.Err = c.launch(ctx, cl, &p, gcfg, func(ctx context.Context, o runner.RunOptions) (*runner.Handle, error) {
			return cl.Runner.Resume(ctx, m.ID, o)
		})
		if res.Err == nil {
			c.keepApproval(ctx, r, m.ID)
		}
		var alive *store.OwnerAliveError
		if errors.As(res.Err, &alive) {
			continue // another controller runs it
		}
		if res.Err != nil {
			res.Err = fmt.Errorf("not resumed: %w", res.Err)
		}
		out = append(out, res)
	}
	return out, nil
}

// Revert undoes the completed gh-ost migration id as a new migration (returned) that goes through
// a gate of the controller's defaults: approval, participants and checksum as for a forward
// cut-over. It is refused (runner.ErrNotRevertible, 409) when nothing was kept to swap back.
func (c *Controller) Revert(ctx context.Context, id, by string) (client.MigrationView, error) {
	m, err := c.opts.Store.Get(ctx, id)
	if err != nil {
		return client.MigrationView{}, err
	}
	var p planner.Plan
	if err := json.Unmarshal(m.Plan, &p); err != nil {
		return client.MigrationView{}, fmt.Errorf("%w: %s has no readable plan", runner.ErrNotRevertible, id)
	}
	cl, ok := c.clusterOf(m)
	if !ok {
		return client.MigrationView{}, badRequest("migration %s ran on cluster %q, which this controller does not run (it runs %s)", id, m.Cluster, c.clusterNames())
	}
	gcfg, err := c.gateConfig(cl, client.CreateRequest{})
	if err != nil {
		return client.MigrationView{}, err
	}
	r, err := c.launch(ctx, cl, &p, gcfg, func(ctx context.Context, o runner.RunOptions) (*runner.Handle, error) {
		return cl.Runner.Revert(ctx, id, o)
	})
	if err != nil {
		return client.MigrationView{}, err
	}
	c.note(ctx, r.h.ID(), "revert of "+id+" requested by "+by)
	return c.Get(ctx, r.h.ID())
}

// EventApprovalGiven is the event of a manual approval given before the migration reached its
// gate (the gate itself records cutover.EventApproval once it is there).
const EventApprovalGiven store.EventKind = "approval_given"

// keepApproval gives a taken-over migration's gate the manual approval its dead run had recorded
// (issue 14: the approval is kept as recorded; the participants are asked afresh). An approval
// only counts when the resumed gate is manual too.
func (c *Controller) keepApproval(ctx context.Context, r *run, id string) {
	if r.gate == nil || r.gate.Config().Approval.Mode != cutover.ApprovalManual {
		return
	}
	evs, err := c.opts.Store.EventsOf(ctx, id, store.EventKind(cutover.EventApproval), EventApprovalGiven)
	if err != nil {
		return
	}
	by := ""
	for _, e := range evs {
		if e.Kind != store.EventKind(cutover.EventApproval) && e.Kind != EventApprovalGiven {
			continue
		}
		var d map[string]string
		if json.Unmarshal(e.Data, &d) == nil && d["by"] != "" {
			by = d["by"]
		}
	}
	if by == "" {
		return
	}
	if err := r.gate.Approve(ctx, by+" (recorded before the takeover)"); err == nil {
		c.note(ctx, id, "the approval by "+by+" recorded before the takeover is kept")
	}
}
