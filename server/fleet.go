package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/store"
)

// Several controllers (`migrate serve` processes) may share one state database. Each migration
// is owned by the controller holding its lease (store/lease.go). Any controller answers reads
// from the store; a command for a migration another live controller owns is handed to it
// through the commands table (store/commands.go) and its outcome awaited; a migration whose
// owner's lease expired is claimed by the first controller whose claim loop sees it and resumed
// from gh-ost's checkpoint (ResumeInterrupted).

// FleetOptions tune the background loops of a controller among several (Background).
type FleetOptions struct {
	// ClaimInterval is how often the controller looks for migrations whose owner is gone and
	// takes them over (0: never, after the first look at start). One query per look.
	ClaimInterval time.Duration
	// CommandPoll is how often the controller looks for commands handed to it (default 500ms);
	// it asks only while it runs migrations.
	CommandPoll time.Duration
	// CommandWait bounds the wait for the owner to carry out a handed-over command (default 30s).
	CommandWait time.Duration
	// ScheduleInterval is how often the controller looks at the queue (default 1s), with
	// Options.MaxConcurrent set; one indexed query when nothing is queued.
	ScheduleInterval time.Duration
}

func (o FleetOptions) withDefaults() FleetOptions {
	if o.CommandPoll == 0 {
		o.CommandPoll = 500 * time.Millisecond
	}
	if o.CommandWait == 0 {
		o.CommandWait = 30 * time.Second
	}
	if o.ScheduleInterval == 0 {
		o.ScheduleInterval = time.Second
	}
	return o
}

// Validate reports what cannot work.
func (o FleetOptions) Validate() error {
	switch {
	case o.ClaimInterval < 0:
		return fmt.Errorf("server: claim interval %v must not be negative", o.ClaimInterval)
	case o.CommandPoll < 0 || o.CommandWait < 0 || o.ScheduleInterval < 0:
		return errors.New("server: command poll, command wait and schedule interval must not be negative")
	}
	return nil
}

// ElsewhereError means a migration is run by another live controller: a command for it is
// handed over (handOff) rather than refused.
type ElsewhereError struct {
	ID    string
	Owner store.Owner
}

// Error implements error.
func (e *ElsewhereError) Error() string {
	return fmt.Sprintf("server: migration %s is run by controller %s", e.ID, e.Owner)
}

// Unwrap makes errors.Is(err, ErrNotLive) true: it is not live here.
func (e *ElsewhereError) Unwrap() error { return ErrNotLive }

// CommandError is the owner's refusal of a handed-over command (409): its message as recorded.
type CommandError struct {
	Op, ID  string
	Owner   string
	Message string
}

// Error implements error.
func (e *CommandError) Error() string {
	return fmt.Sprintf("server: %s of %s, carried out by controller %s: %s", e.Op, e.ID, e.Owner, e.Message)
}

// HandOffTimeoutError means the owner did not carry out a handed-over command in time (504).
// The command stays in the state database; the owner may still carry it out, once.
type HandOffTimeoutError struct {
	Op, ID  string
	Owner   store.Owner
	Command int64
	Waited  time.Duration
}

// Error implements error.
func (e *HandOffTimeoutError) Error() string {
	return fmt.Sprintf("server: %s of %s handed to controller %s as command %d: not carried out within %v (it may still be, once)",
		e.Op, e.ID, e.Owner, e.Command, e.Waited)
}

// Handed-over operations: the values of the commands table's op column.
const (
	opPause     = "pause"
	opResume    = "resume"
	opApprove   = "approve"
	opCancel    = "cancel"
	opChunkSize = "chunk_size"
	opNiceRatio = "nice_ratio"
)

type chunkArgs struct {
	N int64 `json:"n"`
}

type niceArgs struct {
	Ratio float64 `json:"ratio"`
}

// Background runs the controller's fleet loops until ctx ends: claiming migrations whose owner
// is gone (when claim is set: `serve --no-resume` turns it off) and carrying out the commands
// other controllers hand over. Close waits for them.
func (c *Controller) Background(ctx context.Context, o FleetOptions, claim bool) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withDefaults()
	c.mu.Lock()
	c.fleet = o
	c.mu.Unlock()
	if claim && o.ClaimInterval > 0 {
		c.wg.Go(func() { c.claimLoop(ctx, o.ClaimInterval) })
	}
	c.wg.Go(func() { c.commandLoop(ctx, o.CommandPoll) })
	for _, cl := range c.clusters {
		if cl.MaxConcurrent > 0 {
			c.wg.Go(func() { c.scheduleLoop(ctx, o.ScheduleInterval) })
			break
		}
	}
	return nil
}

