package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// With Options.MaxConcurrent set, Create only queues (store.Enqueue); every controller's
// scheduler (Background) claims queued migrations of its cluster while fewer than the limit
// run there (store.ClaimQueued) and runs them with the gate of the request they were submitted
// with. Whichever controller a migration was submitted through, the one that claims it owns it.

// errQueued: the migration waits in the queue, so there is no run to steer yet.
var errQueued = errors.New("it is queued and has not started")

// enqueue queues one migration per plan; the request is kept with each for the gate built when
// a scheduler claims it.
func (c *Controller) enqueue(ctx context.Context, cl *Cluster, plans []*planner.Plan, req client.CreateRequest, by string) ([]client.MigrationView, error) {
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("server: encode request: %w", err)
	}
	var views []client.MigrationView
	for _, p := range plans {
		planJSON, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("server: encode plan: %w", err)
		}
		m, err := c.opts.Store.Enqueue(ctx, cl.Name, store.NewMigration{Schema: p.Schema, Table: p.Table,
			DDL: strings.Join(p.Statements, ";\n"), Plan: planJSON, Strategy: string(p.Strategy)}, reqJSON)
		if err != nil {
			return nil, err
		}
		c.note(ctx, m.ID, "submitted by "+by)
		v, err := c.Get(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return views, nil
}

// scheduleLoop claims and starts queued migrations every interval, and when one was queued here.
func (c *Controller) scheduleLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
		for _, cl := range c.clusters {
			for cl.MaxConcurrent > 0 && ctx.Err() == nil && c.scheduleOne(ctx, cl) {
			}
		}
	}
}

// scheduleOne claims one queued migration of cl and starts it; false when there was none to claim.
func (c *Controller) scheduleOne(ctx context.Context, cl *Cluster) bool {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return false
	}
	claimedAt := time.Now()
	got, ok, err := c.opts.Store.ClaimQueued(ctx, cl.Name, cl.MaxConcurrent)
	if err != nil {
		if ctx.Err() == nil {
			c.opts.Log.Warn("scheduling queued migrations: "+err.Error(), "cluster", cl.Name)
		}
		return false
	}
	if !ok {
		return false
	}
	if err := c.startClaimed(ctx, cl, got, claimedAt); err != nil {
		c.opts.Log.Warn("queued migration "+got.ID+" could not start: "+err.Error(), "migration", got.ID)
	}
	return true
}

// startClaimed runs a migration of cluster cl claimed from the queue with the gate of its request.
func (c *Controller) startClaimed(ctx context.Context, cluster *Cluster, cl store.Claimed, claimedAt time.Time) error {
	var req client.CreateRequest
	var p planner.Plan
	err := errors.Join(json.Unmarshal(cl.Request, &req), json.Unmarshal(cl.Plan, &p))
	gcfg, gerr := c.gateConfig(cluster, req)
	if err = errors.Join(err, gerr); err != nil {
		_ = c.opts.Store.Fail(context.WithoutCancel(ctx), cl.ID, fmt.Errorf("queued request or plan unreadable: %w", err))
		return err
	}
	r, err := c.launch(ctx, cluster, &p, gcfg, func(ctx context.Context, o runner.RunOptions) (*runner.Handle, error) {
		return cluster.Runner.StartClaimed(ctx, cl.ID, &p, claimedAt, o)
	})
	if err != nil {
		return err
	}
	if why := noGateNote(r, req); why != "" {
		c.note(ctx, cl.ID, why)
	}
	return nil
}

// queuedView explains a queued migration: its place in the queue and the limit.
func (c *Controller) queuedView(ctx context.Context, v *client.MigrationView) error {
	if v.Status != migration.StatusQueued || v.Lease.Owner != "" {
		return nil
	}
	pos, err := c.opts.Store.QueuePosition(ctx, v.ID)
	if err != nil {
		return err
	}
	v.QueuePosition = &pos
	limit := "a limit set by another controller"
	if cl, ok := c.clusterOf(v.Migration); ok && cl.MaxConcurrent > 0 {
		limit = "at most " + fmt.Sprint(cl.MaxConcurrent)
	}
	v.Reason = fmt.Sprintf("queued: %d ahead on its cluster (%s run at once, one per table)", pos, limit)
	return nil
}
