package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/graybox/wire"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/store"
)

// DefaultListLimit bounds List when the caller gives no limit.
const DefaultListLimit = 500

// List returns the newest migrations o selects (DefaultListLimit when o.Limit is 0), newest
// first (issue 13: oldest first put the current work at the bottom), each with its live state;
// active ones not run here are marked interrupted when their controller is gone.
func (c *Controller) List(ctx context.Context, o client.ListOptions) ([]client.MigrationView, error) {
	f := store.Filter{Limit: o.Limit, Status: o.Status, Cluster: o.Cluster}
	if f.Limit <= 0 {
		f.Limit = DefaultListLimit
	}
	if schema, table, ok := strings.Cut(o.Table, "."); ok {
		f.Schema, f.Table = schema, table
	} else {
		f.Table = o.Table
	}
	ms, err := c.opts.Store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	slices.Reverse(ms) // the store lists the newest Limit oldest first
	views := make([]client.MigrationView, len(ms))
	parts := c.participantsOf()
	for i, m := range ms {
		views[i] = c.view(m, parts)
		views[i].Plan = nil // the list stays small; GET /v1/migrations/{id} has the plan
	}
	if err := c.markForeign(ctx, views); err != nil {
		return nil, err
	}
	return views, nil
}

// noteTables writes msg to the event log of every migration this controller runs on one of
// tables ("schema.table"): an eviction is recorded where it changes a gate.
func (c *Controller) noteTables(ctx context.Context, tables []string, msg string) {
	c.mu.Lock()
	var ids []string
	for id, r := range c.runs {
		if p := r.h.Plan(); !r.ended() && slices.Contains(tables, p.Schema+"."+p.Table) {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.note(ctx, id, msg)
	}
}

// Resolve returns the full id of the migration ref names: the id, or a unique prefix or suffix
// of it in any case (store.Resolve). Every endpoint that takes an id resolves it first.
func (c *Controller) Resolve(ctx context.Context, ref string) (string, error) {
	return c.opts.Store.Resolve(ctx, ref)
}

// Get returns one migration: its store row and, while it runs here, its live state.
func (c *Controller) Get(ctx context.Context, id string) (client.MigrationView, error) {
	m, err := c.opts.Store.Get(ctx, id)
	if err != nil {
		return client.MigrationView{}, err
	}
	views := []client.MigrationView{c.view(m, c.participantsOf())}
	if err := c.markForeign(ctx, views); err != nil {
		return client.MigrationView{}, err
	}
	if cl, ok := c.clusterOf(m); ok && m.Status == migration.StatusComplete {
		// What a DBA asks before undoing: can it still be reverted, and if not, why not. A check
		// that fails says so in the window rather than failing the read.
		if w, err := cl.Runner.RevertWindow(ctx, id); err == nil {
			views[0].Revert = w
		}
	}
	return views[0], nil
}

// view joins a store row with the live state of its run, if this controller has one.
func (c *Controller) view(m store.Migration, parts func(table string) []wire.ParticipantStatus) client.MigrationView {
	v := client.MigrationView{Migration: m}
	c.mu.Lock()
	r := c.runs[m.ID]
	c.mu.Unlock()
	if r == nil {
		return v
	}
	v.Live = !r.ended() && m.Status.Active()
	v.Approval = r.approval
	if v.Live {
		v.Paused = r.isPaused()
		v.ChunkSize = r.h.ChunkSize()
		if v.ChunkSize != 0 { // a gh-ost run
			n := r.h.NiceRatio()
			v.NiceRatio = &n
		}
		d := r.h.Throttle()
		v.Throttle = &d
		if p := r.h.Progress(); !p.Time.IsZero() {
			v.Progress = &p
		}
	}
	if r.gate != nil {
		if cl := r.gate.Checklist(); len(cl.Lines) > 0 {
			v.Checklist = &cl
		}
	}
	v.Participants = parts(m.Schema + "." + m.Table)
	return v
}

// participantsOf returns what lists the instances registered for "schema.table". The
// registrations are read once, at its first call: in a fleet they are the state database's,
// and a list of many migrations run here asks once, not once a migration.
func (c *Controller) participantsOf() func(table string) []wire.ParticipantStatus {
	var all []wire.ParticipantStatus
	read := false
	return func(table string) []wire.ParticipantStatus {
		if c.opts.Registry == nil {
			return nil
		}
		if !read {
			all, read = c.opts.Registry.Participants(), true
		}
		var out []wire.ParticipantStatus
		for _, p := range all {
			if slices.Contains(p.Tables, table) {
				out = append(out, p)
			}
		}
		return out
	}
}

// markForeign explains the active migrations this controller does not run: an interrupted one
// (its controller is gone) gets the cleanup command; another live controller's is named.
func (c *Controller) markForeign(ctx context.Context, views []client.MigrationView) error {
	var schemas []string
	for i, v := range views {
		if v.Status == migration.StatusQueued && v.Lease.Owner == "" {
			if err := c.queuedView(ctx, &views[i]); err != nil {
				return err
			}
			continue
		}
		if v.Status.Active() && !v.Live && !slices.Contains(schemas, v.Schema) {
			schemas = append(schemas, v.Schema)
		}
	}
	if len(schemas) == 0 {
		return nil
	}
	left, err := c.opts.Store.Leftovers(ctx, schemas...)
	if err != nil {
		return err
	}
	stale := map[string]store.Leftover{}
	for _, l := range left {
		if l.Kind == store.LeftoverStaleMigration {
			stale[l.MigrationID] = l
		}
	}
	for i := range views {
		v := &views[i]
		if !v.Status.Active() || v.Live || v.QueuePosition != nil {
			continue
		}
		if l, ok := stale[v.ID]; ok {
			v.Interrupted, v.Cleanup, v.Reason = true, l.Command, l.Reason
			continue
		}
		v.Reason = "run by another controller (" + v.Owner.String() + ")"
	}
	return nil
}

// live returns the run of id while it runs here: store.ErrNotFound for an unknown id, ErrNotLive
// for one that ended or is not this controller's.
func (c *Controller) live(ctx context.Context, id string) (*run, error) {
	c.mu.Lock()
	r := c.runs[id]
	c.mu.Unlock()
	if r == nil {
		m, err := c.opts.Store.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if m.Status == migration.StatusQueued && m.Lease.Owner == "" {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotLive, id, errQueued)
		}
		if m.Status.Active() {
			if o, ok, err := c.opts.Store.OwnerLive(ctx, id); err == nil && ok && o != c.Owner() {
				return nil, &ElsewhereError{ID: id, Owner: o}
			}
			return nil, fmt.Errorf("%w: %s (status %s) is owned by %s; if that controller is gone, clean up with `%s --migration %s`",
				ErrNotLive, id, m.Status, m.Owner, store.CleanupCommand, id)
		}
		return nil, fmt.Errorf("%w: %s has ended (%s)", ErrNotLive, id, m.Status)
	}
	if r.ended() {
		m, err := c.opts.Store.Get(ctx, id)
		if err == nil && m.Status.Active() {
			// Its run here ended (it lost its lease): another controller may run it now.
			if o, ok, err := c.opts.Store.OwnerLive(ctx, id); err == nil && ok && o != c.Owner() {
				return nil, &ElsewhereError{ID: id, Owner: o}
			}
		}
		return nil, fmt.Errorf("%w: %s has ended", ErrNotLive, id)
	}
	return r, nil
}

