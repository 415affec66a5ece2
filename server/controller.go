// Package server is ghostgate's long-running controller (`migrate serve`) and its HTTP API. The
// Controller owns one runner (one primary and its replicas), the store and the running
// migrations, each with its cut-over gate; several migrations on different tables run at once,
// and the store refuses a second one on a table. The Handler serves the controller as JSON (see
// docs/API.md): state-changing calls need a bearer token, the participant endpoints use the wire
// protocol's HMAC signatures instead.
//
// On start, the controller reads what the store says: a migration still marked active whose
// controller is gone is listed as interrupted with the command that cleans it up; it is never
// dropped silently. On shutdown (Close) every running migration is cancelled cleanly, the
// original tables stay as they were, and the cancellation is recorded in the event log.
package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ghostgate/ghostgate/client"
	"github.com/ghostgate/ghostgate/cutover"
	"github.com/ghostgate/ghostgate/internal/writerate"
	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner"
	"github.com/ghostgate/ghostgate/store"
)

// GateDefaults are the cut-over settings a migration gets when its request does not say.
type GateDefaults struct {
	// Approval is "auto", "manual" or "HH:MM-HH:MM"; default "manual" (a person decides).
	Approval string
	Limits   client.Limits
	// Checksum turns the table comparison on unless a request turns it off.
	Checksum bool
	// Interval is how often the gate re-checks (default: the gate's).
	Interval time.Duration
}

// Options are what a Controller works with, an immutable value checked by Validate.
type Options struct {
	// DB is a pool on the primary: the planner's probe and the gates read through it.
	DB *sql.DB
	// Store records every migration; Runner runs them (with the same store).
	Store  *store.Store
	Runner *runner.Runner
	// Registry holds the participants (nil: no participants take part in cut-overs).
	Registry *cutover.Registry
	// Replicas are watched by the gates' replica-lag line.
	Replicas []cutover.Replica
	Gate     GateDefaults
	// Location is the zone of approval windows without a time zone; nil means time.Local.
	Location *time.Location
	// DefaultSchema is the database for unqualified table names when a request names none.
	DefaultSchema string
	// RebuildMaxRows is the planner's rebuild threshold when a request gives none (0: the
	// planner's default).
	RebuildMaxRows int64
	// WriteSample is how long the planner tails a cluster's binlog to measure each gh-ost
	// table's write rate against gh-ost's apply capacity (0: not measured; internal/writerate).
	WriteSample time.Duration
	// Log receives what happens: transitions, throttling, gate decisions, participant failures,
	// approvals (nil: nothing is logged).
	Log *slog.Logger
	// GateMetrics records the gates (nil: not recorded).
	GateMetrics *metrics.Gate
	// MaxConcurrent, when above 0, queues submitted migrations: at most this many run at once on
	// the cluster (across every controller on the state database), one per table, in the order
	// they were submitted; the others wait `queued`. 0: every migration starts at once (a second
	// one on a busy table is refused), as before the queue.
	MaxConcurrent int
	// Cluster names the cluster this controller's migrations run on ("": the only one).
	Cluster string
	// HandOverOnClose makes Close hand the running gh-ost migrations over to the other
	// controllers on the state database instead of cancelling them (serve --on-shutdown
	// handover): each worker stops with its tables and checkpoint kept and the lease is released,
	// so another controller resumes it at its next claim. A migration cutting over is waited
	// for; native ALTERs, which cannot resume, are cancelled as without it.
	HandOverOnClose bool
	// Clusters, when given, are the clusters this controller runs (serve --clusters); DB, Runner,
	// Replicas, DefaultSchema, MaxConcurrent and Cluster are then unused.
	Clusters []Cluster
}

// Validate reports what cannot work.
func (o Options) Validate() error {
	if o.Store == nil {
		return errors.New("server: nil store")
	}
	if err := o.validateClusters(); err != nil {
		return err
	}
	if o.Gate.Approval != "" {
		if _, err := cutover.ParseApproval(o.Gate.Approval, o.Location); err != nil {
			return fmt.Errorf("server: default approval: %w", err)
		}
	}
	return nil
}

