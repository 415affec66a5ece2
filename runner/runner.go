// Package runner executes a plan: a native ALTER (instant / inplace) or gh-ost in a worker process,
// under a throttler that watches load and replica lag, with every lifecycle transition written to
// the store before it is acted on, progress fed to the store, metrics and the caller, and a Gate
// asked before gh-ost may cut over.
package runner

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ghostgate/ghostgate/metrics"
	"github.com/ghostgate/ghostgate/migration"
	"github.com/ghostgate/ghostgate/planner"
	"github.com/ghostgate/ghostgate/runner/ghost"
	"github.com/ghostgate/ghostgate/runner/throttle"
	"github.com/ghostgate/ghostgate/store"
)

// Runner runs migrations against one primary and its replicas.
type Runner struct {
	cfg      Config
	primary  *sql.DB
	replicas []throttle.Replica
	store    *store.Store
	metrics  *metrics.Metrics
}

// New connects to the servers of cfg. st records every migration; m may be nil (no metrics).
func New(cfg Config, st *store.Store, m *metrics.Metrics) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidConfig)
	}
	if m == nil {
		m = metrics.New(nil)
	}
	r := &Runner{cfg: cfg.withDefaults(), store: st, metrics: m}
	if r.cfg.LeaseMargin == 0 {
		r.cfg.LeaseMargin = st.LeaseDuration() / 4
	}
	if err := checkLease(r.cfg, st.LeaseDuration()); err != nil {
		return nil, err
	}
	var err error
	if r.primary, err = openPool(cfg.Primary); err != nil {
		return nil, err
	}
	for _, e := range cfg.Replicas {
		db, err := openPool(e)
		if err != nil {
			_ = r.Close()
			return nil, err
		}
		r.replicas = append(r.replicas, throttle.Replica{Name: e.Addr(), DB: db})
	}
	return r, nil
}

// checkLease refuses timings under which a live run could lose its lease: the run stops at the
// lease's end minus the margin, and needs room for at least two renewals before that.
func checkLease(c Config, lease time.Duration) error {
	switch {
	case c.LeaseMargin < 0 || c.LeaseMargin >= lease:
		return fmt.Errorf("%w: lease margin %v must be positive and below the lease (%v)", ErrInvalidConfig, c.LeaseMargin, lease)
	case 2*c.HeartbeatInterval > lease-c.LeaseMargin:
		return fmt.Errorf("%w: heartbeat interval %v leaves no room for a failed renewal within the lease %v minus its margin %v: use at most %v",
			ErrInvalidConfig, c.HeartbeatInterval, lease, c.LeaseMargin, (lease-c.LeaseMargin)/2)
	}
	return nil
}

// Primary is the primary the runner migrates on, with its credentials (the planner's write-rate
// sample tails its binlog).
func (r *Runner) Primary() ghost.Endpoint { return r.cfg.Primary }

// Close releases the connection pools.
func (r *Runner) Close() error {
	var errs []error
	if r.primary != nil {
		errs = append(errs, r.primary.Close())
	}
	for _, rep := range r.replicas {
		errs = append(errs, rep.DB.Close())
	}
	return errors.Join(errs...)
}

func openPool(e ghost.Endpoint) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.Passwd = "tcp", e.Addr(), e.User, e.Password
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("runner: %s: %w", e.Addr(), err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(4)
	return db, nil
}

// ErrPlanBlocked means the plan has error findings that were not overridden.
var ErrPlanBlocked = errors.New("runner: the plan is blocked by findings")

// BlockedPlanError names the findings that block a plan.
type BlockedPlanError struct {
	Schema, Table string
	Findings      []planner.Finding
}

func (e *BlockedPlanError) Error() string {
	codes := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		codes[i] = f.Code
		if f.Override != "" {
			codes[i] += " (" + f.Override + ")"
		}
	}
	return fmt.Sprintf("runner: plan for %s.%s is blocked by: %s", e.Schema, e.Table, strings.Join(codes, ", "))
}