// elsewhere returns err as an *ElsewhereError when it is one.
func elsewhere(err error) (*ElsewhereError, bool) {
	var e *ElsewhereError
	return e, errors.As(err, &e)
}

// Pause holds a running migration back as a manual throttle; by is recorded.
func (c *Controller) Pause(ctx context.Context, id, by string) (client.MigrationView, error) {
	r, err := c.live(ctx, id)
	if e, ok := elsewhere(err); ok {
		return c.handOff(ctx, e, opPause, nil, by)
	}
	if err != nil {
		return client.MigrationView{}, err
	}
	r.setPaused(true)
	r.h.Pause("paused by " + by)
	c.note(ctx, id, "paused by "+by)
	return c.Get(ctx, id)
}

// Resume lifts a Pause.
func (c *Controller) Resume(ctx context.Context, id, by string) (client.MigrationView, error) {
	r, err := c.live(ctx, id)
	if e, ok := elsewhere(err); ok {
		return c.handOff(ctx, e, opResume, nil, by)
	}
	if err != nil {
		return client.MigrationView{}, err
	}
	r.setPaused(false)
	r.h.Resume()
	c.note(ctx, id, "resumed by "+by)
	return c.Get(ctx, id)
}

// Approve gives a manual cut-over approval (before or at the gate); the gate records it.
func (c *Controller) Approve(ctx context.Context, id, by string) (client.MigrationView, error) {
	r, err := c.live(ctx, id)
	if e, ok := elsewhere(err); ok {
		return c.handOff(ctx, e, opApprove, nil, by)
	}
	if err != nil {
		return client.MigrationView{}, err
	}
	if r.gate == nil {
		return client.MigrationView{}, ErrNoGate
	}
	if err := r.gate.Approve(ctx, by); err != nil {
		return client.MigrationView{}, err
	}
	if st := r.h.Status(); st != migration.StatusReady && st != migration.StatusCuttingOver {
		// The gate records an approval when the migration reaches it; until then it would live in
		// this process only. Recorded now, it survives a takeover (keepApproval).
		_ = c.opts.Store.AddEvent(ctx, id, EventApprovalGiven, "cut-over approved by "+by+
			" before the gate; it applies when the migration reaches it", map[string]string{"by": by})
	}
	return c.Get(ctx, id)
}