// Controller runs migrations and answers for them. Safe for concurrent use.
type Controller struct {
	opts Options
	hub  *hub
	wg   sync.WaitGroup // checklist forwarders and end watchers

	mu     sync.Mutex
	runs   map[string]*run // every migration started by this controller, ended ones too
	closed bool
	fleet  FleetOptions  // set by Background
	kick   chan struct{} // wakes the scheduler: a migration was queued

	clusters []*Cluster // fixed at New; the first is the default of requests naming none
}

// run is one migration started by this controller.
type run struct {
	cl       *Cluster
	labels   metrics.GateLabels
	h        *runner.Handle
	gate     *cutover.Gate // nil for native strategies
	approval string
	mu       sync.Mutex
	paused   bool
}

func (r *run) setPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

func (r *run) isPaused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused
}

func (r *run) ended() bool {
	select {
	case <-r.h.Done():
		return true
	default:
		return false
	}
}

// New returns a controller. It starts nothing: migrations left active by a dead controller
// stay in the store and are listed as interrupted (see Leftovers).
func New(opts Options) (*Controller, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Gate.Approval == "" {
		opts.Gate.Approval = string(cutover.ApprovalManual)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.GateMetrics == nil {
		opts.GateMetrics = metrics.NewGate(nil, nil)
	}
	c := &Controller{opts: opts, hub: newHub(), runs: map[string]*run{}, kick: make(chan struct{}, 1)}
	for _, cl := range opts.clusters() {
		c.clusters = append(c.clusters, &cl)
	}
	return c, nil
}

// Leftovers reports what dead runs left behind: interrupted migrations and orphan gh-ost tables,
// each with the command that cleans it. `migrate serve` prints them when it starts.
func (c *Controller) Leftovers(ctx context.Context) ([]store.Leftover, error) {
	return c.opts.Store.Leftovers(ctx)
}

// Create plans req.DDL, refuses blocked plans (*BlockedError) and starts one migration per
// table, each with its cut-over gate; by (who asked) is recorded in each one's event log. When one cannot start (e.g. its table has an active
// migration: *store.ActiveMigrationError), those already started by this call are cancelled.
func (c *Controller) Create(ctx context.Context, req client.CreateRequest, by string) ([]client.MigrationView, error) {
	cl, err := c.cluster(req.Cluster)
	if err != nil {
		return nil, err
	}
	gcfg, err := c.gateConfig(cl, req)
	if err != nil {
		return nil, err
	}
	plans, err := c.plan(ctx, cl, req)
	if err != nil {
		return nil, err
	}
	if planner.AnyBlocked(plans) {
		return nil, &BlockedError{Plans: plans}
	}
	if cl.MaxConcurrent > 0 {
		return c.enqueue(ctx, cl, plans, req, by)
	}
	var started []*run
	for _, p := range plans {
		r, err := c.start(ctx, cl, p, gcfg)
		if err != nil {
			for _, s := range started {
				c.note(ctx, s.h.ID(), "cancelled: another migration of the same request could not start: "+err.Error())
				s.h.Cancel()
				<-s.h.Done()
			}
			return nil, err
		}
		c.note(ctx, r.h.ID(), "submitted by "+by)
		c.recordRequest(ctx, r.h.ID(), req)
		if why := noGateNote(r, req); why != "" {
			c.note(ctx, r.h.ID(), why)
		}
		started = append(started, r)
	}
	views := make([]client.MigrationView, 0, len(started))
	for _, r := range started {
		v, err := c.Get(ctx, r.h.ID())
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

// recordRequest keeps req with the migration, so that a controller that takes it over builds the
// gate it was submitted with; a failure only costs that and is noted.
func (c *Controller) recordRequest(ctx context.Context, id string, req client.CreateRequest) {
	b, err := json.Marshal(req)
	if err == nil {
		err = c.opts.Store.SetRequest(ctx, id, b)
	}
	if err != nil {
		c.note(ctx, id, "the request could not be recorded ("+err.Error()+"): a controller that takes this migration over uses its own gate defaults")
	}
}

// recordedRequest is the request migration id was submitted with, or the zero request (the
// controller's defaults) when none was recorded or it cannot be read.
func (c *Controller) recordedRequest(ctx context.Context, id string) client.CreateRequest {
	var req client.CreateRequest
	if b, err := c.opts.Store.Request(ctx, id); err == nil && len(b) > 0 {
		_ = json.Unmarshal(b, &req)
	}
	return req
}

// copyRateSamples is how many of the latest gh-ost copies a plan's measured rate is the median of.
const copyRateSamples = 5

// plan runs the planner with the probe on the cluster's primary.
func (c *Controller) plan(ctx context.Context, cl *Cluster, req client.CreateRequest) ([]*planner.Plan, error) {
	opts := planner.Options{Schema: or(req.Schema, cl.DefaultSchema), AllowDropTable: req.AllowDropTable,
		RebuildMaxRows: cmp.Or(req.RebuildMaxRows, c.opts.RebuildMaxRows), StoreSchema: c.opts.Store.Database()}
	if r, err := c.opts.Store.CopyRate(ctx, cl.Name, copyRateSamples); err == nil && r.Samples > 0 {
		opts.GhostCopyRate = &planner.CopyRate{RowsPerSecond: r.RowsPerSecond,
			Source: fmt.Sprintf("the median of the last %d gh-ost copies on this server", r.Samples)}
	}
	if c.opts.WriteSample > 0 {
		e := cl.Runner.Primary()
		defer writerate.PlanOptions(ctx, cl.DB, writerate.Config{Host: e.Host, Port: e.Port, User: e.User, Password: e.Password,
			Window: c.opts.WriteSample}, c.opts.Store.Database(), &opts)()
	}
	for _, o := range req.Overrides {
		if len(o) > 0 && o[0] != '-' {
			o = "--" + o
		}
		opts.Overrides = append(opts.Overrides, o)
	}
	if err := opts.Validate(); err != nil {
		return nil, &RequestError{Err: err}
	}
	p, err := planner.New(cl.DB, opts)
	if err != nil {
		return nil, err
	}
	plans, err := p.Plan(ctx, req.DDL)
	if err != nil {
		if plannerRefusal(err) {
			return nil, &RequestError{Err: err}
		}
		return nil, err
	}
	return plans, nil
}

// noGateNote says when the request's gate settings do not apply to a migration without a gate
// (a native ALTER has no cut-over): accepted, so the request's other tables get them, but said
// rather than silently ignored (issue 13).
func noGateNote(r *run, req client.CreateRequest) string {
	if r.gate != nil {
		return ""
	}
	var what []string
	if req.Approval != "" && req.Approval != string(cutover.ApprovalAuto) {
		what = append(what, "approval "+req.Approval)
	}
	if req.Limits != (client.Limits{}) {
		what = append(what, "the gate limits")
	}
	if len(what) == 0 {
		return ""
	}
	return "not applied: " + strings.Join(what, ", ") + " (an " + string(r.h.Plan().Strategy) + " ALTER has no cut-over gate)"
}

// start starts one plan. A gh-ost plan gets its own gate; native plans run without one.
func (c *Controller) start(ctx context.Context, cl *Cluster, p *planner.Plan, gcfg cutover.Config) (*run, error) {
	return c.launch(ctx, cl, p, gcfg, func(ctx context.Context, o runner.RunOptions) (*runner.Handle, error) {
		return cl.Runner.Start(ctx, p, o)
	})
}

// launch gives a plan its gate and runs it with begin (a start, or a resume).
func (c *Controller) launch(ctx context.Context, cl *Cluster, p *planner.Plan, gcfg cutover.Config,
	begin func(context.Context, runner.RunOptions) (*runner.Handle, error)) (*run, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	r := &run{cl: cl, labels: metrics.GateLabels{Schema: p.Schema, Table: p.Table}}
	var gate runner.Gate = runner.OpenGate{}
	if p.Strategy == planner.StrategyGhost {
		g, err := cutover.New(gcfg, c.gateDeps(r))
		if err != nil {
			return nil, err
		}
		r.gate, r.approval, gate = g, gcfg.Approval.String(), gateAdapter{g: g, c: c}
	}
	// The migration outlives the request that started it: it ends by itself, by Cancel, or
	// by Close, never because an HTTP client went away.
	opts := runner.RunOptions{Gate: gate, OnEvent: c.onEvent}
	if c.opts.Registry != nil {
		// The participants' request figures for the table: the throttler's service-health
		// input, when the runner's throttle config turns it on.
		opts.Health = c.opts.Registry.HealthSource(p.Schema + "." + p.Table)
	}
	h, err := begin(context.WithoutCancel(ctx), opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	r.h = h
	c.runs[h.ID()] = r
	c.mu.Unlock()
	if r.gate != nil {
		c.wg.Go(func() { c.forwardChecklist(r) })
	}
	return r, nil
}

// gateDeps connects a gate to the controller: the engine state comes from the run's handle
// (set once Start returned; before that the engine is not ready), decisions go to the store.
func (c *Controller) gateDeps(r *run) cutover.Deps {
	engine := func() (bool, int64) {
		c.mu.Lock()
		h := r.h
		c.mu.Unlock()
		if h == nil {
			return false, 0
		}
		st := h.Status()
		return st == migration.StatusReady || st == migration.StatusCuttingOver, h.Progress().BacklogEvents
	}
	record := func(ctx context.Context, e cutover.Event) error {
		c.observeGateEvent(c.gateMetrics(r.cl), r.labels, e)
		return c.recordGate(ctx, e)
	}
	// The checksum compares a chunk once gh-ost has applied the binlog up to it (issue 10).
	applied := func(ctx context.Context, file string, pos uint64) error {
		c.mu.Lock()
		h := r.h
		c.mu.Unlock()
		if h == nil {
			return runner.ErrNoGhostWorker
		}
		return h.AwaitApplied(ctx, file, pos)
	}
	deps := cutover.Deps{DB: r.cl.DB, Engine: engine, AwaitApplied: applied, Replicas: r.cl.Replicas, Events: cutover.EventSinkFunc(record)}
	if c.opts.Registry != nil {
		deps.Registry = c.opts.Registry
	}
	return deps
}

// recordGate writes a gate decision to the store's event log and wakes long polls.
func (c *Controller) recordGate(ctx context.Context, e cutover.Event) error {
	err := c.opts.Store.AddEvent(ctx, e.MigrationID, store.EventKind(e.Kind), e.Message, e.Data)
	c.hub.publish(client.StreamEvent{Event: runner.Event{Time: time.Now(), MigrationID: e.MigrationID,
		Kind: runner.EventKind(e.Kind), Reason: e.Message}})
	return err
}

// onEvent forwards a runner event to the stream and the log.
func (c *Controller) onEvent(ev runner.Event) {
	c.logRunnerEvent(ev)
	c.hub.publish(client.StreamEvent{Event: ev})
}

// forwardChecklist publishes the gate's checklist changes until the migration ends.
func (c *Controller) forwardChecklist(r *run) {
	ch, unsubscribe := r.gate.Subscribe()
	defer unsubscribe()
	for {
		select {
		case cl := <-ch:
			c.observeChecklist(c.gateMetrics(r.cl), r.labels, cl)
			c.hub.publish(client.StreamEvent{Event: runner.Event{Time: cl.Time, MigrationID: r.h.ID(),
				Kind: client.KindChecklist, Reason: cl.Summary()}, Checklist: &cl})
		case <-r.h.Done():
			c.gateMetrics(r.cl).Ended(r.labels)
			return
		}
	}
}

// note writes a note to a migration's event log; the log is best effort here, the action stands.
func (c *Controller) note(ctx context.Context, id, msg string) {
	c.opts.Log.Info(msg, "migration", id)
	_ = c.opts.Store.AddEvent(context.WithoutCancel(ctx), id, store.EventNote, msg, nil)
}

// Close stops taking migrations, cancels every running one (its original table stays as it
// was; the cancellation is in its event log) and waits for them to end or ctx to expire.
func (c *Controller) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	var live []*run
	for _, r := range c.runs {
		if !r.ended() {
			live = append(live, r)
		}
	}
	c.mu.Unlock()
	for _, r := range live {
		if c.opts.HandOverOnClose && r.gate != nil {
			c.wg.Go(func() { c.handOver(ctx, r) })
			continue
		}
		c.note(ctx, r.h.ID(), "controller shutting down: migration cancelled, the original table stays as it was")
		r.h.Cancel()
	}
	for _, r := range live {
		select {
		case <-r.h.Done():
		case <-ctx.Done():
			return fmt.Errorf("server: close: migration %s still ending: %w", r.h.ID(), ctx.Err())
		}
	}
	c.wg.Wait()
	return nil
}