// Unwrap makes errors.Is(err, ErrPlanBlocked) true.
func (e *BlockedPlanError) Unwrap() error { return ErrPlanBlocked }

// runnable refuses plans that must not run.
func runnable(p *planner.Plan) error {
	if p == nil {
		return fmt.Errorf("%w: nil plan", ErrInvalidConfig)
	}
	if b := p.Blocking(); len(b) > 0 {
		return &BlockedPlanError{Schema: p.Schema, Table: p.Table, Findings: b}
	}
	switch p.Strategy {
	case planner.StrategyInstant, planner.StrategyInplace:
		if p.SQL == "" {
			return fmt.Errorf("runner: %s plan for %s.%s has no statement", p.Strategy, p.Schema, p.Table)
		}
	case planner.StrategyGhost:
		if p.GhostAlter == "" {
			return fmt.Errorf("runner: ghost plan for %s.%s has no alter clause", p.Schema, p.Table)
		}
	default:
		return fmt.Errorf("runner: unknown strategy %q", p.Strategy)
	}
	return nil
}

// RunOptions are the per-run choices of the caller.
type RunOptions struct {
	Gate    Gate        // nil: OpenGate
	OnEvent func(Event) // called from the run's goroutine; must not block for long
	// Health is the health of the services that use the table (the participants' reports),
	// an input of the throttler when Config.Throttle.ServiceHealth is on; nil: none.
	Health throttle.HealthSource
}

// Start records a new migration for plan and starts running it in the background. A plan with
// blocking findings, or a table that already has an active migration (*store.ActiveMigrationError),
// is refused here, before anything runs. ctx bounds the whole migration: when it ends, the
// migration is cancelled and the original table is left as it was.
func (r *Runner) Start(ctx context.Context, plan *planner.Plan, opts RunOptions) (*Handle, error) {
	if err := runnable(plan); err != nil {
		return nil, err
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return nil, fmt.Errorf("runner: encode plan: %w", err)
	}
	claimed := time.Now() // the lease runs from before the claim, by this process's clock
	m, err := r.store.Create(ctx, store.NewMigration{
		Schema: plan.Schema, Table: plan.Table, DDL: strings.Join(plan.Statements, ";\n"),
		Plan: planJSON, Strategy: string(plan.Strategy), Cluster: r.cfg.Cluster,
	})
	if err != nil {
		return nil, err
	}
	h, err := r.launch(ctx, m.ID, plan, opts, claimed, nil)
	if err != nil {
		_ = r.store.Fail(context.WithoutCancel(ctx), m.ID, err)
		return nil, err
	}
	return h, nil
}

// StartClaimed runs the queued migration id, which this runner's store has just claimed from the
// queue (store.ClaimQueued, at claimed by this process's clock), with plan, the plan it was
// queued with. It goes queued → planning → running as a fresh migration does.
func (r *Runner) StartClaimed(ctx context.Context, id string, plan *planner.Plan, claimed time.Time, opts RunOptions) (*Handle, error) {
	if err := runnable(plan); err != nil {
		_ = r.store.Fail(context.WithoutCancel(ctx), id, err)
		return nil, err
	}
	h, err := r.launch(ctx, id, plan, opts, claimed, nil)
	if err != nil {
		_ = r.store.Fail(context.WithoutCancel(ctx), id, err)
		return nil, err
	}
	return h, nil
}