// Cancel stops a running migration and waits (until ctx ends) for it to end; the original table
// stays as it was, and gh-ost's tables are dropped.
func (c *Controller) Cancel(ctx context.Context, id, by string) (client.MigrationView, error) {
	r, err := c.live(ctx, id)
	if errors.Is(err, errQueued) {
		// Not started: cancelled in the queue (refused if a scheduler claimed it meanwhile).
		if err := c.opts.Store.CancelQueued(ctx, id, "cancelled in the queue by "+by); err != nil {
			return client.MigrationView{}, fmt.Errorf("%w: %w", ErrNotLive, err)
		}
		return c.Get(ctx, id)
	}
	if e, ok := elsewhere(err); ok {
		return c.handOff(ctx, e, opCancel, nil, by)
	}
	if err != nil {
		return client.MigrationView{}, err
	}
	c.note(ctx, id, "cancel requested by "+by)
	r.h.Cancel()
	select {
	case <-r.h.Done():
	case <-ctx.Done():
		return client.MigrationView{}, fmt.Errorf("server: cancel %s: still ending: %w", id, ctx.Err())
	}
	return c.Get(ctx, id)
}

// Chunk sizes gh-ost accepts.
const (
	MinChunkSize = 10
	MaxChunkSize = 100_000
)

// SetChunkSize changes gh-ost's copy chunk size of a running gh-ost migration.
func (c *Controller) SetChunkSize(ctx context.Context, id string, n int64, by string) (client.MigrationView, error) {
	if n < MinChunkSize || n > MaxChunkSize {
		return client.MigrationView{}, badRequest("chunk_size %d: must be %d-%d", n, MinChunkSize, MaxChunkSize)
	}
	r, err := c.live(ctx, id)
	if e, ok := elsewhere(err); ok {
		return c.handOff(ctx, e, opChunkSize, chunkArgs{N: n}, by)
	}
	if err != nil {
		return client.MigrationView{}, err
	}
	if err := r.h.SetChunkSize(n, by); err != nil { // in the event log as a tuning, which a resume keeps
		return client.MigrationView{}, fmt.Errorf("%w: %w", ErrNotLive, err)
	}
	c.opts.Log.Info(fmt.Sprintf("chunk size set to %d by %s", n, by), "migration", id)
	return c.Get(ctx, id)
}