// claimLoop takes over, every interval, the gh-ost migrations whose owner is gone.
func (c *Controller) claimLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	reported := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		resumed, err := c.ResumeInterrupted(ctx)
		if err != nil && ctx.Err() == nil {
			c.opts.Log.Warn("looking for migrations to take over: " + err.Error())
		}
		for _, r := range resumed {
			switch {
			case r.Err == nil:
				c.opts.Log.Info("took over migration "+r.MigrationID+" from a controller that is gone; resumed from gh-ost's checkpoint",
					"migration", r.MigrationID, "table", r.Table)
			case !reported[r.MigrationID]:
				reported[r.MigrationID] = true
				c.opts.Log.Warn("migration "+r.MigrationID+" was interrupted and is "+r.Err.Error(), "migration", r.MigrationID)
			}
		}
	}
}

// commandLoop carries out, every poll, the commands handed to the migrations this controller runs.
func (c *Controller) commandLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := c.liveIDs()
		if len(ids) == 0 {
			continue
		}
		cmds, err := c.opts.Store.PendingCommands(ctx, ids)
		if err != nil {
			continue // the state database is away; the lease decides what that means
		}
		for _, cmd := range cmds {
			claimed, err := c.opts.Store.ClaimCommand(ctx, cmd.MigrationID, cmd.ID)
			if err != nil || !claimed {
				continue // another claimant had it, or this controller's lease is gone
			}
			outcome := c.execute(ctx, cmd)
			_ = c.opts.Store.FinishCommand(context.WithoutCancel(ctx), cmd.ID, outcome)
		}
	}
}

// liveIDs lists the migrations running here.
func (c *Controller) liveIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id, r := range c.runs {
		if !r.ended() {
			ids = append(ids, id)
		}
	}
	return ids
}

// execute carries out a handed-over command as if it had come in here.
func (c *Controller) execute(ctx context.Context, cmd store.Command) error {
	ctx, cancel := context.WithTimeout(ctx, c.fleetOptions().CommandWait)
	defer cancel()
	by := cmd.By + " (through controller " + cmd.From + ")"
	var err error
	switch cmd.Op {
	case opPause:
		_, err = c.Pause(ctx, cmd.MigrationID, by)
	case opResume:
		_, err = c.Resume(ctx, cmd.MigrationID, by)
	case opApprove:
		_, err = c.Approve(ctx, cmd.MigrationID, by)
	case opCancel:
		_, err = c.Cancel(ctx, cmd.MigrationID, by)
	case opChunkSize:
		var a chunkArgs
		if err = json.Unmarshal(cmd.Args, &a); err == nil {
			_, err = c.SetChunkSize(ctx, cmd.MigrationID, a.N, by)
		}
	case opNiceRatio:
		var a niceArgs
		if err = json.Unmarshal(cmd.Args, &a); err == nil {
			_, err = c.SetNiceRatio(ctx, cmd.MigrationID, a.Ratio, by)
		}
	default:
		err = fmt.Errorf("unknown command %q", cmd.Op)
	}
	return err
}

func (c *Controller) fleetOptions() FleetOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fleet.withDefaults()
}

// handOff hands op on migration id to its owner elsewhere and waits for the outcome.
func (c *Controller) handOff(ctx context.Context, e *ElsewhereError, op string, args any, by string) (client.MigrationView, error) {
	wait := c.fleetOptions().CommandWait
	cmd, err := c.opts.Store.SubmitCommand(ctx, e.ID, op, args, by)
	if err != nil {
		return client.MigrationView{}, err
	}
	deadline := time.Now().Add(wait)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		got, err := c.opts.Store.Command(ctx, cmd)
		if err != nil {
			return client.MigrationView{}, err
		}
		if got.Done() {
			if got.Error != "" {
				return client.MigrationView{}, &CommandError{Op: op, ID: e.ID, Owner: got.ConsumedBy, Message: got.Error}
			}
			return c.Get(ctx, e.ID)
		}
		if time.Now().After(deadline) {
			return client.MigrationView{}, &HandOffTimeoutError{Op: op, ID: e.ID, Owner: e.Owner, Command: cmd, Waited: wait}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return client.MigrationView{}, fmt.Errorf("server: %s of %s handed to %s as command %d: %w", op, e.ID, e.Owner, cmd, ctx.Err())
		}
	}
}

// handOver stops a gh-ost run at shutdown for another controller to resume (HandOverOnClose): a
// run cutting over is let finish first (its rename must not be cut in two), then the worker is
// released with its tables and checkpoint, and the lease with it.
func (c *Controller) handOver(ctx context.Context, r *run) {
	for r.h.Status() == migration.StatusCuttingOver {
		select {
		case <-r.h.Done():
			return
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.h.Release("controller shutting down: handed over to the other controllers")
	select {
	case <-r.h.Done():
	case <-ctx.Done():
		return
	}
	if err := c.opts.Store.ReleaseLease(context.WithoutCancel(ctx), r.h.ID(),
		"shutting down; another controller on the state database resumes it from gh-ost's checkpoint"); err != nil {
		c.opts.Log.Warn("handing over "+r.h.ID()+": "+err.Error()+"; it is taken over when its lease expires", "migration", r.h.ID())
		return
	}
	c.opts.Log.Info("handed over migration "+r.h.ID()+" to the other controllers", "migration", r.h.ID())
}