// launch runs plan as migration id in the background: a throttler of its own, a handle, the
// run. claimed is when its lease was claimed (just before the claim). with (nil for a fresh
// migration) marks the handle as a resume or a revert before it runs.
func (r *Runner) launch(ctx context.Context, id string, plan *planner.Plan, opts RunOptions, claimed time.Time,
	with func(*Handle)) (*Handle, error) {
	if opts.Gate == nil {
		opts.Gate = OpenGate{}
	}
	monitor, err := throttle.New(r.primary, r.replicas, r.cfg.Throttle)
	if err != nil {
		return nil, err
	}
	if opts.Health != nil && r.cfg.Throttle.ServiceHealth.Enabled() {
		// What the service-health throttle notices (a baseline, a service without one, an
		// instance gone silent) goes to the event log: it explains a throttle, or its absence.
		notes := context.WithoutCancel(ctx)
		monitor.WatchServices(opts.Health, func(msg string) { _ = r.store.AddEvent(notes, id, store.EventNote, msg, nil) })
	}
	ctx, cancel := context.WithCancelCause(ctx)
	h := &Handle{
		r: r, id: id, plan: plan, opts: opts, monitor: monitor, cancel: cancel, claimed: claimed,
		labels: metrics.Labels{Schema: plan.Schema, Table: plan.Table, Strategy: string(plan.Strategy)},
		done:   make(chan struct{}),
	}
	if with != nil {
		with(h)
	}
	go h.run(ctx)
	return h, nil
}

// Run is Start followed by Wait.
func (r *Runner) Run(ctx context.Context, plan *planner.Plan, opts RunOptions) (Result, error) {
	h, err := r.Start(ctx, plan, opts)
	if err != nil {
		return Result{}, err
	}
	return h.Wait()
}

// Result is the outcome of one migration.
type Result struct {
	MigrationID string
	Status      migration.Status // complete, failed or cancelled
	Strategy    planner.Strategy
	Duration    time.Duration
	RowsCopied  int64
	// ThrottledFor is the total time the migration was held back by the throttler.
	ThrottledFor time.Duration
	// CutOverTime is how long the cut-over took, from the go-ahead to the verified rename (ghost).
	CutOverTime time.Duration
	// CutOverLock is how long the cut-over held the table locked (LOCK TABLES until the rename
	// completed): the stall applications saw (ghost).
	CutOverLock time.Duration
	// CutOverRepairs are the writes that reached the old table during gh-ost's cut-over and were
	// replayed (or, as conflicts, not) on the new table; see ghost.LostWrite.
	CutOverRepairs []ghost.LostWrite
	// OldTable is the original table kept under gh-ost's old-table name after a cut-over.
	OldTable string
	// Attempts is how many times the native ALTER asked for its metadata lock.
	Attempts int
	LogFile  string
}

// Summary is the result in one line: "complete in 4.9s, 300000 rows copied, throttled 2s,
// cut-over 1.02s (table locked 15ms)". A gh-ost run always states its throttled time. It is the reason recorded with the final status.
func (r Result) Summary() string {
	s := fmt.Sprintf("%s in %s", r.Status, r.Duration.Round(time.Millisecond))
	if r.RowsCopied > 0 {
		s += fmt.Sprintf(", %d rows copied", r.RowsCopied)
	}
	if r.ThrottledFor > 0 || r.Strategy == planner.StrategyGhost {
		s += fmt.Sprintf(", throttled %s", r.ThrottledFor.Round(time.Millisecond))
	}
	if r.CutOverTime > 0 {
		s += fmt.Sprintf(", cut-over %s (table locked %s)", r.CutOverTime.Round(time.Millisecond), r.CutOverLock.Round(time.Millisecond))
	}
	if r.Attempts > 1 {
		s += fmt.Sprintf(", %d attempts for the metadata lock", r.Attempts)
	}
	if n := len(r.CutOverRepairs); n > 0 {
		s += fmt.Sprintf(", %d write(s) that reached the old table during the cut-over replayed or reported", n)
	}
	if r.OldTable != "" {
		// The undo point: the TUI's final screen and `run --tui` name it (issue 13).
		s += ", original table kept as " + r.OldTable
	}
	return s
}

// ErrCancelled is returned by Wait when the migration was cancelled (Handle.Cancel or the
// context); the original table is intact.
var ErrCancelled = errors.New("runner: migration cancelled")