// SetNiceRatio changes gh-ost's sleep after each copy chunk of a running gh-ost migration.
func (c *Controller) SetNiceRatio(ctx context.Context, id string, ratio float64, by string) (client.MigrationView, error) {
	if err := migration.CheckNiceRatio(ratio); err != nil {
		return client.MigrationView{}, badRequest("%v", err)
	}
	r, err := c.live(ctx, id)
	if e, ok := elsewhere(err); ok {
		return c.handOff(ctx, e, opNiceRatio, niceArgs{Ratio: ratio}, by)
	}
	if err != nil {
		return client.MigrationView{}, err
	}
	if err := r.h.SetNiceRatio(ratio, by); err != nil { // in the event log as a tuning, which a resume keeps
		return client.MigrationView{}, fmt.Errorf("%w: %w", ErrNotLive, err)
	}
	c.opts.Log.Info("nice ratio set to "+strconv.FormatFloat(ratio, 'g', -1, 64)+" by "+by, "migration", id)
	return c.Get(ctx, id)
}

// Checklist returns the gate's latest checklist of migration id (empty lines before the gate is
// reached, or for a migration without a gate or not run here).
func (c *Controller) Checklist(ctx context.Context, id string) (cutover.Checklist, error) {
	if _, err := c.opts.Store.Get(ctx, id); err != nil {
		return cutover.Checklist{}, err
	}
	c.mu.Lock()
	r := c.runs[id]
	c.mu.Unlock()
	cl := cutover.Checklist{MigrationID: id, Lines: []cutover.Line{}}
	if r != nil && r.gate != nil {
		if got := r.gate.Checklist(); len(got.Lines) > 0 {
			cl = got
		}
	}
	return cl, nil
}

// MaxWait bounds a long poll of Events.
const MaxWait = 60 * time.Second

// Events returns the event log of migration id after event since. With wait > 0 it waits up
// to wait (at most MaxWait) for the first new event: it wakes on this controller's events and
// polls the store too, for events other writers add.
func (c *Controller) Events(ctx context.Context, id string, since int64, wait time.Duration) (client.EventsResponse, error) {
	if _, err := c.opts.Store.Get(ctx, id); err != nil {
		return client.EventsResponse{}, err
	}
	wake, unsubscribe := c.hub.subscribe(id, 1)
	defer unsubscribe()
	deadline := time.Now().Add(min(wait, MaxWait))
	for {
		evs, err := c.opts.Store.Events(ctx, id, since, 0)
		if err != nil {
			return client.EventsResponse{}, err
		}
		left := time.Until(deadline)
		if len(evs) > 0 || left <= 0 {
			next := since
			if len(evs) > 0 {
				next = evs[len(evs)-1].ID
			}
			return client.EventsResponse{Events: append([]store.Event{}, evs...), Next: next}, nil
		}
		t := time.NewTimer(min(left, time.Second))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return client.EventsResponse{}, ctx.Err()
		}
		t.Stop()
	}
}

// Subscribe returns the live events (of one migration, or all when migrationID is "") and the
// func that ends the subscription. A reader that falls behind by more than buf events misses
// some: the stream is a live view, the event log the record.
func (c *Controller) Subscribe(migrationID string, buf int) (<-chan client.StreamEvent, func()) {
	return c.hub.subscribe(migrationID, buf)
}

// Count is the number of migrations running in this controller now.
func (c *Controller) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.runs {
		if !r.ended() {
			n++
		}
	}
	return n
}

// Owner is this controller's identity in the store.
func (c *Controller) Owner() store.Owner { return c.opts.Store.Owner() }
